//! The live driver: a tokio task that owns an `Engine`, feeds it telephony events on the wall
//! clock and executes its call commands through one trunk.
//!
//! Commands that are not telephony (contact fetches, journal records, agent states) are
//! handed to the owner on a channel, as is `Connect` (so a desktop can show the call); the
//! owner feeds other inputs (campaigns, contacts, agents) through [`Telephony::input`].
//!
//! Each call gets its own RTP socket at the INVITE and a media task (`media`) that records
//! it, runs answering-machine detection from the 200 OK when the engine asked for it, and
//! bridges it to the agent's phone (`agents`). By default an agent's phone is called once,
//! when the agent becomes ready, and that nailed-up leg stays up for the shift (`nailed`):
//! each connected customer is bridged onto it at once, and when the customer leaves the
//! agent's leg stays up. With [`AgentLegMode::PerCall`] the phone is called for each
//! connected customer instead, and that leg ends with the call. A customer BYE, the
//! desktop's hangup or a leg falling silent (a lost BYE) end the customer call; an agent
//! phone's BYE ends the customer call too and takes the agent out of ready.
//!
//! A customer who calls one of a campaign's caller IDs back through a trunk rings (180,
//! `dialin`), gets a media task like an outbound call's and is handed to the engine's owner
//! as `Input::InboundCall`; nothing is answered before the engine decides. Its `Connect`
//! answers the call (on a per-call agent leg, once the phone answers) and bridges it to the
//! agent it chose exactly as an answered outbound call; its `InboundMessage` answers and
//! plays the callback message before BYE, or refuses the call with 480 when there is no
//! message. The customer's BYE, or CANCEL before the answer, comes back as the call's
//! `HungUp`.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use ringa_amd::{AmdConfig, Class, MachineAction, Route};
use ringa_core::Pii;
use ringa_core::campaign::OnMachine;
use ringa_core::{AgentId, CallId, CallResult, CampaignId};
use ringa_engine::io::AnsweredBy;
use ringa_engine::{
    AgentState, AmdReport, AttemptRecord, CallEvent, Command, DropReason, Engine, Input,
};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::agents::{AgentLegEvent, AgentLegs};
use crate::calls::TrunkCalls;
use crate::config::{Transport, TrunkConfig};
use crate::dialin::{DialInEvent, DialIns};
use crate::guard::{InboundGuard, Verdict, reply};
use crate::media::{self, MediaControl, MediaEvent, MediaSettings};
use crate::message::{SipMessage, StartLine, uri_of, user_of};
use crate::nailed::{self, NailedControl};
use crate::prompt::Prompt;
use crate::registrar::Registrar;
use crate::relay::Side;
use crate::sdp::{self, SessionDescription};
use crate::tcp::{Listener, Received, TrunkStream};

/// Why the driver stopped abnormally.
#[derive(Debug)]
pub enum DriverError {
    /// The SIP socket failed.
    Io(std::io::Error),
    /// The driver task panicked or was aborted.
    Task(String),
    /// No trunk was given.
    NoTrunk,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Io(e) => write!(f, "SIP socket: {e}"),
            DriverError::Task(e) => write!(f, "telephony task: {e}"),
            DriverError::NoTrunk => f.write_str("no trunk configured"),
        }
    }
}

impl std::error::Error for DriverError {}

/// How agents' phones are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentLegMode {
    /// Once per shift: the phone is called when the agent becomes ready and the leg stays
    /// up between customers (comfort audio while idle); customers are bridged onto it at
    /// once. A phone that hangs up takes the agent out of ready until they are ready again.
    #[default]
    Nailed,
    /// Once per connected customer: the phone rings (or auto-answers) for every call and
    /// the leg ends with it.
    PerCall,
}

/// How the driver runs calls beyond the trunk itself.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// Agent phone accounts allowed through the inbound gate (username → password).
    pub accounts: HashMap<String, String>,
    /// The phone ringa calls for each agent (`sip:user@ip:port`).
    pub agent_phones: HashMap<AgentId, String>,
    /// Agents whose phone registers with ringa under this account (one of `accounts`): the
    /// phone is called where its registration came from.
    pub agent_accounts: HashMap<AgentId, String>,
    /// Whether agents' phones stay connected for the shift (default) or ring per call.
    pub agent_legs: AgentLegMode,
    /// The address RTP sockets bind to (each call gets its own port).
    pub media_ip: IpAddr,
    /// Answering-machine detection settings, for calls the engine asks to screen.
    pub amd: AmdConfig,
    /// A directory for one stereo WAV per answered call (customer left, agent right).
    pub recordings: Option<PathBuf>,
    /// A leg silent this long after the answer ends the call (a lost BYE).
    pub inactivity: Duration,
    /// The message played before hanging up on a person no agent could take.
    pub drop_message: Option<Arc<Prompt>>,
    /// The message a customer hears who calls back one of the campaigns' caller IDs (who
    /// called and why); without it such calls are declined.
    pub callback_message: Option<Arc<Prompt>>,
    /// The message left on answering machines when `amd.on_machine` is `LeaveMessage`.
    pub machine_message: Option<Arc<Prompt>>,
    /// Where copies of the media events go (verdicts, recordings, inactivity), if anywhere.
    pub reports: Option<mpsc::UnboundedSender<MediaEvent>>,
}

impl DriverOptions {
    /// No agents' phones, no recording, machines hung up on, 30 s media inactivity.
    pub fn new(media_ip: IpAddr) -> DriverOptions {
        DriverOptions {
            accounts: HashMap::new(),
            agent_phones: HashMap::new(),
            agent_accounts: HashMap::new(),
            agent_legs: AgentLegMode::Nailed,
            media_ip,
            amd: AmdConfig::standard(MachineAction::HangUp),
            recordings: None,
            inactivity: Duration::from_secs(30),
            drop_message: None,
            callback_message: None,
            machine_message: None,
            reports: None,
        }
    }
}

/// A running telephony driver that owns its engine.
pub struct Telephony {
    feed: mpsc::UnboundedSender<Feed>,
    stop: Arc<Notify>,
    task: JoinHandle<Result<Option<Engine>, DriverError>>,
    local: SocketAddr,
}

impl fmt::Debug for Telephony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telephony").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Telephony {
    /// Binds the SIP socket at `sip_bind` and starts driving `engine` through `trunk`, with
    /// media on the IP of `media`. Non-telephony commands go to `commands`. Requests from the
    /// network that belong to no call of ours pass the inbound gate with the agent
    /// `accounts` (username → password); none of them is ever relayed to the trunk.
    pub async fn start(
        trunk: TrunkConfig,
        sip_bind: SocketAddr,
        media: SocketAddr,
        engine: Engine,
        commands: mpsc::UnboundedSender<Command>,
        accounts: HashMap<String, String>,
    ) -> Result<Telephony, DriverError> {
        let options = DriverOptions { accounts, ..DriverOptions::new(media.ip()) };
        Telephony::start_with(trunk, sip_bind, engine, commands, options).await
    }

    /// As [`Telephony::start`], with agents' phones, recording, detection and messages.
    pub async fn start_with(
        trunk: TrunkConfig,
        sip_bind: SocketAddr,
        engine: Engine,
        commands: mpsc::UnboundedSender<Command>,
        options: DriverOptions,
    ) -> Result<Telephony, DriverError> {
        let owner = Owner::Engine { engine: Box::new(engine), commands };
        let opened = Link::open(vec![trunk], sip_bind, options, Screened::default()).await?;
        let local = opened.link.local;
        let (feed, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(opened, owner, rx, stop.clone()));
        Ok(Telephony { feed, stop, task, local })
    }

    /// Our SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Feeds the engine an input (campaign, contacts, agent actions).
    pub fn input(&self, input: Input) {
        // A closed channel means the task ended; `stop` reports why.
        let _ = self.feed.send(Feed::Input(input));
    }

    /// Stops the driver and returns the engine.
    pub async fn stop(self) -> Result<Engine, DriverError> {
        self.stop.notify_one();
        let engine = self.task.await.map_err(|e| DriverError::Task(e.to_string()))??;
        engine.ok_or_else(|| DriverError::Task("the driver lost its engine".to_string()))
    }
}

/// The telephony of an owner that keeps its engine (the web product's floor): the owner
/// hands over every command its engine gives, and takes the call events back as inputs
/// from the receiver [`Lines::start`] returns.
pub struct Lines {
    feed: mpsc::UnboundedSender<Feed>,
    stop: Arc<Notify>,
    task: JoinHandle<Result<Option<Engine>, DriverError>>,
    local: SocketAddr,
    screened: Screened,
    /// The recordings directory and this run's name.
    recordings: Option<(PathBuf, String)>,
    /// The agents whose phone ringa keeps up for the shift, and which of them are up.
    nailed: HashSet<AgentId>,
    phones_up: PhonesUp,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").field("local", &self.local).finish_non_exhaustive()
    }
}

impl Lines {
    /// Binds the SIP socket at `sip_bind` and starts placing calls through `trunks` (in
    /// order of preference, at least one). The receiver yields the engine's inputs: call
    /// progress, detection verdicts, agents whose phone went away.
    pub async fn start(
        trunks: Vec<TrunkConfig>,
        sip_bind: SocketAddr,
        options: DriverOptions,
    ) -> Result<(Lines, mpsc::UnboundedReceiver<Input>), DriverError> {
        let screened = Screened::default();
        let opened = Link::open(trunks, sip_bind, options, screened.clone()).await?;
        let local = opened.link.local;
        let recordings =
            (opened.link.options.recordings.clone()).map(|dir| (dir, opened.link.instance.clone()));
        let options = &opened.link.options;
        let nailed = match options.agent_legs {
            AgentLegMode::Nailed => {
                options.agent_phones.keys().chain(options.agent_accounts.keys()).copied().collect()
            }
            AgentLegMode::PerCall => HashSet::new(),
        };
        let phones_up = opened.link.phones_up.clone();
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let (feed, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(opened, Owner::Lines { inputs }, rx, stop.clone()));
        let lines = Lines { feed, stop, task, local, screened, recordings, nailed, phones_up };
        Ok((lines, inputs_rx))
    }

    /// Our SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether `agent` works on a phone ringa keeps up for the shift that is not up yet: the
    /// owner then asks [`Lines::call_phone`] instead of readying the agent, so that no
    /// customer is ever put through to a phone that has not answered.
    pub fn phone_pending(&self, agent: AgentId) -> bool {
        self.nailed.contains(&agent) && !self.phones_up.contains(agent)
    }

    /// Calls `agent`'s phone; the agent's `AgentReady` comes back on the input channel once
    /// it answers (an `AgentPause` when it cannot be called or does not answer).
    pub fn call_phone(&self, agent: AgentId) {
        let _ = self.feed.send(Feed::CallPhone(agent));
    }

    /// Checks the calls the owner's engine has connected against the calls the driver
    /// carries: each one it no longer has (its end was never heard) comes back on the
    /// input channel as hung up, so that its agent goes to wrap-up instead of staying "in
    /// call" on a call that is gone.
    pub fn audit(&self, connected: Vec<CallId>) {
        if !connected.is_empty() {
            let _ = self.feed.send(Feed::Audit(connected));
        }
    }

    /// The file `call` is recorded to once answered, when calls are recorded.
    pub fn recording_path(&self, call: CallId) -> Option<PathBuf> {
        let (dir, run) = self.recordings.as_ref()?;
        Some(media::recording_path(dir, run, call))
    }

    /// Hands over one of the engine's commands; those that are not telephony are ignored.
    pub fn execute(&self, command: &Command) {
        let telephony = matches!(
            command,
            Command::Originate { .. }
                | Command::Cancel { .. }
                | Command::Connect { .. }
                | Command::Hangup { .. }
                | Command::Drop { .. }
                | Command::InboundMessage { .. }
                | Command::AgentState { .. }
        );
        if telephony {
            // A closed channel means the task ended; `stop` reports why.
            let _ = self.feed.send(Feed::Command(command.clone()));
        }
    }

    /// Takes a campaign's settings (what its machines get) for its calls from now on.
    pub fn campaign(&self, campaign: &ringa_core::Campaign) {
        let _ = self.feed.send(Feed::Campaign(CampaignLines::of(campaign)));
    }

    /// Adds what only the telephony knows to an attempt the engine ended: the 200 of an
    /// answered call and the detector's verdict with the settings in force.
    pub fn annotate(&self, record: &mut AttemptRecord) {
        self.screened.annotate(record);
    }

    /// Hangs up the agents' phones and stops.
    pub async fn stop(self) -> Result<(), DriverError> {
        self.stop.notify_one();
        self.task.await.map_err(|e| DriverError::Task(e.to_string()))??;
        Ok(())
    }
}

/// What an owner sends the driver task.
enum Feed {
    /// For the driver's own engine.
    Input(Input),
    /// A command of the owner's engine.
    Command(Command),
    /// A campaign's choice on machines, its region and its caller IDs, for its calls from
    /// now on.
    Campaign(CampaignLines),
    /// An agent wants to go ready: call their phone first.
    CallPhone(AgentId),
    /// The owner's engine has these calls connected: any the driver no
    /// longer carries is reported hung up.
    Audit(Vec<CallId>),
}

/// What the telephony keeps of a campaign.
struct CampaignLines {
    id: CampaignId,
    on_machine: OnMachine,
    /// Where a caller's number in national form is read as from.
    region: ringa_core::Region,
    caller_ids: Vec<String>,
}

impl CampaignLines {
    fn of(campaign: &ringa_core::Campaign) -> CampaignLines {
        let ids = campaign.caller_ids.numbers.iter();
        CampaignLines {
            id: campaign.id,
            on_machine: campaign.amd_on_machine,
            region: campaign.region,
            caller_ids: ids.map(|c| c.number.as_str().to_string()).collect(),
        }
    }
}

/// The other side of the driver's calls.
enum Owner {
    /// The driver owns the engine: inputs are handled at once and the commands that are not
    /// telephony go to the owner.
    Engine { engine: Box<Engine>, commands: mpsc::UnboundedSender<Command> },
    /// The owner keeps its engine: inputs go back on a channel.
    Lines { inputs: mpsc::UnboundedSender<Input> },
}

impl Owner {
    /// The next command of the driver's own engine.
    fn poll_command(&mut self) -> Option<Command> {
        match self {
            Owner::Engine { engine, .. } => engine.poll_command(),
            Owner::Lines { .. } => None,
        }
    }

    /// Hands the inputs the link gathered on; true when there were any.
    fn absorb(&mut self, out: &mut Vec<Input>) -> bool {
        if out.is_empty() {
            return false;
        }
        for input in out.drain(..) {
            self.handle(input);
        }
        true
    }

    fn handle(&mut self, input: Input) {
        match self {
            Owner::Engine { engine, .. } => engine.handle(Timestamp::now(), input),
            Owner::Lines { inputs } => {
                let _ = inputs.send(input);
            }
        }
    }

    /// A command the telephony has done with, for an owner that wants it.
    fn forward(&self, command: Command) {
        if let Owner::Engine { commands, .. } = self {
            let _ = commands.send(command);
        }
    }

    /// When the driver's own engine wants its timer.
    fn poll_timeout(&self) -> Option<Timestamp> {
        match self {
            Owner::Engine { engine, .. } => engine.poll_timeout(),
            Owner::Lines { .. } => None,
        }
    }

    fn into_engine(self) -> Option<Engine> {
        match self {
            Owner::Engine { engine, .. } => Some(*engine),
            Owner::Lines { .. } => None,
        }
    }
}

/// What the driver keeps about a live customer call.
struct Live {
    /// The call's media task.
    control: mpsc::UnboundedSender<MediaControl>,
    /// Detection runs and the engine has not heard of the answer yet.
    amd_pending: bool,
    /// The agent whose phone is being called or is bridged.
    agent: Option<AgentId>,
    /// The agent leg's RTP socket until the phone answers.
    agent_socket: Option<UdpSocket>,
    /// A prompt plays, then the call is hung up.
    hangup_after_play: bool,
    /// The number dialled (shown on the agent's phone).
    number: String,
    /// The detection settings of the call's campaign.
    amd: AmdConfig,
}

/// An agent's nailed-up leg.
struct NailedLeg {
    /// The leg's RTP socket until the phone answers.
    socket: Option<UdpSocket>,
    /// The leg's media task once the phone answered.
    control: Option<mpsc::UnboundedSender<NailedControl>>,
    /// The customer call bridged onto the leg, or waiting for it to answer.
    call: Option<CallId>,
}

impl Drop for NailedLeg {
    fn drop(&mut self) {
        if let Some(control) = &self.control {
            let _ = control.send(NailedControl::Stop);
        }
    }
}

/// The agents whose phone is up for the shift (answered, placed or dialled in), shared with a
/// [`Lines`] owner so that it readies an agent only once customers can be put through.
#[derive(Clone, Default)]
struct PhonesUp(Arc<Mutex<HashSet<AgentId>>>);

impl PhonesUp {
    fn set(&self, agent: AgentId, up: bool) {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if up {
            set.insert(agent);
        } else {
            set.remove(&agent);
        }
    }

    fn contains(&self, agent: AgentId) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).contains(&agent)
    }
}

/// The detection reports of screened calls, kept until their attempt is final; shared with
/// a [`Lines`] owner, which annotates the attempts its own engine ends.
#[derive(Clone, Default)]
struct Screened(Arc<Mutex<HashMap<CallId, AmdReport>>>);

impl Screened {
    fn book(&self) -> MutexGuard<'_, HashMap<CallId, AmdReport>> {
        // The map stays consistent whatever a panicking holder did: entries are whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds what only the telephony knows to an ended attempt: the 200 of an answered call
    /// (the engine records SIP codes of failures only) and the detector's verdict with the
    /// settings in force.
    fn annotate(&self, record: &mut AttemptRecord) {
        if record.answered_at.is_some() && record.sip_code.is_none() {
            record.sip_code = Some(200);
        }
        // A connected attempt ends twice: at the hangup, then with the agent's outcome.
        let last = record.result != Some(CallResult::Connected) || record.outcome.is_some();
        let mut book = self.book();
        let report = if last { book.remove(&record.call) } else { book.get(&record.call).cloned() };
        if record.amd {
            record.amd_report = report;
        }
    }
}

/// A link just opened, with its media events and, over TCP, the trunk's messages.
struct Opened {
    link: Link,
    media: mpsc::UnboundedReceiver<MediaEvent>,
    tcp: Option<mpsc::UnboundedReceiver<Received>>,
}

/// The SIP side of the driver.
struct Link {
    socket: UdpSocket,
    /// Our SIP address.
    local: SocketAddr,
    /// This run's name (process and start time), in Call-IDs and recordings' file names.
    instance: String,
    calls: TrunkCalls,
    agents: AgentLegs,
    guard: InboundGuard,
    options: DriverOptions,
    live: HashMap<CallId, Live>,
    /// Detection of the calls that asked for it, kept until their attempt is final.
    screened: Screened,
    /// Nailed-up agent legs, by agent.
    nailed: HashMap<AgentId, NailedLeg>,
    /// Agents whose phone hung up: taken out of ready before their leg is placed again.
    phone_down: HashSet<AgentId>,
    /// Agents whose phone is up, as the owner sees it.
    phones_up: PhonesUp,
    /// Agents the owner readies once their phone answers.
    awaiting_phone: HashSet<AgentId>,
    media_tx: mpsc::UnboundedSender<MediaEvent>,
    /// Inputs for the engine, in order, since the owner last took them.
    out: Vec<Input>,
    /// The trunks' addresses, in the configured order.
    trunks: Vec<SocketAddr>,
    /// Each trunk's TCP connection, for a `transport = "tcp"` trunk.
    streams: Vec<Option<TrunkStream>>,
    /// The listener for the trunks' own TCP connections, if a trunk uses TCP.
    listener: Option<Listener>,
    /// Where registered agents' phones are.
    registrar: Registrar,
    /// Legs of agents' phones that dialled in.
    dialins: DialIns<AgentId>,
    /// What each campaign does with machines, as its owner last said.
    on_machine: HashMap<CampaignId, OnMachine>,
    regions: HashMap<CampaignId, ringa_core::Region>,
    /// The campaigns' caller IDs (digits only), for customers who call back.
    caller_ids: HashMap<String, CampaignId>,
    /// Calls back from customers: answered at once, then bridged to the agent the engine
    /// gives them or played the callback message.
    callbacks: DialIns<CallId>,
    /// The calls back that are up, with their campaign (their media is in `live`).
    inbound: HashMap<CallId, CampaignId>,
    /// Calls back answered so far (their ids are apart from the engine's).
    callbacks_answered: u64,
    /// Calls back that ring (180) until the engine decides, with their negotiated media:
    /// answered on `Connect` (on a per-call agent leg, once the phone answers) or on
    /// `InboundMessage` with a message, refused 480 without one.
    held: HashMap<CallId, sdp::Negotiated>,
}

impl Link {
    /// Binds the SIP socket; returns the link and its media events.
    async fn open(
        trunks: Vec<TrunkConfig>,
        sip_bind: SocketAddr,
        options: DriverOptions,
        screened: Screened,
    ) -> Result<Opened, DriverError> {
        if trunks.is_empty() {
            return Err(DriverError::NoTrunk);
        }
        let socket = crate::socket::bind_sip(sip_bind).map_err(DriverError::Io)?;
        let local = socket.local_addr().map_err(DriverError::Io)?;
        let (tcp_tx, tcp_rx) = mpsc::unbounded_channel();
        let any_tcp = trunks.iter().any(|t| t.transport == Transport::Tcp);
        let listener = match any_tcp {
            true => Some(Listener::bind(local, tcp_tx.clone()).await.map_err(DriverError::Io)?),
            false => None,
        };
        let streams = trunks
            .iter()
            .map(|t| match t.transport {
                Transport::Udp => None,
                Transport::Tcp => Some(TrunkStream::new(t.address, tcp_tx.clone())),
            })
            .collect();
        let tcp_rx = any_tcp.then_some(tcp_rx);
        let instance = format!("{}-{}", std::process::id(), Timestamp::now().as_millisecond());
        let fallback_media = SocketAddr::new(options.media_ip, 0);
        let addresses = trunks.iter().map(|t| t.address).collect();
        let calls =
            TrunkCalls::with_trunks(Instant::now(), trunks, local, fallback_media, &instance);
        let agents = AgentLegs::new(local, &instance);
        // The nonce key comes from the standard library's per-process random hash seed.
        let secret = format!("{:016x}", RandomState::new().build_hasher().finish());
        let accounts = options.accounts.clone();
        let guard = InboundGuard::new(Instant::now(), "ringa", &secret, accounts, 20.0, 40.0);
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let link = Link {
            socket,
            local,
            instance: instance.clone(),
            trunks: addresses,
            calls,
            agents,
            guard,
            options,
            live: HashMap::new(),
            screened,
            nailed: HashMap::new(),
            phone_down: HashSet::new(),
            phones_up: PhonesUp::default(),
            awaiting_phone: HashSet::new(),
            media_tx,
            out: Vec::new(),
            streams,
            listener,
            registrar: Registrar::new(),
            dialins: DialIns::new(local),
            on_machine: HashMap::new(),
            regions: HashMap::new(),
            caller_ids: HashMap::new(),
            callbacks: DialIns::new(local),
            inbound: HashMap::new(),
            callbacks_answered: 0,
            held: HashMap::new(),
        };
        Ok(Opened { link, media: media_rx, tcp: tcp_rx })
    }

    /// Takes a campaign's choice on machines and its caller IDs.
    fn learn_campaign(&mut self, lines: CampaignLines) {
        let campaign = lines.id;
        self.on_machine.insert(campaign, lines.on_machine);
        self.regions.insert(campaign, lines.region);
        self.caller_ids.retain(|_, c| *c != campaign);
        for id in lines.caller_ids {
            self.caller_ids.insert(digits(&id), campaign);
        }
    }

    /// The campaign whose caller ID an INVITE from one of our trunks calls, if it does: a
    /// customer calling back.
    fn called_back(&self, source: SocketAddr, m: &SipMessage) -> Option<CampaignId> {
        if m.method() != Some("INVITE") || !self.trunks.iter().any(|t| t.ip() == source.ip()) {
            return None;
        }
        let StartLine::Request { uri, .. } = &m.start else { return None };
        let to = m.header("To").map(uri_of);
        [Some(uri.as_str()), to].into_iter().flatten().find_map(|uri| {
            let dialled = digits(user_of(uri)?);
            let dialled = dialled.trim_start_matches('0');
            if dialled.len() < 6 {
                return None;
            }
            // The trunk may give the number in national form: its significant digits end
            // the caller ID.
            self.caller_ids.iter().find(|(id, _)| id.ends_with(dialled)).map(|(_, c)| *c)
        })
    }

    /// Takes a customer calling back `campaign`'s caller ID (180 Ringing, nothing answered
    /// yet) and tells the engine's owner, which gives the call an agent or the callback
    /// message; the response when the call is declined. Once answered, the call's media runs
    /// (and is recorded) like an outbound call's.
    async fn answer_callback(
        &mut self,
        now: Instant,
        source: SocketAddr,
        m: &SipMessage,
        campaign: CampaignId,
        over_tcp: bool,
    ) -> Option<SipMessage> {
        let from = m.header("From").map(uri_of).and_then(user_of).unwrap_or("anonymous");
        if self.inbound.len() >= MAX_CALLBACKS {
            return Some(reply(m, 486, "Busy Here"));
        }
        let offer = SessionDescription::parse(&String::from_utf8_lossy(&m.body));
        let Ok(offer) = offer else { return Some(reply(m, 488, "Not Acceptable Here")) };
        let bound = UdpSocket::bind(SocketAddr::new(self.options.media_ip, 0)).await;
        let Ok((socket, addr)) = bound.and_then(|s| s.local_addr().map(|a| (s, a))) else {
            return Some(reply(m, 503, "Service Unavailable"));
        };
        self.callbacks_answered += 1;
        let call = CallId(CALLBACK_IDS + self.callbacks_answered);
        let Ok((negotiated, body)) = sdp::answer(&offer, call.get(), 1, addr) else {
            return Some(reply(m, 488, "Not Acceptable Here"));
        };
        if self.callbacks.ring(now, call, source, m, body, over_tcp).is_err() {
            return Some(reply(m, 400, "Bad Request"));
        }
        let caller = caller_number(from, self.regions.get(&campaign).copied());
        tracing::info!(%call, %campaign, from = %Pii(from), "a customer called back");
        let (control, rx) = mpsc::unbounded_channel();
        let settings = MediaSettings {
            recordings: self.options.recordings.clone(),
            inactivity: self.options.inactivity,
            run: self.instance.clone(),
        };
        media::spawn(call, socket, settings, rx, self.media_tx.clone());
        self.held.insert(call, negotiated);
        let live = Live {
            control,
            amd_pending: false,
            agent: None,
            agent_socket: None,
            hangup_after_play: false,
            number: from.to_string(),
            amd: self.amd_settings(campaign),
        };
        self.live.insert(call, live);
        self.inbound.insert(call, campaign);
        self.out.push(Input::InboundCall { call, campaign, caller, contact: None });
        None
    }

    /// Answers a call back that rings (200 OK with our SDP) and starts its media.
    fn accept_callback(&mut self, now: Instant, call: CallId) {
        let Some(customer) = self.held.remove(&call) else { return };
        if self.callbacks.accept(now, call)
            && let Some(live) = self.live.get(&call)
        {
            let _ = live.control.send(MediaControl::Answered { customer, amd: None });
        }
    }

    fn on_callback(&mut self, event: DialInEvent<CallId>) {
        match event {
            DialInEvent::HungUp { owner: call }
            | DialInEvent::Unacknowledged { owner: call }
            | DialInEvent::Cancelled { owner: call } => {
                if let DialInEvent::Unacknowledged { .. } = event {
                    tracing::warn!(%call, "the call back never acknowledged our answer");
                }
                if self.inbound.contains_key(&call) {
                    // Whoever has the call (an agent, being connected or talking) is freed
                    // as after an outbound call's end.
                    self.end_inbound(call);
                    let event = CallEvent::HungUp { by_customer: true };
                    self.out.push(Input::Call { call, event });
                }
            }
            DialInEvent::Offer { owner, sdp } => self.on_offer(owner, &sdp),
        }
    }

    /// A call back is over: stop its media, hang up its per-call agent leg, give a nailed-up
    /// leg back to waiting.
    fn end_inbound(&mut self, call: CallId) {
        self.inbound.remove(&call);
        self.held.remove(&call);
        self.on_ended(call);
    }

    /// Whether `call` is up: a call we placed that is not over, or a call back.
    fn is_active(&self, call: CallId) -> bool {
        self.calls.is_active(call) || self.inbound.contains_key(&call)
    }

    /// Hangs up `call`, a call we placed or a call back.
    fn hang_up(&mut self, now: Instant, call: CallId) {
        if self.inbound.contains_key(&call) {
            self.callbacks.hangup(now, call);
            self.end_inbound(call);
        } else {
            self.calls.handle_command(now, &Command::Hangup { call });
        }
    }

    /// The detection settings for a call of `campaign`: the driver's, with the campaign's
    /// choice on machines.
    fn amd_settings(&self, campaign: CampaignId) -> AmdConfig {
        let mut settings = self.options.amd;
        if let Some(choice) = self.on_machine.get(&campaign) {
            settings.on_machine = match choice {
                OnMachine::HangUp => MachineAction::HangUp,
                OnMachine::LeaveMessage => MachineAction::LeaveMessage,
            };
        }
        settings
    }

    /// Handles one datagram: our calls first, then the agent legs, then the inbound gate.
    async fn receive(
        &mut self,
        source: SocketAddr,
        datagram: &[u8],
        over_tcp: bool,
    ) -> Result<(), DriverError> {
        let Ok(m) = SipMessage::parse(datagram) else { return Ok(()) };
        let now = Instant::now();
        if self.calls.handle_message(now, &m)
            || self.agents.handle_message(now, &m)
            || self.dialins.handle_message(now, &m)
            || self.callbacks.handle_message(now, &m)
        {
            return Ok(());
        }
        if let Some(campaign) = self.called_back(source, &m) {
            let refusal = self.answer_callback(now, source, &m, campaign, over_tcp).await;
            let Some(refusal) = refusal else { return Ok(()) };
            return self.send_dialled_in(source, over_tcp, &refusal.to_bytes()).await;
        }
        let response = match self.guard.handle_request(now, source, &m) {
            Verdict::Respond(r) => r,
            Verdict::Drop => return Ok(()),
            Verdict::Agent { user } if m.method() == Some("REGISTER") => {
                self.registrar.handle_register(now, &user, source, &m)
            }
            Verdict::Agent { user } if m.method() == Some("INVITE") => {
                match self.dial_in(now, source, &m, &user).await {
                    Some(refusal) => refusal,
                    None => return Ok(()),
                }
            }
            Verdict::Agent { .. } => reply(&m, 405, "Method Not Allowed"),
        };
        if over_tcp {
            // Back on our own connection to the trunk the message came from.
            self.send_trunk(self.trunk_of(source), &response.to_bytes()).await
        } else {
            self.socket.send_to(&response.to_bytes(), source).await.map_err(DriverError::Io)?;
            Ok(())
        }
    }

    /// Sends a message of a leg that called us (a phone that dialled in, a call back) to
    /// `to`: over TCP on the connection it came on (the trunk's own, else ours to that
    /// trunk), else over UDP.
    async fn send_dialled_in(
        &mut self,
        to: SocketAddr,
        tcp: bool,
        message: &[u8],
    ) -> Result<(), DriverError> {
        if !tcp {
            self.socket.send_to(message, to).await.map_err(DriverError::Io)?;
            return Ok(());
        }
        if self.listener.as_ref().is_some_and(|l| l.send_to(to, message)) {
            return Ok(());
        }
        self.send_trunk(self.trunk_of(to), message).await
    }

    /// The number of the trunk at `address` (else the first on its host, else the first).
    fn trunk_of(&self, address: SocketAddr) -> usize {
        self.trunks
            .iter()
            .position(|t| *t == address)
            .or_else(|| self.trunks.iter().position(|t| t.ip() == address.ip()))
            .unwrap_or(0)
    }

    /// Sends a message to trunk number `trunk` over its transport.
    async fn send_trunk(&mut self, trunk: usize, message: &[u8]) -> Result<(), DriverError> {
        match self.streams.get_mut(trunk) {
            Some(Some(stream)) => stream.send(message).await,
            _ => {
                let Some(address) = self.trunks.get(trunk).copied() else { return Ok(()) };
                self.socket.send_to(message, address).await.map_err(DriverError::Io)?;
            }
        }
        Ok(())
    }

    /// Executes one engine command; returns it when it is for the owner.
    async fn command(&mut self, command: Command) -> Option<Command> {
        let now = Instant::now();
        match &command {
            Command::Originate { call, number, amd, campaign, .. } => {
                let detection = self.amd_settings(*campaign);
                let bound = UdpSocket::bind(SocketAddr::new(self.options.media_ip, 0)).await;
                match bound.and_then(|s| s.local_addr().map(|a| (s, a))) {
                    Ok((socket, addr)) => {
                        let (control, rx) = mpsc::unbounded_channel();
                        let settings = MediaSettings {
                            recordings: self.options.recordings.clone(),
                            inactivity: self.options.inactivity,
                            run: self.instance.clone(),
                        };
                        media::spawn(*call, socket, settings, rx, self.media_tx.clone());
                        let live = Live {
                            control,
                            amd_pending: *amd,
                            agent: None,
                            agent_socket: None,
                            hangup_after_play: false,
                            number: number.as_str().to_string(),
                            amd: detection,
                        };
                        self.live.insert(*call, live);
                        if *amd {
                            let report = amd_report(&detection);
                            self.screened.book().insert(*call, report);
                        }
                        self.calls.handle_originate(now, &command, addr);
                    }
                    Err(e) => {
                        tracing::warn!(%call, error = %e, "no media port for the call");
                        self.out.push(Input::Call {
                            call: *call,
                            event: CallEvent::Failed {
                                result: CallResult::Congestion,
                                sip_code: None,
                            },
                        });
                    }
                }
                None
            }
            Command::Connect { call, agent } => {
                self.connect_agent(now, *call, *agent).await;
                // A call back is answered now, or on a per-call leg once the phone answers.
                let phone_rings = self.live.get(call).is_some_and(|l| l.agent_socket.is_some());
                if !phone_rings {
                    self.accept_callback(now, *call);
                }
                Some(command)
            }
            Command::Hangup { call } => {
                self.hang_up(now, *call);
                self.agents.hangup_at(Instant::now(), *call);
                None
            }
            Command::InboundMessage { call, .. } => {
                let prompt = self.options.callback_message.clone();
                if prompt.is_some() {
                    self.accept_callback(now, *call);
                }
                match (prompt, self.live.get_mut(call)) {
                    (Some(prompt), Some(live)) => {
                        live.hangup_after_play = true;
                        let _ = live.control.send(MediaControl::Play { prompt, at_cue: false });
                    }
                    (None, Some(_)) => {
                        // Never answered, so never billed: the caller hears the network's
                        // tone for 480 and may try again later.
                        tracing::info!(%call, "a call back, no free agent and no message: 480");
                        self.callbacks.reject(now, *call, 480, "Temporarily Unavailable");
                        self.end_inbound(*call);
                    }
                    // The customer already left.
                    (_, None) => {}
                }
                None
            }
            Command::Drop { call, reason, message } => {
                let leave_message = self
                    .live
                    .get(call)
                    .is_some_and(|l| l.amd.on_machine == MachineAction::LeaveMessage);
                let prompt = match reason {
                    DropReason::NoAgent if *message => {
                        self.options.drop_message.clone().map(|p| (p, false))
                    }
                    DropReason::Machine if leave_message => {
                        self.options.machine_message.clone().map(|p| (p, true))
                    }
                    _ => None,
                };
                match (prompt, self.live.get_mut(call)) {
                    (Some((prompt, at_cue)), Some(live)) => {
                        live.hangup_after_play = true;
                        let _ = live.control.send(MediaControl::Play { prompt, at_cue });
                    }
                    _ => self.hang_up(now, *call),
                }
                None
            }
            Command::Cancel { .. } => {
                self.calls.handle_command(now, &command);
                None
            }
            Command::AttemptEnded { record } => {
                let mut record = record.clone();
                self.screened.annotate(&mut record);
                Some(Command::AttemptEnded { record })
            }
            Command::AgentState { agent, state, .. } => {
                self.on_agent_state(now, *agent, state).await;
                Some(command)
            }
            _ => Some(command),
        }
    }

    /// Whether `agent` works on a nailed-up leg.
    fn is_nailed(&self, agent: AgentId) -> bool {
        self.options.agent_legs == AgentLegMode::Nailed
            && (self.options.agent_phones.contains_key(&agent)
                || self.options.agent_accounts.contains_key(&agent))
    }

    /// Places, keeps or ends an agent's nailed-up leg as the agent's state changes.
    async fn on_agent_state(&mut self, now: Instant, agent: AgentId, state: &AgentState) {
        if !self.is_nailed(agent) {
            return;
        }
        match state {
            AgentState::LoggedOut => {
                self.phone_down.remove(&agent);
                self.end_nailed(agent);
            }
            AgentState::Paused { .. } => {
                // Out of ready: the next ready places the leg again. The break set when the
                // phone hung up mid-call has served.
                if self.phone_down.remove(&agent) {
                    self.out.push(Input::AgentLeavesAt { agent, at: None });
                }
            }
            AgentState::Ready | AgentState::Reserved { .. } => {
                if self.phone_down.contains(&agent) {
                    // The phone hung up during the last call: not ready until the agent
                    // says so again.
                    let reason = "phone hung up".to_string();
                    self.out.push(Input::AgentPause { agent, reason });
                } else if !self.nailed.contains_key(&agent) && !self.place_nailed(now, agent).await
                {
                    // No phone to put customers through to: not ready until the agent says
                    // so again.
                    let reason = "phone unreachable".to_string();
                    self.out.push(Input::AgentPause { agent, reason });
                }
            }
            AgentState::InCall { .. } | AgentState::WrapUp { .. } => {}
        }
    }

    /// Where `agent`'s phone is called: its configured address, else where its registration
    /// came from.
    fn phone_uri(&self, now: Instant, agent: AgentId) -> Option<String> {
        if let Some(uri) = self.options.agent_phones.get(&agent) {
            return Some(uri.clone());
        }
        let account = self.options.agent_accounts.get(&agent)?;
        self.registrar.lookup(now, account).map(|b| b.uri())
    }

    /// The owner's agent wants to go ready: ready at once if the phone is up, else once it
    /// answers the call placed now (or paused when it cannot be called).
    async fn call_phone(&mut self, now: Instant, agent: AgentId) {
        let up = self.nailed.get(&agent).map(|leg| leg.control.is_some());
        match up {
            Some(true) => self.out.push(Input::AgentReady { agent }),
            Some(false) => {
                self.awaiting_phone.insert(agent);
            }
            None if self.place_nailed(now, agent).await => {
                self.awaiting_phone.insert(agent);
            }
            None => {
                let reason = "phone unreachable".to_string();
                self.out.push(Input::AgentPause { agent, reason });
            }
        }
    }

    /// Calls `agent`'s phone for a leg that stays up; false when it cannot be placed.
    async fn place_nailed(&mut self, now: Instant, agent: AgentId) -> bool {
        let Some(uri) = self.phone_uri(now, agent) else {
            tracing::warn!(%agent, "the agent's phone is not registered");
            return false;
        };
        let bound = UdpSocket::bind(SocketAddr::new(self.options.media_ip, 0)).await;
        let Ok((socket, addr)) = bound.and_then(|s| s.local_addr().map(|a| (s, a))) else {
            tracing::warn!(%agent, "no media port for the agent leg");
            return false;
        };
        match self.agents.dial_nailed(now, agent, &uri, addr) {
            Ok(()) => {
                tracing::info!(%agent, "calling the agent's phone for the shift");
                let leg = NailedLeg { socket: Some(socket), control: None, call: None };
                self.nailed.insert(agent, leg);
                true
            }
            Err(e) => {
                tracing::warn!(%agent, error = %e, "cannot call the agent's phone");
                false
            }
        }
    }

    /// Hangs up `agent`'s nailed-up leg and stops its media.
    fn end_nailed(&mut self, agent: AgentId) {
        self.phones_up.set(agent, false);
        self.awaiting_phone.remove(&agent);
        if let Some(leg) = self.nailed.remove(&agent) {
            if let Some(live) = leg.call.and_then(|call| self.live.get(&call)) {
                let _ = live.control.send(MediaControl::Unbridge);
            }
            self.agents.hangup_nailed_at(Instant::now(), agent);
            self.dialins.hangup(Instant::now(), agent);
        }
    }

    /// An agent's phone dialled in (its account proven): answered as the agent's nailed-up
    /// leg; the response when it cannot be.
    async fn dial_in(
        &mut self,
        now: Instant,
        source: SocketAddr,
        m: &SipMessage,
        account: &str,
    ) -> Option<SipMessage> {
        let agent = self
            .options
            .agent_accounts
            .iter()
            .find(|(_, a)| a.as_str() == account)
            .map(|(agent, _)| *agent);
        let Some(agent) = agent.filter(|a| self.is_nailed(*a)) else {
            return Some(reply(m, 403, "Forbidden"));
        };
        if self.nailed.contains_key(&agent) {
            return Some(reply(m, 486, "Busy Here"));
        }
        let offer = SessionDescription::parse(&String::from_utf8_lossy(&m.body));
        let Ok(offer) = offer else {
            return Some(reply(m, 488, "Not Acceptable Here"));
        };
        let bound = UdpSocket::bind(SocketAddr::new(self.options.media_ip, 0)).await;
        let Ok((socket, addr)) = bound.and_then(|s| s.local_addr().map(|a| (s, a))) else {
            tracing::warn!(%agent, "no media port for the agent leg");
            return Some(reply(m, 503, "Service Unavailable"));
        };
        let session = agent.0 ^ (u64::from(addr.port()) << 32);
        let Ok((negotiated, body)) = sdp::answer(&offer, session, 1, addr) else {
            return Some(reply(m, 488, "Not Acceptable Here"));
        };
        if self.dialins.answer(now, agent, source, m, body).is_err() {
            return Some(reply(m, 400, "Bad Request"));
        }
        tracing::info!(%agent, "agent phone dialled in for the shift");
        let (control, rx) = mpsc::unbounded_channel();
        nailed::spawn(agent, socket, negotiated, rx);
        let leg = NailedLeg { socket: None, control: Some(control), call: None };
        self.phones_up.set(agent, true);
        if self.awaiting_phone.remove(&agent) {
            self.out.push(Input::AgentReady { agent });
        }
        self.nailed.insert(agent, leg);
        None
    }

    fn on_dial_in(&mut self, event: DialInEvent<AgentId>) {
        match event {
            DialInEvent::HungUp { owner: agent } | DialInEvent::Cancelled { owner: agent } => {
                tracing::info!(%agent, "agent phone hung up");
                self.nailed_down(agent, "phone hung up".to_string());
            }
            DialInEvent::Offer { owner: agent, sdp } => {
                if let (Some(media), Some(control)) = (
                    renegotiated(&sdp),
                    self.nailed.get(&agent).and_then(|leg| leg.control.as_ref()),
                ) {
                    let _ = control.send(NailedControl::Moved { media });
                }
            }
            DialInEvent::Unacknowledged { owner: agent } => {
                tracing::warn!(%agent, "agent phone never acknowledged the answer");
                self.nailed_down(agent, "phone did not acknowledge".to_string());
            }
        }
    }

    /// Bridges `call` onto `agent`'s nailed-up leg, placing the leg first if it is down.
    async fn connect_nailed(&mut self, now: Instant, call: CallId, agent: AgentId) {
        if self.phone_down.contains(&agent) {
            // The phone hung up while this customer was being dialled for the agent: the
            // customer cannot be put through, and the phone is not called behind the
            // agent's back.
            tracing::warn!(%call, %agent, "connect to an agent whose phone hung up");
            self.out.push(Input::AgentHangup { agent });
            return;
        }
        if !self.nailed.contains_key(&agent) && !self.place_nailed(now, agent).await {
            return;
        }
        let (Some(live), Some(leg)) = (self.live.get_mut(&call), self.nailed.get_mut(&agent))
        else {
            return;
        };
        live.agent = Some(agent);
        leg.call = Some(call);
        if let Some(control) = &leg.control {
            let _ = control.send(NailedControl::Lend { call, media: live.control.clone() });
        }
    }

    /// Calls the agent's phone for an answered customer.
    async fn connect_agent(&mut self, now: Instant, call: CallId, agent: AgentId) {
        if self.is_nailed(agent) {
            self.connect_nailed(now, call, agent).await;
            return;
        }
        let Some(uri) = self.phone_uri(now, agent) else {
            tracing::debug!(%call, %agent, "no phone configured for the agent");
            return;
        };
        let Some(live) = self.live.get_mut(&call) else { return };
        let bound = UdpSocket::bind(SocketAddr::new(self.options.media_ip, 0)).await;
        let Ok((socket, addr)) = bound.and_then(|s| s.local_addr().map(|a| (s, a))) else {
            tracing::warn!(%call, %agent, "no media port for the agent leg");
            return;
        };
        match self.agents.dial(now, call, agent, &uri, addr, &live.number) {
            Ok(()) => {
                live.agent = Some(agent);
                live.agent_socket = Some(socket);
            }
            Err(e) => tracing::warn!(%call, %agent, error = %e, "cannot call the agent's phone"),
        }
    }

    /// An answer from the trunk: start the media (and detection).
    fn on_answer(&mut self, answer: crate::calls::Answer) {
        let negotiated =
            SessionDescription::parse(&answer.sdp).and_then(|sdp| sdp::accept_answer(&sdp));
        let Some(live) = self.live.get_mut(&answer.call) else { return };
        match negotiated {
            Ok(customer) => {
                let amd = answer.amd.then_some(live.amd);
                let _ = live.control.send(MediaControl::Answered { customer, amd });
            }
            Err(e) => {
                tracing::warn!(call = %answer.call, error = %e, "unusable SDP answer");
                if live.amd_pending {
                    // Nothing to listen to: the call goes to an agent, as NOTSURE does.
                    live.amd_pending = false;
                    let event = CallEvent::Answered { by: AnsweredBy::Unsure };
                    self.out.push(Input::Call { call: answer.call, event });
                }
            }
        }
    }

    /// A customer's re-INVITE or UPDATE: follow its media if the address moved.
    fn on_offer(&mut self, call: CallId, sdp: &str) {
        let Some(live) = self.live.get(&call) else { return };
        if let Some(media) = renegotiated(sdp) {
            let _ = live.control.send(MediaControl::CustomerMoved { media });
        }
    }

    /// Reports as hung up each of `connected` the driver no longer carries.
    fn audit(&mut self, connected: &[CallId]) {
        for &call in connected {
            if !self.live.contains_key(&call) {
                tracing::warn!(%call, "a call the engine has connected is gone: ended");
                self.out
                    .push(Input::Call { call, event: CallEvent::HungUp { by_customer: false } });
            }
        }
    }

    /// A customer dialog ended: stop its media and hang up its per-call agent leg (a
    /// nailed-up leg gets its stream back from the media task and stays up).
    fn on_ended(&mut self, call: CallId) {
        if let Some(live) = self.live.remove(&call) {
            let _ = live.control.send(MediaControl::Stop);
        }
        self.release_nailed(call);
        self.agents.hangup_at(Instant::now(), call);
    }

    /// Forgets that a nailed-up leg serves `call`.
    fn release_nailed(&mut self, call: CallId) {
        for leg in self.nailed.values_mut() {
            if leg.call == Some(call) {
                leg.call = None;
            }
        }
    }

    /// The phone of a nailed-up leg is gone: the customer call it served ends, and the
    /// agent is taken out of ready until they are ready again.
    fn nailed_down(&mut self, agent: AgentId, reason: String) {
        let call = self.nailed.get(&agent).and_then(|leg| leg.call);
        self.end_nailed(agent);
        self.phone_down.insert(agent);
        let now = Timestamp::now();
        if let Some(call) = call
            && self.is_active(call)
        {
            self.out.push(Input::AgentHangup { agent });
        }
        // Ready agents are paused now; one in a call or wrap-up is refused a pause, so a
        // break due now makes the engine pause them when the outcome is set instead of
        // giving them the next customer.
        self.out.push(Input::AgentLeavesAt { agent, at: Some(now) });
        self.out.push(Input::AgentPause { agent, reason });
    }

    fn on_agent_leg(&mut self, event: AgentLegEvent) {
        match event {
            AgentLegEvent::NailedAnswered { agent, sdp } => {
                let negotiated =
                    SessionDescription::parse(&sdp).and_then(|sdp| sdp::accept_answer(&sdp));
                let Some(leg) = self.nailed.get_mut(&agent) else {
                    self.agents.hangup_nailed_at(Instant::now(), agent);
                    return;
                };
                match (negotiated, leg.socket.take()) {
                    (Ok(neg), Some(socket)) => {
                        tracing::info!(%agent, "agent phone up for the shift");
                        self.phones_up.set(agent, true);
                        if self.awaiting_phone.remove(&agent) {
                            self.out.push(Input::AgentReady { agent });
                        }
                        let (control, rx) = mpsc::unbounded_channel();
                        nailed::spawn(agent, socket, neg, rx);
                        if let Some(call) = leg.call
                            && let Some(live) = self.live.get(&call)
                        {
                            let media = live.control.clone();
                            let _ = control.send(NailedControl::Lend { call, media });
                        }
                        leg.control = Some(control);
                    }
                    (Err(e), _) => {
                        tracing::warn!(%agent, error = %e, "agent phone SDP unusable");
                        self.nailed_down(agent, "phone media unusable".to_string());
                    }
                    (Ok(_), None) => {}
                }
            }
            AgentLegEvent::NailedOffer { agent, sdp } => {
                if let (Some(media), Some(control)) = (
                    renegotiated(&sdp),
                    self.nailed.get(&agent).and_then(|leg| leg.control.as_ref()),
                ) {
                    let _ = control.send(NailedControl::Moved { media });
                }
            }
            AgentLegEvent::Offer { call, sdp, .. } => {
                if let (Some(media), Some(live)) = (renegotiated(&sdp), self.live.get(&call)) {
                    let _ = live.control.send(MediaControl::AgentMoved { media });
                }
            }
            AgentLegEvent::NailedFailed { agent, code } => {
                tracing::warn!(%agent, code, "agent phone did not answer");
                self.nailed_down(agent, format!("phone did not answer ({code})"));
            }
            AgentLegEvent::NailedHungUp { agent } => {
                tracing::info!(%agent, "agent phone hung up");
                self.nailed_down(agent, "phone hung up".to_string());
            }
            AgentLegEvent::Answered { call, agent, sdp } => {
                let negotiated =
                    SessionDescription::parse(&sdp).and_then(|sdp| sdp::accept_answer(&sdp));
                let active = self.is_active(call);
                if active && negotiated.is_ok() {
                    // A call back waited for the agent's phone: the caller is answered now.
                    self.accept_callback(Instant::now(), call);
                }
                let live = self.live.get_mut(&call).filter(|_| active);
                match (live, negotiated) {
                    (Some(live), Ok(neg)) => {
                        if let Some(socket) = live.agent_socket.take() {
                            let _ = live.control.send(MediaControl::Bridge { socket, agent: neg });
                        }
                    }
                    (None, _) => {
                        // The customer left while the phone rang: never leave the agent on a
                        // dead call.
                        self.agents.hangup_at(Instant::now(), call);
                    }
                    (Some(_), Err(e)) => {
                        tracing::warn!(%call, %agent, error = %e, "agent phone SDP unusable");
                        self.agents.hangup_at(Instant::now(), call);
                        self.out.push(Input::AgentHangup { agent });
                    }
                }
            }
            AgentLegEvent::Failed { call, agent, code } => {
                tracing::warn!(%call, %agent, code, "agent phone did not answer");
                if self.is_active(call) {
                    self.out.push(Input::AgentHangup { agent });
                }
                let reason = format!("phone did not answer ({code})");
                self.out.push(Input::AgentPause { agent, reason });
            }
            AgentLegEvent::HungUp { call, agent } => {
                if let Some(live) = self.live.get(&call) {
                    let _ = live.control.send(MediaControl::Unbridge);
                }
                if self.is_active(call) {
                    // The desktop's hangup path: the engine ends the customer leg.
                    self.out.push(Input::AgentHangup { agent });
                }
            }
        }
    }

    fn on_media(&mut self, event: &MediaEvent) {
        match event {
            MediaEvent::Verdict { call, verdict, route } => {
                if let Some(report) = self.screened.book().get_mut(call) {
                    report.class = Some(verdict.class.to_string());
                    report.reason = serde_json::to_value(verdict.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string));
                    report.at_ms = Some(verdict.at_ms);
                }
                let Some(live) = self.live.get_mut(call) else { return };
                if !live.amd_pending || !self.calls.is_active(*call) {
                    return;
                }
                live.amd_pending = false;
                let by = match (route, verdict.class) {
                    (Route::ConnectAgent, Class::Human) => AnsweredBy::Human,
                    (Route::ConnectAgent, _) => AnsweredBy::Unsure,
                    (Route::HangUp | Route::LeaveMessage, _) => AnsweredBy::Machine,
                };
                let event = CallEvent::Answered { by };
                self.out.push(Input::Call { call: *call, event });
            }
            MediaEvent::Played { call } => {
                if self.live.get(call).is_some_and(|l| l.hangup_after_play) {
                    self.hang_up(Instant::now(), *call);
                }
            }
            MediaEvent::Inactive { call, side } => {
                tracing::warn!(%call, ?side, "no RTP on a leg: ending the call");
                let pending = self.live.get(call).is_some_and(|l| l.amd_pending);
                let active = self.is_active(*call);
                let nailed_agent = self.live.get(call).and_then(|l| l.agent);
                self.hang_up(Instant::now(), *call);
                self.agents.hangup_at(Instant::now(), *call);
                if *side == Side::Agent
                    && let Some(agent) = nailed_agent.filter(|a| self.nailed.contains_key(a))
                {
                    // A silent phone is a dead phone: its leg goes, and the agent takes a
                    // break once the call's outcome is set.
                    self.end_nailed(agent);
                    self.phone_down.insert(agent);
                    let at = Some(Timestamp::now());
                    self.out.push(Input::AgentLeavesAt { agent, at });
                }
                self.release_nailed(*call);
                if active {
                    let event = if pending {
                        hung_up_during_detection()
                    } else {
                        CallEvent::HungUp { by_customer: *side == Side::Customer }
                    };
                    self.out.push(Input::Call { call: *call, event });
                }
            }
            MediaEvent::Ended { call, .. } => {
                self.live.remove(call);
                self.release_nailed(*call);
            }
        }
        if let Some(reports) = &self.options.reports {
            let _ = reports.send(event.clone());
        }
    }

    /// Inputs from the trunk, adjusted for calls whose answer the engine has not heard yet.
    fn trunk_input(&mut self, input: Input) -> Input {
        if let Input::Call { call, event: CallEvent::HungUp { .. } } = &input
            && let Some(live) = self.live.get_mut(call)
            && live.amd_pending
        {
            live.amd_pending = false;
            return Input::Call { call: *call, event: hung_up_during_detection() };
        }
        input
    }
}

impl Link {
    /// Ends every call and every nailed-up leg (the driver stops): BYE or CANCEL to each
    /// customer, BYE to each phone, sent again on their timers for up to [`STOP_GRACE`]
    /// until answered.
    async fn hang_up_nailed(&mut self) -> Result<(), DriverError> {
        let now = Instant::now();
        for call in self.calls.active_calls() {
            self.calls.handle_command(now, &Command::Hangup { call });
            self.agents.hangup_at(now, call);
        }
        let calls_back: Vec<CallId> = self.inbound.keys().copied().collect();
        for call in calls_back {
            self.hang_up(now, call);
            self.agents.hangup_at(now, call);
        }
        let agents: Vec<AgentId> = self.nailed.keys().copied().collect();
        for agent in agents {
            self.end_nailed(agent);
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut buf = vec![0u8; 65_536];
        loop {
            while let Some((trunk, d)) = self.calls.poll_transmit_to() {
                self.send_trunk(trunk, &d).await?;
            }
            while let Some((to, d)) = self.agents.poll_transmit() {
                self.socket.send_to(&d, to).await.map_err(DriverError::Io)?;
            }
            while let Some((to, tcp, d)) = self.dialins.poll_transmit() {
                self.send_dialled_in(to, tcp, &d).await?;
            }
            while let Some((to, tcp, d)) = self.callbacks.poll_transmit() {
                self.send_dialled_in(to, tcp, &d).await?;
            }
            let waiting = self.calls.lingering() > 0
                || self.calls.active() > 0
                || self.agents.lingering() > 0
                || self.dialins.poll_timeout().is_some();
            let now = Instant::now();
            if !waiting || now >= deadline {
                return Ok(());
            }
            let wake = [
                self.calls.poll_timeout(),
                self.agents.poll_timeout(),
                self.dialins.poll_timeout(),
                Some(deadline),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(deadline);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (n, _) = received.map_err(DriverError::Io)?;
                    if let Some(Ok(m)) = buf.get(..n).map(SipMessage::parse) {
                        let now = Instant::now();
                        let _ = self.calls.handle_message(now, &m)
                            || self.agents.handle_message(now, &m)
                            || self.dialins.handle_message(now, &m)
                            || self.callbacks.handle_message(now, &m);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    self.calls.handle_timeout(now);
                    self.agents.handle_timeout(now);
                    self.dialins.handle_timeout(now);
                    self.callbacks.handle_timeout(now);
                }
            }
        }
    }
}

/// The most calls back played at once (each holds an RTP port).
const MAX_CALLBACKS: usize = 64;

/// Where the ids of answered calls back start, far above the engine's call ids.
const CALLBACK_IDS: u64 = 1 << 62;

/// The caller's number from the user part of a call back's From, when it is a valid number:
/// international (`+` or `00` and the country code), or national and read in the campaign's
/// region, as a trunk of that country gives it; a withheld or invalid number gives `None`.
fn caller_number(
    user: &str,
    region: Option<ringa_core::Region>,
) -> Option<ringa_core::PhoneNumber> {
    let digits = digits(user);
    if user.trim_start().starts_with('+') {
        return ringa_core::PhoneNumber::from_e164(&format!("+{digits}")).ok();
    }
    if let Some(international) = digits.strip_prefix("00") {
        return ringa_core::PhoneNumber::from_e164(&format!("+{international}")).ok();
    }
    // A user part that is not all dial characters ("anonymous", a name) is no number.
    let dialable = user.chars().all(|c| c.is_ascii_digit() || "-. ()".contains(c));
    if !dialable || digits.len() < 6 {
        return None;
    }
    ringa_core::PhoneNumber::parse(&digits, region?).ok()
}

/// The digits of a number or a URI's user part.
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// How long a stopping driver keeps sending its BYEs to the agents' phones.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The media a re-INVITE or UPDATE's SDP agrees on (our answer takes the law it lists
/// first), if it names a usable address (a hold offer, `c=0.0.0.0`, keeps the old media).
fn renegotiated(sdp: &str) -> Option<sdp::Negotiated> {
    match SessionDescription::parse(sdp).and_then(|sdp| sdp::accept_answer(&sdp)) {
        Ok(neg) if !neg.remote.ip().is_unspecified() => Some(neg),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "re-INVITE SDP not followed");
            None
        }
    }
}

/// The report of a call screened with `config`, before any verdict.
fn amd_report(config: &AmdConfig) -> AmdReport {
    AmdReport {
        class: None,
        reason: None,
        at_ms: None,
        settings: serde_json::to_string(config).unwrap_or_default(),
    }
}

/// What the engine hears of a call that ended while the detector still listened: answered
/// (200) but never judged, so never given to an agent.
fn hung_up_during_detection() -> CallEvent {
    CallEvent::Failed { result: CallResult::Failed, sip_code: Some(200) }
}

/// The next message from the trunk's TCP connections; never, over UDP.
async fn next_tcp(tcp: &mut Option<mpsc::UnboundedReceiver<Received>>) -> Option<Received> {
    match tcp {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How often the calls an engine has connected are checked against the calls carried.
pub const AUDIT_EVERY: Duration = Duration::from_secs(10);
/// Calls connected this recently are left out of the check: their media may still be
/// starting.
pub const AUDIT_SETTLE: Duration = Duration::from_secs(2);

async fn run(
    opened: Opened,
    mut owner: Owner,
    mut feed: mpsc::UnboundedReceiver<Feed>,
    stop: Arc<Notify>,
) -> Result<Option<Engine>, DriverError> {
    let Opened { mut link, mut media, mut tcp } = opened;
    let mut buf = vec![0u8; 65_536];
    let mut audited = Instant::now();
    loop {
        // The driver's own engine is checked against the calls carried, as an owner
        // keeping its engine does through `Lines::audit`.
        if let Owner::Engine { engine, .. } = &owner
            && audited.elapsed() >= AUDIT_EVERY
        {
            audited = Instant::now();
            let settled =
                Timestamp::now() - SignedDuration::try_from(AUDIT_SETTLE).unwrap_or_default();
            let connected = engine.connected_calls(settled);
            link.audit(&connected);
            owner.absorb(&mut link.out);
        }
        // Settle: engine commands to the legs, leg events to the engine, until quiet.
        loop {
            let mut busy = false;
            while let Some(command) = owner.poll_command() {
                busy = true;
                let forward = link.command(command).await;
                owner.absorb(&mut link.out);
                if let Some(command) = forward {
                    owner.forward(command);
                }
            }
            while let Some(answer) = link.calls.poll_answer() {
                busy = true;
                link.on_answer(answer);
            }
            while let Some((call, sdp)) = link.calls.poll_offer() {
                busy = true;
                link.on_offer(call, &sdp);
            }
            while let Some(input) = link.calls.poll_input() {
                busy = true;
                let input = link.trunk_input(input);
                link.out.push(input);
            }
            while let Some(call) = link.calls.poll_ended() {
                busy = true;
                link.on_ended(call);
            }
            while let Some(event) = link.agents.poll_event() {
                busy = true;
                link.on_agent_leg(event);
            }
            while let Some(event) = link.dialins.poll_event() {
                busy = true;
                link.on_dial_in(event);
            }
            while let Some(event) = link.callbacks.poll_event() {
                busy = true;
                link.on_callback(event);
            }
            busy |= owner.absorb(&mut link.out);
            while let Some((trunk, d)) = link.calls.poll_transmit_to() {
                link.send_trunk(trunk, &d).await?;
            }
            while let Some((to, d)) = link.agents.poll_transmit() {
                link.socket.send_to(&d, to).await.map_err(DriverError::Io)?;
            }
            while let Some((to, tcp, d)) = link.dialins.poll_transmit() {
                link.send_dialled_in(to, tcp, &d).await?;
            }
            while let Some((to, tcp, d)) = link.callbacks.poll_transmit() {
                link.send_dialled_in(to, tcp, &d).await?;
            }
            if !busy {
                break;
            }
        }

        let now = Instant::now();
        let engine_due = owner.poll_timeout().map(|at| {
            let wait = Timestamp::now().duration_until(at);
            now + Duration::try_from(wait).unwrap_or(Duration::ZERO)
        });
        let deadline = [
            link.calls.poll_timeout(),
            link.agents.poll_timeout(),
            link.dialins.poll_timeout(),
            link.callbacks.poll_timeout(),
            engine_due,
            Some(now + Duration::from_secs(1)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);

        tokio::select! {
            // The owner's inputs come first: a campaign's caller IDs, given before a call
            // arrives, are known when it does.
            biased;
            fed = feed.recv() => match fed {
                Some(Feed::Input(input)) => {
                    if let Input::Campaign { campaign } = &input {
                        link.learn_campaign(CampaignLines::of(campaign));
                    }
                    owner.handle(input);
                }
                Some(Feed::Campaign(lines)) => link.learn_campaign(lines),
                Some(Feed::CallPhone(agent)) => {
                    link.call_phone(Instant::now(), agent).await;
                    owner.absorb(&mut link.out);
                }
                Some(Feed::Audit(calls)) => {
                    link.audit(&calls);
                    owner.absorb(&mut link.out);
                }
                Some(Feed::Command(command)) => {
                    // The owner already has its commands: nothing goes back but inputs.
                    let _ = link.command(command).await;
                    owner.absorb(&mut link.out);
                }
                None => {
                    link.hang_up_nailed().await?;
                    return Ok(owner.into_engine());
                }
            },
            received = link.socket.recv_from(&mut buf) => {
                let (n, source) = received.map_err(DriverError::Io)?;
                if let Some(datagram) = buf.get(..n) {
                    link.receive(source, datagram, false).await?;
                }
            }
            Some((source, message)) = next_tcp(&mut tcp) => {
                link.receive(source, &message, true).await?;
            }
            Some(event) = media.recv() => link.on_media(&event),
            () = tokio::time::sleep_until(deadline.into()) => {
                let now = Instant::now();
                link.calls.handle_timeout(now);
                link.agents.handle_timeout(now);
                link.dialins.handle_timeout(now);
                link.callbacks.handle_timeout(now);
                link.guard.handle_sweep(now);
                link.registrar.handle_sweep(now);
                if engine_due.is_some_and(|due| Instant::now() >= due) {
                    owner.handle(Input::Tick);
                }
            }
            () = stop.notified() => {
                link.hang_up_nailed().await?;
                return Ok(owner.into_engine());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::caller_number;
    use ringa_core::Region;

    fn read(user: &str, region: Option<Region>) -> Option<String> {
        caller_number(user, region).map(|n| n.as_str().to_string())
    }

    #[test]
    fn a_callers_number_is_read_in_every_form_a_trunk_gives() {
        let se = Some(Region::SE);
        let expected = Some("+46701234567".to_string());
        assert_eq!(read("+46701234567", None), expected);
        assert_eq!(read("0046701234567", None), expected);
        // National: read in the campaign's region.
        assert_eq!(read("0701234567", se), expected);
        assert_eq!(read("070-123 45 67", se), expected);
        assert_eq!(read("0701234567", None), None, "no region, no country");
        assert_eq!(read("anonymous", se), None);
        assert_eq!(read("Anna0701234567", se), None, "a name is not a number");
        assert_eq!(read("12345", se), None, "too short to be a subscriber");
        assert_eq!(read("+4", se), None);
    }
}
