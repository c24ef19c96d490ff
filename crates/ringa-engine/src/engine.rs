//! The engine proper: the state it keeps and how each input changes it.

use std::collections::{BTreeSet, HashMap, VecDeque};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::Campaign;
use ringa_core::dnc::DncIndex;
use ringa_core::{AgentId, CallId, CallResult, CallbackId, CampaignId, ContactId, DialMode};
use ringa_pacer::{Pacer, PacerEvent, Progressive};
use tracing::{debug, info_span};

use crate::agent::{Agent, AgentState};
use crate::callback::{Callback, CallbackState};
use crate::io::{
    AnsweredBy, AttemptKind, AttemptRecord, CallEvent, Command, ContactEntry, DropReason, Input,
};
use crate::learned::{LEARNED_STATE_VERSION, LearnedPacer, LearnedState, LearnedStateError};
use crate::stats::{CampaignStats, DropLedger};
use dialing::REFETCH_AFTER;
pub use dialing::cannot_dial;

mod dialing;
mod inbound;
mod methods;
mod outcome;

/// Settings of the engine itself (campaign settings live in [`Campaign`]).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Seeds the engine's own random choices (caller IDs, "around" times,
    /// retry spread), so that a simulated day can be replayed exactly.
    pub seed: u64,
    /// Lines the trunk can carry at once, all campaigns together.
    pub trunk_lines: Option<u32>,
    /// Contacts the engine holds per campaign before asking for more.
    pub working_set: u32,
    /// How long an answered call waits for an agent when the rule set sets
    /// no limit of its own.
    pub max_queue_wait: SignedDuration,
    /// Contacts whose next dial is further away than this are handed back
    /// to the driver instead of being held in memory.
    pub release_after: SignedDuration,
    /// Spread each retry by up to this much at random, so that a list is
    /// not redialed in lockstep.
    pub retry_spread: SignedDuration,
    /// Predicted answers that a call far past its ring timeout still
    /// waits for before the engine cancels it itself.
    pub ring_grace: SignedDuration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 1,
            trunk_lines: None,
            working_set: 200,
            max_queue_wait: SignedDuration::from_secs(2),
            release_after: SignedDuration::from_hours(1),
            retry_spread: SignedDuration::ZERO,
            ring_grace: SignedDuration::from_secs(30),
        }
    }
}

/// Where a call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    /// Placed, not answered.
    Dialing,
    /// Answered by a person, waiting for an agent until the deadline.
    Waiting { deadline: Timestamp },
    /// Bridged to an agent.
    Connected { agent: AgentId },
}

/// A call the engine placed and has not finished with.
#[derive(Clone, Debug)]
struct Call {
    record: AttemptRecord,
    state: CallState,
    /// The agent held for this call (preview, progressive, power,
    /// one-to-one callbacks and redials).
    reserved: Option<AgentId>,
    callback: Option<CallbackId>,
    p_human: f64,
    ring_timeout: SignedDuration,
    /// The ring timeout was learned from the number's voicemail pickups
    /// (method 3) and is shorter than the campaign's.
    learned_ring: bool,
    /// When the far end picked up, if the driver said so before the verdict.
    picked_up_at: Option<Timestamp>,
    /// The agent already cancelled it; the telephony's end is awaited.
    cancelled: bool,
}

/// A contact the engine holds.
#[derive(Clone, Debug)]
struct Slot {
    entry: ContactEntry,
    /// A call to this contact is in flight, or a card shows it.
    busy: bool,
}

/// One campaign's working state.
struct CampaignRt {
    config: Campaign,
    active: bool,
    pacer: Box<dyn Pacer>,
    contacts: HashMap<ContactId, Slot>,
    leads: VecDeque<ContactId>,
    retries: VecDeque<ContactId>,
    fresh: VecDeque<ContactId>,
    parked: BTreeSet<(Timestamp, ContactId)>,
    /// The driver said it has no more contacts, at this time.
    exhausted_at: Option<Timestamp>,
    fetch_pending: bool,
    /// New contacts dialed on the campaign's local day.
    new_today: (Option<Date>, u32),
    /// Uses of each caller ID on the campaign's local day.
    caller_id_use: Vec<(Option<Date>, u32)>,
    ledger: DropLedger,
    stats: CampaignStats,
    /// No contacts are asked for before this time: the last batch held
    /// nothing that could be dialed now.
    fetch_after: Option<Timestamp>,
    /// Due times of contacts handed back to the driver: a fetch is due at
    /// the first of them.
    released: BTreeSet<(Timestamp, ContactId)>,
    /// A reason the whole campaign cannot dial (no caller ID, register not
    /// washed), reported once per change.
    blocked: Option<String>,
    /// Voicemail history per contact and ring time per number (methods 2
    /// and 3), learned while a method is on.
    voicemail: methods::VoicemailModels,
}

impl CampaignRt {
    fn queued(&self) -> usize {
        self.leads.len() + self.retries.len() + self.fresh.len()
    }
}

/// The dialer engine. See the crate documentation for the driving contract.
pub struct Engine {
    config: EngineConfig,
    now: Timestamp,
    campaigns: HashMap<CampaignId, CampaignRt>,
    /// Campaign ids in a stable order, so that runs are reproducible.
    campaign_order: Vec<CampaignId>,
    agents: HashMap<AgentId, Agent>,
    agent_order: Vec<AgentId>,
    calls: HashMap<CallId, Call>,
    callbacks: HashMap<CallbackId, Callback>,
    dnc: DncIndex,
    commands: VecDeque<Command>,
    /// Records of connected calls whose agent has not set an outcome yet.
    pending_outcomes: HashMap<CallId, AttemptRecord>,
    /// Inbound calls (customers calling back), from their arrival to the agent's outcome.
    inbound: HashMap<CallId, inbound::Inbound>,
    next_call: u64,
    next_attempt: u64,
    next_callback: u64,
    rng: SplitMix,
}

impl Engine {
    /// An engine with no campaigns and no agents.
    pub fn new(config: EngineConfig) -> Engine {
        let rng = SplitMix(config.seed ^ 0x5EED_0FD1_A1A1);
        Engine {
            config,
            now: Timestamp::UNIX_EPOCH,
            campaigns: HashMap::new(),
            campaign_order: Vec::new(),
            agents: HashMap::new(),
            agent_order: Vec::new(),
            calls: HashMap::new(),
            callbacks: HashMap::new(),
            dnc: DncIndex::new(),
            commands: VecDeque::new(),
            pending_outcomes: HashMap::new(),
            inbound: HashMap::new(),
            next_call: 1,
            next_attempt: 1,
            next_callback: 1,
            rng,
        }
    }

    /// Ids handed out from now on start above these (after a restart, so
    /// that journaled ids are not reused).
    pub fn set_id_floor(&mut self, call: u64, attempt: u64, callback: u64) {
        self.next_call = self.next_call.max(call.saturating_add(1));
        self.next_attempt = self.next_attempt.max(attempt.saturating_add(1));
        self.next_callback = self.next_callback.max(callback.saturating_add(1));
    }

    /// Chooses the pacer of a campaign (predictive mode). The default is
    /// progressive until one is set.
    pub fn set_pacer(&mut self, campaign: CampaignId, pacer: Box<dyn Pacer>) {
        if let Some(rt) = self.campaigns.get_mut(&campaign) {
            rt.pacer = pacer;
        }
    }

    /// Takes one input at time `now`. Time never runs backwards: an input
    /// older than the last one is taken as happening at the last time.
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        let now = now.max(self.now);
        self.now = now;
        let span = info_span!("engine_input", at = %now);
        let _guard = span.enter();
        match input {
            Input::Campaign { campaign } => self.on_campaign(*campaign),
            Input::CampaignActive { campaign, active } => {
                if let Some(rt) = self.campaigns.get_mut(&campaign) {
                    rt.active = active;
                    rt.fetch_after = None;
                }
            }
            Input::Contacts { campaign, contacts, exhausted } => {
                self.on_contacts(campaign, contacts, exhausted)
            }
            Input::Lead { campaign, entry } => self.on_lead(campaign, *entry),
            Input::Dnc { number, list } => self.on_dnc(number, list),
            Input::DncPrefix { prefix, list } => {
                let digits: String = prefix.chars().filter(char::is_ascii_digit).collect();
                if !digits.is_empty() {
                    self.dnc.add_prefix(list, &digits, Some(now));
                }
            }
            Input::CallbackChange { callback, request } => self.change_callback(callback, &request),
            Input::CallbackCancel { callback, reason } => self.cancel_callback(callback, &reason),
            Input::ContactInactive { contact } => self.on_contact_inactive(contact),
            Input::Callback { callback } => {
                self.next_callback = self.next_callback.max(callback.id.get().saturating_add(1));
                self.callbacks.insert(callback.id, *callback);
            }
            Input::AgentLogin { agent, campaigns } => self.on_login(agent, campaigns),
            Input::AgentReady { agent } => self.on_ready(agent),
            Input::AgentPause { agent, reason } => self.on_pause(agent, reason),
            Input::AgentLogout { agent } => self.on_logout(agent),
            Input::AgentCampaigns { agent, campaigns } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.campaigns = campaigns;
                }
            }
            Input::AgentLeavesAt { agent, at } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.leaves_at = at;
                }
            }
            Input::AgentDial { agent, number } => self.on_agent_dial(agent, number),
            Input::AgentSkip { agent } => self.on_agent_skip(agent),
            Input::AgentHangup { agent } => self.on_agent_hangup(agent),
            Input::AgentOutcome { agent, outcome, callback, note } => {
                self.on_outcome(agent, outcome, callback, note)
            }
            Input::ForceRelease { agent } => self.on_force_release(agent),
            Input::Call { call, event } => self.on_call_event(call, event),
            Input::InboundCall { call, campaign, caller, contact } => {
                self.on_inbound(call, campaign, caller, contact)
            }
            Input::Tick => {}
        }
        self.run();
    }

    /// The next command for the driver.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When the engine next wants a [`Input::Tick`] if nothing else happens.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = None;
        // Only future times: what is due now was handled by the last input.
        let mut consider = |at: Timestamp| {
            if at <= self.now {
                return;
            }
            if next.is_none_or(|n| at < n) {
                next = Some(at);
            }
        };
        for rt in self.campaigns.values() {
            if !rt.active {
                continue;
            }
            if let Some(&(at, _)) = rt.parked.first() {
                consider(at);
            }
            if let Some(cap) = rt.config.new_per_day
                && rt.new_today.1 >= cap
                && !rt.fresh.is_empty()
            {
                // New contacts may be dialed again from the next local day.
                consider(rt.next_local_midnight(self.now));
            }
            let hungry = (rt.queued() as u32) < self.config.working_set / 2;
            if hungry && !rt.fetch_pending {
                if let Some(&(at, _)) = rt.released.first() {
                    consider(at);
                }
                if let Some(at) = rt.exhausted_at {
                    consider(at + REFETCH_AFTER);
                }
                if let Some(at) = rt.fetch_after {
                    consider(at);
                }
            }
            if rt.config.mode == DialMode::Predictive
                && let Some(at) = rt.pacer.next_decision()
            {
                consider(at);
            }
        }
        for call in self.calls.values() {
            match call.state {
                CallState::Waiting { deadline } => consider(deadline),
                CallState::Dialing => {
                    consider(call.record.placed_at + call.ring_timeout + self.config.ring_grace)
                }
                CallState::Connected { .. } => {}
            }
        }
        for cb in self.callbacks.values() {
            if cb.state == CallbackState::Pending {
                consider(cb.due);
                if cb.owner.is_some() {
                    consider(cb.due + self.campaign_offer_delay(cb.campaign));
                }
            }
        }
        next
    }

    /// The current state of an agent.
    pub fn agent(&self, agent: AgentId) -> Option<&Agent> {
        self.agents.get(&agent)
    }

    /// All agents the engine knows, in login order.
    pub fn agents(&self) -> impl Iterator<Item = (AgentId, &Agent)> {
        self.agent_order.iter().filter_map(|id| self.agents.get(id).map(|a| (*id, a)))
    }

    /// A campaign's configuration.
    pub fn campaign(&self, campaign: CampaignId) -> Option<&Campaign> {
        self.campaigns.get(&campaign).map(|rt| &rt.config)
    }

    /// A campaign's counters.
    pub fn stats(&self, campaign: CampaignId) -> Option<&CampaignStats> {
        self.campaigns.get(&campaign).map(|rt| &rt.stats)
    }

    /// Live answers and drops in the campaign's rule-set window.
    pub fn drop_window(&self, campaign: CampaignId) -> Option<(f64, f64)> {
        self.campaigns.get(&campaign).map(|rt| (rt.ledger.live(), rt.ledger.drops()))
    }

    /// The pacer of a campaign.
    pub fn pacer(&self, campaign: CampaignId) -> Option<&dyn Pacer> {
        self.campaigns.get(&campaign).map(|rt| rt.pacer.as_ref())
    }

    /// What the campaign has learned so far (pacer models and voicemail
    /// models), for the owner to keep and give back after a restart with
    /// [`Engine::restore_learned_state`]. `None` for an unknown campaign.
    pub fn learned_state(&self, campaign: CampaignId) -> Option<LearnedState> {
        let rt = self.campaigns.get(&campaign)?;
        let pacer =
            rt.pacer.export_state().map(|state| LearnedPacer { name: rt.pacer.name(), state });
        Some(LearnedState {
            version: LEARNED_STATE_VERSION,
            pacer,
            voicemail: rt.voicemail.export(),
        })
    }

    /// Gives a campaign back what it learned before: after its
    /// [`Input::Campaign`] and its pacer ([`Engine::set_pacer`]). A state
    /// that does not fit (another version, another pacer, counts that are
    /// not numbers) is refused as a whole and the campaign keeps what it
    /// had.
    pub fn restore_learned_state(
        &mut self,
        campaign: CampaignId,
        state: LearnedState,
    ) -> Result<(), LearnedStateError> {
        let rt = self
            .campaigns
            .get_mut(&campaign)
            .ok_or(LearnedStateError::UnknownCampaign(campaign))?;
        if state.version != LEARNED_STATE_VERSION {
            return Err(LearnedStateError::Version {
                found: state.version,
                supported: LEARNED_STATE_VERSION,
            });
        }
        let voicemail =
            rt.voicemail.import(state.voicemail).map_err(LearnedStateError::Voicemail)?;
        if let Some(saved) = state.pacer {
            let running = rt.pacer.name();
            if saved.name != running {
                return Err(LearnedStateError::OtherPacer { saved: saved.name, running });
            }
            rt.pacer.import_state(saved.state).map_err(LearnedStateError::Pacer)?;
        }
        rt.voicemail = voicemail;
        Ok(())
    }

    /// Open callbacks.
    pub fn callbacks(&self) -> impl Iterator<Item = &Callback> {
        self.callbacks.values()
    }

    /// Calls connected to an agent since `before` or earlier: what the
    /// telephony must still carry. An owner checks them against its live
    /// calls and reports the ones it no longer has as hung up, so that no
    /// agent stays "in call" on a call that ended unheard.
    pub fn connected_calls(&self, before: Timestamp) -> Vec<CallId> {
        let mut calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.state, CallState::Connected { .. }))
            .filter(|(_, c)| c.record.connected_at.is_some_and(|at| at <= before))
            .map(|(id, _)| *id)
            .collect();
        calls.sort();
        calls
    }

    /// Calls in flight (placed and not ended).
    pub fn calls_in_flight(&self) -> usize {
        self.calls.len()
    }

    /// A contact's history as the engine holds it (while it holds it).
    pub fn contact_history(
        &self,
        campaign: CampaignId,
        contact: ContactId,
    ) -> Option<&ringa_core::DialHistory> {
        self.campaigns.get(&campaign)?.contacts.get(&contact).map(|s| &s.entry.history)
    }

    fn campaign_offer_delay(&self, campaign: CampaignId) -> SignedDuration {
        self.campaigns
            .get(&campaign)
            .map_or(SignedDuration::from_mins(10), |rt| rt.config.callbacks.offer_to_others_after)
    }

    fn emit(&mut self, command: Command) {
        self.commands.push_back(command);
    }

    // ----- configuration and contacts -------------------------------------

    fn on_campaign(&mut self, config: Campaign) {
        let id = config.id;
        let rules = config.rules.rule_set.table();
        let zone = match &config.rules.unknown_zone {
            ringa_core::zone::UnknownZone::Default(zone) => zone.clone(),
            ringa_core::zone::UnknownZone::AllOf(zones) => zones
                .first()
                .cloned()
                .unwrap_or_else(|| ringa_core::ZoneName::parse("UTC").expect("UTC exists")),
        };
        match self.campaigns.get_mut(&id) {
            Some(rt) => {
                rt.caller_id_use.resize(config.caller_ids.numbers.len(), (None, 0));
                rt.config = config;
                rt.fetch_after = None;
                rt.blocked = None;
            }
            None => {
                let caller_ids = config.caller_ids.numbers.len();
                self.campaign_order.push(id);
                self.campaigns.insert(
                    id,
                    CampaignRt {
                        config,
                        active: true,
                        pacer: Box::new(Progressive::new()),
                        contacts: HashMap::new(),
                        leads: VecDeque::new(),
                        retries: VecDeque::new(),
                        fresh: VecDeque::new(),
                        parked: BTreeSet::new(),
                        exhausted_at: None,
                        fetch_pending: false,
                        new_today: (None, 0),
                        caller_id_use: vec![(None, 0); caller_ids],
                        ledger: DropLedger::new(rules.drop_window, zone),
                        stats: CampaignStats::default(),
                        fetch_after: None,
                        released: BTreeSet::new(),
                        blocked: None,
                        voicemail: methods::VoicemailModels::default(),
                    },
                );
            }
        }
    }

    fn on_contacts(&mut self, campaign: CampaignId, contacts: Vec<ContactEntry>, exhausted: bool) {
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        rt.fetch_pending = false;
        rt.exhausted_at = exhausted.then_some(self.now);
        for entry in contacts {
            let id = entry.contact.id;
            if rt.contacts.contains_key(&id) {
                continue;
            }
            if entry.history.attempts > 0 {
                rt.retries.push_back(id);
            } else {
                rt.fresh.push_back(id);
            }
            rt.contacts.insert(id, Slot { entry, busy: false });
        }
    }

    fn on_lead(&mut self, campaign: CampaignId, entry: ContactEntry) {
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        let id = entry.contact.id;
        if let Some(slot) = rt.contacts.get_mut(&id) {
            slot.entry.contact.lead = true;
        } else {
            rt.contacts.insert(id, Slot { entry, busy: false });
        }
        rt.leads.push_back(id);
    }

    fn on_contact_inactive(&mut self, contact: ContactId) {
        for rt in self.campaigns.values_mut() {
            if let Some(slot) = rt.contacts.get_mut(&contact) {
                slot.entry.contact.active = false;
            }
        }
        let reason = "contact deactivated or erased".to_string();
        self.cancel_callbacks_of(contact, &reason);
    }

    // ----- agents -----------------------------------------------------------

    fn on_login(&mut self, agent: AgentId, campaigns: Vec<CampaignId>) {
        let now = self.now;
        match self.agents.get_mut(&agent) {
            Some(a) if a.state != AgentState::LoggedOut => {
                a.campaigns = campaigns;
            }
            Some(a) => {
                a.campaigns = campaigns;
                a.enter(now, AgentState::Paused { reason: "login".to_string() });
                self.emit_state(agent);
            }
            None => {
                self.agents.insert(agent, Agent::new(now, campaigns));
                self.agent_order.push(agent);
                self.emit_state(agent);
            }
        }
    }

    fn on_ready(&mut self, agent: AgentId) {
        let Some(a) = self.agents.get(&agent) else { return };
        match &a.state {
            AgentState::Paused { .. } => self.set_ready(agent),
            AgentState::Ready => {}
            AgentState::WrapUp { .. } => self.reject(agent, "set an outcome before going ready"),
            other => {
                let reason = format!("cannot go ready while {other}");
                self.reject(agent, &reason);
            }
        }
    }

    fn set_ready(&mut self, agent: AgentId) {
        let now = self.now;
        if let Some(a) = self.agents.get_mut(&agent) {
            a.enter(now, AgentState::Ready);
            a.ready_since = Some(now);
            a.last_call = None;
        }
        self.emit_state(agent);
    }

    fn on_pause(&mut self, agent: AgentId, reason: String) {
        let now = self.now;
        let Some(a) = self.agents.get_mut(&agent) else { return };
        match &a.state {
            AgentState::Ready | AgentState::Paused { .. } => {
                a.enter(now, AgentState::Paused { reason });
                a.ready_since = None;
                self.emit_state(agent);
            }
            AgentState::Reserved { call: None, campaign, contact } => {
                // A preview card nobody dialed yet goes back to the queue.
                let (campaign, contact) = (*campaign, *contact);
                a.enter(now, AgentState::Paused { reason });
                a.ready_since = None;
                self.release_card(campaign, contact);
                self.emit(Command::ClearCard { agent });
                self.emit_state(agent);
            }
            AgentState::InCall { .. } | AgentState::WrapUp { .. } | AgentState::Reserved { .. } => {
                // Taken as soon as the call is done, instead of the next customer.
                a.pause_after = Some(reason);
            }
            AgentState::LoggedOut => self.reject(agent, "log in first"),
        }
    }

    fn on_logout(&mut self, agent: AgentId) {
        let now = self.now;
        let Some(a) = self.agents.get(&agent) else { return };
        match a.state.clone() {
            AgentState::InCall { .. } | AgentState::Reserved { call: Some(_), .. } => {
                self.reject(agent, "cannot log out during a call");
            }
            AgentState::WrapUp { .. } => {
                // The attempt needs its outcome: leaving now would strand it.
                self.reject(agent, "set the outcome before logging out");
            }
            AgentState::Reserved { call: None, campaign, contact } => {
                self.release_card(campaign, contact);
                self.emit(Command::ClearCard { agent });
                self.logout_now(agent, now);
            }
            _ => self.logout_now(agent, now),
        }
    }

    fn logout_now(&mut self, agent: AgentId, now: Timestamp) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.enter(now, AgentState::LoggedOut);
            a.ready_since = None;
        }
        self.emit_state(agent);
    }

    fn emit_state(&mut self, agent: AgentId) {
        if let Some(a) = self.agents.get(&agent) {
            let command = Command::AgentState { agent, state: a.state.clone(), at: self.now };
            self.emit(command);
        }
    }

    fn reject(&mut self, agent: AgentId, reason: &str) {
        self.emit(Command::Rejected { agent, reason: reason.to_string() });
    }

    fn on_agent_dial(&mut self, agent: AgentId, number: usize) {
        let Some(a) = self.agents.get(&agent) else { return };
        let AgentState::Reserved { campaign, contact, call: None } = a.state else {
            self.reject(agent, "no card waiting to be dialed");
            return;
        };
        let callback = self
            .callbacks
            .values()
            .find(|cb| {
                cb.contact == contact
                    && cb.state == CallbackState::Dialing
                    && cb.owner == Some(agent)
            })
            .map(|cb| cb.id);
        let kind = if callback.is_some() { AttemptKind::Callback } else { AttemptKind::Preview };
        match self.try_originate(campaign, contact, Some(number), kind, Some(agent), callback) {
            Ok(_) => {}
            Err(refusal) => {
                let reason = format!("this number may not be dialed now: {refusal}");
                self.reject(agent, &reason);
            }
        }
    }

    fn on_agent_skip(&mut self, agent: AgentId) {
        let Some(a) = self.agents.get(&agent) else { return };
        let AgentState::Reserved { campaign, contact, call: None } = a.state else {
            self.reject(agent, "no undialed card to close");
            return;
        };
        self.release_card(campaign, contact);
        self.emit(Command::ClearCard { agent });
        self.set_ready(agent);
    }

    /// A card that was shown but not dialed goes back to its queue.
    fn release_card(&mut self, campaign: CampaignId, contact: ContactId) {
        let now = self.now;
        // A callback card goes back to its callback.
        for cb in self.callbacks.values_mut() {
            if cb.contact == contact && cb.state == CallbackState::Dialing {
                cb.state = CallbackState::Pending;
                cb.due = now + SignedDuration::from_mins(5);
            }
        }
        if let Some(rt) = self.campaigns.get_mut(&campaign)
            && let Some(slot) = rt.contacts.get_mut(&contact)
        {
            slot.busy = false;
            rt.parked.insert((now + SignedDuration::from_mins(10), contact));
        }
    }

    fn on_agent_hangup(&mut self, agent: AgentId) {
        let Some(a) = self.agents.get(&agent) else { return };
        match a.state.clone() {
            AgentState::InCall { call, .. } => {
                self.emit(Command::Hangup { call });
                self.end_connected(call, false);
            }
            AgentState::Reserved { call: Some(call), .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.cancelled = true;
                }
                self.emit(Command::Cancel { call });
            }
            _ => self.reject(agent, "no call to hang up"),
        }
    }

    fn on_force_release(&mut self, agent: AgentId) {
        let Some(a) = self.agents.get(&agent) else { return };
        match a.state.clone() {
            AgentState::InCall { call, .. } => {
                self.emit(Command::Hangup { call });
                self.end_connected(call, false);
            }
            AgentState::Reserved { call: Some(call), .. } => {
                self.emit(Command::Cancel { call });
                self.finish_unanswered(call, CallResult::Interrupted, None);
            }
            AgentState::Reserved { call: None, campaign, contact } => {
                self.release_card(campaign, contact);
                self.emit(Command::ClearCard { agent });
                self.set_ready(agent);
            }
            _ => {}
        }
    }

    // ----- calls ------------------------------------------------------------

    fn on_call_event(&mut self, call: CallId, event: CallEvent) {
        let Some(c) = self.calls.get(&call) else {
            debug!(%call, "event for a call the engine no longer tracks");
            return;
        };
        let span = info_span!("call", call_id = %call, campaign_id = %c.record.campaign);
        let _guard = span.enter();
        match (c.state, event) {
            (_, CallEvent::Ringing) => {}
            (CallState::Dialing, CallEvent::PickedUp) => {
                let now = self.now;
                let Some(c) = self.calls.get_mut(&call) else { return };
                if c.picked_up_at.is_none() {
                    c.picked_up_at = Some(now);
                    let after = now.duration_since(c.record.placed_at);
                    if let Some(rt) = self.campaigns.get_mut(&c.record.campaign) {
                        rt.pacer.observe(now, &PacerEvent::PickedUp { call, after });
                    }
                }
            }
            (CallState::Dialing, CallEvent::Failed { result, sip_code }) => {
                let result = match result {
                    CallResult::NoAnswer if c.cancelled => CallResult::AgentCancelled,
                    // Rang out on a timeout set just below the number's
                    // voicemail pickup: voicemail avoided, not unanswered.
                    CallResult::NoAnswer if c.learned_ring => CallResult::AvoidedVoicemail,
                    other => other,
                };
                self.finish_unanswered(call, result, sip_code);
            }
            (CallState::Dialing, CallEvent::Answered { by }) => self.on_answered(call, by),
            (CallState::Waiting { .. }, CallEvent::HungUp { .. })
            | (CallState::Waiting { .. }, CallEvent::Failed { .. }) => {
                // The customer gave up before an agent came: a drop.
                self.finish_drop(call, false);
            }
            (CallState::Connected { .. }, CallEvent::HungUp { .. })
            | (CallState::Connected { .. }, CallEvent::Failed { .. }) => {
                self.end_connected(call, true);
            }
            (state, event) => {
                debug!(?state, ?event, "call event that does not fit the call's state");
            }
        }
    }

    fn on_answered(&mut self, call: CallId, by: AnsweredBy) {
        let now = self.now;
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.record.answered_at = Some(now);
        let campaign = c.record.campaign;
        let reserved = c.reserved;
        let (answered_after, p_human) = (now.duration_since(c.record.placed_at), c.p_human);
        let _ = p_human;
        let rang = c.picked_up_at.unwrap_or(now).duration_since(c.record.placed_at);
        let Some(rt) = self.campaigns.get_mut(&campaign) else { return };
        let amd_on = rt.config.amd || c.record.amd;
        if rt.config.amd_methods.ring_time {
            // Only noted: the verdict alone decides what happens to the call.
            rt.voicemail.note_ring(call, rang);
        }

        if by == AnsweredBy::Machine && amd_on {
            rt.stats.machines += 1;
            if rt.config.rules.rule_set.table().count_amd_false_positives {
                let estimate = rt.config.amd_false_positive_estimate;
                rt.ledger.record(now, estimate, estimate);
            }
            rt.pacer.observe(
                now,
                &PacerEvent::Unanswered {
                    call,
                    result: CallResult::Machine,
                    after: answered_after,
                },
            );
            self.emit(Command::Drop { call, reason: DropReason::Machine, message: false });
            self.finish_unanswered(call, CallResult::Machine, Some(200));
            return;
        }

        rt.pacer.observe(now, &PacerEvent::Answered { call, after: answered_after });
        let table = rt.config.rules.rule_set.table();
        let wait = table.connect_within.unwrap_or(self.config.max_queue_wait);
        let agent = match reserved {
            Some(agent) => Some(agent),
            None => self.pick_free_agent(campaign),
        };
        match agent {
            Some(agent) => self.connect(call, agent),
            None => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Waiting { deadline: now + wait };
                }
            }
        }
    }

    /// The ready agent of `campaign` who has waited longest.
    fn pick_free_agent(&self, campaign: CampaignId) -> Option<AgentId> {
        self.agent_order
            .iter()
            .filter_map(|id| self.agents.get(id).map(|a| (*id, a)))
            .filter(|(_, a)| a.state == AgentState::Ready && a.campaigns.contains(&campaign))
            .min_by_key(|(_, a)| a.ready_since.unwrap_or(a.since))
            .map(|(id, _)| id)
    }

    fn connect(&mut self, call: CallId, agent: AgentId) {
        let now = self.now;
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.state = CallState::Connected { agent };
        c.record.connected_at = Some(now);
        c.record.agent = Some(agent);
        let campaign = c.record.campaign;
        let waited = c.record.answered_at.map_or(SignedDuration::ZERO, |at| now.duration_since(at));
        let showed_card = c.reserved == Some(agent);
        let record = c.record.clone();
        let contact = self.contact_of(call, &record);
        let inbound = self.inbound.contains_key(&call);

        let Some(a) = self.agents.get_mut(&agent) else { return };
        let ready_wait = a.ready_since.map(|at| now.duration_since(at).as_secs_f64());
        a.ready_since = None;
        a.enter(now, AgentState::InCall { campaign, contact, call });
        a.last_call = Some(call);
        if let Some(rt) = self.campaigns.get_mut(&campaign)
            && inbound
        {
            // Not one of the dialer's answers: kept out of the drop ledger and the pacer's
            // answer statistics (the agent is busy all the same, as its state says).
            rt.stats.inbound_connected += 1;
        } else if let Some(rt) = self.campaigns.get_mut(&campaign) {
            rt.stats.live_answers += 1;
            rt.stats.connects += 1;
            if let Some(wait) = ready_wait {
                rt.stats.waits.push(wait);
            }
            rt.ledger.record(now, 1.0, 0.0);
            rt.pacer.observe(now, &PacerEvent::Connected { call, agent, waited });
        }
        self.emit(Command::Connect { call, agent });
        if !showed_card && let Some(contact) = contact {
            self.emit(Command::ShowCard {
                agent,
                campaign,
                contact,
                call: Some(call),
                preview: false,
            });
        }
        self.emit_state(agent);
        // Power mode: the agent's other lines are no longer needed.
        let others: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(id, c)| {
                **id != call && c.reserved == Some(agent) && c.state == CallState::Dialing
            })
            .map(|(id, _)| *id)
            .collect();
        for other in others {
            if let Some(c) = self.calls.get_mut(&other) {
                c.reserved = None;
                c.cancelled = true;
            }
            self.emit(Command::Cancel { call: other });
        }
    }

    /// A connected call ended.
    fn end_connected(&mut self, call: CallId, _by_far_end: bool) {
        let now = self.now;
        let Some(c) = self.calls.remove(&call) else { return };
        let CallState::Connected { agent } = c.state else {
            self.calls.insert(call, c);
            return;
        };
        let mut record = c.record;
        record.ended_at = Some(now);
        record.result = Some(CallResult::Connected);
        let campaign = record.campaign;
        let contact = self.contact_of(call, &record);
        let inbound = self.inbound.contains_key(&call);
        let talk = record.connected_at.map_or(SignedDuration::ZERO, |at| now.duration_since(at));
        if let Some(rt) = self.campaigns.get_mut(&campaign) {
            if !inbound {
                rt.stats.count_result(CallResult::Connected);
            }
            rt.pacer.observe(now, &PacerEvent::TalkEnded { agent, talk });
        }
        if contact.is_some() {
            self.emit(Command::AttemptEnded { record: Box::new(record.clone()) });
        }
        if let Some(a) = self.agents.get_mut(&agent)
            && matches!(a.state, AgentState::InCall { call: c, .. } if c == call)
        {
            a.enter(now, AgentState::WrapUp { campaign, contact, call });
        }
        self.emit_state(agent);
        self.pending_outcomes.insert(call, record);
        if let Some(cb) = c.callback
            && let Some(cb) = self.callbacks.get_mut(&cb)
        {
            cb.state = CallbackState::Done;
        }
        // The contact stays busy until the agent's outcome.
    }
}

/// A tiny deterministic random generator (SplitMix64), enough for the
/// engine's few random choices and free of any global state.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
