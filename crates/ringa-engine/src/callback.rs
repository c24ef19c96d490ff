//! Callbacks: calls due at a set time, for any agent of the campaign
//! (global) or for the agent who set them (personal).

use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use ringa_core::{AgentId, CallbackId, CampaignId, ContactId, ZoneName};
use serde::{Deserialize, Serialize};

/// What an agent asks for when booking a callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallbackRequest {
    /// The wall-clock time agreed with the customer, in `zone`.
    pub local: DateTime,
    /// The zone the time was agreed in (the contact's, normally).
    pub zone: ZoneName,
    /// "Around" the time: the dialer picks a moment within ± this window.
    #[serde(default, with = "ringa_core::outcome::opt_duration")]
    pub around: Option<SignedDuration>,
    /// For the booking agent only.
    #[serde(default)]
    pub personal: bool,
}

/// Why a callback exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKind {
    /// Agreed with the customer.
    Agreed,
    /// The one-to-one redial of a dropped call.
    DropRedial,
}

/// Where a callback stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    Pending,
    /// Being dialed now.
    Dialing,
    Done,
    Cancelled,
    /// Could not be completed in its window; waiting for a supervisor.
    Escalated,
}

/// A scheduled callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Callback {
    pub id: CallbackId,
    pub campaign: CampaignId,
    pub contact: ContactId,
    pub kind: CallbackKind,
    /// The instant it is due (already moved inside an "around" window).
    pub due: Timestamp,
    /// The wall-clock time agreed, and its zone: `due` is derived from them
    /// so that daylight-saving changes keep the agreed local time.
    pub local: DateTime,
    pub zone: ZoneName,
    /// The agent it belongs to (personal callbacks).
    pub owner: Option<AgentId>,
    pub state: CallbackState,
    /// Failed tries (congestion, no answer) so far.
    pub tries: u32,
    pub created_at: Timestamp,
}

impl Callback {
    /// Whether the callback is waiting to be dialed.
    pub fn is_open(&self) -> bool {
        matches!(self.state, CallbackState::Pending | CallbackState::Dialing)
    }
}
