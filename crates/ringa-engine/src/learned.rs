//! What a campaign has learned online, as one document its owner can keep
//! and give back: the pacer's models and the answering-machine methods'
//! voicemail models (methods 2 and 3). The engine never stores it; the
//! driver takes it with [`crate::Engine::learned_state`] and gives it back
//! after the campaign with [`crate::Engine::restore_learned_state`], which
//! refuses a document that does not fit and then changes nothing.

use std::fmt;

use ringa_amd::history::VoicemailHistory;
use ringa_amd::ringtime::RingTimeModel;
use ringa_core::{CampaignId, ContactId, PhoneNumber};
use ringa_pacer::{PacerState, StateError};
use serde::{Deserialize, Serialize};

/// The version of [`LearnedState`] this engine writes and reads. A document
/// of a later version is refused rather than half read.
pub const LEARNED_STATE_VERSION: u32 = 1;

/// One campaign's learned state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LearnedState {
    /// [`LEARNED_STATE_VERSION`] when written.
    pub version: u32,
    /// The pacer's learned models, with the pacer's name; `None` when the
    /// campaign's pacer learns nothing (progressive, fixed ratio).
    pub pacer: Option<LearnedPacer>,
    /// The voicemail models of answering-machine methods 2 and 3.
    pub voicemail: VoicemailState,
}

/// A pacer's learned models and the pacer they belong to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LearnedPacer {
    /// The pacer's name as `ringa_pacer::by_name` takes it.
    pub name: String,
    pub state: PacerState,
}

/// The voicemail models of one campaign.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VoicemailState {
    /// Each contact's voicemail history (method 2), by contact id.
    pub contacts: Vec<ContactVoicemailState>,
    /// Each number's ring time before voicemail (method 3), by number.
    pub numbers: Vec<NumberRingState>,
    /// Answers of the campaign by voicemail and by a person: the prior of
    /// every contact's estimate.
    pub voicemail_answers: f64,
    pub person_answers: f64,
}

/// One contact's voicemail history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactVoicemailState {
    pub contact: ContactId,
    pub history: VoicemailHistory,
    /// Deferrals in a row so far (a contact is dialed after two).
    #[serde(default)]
    pub deferred: u32,
}

/// One number's voicemail pickups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NumberRingState {
    pub number: PhoneNumber,
    pub ring_time: RingTimeModel,
}

/// Only the version, read before the rest so that a later version's
/// document is reported as such and not as corrupt.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl LearnedState {
    /// Reads a stored document: refused when it is not JSON of this shape
    /// or of a later version.
    pub fn from_json(text: &str) -> Result<LearnedState, LearnedStateError> {
        let head: VersionOnly = serde_json::from_str(text)
            .map_err(|err| LearnedStateError::Corrupt(format!("no version: {err}")))?;
        if head.version != LEARNED_STATE_VERSION {
            return Err(LearnedStateError::Version {
                found: head.version,
                supported: LEARNED_STATE_VERSION,
            });
        }
        serde_json::from_str(text).map_err(|err| LearnedStateError::Corrupt(err.to_string()))
    }

    /// The document to store.
    pub fn to_json(&self) -> Result<String, LearnedStateError> {
        serde_json::to_string(self).map_err(|err| LearnedStateError::Corrupt(err.to_string()))
    }

    /// Whether there is anything in it: a campaign that has not learned
    /// yet gives a state whose pacer has seen no outcome and no time, and
    /// with no voicemail evidence.
    pub fn is_empty(&self) -> bool {
        let v = &self.voicemail;
        let pacer_learned = self.pacer.as_ref().is_some_and(|p| {
            let s = &p.state;
            s.answer.seen() > 0
                || [&s.live_delay, &s.other_delay, &s.talk, &s.wrap].iter().any(|d| d.count() > 0.0)
        });
        !pacer_learned
            && v.contacts.is_empty()
            && v.numbers.is_empty()
            && v.voicemail_answers == 0.0
            && v.person_answers == 0.0
    }
}

/// A learned state that was refused; the campaign keeps what it had.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum LearnedStateError {
    /// The engine has no such campaign (restore after `Input::Campaign`).
    UnknownCampaign(CampaignId),
    /// The document is not a learned state.
    Corrupt(String),
    /// The document was written by another version of the engine.
    Version { found: u32, supported: u32 },
    /// The document's pacer models belong to another pacer than the one
    /// the campaign runs.
    OtherPacer { saved: String, running: String },
    /// The pacer refused its models.
    Pacer(StateError),
    /// The voicemail models hold a count that is negative or not a number.
    Voicemail(String),
}

impl fmt::Display for LearnedStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LearnedStateError::UnknownCampaign(id) => {
                write!(f, "the engine has no {id} to give the learned state to")
            }
            LearnedStateError::Corrupt(why) => write!(f, "the learned state is corrupt: {why}"),
            LearnedStateError::Version { found, supported } => write!(
                f,
                "the learned state is version {found}; this version of ringa reads {supported}"
            ),
            LearnedStateError::OtherPacer { saved, running } => write!(
                f,
                "the learned state is of pacer {saved} and the campaign runs pacer {running}"
            ),
            LearnedStateError::Pacer(err) => err.fmt(f),
            LearnedStateError::Voicemail(why) => {
                write!(f, "the learned voicemail models do not fit: {why}")
            }
        }
    }
}

impl std::error::Error for LearnedStateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LearnedStateError::Pacer(err) => Some(err),
            _ => None,
        }
    }
}
