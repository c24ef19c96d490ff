//! The floor runtime: one task owns the engine on the wall clock, feeds it
//! contacts from the store, journals what it commands, places its calls
//! through the SIP trunk when telephony is configured (else in the simulated
//! world), and publishes a snapshot of the floor that the wall, the desktops
//! and the metrics read.
//!
//! A customer who calls a campaign's caller ID back comes from the telephony as
//! `InboundCall`: the floor looks the caller's number up among the campaign's
//! contacts in the store (claiming the contact it finds, as a fetch would) and
//! hands it to the engine with the call, which gives the call to a free agent
//! (the desktop shows it connected, marked as a call back, with the card) or
//! to the callback message.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::Campaign;
use ringa_core::rules::DropWindow;
use ringa_core::{
    AgentId, AttemptId, CallId, CallResult, CampaignId, ContactId, DialMode, OutcomeCode, RuleSet,
};
use ringa_engine::{
    AgentState, AttemptKind, CallEvent, Command, ContactEntry, Engine, EngineConfig, Input,
    LearnedState, StateTimes,
};
use ringa_sip::config::TrunkConfig;
use ringa_sip::driver::{DriverOptions, Lines};
use ringa_store::{CampaignRow, Store};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::error::WebError;
use crate::journal::Journal;
use crate::world::{World, WorldProfile};

/// Settings of the floor.
#[derive(Clone, Debug)]
pub struct FloorConfig {
    /// Simulated agents logged in on every campaign.
    pub sim_agents: u32,
    pub profile: WorldProfile,
    /// The name this node claims contacts under.
    pub worker: String,
    pub seed: u64,
}

/// Live telephony for the floor.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// The trunks, in order of preference (at least one).
    pub trunks: Vec<TrunkConfig>,
    /// Where the SIP socket binds: an address the trunk and the agents'
    /// phones can reach.
    pub sip_bind: SocketAddr,
    /// Agents' phones, recordings, messages and detection settings.
    pub options: DriverOptions,
}

/// A request to the floor task.
pub enum FloorMsg {
    /// An agent's or supervisor's action; answered with the engine's
    /// rejection, if any.
    Act { input: Input, name: Option<String>, reply: oneshot::Sender<Result<(), String>> },
    /// A campaign was created or changed in the store.
    Reload { campaign: CampaignId, reply: oneshot::Sender<Result<(), String>> },
    /// Leads were stored and claimed for this floor: have the engine dial
    /// them first.
    Leads { leads: Vec<crate::intake::StoredLead> },
    /// The server stops: hang up the trunk's calls and the agents' phones.
    Stop { reply: oneshot::Sender<()> },
    /// What a campaign has learned so far, as the engine holds it now.
    TakeLearned { campaign: CampaignId, reply: oneshot::Sender<Option<LearnedState>> },
    /// Gives a campaign learned state (copied from another campaign); the
    /// engine's refusal is the answer.
    RestoreLearned {
        campaign: CampaignId,
        state: Box<LearnedState>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Saves every campaign's learned state now.
    SaveLearned { reply: oneshot::Sender<()> },
}

/// The handle the web layer holds.
#[derive(Clone)]
pub struct Floor {
    tx: mpsc::Sender<FloorMsg>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Where the telephony's SIP socket is bound, with a trunk configured.
    sip: Option<std::net::SocketAddr>,
}

/// A card on an agent's desktop.
#[derive(Clone, Debug, Serialize)]
pub struct CardView {
    pub campaign: CampaignId,
    /// `None` for a caller whose number matches no contact of the campaign.
    pub contact: Option<ContactId>,
    /// The customer called the campaign back (not a call the dialer placed).
    pub inbound: bool,
    /// The caller's number on a call back, when the network gave it.
    pub caller: Option<String>,
    pub call: Option<CallId>,
    pub preview: bool,
    /// `dialing`, `ringing`, `connected` or `ended`.
    pub call_state: Option<&'static str>,
    pub call_since: Option<Timestamp>,
    /// What the telephony saw, once the call ended.
    pub result: Option<CallResult>,
    /// Outcome codes that fit what the telephony saw.
    pub allowed_outcomes: Vec<String>,
}

/// An agent as the wall and the desktop show it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    pub state: String,
    pub reason: Option<String>,
    pub since: Timestamp,
    pub campaigns: Vec<CampaignId>,
    pub simulated: bool,
    pub card: Option<CardView>,
    /// The last request of the agent the engine refused.
    pub rejected: Option<String>,
    /// Seconds in each state since the agent first logged in.
    pub times: StateTimes,
}

/// One campaign's live figures.
#[derive(Clone, Debug, Serialize)]
pub struct CampaignView {
    pub id: CampaignId,
    pub name: String,
    pub mode: DialMode,
    pub rule_set: RuleSet,
    pub drop_target: f64,
    /// The rule set's drop window, in hours.
    pub window_hours: f64,
    /// The rule set's drop window in words, for captions: `calendar day`
    /// (`se`, `none`), `last 24 hours` (`uk`), `last 30 days` (`us`).
    pub window_label: &'static str,
    pub window_live: f64,
    pub window_drops: f64,
    pub window_drop_rate: Option<f64>,
    pub attempts: u64,
    pub live_answers: u64,
    pub pickups: u64,
    pub drops: u64,
    pub machines: u64,
    /// Calls back that reached an agent (never counted in attempts, pickups or drops).
    pub inbound_connected: u64,
    /// Calls back answered with the callback message: no agent was free.
    pub inbound_messages: u64,
    pub conversations: u64,
    pub sales: u64,
    pub hit_rate: Option<f64>,
    pub talk_seconds: f64,
    pub orders_per_hour: Option<f64>,
    pub mean_wait_seconds: Option<f64>,
    pub contacts_left: Option<u64>,
    /// Callbacks waiting for their time or being dialed.
    pub callbacks_pending: u64,
    /// Dials the eligibility check refused since the floor started, by
    /// reason.
    pub refused: BTreeMap<String, u64>,
    pub ringing: u32,
    pub connected: u32,
    pub agents_logged_in: u32,
}

/// The floor at one instant.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub version: u64,
    pub at: Option<Timestamp>,
    pub agents: Vec<AgentView>,
    pub campaigns: Vec<CampaignView>,
}

impl Snapshot {
    pub fn agent(&self, id: AgentId) -> Option<&AgentView> {
        self.agents.iter().find(|a| a.id == id)
    }
}

impl Floor {
    /// The address the telephony's SIP socket is bound to (a port of 0 in
    /// the settings is the one the system gave), with a trunk configured.
    pub fn sip_addr(&self) -> Option<std::net::SocketAddr> {
        self.sip
    }

    /// Loads the campaigns and starts the floor task.
    /// Without `live` telephony the calls go to the simulated world.
    pub async fn start(
        store: Store,
        config: FloorConfig,
        live: Option<LiveConfig>,
    ) -> Result<Floor, WebError> {
        let (lines, line_events) = match &live {
            Some(live) => {
                if config.sim_agents > 0 {
                    return Err(WebError::BadRequest(
                        "simulated agents cannot take calls from a SIP trunk".to_string(),
                    ));
                }
                let (lines, events) =
                    Lines::start(live.trunks.clone(), live.sip_bind, live.options.clone())
                        .await
                        .map_err(|e| WebError::Internal(format!("starting the telephony: {e}")))?;
                let names: Vec<&str> = live.trunks.iter().map(|t| t.name.as_str()).collect();
                info!(
                    trunks = %names.join(", "),
                    sip = %lines.local_addr(),
                    "calls go through the SIP trunk"
                );
                (Some(lines), Some(events))
            }
            None => (None, None),
        };
        let sip = lines.as_ref().map(Lines::local_addr);
        let now = Timestamp::now();
        let recovered = store.recover(Some(&config.worker), now).await?;
        if !recovered.interrupted.is_empty() || recovered.released > 0 {
            info!(
                interrupted = recovered.interrupted.len(),
                released = recovered.released,
                "recovered after a stop"
            );
        }
        let (tx, rx) = mpsc::channel(256);
        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
        let engine = Engine::new(EngineConfig { seed: config.seed, ..EngineConfig::default() });
        let mut rt = Runtime {
            engine,
            journal: Journal::new(store.clone(), &config.worker),
            store,
            world: World::new(config.profile.clone(), config.seed),
            lines,
            names: HashMap::new(),
            cards: HashMap::new(),
            calls: HashMap::new(),
            inbound: HashMap::new(),
            rejected: HashMap::new(),
            talk: HashMap::new(),
            left: HashMap::new(),
            left_at: None,
            snap_tx,
            version: 0,
            campaign_ids: BTreeSet::new(),
            modes: HashMap::new(),
            marker: None,
            marker_at: now,
            learned_saved_at: now,
            audited_at: now,
        };
        for user in rt.store.users().await? {
            rt.names.insert(user.id, user.display_name);
        }
        rt.marker = Some(rt.store.change_marker().await?);
        let campaigns = rt.store.campaigns().await?;
        for row in &campaigns {
            rt.load_campaign(row, now);
        }
        let ids: Vec<CampaignId> = campaigns.iter().map(|c| c.id).collect();
        // What each campaign learned before this start (a previous day, a
        // crash), after its pacer was chosen.
        for &campaign in &ids {
            rt.restore_learned(campaign).await;
        }
        // Callbacks booked before this start.
        for &campaign in &ids {
            for callback in crate::journal::pending_callbacks(&rt.store, campaign, now).await? {
                rt.engine.handle(now, Input::Callback { callback: Box::new(callback) });
            }
        }
        for n in 0..config.sim_agents {
            let bot = AgentId(1_000_000 + u64::from(n));
            rt.names.insert(bot, format!("Sim agent {}", n + 1));
            rt.world.add_bot(bot, now);
            rt.engine.handle(now, Input::AgentLogin { agent: bot, campaigns: ids.clone() });
        }
        rt.drain(now).await;
        rt.publish(now);
        tokio::spawn(rt.run(rx, line_events).instrument(info_span!("floor")));
        Ok(Floor { tx, snapshot: snap_rx, sip })
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// A receiver that wakes on every new snapshot.
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> FloorMsg,
    ) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| "the floor has stopped".to_string())?;
        rx.await.map_err(|_| "the floor has stopped".to_string())?
    }

    /// Gives the engine an agent's or supervisor's input.
    pub async fn act(&self, input: Input, name: Option<String>) -> Result<(), String> {
        self.ask(|reply| FloorMsg::Act { input, name, reply }).await
    }

    /// Stops the floor: every call through the trunk is hung up (BYE or CANCEL) and the
    /// agents' phones with it, so that no customer is left on a line nobody serves.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(FloorMsg::Stop { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// What a campaign has learned so far (pacer and voicemail models), as
    /// the running engine holds it; `None` for a campaign it does not know.
    pub async fn learned_state(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<LearnedState>, String> {
        let (reply, rx) = oneshot::channel();
        let msg = FloorMsg::TakeLearned { campaign, reply };
        self.tx.send(msg).await.map_err(|_| "the floor has stopped".to_string())?;
        rx.await.map_err(|_| "the floor has stopped".to_string())
    }

    /// Gives the running campaign a learned state; refused (and nothing
    /// changes) when it does not fit the campaign's pacer or version.
    pub async fn restore_learned_state(
        &self,
        campaign: CampaignId,
        state: LearnedState,
    ) -> Result<(), String> {
        let state = Box::new(state);
        self.ask(|reply| FloorMsg::RestoreLearned { campaign, state, reply }).await
    }

    /// Saves every campaign's learned state to the store now (the floor
    /// also does every [`LEARNED_SAVE_EVERY`] and when it stops).
    pub async fn save_learned_states(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(FloorMsg::SaveLearned { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    pub async fn reload(&self, campaign: CampaignId) -> Result<(), String> {
        self.ask(|reply| FloorMsg::Reload { campaign, reply }).await
    }

    /// Hands over leads stored and claimed for this floor (see
    /// [`crate::intake`]); waits only while the floor's queue is full.
    pub async fn leads(&self, leads: Vec<crate::intake::StoredLead>) -> Result<(), String> {
        self.tx.send(FloorMsg::Leads { leads }).await.map_err(|_| "the floor has stopped".into())
    }
}

/// The campaign configuration stored in a campaign row: the core
/// [`Campaign`] document, or defaults when the row holds none yet.
pub fn campaign_of(row: &CampaignRow) -> Campaign {
    let mut campaign =
        serde_json::from_value::<Campaign>(row.config.clone()).unwrap_or_else(|_| {
            let mut c = Campaign::new(row.id, &row.name, DialMode::Predictive, RuleSet::Se);
            c.region = row.region;
            c
        });
    campaign.id = row.id;
    campaign.name = row.name.clone();
    campaign
}

/// A call the floor follows for the desktop and the wall.
struct CallTrack {
    campaign: CampaignId,
    /// The engine's attempt and its contact (a call back from an unknown number has
    /// neither).
    attempt: AttemptId,
    contact: Option<ContactId>,
    state: &'static str,
    since: Timestamp,
    result: Option<CallResult>,
}

struct Card {
    campaign: CampaignId,
    contact: Option<ContactId>,
    call: Option<CallId>,
    preview: bool,
    /// The caller of a call back (`Some(None)`: the number was withheld).
    inbound: Option<Option<String>>,
    /// The last call on this card, kept after it ended for the outcome.
    last_call: Option<CallId>,
}

struct Runtime {
    engine: Engine,
    store: Store,
    journal: Journal,
    world: World,
    /// The SIP trunk's calls, when telephony is configured; the world then
    /// has no calls.
    lines: Option<Lines>,
    names: HashMap<AgentId, String>,
    cards: HashMap<AgentId, Card>,
    calls: HashMap<CallId, CallTrack>,
    /// Calls back the engine was told of, with the caller's number, until forgotten with
    /// their track.
    inbound: HashMap<CallId, Option<String>>,
    rejected: HashMap<AgentId, String>,
    talk: HashMap<CampaignId, f64>,
    left: HashMap<CampaignId, u64>,
    left_at: Option<Timestamp>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    version: u64,
    campaign_ids: BTreeSet<CampaignId>,
    /// The dial mode each campaign's pacer was chosen for.
    modes: HashMap<CampaignId, DialMode>,
    /// The store's campaigns, lists and contacts as last seen, and when:
    /// other processes (`ringa import`, ...) change them while we run.
    marker: Option<ringa_store::ChangeMarker>,
    marker_at: Timestamp,
    /// When the campaigns' learned states were last saved.
    learned_saved_at: Timestamp,
    /// When the engine's connected calls were last checked against the
    /// telephony's.
    audited_at: Timestamp,
}

/// The next input from the trunk's calls; never, without telephony.
async fn next_line_event(events: &mut Option<mpsc::UnboundedReceiver<Input>>) -> Option<Input> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// How often the floor looks for campaigns, lists and contacts that other
/// processes added.
const STORE_WATCH: SignedDuration = SignedDuration::from_secs(2);

/// How often the floor saves what each campaign has learned (it also saves
/// when it stops), so that a crash loses at most this much learning.
pub const LEARNED_SAVE_EVERY: SignedDuration = SignedDuration::from_mins(5);

impl Runtime {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<FloorMsg>,
        mut line_events: Option<mpsc::UnboundedReceiver<Input>>,
    ) {
        info!("floor started");
        loop {
            let now = Timestamp::now();
            let wake = [self.engine.poll_timeout(), self.world.next_due()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + SignedDuration::from_secs(1));
            let wait =
                wake.duration_since(now).clamp(SignedDuration::ZERO, SignedDuration::from_secs(1));
            let wait = Duration::try_from(wait).unwrap_or(Duration::from_millis(10));
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(FloorMsg::Stop { reply }) => {
                        self.stop_lines().await;
                        self.save_learned(Timestamp::now()).await;
                        let _ = reply.send(());
                        break;
                    }
                    Some(msg) => {
                        self.on_msg(msg).await;
                        // Take what queued meanwhile before the timers and
                        // the snapshot, which a burst of requests needs once.
                        for _ in 0..64 {
                            let Ok(msg) = rx.try_recv() else { break };
                            self.on_msg(msg).await;
                        }
                    }
                    None => break,
                },
                Some(input) = next_line_event(&mut line_events) => {
                    let now = Timestamp::now();
                    let mut answered = Vec::new();
                    let mut next = Some(input);
                    // Events of one datagram often come together.
                    while let Some(mut input) = next {
                        if let Input::Call { call, event: CallEvent::Answered { .. } } = &input {
                            answered.push(*call);
                        }
                        if let Input::InboundCall { call, campaign, caller, contact } = &mut input {
                            let number = caller.as_ref().map(|c| c.as_str().to_string());
                            self.inbound.insert(*call, number);
                            if contact.is_none()
                                && let Some(caller) = caller
                            {
                                *contact = self.caller_contact(*campaign, caller, now).await;
                            }
                        }
                        self.feed(now, input);
                        next = line_events.as_mut().and_then(|r| r.try_recv().ok());
                    }
                    self.note_recordings(&answered, now).await;
                    self.drain(now).await;
                }
                () = tokio::time::sleep(wait) => {}
            }
            let now = Timestamp::now();
            self.step(now).await;
            self.watch_store(now).await;
            self.refresh_left(now).await;
            if now.duration_since(self.learned_saved_at) >= LEARNED_SAVE_EVERY {
                self.save_learned(now).await;
            }
            self.audit_calls(now);
            self.publish(now);
        }
        info!("floor stopped");
    }

    /// Every few seconds, has the telephony check the calls the engine has
    /// connected: one it no longer carries comes back as hung up, and its
    /// agent goes to wrap-up rather than staying "in call".
    fn audit_calls(&mut self, now: Timestamp) {
        let Some(lines) = &self.lines else { return };
        let every = SignedDuration::try_from(ringa_sip::driver::AUDIT_EVERY).unwrap_or_default();
        if now.duration_since(self.audited_at) < every {
            return;
        }
        self.audited_at = now;
        let settle = SignedDuration::try_from(ringa_sip::driver::AUDIT_SETTLE).unwrap_or_default();
        lines.audit(self.engine.connected_calls(now - settle));
    }

    fn load_campaign(&mut self, row: &CampaignRow, now: Timestamp) {
        let campaign = campaign_of(row);
        self.world.set_outcomes(row.id, campaign.outcomes.clone());
        let new = self.campaign_ids.insert(row.id);
        let mode = campaign.mode;
        if let Some(lines) = &self.lines {
            lines.campaign(&campaign);
        }
        self.engine.handle(now, Input::Campaign { campaign: Box::new(campaign) });
        if new || self.modes.get(&row.id) != Some(&mode) {
            let name =
                if mode == DialMode::Predictive { ringa_pacer::DEFAULT } else { "progressive" };
            match ringa_pacer::by_name(name) {
                Ok(pacer) => self.engine.set_pacer(row.id, pacer),
                Err(err) => warn!(campaign = %row.id, error = %err, "unknown pacer"),
            }
            self.modes.insert(row.id, mode);
        }
        self.engine.handle(now, Input::CampaignActive { campaign: row.id, active: true });
        // The store may hold new contacts (an import, a reset): ask again now
        // rather than after the engine's rest time.
        let contacts = Vec::new();
        self.engine.handle(now, Input::Contacts { campaign: row.id, contacts, exhausted: false });
        if new {
            // Simulated agents work on every campaign.
            let all: Vec<CampaignId> = self.campaign_ids.iter().copied().collect();
            for bot in self.world.bots() {
                let campaigns = all.clone();
                self.engine.handle(now, Input::AgentCampaigns { agent: bot, campaigns });
            }
        }
    }

    async fn on_msg(&mut self, msg: FloorMsg) {
        let now = Timestamp::now();
        match msg {
            FloorMsg::Act { input, name, reply } => {
                let agent = agent_of(&input);
                if let (Some(agent), Some(name)) = (agent, name) {
                    self.names.insert(agent, name);
                }
                if let Some(agent) = agent {
                    self.rejected.remove(&agent);
                }
                if let Input::AgentOutcome { agent, outcome, .. } = &input
                    && let Err(why) = self.check_outcome(*agent, outcome)
                {
                    let _ = reply.send(Err(why));
                    return;
                }
                if let (Input::AgentReady { agent }, Some(lines)) = (&input, &self.lines)
                    && lines.phone_pending(*agent)
                    && self
                        .engine
                        .agent(*agent)
                        .is_some_and(|a| matches!(a.state, AgentState::Paused { .. }))
                {
                    // Ready once the phone answers: the telephony gives the input back then.
                    lines.call_phone(*agent);
                    let _ = reply.send(Ok(()));
                    return;
                }
                self.engine.handle(now, input);
                let rejections = self.drain(now).await;
                let answer = match agent.and_then(|a| rejections.get(&a)) {
                    Some(why) => Err(why.clone()),
                    None => Ok(()),
                };
                let _ = reply.send(answer);
            }
            FloorMsg::Reload { campaign, reply } => {
                let answer = match self.store.campaign(campaign).await {
                    Ok(row) => {
                        self.load_campaign(&row, now);
                        self.drain(now).await;
                        Ok(())
                    }
                    Err(err) => Err(err.to_string()),
                };
                let _ = reply.send(answer);
            }
            FloorMsg::Stop { reply } => {
                // Arrived in a burst: the calls end here, the loop ends with the process.
                self.stop_lines().await;
                self.save_learned(now).await;
                let _ = reply.send(());
            }
            FloorMsg::TakeLearned { campaign, reply } => {
                let _ = reply.send(self.engine.learned_state(campaign));
            }
            FloorMsg::RestoreLearned { campaign, state, reply } => {
                let answer = self
                    .engine
                    .restore_learned_state(campaign, *state)
                    .map_err(|err| err.to_string());
                let _ = reply.send(answer);
            }
            FloorMsg::SaveLearned { reply } => {
                self.save_learned(now).await;
                let _ = reply.send(());
            }
            FloorMsg::Leads { leads } => {
                for lead in leads {
                    let campaign = lead.claim.campaign;
                    match self.journal.adopt(lead, now).await {
                        Ok(Some(entry)) => {
                            let entry = Box::new(entry);
                            self.engine.handle(now, Input::Lead { campaign, entry });
                        }
                        Ok(None) => {}
                        Err(err) => warn!(error = %err, "a stored lead could not be adopted"),
                    }
                }
                self.drain(now).await;
            }
        }
    }

    /// Gives the engine what the campaign learned before, as saved in the
    /// store. A document that does not fit is refused: the campaign starts
    /// cold, with a warning.
    async fn restore_learned(&mut self, campaign: CampaignId) {
        let row = match self.store.learned_state(campaign).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(err) => {
                let error = err.to_string();
                warn!(%campaign, %error, "the learned state could not be read; starting cold");
                return;
            }
        };
        let restored = LearnedState::from_json(&row.document)
            .and_then(|state| self.engine.restore_learned_state(campaign, state));
        match restored {
            Ok(()) => info!(%campaign, saved_at = %row.updated_at, "learned state restored"),
            Err(err) => warn!(
                %campaign,
                saved_at = %row.updated_at,
                error = %err,
                "the saved learned state was refused; the campaign starts cold"
            ),
        }
    }

    /// Saves what each campaign has learned. A campaign that has learned
    /// nothing yet (a cold start, a refused state) leaves the saved
    /// document as it is.
    async fn save_learned(&mut self, now: Timestamp) {
        self.learned_saved_at = now;
        let ids: Vec<CampaignId> = self.campaign_ids.iter().copied().collect();
        for campaign in ids {
            let Some(state) = self.engine.learned_state(campaign) else { continue };
            if state.is_empty() {
                continue;
            }
            let saved = match state.to_json() {
                Ok(document) => self.store.save_learned_state(campaign, &document, now).await,
                Err(err) => Err(ringa_store::StoreError::Invalid(err.to_string())),
            };
            match saved {
                Ok(()) => debug!(%campaign, "learned state saved"),
                Err(err) => warn!(%campaign, error = %err, "the learned state was not saved"),
            }
        }
    }

    /// Hangs up the trunk's calls and the agents' phones, once.
    async fn stop_lines(&mut self) {
        if let Some(lines) = self.lines.take()
            && let Err(err) = lines.stop().await
        {
            warn!(error = %err, "the telephony did not stop cleanly");
        }
    }

    /// The desktop's own check: the outcome must fit what the telephony saw.
    fn check_outcome(&self, agent: AgentId, code: &OutcomeCode) -> Result<(), String> {
        let Some(card) = self.cards.get(&agent) else { return Ok(()) };
        let Some(campaign) = self.engine.campaign(card.campaign) else { return Ok(()) };
        let Some(def) = campaign.outcome(code.as_str()) else {
            return Err(format!("outcome {code} is not one of this campaign's outcomes"));
        };
        match self.seen(card) {
            Some(seen) => def.check_against(seen).map_err(|m| m.to_string()),
            None => Ok(()),
        }
    }

    /// What the telephony saw of the card's call: `Connected` while it is.
    fn seen(&self, card: &Card) -> Option<CallResult> {
        let call = card.call.or(card.last_call)?;
        let track = self.calls.get(&call)?;
        match track.state {
            "connected" => Some(CallResult::Connected),
            _ => track.result,
        }
    }

    /// The contact of `campaign` whose number called back, claimed for the engine as a
    /// fetch would claim it; `None` when no contact has the number, or when the engine
    /// holds it already (it finds it by the number itself). A contact that cannot be
    /// claimed (closed, held by another node) still shows its card, and is handed over as
    /// inactive so that the engine never dials it for this.
    async fn caller_contact(
        &mut self,
        campaign: CampaignId,
        caller: &ringa_core::PhoneNumber,
        now: Timestamp,
    ) -> Option<Box<ContactEntry>> {
        let found = match self.store.search_contacts(campaign, caller.as_str(), 5).await {
            Ok(rows) => rows,
            Err(err) => {
                warn!(%campaign, error = %err, "could not look the caller's number up");
                return None;
            }
        };
        // The whole number first; a match on the last digits only after it.
        let row = found
            .iter()
            .find(|r| r.numbers.iter().any(|n| n.number == *caller))
            .or_else(|| found.first())?;
        if self.engine.contact_history(campaign, row.id).is_some() {
            return None;
        }
        if !self.journal.holds(row.id) {
            match self.journal.claim_one(row.id, now).await {
                Ok(Some(entry)) => return Some(Box::new(entry)),
                Ok(None) => {}
                Err(err) => warn!(contact = %row.id, error = %err, "could not claim the caller"),
            }
        }
        let contact = crate::journal::contact_of_row(row, false);
        Some(Box::new(ContactEntry::fresh(contact)))
    }

    /// Feeds the world's due inputs and the engine's timer.
    async fn step(&mut self, now: Timestamp) {
        let seen: HashMap<AgentId, (CampaignId, CallResult, Option<CallId>)> = self
            .cards
            .iter()
            .filter_map(|(a, c)| Some((*a, (c.campaign, self.seen(c)?, c.call.or(c.last_call)))))
            .collect();
        let allowed = |agent: AgentId| seen.get(&agent).copied();
        let inputs = self.world.due(now, &allowed);
        for input in inputs {
            debug!(?input, "world");
            self.feed(now, input);
            self.drain(now).await;
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle(now, Input::Tick);
        }
        self.drain(now).await;
    }

    /// Links the recordings of answered trunk calls to their attempts, so
    /// that the attempt's history and an erasure find them.
    async fn note_recordings(&mut self, answered: &[CallId], now: Timestamp) {
        let Some(lines) = &self.lines else { return };
        for call in answered {
            let Some(path) = lines.recording_path(*call) else { return };
            let Some(track) = self.calls.get(call) else { continue };
            let Some(stored) = self.journal.stored(track.attempt) else { continue };
            let Some(contact) = track.contact else { continue };
            let path = path.to_string_lossy();
            if let Err(err) = self.store.add_recording(stored, contact, &path, now).await {
                warn!(%call, error = %err, "the recording could not be linked to its attempt");
            }
        }
    }

    /// Gives the engine a call's progress (from the world or the trunk),
    /// following the call for the wall and the desktop.
    fn feed(&mut self, now: Timestamp, input: Input) {
        if let Input::Call { call, event } = &input
            && let Some(track) = self.calls.get_mut(call)
        {
            match event {
                CallEvent::Ringing => track.state = "ringing",
                CallEvent::Answered { .. } => track.state = "answered",
                // The customer hung up: the talk time ends here, not
                // when the agent's outcome closes the attempt.
                CallEvent::HungUp { .. } => self.end_call(*call, now),
                _ => {}
            }
        }
        self.engine.handle(now, input);
    }

    /// Carries out everything the engine commanded; returns the agents'
    /// rejections.
    async fn drain(&mut self, now: Timestamp) -> HashMap<AgentId, String> {
        let mut rejections = HashMap::new();
        for _round in 0..50 {
            let mut batch = Vec::new();
            while let Some(cmd) = self.engine.poll_command() {
                batch.push(cmd);
            }
            if batch.is_empty() {
                break;
            }
            self.carry_out(batch, now, &mut rejections).await;
        }
        rejections
    }

    async fn carry_out(
        &mut self,
        mut batch: Vec<Command>,
        now: Timestamp,
        rejections: &mut HashMap<AgentId, String>,
    ) {
        if let Some(lines) = &self.lines {
            // The SIP code of the answer and the detector's verdict go into
            // the journal with the attempt.
            for cmd in &mut batch {
                if let Command::AttemptEnded { record } = cmd {
                    lines.annotate(record);
                }
            }
        }
        // Outcomes of the dialer's attempts put their numbers on do-not-call lists in the
        // store when the attempt ends; a call back's do not.
        let dnc_outside_attempts = !batch.iter().any(|c| {
            matches!(c, Command::AttemptEnded { record } if record.kind != AttemptKind::Inbound)
        });
        let steps = Journal::plan(&self.engine, &batch);
        let suppressed = self.journal.carry(steps, now).await;
        let mut fetches = Vec::new();
        for cmd in batch {
            debug!(?cmd, "command");
            match &cmd {
                Command::FetchContacts { campaign, want } => fetches.push((*campaign, *want)),
                Command::AttemptEnded { record } => {
                    self.end_call(record.call, now);
                    if let Some(track) = self.calls.get_mut(&record.call) {
                        track.result = record.result;
                    }
                }
                Command::Originate { call, campaign, attempt, contact, .. } => {
                    if suppressed.contains(call) {
                        continue;
                    }
                    self.calls.insert(
                        *call,
                        CallTrack {
                            campaign: *campaign,
                            attempt: *attempt,
                            contact: Some(*contact),
                            state: "dialing",
                            since: now,
                            result: None,
                        },
                    );
                }
                Command::Connect { call, agent } => {
                    if let Some(caller) = self.inbound.get(call).cloned() {
                        // A call back: followed from here, with a card even for an unknown
                        // caller (the engine shows the contact's card right after).
                        let campaign = match self.engine.agent(*agent).map(|a| &a.state) {
                            Some(AgentState::InCall { campaign, .. }) => *campaign,
                            _ => CampaignId(0),
                        };
                        self.calls.insert(
                            *call,
                            CallTrack {
                                campaign,
                                attempt: AttemptId(0),
                                contact: None,
                                state: "connected",
                                since: now,
                                result: None,
                            },
                        );
                        self.cards.insert(
                            *agent,
                            Card {
                                campaign,
                                contact: None,
                                call: Some(*call),
                                preview: false,
                                inbound: Some(caller),
                                last_call: Some(*call),
                            },
                        );
                    }
                    if let Some(track) = self.calls.get_mut(call) {
                        track.state = "connected";
                        track.since = now;
                    }
                    if let Some(card) = self.cards.get_mut(agent) {
                        card.call = Some(*call);
                        card.last_call = Some(*call);
                    }
                }
                Command::Drop { call, .. }
                | Command::Hangup { call }
                | Command::Cancel { call } => {
                    self.end_call(*call, now);
                }
                Command::ShowCard { agent, campaign, contact, call, preview } => {
                    let inbound = call.and_then(|c| self.inbound.get(&c).cloned());
                    self.cards.insert(
                        *agent,
                        Card {
                            campaign: *campaign,
                            contact: Some(*contact),
                            call: *call,
                            preview: *preview,
                            inbound,
                            last_call: *call,
                        },
                    );
                }
                Command::AttemptStarted { record } if record.kind == AttemptKind::Inbound => {
                    if let Some(track) = self.calls.get_mut(&record.call) {
                        track.attempt = record.attempt;
                        track.contact = Some(record.contact);
                    }
                    let path = self.lines.as_ref().and_then(|l| l.recording_path(record.call));
                    if let (Some(path), Some(id)) = (path, self.journal.inbound(record.attempt))
                        && let Err(err) =
                            self.store.add_inbound_recording(id, &path.to_string_lossy()).await
                    {
                        warn!(call = %record.call, error = %err,
                            "the recording could not be linked to the call back");
                    }
                }
                Command::DncAdd { number, list } if dnc_outside_attempts => {
                    // A call back's do-not-call outcome: no dial attempt writes it.
                    if let Err(err) = self.store.add_dnc(*list, number, "call back", now).await {
                        warn!(error = %err, "could not store a call back's do-not-call request");
                    }
                }
                Command::ClearCard { agent } => {
                    self.cards.remove(agent);
                }
                Command::AgentState { agent, state, .. } => {
                    if let Some(call) = call_of(state)
                        && let Some(card) = self.cards.get_mut(agent)
                    {
                        card.call = Some(call);
                        card.last_call = Some(call);
                    }
                }
                Command::Rejected { agent, reason } => {
                    debug!(%agent, reason, "agent request rejected");
                    rejections.insert(*agent, reason.clone());
                    self.rejected.insert(*agent, reason.clone());
                }
                Command::Refused { campaign, contact, code, .. } => {
                    debug!(%campaign, %contact, code, "dial refused by the eligibility check");
                }
                _ => {}
            }
            match &self.lines {
                Some(lines) => lines.execute(&cmd),
                None => self.world.observe(now, &cmd),
            }
        }
        for call in suppressed {
            let event = CallEvent::Failed { result: CallResult::Suppressed, sip_code: None };
            self.engine.handle(now, Input::Call { call, event });
        }
        for (campaign, want) in fetches {
            match self.journal.fetch(campaign, want, now).await {
                Ok((contacts, exhausted)) => {
                    self.engine.handle(now, Input::Contacts { campaign, contacts, exhausted });
                }
                Err(err) => {
                    warn!(%campaign, error = %err, "could not fetch contacts");
                    self.engine.handle(
                        now,
                        Input::Contacts { campaign, contacts: Vec::new(), exhausted: true },
                    );
                }
            }
        }
    }

    fn end_call(&mut self, call: CallId, now: Timestamp) {
        if let Some(track) = self.calls.get_mut(&call) {
            if track.state == "connected" {
                let secs = now.duration_since(track.since).as_secs_f64().max(0.0);
                *self.talk.entry(track.campaign).or_default() += secs;
                // Until its attempt says (never, for an unknown caller): a person spoke.
                track.result.get_or_insert(CallResult::Connected);
            }
            if track.state != "ended" {
                track.state = "ended";
                track.since = now;
            }
        }
    }

    /// Every [`STORE_WATCH`], notices what other processes changed in the
    /// store: new or changed campaigns and lists are (re)loaded, and on new
    /// contacts every campaign asks the store again at once instead of
    /// after the engine's rest time.
    async fn watch_store(&mut self, now: Timestamp) {
        if now.duration_since(self.marker_at) < STORE_WATCH {
            return;
        }
        self.marker_at = now;
        let marker = match self.store.change_marker().await {
            Ok(marker) => marker,
            Err(err) => {
                warn!(error = %err, "could not look for changes in the store");
                return;
            }
        };
        let Some(old) = self.marker.replace(marker.clone()) else { return };
        if old == marker {
            return;
        }
        if old.campaigns != marker.campaigns || old.lists != marker.lists {
            match self.store.campaigns().await {
                Ok(rows) => {
                    let new = rows.iter().filter(|r| !self.campaign_ids.contains(&r.id)).count();
                    info!(new, "campaigns or lists changed in the store; reloading them");
                    for row in &rows {
                        self.load_campaign(row, now);
                    }
                }
                Err(err) => warn!(error = %err, "could not reload the campaigns"),
            }
        } else {
            debug!(last = marker.last_contact, "new contacts in the store");
            for campaign in self.engine_campaigns() {
                let contacts = Vec::new();
                self.engine.handle(now, Input::Contacts { campaign, contacts, exhausted: false });
            }
        }
        self.drain(now).await;
    }

    /// Contacts left per campaign, from the store every few seconds.
    async fn refresh_left(&mut self, now: Timestamp) {
        if self.left_at.is_some_and(|at| now.duration_since(at) < SignedDuration::from_secs(5)) {
            return;
        }
        self.left_at = Some(now);
        let ids: Vec<CampaignId> = self.engine_campaigns();
        for id in ids {
            if let Ok(b) = self.store.dial_blockers(id, now).await {
                self.left
                    .insert(id, b.dialable_now + b.quarantined + b.waiting_callback + b.claimed);
            }
        }
    }

    fn engine_campaigns(&self) -> Vec<CampaignId> {
        self.campaign_ids.iter().copied().collect()
    }

    fn publish(&mut self, now: Timestamp) {
        // Forget ended calls after a minute.
        self.calls.retain(|_, t| {
            t.state != "ended" || now.duration_since(t.since) < SignedDuration::from_mins(1)
        });
        let calls = &self.calls;
        let cards = &self.cards;
        self.inbound.retain(|call, _| {
            calls.contains_key(call) || cards.values().any(|c| c.last_call == Some(*call))
        });
        let counts = self.live_call_counts();
        let mut agents: Vec<AgentView> = self
            .engine
            .agents()
            .map(|(id, a)| {
                let card = self.cards.get(&id).map(|c| self.card_view(c));
                AgentView {
                    id,
                    name: self.names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                    state: a.state.name().to_string(),
                    reason: match &a.state {
                        AgentState::Paused { reason } => Some(reason.clone()),
                        _ => None,
                    },
                    since: a.since,
                    campaigns: a.campaigns.clone(),
                    simulated: self.world.is_bot(id),
                    card,
                    rejected: self.rejected.get(&id).cloned(),
                    times: a.times_at(now),
                }
            })
            .collect();
        agents.sort_by_key(|a| (a.simulated, a.id));
        let campaigns = self
            .engine_campaigns()
            .into_iter()
            .filter_map(|id| self.campaign_view(id, &agents, counts.get(&id).copied(), now))
            .collect();
        self.version += 1;
        let snapshot = Snapshot { version: self.version, at: Some(now), agents, campaigns };
        let _ = self.snap_tx.send(Arc::new(snapshot));
    }

    fn live_call_counts(&self) -> HashMap<CampaignId, (u32, u32)> {
        let mut out: HashMap<CampaignId, (u32, u32)> = HashMap::new();
        for track in self.calls.values() {
            let entry = out.entry(track.campaign).or_default();
            match track.state {
                "dialing" | "ringing" | "answered" => entry.0 += 1,
                "connected" => entry.1 += 1,
                _ => {}
            }
        }
        out
    }

    fn card_view(&self, card: &Card) -> CardView {
        let track = card.call.or(card.last_call).and_then(|c| self.calls.get(&c));
        let seen = self.seen(card);
        let allowed_outcomes = self
            .engine
            .campaign(card.campaign)
            .map(|c| {
                c.outcomes
                    .iter()
                    .filter(|o| seen.is_some_and(|s| o.check_against(s).is_ok()))
                    .map(|o| o.code.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default();
        CardView {
            campaign: card.campaign,
            contact: card.contact,
            inbound: card.inbound.is_some(),
            caller: card.inbound.clone().flatten(),
            call: card.call,
            preview: card.preview,
            call_state: track.map(|t| t.state),
            call_since: track.map(|t| t.since),
            result: track.and_then(|t| t.result),
            allowed_outcomes,
        }
    }

    fn campaign_view(
        &self,
        id: CampaignId,
        agents: &[AgentView],
        counts: Option<(u32, u32)>,
        now: Timestamp,
    ) -> Option<CampaignView> {
        let config = self.engine.campaign(id)?;
        let stats = self.engine.stats(id)?;
        let (window_live, window_drops) = self.engine.drop_window(id).unwrap_or((0.0, 0.0));
        let mut conversations = 0;
        let mut sales = 0;
        for (code, n) in &stats.outcomes {
            if let Some(def) = config.outcome(code) {
                conversations += if def.conversation { *n } else { 0 };
                sales += if def.sale { *n } else { 0 };
            }
        }
        // Talk on ended calls and, so far, on the calls connected now.
        let talking: f64 = self
            .calls
            .values()
            .filter(|t| t.campaign == id && t.state == "connected")
            .map(|t| now.duration_since(t.since).as_secs_f64().max(0.0))
            .sum();
        let talk_seconds = self.talk.get(&id).copied().unwrap_or(0.0) + talking;
        let (ringing, connected) = counts.unwrap_or((0, 0));
        Some(CampaignView {
            id,
            name: config.name.clone(),
            mode: config.mode,
            rule_set: config.rules.rule_set,
            drop_target: config.effective_drop_target(),
            window_hours: config.rules.rule_set.table().drop_window.length().as_secs_f64() / 3600.0,
            window_label: window_label(config.rules.rule_set.table().drop_window),
            window_live,
            window_drops,
            window_drop_rate: (window_live > 0.0).then(|| window_drops / window_live),
            attempts: stats.placed,
            live_answers: stats.live_answers,
            pickups: stats.connects,
            drops: stats.drops,
            machines: stats.machines,
            inbound_connected: stats.inbound_connected,
            inbound_messages: stats.inbound_messages,
            conversations,
            sales,
            hit_rate: (conversations > 0).then(|| sales as f64 / conversations as f64),
            talk_seconds,
            orders_per_hour: (talk_seconds > 0.0).then(|| sales as f64 / (talk_seconds / 3600.0)),
            mean_wait_seconds: (!stats.waits.is_empty())
                .then(|| stats.waits.iter().sum::<f64>() / stats.waits.len() as f64),
            contacts_left: self.left.get(&id).copied(),
            refused: stats.refused.clone(),
            callbacks_pending: self
                .engine
                .callbacks()
                .filter(|cb| cb.campaign == id && cb.is_open())
                .count() as u64,
            ringing,
            connected,
            agents_logged_in: agents
                .iter()
                .filter(|a| a.state != "logged_out" && a.campaigns.contains(&id))
                .count() as u32,
        })
    }
}

/// A drop window in words.
fn window_label(window: DropWindow) -> &'static str {
    match window {
        DropWindow::Day => "calendar day",
        DropWindow::Rolling24h => "last 24 hours",
        DropWindow::Rolling30d => "last 30 days",
    }
}

fn agent_of(input: &Input) -> Option<AgentId> {
    match input {
        Input::AgentLogin { agent, .. }
        | Input::AgentReady { agent }
        | Input::AgentPause { agent, .. }
        | Input::AgentLogout { agent }
        | Input::AgentCampaigns { agent, .. }
        | Input::AgentLeavesAt { agent, .. }
        | Input::AgentDial { agent, .. }
        | Input::AgentSkip { agent }
        | Input::AgentHangup { agent }
        | Input::AgentOutcome { agent, .. }
        | Input::ForceRelease { agent } => Some(*agent),
        _ => None,
    }
}

fn call_of(state: &AgentState) -> Option<CallId> {
    match state {
        AgentState::Reserved { call, .. } => *call,
        AgentState::InCall { call, .. } | AgentState::WrapUp { call, .. } => Some(*call),
        _ => None,
    }
}
