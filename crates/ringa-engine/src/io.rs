//! The engine's inputs and commands: everything that crosses its boundary.
//!
//! Both are plain serde data so that the same values travel over the
//! JSON-lines protocol (`ringa engine --stdio`), between the engine and the
//! simulator, and between the engine and the live telephony and web layers.

use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::Campaign;
use ringa_core::contact::{Closure, Contact, DialHistory};
use ringa_core::{
    AgentId, AttemptId, CallId, CallResult, CallbackId, CampaignId, ContactId, DncListId,
    OutcomeCode, PhoneNumber,
};
use serde::{Deserialize, Serialize};

use crate::agent::AgentState;
use crate::callback::{Callback, CallbackRequest};

/// A contact handed to the engine together with its dialing history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactEntry {
    pub contact: Contact,
    #[serde(default)]
    pub history: DialHistory,
}

impl ContactEntry {
    /// A contact never dialed before.
    pub fn fresh(contact: Contact) -> ContactEntry {
        ContactEntry { contact, history: DialHistory::default() }
    }
}

/// Who or what answered a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person (or no detection was run and nothing says otherwise).
    Human,
    /// An answering machine, as detection judged it.
    Machine,
    /// Detection could not tell.
    Unsure,
}

/// Telephony news about one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    /// The far end is ringing (180/183).
    Ringing,
    /// The far end picked up (200 OK) and detection is listening; the
    /// verdict follows as [`CallEvent::Answered`]. Optional: a driver that
    /// runs detection sends it so that the engine learns when a number's
    /// voicemail picks up (answering-machine method 3) without the
    /// detector's listening time; without it the answer's time is used.
    PickedUp,
    /// The call was answered (200 OK), after detection where it runs.
    Answered { by: AnsweredBy },
    /// The call ended before an answer, or failed.
    Failed {
        result: CallResult,
        #[serde(default)]
        sip_code: Option<u16>,
    },
    /// The answered call ended (either side hung up).
    HungUp {
        #[serde(default)]
        by_customer: bool,
    },
}

/// Everything the engine can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// Creates or updates a campaign.
    Campaign {
        campaign: Box<Campaign>,
    },
    /// Starts or stops dialing of a campaign.
    CampaignActive {
        campaign: CampaignId,
        active: bool,
    },
    /// Contacts for a campaign, in dialing order, in answer to
    /// [`Command::FetchContacts`]. `exhausted` says the source has no more.
    Contacts {
        campaign: CampaignId,
        contacts: Vec<ContactEntry>,
        #[serde(default)]
        exhausted: bool,
    },
    /// A lead arrived through intake: dialed first.
    Lead {
        campaign: CampaignId,
        entry: Box<ContactEntry>,
    },
    /// A number was added to a do-not-call list.
    Dnc {
        number: PhoneNumber,
        list: DncListId,
    },
    /// Every number starting with `prefix` (digits after `+`, country code
    /// first) was added to a do-not-call list, as national registers list
    /// whole ranges.
    DncPrefix {
        prefix: String,
        list: DncListId,
    },

    /// A contact was deactivated or erased.
    ContactInactive {
        contact: ContactId,
    },
    /// A callback known from storage (at start-up).
    Callback {
        callback: Box<Callback>,
    },
    /// Moves a pending callback to another time (the same callback: a
    /// contact never ends up with two).
    CallbackChange {
        callback: CallbackId,
        request: CallbackRequest,
    },
    /// Cancels a pending callback.
    CallbackCancel {
        callback: CallbackId,
        reason: String,
    },
    AgentLogin {
        agent: AgentId,
        campaigns: Vec<CampaignId>,
    },
    AgentReady {
        agent: AgentId,
    },
    AgentPause {
        agent: AgentId,
        reason: String,
    },
    AgentLogout {
        agent: AgentId,
    },
    /// Moves an agent to other campaigns.
    AgentCampaigns {
        agent: AgentId,
        campaigns: Vec<CampaignId>,
    },
    /// The agent will pause or leave at `at` (a scheduled break).
    AgentLeavesAt {
        agent: AgentId,
        at: Option<Timestamp>,
    },
    /// Preview: the agent clicked the number at `number` on the card.
    AgentDial {
        agent: AgentId,
        number: usize,
    },
    /// Preview: the agent closed the card without dialing.
    AgentSkip {
        agent: AgentId,
    },
    /// The agent hung up the current call.
    AgentHangup {
        agent: AgentId,
    },
    /// The agent's outcome for the current or last call.
    AgentOutcome {
        agent: AgentId,
        outcome: OutcomeCode,
        #[serde(default)]
        callback: Option<CallbackRequest>,
        #[serde(default)]
        note: Option<String>,
    },
    /// A supervisor releases an agent whose call is stuck.
    ForceRelease {
        agent: AgentId,
    },
    /// Telephony news.
    Call {
        call: CallId,
        event: CallEvent,
    },
    /// A customer called one of the campaign's caller IDs back and the telephony answered.
    /// `call` is the telephony's id for it, apart from the ids of the engine's own calls.
    /// `caller` is the customer's number when the network gave one; `contact` the contact of
    /// the campaign the driver found by that number in its storage, with its history (the
    /// engine holds it from now on, as if fetched, unless it holds it already; without one
    /// the engine looks for the number among the contacts it holds). Answered with
    /// [`Command::Connect`] to a free agent of the campaign, or with
    /// [`Command::InboundMessage`] when none is free; the call's end comes as
    /// [`CallEvent::HungUp`] like an outbound call's.
    InboundCall {
        call: CallId,
        campaign: CampaignId,
        #[serde(default)]
        caller: Option<PhoneNumber>,
        #[serde(default)]
        contact: Option<Box<ContactEntry>>,
    },
    /// Time passed; nothing else happened.
    Tick,
}

/// Why the engine ended an answered call without an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// No agent became free in time.
    NoAgent,
    /// An answering machine, and the campaign hangs up on machines.
    Machine,
}

/// One attempt as it is journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: AttemptId,
    pub call: CallId,
    pub campaign: CampaignId,
    pub contact: ContactId,
    pub number: PhoneNumber,
    pub caller_id: Option<PhoneNumber>,
    /// 1 for the first attempt on the contact.
    pub attempt_no: u32,
    pub kind: AttemptKind,
    pub placed_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub connected_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub agent: Option<AgentId>,
    pub result: Option<CallResult>,
    pub sip_code: Option<u16>,
    pub outcome: Option<OutcomeCode>,
    pub note: Option<String>,
    /// Whether answering-machine detection ran on this attempt.
    pub amd: bool,
    /// The detector's verdict and the settings it ran with. The engine only hears who
    /// answered ([`AnsweredBy`]); the telephony driver fills this in on the records it
    /// hands to its owner, so that the journal stores it with the attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amd_report: Option<AmdReport>,
}

/// What answering-machine detection made of one attempt, as the journal stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmdReport {
    /// The detector's class (`HUMAN`, `MACHINE`, `NOTSURE`); `None` when the call ended
    /// before a verdict.
    pub class: Option<String>,
    /// Why the detector decided (its reason's name).
    pub reason: Option<String>,
    /// When it decided, in milliseconds after the answer.
    pub at_ms: Option<u32>,
    /// The detector settings in force, as JSON text (`ringa_amd::AmdConfig`: the engine
    /// does not depend on the detector crate).
    pub settings: String,
}

/// Why an attempt was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    List,
    Lead,
    Callback,
    DropRedial,
    Preview,
    /// The customer called the campaign back and reached an agent: not a dial.
    Inbound,
}

/// Everything the engine asks its driver to do or to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Send up to `want` more contacts of the campaign (answer with
    /// [`Input::Contacts`]).
    FetchContacts { campaign: CampaignId, want: u32 },
    /// Place a call.
    Originate {
        call: CallId,
        attempt: AttemptId,
        campaign: CampaignId,
        contact: ContactId,
        number: PhoneNumber,
        caller_id: Option<PhoneNumber>,
        #[serde(with = "ringa_core::outcome::duration_secs")]
        ring_timeout: SignedDuration,
        /// Run answering-machine detection before reporting the answer.
        amd: bool,
        /// The agent reserved for this call, if any.
        agent: Option<AgentId>,
    },
    /// Stop a call that has not been answered.
    Cancel { call: CallId },
    /// Bridge an answered call to an agent (an outbound call, or an inbound call the
    /// engine gave that agent).
    Connect { call: CallId, agent: AgentId },
    /// No agent of the campaign is free for the inbound `call`: play the callback message
    /// (who called and why), then hang up. The engine no longer tracks the call.
    InboundMessage { call: CallId, campaign: CampaignId },
    /// End an answered call that no agent will take, with the rule set's
    /// message if `message`.
    Drop { call: CallId, reason: DropReason, message: bool },
    /// End a connected call (the agent hung up).
    Hangup { call: CallId },
    /// Show a contact's card on an agent's desktop.
    ShowCard {
        agent: AgentId,
        campaign: CampaignId,
        contact: ContactId,
        call: Option<CallId>,
        /// Preview: the agent chooses when and which number to dial.
        preview: bool,
    },
    /// Clear the agent's card.
    ClearCard { agent: AgentId },
    /// An agent changed state.
    AgentState { agent: AgentId, state: AgentState, at: Timestamp },
    /// Journal: an attempt was placed.
    AttemptStarted { record: Box<AttemptRecord> },
    /// Journal: an attempt ended (and, later, got its outcome).
    AttemptEnded { record: Box<AttemptRecord> },
    /// Journal: the contact's dialing history changed.
    History { contact: ContactId, history: Box<DialHistory> },
    /// Journal: a callback was scheduled or changed.
    CallbackScheduled { callback: Box<Callback> },
    /// Journal: a callback was cancelled.
    CallbackCancelled { callback: CallbackId, reason: String },
    /// A callback could not be completed in its window: a supervisor must
    /// look at it.
    CallbackEscalated { callback: CallbackId, reason: String },
    /// Journal: a number goes on a do-not-call list.
    DncAdd { number: PhoneNumber, list: DncListId },
    /// The engine no longer holds the contact in memory: hand it back (with
    /// the history last journaled) in a later [`Input::Contacts`] once `due`
    /// has come. `due` is `None` when the contact is closed.
    ContactReleased { campaign: CampaignId, contact: ContactId, due: Option<Timestamp> },
    /// Journal: a contact will not be dialed again.
    ContactClosed { contact: ContactId, reason: Closure },
    /// A dial was refused by the eligibility check (logged and counted).
    Refused { campaign: CampaignId, contact: ContactId, code: String, reason: String },
    /// An agent's request could not be done (wrong state, outcome that does
    /// not fit the call): shown to the agent.
    Rejected { agent: AgentId, reason: String },
}
