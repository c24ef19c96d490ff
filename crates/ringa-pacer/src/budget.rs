//! The drop budget: which drop rate the pacer may aim at now.
//!
//! The rule set holds drops over live answers under a target within a window
//! (a day, 24 hours, 30 days). The pacer looks ahead over a planning horizon
//! of future live answers (at least 50, or half of what the window already
//! holds), spends whatever the window has not used, and keeps a safety margin
//! for the randomness of the drops still to come: `z` standard deviations of
//! a Poisson count of drops over the horizon, plus a fixed reserve of a few
//! drops against a burst (when answers bunch, every answer of the burst finds
//! the agents taken, and a burst that takes the window over the target stops
//! predictive dialing until the window recovers). The margin is large next to
//! the budget while the evidence is thin (a campaign's first 50 calls, a team
//! of five, the first minutes of a calendar-day window) and shrinks,
//! relatively, as the window fills.

use crate::DropBudget;

/// Tuning of the budget rule.
#[derive(Clone, Copy, Debug)]
pub struct BudgetRule {
    /// Live answers the pacer plans ahead for, at least.
    pub min_horizon: f64,
    /// The horizon as a share of the live answers already in the window.
    pub horizon_share: f64,
    /// Safety margin in standard deviations of the future drop count.
    pub z: f64,
    /// Drops held back besides: drops come in bursts (when answers bunch,
    /// every answer of the burst finds the agents taken), and a burst that
    /// takes the window over the target stops predictive dialing.
    pub reserve: f64,
    /// The aimed rate never goes under this share of the target (the engine
    /// falls back to one call per agent once the budget is spent).
    pub floor_share: f64,
    /// Nor over this multiple of the target, however much budget is left.
    pub ceiling_share: f64,
    /// The pacer plans for a target this share under the rule's, so that the
    /// window's rate stays clear of it (the engine stops predictive dialing
    /// the moment the window reaches the target).
    pub safety_share: f64,
}

impl Default for BudgetRule {
    fn default() -> Self {
        BudgetRule {
            min_horizon: 50.0,
            horizon_share: 0.5,
            z: 1.5,
            reserve: 5.0,
            floor_share: 0.1,
            ceiling_share: 1.5,
            safety_share: 0.03,
        }
    }
}

impl BudgetRule {
    /// The drop rate (drops per live answer) to aim at for the calls placed
    /// now, given the window's counts.
    pub fn aim(&self, budget: &DropBudget) -> f64 {
        let target = budget.target.max(0.0) * (1.0 - self.safety_share);
        if target <= 0.0 {
            return 0.0;
        }
        let live = budget.live_answers as f64;
        let horizon = (live * self.horizon_share).max(self.min_horizon);
        let allowed = target * (live + horizon) - budget.drops;
        let margin = self.z * (target * horizon).sqrt() + self.reserve;
        let rate = (allowed - margin) / horizon;
        rate.clamp(target * self.floor_share, target * self.ceiling_share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(live: u64, drops: f64) -> DropBudget {
        DropBudget { target: 0.03, live_answers: live, drops, placed: live * 4 }
    }

    #[test]
    fn fresh_campaign_is_cautious() {
        let rule = BudgetRule { safety_share: 0.0, reserve: 0.0, ..BudgetRule::default() };
        let aim = rule.aim(&budget(0, 0.0));
        // 50 planned answers: the whole budget (1.5 drops) is eaten by the
        // margin, so the pacer aims at the floor.
        assert!((aim - 0.003).abs() < 1e-12, "{aim}");
    }

    #[test]
    fn margin_shrinks_as_evidence_grows() {
        let rule = BudgetRule { safety_share: 0.0, reserve: 0.0, ..BudgetRule::default() };
        // A window exactly at the target: with little evidence the margin
        // holds the aim far below the target; with much evidence the aim
        // approaches the target from below.
        let at_target_small = rule.aim(&budget(400, 12.0));
        let at_target_large = rule.aim(&budget(40_000, 1200.0));
        assert!(at_target_small < at_target_large);
        assert!(at_target_large < 0.03 && at_target_large > 0.028, "{at_target_large}");
    }

    #[test]
    fn spends_unused_budget_but_never_overshoots() {
        let rule = BudgetRule { safety_share: 0.0, reserve: 0.0, ..BudgetRule::default() };
        let idle = rule.aim(&budget(2000, 0.0));
        assert!(idle > 0.03 && idle <= 0.045, "{idle}");
        // Even spending at the aimed rate over the whole horizon, the window
        // ends under the target.
        for (live, drops) in [(100u64, 0.0), (1000, 10.0), (1000, 29.0), (5000, 140.0)] {
            let b = budget(live, drops);
            let aim = rule.aim(&b);
            let horizon = (live as f64 * 0.5).max(50.0);
            let end = (drops + aim * horizon) / (live as f64 + horizon);
            assert!(end <= 0.03 + 1e-9 || aim <= 0.003 + 1e-12, "{live} {drops}: {end}");
        }
        // Over budget: the floor.
        assert!((rule.aim(&budget(1000, 40.0)) - 0.003).abs() < 1e-12);
    }

    #[test]
    fn reserve_holds_back_a_burst_while_the_window_is_young() {
        let plain = BudgetRule { safety_share: 0.0, reserve: 0.0, ..BudgetRule::default() };
        let rule = BudgetRule { safety_share: 0.0, ..BudgetRule::default() };
        // A young window without drops: without the reserve the pacer would
        // spend at the ceiling; with it, a burst of `reserve` drops on top of
        // the aimed rate still leaves the window under the target.
        let young = budget(240, 0.0);
        assert!(rule.aim(&young) < plain.aim(&young), "{}", rule.aim(&young));
        let horizon = 120.0;
        let end = (rule.aim(&young) * horizon + rule.reserve) / (240.0 + horizon);
        assert!(end < 0.03, "{end}");
        // A full window hardly notices it.
        let full = budget(40_000, 1000.0);
        assert!(plain.aim(&full) - rule.aim(&full) < 0.0005);
        // Still the floor for a fresh campaign.
        assert!((rule.aim(&budget(0, 0.0)) - 0.003).abs() < 1e-12);
    }

    #[test]
    fn safety_share_keeps_the_window_clear_of_the_target() {
        let rule = BudgetRule::default();
        // At equilibrium (the window at the aimed rate) with much evidence,
        // the aim settles under 97% of the target.
        let (mut low, mut high) = (0.0, 0.03);
        for _ in 0..60 {
            let mid = 0.5 * (low + high);
            if rule.aim(&budget(100_000, mid * 100_000.0)) > mid {
                low = mid;
            } else {
                high = mid;
            }
        }
        let rate = 0.5 * (low + high);
        assert!(rate < 0.03 * 0.97 && rate > 0.03 * 0.88, "{rate}");
    }
}
