//! The figures of a simulated run, and the drop-rate windows they are
//! computed over.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use ringa_core::rules::DropWindow;
use serde::Serialize;

/// What a simulated run measured. Fractions are numbers between 0 and 1.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    pub pacer: String,
    pub seed: u64,
    pub days: u32,
    pub agents: u32,
    /// Talk and wrap-up over logged-in time less pauses.
    pub utilization: f64,
    /// Mean seconds an agent waited between becoming ready and a connect.
    pub mean_wait_s: f64,
    pub p90_wait_s: f64,
    pub placed: u64,
    pub live_answers: u64,
    pub connects: u64,
    pub drops: u64,
    /// Drops over live answers, whole run.
    pub drop_rate: f64,
    /// The rule set's window (`day`, `rolling24h`, `rolling30d`).
    pub drop_window: String,
    /// The worst drop rate over the rule set's windows with at least
    /// `min_window_live` live answers; `None` when no window has that many.
    pub worst_window_drop_rate: Option<f64>,
    pub min_window_live: u64,
    /// Share of rolling 24-hour windows (ending at each live answer, with
    /// enough live answers) whose drop rate is over the target.
    pub windows_24h_over_target: Option<f64>,
    pub drop_target: f64,
    pub connects_per_agent_hour: f64,
    /// Calls placed per contact dialed.
    pub attempts_per_contact: f64,
    /// Contacts dialed at least once.
    pub contacts_used: u64,
    /// Contacts the engine closed (final outcome, attempts spent, invalid).
    pub contacts_closed: u64,
    /// Machines detected and hung up on.
    pub machines_filtered: u64,
    /// Machines that reached an agent.
    pub machines_to_agents: u64,
    /// Agent seconds spent on machines (handling and wrap-up).
    pub agent_time_lost_to_machines_s: f64,
    /// People the detector judged machines (hung up on).
    pub amd_false_positives: u64,
    /// Connects that were people (connects less machines to agents).
    pub conversations: u64,
    /// Calls the engine ended on a ring timeout learned from the number's
    /// voicemail pickups (method 3), counted apart from no-answers.
    pub avoided_voicemail: u64,
    /// Calls whose voicemail would have picked up after the call's ring
    /// timeout (with or without method 3).
    pub voicemail_rang_out: u64,
    /// Calls whose person would have answered after the call's ring
    /// timeout: the people a short ring timeout loses.
    pub people_rang_out: u64,
    /// Dials moved a few hours on by the voicemail history (method 2).
    pub history_retimed: u64,
    /// Dials moved to the next day by the voicemail history (method 2).
    pub history_skipped: u64,
    /// Dials refused by the eligibility check, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Agent actions the engine rejected (should be 0).
    pub rejected: u64,
    /// The first few rejection reasons.
    pub rejected_reasons: Vec<String>,
    /// Agent outcomes set, by code.
    pub outcomes: BTreeMap<String, u64>,
    pub logged_in_hours: f64,
    pub paused_hours: f64,
    pub talk_hours: f64,
    pub wrap_up_hours: f64,
    /// The most calls in flight at once for one reserved agent.
    pub max_lines_per_agent: u32,
    /// The most calls in flight at once per working agent (predictive).
    pub max_lines_per_working_agent: f64,
    /// `Originate` commands seen.
    pub originates: u64,
    /// Preview clicks sent (`AgentDial`).
    pub agent_dials: u64,
    /// Preview calls placed without a click (should be 0).
    pub originates_without_click: u64,
    /// Calls connected to an agent who was not ready or reserved (should
    /// be 0).
    pub connects_to_unavailable: u64,
    pub simulated_s: f64,
    pub wall_s: f64,
}

impl Report {
    /// The report with its wall time cleared, for comparing runs.
    pub fn without_wall_time(&self) -> Report {
        Report { wall_s: 0.0, ..self.clone() }
    }
}

/// The live answers of a run, each with whether it was dropped, in time
/// order.
#[derive(Clone, Debug, Default)]
pub(crate) struct LiveLedger {
    pub(crate) events: Vec<(Timestamp, bool)>,
}

impl LiveLedger {
    pub(crate) fn record(&mut self, at: Timestamp, dropped: bool) {
        self.events.push((at, dropped));
    }

    /// Drop rates of the rolling windows of `length` ending at each live
    /// answer, for windows with at least `min_live` answers.
    pub(crate) fn rolling(&self, length: jiff::SignedDuration, min_live: u64) -> Vec<f64> {
        let mut rates = Vec::new();
        let mut start = 0;
        let mut drops = 0u64;
        for end in 0..self.events.len() {
            let (at, dropped) = self.events[end];
            drops += u64::from(dropped);
            while self.events[start].0 <= at - length {
                drops -= u64::from(self.events[start].1);
                start += 1;
            }
            let live = (end + 1 - start) as u64;
            if live >= min_live.max(1) {
                rates.push(drops as f64 / live as f64);
            }
        }
        rates
    }

    /// Drop rates of the calendar days of `tz` with at least `min_live`
    /// answers.
    pub(crate) fn daily(&self, tz: &TimeZone, min_live: u64) -> Vec<f64> {
        let mut days: BTreeMap<jiff::civil::Date, (u64, u64)> = BTreeMap::new();
        for &(at, dropped) in &self.events {
            let e = days.entry(tz.to_datetime(at).date()).or_default();
            e.0 += 1;
            e.1 += u64::from(dropped);
        }
        days.values()
            .filter(|(live, _)| *live >= min_live.max(1))
            .map(|(live, drops)| *drops as f64 / *live as f64)
            .collect()
    }

    /// The worst drop rate over the rule set's windows.
    pub(crate) fn worst(&self, window: DropWindow, tz: &TimeZone, min_live: u64) -> Option<f64> {
        let rates = match window {
            DropWindow::Day => self.daily(tz, min_live),
            DropWindow::Rolling24h | DropWindow::Rolling30d => {
                self.rolling(window.length(), min_live)
            }
        };
        rates.into_iter().reduce(f64::max)
    }
}

/// The `q` quantile (0–1) of `values` (sorted here), 0 for none.
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn rolling_windows_forget_old_answers() {
        let t0 = Timestamp::from_second(1_800_000_000).expect("valid instant");
        let mut ledger = LiveLedger::default();
        ledger.record(t0, true);
        ledger.record(t0 + SignedDuration::from_hours(1), false);
        ledger.record(t0 + SignedDuration::from_hours(30), false);
        let rates = ledger.rolling(SignedDuration::from_hours(24), 1);
        assert_eq!(rates, vec![1.0, 0.5, 0.0]);
        let worst = ledger.worst(DropWindow::Rolling24h, &TimeZone::UTC, 2);
        assert_eq!(worst, Some(0.5));
    }

    #[test]
    fn quantiles_pick_the_right_rank() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.9), 9.0);
        assert_eq!(quantile(&[], 0.9), 0.0);
    }
}
