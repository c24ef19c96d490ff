//! The scenario file: a call center described in TOML (agents, population,
//! telephony, answering-machine detection, campaign, duration), parsed and
//! checked with errors that name the offending key. The format is
//! documented key by key in `docs/scenarios.md`.

use std::collections::BTreeMap;
use std::fmt;

use jiff::SignedDuration;
use jiff::civil::DateTime;
use ringa_core::campaign::Campaign;
use ringa_core::{CallingWindows, CampaignId, DialMode, RuleSet, ZoneName};
use serde::{Deserialize, Serialize};

use crate::dist::Dist;

/// A scenario could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum ScenarioError {
    /// The TOML is malformed, a key is unknown or misspelled, or a value has
    /// the wrong type (the message names the key and its line).
    Parse(String),
    /// A value is out of range.
    Invalid { key: String, reason: String },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Parse(message) => write!(f, "scenario: {message}"),
            ScenarioError::Invalid { key, reason } => write!(f, "scenario key `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The most simulated days a run may ask for.
pub const MAX_DAYS: u32 = 3660;
/// The most agents a scenario may have.
pub const MAX_AGENTS: u32 = 100_000;
/// The most lines per ready agent in power mode.
pub const MAX_POWER_LINES: u32 = 100;

fn invalid(key: &str, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid { key: key.to_string(), reason: reason.into() }
}

/// A whole simulated call center.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for reports.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub run: RunSpec,
    pub agents: AgentSpec,
    pub population: PopulationSpec,
    #[serde(default)]
    pub telephony: TelephonySpec,
    #[serde(default)]
    pub amd: AmdSpec,
    /// Per-contact voicemail and answering habits; absent: every call's
    /// fate is drawn independently of the contact, as before.
    #[serde(default)]
    pub voicemail: Option<VoicemailSpec>,
    pub campaign: CampaignSpec,
}

/// When and how long the simulation runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// Local start of the first day (civil time in `zone`).
    pub start: DateTime,
    pub zone: String,
    /// Days simulated (overridden by `--days`).
    pub days: u32,
    /// Length of each working day in hours, from the daily start time.
    pub hours_per_day: f64,
    /// Least live answers a drop-rate window needs to count as the worst.
    pub min_window_live: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            start: jiff::civil::date(2026, 1, 5).at(8, 0, 0, 0),
            zone: "Europe/Stockholm".to_string(),
            days: 1,
            hours_per_day: 8.0,
            min_window_live: 100,
        }
    }
}

/// A group of agents working the same hours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftSpec {
    pub count: u32,
    /// Hours after the daily start at which the group logs in.
    #[serde(default)]
    pub start_hour: f64,
    /// Hours worked.
    pub hours: f64,
}

/// A break every agent takes each day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakSpec {
    /// Hours after the agent's login.
    pub after_hours: f64,
    pub minutes: f64,
    /// Agent i starts its break i × this many minutes later (mod the team),
    /// so that the floor does not empty at once.
    #[serde(default)]
    pub stagger_minutes: f64,
}

/// The agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Agents working the whole day (used when `shifts` is empty).
    #[serde(default)]
    pub count: u32,
    #[serde(default)]
    pub shifts: Vec<ShiftSpec>,
    #[serde(default)]
    pub breaks: Vec<BreakSpec>,
    /// Minutes before a break or the end of a shift at which the engine is
    /// told it is coming.
    #[serde(default = "five")]
    pub break_notice_minutes: f64,
    /// Talk time of a conversation with a person.
    pub talk: Dist,
    /// Talk time by outcome, where it differs from `talk`.
    #[serde(default)]
    pub talk_by_outcome: BTreeMap<String, Dist>,
    #[serde(default = "zero_dist")]
    pub wrap_up: Dist,
    /// Shares of the outcomes agents set after a conversation (normalised).
    #[serde(default = "default_outcomes")]
    pub outcomes: BTreeMap<String, f64>,
    /// Time an agent spends on an answering machine that reached them.
    #[serde(default = "machine_handle")]
    pub machine_handle: Dist,
    /// Preview: time reading a card before clicking its number.
    #[serde(default = "preview_read")]
    pub preview_read: Dist,
    /// Hours ahead at which a `callback` outcome books the callback.
    #[serde(default = "callback_hours")]
    pub callback_after_hours: f64,
}

fn five() -> f64 {
    5.0
}
fn zero_dist() -> Dist {
    Dist::ZERO
}
fn default_outcomes() -> BTreeMap<String, f64> {
    BTreeMap::from([("not_interested".to_string(), 0.9), ("sale".to_string(), 0.1)])
}
fn machine_handle() -> Dist {
    Dist::Constant { value: 8.0 }
}
fn preview_read() -> Dist {
    Dist::Constant { value: 10.0 }
}
fn callback_hours() -> f64 {
    24.0
}

/// The people called.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    /// Contacts in the list; absent means unlimited.
    #[serde(default)]
    pub size: Option<u64>,
    /// Probability of a live answer by attempt number (1st, 2nd, ...); the
    /// last value holds for later attempts.
    pub live_by_attempt: Vec<f64>,
    /// Multipliers of the live-answer probability by local hour ("0".."23");
    /// hours not listed use 1.
    #[serde(default)]
    pub live_by_hour: BTreeMap<String, f64>,
    /// Sigma of a lognormal multiplier (mean 1) of the live-answer
    /// probability drawn once per contact; 0 = every contact alike.
    #[serde(default)]
    pub heterogeneity_sigma: f64,
    /// Probability that an answering machine answers (of all calls).
    #[serde(default)]
    pub machine: f64,
    /// Probability of a busy signal.
    #[serde(default)]
    pub busy: f64,
    /// Probability that the number is invalid.
    #[serde(default)]
    pub invalid: f64,
    /// Time from dialing to a person's answer.
    pub live_after: Dist,
    #[serde(default = "machine_after")]
    pub machine_after: Dist,
    #[serde(default = "three_s")]
    pub busy_after: Dist,
    #[serde(default = "one_s")]
    pub invalid_after: Dist,
    /// When a call nobody answers ends; absent: it rings until the ring
    /// timeout.
    #[serde(default)]
    pub no_answer_after: Option<Dist>,
    /// How long a person who answered waits in silence for an agent.
    #[serde(default = "zero_dist")]
    pub patience: Dist,
    /// How long a machine's greeting runs before it hangs up when nobody
    /// takes the call.
    #[serde(default = "machine_greeting")]
    pub machine_greeting: Dist,
}

fn machine_after() -> Dist {
    Dist::Uniform { min: 15.0, max: 25.0 }
}
fn three_s() -> Dist {
    Dist::Constant { value: 3.0 }
}
fn one_s() -> Dist {
    Dist::Constant { value: 1.0 }
}
fn machine_greeting() -> Dist {
    Dist::Constant { value: 20.0 }
}

/// The trunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelephonySpec {
    /// Lines the trunk carries at once; absent = unlimited.
    pub lines: Option<u32>,
    /// Added to every call before anything happens on it.
    pub post_dial_delay: Dist,
}

impl Default for TelephonySpec {
    fn default() -> Self {
        TelephonySpec { lines: None, post_dial_delay: Dist::ZERO }
    }
}

/// Verdict probabilities of answering-machine detection (when the campaign
/// runs it). The rest of each row is the right verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmdSpec {
    pub human_as_machine: f64,
    pub human_as_unsure: f64,
    pub machine_as_human: f64,
    pub machine_as_unsure: f64,
    /// Seconds from the answer to the verdict (the engine hears of the
    /// verdict only then); zero by default.
    pub decision_after: Dist,
    /// The same for calls a machine answered, where it differs from
    /// `decision_after`.
    pub machine_decision_after: Option<Dist>,
}

impl Default for AmdSpec {
    fn default() -> Self {
        AmdSpec {
            human_as_machine: 0.0,
            human_as_unsure: 0.0,
            machine_as_human: 0.0,
            machine_as_unsure: 0.0,
            decision_after: Dist::ZERO,
            machine_decision_after: None,
        }
    }
}

/// Voicemail and answering as habits of each contact, drawn once per
/// contact, so that repeated attempts to the same contact are alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoicemailSpec {
    /// Share of contacts whose line goes to voicemail when they do not
    /// answer (replaces `population.machine`, which is then ignored).
    pub share: f64,
    /// Seconds of ringing before a contact's voicemail picks up, drawn once
    /// per contact.
    pub pickup_after: Dist,
    /// Each call's pickup varies by up to this many seconds either way.
    #[serde(default = "half_s")]
    pub pickup_jitter_s: f64,
    /// Sigma of the lognormal (mean 1) by which each call's answer time
    /// varies around the contact's typical time (drawn once per contact
    /// from `population.live_after`).
    #[serde(default = "quarter")]
    pub answer_jitter_sigma: f64,
}

fn half_s() -> f64 {
    0.5
}
fn quarter() -> f64 {
    0.25
}

/// Retry delays in minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryMinutes {
    pub default: f64,
    #[serde(default)]
    pub no_answer: Option<f64>,
    #[serde(default)]
    pub busy: Option<f64>,
    #[serde(default)]
    pub machine: Option<f64>,
    #[serde(default)]
    pub dropped: Option<f64>,
}

/// The campaign dialed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub mode: DialMode,
    #[serde(default = "none_rules")]
    pub rule_set: RuleSet,
    #[serde(default = "three_pct")]
    pub drop_target: f64,
    #[serde(default = "ring_timeout")]
    pub ring_timeout_s: f64,
    #[serde(default = "six")]
    pub max_attempts: u32,
    #[serde(default)]
    pub retry_minutes: Option<RetryMinutes>,
    #[serde(default)]
    pub max_lines_per_agent: Option<f64>,
    #[serde(default = "one")]
    pub power_lines: u32,
    #[serde(default)]
    pub amd: bool,
    /// Answering-machine method 2: the contact's voicemail history moves
    /// or skips dials.
    #[serde(default)]
    pub amd_history: bool,
    /// Answering-machine method 3: per number, stop ringing just before
    /// voicemail picks up.
    #[serde(default)]
    pub amd_ring_time: bool,
    #[serde(default = "three")]
    pub min_agents_predictive: u32,
    /// Calling windows, e.g. "mon-fri 09:00-20:00"; "always" (the default)
    /// for none.
    #[serde(default = "always")]
    pub windows: String,
}

fn none_rules() -> RuleSet {
    RuleSet::None
}
fn three_pct() -> f64 {
    0.03
}
fn ring_timeout() -> f64 {
    25.0
}
fn six() -> u32 {
    6
}
fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn always() -> String {
    "always".to_string()
}

impl Scenario {
    /// Parses and checks a scenario.
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks ranges and cross-key rules.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let prob = |key: &str, x: f64| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(invalid(key, format!("{x} is not a probability between 0 and 1")))
            }
        };
        let dist = |key: &str, d: &Dist| match d.problem() {
            Some(reason) => Err(invalid(key, reason)),
            None => Ok(()),
        };
        // Times and counts past these make no call center and would
        // overflow a duration or exhaust memory.
        let within = |key: &str, x: f64, max: f64, unit: &str| {
            if x.is_finite() && (0.0..=max).contains(&x) {
                Ok(())
            } else {
                Err(invalid(key, format!("{x} is out of range (0 to {max} {unit})")))
            }
        };
        let run = &self.run;
        if run.days > MAX_DAYS {
            return Err(invalid("run.days", format!("at most {MAX_DAYS} days")));
        }
        let shift_agents: u64 = self.agents.shifts.iter().map(|s| u64::from(s.count)).sum();
        if shift_agents.max(u64::from(self.agents.count)) > u64::from(MAX_AGENTS) {
            return Err(invalid("agents.count", format!("at most {MAX_AGENTS} agents")));
        }
        for (i, s) in self.agents.shifts.iter().enumerate() {
            within(&format!("agents.shifts[{i}].hours"), s.hours, 24.0, "hours")?;
            within(&format!("agents.shifts[{i}].start_hour"), s.start_hour, 24.0, "hours")?;
        }
        for (i, b) in self.agents.breaks.iter().enumerate() {
            within(&format!("agents.breaks[{i}].minutes"), b.minutes, 1440.0, "minutes")?;
            within(&format!("agents.breaks[{i}].after_hours"), b.after_hours, 24.0, "hours")?;
            let key = format!("agents.breaks[{i}].stagger_minutes");
            within(&key, b.stagger_minutes, 1440.0, "minutes")?;
        }
        let callback = self.agents.callback_after_hours;
        within("agents.callback_after_hours", callback, 366.0 * 24.0, "hours")?;
        let notice = self.agents.break_notice_minutes;
        within("agents.break_notice_minutes", notice, 1440.0, "minutes")?;
        within("campaign.ring_timeout_s", self.campaign.ring_timeout_s, 3600.0, "seconds")?;
        if let Some(r) = &self.campaign.retry_minutes {
            let year = 366.0 * 1440.0;
            for (k, v) in [
                ("default", Some(r.default)),
                ("no_answer", r.no_answer),
                ("busy", r.busy),
                ("machine", r.machine),
                ("dropped", r.dropped),
            ] {
                if let Some(v) = v {
                    within(&format!("campaign.retry_minutes.{k}"), v, year, "minutes")?;
                }
            }
        }
        if self.campaign.power_lines > MAX_POWER_LINES {
            let why = format!("at most {MAX_POWER_LINES}");
            return Err(invalid("campaign.power_lines", why));
        }
        self.zone().map_err(|reason| invalid("run.zone", reason))?;
        if run.days == 0 {
            return Err(invalid("run.days", "must be at least 1"));
        }
        if !(run.hours_per_day > 0.0 && run.hours_per_day <= 24.0) {
            return Err(invalid("run.hours_per_day", "must be above 0 and at most 24"));
        }
        let a = &self.agents;
        if a.count == 0 && a.shifts.is_empty() {
            return Err(invalid("agents.count", "at least one agent is needed"));
        }
        for (i, s) in a.shifts.iter().enumerate() {
            if s.count == 0 || s.hours.is_nan() || s.hours <= 0.0 || s.start_hour < 0.0 {
                return Err(invalid(
                    &format!("agents.shifts[{i}]"),
                    "count must be positive, hours positive and start_hour not negative",
                ));
            }
        }
        for (i, b) in a.breaks.iter().enumerate() {
            if b.minutes.is_nan()
                || b.minutes <= 0.0
                || b.after_hours < 0.0
                || b.stagger_minutes < 0.0
            {
                return Err(invalid(
                    &format!("agents.breaks[{i}]"),
                    "minutes must be positive, after_hours and stagger_minutes not negative",
                ));
            }
        }
        dist("agents.talk", &a.talk)?;
        for (k, d) in &a.talk_by_outcome {
            dist(&format!("agents.talk_by_outcome.{k}"), d)?;
        }
        dist("agents.wrap_up", &a.wrap_up)?;
        dist("agents.machine_handle", &a.machine_handle)?;
        dist("agents.preview_read", &a.preview_read)?;
        if a.outcomes.is_empty() || a.outcomes.values().sum::<f64>() <= 0.0 {
            return Err(invalid("agents.outcomes", "needs at least one outcome with a share"));
        }
        for (k, v) in &a.outcomes {
            if !(v.is_finite() && *v >= 0.0) {
                return Err(invalid(&format!("agents.outcomes.{k}"), "share must be >= 0"));
            }
        }
        let p = &self.population;
        if p.size == Some(0) {
            return Err(invalid("population.size", "must be positive (omit it for unlimited)"));
        }
        if p.live_by_attempt.is_empty() {
            return Err(invalid("population.live_by_attempt", "needs at least one value"));
        }
        for (i, x) in p.live_by_attempt.iter().enumerate() {
            prob(&format!("population.live_by_attempt[{i}]"), *x)?;
        }
        for (h, m) in &p.live_by_hour {
            let key = format!("population.live_by_hour.{h}");
            match h.parse::<u8>() {
                Ok(hour) if hour < 24 => {}
                _ => return Err(invalid(&key, "hours are \"0\" to \"23\"")),
            }
            if !(m.is_finite() && *m >= 0.0) {
                return Err(invalid(&key, "multiplier must be >= 0"));
            }
        }
        if !(p.heterogeneity_sigma.is_finite() && p.heterogeneity_sigma >= 0.0) {
            return Err(invalid("population.heterogeneity_sigma", "must be >= 0"));
        }
        prob("population.machine", p.machine)?;
        prob("population.busy", p.busy)?;
        prob("population.invalid", p.invalid)?;
        if p.machine + p.busy + p.invalid > 1.0 {
            return Err(invalid("population.machine", "machine + busy + invalid exceed 1"));
        }
        dist("population.live_after", &p.live_after)?;
        dist("population.machine_after", &p.machine_after)?;
        dist("population.busy_after", &p.busy_after)?;
        dist("population.invalid_after", &p.invalid_after)?;
        if let Some(d) = &p.no_answer_after {
            dist("population.no_answer_after", d)?;
        }
        dist("population.patience", &p.patience)?;
        dist("population.machine_greeting", &p.machine_greeting)?;
        dist("telephony.post_dial_delay", &self.telephony.post_dial_delay)?;
        if self.telephony.lines == Some(0) {
            return Err(invalid("telephony.lines", "must be positive (omit it for unlimited)"));
        }
        let d = &self.amd;
        prob("amd.human_as_machine", d.human_as_machine)?;
        prob("amd.human_as_unsure", d.human_as_unsure)?;
        prob("amd.machine_as_human", d.machine_as_human)?;
        prob("amd.machine_as_unsure", d.machine_as_unsure)?;
        if d.human_as_machine + d.human_as_unsure > 1.0 {
            return Err(invalid("amd.human_as_machine", "human verdict shares exceed 1"));
        }
        if d.machine_as_human + d.machine_as_unsure > 1.0 {
            return Err(invalid("amd.machine_as_human", "machine verdict shares exceed 1"));
        }
        dist("amd.decision_after", &d.decision_after)?;
        if let Some(m) = &d.machine_decision_after {
            dist("amd.machine_decision_after", m)?;
        }
        if let Some(v) = &self.voicemail {
            prob("voicemail.share", v.share)?;
            dist("voicemail.pickup_after", &v.pickup_after)?;
            within("voicemail.pickup_jitter_s", v.pickup_jitter_s, 60.0, "seconds")?;
            within("voicemail.answer_jitter_sigma", v.answer_jitter_sigma, 3.0, "")?;
        }
        let c = &self.campaign;
        prob("campaign.drop_target", c.drop_target)?;
        if !(c.ring_timeout_s > 0.0 && c.ring_timeout_s.is_finite()) {
            return Err(invalid("campaign.ring_timeout_s", "must be positive"));
        }
        if c.max_attempts == 0 {
            return Err(invalid("campaign.max_attempts", "must be at least 1"));
        }
        if c.power_lines == 0 {
            return Err(invalid("campaign.power_lines", "must be at least 1"));
        }
        if let Some(m) = c.max_lines_per_agent
            && (m.is_nan() || m < 1.0)
        {
            return Err(invalid("campaign.max_lines_per_agent", "must be at least 1"));
        }
        if let Some(r) = &c.retry_minutes {
            for (k, v) in [
                ("default", Some(r.default)),
                ("no_answer", r.no_answer),
                ("busy", r.busy),
                ("machine", r.machine),
                ("dropped", r.dropped),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(invalid(&format!("campaign.retry_minutes.{k}"), "must be >= 0"));
                }
            }
        }
        self.windows().map_err(|reason| invalid("campaign.windows", reason))?;
        for code in a.outcomes.keys().chain(a.talk_by_outcome.keys()) {
            if self.campaign(CampaignId(1)).outcome(code).is_none() {
                return Err(invalid(
                    &format!("agents.outcomes.{code}"),
                    "not an outcome of the campaign (sale, not_interested, callback, \
                     wrong_person, do_not_call)",
                ));
            }
        }
        Ok(())
    }

    /// The scenario's time zone.
    pub fn zone(&self) -> Result<ZoneName, String> {
        ZoneName::parse(&self.run.zone).map_err(|e| e.to_string())
    }

    fn windows(&self) -> Result<CallingWindows, String> {
        let text = self.campaign.windows.trim();
        if text.eq_ignore_ascii_case("always") {
            Ok(CallingWindows::always())
        } else {
            CallingWindows::parse(text).map_err(|e| e.to_string())
        }
    }

    /// Agents in total.
    pub fn agent_count(&self) -> u32 {
        if self.agents.shifts.is_empty() {
            self.agents.count
        } else {
            self.agents.shifts.iter().map(|s| s.count).sum()
        }
    }

    /// The campaign the engine is given.
    pub fn campaign(&self, id: CampaignId) -> Campaign {
        let c = &self.campaign;
        let mut campaign = Campaign::new(id, &self.name, c.mode, c.rule_set);
        campaign.drop_target = c.drop_target;
        campaign.ring_timeout = SignedDuration::from_secs_f64(c.ring_timeout_s);
        campaign.rules.max_attempts = c.max_attempts;
        if let Some(r) = &c.retry_minutes {
            fn m(x: f64) -> SignedDuration {
                SignedDuration::from_secs_f64(x * 60.0)
            }
            campaign.rules.retry.default = m(r.default);
            campaign.rules.retry.no_answer = r.no_answer.map(m);
            campaign.rules.retry.busy = r.busy.map(m);
            campaign.rules.retry.machine = r.machine.map(m);
            campaign.rules.retry.dropped = r.dropped.map(m);
        }
        campaign.max_lines_per_agent = c.max_lines_per_agent;
        campaign.power_lines = c.power_lines;
        campaign.amd = c.amd;
        campaign.amd_methods.history = c.amd_history;
        campaign.amd_methods.ring_time = c.amd_ring_time;
        campaign.min_agents_predictive = c.min_agents_predictive;
        if let Ok(windows) = self.windows() {
            campaign.rules.windows = windows;
        }
        if let Ok(zone) = self.zone() {
            campaign.rules.unknown_zone = ringa_core::zone::UnknownZone::Default(zone);
        }
        let table = c.rule_set.table();
        if table.caller_id_required {
            let number = ringa_core::PhoneNumber::from_e164(CALLER_ID)
                .expect("the simulator's caller ID is a valid number");
            campaign.caller_ids.numbers =
                vec![ringa_core::campaign::CallerId { number, daily_cap: None }];
        }
        if table.register_required.is_some() {
            campaign.rules.register_washed = Some(self.run.start.date());
        }
        campaign
    }
}

/// The number the simulated campaign presents where its rule set requires a
/// caller ID (a Stockholm switchboard number).
pub const CALLER_ID: &str = "+46812345678";

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[agents]
count = 3
talk = { kind = "exponential", mean = 120 }

[population]
live_by_attempt = [0.2]
live_after = { kind = "exponential", mean = 10 }

[campaign]
mode = "progressive"
"#;

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::from_toml(MINIMAL).expect("minimal scenario parses");
        assert_eq!(s.agent_count(), 3);
        assert_eq!(s.run.days, 1);
        assert_eq!(s.campaign.rule_set, RuleSet::None);
        let campaign = s.campaign(CampaignId(1));
        assert_eq!(campaign.mode, DialMode::Progressive);
    }

    #[test]
    fn the_caller_id_is_valid() {
        assert!(ringa_core::PhoneNumber::from_e164(CALLER_ID).is_ok());
    }
}
