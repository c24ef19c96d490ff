//! A scripted world around the engine for behaviour tests: a contact source,
//! a clock the test moves, and a log of every command.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::contact::{Contact, DialHistory};
use ringa_core::{
    AgentId, CallId, CallResult, CampaignId, ContactId, DialMode, ListId, PhoneNumber, RuleSet,
    ZoneName,
};
use ringa_engine::{CallEvent, Command, ContactEntry, Engine, EngineConfig, Input};

pub(crate) struct World {
    pub(crate) engine: Engine,
    pub(crate) now: Timestamp,
    pub(crate) log: Vec<(Timestamp, Command)>,
    pub(crate) source: HashMap<CampaignId, VecDeque<ContactEntry>>,
    /// Contacts handed back by the engine, with the history journaled last.
    pub(crate) released: HashMap<(CampaignId, ContactId), (Option<Timestamp>, ContactEntry)>,
    histories: HashMap<ContactId, DialHistory>,
    entries: HashMap<ContactId, ContactEntry>,
}

pub(crate) fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamps are well formed")
}

pub(crate) fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::from_e164(e164).expect("test numbers are valid")
}

pub(crate) fn contact(id: u64, e164: &str) -> ContactEntry {
    let mut contact = Contact::with_numbers(ContactId(id), ListId(1), [number(e164)]);
    contact.name = Some(format!("Contact {id}"));
    ContactEntry::fresh(contact)
}

/// A campaign that may dial around the clock, with a caller-ID pool.
pub(crate) fn campaign(id: u64, mode: DialMode, rule_set: RuleSet) -> Campaign {
    let mut campaign = Campaign::new(CampaignId(id), "test", mode, rule_set);
    campaign.rules.windows = ringa_core::CallingWindows::always();
    campaign.rules.register_washed = Some(jiff::civil::date(2026, 11, 30));
    campaign.caller_ids = CallerIdPool {
        numbers: vec![
            CallerId { number: number("+46850000001"), daily_cap: None },
            CallerId { number: number("+46850000002"), daily_cap: None },
        ],
        rotation: Default::default(),
    };
    campaign
}

pub(crate) fn zone(name: &str) -> ZoneName {
    ZoneName::parse(name).expect("test zones exist")
}

impl World {
    pub(crate) fn new(start: Timestamp) -> World {
        World::with_config(start, EngineConfig::default())
    }

    pub(crate) fn with_config(start: Timestamp, config: EngineConfig) -> World {
        World {
            engine: Engine::new(config),
            now: start,
            log: Vec::new(),
            source: HashMap::new(),
            released: HashMap::new(),
            histories: HashMap::new(),
            entries: HashMap::new(),
        }
    }

    pub(crate) fn add_campaign(&mut self, campaign: Campaign, contacts: Vec<ContactEntry>) {
        for entry in &contacts {
            self.entries.insert(entry.contact.id, entry.clone());
        }
        self.source.insert(campaign.id, contacts.into());
        self.input(Input::Campaign { campaign: Box::new(campaign) });
    }

    pub(crate) fn login(&mut self, agent: u64, campaigns: &[u64]) {
        let campaigns = campaigns.iter().map(|c| CampaignId(*c)).collect();
        self.input(Input::AgentLogin { agent: AgentId(agent), campaigns });
        self.input(Input::AgentReady { agent: AgentId(agent) });
    }

    /// Gives the engine one input now and returns the commands it issued
    /// (contact requests are answered from the source at once).
    pub(crate) fn input(&mut self, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        let mut pending = VecDeque::from([input]);
        while let Some(input) = pending.pop_front() {
            self.engine.handle(self.now, input);
            while let Some(command) = self.engine.poll_command() {
                match &command {
                    Command::FetchContacts { campaign, want } => {
                        pending.push_back(self.fetch(*campaign, *want));
                    }
                    Command::History { contact, history } => {
                        self.histories.insert(*contact, (**history).clone());
                    }
                    Command::ContactReleased { campaign, contact, due } => {
                        if let Some(mut entry) = self.entries.get(contact).cloned() {
                            if let Some(history) = self.histories.get(contact) {
                                entry.history = history.clone();
                            }
                            self.released.insert((*campaign, *contact), (*due, entry));
                        }
                    }
                    _ => {}
                }
                self.log.push((self.now, command.clone()));
                out.push(command);
            }
        }
        out
    }

    fn fetch(&mut self, campaign: CampaignId, want: u32) -> Input {
        let now = self.now;
        let mut contacts = Vec::new();
        let due: Vec<(CampaignId, ContactId)> = self
            .released
            .iter()
            .filter(|((c, _), (due, _))| *c == campaign && due.is_some_and(|d| d <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            if let Some((_, entry)) = self.released.remove(&key) {
                contacts.push(entry);
            }
        }
        let source = self.source.entry(campaign).or_default();
        while contacts.len() < want as usize {
            match source.pop_front() {
                Some(entry) => contacts.push(entry),
                None => break,
            }
        }
        Input::Contacts { campaign, contacts, exhausted: source.is_empty() }
    }

    /// Moves the clock to `until`, waking the engine whenever it asked to
    /// be woken on the way.
    pub(crate) fn advance_to(&mut self, until: Timestamp) {
        while let Some(next) = self.engine.poll_timeout() {
            if next > until {
                break;
            }
            self.now = next;
            self.input(Input::Tick);
        }
        self.now = until;
        self.input(Input::Tick);
    }

    pub(crate) fn advance(&mut self, by: SignedDuration) {
        self.advance_to(self.now + by);
    }

    /// Moves the clock in fixed ticks, ignoring the engine's own timeouts
    /// (a driver that polls at its own rate).
    pub(crate) fn tick_every(&mut self, step: SignedDuration, until: Timestamp) {
        while self.now + step <= until {
            self.now += step;
            self.input(Input::Tick);
        }
    }

    pub(crate) fn call_event(&mut self, call: CallId, event: CallEvent) -> Vec<Command> {
        self.input(Input::Call { call, event })
    }

    pub(crate) fn fail(&mut self, call: CallId, result: CallResult, sip: u16) -> Vec<Command> {
        self.call_event(call, CallEvent::Failed { result, sip_code: Some(sip) })
    }

    /// Every `Originate` so far: (time, call, contact, number, caller ID).
    pub(crate) fn originates(&self) -> Vec<Originated> {
        self.log
            .iter()
            .filter_map(|(t, c)| match c {
                Command::Originate { call, contact, number, caller_id, agent, .. } => {
                    Some(Originated {
                        at: *t,
                        call: *call,
                        contact: *contact,
                        number: number.clone(),
                        caller_id: caller_id.clone(),
                        agent: *agent,
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// Calls placed and not ended yet.
    pub(crate) fn open_calls(&self) -> Vec<Originated> {
        let ended: std::collections::HashSet<CallId> = self
            .log
            .iter()
            .filter_map(|(_, c)| match c {
                Command::AttemptEnded { record } => Some(record.call),
                _ => None,
            })
            .collect();
        self.originates().into_iter().filter(|o| !ended.contains(&o.call)).collect()
    }

    pub(crate) fn last_originate(&self) -> Originated {
        self.originates().pop().expect("a call was placed")
    }

    pub(crate) fn refusals(&self) -> Vec<(ContactId, String)> {
        self.log
            .iter()
            .filter_map(|(_, c)| match c {
                Command::Refused { contact, code, .. } => Some((*contact, code.clone())),
                _ => None,
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Originated {
    pub(crate) at: Timestamp,
    pub(crate) call: CallId,
    pub(crate) contact: ContactId,
    pub(crate) number: PhoneNumber,
    pub(crate) caller_id: Option<PhoneNumber>,
    pub(crate) agent: Option<AgentId>,
}
