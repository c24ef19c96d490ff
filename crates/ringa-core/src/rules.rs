//! Rule sets: the legal rules a campaign runs under, each a small table.
//!
//! | rule | `se` | `us` | `uk` | `none` |
//! | --- | --- | --- | --- | --- |
//! | highest drop rate | campaign target | 3% | 3% | campaign target |
//! | drop window | per day | rolling 30 days | rolling 24 h | per day |
//! | AMD false positives counted as drops | no | no | yes (estimate) | no |
//! | agent connected within | — | 2 s | 2 s | — |
//! | message on a drop | no | yes (identification) | yes | no |
//! | minimum ring | — | 15 s | 15 s | — |
//! | calling hours (contact-local) | — | 08:00–21:00 | — | — |
//! | after a drop | global callback one-to-one, 15+ min later | — | no call for 72 h ¹ | — |
//! | after an AMD machine verdict | — | — | no call for 24 h ¹ | — |
//! | national register wash required | NIX | — | — | — |
//! | caller ID always shown | yes | yes | yes (returnable) | no |
//! | calls per number per day | 1 per contact-local day (configurable) | — | — | — |
//!
//! ¹ unless the call is made with an agent already reserved for it.
//!
//! The engine enforces every row: the user interface only displays them.

use std::fmt;
use std::str::FromStr;

use jiff::SignedDuration;
use jiff::civil::Time;
use serde::{Deserialize, Serialize};

/// A built-in rule set, selectable per campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSet {
    Se,
    Us,
    Uk,
    None,
}

/// The window over which a drop rate is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropWindow {
    /// The contact-local calendar day of the campaign's zone.
    Day,
    /// The 24 hours before now.
    Rolling24h,
    /// The 30 days before now.
    Rolling30d,
}

impl DropWindow {
    /// The length of a rolling window (a day for the calendar-day window).
    pub fn length(self) -> SignedDuration {
        match self {
            DropWindow::Day | DropWindow::Rolling24h => SignedDuration::from_hours(24),
            DropWindow::Rolling30d => SignedDuration::from_hours(24 * 30),
        }
    }
}

/// What happens to a contact after its call was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterDrop {
    /// Nothing beyond the campaign's ordinary retry rules.
    Nothing,
    /// A global callback, dialed one-to-one with a reserved agent, no sooner
    /// than `after`.
    OneToOneCallback { after: SignedDuration },
    /// No new call within `lockout` unless an agent is reserved for it.
    LockoutUnlessReserved { lockout: SignedDuration },
}

/// The rules of one rule set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleTable {
    pub rule_set: RuleSet,
    /// The highest drop rate the rule set allows; a campaign's target may
    /// only be lower.
    pub max_drop_rate: Option<f64>,
    pub drop_window: DropWindow,
    /// Count an estimate of answering-machine false positives (people the
    /// detector hung up on) as drops.
    pub count_amd_false_positives: bool,
    /// A person who answers must reach an agent within this time, else the
    /// call is a drop.
    pub connect_within: Option<SignedDuration>,
    /// A recorded message is played on every drop.
    pub message_on_drop: bool,
    /// The shortest time a call may ring before the dialer gives up.
    pub min_ring: Option<SignedDuration>,
    /// Contact-local hours outside of which nothing is dialed, whatever the
    /// campaign's own windows say.
    pub calling_hours: Option<(Time, Time)>,
    pub after_drop: AfterDrop,
    /// After an answering machine was detected, no new call within this time
    /// unless an agent is reserved.
    pub machine_lockout: Option<SignedDuration>,
    /// A national register that must have been washed against.
    pub register_required: Option<&'static str>,
    /// Every call must present a caller ID from the campaign's pool.
    pub caller_id_required: bool,
    /// The default cap of calls to one number per contact-local day.
    pub daily_cap_per_number: Option<u32>,
}

impl RuleSet {
    /// All rule sets, for listings.
    pub const ALL: [RuleSet; 4] = [RuleSet::Se, RuleSet::Us, RuleSet::Uk, RuleSet::None];

    /// The rule table.
    pub fn table(self) -> RuleTable {
        let minutes = |m: i64| SignedDuration::from_mins(m);
        let hours = |h: i64| SignedDuration::from_hours(h);
        match self {
            RuleSet::Se => RuleTable {
                rule_set: self,
                max_drop_rate: None,
                drop_window: DropWindow::Day,
                count_amd_false_positives: false,
                connect_within: None,
                message_on_drop: false,
                min_ring: None,
                calling_hours: None,
                after_drop: AfterDrop::OneToOneCallback { after: minutes(15) },
                machine_lockout: None,
                register_required: Some("NIX"),
                caller_id_required: true,
                daily_cap_per_number: Some(1),
            },
            RuleSet::Us => RuleTable {
                rule_set: self,
                max_drop_rate: Some(0.03),
                drop_window: DropWindow::Rolling30d,
                count_amd_false_positives: false,
                connect_within: Some(SignedDuration::from_secs(2)),
                message_on_drop: true,
                min_ring: Some(SignedDuration::from_secs(15)),
                calling_hours: Some((Time::constant(8, 0, 0, 0), Time::constant(21, 0, 0, 0))),
                after_drop: AfterDrop::Nothing,
                machine_lockout: None,
                register_required: None,
                caller_id_required: true,
                daily_cap_per_number: None,
            },
            RuleSet::Uk => RuleTable {
                rule_set: self,
                max_drop_rate: Some(0.03),
                drop_window: DropWindow::Rolling24h,
                count_amd_false_positives: true,
                connect_within: Some(SignedDuration::from_secs(2)),
                message_on_drop: true,
                min_ring: Some(SignedDuration::from_secs(15)),
                calling_hours: None,
                after_drop: AfterDrop::LockoutUnlessReserved { lockout: hours(72) },
                machine_lockout: Some(hours(24)),
                register_required: None,
                caller_id_required: true,
                daily_cap_per_number: None,
            },
            RuleSet::None => RuleTable {
                rule_set: self,
                max_drop_rate: None,
                drop_window: DropWindow::Day,
                count_amd_false_positives: false,
                connect_within: None,
                message_on_drop: false,
                min_ring: None,
                calling_hours: None,
                after_drop: AfterDrop::Nothing,
                machine_lockout: None,
                register_required: None,
                caller_id_required: false,
                daily_cap_per_number: None,
            },
        }
    }

    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSet::Se => "se",
            RuleSet::Us => "us",
            RuleSet::Uk => "uk",
            RuleSet::None => "none",
        }
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule-set name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRuleSet(pub String);

impl fmt::Display for UnknownRuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown rule set {:?} (choose se, us, uk or none)", self.0)
    }
}

impl std::error::Error for UnknownRuleSet {}

impl FromStr for RuleSet {
    type Err = UnknownRuleSet;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "se" => Ok(RuleSet::Se),
            "us" => Ok(RuleSet::Us),
            "uk" | "gb" => Ok(RuleSet::Uk),
            "none" => Ok(RuleSet::None),
            _ => Err(UnknownRuleSet(s.to_string())),
        }
    }
}
