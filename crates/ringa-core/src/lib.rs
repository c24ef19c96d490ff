//! Domain types of the ringa dialer and the one pure check that decides
//! whether a number may be dialed now.
//!
//! Everything here is plain data and pure functions: no clock is read and no
//! I/O is done. The current time is always an argument, so the same code
//! answers for the live floor and for the simulator's virtual day.

pub mod campaign;
pub mod contact;
pub mod dnc;
pub mod eligibility;
pub mod ids;
pub mod outcome;
pub mod phone;
pub mod pii;
pub mod rules;
pub mod window;
pub mod zone;

pub use campaign::{Campaign, CampaignRules, DialMode};
pub use contact::{Contact, ContactNumber, DialHistory};
pub use eligibility::{DialCheck, DialKind, Refusal, may_dial};
pub use ids::{AgentId, AttemptId, CallId, CallbackId, CampaignId, ContactId, DncListId, ListId};
pub use outcome::{CallResult, Outcome, OutcomeCode, OutcomeDef};
pub use phone::{PhoneNumber, Region};
pub use pii::Pii;
pub use rules::{RuleSet, RuleTable};
pub use window::CallingWindows;
pub use window::Weekdays;
pub use zone::ZoneName;
