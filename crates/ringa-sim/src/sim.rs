//! The discrete-event driver: simulated customers, agents and lines on
//! virtual time around the real engine, talking to it only through its
//! `Input`s and `Command`s.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringa_core::contact::{Contact, DialHistory};
use ringa_core::{
    AgentId, CallId, CallResult, CampaignId, ContactId, DialMode, ListId, OutcomeCode,
};
use ringa_engine::{
    AgentState, AnsweredBy, CallEvent, CallbackRequest, Command, ContactEntry, DropReason, Engine,
    EngineConfig, Input,
};
use ringa_pacer::Pacer;

use crate::dist::Dist;
use crate::fate::{CallContext, ContactTraits, Fate, FateKind, FateOracle, fate_of};
use crate::report::{LiveLedger, Report, quantile};
use crate::scenario::Scenario;

/// The one campaign a scenario runs, unless given another.
const CAMPAIGN: CampaignId = CampaignId(1);

/// Where a simulation's contacts come from and where its journal goes when
/// they are not the simulator's own generated population: a store, say.
/// The simulator still draws each call's fate; the book only supplies the
/// contacts and records what the engine commanded.
pub trait ContactBook {
    /// Up to `want` contacts of `campaign` that may be dialed at `now`, and
    /// whether the book has run out for now.
    fn fetch(
        &mut self,
        now: Timestamp,
        campaign: CampaignId,
        want: u32,
    ) -> (Vec<ContactEntry>, bool);

    /// Every command of one engine step, before the simulator carries them
    /// out. Returns the calls that must not be placed (their attempt could
    /// not be recorded); the simulator fails them as suppressed.
    fn journal(&mut self, now: Timestamp, engine: &Engine, commands: &[Command]) -> Vec<CallId>;
}

/// How far a run is, for progress displays.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Share of the simulated time done, 0 to 1.
    pub done: f64,
    /// Drops over live answers so far.
    pub drop_rate: f64,
    /// Talk and wrap-up over the agents' working time so far.
    pub utilization: f64,
    pub placed: u64,
    pub connects: u64,
}

/// Where a simulated call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Ringing,
    /// Answered, no agent yet.
    Waiting,
    Connected(AgentId),
}

#[derive(Clone, Debug)]
struct SimCall {
    fate: Fate,
    phase: Phase,
    reserved: Option<AgentId>,
    outcome: Option<usize>,
}

/// A contact as the simulated list holds it.
#[derive(Clone, Debug)]
struct SimContact {
    contact: Contact,
    history: DialHistory,
    multiplier: f64,
    traits: Option<ContactTraits>,
}

/// Why an agent is about to stop taking calls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Leave {
    Break { minutes: f64 },
    Logout,
}

#[derive(Clone, Debug)]
struct SimAgent {
    state: AgentState,
    pending: Option<Leave>,
    /// Preview: a click was sent and its call not yet seen.
    clicked: bool,
    lines: u32,
}

#[derive(Clone, Debug)]
enum EvKind {
    /// The call's fate comes due: answer or failure.
    Resolve(CallId),
    /// The far end picks up; detection's verdict (`Resolve`) follows.
    PickUp(CallId),
    /// A waiting caller gives up.
    Patience(CallId),
    TalkEnd(CallId),
    /// The agent sets the outcome (`None`: answering machine).
    WrapEnd {
        agent: AgentId,
        outcome: Option<usize>,
    },
    PreviewClick {
        agent: AgentId,
        contact: ContactId,
    },
    Login(AgentId),
    Notice {
        agent: AgentId,
        at: Timestamp,
    },
    Leave {
        agent: AgentId,
        leave: Leave,
    },
    BreakEnd(AgentId),
}

#[derive(Clone, Debug)]
struct Ev {
    at: Timestamp,
    seq: u64,
    kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ev {
    fn cmp(&self, other: &Self) -> Ordering {
        // The heap is a max-heap: earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// An outcome agents may set, with its share and talk time.
#[derive(Clone, Debug)]
struct OutcomeChoice {
    code: OutcomeCode,
    cumulative: f64,
    talk: Dist,
    callback: bool,
}

/// Counters that only the simulator sees.
#[derive(Clone, Debug, Default)]
struct Tally {
    originates: u64,
    agent_dials: u64,
    originates_without_click: u64,
    connects_to_unavailable: u64,
    machines_to_agents: u64,
    machine_agent_s: f64,
    amd_false_positives: u64,
    voicemail_rang_out: u64,
    people_rang_out: u64,
    rejected: u64,
    rejected_reasons: Vec<String>,
    contacts_used: u64,
    contacts_closed: u64,
    max_lines_per_agent: u32,
    max_lines_per_working: f64,
}

/// One simulated run of a scenario.
pub struct Simulation {
    scenario: Scenario,
    campaign: CampaignId,
    book: Option<Box<dyn ContactBook>>,
    seed: u64,
    engine: Engine,
    pacer_name: String,
    tz: TimeZone,
    start: Timestamp,
    mode: DialMode,
    amd: bool,
    outcomes: Vec<OutcomeChoice>,
    rng: ChaCha8Rng,
    population_rng: ChaCha8Rng,
    /// Draws each contact's own habits (`[voicemail]`), apart from the
    /// other streams so that scenarios without them are unchanged.
    traits_rng: ChaCha8Rng,
    heap: BinaryHeap<Ev>,
    seq: u64,
    calls: HashMap<CallId, SimCall>,
    contacts: HashMap<ContactId, SimContact>,
    released: BinaryHeap<std::cmp::Reverse<(Timestamp, ContactId)>>,
    next_contact: u64,
    agents: Vec<SimAgent>,
    last_attempt: (CallId, u32),
    pending: VecDeque<Input>,
    /// Agents with a pending break or logout whose state changed.
    leave_checks: Vec<AgentId>,
    oracle: Option<FateOracle>,
    ledger: LiveLedger,
    tally: Tally,
    connected_machine: HashMap<CallId, f64>,
}

impl Simulation {
    /// A simulation of `scenario` whose predictive campaign uses `pacer`
    /// (other modes ignore it), fully determined by `seed`.
    pub fn new(scenario: &Scenario, pacer: Box<dyn Pacer>, seed: u64) -> Simulation {
        Simulation::with_campaign(scenario, scenario.campaign(CAMPAIGN), pacer, seed)
    }

    /// A simulation of `scenario`'s floor and population working
    /// `campaign` (its id, dial mode, rules, outcomes and caller IDs)
    /// instead of the campaign the scenario describes.
    pub fn with_campaign(
        scenario: &Scenario,
        campaign: ringa_core::campaign::Campaign,
        pacer: Box<dyn Pacer>,
        seed: u64,
    ) -> Simulation {
        let zone = scenario.zone().unwrap_or_else(|_| {
            ringa_core::ZoneName::parse("UTC").expect("UTC is in the zone database")
        });
        let tz = zone.tz();
        let start = tz
            .to_ambiguous_timestamp(scenario.run.start)
            .compatible()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let engine = Engine::new(EngineConfig {
            seed,
            trunk_lines: scenario.telephony.lines,
            ..EngineConfig::default()
        });
        let campaign_id = campaign.id;
        let total: f64 = scenario.agents.outcomes.values().sum();
        let mut cumulative = 0.0;
        let outcomes = scenario
            .agents
            .outcomes
            .iter()
            .map(|(code, share)| {
                cumulative += share / total;
                OutcomeChoice {
                    code: OutcomeCode::new(code),
                    cumulative,
                    talk: scenario
                        .agents
                        .talk_by_outcome
                        .get(code)
                        .cloned()
                        .unwrap_or_else(|| scenario.agents.talk.clone()),
                    callback: campaign.outcome(code).is_some_and(|d| d.callback),
                }
            })
            .collect();
        let pacer_name = if campaign.mode == DialMode::Predictive {
            pacer.name()
        } else {
            campaign.mode.as_str().to_string()
        };
        let mut sim = Simulation {
            scenario: scenario.clone(),
            campaign: campaign_id,
            book: None,
            seed,
            engine,
            pacer_name,
            tz,
            start,
            mode: campaign.mode,
            amd: campaign.amd,
            outcomes,
            rng: ChaCha8Rng::seed_from_u64(seed),
            population_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0C0A_7AC7),
            traits_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7A17_5EED),
            heap: BinaryHeap::new(),
            seq: 0,
            calls: HashMap::new(),
            contacts: HashMap::new(),
            released: BinaryHeap::new(),
            next_contact: 1,
            agents: Vec::new(),
            last_attempt: (CallId(0), 1),
            pending: VecDeque::new(),
            leave_checks: Vec::new(),
            oracle: None,
            ledger: LiveLedger::default(),
            tally: Tally::default(),
            connected_machine: HashMap::new(),
        };
        sim.engine.handle(start, Input::Campaign { campaign: Box::new(campaign) });
        sim.engine.set_pacer(campaign_id, pacer);
        sim.drain(start);
        sim
    }

    /// A simulation whose pacer is built with a [`FateOracle`] onto the
    /// calls' fates (for the clairvoyant reference pacer).
    pub fn with_oracle(
        scenario: &Scenario,
        seed: u64,
        make_pacer: impl FnOnce(FateOracle) -> Box<dyn Pacer>,
    ) -> Simulation {
        let oracle = FateOracle::new();
        let mut sim = Simulation::new(scenario, make_pacer(oracle.clone()), seed);
        sim.oracle = Some(oracle);
        sim
    }

    /// The oracle of the fates of calls in flight, shared from now on.
    pub fn oracle(&mut self) -> FateOracle {
        self.oracle.get_or_insert_with(FateOracle::new).clone()
    }

    /// Takes the contacts from `book` and journals every command to it,
    /// instead of the generated population.
    pub fn set_book(&mut self, book: Box<dyn ContactBook>) {
        self.book = Some(book);
        // The engine asked for contacts as it started: what the generator
        // handed out then is taken back and asked of the book instead.
        let mut refetch = Vec::new();
        self.pending.retain(|input| match input {
            Input::Contacts { campaign, contacts, .. } => {
                refetch.push((*campaign, contacts.len() as u32));
                false
            }
            _ => true,
        });
        self.contacts.clear();
        self.next_contact = 1;
        for (campaign, want) in refetch {
            let (contacts, exhausted) = self.fetch(self.start, want);
            self.pending.push_back(Input::Contacts { campaign, contacts, exhausted });
        }
    }

    /// The engine, for figures after a run.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `days` simulated days, calling `progress` with the share done
    /// (0–1) now and then, and returns the figures.
    pub fn run(&mut self, days: u32, mut progress: impl FnMut(f64)) -> Report {
        self.run_observed(days, |p| progress(p.done))
    }

    /// [`Simulation::run`] with the live drop rate and utilization in each
    /// progress call.
    pub fn run_observed(&mut self, days: u32, mut progress: impl FnMut(Progress)) -> Report {
        let wall = Instant::now();
        let days = days.max(1);
        let end = self.schedule(days);
        let span = end.duration_since(self.start).as_secs_f64().max(1.0);
        let mut now = self.start;
        let mut last_progress = 0.0;
        progress(Progress::default());
        loop {
            let ev_at = self.heap.peek().map(|e| e.at);
            let timeout = self.engine.poll_timeout();
            let next = match (ev_at, timeout) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            now = next.max(now);
            if ev_at == Some(next) {
                let ev = self.heap.pop().expect("peeked just above");
                self.process(now, ev.kind);
            } else {
                self.send(now, Input::Tick);
            }
            self.flush(now);
            let done = now.duration_since(self.start).as_secs_f64() / span;
            if done - last_progress >= 0.01 {
                last_progress = done;
                progress(self.progress(now, done.min(1.0)));
            }
        }
        progress(self.progress(end, 1.0));
        self.report(days, end, wall.elapsed().as_secs_f64())
    }

    fn progress(&self, now: Timestamp, done: f64) -> Progress {
        let stats = self.engine.stats(self.campaign).cloned().unwrap_or_default();
        let (mut working, mut busy) = (0.0, 0.0);
        for (_, agent) in self.engine.agents() {
            let times = agent.times_at(now);
            working += times.logged_in() - times.paused;
            busy += times.in_call + times.wrap_up;
        }
        Progress {
            done,
            drop_rate: stats.drop_rate(),
            utilization: if working > 0.0 { busy / working } else { 0.0 },
            placed: stats.placed,
            connects: stats.connects,
        }
    }

    /// Schedules every agent's days; returns when the run ends.
    fn schedule(&mut self, days: u32) -> Timestamp {
        let spec = self.scenario.agents.clone();
        let shifts: Vec<(u32, f64, f64)> = if spec.shifts.is_empty() {
            vec![(spec.count, 0.0, self.scenario.run.hours_per_day)]
        } else {
            spec.shifts.iter().map(|s| (s.count, s.start_hour, s.hours)).collect()
        };
        let total: u32 = shifts.iter().map(|s| s.0).sum();
        self.agents = (0..total)
            .map(|_| SimAgent {
                state: AgentState::LoggedOut,
                pending: None,
                clicked: false,
                lines: 0,
            })
            .collect();
        let notice = SignedDuration::from_secs_f64(spec.break_notice_minutes * 60.0);
        let mut end = self.start;
        for day in 0..days {
            let date = self.scenario.run.start.date() + jiff::Span::new().days(i64::from(day));
            let day_start = self
                .tz
                .to_ambiguous_timestamp(date.to_datetime(self.scenario.run.start.time()))
                .compatible()
                .unwrap_or(self.start);
            let mut index = 0u32;
            for &(count, start_hour, hours) in &shifts {
                for _ in 0..count {
                    let agent = AgentId(u64::from(index) + 1);
                    let login = day_start + secs(start_hour * 3600.0);
                    let logout = login + secs(hours * 3600.0);
                    end = end.max(logout);
                    self.push(login, EvKind::Login(agent));
                    for b in &spec.breaks {
                        let offset = b.stagger_minutes * 60.0 * f64::from(index);
                        let at = login + secs(b.after_hours * 3600.0 + offset);
                        if at >= logout {
                            continue;
                        }
                        self.push(at - notice, EvKind::Notice { agent, at });
                        let leave = Leave::Break { minutes: b.minutes };
                        self.push(at, EvKind::Leave { agent, leave });
                    }
                    self.push(logout - notice, EvKind::Notice { agent, at: logout });
                    self.push(logout, EvKind::Leave { agent, leave: Leave::Logout });
                    index += 1;
                }
            }
        }
        // Calls in flight at the last logout are allowed to finish.
        end + SignedDuration::from_mins(30)
    }

    fn push(&mut self, at: Timestamp, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Ev { at, seq: self.seq, kind });
    }

    fn send(&mut self, now: Timestamp, input: Input) {
        self.engine.handle(now, input);
        self.drain(now);
    }

    fn drain(&mut self, now: Timestamp) {
        let mut batch = Vec::new();
        while let Some(command) = self.engine.poll_command() {
            batch.push(command);
        }
        if batch.is_empty() {
            return;
        }
        let suppressed = match self.book.as_mut() {
            Some(book) => book.journal(now, &self.engine, &batch),
            None => Vec::new(),
        };
        for command in batch {
            if let Command::Originate { call, .. } = &command
                && suppressed.contains(call)
            {
                let event = CallEvent::Failed { result: CallResult::Suppressed, sip_code: None };
                self.pending.push_back(Input::Call { call: *call, event });
                continue;
            }
            self.react(now, command);
        }
    }

    /// Sends the inputs queued by reactions, then carries out breaks and
    /// logouts that wait for their agent, judged on the agents' states once
    /// the engine has settled (an agent seen ready mid-way may already have
    /// been given the next call).
    fn flush(&mut self, now: Timestamp) {
        loop {
            while let Some(input) = self.pending.pop_front() {
                self.send(now, input);
            }
            if self.leave_checks.is_empty() {
                return;
            }
            let agents = std::mem::take(&mut self.leave_checks);
            for agent in agents {
                let Some(state) = self.agent_mut(agent).map(|a| a.state.clone()) else {
                    continue;
                };
                self.try_leave(agent, &state);
            }
        }
    }

    fn agent_mut(&mut self, agent: AgentId) -> Option<&mut SimAgent> {
        let idx = usize::try_from(agent.get()).ok()?.checked_sub(1)?;
        self.agents.get_mut(idx)
    }

    fn end_call(&mut self, call: CallId) {
        if let Some(c) = self.calls.remove(&call)
            && let Some(agent) = c.reserved
            && let Some(a) = self.agent_mut(agent)
        {
            a.lines = a.lines.saturating_sub(1);
        }
        if let Some(oracle) = &self.oracle {
            oracle.remove(call);
        }
    }

    // ----- timed events ---------------------------------------------------

    fn process(&mut self, now: Timestamp, kind: EvKind) {
        match kind {
            EvKind::Resolve(call) => self.resolve(now, call),
            EvKind::PickUp(call) => {
                if self.calls.get(&call).is_some_and(|c| c.phase == Phase::Ringing) {
                    self.send(now, Input::Call { call, event: CallEvent::PickedUp });
                }
            }
            EvKind::Patience(call) => {
                if self.calls.get(&call).is_some_and(|c| c.phase == Phase::Waiting) {
                    self.customer_gives_up(now, call);
                }
            }
            EvKind::TalkEnd(call) => self.talk_end(now, call),
            EvKind::WrapEnd { agent, outcome: None } => {
                let outcome = OutcomeCode::new("answering_machine");
                self.send(now, Input::AgentOutcome { agent, outcome, callback: None, note: None });
            }
            EvKind::WrapEnd { agent, outcome: Some(outcome) } => {
                let choice = &self.outcomes[outcome];
                let callback = choice.callback.then(|| {
                    let at = now + secs(self.scenario.agents.callback_after_hours * 3600.0);
                    CallbackRequest {
                        local: self.tz.to_datetime(at),
                        zone: self.scenario.zone().unwrap_or_else(|_| {
                            ringa_core::ZoneName::parse("UTC").expect("UTC exists")
                        }),
                        around: None,
                        personal: false,
                    }
                });
                let code = choice.code.clone();
                self.send(now, Input::AgentOutcome { agent, outcome: code, callback, note: None });
            }
            EvKind::PreviewClick { agent, contact } => {
                let Some(a) = self.agent_mut(agent) else { return };
                let shows = matches!(a.state,
                    AgentState::Reserved { contact: c, call: None, .. } if c == contact);
                if shows {
                    a.clicked = true;
                    self.tally.agent_dials += 1;
                    self.send(now, Input::AgentDial { agent, number: 0 });
                    if let Some(a) = self.agent_mut(agent) {
                        a.clicked = false;
                    }
                }
            }
            EvKind::Login(agent) => {
                if let Some(a) = self.agent_mut(agent) {
                    a.pending = None;
                }
                let campaigns = vec![self.campaign];
                self.send(now, Input::AgentLogin { agent, campaigns });
                self.send(now, Input::AgentLeavesAt { agent, at: None });
                self.send(now, Input::AgentReady { agent });
            }
            EvKind::Notice { agent, at } => {
                self.send(now, Input::AgentLeavesAt { agent, at: Some(at) });
            }
            EvKind::Leave { agent, leave } => {
                let Some(a) = self.agent_mut(agent) else { return };
                if a.state == AgentState::LoggedOut {
                    return;
                }
                a.pending = Some(leave);
                let state = a.state.clone();
                self.try_leave(agent, &state);
            }
            EvKind::BreakEnd(agent) => {
                // A break that ran past the end of the shift ended with it.
                let on_break = self
                    .agent_mut(agent)
                    .is_some_and(|a| matches!(a.state, AgentState::Paused { .. }));
                if !on_break {
                    return;
                }
                self.send(now, Input::AgentLeavesAt { agent, at: None });
                self.send(now, Input::AgentReady { agent });
            }
        }
    }

    /// Carries out an agent's pending break or logout if the agent's state
    /// allows it now (never during a call).
    fn try_leave(&mut self, agent: AgentId, state: &AgentState) {
        let Some(a) = self.agent_mut(agent) else { return };
        let Some(leave) = a.pending else { return };
        let free = matches!(state, AgentState::Ready | AgentState::Reserved { call: None, .. });
        let paused = matches!(state, AgentState::Paused { .. });
        match leave {
            Leave::Break { .. } if free => {
                self.pending.push_back(Input::AgentPause { agent, reason: "break".into() })
            }
            Leave::Logout if free || paused => self.pending.push_back(Input::AgentLogout { agent }),
            _ => {}
        }
    }

    fn resolve(&mut self, now: Timestamp, call: CallId) {
        let Some(c) = self.calls.get(&call) else { return };
        if c.phase != Phase::Ringing {
            return;
        }
        let fate = c.fate;
        match fate.kind {
            FateKind::Live | FateKind::Machine => {
                if fate.kind == FateKind::Live && fate.verdict == AnsweredBy::Machine {
                    self.tally.amd_false_positives += 1;
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.phase = Phase::Waiting;
                }
                let event = CallEvent::Answered { by: fate.verdict };
                self.send(now, Input::Call { call, event });
                // Still waiting after the engine's answer: nobody took it.
                if self.calls.get(&call).is_some_and(|c| c.phase == Phase::Waiting) {
                    if fate.patience_s <= 0.0 {
                        self.customer_gives_up(now, call);
                    } else {
                        self.push(now + secs(fate.patience_s), EvKind::Patience(call));
                    }
                }
            }
            FateKind::Busy | FateKind::Invalid | FateKind::NoAnswer => {
                let (result, code) = match fate.kind {
                    FateKind::Busy => (CallResult::Busy, 486),
                    FateKind::Invalid => (CallResult::Invalid, 404),
                    _ => (CallResult::NoAnswer, 480),
                };
                self.end_call(call);
                let event = CallEvent::Failed { result, sip_code: Some(code) };
                self.send(now, Input::Call { call, event });
            }
        }
    }

    fn customer_gives_up(&mut self, now: Timestamp, call: CallId) {
        self.end_call(call);
        self.ledger.record(now, true);
        self.pending
            .push_back(Input::Call { call, event: CallEvent::HungUp { by_customer: true } });
    }

    fn talk_end(&mut self, now: Timestamp, call: CallId) {
        let Some(c) = self.calls.get(&call) else { return };
        let Phase::Connected(agent) = c.phase else { return };
        let outcome = c.outcome.unwrap_or(0);
        let machine = c.fate.kind == FateKind::Machine;
        self.end_call(call);
        let wrap = self.scenario.agents.wrap_up.sample(&mut self.rng);
        if machine {
            let handled = self.connected_machine.remove(&call).unwrap_or(0.0);
            self.tally.machine_agent_s += handled + wrap;
            self.send(now, Input::AgentHangup { agent });
        } else {
            let event = CallEvent::HungUp { by_customer: true };
            self.send(now, Input::Call { call, event });
        }
        let outcome = if machine { None } else { Some(outcome) };
        self.push(now + secs(wrap), EvKind::WrapEnd { agent, outcome });
    }

    // ----- engine commands ------------------------------------------------

    fn react(&mut self, now: Timestamp, command: Command) {
        match command {
            Command::FetchContacts { campaign, want } => {
                let (contacts, exhausted) = self.fetch(now, want);
                self.pending.push_back(Input::Contacts { campaign, contacts, exhausted });
            }
            Command::AttemptStarted { record } => {
                self.last_attempt = (record.call, record.attempt_no);
            }
            Command::Originate { call, contact, ring_timeout, agent, amd, .. } => {
                self.originate(now, call, contact, ring_timeout, agent, amd)
            }
            Command::Cancel { call }
                if self.calls.get(&call).is_some_and(|c| c.phase == Phase::Ringing) =>
            {
                self.end_call(call);
                let event = CallEvent::Failed { result: CallResult::NoAnswer, sip_code: Some(487) };
                self.pending.push_back(Input::Call { call, event });
            }
            Command::Connect { call, agent } => self.connect(now, call, agent),
            Command::Drop { call, reason, .. } => {
                if reason == DropReason::NoAgent {
                    self.ledger.record(now, true);
                }
                self.end_call(call);
            }
            Command::Hangup { call } => self.end_call(call),
            Command::ShowCard { agent, contact, preview: true, .. } => {
                let read = self.scenario.agents.preview_read.sample(&mut self.rng);
                self.push(now + secs(read), EvKind::PreviewClick { agent, contact });
            }
            Command::AgentState { agent, state, .. } => self.agent_state(now, agent, state),
            Command::History { contact, history } => {
                if let Some(c) = self.contacts.get_mut(&contact) {
                    c.history = *history;
                }
            }
            Command::ContactReleased { contact, .. } if self.book.is_some() => {
                // The book holds the contact from now on.
                self.contacts.remove(&contact);
            }
            Command::ContactReleased { contact, due, .. } => match due {
                None => {
                    self.contacts.remove(&contact);
                    self.tally.contacts_closed += 1;
                }
                Some(due) => self.released.push(std::cmp::Reverse((due, contact))),
            },
            Command::Rejected { agent, reason } => {
                self.tally.rejected += 1;
                if self.tally.rejected_reasons.len() < 5 {
                    self.tally.rejected_reasons.push(format!("{agent}: {reason}"));
                }
            }
            _ => {}
        }
    }

    fn fetch(&mut self, now: Timestamp, want: u32) -> (Vec<ContactEntry>, bool) {
        if let Some(book) = self.book.as_mut() {
            let (entries, exhausted) = book.fetch(now, self.campaign, want);
            for entry in &entries {
                let multiplier = self.multiplier();
                let traits = self.traits();
                let contact = SimContact {
                    contact: entry.contact.clone(),
                    history: entry.history.clone(),
                    multiplier,
                    traits,
                };
                self.contacts.insert(entry.contact.id, contact);
            }
            return (entries, exhausted);
        }
        let mut entries = Vec::with_capacity(want as usize);
        while entries.len() < want as usize {
            match self.released.peek() {
                Some(std::cmp::Reverse((due, _))) if *due <= now => {}
                _ => break,
            }
            let std::cmp::Reverse((_, id)) = self.released.pop().expect("peeked just above");
            if let Some(c) = self.contacts.get(&id) {
                entries
                    .push(ContactEntry { contact: c.contact.clone(), history: c.history.clone() });
            }
        }
        let size = self.scenario.population.size;
        while entries.len() < want as usize && size.is_none_or(|n| self.next_contact <= n) {
            let id = ContactId(self.next_contact);
            self.next_contact += 1;
            let contact = new_contact(id);
            let multiplier = self.multiplier();
            let traits = self.traits();
            let history = DialHistory::default();
            entries.push(ContactEntry { contact: contact.clone(), history: history.clone() });
            self.contacts.insert(id, SimContact { contact, history, multiplier, traits });
        }
        let exhausted = size.is_some_and(|n| self.next_contact > n);
        (entries, exhausted)
    }

    /// A new contact's answer-rate multiplier (heterogeneity).
    fn multiplier(&mut self) -> f64 {
        let sigma = self.scenario.population.heterogeneity_sigma;
        if sigma > 0.0 {
            Dist::Lognormal { mean: 1.0, sigma }.sample(&mut self.population_rng)
        } else {
            1.0
        }
    }

    /// A new contact's own voicemail and answering habits, when the
    /// scenario gives contacts some.
    fn traits(&mut self) -> Option<ContactTraits> {
        let spec = self.scenario.voicemail.as_ref()?;
        let has_voicemail = self.traits_rng.random::<f64>() < spec.share;
        let pickup = spec.pickup_after.sample(&mut self.traits_rng);
        let answer_after_s = self.scenario.population.live_after.sample(&mut self.traits_rng);
        Some(ContactTraits { voicemail_after_s: has_voicemail.then_some(pickup), answer_after_s })
    }

    fn originate(
        &mut self,
        now: Timestamp,
        call: CallId,
        contact: ContactId,
        ring_timeout: SignedDuration,
        agent: Option<AgentId>,
        amd: bool,
    ) {
        self.tally.originates += 1;
        let attempt = if self.last_attempt.0 == call { self.last_attempt.1 } else { 1 };
        if attempt == 1 {
            self.tally.contacts_used += 1;
        }
        let (multiplier, traits) =
            self.contacts.get(&contact).map_or((1.0, None), |c| (c.multiplier, c.traits));
        let ctx = CallContext {
            attempt,
            hour: self.tz.to_datetime(now).hour() as u8,
            multiplier,
            ring_timeout_s: ring_timeout.as_secs_f64(),
            amd: amd || self.amd,
            traits,
        };
        let fate = fate_of(&self.scenario, self.seed, call, &ctx);
        match fate.cut_short {
            Some(FateKind::Machine) => self.tally.voicemail_rang_out += 1,
            Some(FateKind::Live) => self.tally.people_rang_out += 1,
            _ => {}
        }
        if let Some(oracle) = &self.oracle {
            oracle.insert(call, fate);
        }
        if let Some(agent) = agent {
            let preview = self.mode == DialMode::Preview;
            if let Some(a) = self.agent_mut(agent) {
                let unclicked = preview && !a.clicked;
                a.lines += 1;
                let lines = a.lines;
                self.tally.originates_without_click += u64::from(unclicked);
                self.tally.max_lines_per_agent = self.tally.max_lines_per_agent.max(lines);
            }
        }
        self.calls
            .insert(call, SimCall { fate, phase: Phase::Ringing, reserved: agent, outcome: None });
        let working = self
            .agents
            .iter()
            .filter(|a| !matches!(a.state, AgentState::LoggedOut | AgentState::Paused { .. }))
            .count()
            .max(1);
        let per_agent = self.calls.len() as f64 / working as f64;
        self.tally.max_lines_per_working = self.tally.max_lines_per_working.max(per_agent);
        if fate.decision_s > 0.0 {
            self.push(now + secs(fate.after_s), EvKind::PickUp(call));
        }
        self.push(now + secs(fate.after_s + fate.decision_s), EvKind::Resolve(call));
    }

    fn connect(&mut self, now: Timestamp, call: CallId, agent: AgentId) {
        if let Some(a) = self.agent_mut(agent) {
            let available = matches!(a.state, AgentState::Ready | AgentState::Reserved { .. });
            if !available {
                self.tally.connects_to_unavailable += 1;
            }
        }
        let Some(c) = self.calls.get(&call) else { return };
        let machine = c.fate.kind == FateKind::Machine;
        self.ledger.record(now, false);
        let (talk, outcome) = if machine {
            self.tally.machines_to_agents += 1;
            let t = self.scenario.agents.machine_handle.sample(&mut self.rng);
            self.connected_machine.insert(call, t);
            (t, None)
        } else {
            let u: f64 = self.rng.random();
            let idx = self
                .outcomes
                .iter()
                .position(|o| u < o.cumulative)
                .unwrap_or(self.outcomes.len() - 1);
            (self.outcomes[idx].talk.sample(&mut self.rng), Some(idx))
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.phase = Phase::Connected(agent);
            c.outcome = outcome;
        }
        self.push(now + secs(talk), EvKind::TalkEnd(call));
    }

    fn agent_state(&mut self, now: Timestamp, agent: AgentId, state: AgentState) {
        let Some(a) = self.agent_mut(agent) else { return };
        a.state = state.clone();
        match (&state, a.pending) {
            (AgentState::Paused { .. }, Some(Leave::Break { minutes })) => {
                a.pending = None;
                self.push(now + secs(minutes * 60.0), EvKind::BreakEnd(agent));
            }
            (AgentState::LoggedOut, _) => a.pending = None,
            (_, Some(_)) => self.leave_checks.push(agent),
            _ => {}
        }
    }

    // ----- the report ------------------------------------------------------

    fn report(&self, days: u32, end: Timestamp, wall_s: f64) -> Report {
        let stats = self.engine.stats(self.campaign).cloned().unwrap_or_default();
        let mut logged_in = 0.0;
        let (mut paused, mut talk, mut wrap) = (0.0, 0.0, 0.0);
        for (_, agent) in self.engine.agents() {
            let times = agent.times_at(end);
            logged_in += times.logged_in();
            paused += times.paused;
            talk += times.in_call;
            wrap += times.wrap_up;
        }
        let working = (logged_in - paused).max(0.0);
        let campaign = self.engine.campaign(self.campaign);
        let rule_set = campaign.map_or(self.scenario.campaign.rule_set, |c| c.rules.rule_set);
        let table = rule_set.table();
        let target = campaign.map_or(0.03, |c| c.effective_drop_target());
        let min_live = self.scenario.run.min_window_live;
        let rolling = self.ledger.rolling(SignedDuration::from_hours(24), min_live);
        let over = rolling.iter().filter(|r| **r > target).count();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Report {
            scenario: self.scenario.name.clone(),
            mode: self.mode.as_str().to_string(),
            pacer: self.pacer_name.clone(),
            seed: self.seed,
            days,
            agents: self.scenario.agent_count(),
            utilization: ratio(talk + wrap, working),
            mean_wait_s: ratio(stats.waits.iter().sum(), stats.waits.len() as f64),
            p90_wait_s: quantile(&stats.waits, 0.9),
            placed: stats.placed,
            live_answers: stats.live_answers,
            connects: stats.connects,
            drops: stats.drops,
            drop_rate: stats.drop_rate(),
            drop_window: match table.drop_window {
                ringa_core::rules::DropWindow::Day => "day",
                ringa_core::rules::DropWindow::Rolling24h => "rolling24h",
                ringa_core::rules::DropWindow::Rolling30d => "rolling30d",
            }
            .to_string(),
            worst_window_drop_rate: self.ledger.worst(table.drop_window, &self.tz, min_live),
            min_window_live: min_live,
            windows_24h_over_target: (!rolling.is_empty())
                .then(|| over as f64 / rolling.len() as f64),
            drop_target: target,
            connects_per_agent_hour: ratio(stats.connects as f64, working / 3600.0),
            attempts_per_contact: ratio(stats.placed as f64, self.tally.contacts_used as f64),
            contacts_used: self.tally.contacts_used,
            contacts_closed: self.tally.contacts_closed,
            machines_filtered: stats.machines,
            machines_to_agents: self.tally.machines_to_agents,
            agent_time_lost_to_machines_s: self.tally.machine_agent_s,
            amd_false_positives: self.tally.amd_false_positives,
            conversations: stats.connects.saturating_sub(self.tally.machines_to_agents),
            avoided_voicemail: stats.avoided_voicemail,
            voicemail_rang_out: self.tally.voicemail_rang_out,
            people_rang_out: self.tally.people_rang_out,
            history_retimed: stats.history_retimed,
            history_skipped: stats.history_skipped,
            refused: stats.refused.clone(),
            rejected: self.tally.rejected,
            rejected_reasons: self.tally.rejected_reasons.clone(),
            outcomes: stats.outcomes.clone().into_iter().collect::<BTreeMap<_, _>>(),
            logged_in_hours: logged_in / 3600.0,
            paused_hours: paused / 3600.0,
            talk_hours: talk / 3600.0,
            wrap_up_hours: wrap / 3600.0,
            max_lines_per_agent: self.tally.max_lines_per_agent,
            max_lines_per_working_agent: self.tally.max_lines_per_working,
            originates: self.tally.originates,
            agent_dials: self.tally.agent_dials,
            originates_without_click: self.tally.originates_without_click,
            connects_to_unavailable: self.tally.connects_to_unavailable,
            simulated_s: end.duration_since(self.start).as_secs_f64(),
            wall_s,
        }
    }
}

fn secs(s: f64) -> SignedDuration {
    SignedDuration::from_secs_f64(s.max(0.0))
}

/// A fresh contact with one Swedish mobile number derived from its id.
fn new_contact(id: ContactId) -> Contact {
    let text = format!("+4670{:07}", id.get() % 10_000_000);
    let number = ringa_core::PhoneNumber::from_e164(&text)
        .expect("+4670 followed by seven digits is a valid Swedish mobile number");
    Contact::with_numbers(id, ListId(1), [number])
}
