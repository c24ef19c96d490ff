//! Campaign configuration: the dial mode, the attempt rules the
//! eligibility check enforces, caller IDs, outcomes and callbacks.

use jiff::SignedDuration;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::ids::{CampaignId, DncListId};
use crate::outcome::{CallResult, OutcomeDef, duration_secs, opt_duration};
use crate::phone::{PhoneNumber, Region};
use crate::rules::RuleSet;
use crate::window::CallingWindows;
use crate::zone::{UnknownZone, ZoneName};

/// How a campaign dials (see the product specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    /// Nothing is dialed until the agent clicks a number on the card.
    Preview,
    /// The card's number is dialed as the card appears; one line per agent.
    Progressive,
    /// The dialer rings for the set time and sets unanswered outcomes itself;
    /// the agent acts once a person is on the line.
    Power,
    /// Calls are placed ahead of free agents under the pacer.
    Predictive,
}

impl DialMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DialMode::Preview => "preview",
            DialMode::Progressive => "progressive",
            DialMode::Power => "power",
            DialMode::Predictive => "predictive",
        }
    }
}

/// Delays before the next attempt, by what the last one saw. They choose
/// the delay only: no delay rule ever adds to the attempt budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryDelays {
    /// The quarantine: the delay for any result without its own rule.
    #[serde(with = "duration_secs")]
    pub default: SignedDuration,
    #[serde(default, with = "opt_duration")]
    pub no_answer: Option<SignedDuration>,
    #[serde(default, with = "opt_duration")]
    pub busy: Option<SignedDuration>,
    #[serde(default, with = "opt_duration")]
    pub congestion: Option<SignedDuration>,
    #[serde(default, with = "opt_duration")]
    pub machine: Option<SignedDuration>,
    #[serde(default, with = "opt_duration")]
    pub dropped: Option<SignedDuration>,
}

impl RetryDelays {
    /// The delay after a result.
    pub fn after(&self, result: CallResult) -> SignedDuration {
        let specific = match result {
            CallResult::NoAnswer | CallResult::AvoidedVoicemail => self.no_answer,
            CallResult::Busy => self.busy,
            CallResult::Congestion | CallResult::Failed => self.congestion,
            CallResult::Machine => self.machine,
            CallResult::Dropped => self.dropped,
            _ => None,
        };
        specific.unwrap_or(self.default)
    }
}

/// The attempt rules of a campaign: everything the eligibility check reads
/// besides the contact itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignRules {
    pub rule_set: RuleSet,
    /// Attempts per contact, all numbers and all results together.
    pub max_attempts: u32,
    /// Dials of agreed callbacks, counted apart from `max_attempts` so that
    /// a customer who asked to be called is called.
    pub max_callback_attempts: u32,
    pub retry: RetryDelays,
    /// Calling windows in the contact's local time.
    pub windows: CallingWindows,
    /// The zone used when a contact's own cannot be told.
    pub unknown_zone: UnknownZone,
    /// Calls to one number per contact-local day; the rule set's default
    /// when absent.
    #[serde(default)]
    pub daily_cap_per_number: Option<u32>,
    /// Do-not-call lists checked besides the global list.
    #[serde(default)]
    pub dnc_lists: Vec<DncListId>,
    /// Whether a congestion failure that never reached the customer counts
    /// as an attempt. Default: it does not.
    #[serde(default)]
    pub congestion_counts: bool,
    /// The date of the last wash against the national register the rule set
    /// requires.
    #[serde(default)]
    pub register_washed: Option<Date>,
}

impl CampaignRules {
    /// Rules a new campaign starts with under `rule_set`, in `zone`.
    pub fn new(rule_set: RuleSet, zone: ZoneName) -> CampaignRules {
        CampaignRules {
            rule_set,
            max_attempts: 6,
            max_callback_attempts: 3,
            retry: RetryDelays {
                default: SignedDuration::from_hours(48),
                no_answer: Some(SignedDuration::from_hours(4)),
                busy: Some(SignedDuration::from_mins(30)),
                congestion: Some(SignedDuration::from_mins(5)),
                machine: Some(SignedDuration::from_hours(24)),
                dropped: None,
            },
            windows: CallingWindows::parse("mon-fri 09:00-20:00, sat 10:00-16:00")
                .expect("the default window is well formed"),
            unknown_zone: UnknownZone::Default(zone),
            daily_cap_per_number: None,
            dnc_lists: Vec::new(),
            congestion_counts: false,
            register_washed: None,
        }
    }

    /// The cap of dials per number per day in force.
    pub fn daily_cap(&self) -> Option<u32> {
        self.daily_cap_per_number.or(self.rule_set.table().daily_cap_per_number)
    }

    /// Whether an attempt with this result uses the attempt budget.
    pub fn counts_as_attempt(&self, result: CallResult) -> bool {
        match result {
            CallResult::Suppressed => false,
            CallResult::Congestion => self.congestion_counts,
            _ => true,
        }
    }
}

/// One caller ID of a campaign's pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerId {
    pub number: PhoneNumber,
    /// The most calls presenting this number per day.
    #[serde(default)]
    pub daily_cap: Option<u32>,
}

/// How the caller ID of each call is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdRotation {
    /// At random among the numbers under their cap.
    #[default]
    Random,
    /// Always the first number under its cap (the official switchboard).
    First,
}

/// The caller IDs a campaign presents.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallerIdPool {
    pub numbers: Vec<CallerId>,
    #[serde(default)]
    pub rotation: CallerIdRotation,
}

/// Callback settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackSettings {
    /// Agents may book callbacks for themselves.
    pub personal_enabled: bool,
    /// A personal callback whose agent is absent this long after the due
    /// time is offered to the other agents.
    #[serde(with = "duration_secs")]
    pub offer_to_others_after: SignedDuration,
    /// A callback that could not be completed (congestion, no answer) is
    /// retried within this time after its due time, then escalated.
    #[serde(with = "duration_secs")]
    pub retry_window: SignedDuration,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        CallbackSettings {
            personal_enabled: true,
            offer_to_others_after: SignedDuration::from_mins(10),
            retry_window: SignedDuration::from_mins(15),
        }
    }
}

/// A campaign's whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub mode: DialMode,
    pub rules: CampaignRules,
    /// The default region for numbers written in national form.
    pub region: Region,
    /// The highest share of drops over live answers (0.03 = 3%).
    pub drop_target: f64,
    /// The most lines per logged-in agent the pacer may use.
    #[serde(default)]
    pub max_lines_per_agent: Option<f64>,
    /// How long a call rings before the dialer gives up.
    #[serde(with = "duration_secs")]
    pub ring_timeout: SignedDuration,
    /// In power mode, calls per ready agent (1 unless configured).
    #[serde(default = "one")]
    pub power_lines: u32,
    /// Below this many ready agents predictive dialing falls back to
    /// progressive.
    #[serde(default = "three")]
    pub min_agents_predictive: u32,
    /// New (never dialed) contacts per day, to spread a list over time.
    #[serde(default)]
    pub new_per_day: Option<u32>,
    pub outcomes: Vec<OutcomeDef>,
    #[serde(default)]
    pub caller_ids: CallerIdPool,
    #[serde(default)]
    pub callbacks: CallbackSettings,
    /// The do-not-call list a customer's request is written to.
    #[serde(default = "global")]
    pub dnc_target: DncListId,
    /// Fields of the card shown to agents, in order.
    #[serde(default)]
    pub card_fields: Vec<String>,
    #[serde(default)]
    pub script: String,
    /// Answering-machine detection before an agent is connected.
    #[serde(default)]
    pub amd: bool,
    /// The share of machine verdicts estimated to be people wrongly judged
    /// machines; counted as drops where the rule set says so.
    #[serde(default = "amd_fp")]
    pub amd_false_positive_estimate: f64,
    /// Answering-machine methods 2 (voicemail history) and 3 (ring time
    /// before voicemail), each off unless switched on.
    #[serde(default)]
    pub amd_methods: AmdMethods,
    /// What a machine verdict of the listening detector leads to.
    #[serde(default)]
    pub amd_on_machine: OnMachine,
}

/// What a campaign does with a call the listening detector judged a
/// machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMachine {
    /// Hang up at once.
    #[default]
    HangUp,
    /// Wait for the end of the greeting (the beep), play the recorded
    /// message, then hang up.
    LeaveMessage,
}

/// The answering-machine methods that act before an answer. Neither ever
/// ends an answered call: history only moves or skips a dial, ring time
/// only shortens how long a number rings (never below the rule set's
/// minimum ring).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmdMethods {
    /// Method 2: re-time or skip contacts whose past answers were mostly
    /// voicemail.
    #[serde(default)]
    pub history: bool,
    /// Method 3: per number, stop ringing just before its voicemail
    /// usually picks up.
    #[serde(default)]
    pub ring_time: bool,
}

fn amd_fp() -> f64 {
    0.01
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

fn global() -> DncListId {
    crate::dnc::GLOBAL_DNC
}

impl Campaign {
    /// A campaign with sensible defaults for `rule_set`.
    pub fn new(id: CampaignId, name: &str, mode: DialMode, rule_set: RuleSet) -> Campaign {
        let (region, zone) = match rule_set {
            RuleSet::Us => (Region::parse("US"), "America/New_York"),
            RuleSet::Uk => (Region::parse("GB"), "Europe/London"),
            RuleSet::Se | RuleSet::None => (Ok(Region::SE), "Europe/Stockholm"),
        };
        let zone = ZoneName::parse(zone).expect("built-in zones exist in the database");
        let table = rule_set.table();
        let ring = table.min_ring.unwrap_or_default().max(SignedDuration::from_secs(22));
        Campaign {
            id,
            name: name.to_string(),
            mode,
            rules: CampaignRules::new(rule_set, zone),
            region: region.expect("built-in regions exist in the numbering plan"),
            drop_target: table.max_drop_rate.unwrap_or(0.03).min(0.03),
            max_lines_per_agent: None,
            ring_timeout: ring,
            power_lines: 1,
            min_agents_predictive: 3,
            new_per_day: None,
            outcomes: OutcomeDef::defaults(),
            caller_ids: CallerIdPool::default(),
            callbacks: CallbackSettings::default(),
            dnc_target: crate::dnc::GLOBAL_DNC,
            card_fields: Vec::new(),
            script: String::new(),
            amd: false,
            amd_false_positive_estimate: amd_fp(),
            amd_methods: AmdMethods::default(),
            amd_on_machine: OnMachine::HangUp,
        }
    }

    /// The drop target in force: the campaign's own, never above the rule
    /// set's maximum.
    pub fn effective_drop_target(&self) -> f64 {
        let max = self.rules.rule_set.table().max_drop_rate.unwrap_or(1.0);
        self.drop_target.min(max)
    }

    /// The ring timeout in force: never under the rule set's minimum ring.
    pub fn effective_ring_timeout(&self) -> SignedDuration {
        let min = self.rules.rule_set.table().min_ring.unwrap_or_default();
        self.ring_timeout.max(min)
    }

    /// The outcome definition with this code.
    pub fn outcome(&self, code: &str) -> Option<&OutcomeDef> {
        self.outcomes.iter().find(|o| o.code.as_str() == code)
    }
}
