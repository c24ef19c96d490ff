//! What a pacer sees of the floor, and the events it learns from.

use jiff::{SignedDuration, Timestamp};
use ringa_core::{AgentId, CallId, CallResult};

/// What an agent is doing, for pacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentActivity {
    /// Waiting for a call.
    Ready,
    /// Held for a call already placed (preview, callbacks, one-to-one).
    Reserved,
    /// Talking to a customer.
    InCall,
    /// Finishing the last call.
    WrapUp,
    /// Paused (break, meeting, training).
    Paused,
}

/// One logged-in agent who works the campaign.
#[derive(Clone, Debug)]
pub struct AgentView {
    pub agent: AgentId,
    pub activity: AgentActivity,
    /// When the agent entered the current activity.
    pub since: Timestamp,
    /// The agent will pause (break, end of shift) at this time.
    pub leaves_at: Option<Timestamp>,
    /// The agent also works other campaigns and may be taken by them.
    pub shared: bool,
}

/// One call of the campaign that has not reached an agent yet.
#[derive(Clone, Debug)]
pub struct CallView {
    pub call: CallId,
    pub placed_at: Timestamp,
    /// The call has been answered by a person and waits for an agent.
    pub waiting_for_agent: bool,
    /// The model's probability that this call is answered by a person.
    pub p_human: f64,
    /// The ring timeout of this call.
    pub ring_timeout: SignedDuration,
}

/// The drop budget in the rule set's window.
#[derive(Clone, Copy, Debug, Default)]
pub struct DropBudget {
    /// The target share of drops over live answers (0.03 = 3%).
    pub target: f64,
    /// Live answers (connected or dropped) in the window.
    pub live_answers: u64,
    /// Drops in the window (including estimated detector false positives
    /// where the rule set counts them).
    pub drops: f64,
    /// Calls placed by the campaign in the window.
    pub placed: u64,
}

/// Everything a pacer decides on.
#[derive(Clone, Debug)]
pub struct FloorView<'a> {
    pub now: Timestamp,
    pub agents: &'a [AgentView],
    pub calls: &'a [CallView],
    /// Answer probabilities of the next contacts in the queue, in the order
    /// they would be dialed.
    pub candidates: &'a [f64],
    pub budget: DropBudget,
    /// The most new calls the engine may place now (lines, caps, contacts).
    pub max_new: u32,
}

impl FloorView<'_> {
    /// Agents waiting for a call.
    pub fn ready(&self) -> usize {
        self.agents.iter().filter(|a| a.activity == AgentActivity::Ready).count()
    }

    /// Agents logged in to the campaign, paused ones included.
    pub fn logged_in(&self) -> usize {
        self.agents.len()
    }

    /// Agents talking.
    pub fn in_call(&self) -> usize {
        self.agents.iter().filter(|a| a.activity == AgentActivity::InCall).count()
    }

    /// Calls ringing (placed and not answered yet).
    pub fn ringing(&self) -> usize {
        self.calls.iter().filter(|c| !c.waiting_for_agent).count()
    }

    /// Answered calls waiting for an agent.
    pub fn waiting(&self) -> usize {
        self.calls.iter().filter(|c| c.waiting_for_agent).count()
    }
}

/// Features of a call for the answer-probability model.
#[derive(Clone, Debug, Default)]
pub struct CallFeatures {
    /// 1 for the first attempt on the contact.
    pub attempt: u32,
    pub list: u64,
    /// Days since the list was imported.
    pub list_age_days: u32,
    /// Contact-local hour of day, 0–23.
    pub hour: u8,
    /// 0 = Monday.
    pub weekday: u8,
    /// Leading digits of the number (country code and area).
    pub region: String,
    /// Index of the caller ID in the campaign's pool.
    pub caller_id: Option<u32>,
    /// Past results on this contact, oldest first.
    pub past: Vec<CallResult>,
}

/// Something that happened that a pacer may learn from.
#[derive(Clone, Debug)]
pub enum PacerEvent {
    /// A call was placed.
    Placed { call: CallId, features: CallFeatures, p_human: f64 },
    /// A call ended without a person: no answer, busy, machine, ...
    Unanswered { call: CallId, result: CallResult, after: SignedDuration },
    /// The far end picked up after `after` of ringing; whether a person or
    /// a machine is still being judged (answering-machine detection). Not
    /// sent when the verdict comes with the pickup.
    PickedUp { call: CallId, after: SignedDuration },
    /// A person answered after `after` of ringing.
    Answered { call: CallId, after: SignedDuration },
    /// The answered call reached an agent after waiting `waited`.
    Connected { call: CallId, agent: AgentId, waited: SignedDuration },
    /// The answered call was dropped: no agent in time.
    Dropped { call: CallId },
    /// An agent finished talking after `talk`.
    TalkEnded { agent: AgentId, talk: SignedDuration },
    /// An agent finished wrap-up after `wrap`.
    WrapEnded { agent: AgentId, wrap: SignedDuration },
}
