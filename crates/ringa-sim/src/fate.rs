//! The fate of each simulated call (who answers, and when), drawn at
//! `Originate` from a random stream keyed by the run's seed and the call's
//! number, and a [`FateOracle`] through which a reference pacer built for
//! the simulator (the clairvoyant baseline) may look ahead at it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringa_core::CallId;
use ringa_engine::AnsweredBy;
use serde::Serialize;

use crate::scenario::Scenario;

/// What will happen on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FateKind {
    /// A person answers.
    Live,
    /// An answering machine answers.
    Machine,
    Busy,
    Invalid,
    /// Nobody answers before the call ends.
    NoAnswer,
}

/// A call's predetermined fate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Fate {
    pub kind: FateKind,
    /// Seconds from the dial to the answer (live, machine) or to the end
    /// (the others), ring timeout and post-dial delay applied.
    pub after_s: f64,
    /// The detector's verdict reported on an answer (`Human` without
    /// detection).
    pub verdict: AnsweredBy,
    /// Seconds the answering party waits for an agent before hanging up.
    pub patience_s: f64,
    /// Seconds from the answer to the detector's verdict (0 without
    /// detection); the engine hears of the answer only then.
    pub decision_s: f64,
    /// Who would have answered had the call rung on past its ring timeout
    /// (a person or voicemail); `None` when nobody was cut short.
    pub cut_short: Option<FateKind>,
}

/// A contact's own habits, drawn once per contact (`[voicemail]`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ContactTraits {
    /// Seconds of ringing before the contact's voicemail picks up; `None`
    /// when the line has no voicemail.
    pub voicemail_after_s: Option<f64>,
    /// The contact's typical seconds from ringing to answering.
    pub answer_after_s: f64,
}

/// What the call's fate depends on besides the random stream.
#[derive(Clone, Copy, Debug)]
pub struct CallContext {
    /// 1 for the first attempt on the contact.
    pub attempt: u32,
    /// Local hour of day (0–23) at the dial.
    pub hour: u8,
    /// The contact's own multiplier of the live-answer probability.
    pub multiplier: f64,
    pub ring_timeout_s: f64,
    /// Whether the campaign runs answering-machine detection.
    pub amd: bool,
    /// The contact's own habits, when the scenario gives contacts some.
    pub traits: Option<ContactTraits>,
}

/// The probability of a live answer on a call in this context.
pub fn p_live(scenario: &Scenario, ctx: &CallContext) -> f64 {
    let p = &scenario.population;
    let idx = (ctx.attempt.max(1) as usize - 1).min(p.live_by_attempt.len().saturating_sub(1));
    let base = p.live_by_attempt.get(idx).copied().unwrap_or(0.0);
    let hour = p.live_by_hour.get(&ctx.hour.to_string()).copied().unwrap_or(1.0);
    (base * hour * ctx.multiplier).clamp(0.0, 1.0)
}

/// Draws the fate of call number `call` of a run seeded with `seed`. The
/// same arguments always give the same fate, whatever else the run did.
pub fn fate_of(scenario: &Scenario, seed: u64, call: CallId, ctx: &CallContext) -> Fate {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xFA7E_5EED_0000_0001);
    rng.set_stream(call.get());
    let pop = &scenario.population;
    let amd = &scenario.amd;
    let pdd = scenario.telephony.post_dial_delay.sample(&mut rng);
    let ring = ctx.ring_timeout_s;
    let (kind, after) = match &ctx.traits {
        Some(traits) => contact_fate(scenario, &mut rng, pdd, ctx, traits),
        None => {
            let u: f64 = rng.random();
            if u < p_live(scenario, ctx) {
                (FateKind::Live, pdd + pop.live_after.sample(&mut rng))
            } else {
                let v: f64 = rng.random();
                if v < pop.machine {
                    (FateKind::Machine, pdd + pop.machine_after.sample(&mut rng))
                } else if v < pop.machine + pop.busy {
                    (FateKind::Busy, pdd + pop.busy_after.sample(&mut rng))
                } else if v < pop.machine + pop.busy + pop.invalid {
                    (FateKind::Invalid, pdd + pop.invalid_after.sample(&mut rng))
                } else {
                    let end = match &pop.no_answer_after {
                        Some(d) => pdd + d.sample(&mut rng),
                        None => ring,
                    };
                    (FateKind::NoAnswer, end)
                }
            }
        }
    };
    let answering = matches!(kind, FateKind::Live | FateKind::Machine);
    let cut_short = (answering && after > ring).then_some(kind);
    // Nothing answers after the ring timeout: the telephony gives up then.
    let (kind, after) = if after > ring { (FateKind::NoAnswer, ring) } else { (kind, after) };
    let w: f64 = rng.random();
    let verdict = match kind {
        FateKind::Live if ctx.amd => {
            if w < amd.human_as_machine {
                AnsweredBy::Machine
            } else if w < amd.human_as_machine + amd.human_as_unsure {
                AnsweredBy::Unsure
            } else {
                AnsweredBy::Human
            }
        }
        FateKind::Machine if ctx.amd => {
            if w < amd.machine_as_human {
                AnsweredBy::Human
            } else if w < amd.machine_as_human + amd.machine_as_unsure {
                AnsweredBy::Unsure
            } else {
                AnsweredBy::Machine
            }
        }
        _ => AnsweredBy::Human,
    };
    let patience_s = match kind {
        FateKind::Machine => pop.machine_greeting.sample(&mut rng),
        _ => pop.patience.sample(&mut rng),
    };
    // Drawn last, and only when set, so that scenarios without it keep
    // their random streams.
    let answered = matches!(kind, FateKind::Live | FateKind::Machine);
    let decision = match (kind, &amd.machine_decision_after) {
        (FateKind::Machine, Some(d)) => d,
        _ => &amd.decision_after,
    };
    let decision_s = if ctx.amd && answered && *decision != crate::Dist::ZERO {
        decision.sample(&mut rng)
    } else {
        0.0
    };
    Fate { kind, after_s: after, verdict, patience_s, decision_s, cut_short }
}

/// Who answers a call to a contact with its own habits, and when (before
/// the ring timeout is applied): the person answers with the campaign's
/// live probability at about their usual time unless their voicemail picks
/// up first; otherwise the line is busy, or goes to voicemail if it has
/// one, or rings out.
fn contact_fate(
    scenario: &Scenario,
    rng: &mut ChaCha8Rng,
    pdd: f64,
    ctx: &CallContext,
    traits: &ContactTraits,
) -> (FateKind, f64) {
    let pop = &scenario.population;
    let (jitter, sigma) = scenario
        .voicemail
        .as_ref()
        .map_or((0.0, 0.0), |v| (v.pickup_jitter_s, v.answer_jitter_sigma));
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    let spread: f64 = rng.random();
    let answer_factor =
        if sigma > 0.0 { crate::Dist::Lognormal { mean: 1.0, sigma }.sample(rng) } else { 1.0 };
    let pickup =
        traits.voicemail_after_s.map(|p| pdd + (p + jitter * (2.0 * spread - 1.0)).max(0.0));
    if u < p_live(scenario, ctx) {
        let answer = pdd + traits.answer_after_s * answer_factor;
        return match pickup {
            Some(p) if p < answer => (FateKind::Machine, p),
            _ => (FateKind::Live, answer),
        };
    }
    if v < pop.busy {
        return (FateKind::Busy, pdd + pop.busy_after.sample(rng));
    }
    if v < pop.busy + pop.invalid {
        return (FateKind::Invalid, pdd + pop.invalid_after.sample(rng));
    }
    match pickup {
        Some(p) => (FateKind::Machine, p),
        None => {
            let end = match &pop.no_answer_after {
                Some(d) => pdd + d.sample(rng),
                None => ctx.ring_timeout_s,
            };
            (FateKind::NoAnswer, end)
        }
    }
}

/// A window onto the fates of the calls in flight, shared between the
/// simulation and a pacer that is allowed to cheat (a clairvoyant reference
/// pacer measures how far real pacers are from perfect knowledge). A fate is
/// known from the `Originate` of its call until the call ends.
#[derive(Clone, Debug, Default)]
pub struct FateOracle {
    fates: Arc<Mutex<HashMap<CallId, Fate>>>,
}

impl FateOracle {
    pub fn new() -> FateOracle {
        FateOracle::default()
    }

    /// The fate of a call in flight.
    pub fn fate(&self, call: CallId) -> Option<Fate> {
        self.lock().get(&call).copied()
    }

    /// Calls in flight whose fate is known.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn insert(&self, call: CallId, fate: Fate) {
        self.lock().insert(call, fate);
    }

    pub(crate) fn remove(&self, call: CallId) {
        self.lock().remove(&call);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Fate>> {
        // A panic while holding this lock leaves a plain map behind, still
        // usable: recover it rather than propagate the poison.
        self.fates.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
