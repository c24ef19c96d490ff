//! Agent states, with the time spent in each.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use ringa_core::{CallId, CampaignId, ContactId};
use serde::{Deserialize, Serialize};

/// What an agent is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    /// Waiting for a call.
    Ready,
    /// Held for a contact: a preview card, a progressive or one-to-one call
    /// being dialed, a callback.
    Reserved {
        campaign: CampaignId,
        contact: ContactId,
        call: Option<CallId>,
    },
    /// Talking to a customer. `contact` is `None` on an inbound call from a number that
    /// matches no contact of the campaign.
    InCall {
        campaign: CampaignId,
        contact: Option<ContactId>,
        call: CallId,
    },
    /// Finishing the last call: the outcome is not set yet.
    WrapUp {
        campaign: CampaignId,
        contact: Option<ContactId>,
        call: CallId,
    },
    /// Paused with a reason.
    Paused {
        reason: String,
    },
}

impl AgentState {
    /// The short name used in statistics.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::Reserved { .. } => "reserved",
            AgentState::InCall { .. } => "in_call",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::Paused { .. } => "paused",
        }
    }

    /// The states in the order reports list them.
    pub const NAMES: [&'static str; 6] =
        ["logged_out", "ready", "reserved", "in_call", "wrap_up", "paused"];
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Seconds an agent has spent in each state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateTimes {
    pub ready: f64,
    pub reserved: f64,
    pub in_call: f64,
    pub wrap_up: f64,
    pub paused: f64,
}

impl StateTimes {
    /// Adds `spent` to the bucket of `state`.
    pub fn add(&mut self, state: &AgentState, spent: SignedDuration) {
        let secs = spent.as_secs_f64().max(0.0);
        match state {
            AgentState::LoggedOut => {}
            AgentState::Ready => self.ready += secs,
            AgentState::Reserved { .. } => self.reserved += secs,
            AgentState::InCall { .. } => self.in_call += secs,
            AgentState::WrapUp { .. } => self.wrap_up += secs,
            AgentState::Paused { .. } => self.paused += secs,
        }
    }

    /// Time logged in.
    pub fn logged_in(&self) -> f64 {
        self.ready + self.reserved + self.in_call + self.wrap_up + self.paused
    }
}

/// An agent as the engine tracks it.
#[derive(Clone, Debug)]
pub struct Agent {
    pub state: AgentState,
    pub since: Timestamp,
    pub campaigns: Vec<CampaignId>,
    pub times: StateTimes,
    pub leaves_at: Option<Timestamp>,
    /// A pause the agent asked for during a call, taken when the call is done.
    pub pause_after: Option<String>,
    /// When the agent last became ready (for the wait between calls).
    pub ready_since: Option<Timestamp>,
    /// The call the agent's wrap-up is about, until an outcome is set.
    pub last_call: Option<CallId>,
}

impl Agent {
    /// The pause due once the current call is done: one the agent asked for during it, or
    /// the scheduled break if its time has come. Taking it clears the request.
    pub fn take_pause(&mut self, now: Timestamp) -> Option<String> {
        let asked = self.pause_after.take();
        match asked {
            Some(reason) => Some(reason),
            None => self.leaves_at.is_some_and(|at| at <= now).then(|| "break".to_string()),
        }
    }

    pub fn new(now: Timestamp, campaigns: Vec<CampaignId>) -> Agent {
        Agent {
            state: AgentState::Paused { reason: "login".to_string() },
            since: now,
            campaigns,
            times: StateTimes::default(),
            leaves_at: None,
            pause_after: None,
            ready_since: None,
            last_call: None,
        }
    }

    /// Time spent in each state up to `now`, the current state included.
    pub fn times_at(&self, now: Timestamp) -> StateTimes {
        let mut times = self.times.clone();
        times.add(&self.state, now.duration_since(self.since));
        times
    }

    /// Moves to `state` at `now`, adding the time spent in the old one.
    pub fn enter(&mut self, now: Timestamp, state: AgentState) {
        self.times.add(&self.state, now.duration_since(self.since));
        self.since = now;
        self.state = state;
    }
}
