//! The adaptive dial-level baseline: a re-implementation of the dial-level
//! method many dialers use, for comparison with the predictive pacer.
//!
//! Every second it samples the ready agents, the logged-in agents (paused
//! ones included) and the answered calls waiting for an agent. Every 15 s it
//! moves the dial level by the sampled averages,
//! `level ← level × (1 + (ready − waiting) / logged-in)`, clamped to
//! [1, 3]; once the day has placed more than 50 calls and its drop rate is
//! over the target, the level is halved instead. Every 2.5 s it tops the
//! campaign up to `round(level × (ready + talking))` lines, counting calls
//! ringing, waiting and connected (the agents in a call).

use jiff::{SignedDuration, Timestamp};

use crate::{CallFeatures, FloorView, Pacer, PacerEvent};

const SAMPLE_EVERY: SignedDuration = SignedDuration::from_secs(1);
const ADJUST_EVERY: SignedDuration = SignedDuration::from_secs(15);
const PLACE_EVERY: SignedDuration = SignedDuration::from_millis(2500);
const MIN_LEVEL: f64 = 1.0;
const MAX_LEVEL: f64 = 3.0;
/// Calls the day must have placed before its drop rate is trusted.
const DROP_CHECK_AFTER: u64 = 50;

/// The adaptive dial-level pacer.
#[derive(Clone, Debug)]
pub struct AdaptiveLevel {
    level: f64,
    next_sample: Option<Timestamp>,
    next_adjust: Option<Timestamp>,
    next_place: Option<Timestamp>,
    /// Sums of the samples since the last adjustment.
    samples: u32,
    sum_ready: f64,
    sum_logged_in: f64,
    sum_waiting: f64,
}

impl Default for AdaptiveLevel {
    fn default() -> Self {
        AdaptiveLevel::new(MIN_LEVEL)
    }
}

impl AdaptiveLevel {
    /// Starts at `level` lines per available agent.
    pub fn new(level: f64) -> AdaptiveLevel {
        AdaptiveLevel {
            level: level.clamp(MIN_LEVEL, MAX_LEVEL),
            next_sample: None,
            next_adjust: None,
            next_place: None,
            samples: 0,
            sum_ready: 0.0,
            sum_logged_in: 0.0,
            sum_waiting: 0.0,
        }
    }

    /// The current dial level.
    pub fn level(&self) -> f64 {
        self.level
    }

    fn sample(&mut self, floor: &FloorView<'_>) {
        self.samples += 1;
        self.sum_ready += floor.ready() as f64;
        self.sum_logged_in += floor.logged_in() as f64;
        self.sum_waiting += floor.waiting() as f64;
    }

    fn adjust(&mut self, floor: &FloorView<'_>) {
        let b = floor.budget;
        if b.placed > DROP_CHECK_AFTER && b.live_answers > 0 {
            let rate = b.drops / b.live_answers as f64;
            if rate > b.target {
                self.level = (self.level / 2.0).max(MIN_LEVEL);
                self.reset_samples();
                return;
            }
        }
        if self.samples > 0 && self.sum_logged_in > 0.0 {
            let n = f64::from(self.samples);
            let (ready, waiting) = (self.sum_ready / n, self.sum_waiting / n);
            let logged_in = self.sum_logged_in / n;
            self.level *= 1.0 + (ready - waiting) / logged_in;
            self.level = self.level.clamp(MIN_LEVEL, MAX_LEVEL);
        }
        self.reset_samples();
    }

    fn reset_samples(&mut self) {
        self.samples = 0;
        self.sum_ready = 0.0;
        self.sum_logged_in = 0.0;
        self.sum_waiting = 0.0;
    }
}

impl Pacer for AdaptiveLevel {
    fn name(&self) -> String {
        "adaptive-level".to_string()
    }

    fn observe(&mut self, _now: Timestamp, _event: &PacerEvent) {}

    fn decide(&mut self, floor: &FloorView<'_>) -> u32 {
        let now = floor.now;
        if self.next_sample.is_none() {
            self.next_sample = Some(now);
            self.next_adjust = Some(now + ADJUST_EVERY);
            self.next_place = Some(now);
        }
        while let Some(at) = self.next_sample.filter(|&at| at <= now) {
            self.sample(floor);
            self.next_sample = Some(at + SAMPLE_EVERY);
        }
        while let Some(at) = self.next_adjust.filter(|&at| at <= now) {
            self.adjust(floor);
            self.next_adjust = Some(at + ADJUST_EVERY);
        }
        let mut place = false;
        while let Some(at) = self.next_place.filter(|&at| at <= now) {
            place = true;
            self.next_place = Some(at + PLACE_EVERY);
        }
        if !place {
            return 0;
        }
        let talking = floor.in_call();
        let wanted = (self.level * (floor.ready() + talking) as f64).round() as i64;
        let lines = (floor.ringing() + floor.waiting() + talking) as i64;
        (wanted - lines).clamp(0, i64::from(floor.max_new)) as u32
    }

    fn p_human(&self, _features: &CallFeatures) -> f64 {
        0.5
    }

    fn wants_decision(&self, now: Timestamp) -> bool {
        // Every tick is due at the earliest of the three.
        self.next_decision().is_none_or(|at| at <= now)
    }

    fn next_decision(&self) -> Option<Timestamp> {
        [self.next_sample, self.next_adjust, self.next_place].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentActivity, AgentView, CallView, DropBudget};
    use ringa_core::{AgentId, CallId};

    fn agents(ready: usize, talking: usize, paused: usize, at: Timestamp) -> Vec<AgentView> {
        let mut out = Vec::new();
        for (n, activity) in [
            (ready, AgentActivity::Ready),
            (talking, AgentActivity::InCall),
            (paused, AgentActivity::Paused),
        ] {
            for _ in 0..n {
                out.push(AgentView {
                    agent: AgentId(out.len() as u64),
                    activity,
                    since: at,
                    leaves_at: None,
                    shared: false,
                });
            }
        }
        out
    }

    fn calls(ringing: usize, waiting: usize, at: Timestamp) -> Vec<CallView> {
        (0..ringing + waiting)
            .map(|i| CallView {
                call: CallId(i as u64),
                placed_at: at,
                waiting_for_agent: i >= ringing,
                p_human: 0.3,
                ring_timeout: SignedDuration::from_secs(25),
            })
            .collect()
    }

    fn view<'a>(
        now: Timestamp,
        agents: &'a [AgentView],
        calls: &'a [CallView],
        budget: DropBudget,
    ) -> FloorView<'a> {
        FloorView { now, agents, calls, candidates: &[], budget, max_new: 1000 }
    }

    #[test]
    fn follows_its_rules_on_a_scripted_floor() {
        let t0 = Timestamp::from_second(1_000_000).expect("valid");
        let mut p = AdaptiveLevel::default();
        let budget = DropBudget { target: 0.03, ..DropBudget::default() };
        // 4 ready, 6 talking, 0 paused; nothing in flight: level 1 places 10
        // lines minus the 6 connected ones.
        let a = agents(4, 6, 0, t0);
        let c = calls(0, 0, t0);
        assert_eq!(p.decide(&view(t0, &a, &c, budget)), 4);
        // Between placement ticks nothing is placed.
        let t = t0 + SignedDuration::from_secs(1);
        assert_eq!(p.decide(&view(t, &a, &c, budget)), 0);
        assert_eq!(p.next_decision(), Some(t0 + SignedDuration::from_secs(2)));
        // Sample 15 s of 4 ready, 0 waiting, 10 logged in: level × 1.4.
        for s in 2..15 {
            p.decide(&view(t0 + SignedDuration::from_secs(s), &a, &c, budget));
        }
        assert!((p.level() - 1.0).abs() < 1e-12);
        p.decide(&view(t0 + SignedDuration::from_secs(15), &a, &c, budget));
        assert!((p.level() - 1.4).abs() < 1e-9, "level {}", p.level());
        // At 17.5 s: round(1.4 × 10) = 14 wanted, 6 connected + 3 ringing.
        let c = calls(3, 0, t0);
        let n = p.decide(&view(t0 + SignedDuration::from_millis(17_500), &a, &c, budget));
        assert_eq!(n, 14 - 9);
        // Waiting calls pull the level down: 1 ready, 3 waiting, 10 logged.
        let a = agents(1, 7, 2, t0);
        let c = calls(0, 3, t0);
        for s in 18..=30 {
            p.decide(&view(t0 + SignedDuration::from_secs(s), &a, &c, budget));
        }
        // Samples at 16 and 17 s of (4 ready, 0 waiting, 10 logged in), then
        // 13 at 18..=30 s of (1, 3, 10); the averages decide.
        let ready: f64 = (2.0 * 4.0 + 13.0 * 1.0) / 15.0;
        let waiting = (13.0 * 3.0) / 15.0;
        let want = (1.4 * (1.0 + (ready - waiting) / 10.0)).clamp(1.0, 3.0);
        assert!((p.level() - want).abs() < 1e-9, "level {} want {want}", p.level());
    }

    #[test]
    fn halves_on_drops_only_after_fifty_calls() {
        let t0 = Timestamp::from_second(1_000_000).expect("valid");
        let mut p = AdaptiveLevel::new(2.8);
        let a = agents(5, 5, 0, t0);
        let c = calls(0, 0, t0);
        let mut budget = DropBudget { target: 0.03, live_answers: 10, drops: 2.0, placed: 40 };
        for s in 0..=15 {
            p.decide(&view(t0 + SignedDuration::from_secs(s), &a, &c, budget));
        }
        // 40 calls: the 20% drop rate is not trusted yet; 5 ready of 10 raise.
        assert!((p.level() - 3.0).abs() < 1e-9, "level {}", p.level());
        budget.placed = 51;
        for s in 16..=30 {
            p.decide(&view(t0 + SignedDuration::from_secs(s), &a, &c, budget));
        }
        assert!((p.level() - 1.5).abs() < 1e-9, "level {}", p.level());
        for s in 31..=45 {
            p.decide(&view(t0 + SignedDuration::from_secs(s), &a, &c, budget));
        }
        assert!((p.level() - 1.0).abs() < 1e-9, "clamped at 1, level {}", p.level());
    }
}
