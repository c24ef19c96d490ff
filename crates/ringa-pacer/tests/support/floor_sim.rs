//! A small discrete-event floor simulator that drives a pacer through the
//! `Pacer` trait alone (no engine): agents with random handle times, calls
//! answered by a person with a per-contact probability after a random delay,
//! zero patience, and the engine's fall-back to one reserved call per ready
//! agent once the drop budget is spent. Used by the pacer's own tests and
//! tuning example; the full simulator lives in `ringa-sim`.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use ringa_core::{AgentId, CallId};
use ringa_pacer::{
    AgentActivity, AgentView, CallFeatures, CallView, DropBudget, FloorView, Pacer, PacerEvent,
};

/// Talk-time distribution.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Talk {
    Exponential { mean: f64 },
    LogNormal { mean: f64, sigma: f64 },
}

/// One simulated floor.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    pub agents: usize,
    /// Mean probability that a call is answered by a person.
    pub p: f64,
    /// Per-contact probabilities vary this many times between the lowest
    /// and the highest of five contact groups (1 = all equal).
    pub spread: f64,
    pub talk: Talk,
    pub answer_mean: f64,
    pub other_mean: f64,
    pub ring_timeout: f64,
    pub target: f64,
    pub hours: f64,
}

impl Scenario {
    pub(crate) fn standard(agents: usize, p: f64) -> Scenario {
        Scenario {
            agents,
            p,
            spread: 1.0,
            talk: Talk::Exponential { mean: 120.0 },
            answer_mean: 10.0,
            other_mean: 25.0,
            ring_timeout: 60.0,
            target: 0.03,
            hours: 8.0,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub placed: u64,
    pub live: u64,
    pub drops: u64,
    pub talk_secs: f64,
    pub agent_secs: f64,
    /// Drops among the first 50 live answers.
    pub first50_drops: u64,
    pub waits: Vec<f64>,
}

impl Outcome {
    pub(crate) fn utilization(&self) -> f64 {
        self.talk_secs / self.agent_secs
    }

    pub(crate) fn drop_rate(&self) -> f64 {
        self.drops as f64 / (self.live as f64).max(1.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Answer(u64),
    Fail(u64),
    TalkEnd(usize),
}

struct SimCall {
    placed: f64,
    p: f64,
    reserved: Option<usize>,
    answered: bool,
}

#[derive(Clone, Copy)]
struct SimAgent {
    activity: AgentActivity,
    since: f64,
}

/// Runs one day of `scenario` with `pacer`.
pub(crate) fn run(scenario: &Scenario, pacer: &mut dyn Pacer, seed: u64) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t0 = Timestamp::from_second(1_767_000_000).expect("a valid instant");
    let at = |t: f64| t0 + SignedDuration::from_secs_f64(t);
    let end = scenario.hours * 3600.0;
    let answer_delay = Exp::new(1.0 / scenario.answer_mean).expect("positive mean");
    let other_delay = Exp::new(1.0 / scenario.other_mean).expect("positive mean");
    let groups: Vec<f64> = (0..5).map(|g| scenario.spread.powf(g as f64 / 4.0)).collect::<Vec<_>>();
    let norm = groups.iter().sum::<f64>() / 5.0;
    let groups: Vec<f64> = groups.iter().map(|g| (scenario.p * g / norm).min(0.95)).collect();

    let mut agents = vec![SimAgent { activity: AgentActivity::Ready, since: 0.0 }; scenario.agents];
    let mut calls: HashMap<u64, SimCall> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let mut next_id = 0u64;
    let mut out = Outcome::default();
    let mut live_f = 0.0;
    let mut ready_since: Vec<f64> = vec![0.0; scenario.agents];
    let mut now = 0.0f64;
    let micros = |t: f64| (t * 1e6) as u64;

    loop {
        // Pace at `now`.
        let over = out.drops > 0 && out.drops as f64 >= scenario.target * live_f;
        let mut to_place: Vec<Option<usize>> = Vec::new();
        if over {
            for (i, a) in agents.iter_mut().enumerate() {
                if a.activity == AgentActivity::Ready && now < end {
                    a.activity = AgentActivity::Reserved;
                    a.since = now;
                    to_place.push(Some(i));
                }
            }
        } else if now < end {
            let views: Vec<AgentView> = agents
                .iter()
                .enumerate()
                .map(|(i, a)| AgentView {
                    agent: AgentId(i as u64),
                    activity: a.activity,
                    since: at(a.since),
                    leaves_at: None,
                    shared: false,
                })
                .collect();
            let call_views: Vec<CallView> = calls
                .iter()
                .filter(|(_, c)| c.reserved.is_none() && !c.answered)
                .map(|(&id, c)| CallView {
                    call: CallId(id),
                    placed_at: at(c.placed),
                    waiting_for_agent: false,
                    p_human: c.p,
                    ring_timeout: SignedDuration::from_secs_f64(scenario.ring_timeout),
                })
                .collect();
            let candidates = vec![pacer_mean(pacer); scenario.agents * 3];
            let view = FloorView {
                now: at(now),
                agents: &views,
                calls: &call_views,
                candidates: &candidates,
                budget: DropBudget {
                    target: scenario.target,
                    live_answers: out.live,
                    drops: out.drops as f64,
                    placed: out.placed,
                },
                max_new: (scenario.agents * 4) as u32,
            };
            let n = pacer.decide(&view).min(view.max_new);
            to_place.extend((0..n).map(|_| None));
        }
        for reserved in to_place {
            let group = rng.random_range(0..5usize);
            let p_true = groups[group];
            let features = CallFeatures {
                attempt: 1,
                region: format!("46{group}"),
                ..CallFeatures::default()
            };
            let p_model = pacer.p_human(&features);
            let id = next_id;
            next_id += 1;
            out.placed += 1;
            pacer.observe(
                at(now),
                &PacerEvent::Placed { call: CallId(id), features, p_human: p_model },
            );
            let live = rng.random_bool(p_true);
            let delay: f64 =
                if live { answer_delay.sample(&mut rng) } else { other_delay.sample(&mut rng) };
            let (event, t) = if live && delay < scenario.ring_timeout {
                (Event::Answer(id), now + delay)
            } else {
                (Event::Fail(id), now + delay.min(scenario.ring_timeout))
            };
            heap.push(Reverse((micros(t), event)));
            calls.insert(id, SimCall { placed: now, p: p_model, reserved, answered: false });
        }

        // The next thing to happen.
        let tick = pacer.next_decision().map(|t| secs_since(t0, t)).filter(|&t| t > now);
        let ev_t = heap.peek().map(|Reverse((t, _))| *t as f64 / 1e6);
        let next = match (tick, ev_t) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let next = if next <= now { now + 1e-3 } else { next };
        if next >= end && calls.is_empty() && heap.is_empty() {
            break;
        }
        if next > end + 3600.0 {
            break;
        }
        now = next;
        if ev_t.is_some_and(|t| t <= now) {
            let Reverse((_, event)) = heap.pop().expect("peeked");
            match event {
                Event::Answer(id) => {
                    let Some(c) = calls.get_mut(&id) else { continue };
                    let after = SignedDuration::from_secs_f64(now - c.placed);
                    pacer.observe(at(now), &PacerEvent::Answered { call: CallId(id), after });
                    let agent = match c.reserved {
                        Some(a) => Some(a),
                        None => agents
                            .iter()
                            .enumerate()
                            .filter(|(_, a)| a.activity == AgentActivity::Ready)
                            .min_by(|x, y| ready_since[x.0].total_cmp(&ready_since[y.0]))
                            .map(|(i, _)| i),
                    };
                    calls.remove(&id);
                    live_f += 1.0;
                    out.live += 1;
                    match agent {
                        Some(a) => {
                            if now < end {
                                out.waits.push(now - ready_since[a]);
                            }
                            agents[a] = SimAgent { activity: AgentActivity::InCall, since: now };
                            pacer.observe(
                                at(now),
                                &PacerEvent::Connected {
                                    call: CallId(id),
                                    agent: AgentId(a as u64),
                                    waited: SignedDuration::ZERO,
                                },
                            );
                            let talk = match scenario.talk {
                                Talk::Exponential { mean } => {
                                    Exp::new(1.0 / mean).expect("positive").sample(&mut rng)
                                }
                                Talk::LogNormal { mean, sigma } => {
                                    let mu = mean.ln() - sigma * sigma / 2.0;
                                    LogNormal::new(mu, sigma).expect("valid").sample(&mut rng)
                                }
                            };
                            heap.push(Reverse((micros(now + talk), Event::TalkEnd(a))));
                        }
                        None => {
                            out.drops += 1;
                            pacer.observe(at(now), &PacerEvent::Dropped { call: CallId(id) });
                        }
                    }
                    if out.live == 50 {
                        out.first50_drops = out.drops;
                    }
                }
                Event::Fail(id) => {
                    let Some(c) = calls.remove(&id) else { continue };
                    let after = SignedDuration::from_secs_f64(now - c.placed);
                    pacer.observe(
                        at(now),
                        &PacerEvent::Unanswered {
                            call: CallId(id),
                            result: ringa_core::CallResult::NoAnswer,
                            after,
                        },
                    );
                    if let Some(a) = c.reserved {
                        agents[a] = SimAgent { activity: AgentActivity::Ready, since: now };
                    }
                }
                Event::TalkEnd(a) => {
                    let started = agents[a].since;
                    let (s, e) = (started.min(end), now.min(end));
                    out.talk_secs += (e - s).max(0.0);
                    agents[a] = SimAgent { activity: AgentActivity::Ready, since: now };
                    ready_since[a] = now;
                    pacer.observe(
                        at(now),
                        &PacerEvent::TalkEnded {
                            agent: AgentId(a as u64),
                            talk: SignedDuration::from_secs_f64(now - started),
                        },
                    );
                }
            }
        }
    }
    if out.live < 50 {
        out.first50_drops = out.drops;
    }
    out.agent_secs = end * scenario.agents as f64;
    out
}

fn pacer_mean(pacer: &dyn Pacer) -> f64 {
    pacer.p_human(&CallFeatures { attempt: 1, ..CallFeatures::default() })
}

fn secs_since(t0: Timestamp, t: Timestamp) -> f64 {
    t.duration_since(t0).as_secs_f64()
}
