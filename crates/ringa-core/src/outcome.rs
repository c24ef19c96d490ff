//! How attempts end: what the telephony saw ([`CallResult`]), and the
//! outcomes a campaign configures for its agents ([`OutcomeDef`]).
//!
//! The dialer sets telephony results itself. An agent's outcome is checked
//! against what the telephony saw, so that nobody records "not interested"
//! on a call that was never answered, or "busy" on a call where a person
//! spoke.

use std::fmt;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

/// What the telephony saw of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// Rang until the ring timeout (or 480/408).
    NoAnswer,
    /// 486 or 600.
    Busy,
    /// 404, 484, 410, 604: the number does not exist.
    Invalid,
    /// 503/500, or the trunk had no capacity: the customer was never reached.
    Congestion,
    /// 603: the customer rejected the call.
    Declined,
    /// Any other failure before an answer.
    Failed,
    /// An answering machine answered (detected, or reported by the agent).
    Machine,
    /// The call was ended just before the number's voicemail would answer.
    AvoidedVoicemail,
    /// A person answered and no agent was free in time.
    Dropped,
    /// A person answered and was connected to an agent.
    Connected,
    /// The agent ended a preview or progressive call before it was answered.
    AgentCancelled,
    /// The dialer stopped (crash, restart) while the call was in flight.
    Interrupted,
    /// Refused immediately before the dial (do-not-call added meanwhile,
    /// window closed): no call was placed.
    Suppressed,
}

impl CallResult {
    /// A person answered (connected or dropped).
    pub fn person_answered(self) -> bool {
        matches!(self, CallResult::Connected | CallResult::Dropped)
    }

    /// Someone or something answered.
    pub fn answered(self) -> bool {
        self.person_answered() || self == CallResult::Machine
    }

    /// A call really went out towards the customer (counts against the
    /// attempt budget, with congestion as a campaign choice).
    pub fn reached_network(self) -> bool {
        !matches!(self, CallResult::Suppressed | CallResult::Congestion)
    }

    /// The name used in reports and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::NoAnswer => "no_answer",
            CallResult::Busy => "busy",
            CallResult::Invalid => "invalid",
            CallResult::Congestion => "congestion",
            CallResult::Declined => "declined",
            CallResult::Failed => "failed",
            CallResult::Machine => "machine",
            CallResult::AvoidedVoicemail => "avoided_voicemail",
            CallResult::Dropped => "dropped",
            CallResult::Connected => "connected",
            CallResult::AgentCancelled => "agent_cancelled",
            CallResult::Interrupted => "interrupted",
            CallResult::Suppressed => "suppressed",
        }
    }

    /// The result a SIP final response code stands for.
    pub fn from_sip(code: u16) -> CallResult {
        match code {
            486 | 600 => CallResult::Busy,
            404 | 484 | 410 | 604 => CallResult::Invalid,
            480 | 408 | 487 => CallResult::NoAnswer,
            500 | 503 => CallResult::Congestion,
            603 => CallResult::Declined,
            _ => CallResult::Failed,
        }
    }
}

impl fmt::Display for CallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CallResult {
    /// Every result, in declaration order.
    pub const ALL: [CallResult; 13] = [
        CallResult::NoAnswer,
        CallResult::Busy,
        CallResult::Invalid,
        CallResult::Congestion,
        CallResult::Declined,
        CallResult::Failed,
        CallResult::Machine,
        CallResult::AvoidedVoicemail,
        CallResult::Dropped,
        CallResult::Connected,
        CallResult::AgentCancelled,
        CallResult::Interrupted,
        CallResult::Suppressed,
    ];
}

/// A name that is not one of [`CallResult::as_str`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCallResult(pub String);

impl fmt::Display for UnknownCallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a call result", self.0)
    }
}

impl std::error::Error for UnknownCallResult {}

impl std::str::FromStr for CallResult {
    type Err = UnknownCallResult;

    /// Reads the name [`CallResult::as_str`] writes (as stored in the
    /// database and in exports).
    fn from_str(name: &str) -> Result<CallResult, UnknownCallResult> {
        CallResult::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| UnknownCallResult(name.to_string()))
    }
}

/// The short code of an outcome configured for a campaign (`sale`,
/// `not_interested`, `callback`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutcomeCode(pub String);

impl OutcomeCode {
    pub fn new(code: &str) -> OutcomeCode {
        OutcomeCode(code.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutcomeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OutcomeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What must have happened on the call for an agent to pick an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requires {
    /// A person was connected (the usual case: sale, not interested).
    #[default]
    Person,
    /// Something answered: a person, or a machine that reached the agent.
    Answer,
    /// Nobody answered: for preview and progressive calls the agent ends
    /// ("no answer", "busy" heard as tone).
    NoPerson,
}

/// One outcome an agent may set, configured per campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeDef {
    pub code: OutcomeCode,
    pub label: String,
    #[serde(default)]
    pub requires: Requires,
    /// Counts as a completed conversation (the hit rate's denominator).
    #[serde(default)]
    pub conversation: bool,
    /// Counts as an accepted outcome: a sale, a booking.
    #[serde(default)]
    pub sale: bool,
    /// The agent schedules a callback with it.
    #[serde(default)]
    pub callback: bool,
    /// Closes the contact: it is not dialed again.
    #[serde(default, rename = "final")]
    pub is_final: bool,
    /// Dial the contact again after this delay (within the attempt budget).
    #[serde(default, with = "opt_duration")]
    pub retry_after: Option<SignedDuration>,
    /// Puts the number on the campaign's do-not-call target list.
    #[serde(default)]
    pub dnc: bool,
    /// Keyboard shortcut on the desktop.
    #[serde(default)]
    pub key: Option<char>,
}

/// An outcome that does not fit what the telephony saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeMismatch {
    pub code: OutcomeCode,
    pub seen: CallResult,
    pub requires: Requires,
}

impl fmt::Display for OutcomeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let need = match self.requires {
            Requires::Person => "a person to have been connected",
            Requires::Answer => "the call to have been answered",
            Requires::NoPerson => "that no person was connected",
        };
        write!(f, "outcome {} needs {need}, but the call ended as {}", self.code, self.seen)
    }
}

impl std::error::Error for OutcomeMismatch {}

impl OutcomeDef {
    /// Checks the outcome against what the telephony saw.
    pub fn check_against(&self, seen: CallResult) -> Result<(), OutcomeMismatch> {
        let fits = match self.requires {
            Requires::Person => seen == CallResult::Connected,
            Requires::Answer => seen == CallResult::Connected || seen == CallResult::Machine,
            Requires::NoPerson => !seen.person_answered(),
        };
        if fits {
            Ok(())
        } else {
            Err(OutcomeMismatch { code: self.code.clone(), seen, requires: self.requires })
        }
    }

    /// The outcomes a new campaign starts with.
    pub fn defaults() -> Vec<OutcomeDef> {
        let def = |code: &str, label: &str, key: char| OutcomeDef {
            code: OutcomeCode::new(code),
            label: label.to_string(),
            requires: Requires::Person,
            conversation: true,
            sale: false,
            callback: false,
            is_final: true,
            retry_after: None,
            dnc: false,
            key: Some(key),
        };
        vec![
            OutcomeDef { sale: true, ..def("sale", "Sale", 's') },
            def("not_interested", "Not interested", 'n'),
            OutcomeDef { callback: true, is_final: false, ..def("callback", "Callback", 'c') },
            OutcomeDef { conversation: false, ..def("wrong_person", "Wrong person", 'w') },
            OutcomeDef { dnc: true, ..def("do_not_call", "Do not call", 'd') },
            OutcomeDef {
                requires: Requires::Answer,
                conversation: false,
                is_final: false,
                retry_after: Some(SignedDuration::from_hours(4)),
                ..def("answering_machine", "Answering machine", 'm')
            },
            OutcomeDef {
                requires: Requires::NoPerson,
                conversation: false,
                is_final: false,
                retry_after: Some(SignedDuration::from_hours(2)),
                ..def("no_answer", "No answer", 'a')
            },
        ]
    }
}

/// An attempt's final disposition: the telephony result, and the agent's
/// outcome when an agent set one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: CallResult,
    pub agent_outcome: Option<OutcomeCode>,
}

/// Serde for `Option<SignedDuration>` as whole seconds.
pub mod opt_duration {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<SignedDuration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SignedDuration>, D::Error> {
        Option::<i64>::deserialize(d)?.map(super::duration_secs::in_range).transpose()
    }
}

/// Serde for `SignedDuration` as whole seconds.
pub mod duration_secs {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.as_secs())
    }

    /// The longest configured duration read: a century. Longer ones mean
    /// a typo or hostile input, and adding them to a time would overflow.
    pub const MAX_SECS: i64 = 100 * 366 * 24 * 3600;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        in_range(i64::deserialize(d)?)
    }

    /// Seconds as a duration when within `0..=MAX_SECS`, else a serde error saying so.
    pub(crate) fn in_range<E: serde::de::Error>(secs: i64) -> Result<SignedDuration, E> {
        if !(0..=MAX_SECS).contains(&secs) {
            return Err(E::custom(format!(
                "a duration of {secs} seconds is out of range (0 to {MAX_SECS}, a century)"
            )));
        }
        Ok(SignedDuration::from_secs(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_reads_back_from_its_name() {
        for result in CallResult::ALL {
            assert_eq!(result.as_str().parse::<CallResult>(), Ok(result));
            let json = serde_json::to_string(&result).expect("serializes");
            assert_eq!(json, format!("\"{}\"", result.as_str()), "serde and as_str agree");
        }
        assert!("ringing".parse::<CallResult>().is_err());
    }

    #[test]
    fn outcomes_must_fit_the_telephony() {
        let outcomes = OutcomeDef::defaults();
        let find = |code: &str| outcomes.iter().find(|o| o.code.as_str() == code).unwrap();
        assert!(find("not_interested").check_against(CallResult::NoAnswer).is_err());
        assert!(find("not_interested").check_against(CallResult::Connected).is_ok());
        assert!(find("no_answer").check_against(CallResult::Connected).is_err());
        assert!(find("no_answer").check_against(CallResult::Busy).is_ok());
        assert!(find("answering_machine").check_against(CallResult::Machine).is_ok());
        let err = find("sale").check_against(CallResult::Busy).unwrap_err();
        assert!(err.to_string().contains("needs a person"), "{err}");
    }

    #[test]
    fn sip_codes_map_to_results() {
        assert_eq!(CallResult::from_sip(486), CallResult::Busy);
        assert_eq!(CallResult::from_sip(404), CallResult::Invalid);
        assert_eq!(CallResult::from_sip(484), CallResult::Invalid);
        assert_eq!(CallResult::from_sip(480), CallResult::NoAnswer);
        assert_eq!(CallResult::from_sip(503), CallResult::Congestion);
        assert_eq!(CallResult::from_sip(603), CallResult::Declined);
        assert_eq!(CallResult::from_sip(418), CallResult::Failed);
    }
}
