//! The one pure function that answers "may this number be dialed now?",
//! and says why not when it may not.
//!
//! The engine calls [`may_dial`] immediately before every dial, with the
//! live do-not-call data, and refuses the dial when it answers no. The same
//! function counts contacts by what keeps them from being dialed on the
//! diagnostics page.

use std::fmt;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::campaign::CampaignRules;
use crate::contact::{Closure, Contact, DialHistory};
use crate::dnc::{DncHit, DncLookup};
use crate::phone::PhoneNumber;
use crate::rules::AfterDrop;
use crate::window::{CallingWindows, Closed, WindowSpan};
use crate::zone::{ContactZone, resolve_zone};

/// What kind of dial is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialKind {
    /// A list contact or a lead: every rule applies.
    Regular,
    /// A callback the customer agreed to: its due time replaces the retry
    /// delay and it has its own attempt budget.
    Callback,
    /// The one-to-one redial of a dropped call.
    DropRedial,
}

/// Everything the check looks at.
#[derive(Clone, Copy)]
pub struct DialCheck<'a> {
    pub now: Timestamp,
    pub rules: &'a CampaignRules,
    pub contact: &'a Contact,
    pub number: &'a PhoneNumber,
    pub history: &'a DialHistory,
    pub dnc: &'a dyn DncLookup,
    pub kind: DialKind,
    /// An agent is reserved for this call (one-to-one dialing).
    pub agent_reserved: bool,
}

/// A rule of the campaign's rule set that forbids the dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleViolation {
    /// The rule set requires a wash against its national register.
    RegisterNotWashed(&'static str),
    /// Outside the rule set's own calling hours.
    CallingHours,
    /// A dropped call may only be redialed one-to-one.
    DropRedialNeedsAgent,
}

/// Why a number may not be dialed now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// On a do-not-call list that applies to the campaign.
    DoNotCall(DncHit),
    /// The contact is inactive or was erased.
    Inactive,
    /// The number is not one of the contact's.
    UnknownNumber,
    /// The contact was closed by a final outcome or invalid numbers.
    Closed(Closure),
    /// The attempt budget is spent.
    AttemptLimit { made: u32, max: u32 },
    /// The retry delay after the last attempt is not over.
    RetryPending { until: Timestamp },
    /// Outside the campaign's calling window in the contact's zone.
    OutsideWindow { next_open: Option<Timestamp> },
    /// A holiday in the contact's zone.
    Holiday { date: Date },
    /// Within the lockout after a dropped call.
    DropLockout { until: Timestamp },
    /// Within the lockout after an answering machine (without a reserved
    /// agent).
    MachineLockout { until: Timestamp },
    /// The number was called as often today as the cap allows.
    DailyCap { cap: u32 },
    /// A rule of the rule set forbids it.
    RuleSet(RuleViolation),
}

impl Refusal {
    /// A short stable name for counting refusals by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::DoNotCall(_) => "do_not_call",
            Refusal::Inactive => "inactive",
            Refusal::UnknownNumber => "unknown_number",
            Refusal::Closed(_) => "closed",
            Refusal::AttemptLimit { .. } => "attempt_limit",
            Refusal::RetryPending { .. } => "retry_pending",
            Refusal::OutsideWindow { .. } => "outside_window",
            Refusal::Holiday { .. } => "holiday",
            Refusal::DropLockout { .. } => "drop_lockout",
            Refusal::MachineLockout { .. } => "machine_lockout",
            Refusal::DailyCap { .. } => "daily_cap",
            Refusal::RuleSet(RuleViolation::RegisterNotWashed(_)) => "register_not_washed",
            Refusal::RuleSet(RuleViolation::CallingHours) => "rule_set_hours",
            Refusal::RuleSet(RuleViolation::DropRedialNeedsAgent) => "drop_redial_needs_agent",
        }
    }

    /// The earliest time the same check could pass, when the refusal is
    /// only a matter of time.
    pub fn retry_at(&self) -> Option<Timestamp> {
        match self {
            Refusal::RetryPending { until }
            | Refusal::DropLockout { until }
            | Refusal::MachineLockout { until } => Some(*until),
            Refusal::OutsideWindow { next_open } => *next_open,
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::DoNotCall(hit) => write!(f, "on do-not-call list {}", hit.list),
            Refusal::Inactive => f.write_str("contact is inactive"),
            Refusal::UnknownNumber => f.write_str("number is not one of the contact's"),
            Refusal::Closed(reason) => write!(f, "contact is closed ({reason:?})"),
            Refusal::AttemptLimit { made, max } => {
                write!(f, "attempt limit reached ({made} of {max})")
            }
            Refusal::RetryPending { until } => write!(f, "retry delay runs until {until}"),
            Refusal::OutsideWindow { next_open: Some(at) } => {
                write!(f, "outside the calling window (opens {at})")
            }
            Refusal::OutsideWindow { next_open: None } => {
                f.write_str("outside the calling window (no opening within two weeks)")
            }
            Refusal::Holiday { date } => write!(f, "holiday {date} in the contact's zone"),
            Refusal::DropLockout { until } => {
                write!(f, "locked after a dropped call until {until}")
            }
            Refusal::MachineLockout { until } => {
                write!(f, "locked after an answering machine until {until}")
            }
            Refusal::DailyCap { cap } => write!(f, "called {cap} time(s) today already"),
            Refusal::RuleSet(RuleViolation::RegisterNotWashed(name)) => {
                write!(f, "the rule set requires washing against {name} first")
            }
            Refusal::RuleSet(RuleViolation::CallingHours) => {
                f.write_str("outside the rule set's legal calling hours")
            }
            Refusal::RuleSet(RuleViolation::DropRedialNeedsAgent) => {
                f.write_str("a dropped call is redialed only with an agent reserved")
            }
        }
    }
}

/// Answers whether `check.number` of `check.contact` may be dialed at
/// `check.now`, or the first reason it may not.
pub fn may_dial(check: &DialCheck<'_>) -> Result<(), Refusal> {
    let DialCheck { now, rules, contact, number, history, dnc, kind, agent_reserved } = *check;
    let table = rules.rule_set.table();

    if !contact.active {
        return Err(Refusal::Inactive);
    }
    if !contact.numbers.iter().any(|n| &n.number == number) {
        return Err(Refusal::UnknownNumber);
    }
    if let Some(hit) = dnc.lookup(number, &rules.dnc_lists) {
        return Err(Refusal::DoNotCall(hit));
    }
    match history.closed {
        Some(Closure::MaxAttempts) => {
            return Err(Refusal::AttemptLimit { made: history.attempts, max: rules.max_attempts });
        }
        Some(reason) => return Err(Refusal::Closed(reason)),
        None => {}
    }
    if let Some(register) = table.register_required
        && rules.register_washed.is_none()
    {
        return Err(Refusal::RuleSet(RuleViolation::RegisterNotWashed(register)));
    }

    let (made, max) = match kind {
        DialKind::Callback => (history.callback_attempts, rules.max_callback_attempts),
        DialKind::Regular | DialKind::DropRedial => (history.attempts, rules.max_attempts),
    };
    if made >= max {
        return Err(Refusal::AttemptLimit { made, max });
    }

    if let Some(last_drop) = history.last_drop {
        let pending_redial = history.last_result == Some(crate::CallResult::Dropped);
        match table.after_drop {
            AfterDrop::OneToOneCallback { after } => {
                let until = last_drop + after;
                if now < until {
                    return Err(Refusal::DropLockout { until });
                }
                if pending_redial && !agent_reserved {
                    return Err(Refusal::RuleSet(RuleViolation::DropRedialNeedsAgent));
                }
            }
            AfterDrop::LockoutUnlessReserved { lockout } => {
                let until = last_drop + lockout;
                if now < until && !agent_reserved {
                    return Err(Refusal::DropLockout { until });
                }
            }
            AfterDrop::Nothing => {}
        }
    }
    if let (Some(lockout), Some(last_machine)) = (table.machine_lockout, history.last_machine) {
        let until = last_machine + lockout;
        if now < until && !agent_reserved {
            return Err(Refusal::MachineLockout { until });
        }
    }
    if kind == DialKind::Regular
        && let Some(until) = history.retry_at.filter(|&until| now < until)
    {
        return Err(Refusal::RetryPending { until });
    }

    let zones = match resolve_zone(contact.zone.as_ref(), number, &rules.unknown_zone) {
        ContactZone::One(zone) => vec![zone],
        ContactZone::AllOf(zones) => zones,
    };
    let legal_hours = table.calling_hours.map(|(start, end)| CallingWindows {
        spans: vec![WindowSpan { days: crate::window::Weekdays::ALL, start, end }],
        holidays: Vec::new(),
    });
    let mut local_dates = Vec::with_capacity(zones.len());
    for zone in &zones {
        let tz = zone.tz();
        if let Some(legal) = &legal_hours
            && legal.check(now, &tz).is_err()
        {
            return Err(Refusal::RuleSet(RuleViolation::CallingHours));
        }
        match rules.windows.check(now, &tz) {
            Ok(()) => {}
            Err(Closed::Holiday(date)) => return Err(Refusal::Holiday { date }),
            Err(Closed::Hours) => {
                let next_open = next_open_all(&rules.windows, now, &zones);
                return Err(Refusal::OutsideWindow { next_open });
            }
        }
        local_dates.push(tz.to_datetime(now).date());
    }

    if kind == DialKind::Regular
        && let Some(cap) = rules.daily_cap()
        && local_dates.iter().any(|date| history.dials_on(number, *date) >= cap)
    {
        return Err(Refusal::DailyCap { cap });
    }
    Ok(())
}

/// The first instant at which the windows are open in every zone, searched
/// by stepping from one zone's opening to the next.
fn next_open_all(
    windows: &CallingWindows,
    now: Timestamp,
    zones: &[crate::zone::ZoneName],
) -> Option<Timestamp> {
    let tzs: Vec<_> = zones.iter().map(|z| z.tz()).collect();
    let mut at = now;
    for _ in 0..64 {
        let mut latest = at;
        for tz in &tzs {
            let open = windows.next_open(at, tz)?;
            latest = latest.max(open);
        }
        if tzs.iter().all(|tz| windows.check(latest, tz).is_ok()) {
            return Some(latest);
        }
        at = latest.checked_add(SignedDuration::from_mins(1)).ok()?;
    }
    None
}
