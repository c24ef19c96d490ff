//! Per-campaign counters kept by the engine: what the live wall and the
//! simulator report.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};
use ringa_core::CallResult;
use ringa_core::rules::DropWindow;
use ringa_core::zone::ZoneName;
use serde::Serialize;

/// Counters of one campaign since the engine started.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CampaignStats {
    /// Calls placed.
    pub placed: u64,
    /// Calls answered by a person (connected or dropped).
    pub live_answers: u64,
    /// Live answers that reached an agent.
    pub connects: u64,
    /// Live answers that no agent took in time.
    pub drops: u64,
    /// Calls answered by an answering machine and judged so.
    pub machines: u64,
    /// Calls ended on a ring timeout learned from the number's voicemail
    /// pickups (method 3): counted apart from no-answers.
    pub avoided_voicemail: u64,
    /// Dials moved a few hours on by the voicemail history (method 2).
    pub history_retimed: u64,
    /// Dials moved to the next day by the voicemail history (method 2).
    pub history_skipped: u64,
    /// Attempts by telephony result.
    pub results: BTreeMap<String, u64>,
    /// Dials refused by the eligibility check, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Seconds agents waited between becoming ready and being connected.
    pub waits: Vec<f64>,
    /// Inbound calls back that reached an agent (never counted as placed, answered,
    /// connected or dropped).
    pub inbound_connected: u64,
    /// Inbound calls back answered with the callback message: no agent was free.
    pub inbound_messages: u64,
    /// Agent outcomes set, by code.
    pub outcomes: BTreeMap<String, u64>,
}

impl CampaignStats {
    pub(crate) fn count_result(&mut self, result: CallResult) {
        *self.results.entry(result.as_str().to_string()).or_default() += 1;
    }

    pub(crate) fn count_refusal(&mut self, code: &str) {
        *self.refused.entry(code.to_string()).or_default() += 1;
    }

    /// Drops over live answers, all time.
    pub fn drop_rate(&self) -> f64 {
        if self.live_answers == 0 { 0.0 } else { self.drops as f64 / self.live_answers as f64 }
    }
}

/// Live answers and drops inside the rule set's window, kept incrementally.
#[derive(Clone, Debug)]
pub struct DropLedger {
    window: DropWindow,
    zone: ZoneName,
    events: VecDeque<(Timestamp, f64, f64)>,
    live: f64,
    drops: f64,
    placed: VecDeque<Timestamp>,
}

impl DropLedger {
    pub fn new(window: DropWindow, zone: ZoneName) -> DropLedger {
        DropLedger {
            window,
            zone,
            events: VecDeque::new(),
            live: 0.0,
            drops: 0.0,
            placed: VecDeque::new(),
        }
    }

    /// Records a live answer (`drop` = 0) or a drop (`drop` = 1), or an
    /// estimated fraction of one.
    pub fn record(&mut self, now: Timestamp, live: f64, drop: f64) {
        self.events.push_back((now, live, drop));
        self.live += live;
        self.drops += drop;
    }

    pub fn record_placed(&mut self, now: Timestamp) {
        self.placed.push_back(now);
    }

    /// Forgets what fell out of the window.
    pub fn prune(&mut self, now: Timestamp) {
        let start = self.window_start(now);
        while let Some(&(at, live, drop)) = self.events.front() {
            if at >= start {
                break;
            }
            self.live -= live;
            self.drops -= drop;
            self.events.pop_front();
        }
        while self.placed.front().is_some_and(|&at| at < start) {
            self.placed.pop_front();
        }
        if self.events.is_empty() {
            self.live = 0.0;
            self.drops = 0.0;
        }
    }

    fn window_start(&self, now: Timestamp) -> Timestamp {
        match self.window {
            DropWindow::Day => {
                let tz = self.zone.tz();
                let local = tz.to_datetime(now);
                tz.to_ambiguous_timestamp(local.date().to_datetime(jiff::civil::Time::MIN))
                    .compatible()
                    .unwrap_or(now)
            }
            DropWindow::Rolling24h | DropWindow::Rolling30d => {
                now.checked_sub(self.window.length()).unwrap_or(now)
            }
        }
    }

    /// Live answers in the window.
    pub fn live(&self) -> f64 {
        self.live.max(0.0)
    }

    /// Drops in the window.
    pub fn drops(&self) -> f64 {
        self.drops.max(0.0)
    }

    /// Calls placed in the window.
    pub fn placed(&self) -> u64 {
        self.placed.len() as u64
    }

    /// The length of the window, for reports.
    pub fn length(&self) -> SignedDuration {
        self.window.length()
    }
}
