//! The compliance invariant as a property: over random campaigns, rule
//! sets, calling windows, zones, do-not-call lists and attempt limits, driven
//! by a random world, no number is ever dialed that the rules forbid, and
//! every refusal carries its reason. Customers call the campaigns back now and then
//! (inbound calls taking agents, with outcomes that may close a contact or put its number
//! on a do-not-call list): the rules hold all the same.
//!
//! The oracle here does not call the engine's check: it keeps its own record
//! of what was dialed, blocked and answered, and re-derives each rule from
//! it at every `Originate`.

use std::collections::{HashMap, HashSet};

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::contact::{Contact, ContactNumber, DialHistory};
use ringa_core::rules::AfterDrop;
use ringa_core::window::{Weekdays, WindowSpan};
use ringa_core::zone::UnknownZone;
use ringa_core::{
    AgentId, CallId, CallResult, CallingWindows, CampaignId, ContactId, DialMode, DncListId,
    ListId, OutcomeCode, PhoneNumber, RuleSet, ZoneName,
};
use ringa_engine::{
    AnsweredBy, AttemptKind, CallEvent, Command, ContactEntry, Engine, EngineConfig, Input,
};

/// A small deterministic generator for the world's choices.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const ZONES: [&str; 6] = [
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
];

fn zone(name: &str) -> ZoneName {
    ZoneName::parse(name).expect("test zones exist")
}

fn random_number(dice: &mut Dice) -> PhoneNumber {
    let text = match dice.below(4) {
        0 => format!("+4670174{:04}", dice.below(10_000)),
        1 => format!("+35840{:07}", dice.below(10_000_000)),
        2 => format!("+1202555{:04}", 100 + dice.below(100)),
        _ => format!("+447700900{:03}", dice.below(1000)),
    };
    PhoneNumber::from_e164(&text).unwrap_or_else(|_| {
        PhoneNumber::from_e164("+46701740605").expect("a valid fallback number")
    })
}

fn random_windows(dice: &mut Dice) -> CallingWindows {
    if dice.chance(0.2) {
        return CallingWindows::always();
    }
    let mut spans = Vec::new();
    for _ in 0..1 + dice.below(3) {
        let days = match dice.below(3) {
            0 => Weekdays::WORKDAYS,
            1 => Weekdays::ALL,
            _ => Weekdays::only(*dice.pick(&[
                jiff::civil::Weekday::Monday,
                jiff::civil::Weekday::Wednesday,
                jiff::civil::Weekday::Saturday,
            ])),
        };
        let start = Time::new(dice.below(24) as i8, (dice.below(4) * 15) as i8, 0, 0)
            .expect("hours and minutes in range");
        let end = Time::new(dice.below(24) as i8, (dice.below(4) * 15) as i8, 0, 0)
            .expect("hours and minutes in range");
        spans.push(WindowSpan { days, start, end });
    }
    let mut holidays = Vec::new();
    if dice.chance(0.5) {
        holidays.push(jiff::civil::date(2026, 12, 8 + dice.below(4) as i8));
    }
    CallingWindows { spans, holidays }
}

/// What the oracle knows of one contact.
#[derive(Default)]
struct Known {
    counted: u32,
    callbacks: u32,
    last_end: Option<(Timestamp, SignedDuration)>,
    last_drop: Option<Timestamp>,
    last_machine: Option<Timestamp>,
    day_dials: HashMap<(String, Date), u32>,
    closed: bool,
}

struct CaseReport {
    originates: usize,
    refusals: usize,
}

fn run_case(seed: u64, steps: usize) -> Result<CaseReport, String> {
    let mut dice = Dice(seed);
    let start: Timestamp = "2026-12-07T06:00:00Z".parse().expect("valid start");
    let mut engine = Engine::new(EngineConfig { seed, ..EngineConfig::default() });
    let mut now = start;

    // Campaigns and their contacts.
    let mut campaigns: HashMap<CampaignId, Campaign> = HashMap::new();
    let mut contacts: HashMap<ContactId, Contact> = HashMap::new();
    let mut source: HashMap<CampaignId, Vec<ContactEntry>> = HashMap::new();
    let campaign_count = 1 + dice.below(2);
    let mut next_contact = 1u64;
    for c in 1..=campaign_count {
        let id = CampaignId(c);
        let mode = *dice.pick(&[
            DialMode::Preview,
            DialMode::Progressive,
            DialMode::Power,
            DialMode::Predictive,
        ]);
        let rule_set = *dice.pick(&RuleSet::ALL);
        let mut campaign = Campaign::new(id, "property", mode, rule_set);
        campaign.rules.windows = random_windows(&mut dice);
        campaign.rules.max_attempts = 1 + dice.below(6) as u32;
        campaign.rules.max_callback_attempts = 1 + dice.below(3) as u32;
        campaign.rules.retry.default = SignedDuration::from_mins(1 + dice.below(600) as i64);
        campaign.rules.retry.no_answer =
            Some(SignedDuration::from_mins(1 + dice.below(120) as i64));
        campaign.rules.retry.busy = Some(SignedDuration::from_mins(1 + dice.below(30) as i64));
        campaign.rules.congestion_counts = dice.chance(0.5);
        campaign.rules.daily_cap_per_number = match dice.below(3) {
            0 => None,
            n => Some(n as u32),
        };
        campaign.rules.dnc_lists = if dice.chance(0.5) { vec![DncListId(10 + c)] } else { vec![] };
        campaign.rules.unknown_zone = if dice.chance(0.5) {
            UnknownZone::Default(zone(ZONES[dice.below(ZONES.len() as u64) as usize]))
        } else {
            UnknownZone::AllOf(vec![zone("America/New_York"), zone("America/Los_Angeles")])
        };
        campaign.rules.register_washed =
            if dice.chance(0.9) { Some(jiff::civil::date(2026, 12, 1)) } else { None };
        campaign.min_agents_predictive = 1 + dice.below(3) as u32;
        campaign.power_lines = 1 + dice.below(2) as u32;
        campaign.ring_timeout = SignedDuration::from_secs(10 + dice.below(30) as i64);
        campaign.caller_ids = CallerIdPool {
            numbers: vec![CallerId {
                number: PhoneNumber::from_e164("+46850000001").expect("valid caller ID"),
                daily_cap: None,
            }],
            rotation: Default::default(),
        };
        let mut list = Vec::new();
        for _ in 0..20 + dice.below(40) {
            let id = ContactId(next_contact);
            next_contact += 1;
            let numbers = (0..1 + dice.below(2))
                .map(|_| ContactNumber {
                    number: random_number(&mut dice),
                    label: "main".to_string(),
                    raw: String::new(),
                })
                .collect();
            let contact = Contact {
                id,
                list: ListId(c),
                numbers,
                name: None,
                fields: Default::default(),
                zone: if dice.chance(0.3) {
                    Some(zone(ZONES[dice.below(ZONES.len() as u64) as usize]))
                } else {
                    None
                },
                active: dice.chance(0.9),
                lead: false,
                priority: 0,
            };
            contacts.insert(id, contact.clone());
            list.push(ContactEntry { contact, history: DialHistory::default() });
        }
        source.insert(id, list);
        campaigns.insert(id, campaign.clone());
        engine.handle(now, Input::Campaign { campaign: Box::new(campaign) });
    }

    // Do-not-call entries known before the start.
    let mut dnc_numbers: Vec<(PhoneNumber, DncListId, Timestamp)> = Vec::new();
    let mut dnc_prefixes: Vec<(String, DncListId)> = Vec::new();
    let all: Vec<PhoneNumber> =
        contacts.values().flat_map(|c| c.numbers.iter().map(|n| n.number.clone())).collect();
    for _ in 0..dice.below(8) {
        let number = dice.pick(&all).clone();
        let list = DncListId(if dice.chance(0.5) { 1 } else { 10 + 1 + dice.below(2) });
        engine.handle(now, Input::Dnc { number: number.clone(), list });
        dnc_numbers.push((number, list, now));
    }
    if dice.chance(0.3) {
        let prefix = "4670174".to_string();
        let list = DncListId(11);
        engine.handle(now, Input::DncPrefix { prefix: prefix.clone(), list });
        dnc_prefixes.push((prefix, list));
    }

    let agents = 1 + dice.below(5);
    for a in 1..=agents {
        let mut on: Vec<CampaignId> = campaigns.keys().copied().collect();
        on.sort();
        if on.len() > 1 && dice.chance(0.5) {
            on.truncate(1);
        }
        engine.handle(now, Input::AgentLogin { agent: AgentId(a), campaigns: on });
        engine.handle(now, Input::AgentReady { agent: AgentId(a) });
    }

    let mut known: HashMap<ContactId, Known> = HashMap::new();
    let mut inactive: HashSet<ContactId> =
        contacts.values().filter(|c| !c.active).map(|c| c.id).collect();
    let mut pending: Vec<(Timestamp, Input)> = Vec::new();
    let mut call_info: HashMap<CallId, (ContactId, CampaignId, AttemptKind)> = HashMap::new();
    let mut last_history: HashMap<ContactId, DialHistory> = HashMap::new();
    let mut originates = 0usize;
    let mut refusals = 0usize;
    let mut inbound_calls = 0u64;

    for _ in 0..steps {
        // Drain the engine's commands, checking each dial.
        while let Some(command) = engine.poll_command() {
            match command {
                Command::FetchContacts { campaign, want } => {
                    let list = source.entry(campaign).or_default();
                    let take = (want as usize).min(list.len());
                    let batch: Vec<ContactEntry> = list.drain(..take).collect();
                    let exhausted = list.is_empty();
                    pending.push((now, Input::Contacts { campaign, contacts: batch, exhausted }));
                }
                Command::ContactReleased { campaign, contact, due: Some(_) } => {
                    // Hand it back later with the history the engine
                    // journaled; the oracle keeps its own record regardless.
                    if let Some(c) = contacts.get(&contact) {
                        let history = last_history.get(&contact).cloned().unwrap_or_default();
                        let mut c = c.clone();
                        c.active = !inactive.contains(&contact);
                        source
                            .entry(campaign)
                            .or_default()
                            .push(ContactEntry { contact: c, history });
                    }
                }
                Command::History { contact, history } => {
                    last_history.insert(contact, *history);
                }
                Command::AttemptStarted { record } => {
                    call_info.insert(record.call, (record.contact, record.campaign, record.kind));
                }
                Command::Originate { call, campaign, contact, number, agent, .. } => {
                    originates += 1;
                    let config = &campaigns[&campaign];
                    let kind = call_info.get(&call).map(|i| i.2).ok_or("dial without a journal")?;
                    let facts = known.entry(contact).or_default();
                    check_dial(
                        now,
                        config,
                        &contacts[&contact],
                        &number,
                        kind,
                        agent.is_some(),
                        facts,
                        &inactive,
                        &dnc_numbers,
                        &dnc_prefixes,
                    )
                    .map_err(|why| format!("seed {seed}: dialed {contact} at {now}: {why}"))?;
                    match kind {
                        AttemptKind::Callback => facts.callbacks += 1,
                        _ => facts.counted += 1,
                    }
                    let local = local_date(config, &contacts[&contact], &number, now);
                    *facts.day_dials.entry((number.to_string(), local)).or_default() += 1;
                    // The world decides the call's fate.
                    let after = SignedDuration::from_secs(1 + dice.below(40) as i64);
                    let event = match dice.below(10) {
                        0..=2 => CallEvent::Answered { by: AnsweredBy::Human },
                        3 => CallEvent::Answered { by: AnsweredBy::Machine },
                        4 => CallEvent::Failed { result: CallResult::Busy, sip_code: Some(486) },
                        5 => CallEvent::Failed {
                            result: CallResult::Congestion,
                            sip_code: Some(503),
                        },
                        6 => CallEvent::Failed { result: CallResult::Invalid, sip_code: Some(404) },
                        _ => {
                            CallEvent::Failed { result: CallResult::NoAnswer, sip_code: Some(480) }
                        }
                    };
                    pending.push((now + after, Input::Call { call, event }));
                }
                Command::Connect { call, agent } => {
                    let talk = SignedDuration::from_secs(5 + dice.below(200) as i64);
                    pending.push((
                        now + talk,
                        Input::Call { call, event: CallEvent::HungUp { by_customer: true } },
                    ));
                    let outcome =
                        *dice.pick(&["not_interested", "sale", "do_not_call", "callback"]);
                    let callback = (outcome == "callback").then(|| ringa_engine::CallbackRequest {
                        local: jiff::civil::date(2026, 12, 8).at(dice.below(24) as i8, 0, 0, 0),
                        zone: zone("Europe/Stockholm"),
                        around: None,
                        personal: dice.chance(0.5),
                    });
                    pending.push((
                        now + talk + SignedDuration::from_secs(3),
                        Input::AgentOutcome {
                            agent,
                            outcome: OutcomeCode::new(outcome),
                            callback,
                            note: None,
                        },
                    ));
                }
                Command::AttemptEnded { record } => {
                    let Some(result) = record.result else { continue };
                    if record.kind == AttemptKind::Inbound {
                        // Not a dial: no rule counts it (its do-not-call request comes as
                        // `DncAdd` like any other).
                        continue;
                    }
                    let config = &campaigns[&record.campaign];
                    let facts = known.entry(record.contact).or_default();
                    let ended = record.ended_at.unwrap_or(now);
                    if record.outcome.is_none() {
                        if !counts(config, result) {
                            match record.kind {
                                AttemptKind::Callback => facts.callbacks -= 1,
                                _ => facts.counted -= 1,
                            }
                        }
                        if result == CallResult::Dropped {
                            facts.last_drop = Some(ended);
                        }
                        if result == CallResult::Machine {
                            facts.last_machine = Some(ended);
                        }
                        if result != CallResult::Connected {
                            facts.last_end = Some((ended, config.rules.retry.after(result)));
                        }
                    } else if let Some(def) =
                        record.outcome.as_ref().and_then(|o| config.outcome(o.as_str()))
                    {
                        let delay = def.retry_after.unwrap_or(config.rules.retry.after(result));
                        facts.last_end = Some((now, delay));
                        if def.is_final || def.dnc {
                            facts.closed = true;
                        }
                    }
                }
                Command::DncAdd { number, list } => dnc_numbers.push((number, list, now)),
                Command::Refused { code, reason, .. } => {
                    refusals += 1;
                    if code.is_empty() || reason.is_empty() {
                        return Err(format!("seed {seed}: a refusal without its reason"));
                    }
                }
                Command::Drop { .. } | Command::Cancel { .. } => {}
                Command::Rejected { agent, reason } if reason.contains("unknown caller") => {
                    // A callback outcome for a caller with no contact: the agent picks
                    // another.
                    pending.push((
                        now + SignedDuration::from_secs(1),
                        Input::AgentOutcome {
                            agent,
                            outcome: OutcomeCode::new("not_interested"),
                            callback: None,
                            note: None,
                        },
                    ));
                }
                Command::ShowCard { agent, preview: true, .. } => {
                    pending.push((
                        now + SignedDuration::from_secs(2),
                        Input::AgentDial { agent, number: 0 },
                    ));
                }
                _ => {}
            }
        }

        // Now and then the outside world changes the data.
        if dice.chance(0.02) {
            let number = dice.pick(&all).clone();
            let list = DncListId(if dice.chance(0.5) { 1 } else { 11 });
            pending.push((now, Input::Dnc { number, list }));
        }
        if dice.chance(0.02) {
            // A customer calls a campaign back, from a number of some contact.
            inbound_calls += 1;
            let mut ids: Vec<CampaignId> = campaigns.keys().copied().collect();
            ids.sort();
            let input = Input::InboundCall {
                call: CallId((1 << 62) + inbound_calls),
                campaign: *dice.pick(&ids),
                caller: Some(dice.pick(&all).clone()),
                contact: None,
            };
            pending.push((now, input));
        }
        if dice.chance(0.01) {
            let id = ContactId(1 + dice.below(next_contact - 1));
            pending.push((now, Input::ContactInactive { contact: id }));
        }

        // The next thing to happen.
        pending.sort_by_key(|(t, _)| *t);
        let wake = engine.poll_timeout();
        let next_event = pending.first().map(|(t, _)| *t);
        let jump = now + SignedDuration::from_mins(30 + dice.below(240) as i64);
        let next = [wake, next_event, Some(jump)].into_iter().flatten().min().unwrap_or(jump);
        now = next.max(now);
        if next_event.is_some_and(|t| t <= now) {
            let (_, input) = pending.remove(0);
            match &input {
                Input::Dnc { number, list } => dnc_numbers.push((number.clone(), *list, now)),
                Input::ContactInactive { contact } => {
                    // The source of contacts (storage, in the product) knows
                    // it from now on too.
                    inactive.insert(*contact);
                    for entry in source.values_mut().flatten() {
                        if entry.contact.id == *contact {
                            entry.contact.active = false;
                        }
                    }
                }
                _ => {}
            }
            engine.handle(now, input);
        } else {
            engine.handle(now, Input::Tick);
        }
    }
    Ok(CaseReport { originates, refusals })
}

fn counts(config: &Campaign, result: CallResult) -> bool {
    match result {
        CallResult::Suppressed => false,
        CallResult::Congestion => config.rules.congestion_counts,
        _ => true,
    }
}

/// The zones whose windows apply to a dial, derived without the engine.
fn zones_for(config: &Campaign, contact: &Contact, number: &PhoneNumber) -> Vec<ZoneName> {
    if let Some(zone) = &contact.zone {
        return vec![zone.clone()];
    }
    let by_country = match number.country_code() {
        46 => Some("Europe/Stockholm"),
        358 => Some("Europe/Helsinki"),
        44 => Some("Europe/London"),
        _ => None,
    };
    if let Some(name) = by_country {
        return vec![zone(name)];
    }
    match &config.rules.unknown_zone {
        UnknownZone::Default(zone) => vec![zone.clone()],
        UnknownZone::AllOf(zones) => zones.clone(),
    }
}

fn local_date(config: &Campaign, contact: &Contact, number: &PhoneNumber, now: Timestamp) -> Date {
    let zones = zones_for(config, contact, number);
    zones[0].tz().to_datetime(now).date()
}

#[allow(clippy::too_many_arguments)]
fn check_dial(
    now: Timestamp,
    config: &Campaign,
    contact: &Contact,
    number: &PhoneNumber,
    kind: AttemptKind,
    reserved: bool,
    facts: &Known,
    inactive: &HashSet<ContactId>,
    dnc_numbers: &[(PhoneNumber, DncListId, Timestamp)],
    dnc_prefixes: &[(String, DncListId)],
) -> Result<(), String> {
    let table = config.rules.rule_set.table();
    let applies = |list: DncListId| list == DncListId(1) || config.rules.dnc_lists.contains(&list);
    if inactive.contains(&contact.id) {
        return Err("the contact is inactive".into());
    }
    if facts.closed {
        return Err("the contact was closed by a final outcome".into());
    }
    if dnc_numbers.iter().any(|(n, list, _)| n == number && applies(*list)) {
        return Err("the number is on a do-not-call list".into());
    }
    if dnc_prefixes
        .iter()
        .any(|(p, list)| number.digits().starts_with(p.as_str()) && applies(*list))
    {
        return Err("the number is in a do-not-call range".into());
    }
    if table.register_required.is_some() && config.rules.register_washed.is_none() {
        return Err("the register was not washed".into());
    }
    match kind {
        AttemptKind::Callback => {
            if facts.callbacks >= config.rules.max_callback_attempts {
                return Err("callback attempt limit".into());
            }
        }
        _ => {
            if facts.counted >= config.rules.max_attempts {
                return Err(format!("attempt limit {} reached", config.rules.max_attempts));
            }
        }
    }
    let regular = matches!(kind, AttemptKind::List | AttemptKind::Lead | AttemptKind::Preview);
    if regular
        && let Some((ended, delay)) = facts.last_end
        && now < ended + delay
    {
        return Err(format!("retry delay: ended {ended}, delay {delay:?}"));
    }
    if let Some(dropped) = facts.last_drop {
        match table.after_drop {
            AfterDrop::OneToOneCallback { after } => {
                if now < dropped + after {
                    return Err("within the lockout after a drop".into());
                }
                if !reserved {
                    return Err("a dropped contact redialed without an agent".into());
                }
            }
            AfterDrop::LockoutUnlessReserved { lockout } => {
                if now < dropped + lockout && !reserved {
                    return Err("within 72 h of a drop without an agent".into());
                }
            }
            AfterDrop::Nothing => {}
        }
    }
    if let (Some(lockout), Some(machine)) = (table.machine_lockout, facts.last_machine)
        && now < machine + lockout
        && !reserved
    {
        return Err("within 24 h of a machine without an agent".into());
    }
    for zone in zones_for(config, contact, number) {
        let local = zone.tz().to_datetime(now);
        if let Some((from, to)) = table.calling_hours
            && (local.time() < from || local.time() >= to)
        {
            return Err(format!("outside legal hours at {local} in {zone}"));
        }
        if config.rules.windows.check_local(local).is_err() {
            return Err(format!("outside the calling window at {local} in {zone}"));
        }
        if regular && let Some(cap) = config.rules.daily_cap() {
            let dials = facts.day_dials.get(&(number.to_string(), local.date())).copied();
            if dials.unwrap_or(0) >= cap {
                return Err(format!("daily cap {cap} reached"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_dial_breaks_a_rule_and_every_refusal_says_why(seed in any::<u64>()) {
        let report = run_case(seed, 3000);
        prop_assert!(report.is_ok(), "{}", report.err().unwrap_or_default());
    }
}

#[test]
fn the_property_covers_over_a_hundred_thousand_decisions() {
    let mut decisions = 0;
    let mut seed = 7;
    while decisions < 100_000 {
        let report = run_case(seed, 3000).unwrap_or_else(|why| panic!("{why}"));
        decisions += report.originates + report.refusals;
        seed += 1;
        assert!(seed < 400, "too few decisions per case: {decisions} after {seed} cases");
    }
}
