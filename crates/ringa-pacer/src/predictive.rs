//! The predictive pacer: places, at each step, as many calls as keep the
//! chance that the next call's person finds no free agent under a threshold,
//! with the threshold set from the drop budget.
//!
//! The pacer looks over a short horizon (until nearly every live answer of a
//! call placed now would have come), split into one-second slots. For every
//! slot it builds two Poisson-binomial counts: the live answers by then of
//! the calls in flight (each with its own answer probability, updated by how
//! long it has rung without an outcome) and the agents freed by then (each
//! talking or wrapping agent with the conditional remaining time of its
//! ongoing talk and wrap-up, cut off when the agent is due to pause). A new
//! call answered in a slot is dropped when the answers before it outnumber
//! the ready agents plus the freed ones; weighting the slots by the call's
//! own answer-time distribution gives its drop probability. Calls are added
//! one at a time, each joining the answer counts of the next, until the next
//! call's drop probability exceeds the threshold.
//!
//! The threshold comes from the drop budget ([`BudgetRule`]): the rate the
//! window can afford now, divided by the learned ratio of realised to
//! predicted drops and by the learned ratio between the mean predicted drop
//! probability of placed calls and the threshold they were placed under.
//! The heavy computation runs at most every half second of floor time and
//! only when something changed (or every two seconds as calls age).

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use ringa_core::{AgentId, CallId};
use serde::{Deserialize, Serialize};

use crate::answer::{AnswerModel, CalibrationReport};
use crate::budget::BudgetRule;
use crate::prob::{PoissonBinomial, difference_at_least};
use crate::timing::Durations;
use crate::{AgentActivity, CallFeatures, FloorView, Pacer, PacerEvent};

/// Tuning of the predictive pacer.
#[derive(Clone, Debug)]
pub struct PredictiveConfig {
    /// Least floor time between two full computations.
    pub recompute_every: SignedDuration,
    /// Floors with more agents than this recompute at most every
    /// `large_floor_recompute_every`: their events come fast and each
    /// computation costs more, while half a second matters less to them.
    pub large_floor: usize,
    pub large_floor_recompute_every: SignedDuration,
    /// Recompute this often even when nothing happened (calls age).
    pub idle_recompute: SignedDuration,
    /// Longest look-ahead in seconds.
    pub max_horizon: f64,
    /// Sums of at most this many trials are computed exactly.
    pub exact_limit: usize,
    pub budget: BudgetRule,
    /// Prior campaign answer rate and its worth in calls.
    pub prior_answer_rate: f64,
    pub prior_answer_weight: f64,
    /// Prior ratio of realised to predicted drops and its worth in drops.
    pub prior_drop_ratio: f64,
    pub prior_drop_weight: f64,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        PredictiveConfig {
            recompute_every: SignedDuration::from_millis(500),
            large_floor: 40,
            large_floor_recompute_every: SignedDuration::from_secs(1),
            idle_recompute: SignedDuration::from_secs(2),
            max_horizon: 90.0,
            exact_limit: 24,
            budget: BudgetRule::default(),
            prior_answer_rate: 0.5,
            prior_answer_weight: 20.0,
            prior_drop_ratio: 2.5,
            prior_drop_weight: 10.0,
        }
    }
}

/// What the predictive pacer has learned; serialisable so that a campaign
/// can start warm from an earlier day's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PacerState {
    pub answer: AnswerModel,
    /// Seconds from dial to a live answer.
    pub live_delay: Durations,
    /// Seconds from dial to any other outcome.
    pub other_delay: Durations,
    /// Talk time in seconds.
    pub talk: Durations,
    /// Wrap-up time in seconds.
    pub wrap: Durations,
    /// Drops seen, and drops the model predicted for the calls it placed.
    pub drops_seen: f64,
    pub drops_predicted: f64,
    /// Mean predicted drop probability of placed calls over the threshold.
    pub spread: f64,
    /// Seconds from pickup to a person's verdict, for calls whose pickup
    /// came before the verdict (answering-machine detection listening).
    #[serde(default = "PacerState::fresh_verdict_delay")]
    pub verdict_delay: Durations,
    /// Seconds from pickup to any other end (a machine's verdict, a hang-up).
    #[serde(default = "PacerState::fresh_verdict_delay")]
    pub other_verdict_delay: Durations,
    /// Calls picked up before their verdict, and how many of them turned out
    /// to be people.
    #[serde(default)]
    pub picked_up: f64,
    #[serde(default)]
    pub picked_up_people: f64,
}

impl PacerState {
    fn fresh(config: &PredictiveConfig) -> PacerState {
        PacerState {
            answer: AnswerModel::new(config.prior_answer_rate, config.prior_answer_weight),
            live_delay: Durations::new(0.5, 360, 12.0, 10.0),
            other_delay: Durations::new(0.5, 360, 25.0, 10.0),
            talk: Durations::new(2.0, 3600, 150.0, 5.0),
            wrap: Durations::new(0.25, 2400, 5.0, 3.0),
            drops_seen: 0.0,
            drops_predicted: 0.0,
            spread: 0.5,
            verdict_delay: PacerState::fresh_verdict_delay(),
            other_verdict_delay: PacerState::fresh_verdict_delay(),
            picked_up: 0.0,
            picked_up_people: 0.0,
        }
    }

    fn fresh_verdict_delay() -> Durations {
        Durations::new(0.25, 240, 4.0, 5.0)
    }

    /// Of the calls picked up before their verdict, the share that were
    /// people, shrunk towards one half while there are few.
    fn picked_up_share(&self) -> f64 {
        (self.picked_up_people + 0.5 * PICKUP_PRIOR_WEIGHT) / (self.picked_up + PICKUP_PRIOR_WEIGHT)
    }
}

impl PacerState {
    /// Why this (deserialised) state cannot be used by a pacer configured
    /// with `config`, if it cannot.
    fn misfit(&self, config: &PredictiveConfig) -> Option<String> {
        let fresh = PacerState::fresh(config);
        let curves = [
            ("live answer time", &self.live_delay, &fresh.live_delay),
            ("other outcome time", &self.other_delay, &fresh.other_delay),
            ("talk time", &self.talk, &fresh.talk),
            ("wrap-up time", &self.wrap, &fresh.wrap),
            ("verdict time", &self.verdict_delay, &fresh.verdict_delay),
            ("other verdict time", &self.other_verdict_delay, &fresh.other_verdict_delay),
        ];
        for (name, curve, fresh) in curves {
            if let Some(why) = curve.misfit(fresh) {
                return Some(format!("{name}: {why}"));
            }
        }
        if let Some(why) = self.answer.misfit() {
            return Some(why);
        }
        let ratios = [
            self.drops_seen,
            self.drops_predicted,
            self.spread,
            self.picked_up,
            self.picked_up_people,
        ];
        if !ratios.iter().all(|x| x.is_finite() && *x >= 0.0) {
            return Some("a drop count is negative or not a number".to_string());
        }
        None
    }
}

/// A call in flight as the pacer tracks it.
#[derive(Clone, Debug)]
struct Flight {
    indices: Vec<u32>,
    /// Seconds after the dial at which the far end picked up, when the
    /// verdict did not come with the pickup.
    picked_up_after: Option<f64>,
}

/// The predictive pacer. See the module documentation.
#[derive(Clone, Debug)]
pub struct Predictive {
    config: PredictiveConfig,
    state: PacerState,
    flights: HashMap<CallId, Flight>,
    /// Agents whose talk ended at this time and whose wrap-up is running.
    wrap_started: HashMap<AgentId, Timestamp>,
    /// The engine reports wrap-ups itself; no need to infer them.
    wrap_events: bool,
    /// (drop probability, threshold) of the calls the last decision asked
    /// for, matched to the `Placed` events that follow it.
    pending: VecDeque<(f64, f64)>,
    last_compute: Option<Timestamp>,
    /// The least time between computations for the floor's size.
    every: SignedDuration,
    last_ready: usize,
    dirty: bool,
    since_refresh: u32,
    last_refresh: Option<Timestamp>,
    /// The look-ahead points: seconds from now at the quantiles of the live
    /// answer time of a call placed now, fixed between refreshes.
    points: Vec<f64>,
    /// Free-by-point curves of talking (true) or wrapping (false) agents by
    /// elapsed-time key.
    free_cache: HashMap<(bool, u32), Vec<f64>>,
    /// The threshold of the last computation.
    threshold: f64,
}

impl Default for Predictive {
    fn default() -> Self {
        Predictive::new(PredictiveConfig::default())
    }
}

impl Predictive {
    pub fn new(config: PredictiveConfig) -> Predictive {
        let state = PacerState::fresh(&config);
        let mut p = Predictive {
            config,
            state,
            flights: HashMap::new(),
            wrap_started: HashMap::new(),
            wrap_events: false,
            pending: VecDeque::new(),
            last_compute: None,
            every: SignedDuration::from_millis(500),
            last_ready: 0,
            dirty: true,
            since_refresh: 0,
            last_refresh: None,
            points: Vec::new(),
            free_cache: HashMap::new(),
            threshold: 0.0,
        };
        p.points = p.compute_points();
        p
    }

    /// The calibration of the answer model so far.
    pub fn calibration(&self) -> CalibrationReport {
        self.state.answer.calibration()
    }

    /// The learned state.
    pub fn state(&self) -> &PacerState {
        &self.state
    }

    /// The drop-probability threshold of the last decision.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Realised over predicted drops (Bayesian, shrunk to the prior ratio).
    pub fn drop_ratio(&self) -> f64 {
        let c = &self.config;
        let ratio = (self.state.drops_seen + c.prior_drop_ratio * c.prior_drop_weight)
            / (self.state.drops_predicted + c.prior_drop_weight);
        ratio.clamp(0.5, 4.0)
    }

    /// The look-ahead points: the midpoints of `POINTS` equally likely
    /// intervals of the live answer time of a call placed now, within the
    /// longest look-ahead.
    fn compute_points(&self) -> Vec<f64> {
        let live = &self.state.live_delay;
        let reach = live.cdf(self.config.max_horizon).max(1e-6);
        (0..POINTS).map(|j| live.quantile_fine((j as f64 + 0.5) / POINTS as f64 * reach)).collect()
    }

    fn refresh(&mut self, floor: &FloorView<'_>) {
        let now = floor.now;
        let talking: Vec<f64> = floor
            .agents
            .iter()
            .filter(|a| a.activity == AgentActivity::InCall)
            .map(|a| secs(now.duration_since(a.since)))
            .collect();
        self.state.talk.refresh(&talking);
        self.state.live_delay.refresh(&[]);
        self.state.other_delay.refresh(&[]);
        self.state.wrap.refresh(&[]);
        self.state.verdict_delay.refresh(&[]);
        self.state.other_verdict_delay.refresh(&[]);
        self.points = self.compute_points();
        self.free_cache.clear();
        self.since_refresh = 0;
        self.last_refresh = Some(now);
    }

    /// Learns wrap-up times from agent states when the engine does not
    /// report them: the time from the end of talk to the next activity.
    fn infer_wraps(&mut self, floor: &FloorView<'_>) {
        if self.wrap_events || self.wrap_started.is_empty() {
            return;
        }
        for a in floor.agents {
            let Some(&ended) = self.wrap_started.get(&a.agent) else { continue };
            match a.activity {
                AgentActivity::WrapUp => {}
                _ if a.since >= ended => {
                    self.state.wrap.record(secs(a.since.duration_since(ended)));
                    self.wrap_started.remove(&a.agent);
                    self.since_refresh += 1;
                }
                _ => {
                    self.wrap_started.remove(&a.agent);
                }
            }
        }
    }

    /// P(free by each look-ahead point) of an agent that has talked
    /// (`talking`) or wrapped up for `elapsed` seconds.
    fn free_curve(&mut self, talking: bool, elapsed: f64) -> &[f64] {
        let key = (talking, elapsed_key(elapsed));
        let points = &self.points;
        let state = &self.state;
        self.free_cache.entry(key).or_insert_with(|| {
            let e = key_elapsed(key.1);
            if !talking {
                return points.iter().map(|&t| state.wrap.ends_within(e, t)).collect();
            }
            if state.wrap.mean() < 0.3 {
                return points.iter().map(|&t| state.talk.ends_within(e, t)).collect();
            }
            // Talk ends in second u, then the wrap-up must be over by t.
            let base = state.talk.survival(e).max(1e-12);
            points
                .iter()
                .map(|&t| {
                    let mut total = 0.0;
                    let mut u = 1.0;
                    while u - 1.0 < t {
                        let end = u.min(t);
                        let d = (state.talk.survival(e + u - 1.0) - state.talk.survival(e + end))
                            / base;
                        total += d.max(0.0) * state.wrap.cdf(t - (u - 1.0 + end) / 2.0);
                        u += 1.0;
                    }
                    total.min(1.0)
                })
                .collect()
        })
    }

    fn compute(&mut self, floor: &FloorView<'_>) -> u32 {
        let now = floor.now;
        self.infer_wraps(floor);
        let stale = self.last_refresh.is_none_or(|at| now.duration_since(at).as_secs() >= 60);
        let every = if self.state.answer.seen() < 500 { 20 } else { 200 };
        if self.since_refresh >= every || (stale && self.since_refresh > 0) {
            self.refresh(floor);
        }
        let points = self.points.clone();
        let k = points.len();
        // Exact tables only on small floors, where they are cheap and the
        // normal approximation is poor.
        let busy = floor.agents.iter().filter(|a| a.activity != AgentActivity::Ready).count();
        let limit = if floor.calls.len() + busy <= 2 * self.config.exact_limit {
            self.config.exact_limit
        } else {
            0
        };
        let live = &self.state.live_delay;
        let other = &self.state.other_delay;

        // While the campaign mean is uncertain, answer probabilities are taken
        // at the upper end of its posterior: too many answers is what drops.
        let mean = self.state.answer.campaign_mean();
        let inflate = 1.0 + UNCERTAINTY_Z * self.state.answer.campaign_mean_sd() / mean.max(1e-3);

        // Answers of the calls in flight by each point.
        let mut answers: Vec<PoissonBinomial> =
            (0..k).map(|_| PoissonBinomial::new(limit)).collect();
        let picked_share = (self.state.picked_up_share() * inflate).min(1.0);
        for c in floor.calls {
            if c.waiting_for_agent {
                answers.iter_mut().for_each(|a| a.add(1.0));
                continue;
            }
            let picked = self.flights.get(&c.call).and_then(|f| f.picked_up_after);
            if let Some(picked) = picked {
                // Picked up, verdict pending: a person far more often than a
                // call still ringing, and the verdict comes soon.
                let since = (secs(now.duration_since(c.placed_at)) - picked).max(0.0);
                let verdict = &self.state.verdict_delay;
                let (sv, so) =
                    (verdict.survival(since), self.state.other_verdict_delay.survival(since));
                let denom = picked_share * sv + (1.0 - picked_share) * so;
                if sv <= 1e-9 || denom <= 1e-12 {
                    continue;
                }
                let p_live = picked_share * sv / denom;
                for (a, &t) in answers.iter_mut().zip(&points) {
                    a.add(p_live * (1.0 - verdict.survival(since + t) / sv));
                }
                continue;
            }
            let age = secs(now.duration_since(c.placed_at)).max(0.0);
            let timeout = secs(c.ring_timeout).max(age);
            let p = (c.p_human * inflate).clamp(0.0, 1.0);
            let (sl, sn) = (live.survival(age), other.survival(age));
            let denom = p * sl + (1.0 - p) * sn;
            if sl <= 1e-9 || denom <= 1e-12 {
                continue;
            }
            let p_live = p * sl / denom;
            for (a, &t) in answers.iter_mut().zip(&points) {
                let t = (age + t).min(timeout);
                a.add(p_live * (1.0 - live.survival(t) / sl));
            }
        }

        // Agents: ready now, and freed by each point.
        let mut ready = vec![0i64; k];
        let mut freed: Vec<PoissonBinomial> = (0..k).map(|_| PoissonBinomial::new(limit)).collect();
        let mut working = 0usize;
        for a in floor.agents {
            let leaves = a.leaves_at.map(|at| secs(at.duration_since(now)));
            let present = |t: f64| leaves.is_none_or(|l| t < l);
            match a.activity {
                AgentActivity::Ready => {
                    working += 1;
                    for (r, &t) in ready.iter_mut().zip(&points) {
                        if present(t) {
                            *r += 1;
                        }
                    }
                }
                AgentActivity::InCall | AgentActivity::WrapUp => {
                    working += 1;
                    let talking = a.activity == AgentActivity::InCall;
                    let elapsed = secs(now.duration_since(a.since));
                    let curve = self.free_curve(talking, elapsed);
                    for ((f, &g), &t) in freed.iter_mut().zip(curve).zip(&points) {
                        if present(t) {
                            f.add(g);
                        }
                    }
                }
                AgentActivity::Reserved => working += 1,
                AgentActivity::Paused => {}
            }
        }
        if working == 0 {
            return 0;
        }
        // A new call is answered at each point with equal probability.
        let answered_by: Vec<f64> = points.iter().map(|&t| self.state.live_delay.cdf(t)).collect();

        let aim = self.config.budget.aim(&floor.budget);
        let threshold = (aim / (self.drop_ratio() * self.state.spread.clamp(0.2, 1.0)))
            .clamp(aim * 0.5, (aim * 8.0).min(0.6));
        self.threshold = threshold;

        let cap = floor.max_new.min(4 * floor.agents.len() as u32 + 4);
        let mut placed = 0u32;
        while placed < cap {
            let mut risk = 0.0;
            for j in 0..k {
                risk += difference_at_least(&answers[j], &freed[j], ready[j]);
            }
            let risk = risk / k as f64;
            if risk > threshold {
                break;
            }
            let p = floor.candidates.get(placed as usize).copied().unwrap_or(mean);
            let p = (p * inflate).min(1.0);
            self.pending.push_back((risk, threshold));
            for (a, &by) in answers.iter_mut().zip(&answered_by) {
                a.add(p * by);
            }
            placed += 1;
        }
        placed
    }
}

impl Pacer for Predictive {
    fn name(&self) -> String {
        "predictive".to_string()
    }

    fn observe(&mut self, now: Timestamp, event: &PacerEvent) {
        self.dirty = true;
        self.since_refresh += 1;
        match event {
            PacerEvent::Placed { call, features, p_human } => {
                let indices = AnswerModel::indices(features);
                if let Some((risk, threshold)) = self.pending.pop_front() {
                    let p = p_human.clamp(0.0, 1.0);
                    self.state.drops_predicted += p * risk;
                    let weight = (p / self.state.answer.campaign_mean().max(0.01)).min(5.0);
                    let alpha = 0.01 * weight;
                    let ratio = (risk / threshold.max(1e-9)).min(1.5);
                    self.state.spread += alpha * (ratio - self.state.spread);
                }
                self.flights.insert(*call, Flight { indices, picked_up_after: None });
                if self.flights.len() > 100_000 {
                    // Outcomes that never came (lost by the engine): forget.
                    self.flights.clear();
                }
            }
            PacerEvent::PickedUp { call, after } => {
                if let Some(f) = self.flights.get_mut(call) {
                    f.picked_up_after.get_or_insert(secs(*after));
                }
            }
            PacerEvent::Answered { call, after } => {
                self.state.live_delay.record(secs(*after));
                if let Some(f) = self.flights.remove(call) {
                    self.state.answer.learn(&f.indices, true);
                    if let Some(picked) = f.picked_up_after {
                        self.state.verdict_delay.record(secs(*after) - picked);
                        self.state.picked_up += 1.0;
                        self.state.picked_up_people += 1.0;
                    }
                }
            }
            PacerEvent::Unanswered { call, after, .. } => {
                self.state.other_delay.record(secs(*after));
                if let Some(f) = self.flights.remove(call) {
                    self.state.answer.learn(&f.indices, false);
                    if let Some(picked) = f.picked_up_after {
                        self.state.other_verdict_delay.record(secs(*after) - picked);
                        self.state.picked_up += 1.0;
                    }
                }
            }
            PacerEvent::Connected { .. } => {}
            PacerEvent::Dropped { .. } => self.state.drops_seen += 1.0,
            PacerEvent::TalkEnded { agent, talk } => {
                self.state.talk.record(secs(*talk));
                self.wrap_started.insert(*agent, now);
            }
            PacerEvent::WrapEnded { agent, wrap } => {
                self.wrap_events = true;
                self.wrap_started.remove(agent);
                self.state.wrap.record(secs(*wrap));
            }
        }
    }

    fn decide(&mut self, floor: &FloorView<'_>) -> u32 {
        let now = floor.now;
        self.pending.clear();
        let ready = floor.ready();
        let changed = self.dirty || ready != self.last_ready;
        self.every = if floor.agents.len() > self.config.large_floor {
            self.config.large_floor_recompute_every
        } else {
            self.config.recompute_every
        };
        if let Some(last) = self.last_compute {
            let since = now.duration_since(last);
            if since < self.every || (!changed && since < self.config.idle_recompute) {
                return 0;
            }
        }
        self.last_compute = Some(now);
        self.last_ready = ready;
        self.dirty = false;
        self.compute(floor).min(floor.max_new)
    }

    fn p_human(&self, features: &CallFeatures) -> f64 {
        self.state.answer.predict(features)
    }

    fn wants_decision(&self, now: Timestamp) -> bool {
        self.last_compute.is_none_or(|last| now.duration_since(last) >= self.every)
    }

    fn next_decision(&self) -> Option<Timestamp> {
        let last = self.last_compute?;
        let wait = if self.dirty { self.every } else { self.config.idle_recompute };
        Some(last + wait)
    }

    fn export_state(&self) -> Option<PacerState> {
        Some(self.state.clone())
    }

    fn import_state(&mut self, state: PacerState) -> Result<(), crate::StateError> {
        if let Some(why) = state.misfit(&self.config) {
            return Err(crate::StateError::Invalid(why));
        }
        let mut state = state;
        state.answer.rebuild();
        state.live_delay.rebuild();
        state.other_delay.rebuild();
        state.talk.rebuild();
        state.wrap.rebuild();
        state.verdict_delay.rebuild();
        state.other_verdict_delay.rebuild();
        self.state = state;
        self.points = self.compute_points();
        self.free_cache.clear();
        Ok(())
    }
}

/// Standard deviations of the campaign mean's posterior added to answer
/// probabilities while it is uncertain.
const UNCERTAINTY_Z: f64 = 1.5;

/// Worth, in calls, of the prior one-half share of people among calls
/// picked up before their verdict.
const PICKUP_PRIOR_WEIGHT: f64 = 10.0;

/// Look-ahead points per decision.
const POINTS: usize = 16;

/// Elapsed time to a cache key: whole seconds for the first minute, then
/// 5 s steps to ten minutes, then 30 s steps.
fn elapsed_key(elapsed: f64) -> u32 {
    let e = elapsed.max(0.0);
    if e < 60.0 {
        e.round() as u32
    } else if e < 600.0 {
        60 + ((e - 60.0) / 5.0).round() as u32
    } else {
        168 + (((e - 600.0) / 30.0).round() as u32).min(10_000)
    }
}

/// The elapsed time a cache key stands for.
fn key_elapsed(key: u32) -> f64 {
    if key < 60 {
        f64::from(key)
    } else if key < 168 {
        60.0 + 5.0 * f64::from(key - 60)
    } else {
        600.0 + 30.0 * f64::from(key - 168)
    }
}

fn secs(d: SignedDuration) -> f64 {
    d.as_secs_f64()
}
