//! The web product with a SIP trunk configured: the floor places its calls through SIPp
//! acting as the trunk (every customer answers and plays a 440 Hz tone) and bridges them to
//! an agent's phone (SIPp playing 1000 Hz) that stays connected for the shift: ringa calls it
//! at a configured address or where it registered from, or the phone dials in with its
//! account's digest credentials. An agent on the API works two
//! customers; each attempt must be stored with SIP code 200, the campaign's caller ID and the
//! agent's outcome, every call must be recorded with both voices and linked to its attempt,
//! and both SIPp instances must see their dialogs end with BYE. A customer (a plain UDP
//! endpoint) who calls the campaign's caller ID back while the agent is ready reaches the
//! agent's phone with the contact's card on the desktop, marked as a call back, and is
//! journaled as a call back, not as a dial; an unknown number gets a card of the number
//! alone, and the desktop's hang-up sends it our BYE. SIPp comes from `scripts/test-deps`
//! and is stopped by its own pid.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use ringa_core::{AgentId, ContactId};
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::digest::Challenge;
use ringa_sip::driver::DriverOptions;
use ringa_sip::g711::Codec;
use ringa_sip::message::SipMessage;
use ringa_store::Store;
use ringa_web::floor::{Floor, FloorConfig, LiveConfig};
use ringa_web::{AppState, WorldProfile};
use serde_json::{Value, json};

#[path = "../../ringa-sip/tests/peers/sipp.rs"]
mod sipp;
use sipp::{Peer, answering, free_udp_port, tone};

/// Refuses every INVITE with 503, as a trunk out of capacity does.
const REFUSING: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n\
<scenario name=\"refuse\">\n<recv request=\"INVITE\"/>\n<send><![CDATA[\n\
SIP/2.0 503 Service Unavailable\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]busy[call_number]\n\
[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n\
<recv request=\"ACK\"/>\n</scenario>\n";

/// A phone that dials in to ringa at `[remote_ip]:[remote_port]`, authenticates with the
/// account SIPp is given (`-au`, `-ap`), streams `audio` once answered and waits for BYE.
fn dialling_in(audio: &str) -> String {
    let head = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
        From: <sip:agent1@[local_ip]:[local_port]>;tag=[pid]dial[call_number]\n";
    let sdp = "Content-Type: application/sdp\nContent-Length: [len]\n\n\
        v=0\no=phone 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
        m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n";
    let to = "To: <sip:ringa@[remote_ip]:[remote_port]>";
    let contact = "Contact: <sip:agent1@[local_ip]:[local_port]>\nMax-Forwards: 70";
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"dial in\">\n\
         <send retrans=\"500\"><![CDATA[\nINVITE sip:ringa@[remote_ip]:[remote_port] SIP/2.0\n\
         {head}{to}\nCall-ID: [call_id]\nCSeq: 1 INVITE\n{contact}\n{sdp}\n]]></send>\n\
         <recv response=\"401\" auth=\"true\"/>\n\
         <send><![CDATA[\nACK sip:ringa@[remote_ip]:[remote_port] SIP/2.0\n\
         {head}{to}[peer_tag_param]\nCall-ID: [call_id]\nCSeq: 1 ACK\nContent-Length: 0\n\n\
         ]]></send>\n\
         <send retrans=\"500\"><![CDATA[\nINVITE sip:ringa@[remote_ip]:[remote_port] SIP/2.0\n\
         {head}{to}\nCall-ID: [call_id]\nCSeq: 2 INVITE\n{contact}\n[authentication]\n\
         {sdp}\n]]></send>\n\
         <recv response=\"100\" optional=\"true\"/>\n<recv response=\"200\"/>\n\
         <send><![CDATA[\nACK [next_url] SIP/2.0\n\
         {head}{to}[peer_tag_param]\nCall-ID: [call_id]\nCSeq: 2 ACK\nContent-Length: 0\n\n\
         ]]></send>\n\
         <nop><action><exec rtp_stream=\"{audio},-1,0\"/></action></nop>\n\
         <recv request=\"BYE\"/>\n\
         <send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n\
         [last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n</scenario>\n"
    )
}

impl Peer {
    fn start(dir: &Path, name: &str, audio: &str, port: u16, calls: u32) -> Peer {
        Peer::sipp(dir, name, &answering(audio, Some(0), -1), port, calls, 60, &[])
    }

    /// A phone calling ringa at `ringa` as `account`.
    fn dial_in(
        dir: &Path,
        audio: &str,
        port: u16,
        ringa: SocketAddr,
        account: (&str, &str),
    ) -> Peer {
        let extra =
            [ringa.to_string(), "-au".into(), account.0.into(), "-ap".into(), account.1.into()];
        Peer::sipp(dir, "dial-in", &dialling_in(audio), port, 1, 60, &extra)
    }

    /// Whether SIPp ended with every call of its scenario complete.
    async fn finished(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.status() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

/// A logged-in API client.
struct Api {
    http: Client,
    base: String,
    csrf: String,
}

impl Api {
    async fn login(base: &str, login: &str, password: &str) -> Api {
        let http = Client::builder().cookie_store(true).no_proxy().build().expect("a client");
        let res = http
            .post(format!("{base}/api/v1/login"))
            .json(&json!({ "login": login, "password": password }))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), StatusCode::OK, "login of {login}");
        let body: Value = res.json().await.expect("login answer");
        let csrf = body["csrf"].as_str().expect("a CSRF token").to_string();
        Api { http, base: base.to_string(), csrf }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") }
    }

    /// Opens a progressive campaign `name` calling in `windows`, with caller ID
    /// +46850001000, a list of two contacts (Anna +46701112233 and Bo +46702223344) and
    /// `agent` assigned to it; its id.
    async fn campaign_of_two(&self, name: &str, windows: Value, agent: AgentId) -> u64 {
        let body = json!({ "name": name, "mode": "progressive", "rule_set": "none" });
        let mut campaign = self.call(Method::POST, "/campaigns", Some(body)).await;
        let id = campaign["id"].as_u64().expect("an id");
        campaign["rules"]["windows"] = windows;
        campaign["caller_ids"] = json!({ "numbers": [{ "number": "+46850001000" }] });
        self.call(Method::PUT, &format!("/campaigns/{id}"), Some(campaign)).await;
        let list = self
            .call(Method::POST, &format!("/campaigns/{id}/lists"), Some(json!({ "name": "L" })))
            .await;
        let list = list["id"].as_u64().expect("a list id");
        let res = self
            .http
            .post(format!("{}/api/v1/lists/{list}/import", self.base))
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "text/csv")
            .body("name,phone\nAnna,+46701112233\nBo,+46702223344\n")
            .send()
            .await
            .expect("import");
        assert_eq!(res.status(), StatusCode::OK);
        self.call(Method::PUT, &format!("/users/{}/campaigns", agent.0), Some(json!([id]))).await;
        id
    }

    /// Polls the agent's card until its call is in `state`.
    async fn card_in(&self, state: &str) -> Value {
        let started = Instant::now();
        loop {
            let card = self.call(Method::GET, "/agent/card", None).await;
            let now = card["card"]["call_state"].as_str().unwrap_or("none");
            if now == state {
                return card;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "no {state} call: {card}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The peak absolute sample of each channel of a stereo recording.
fn channel_peaks(path: &Path) -> (i32, i32) {
    let mut reader = hound::WavReader::open(path).expect("the recording is a WAV file");
    assert_eq!(reader.spec().channels, 2, "{}", path.display());
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("a sample")).collect();
    let peak = |ch: usize| {
        samples.iter().skip(ch).step_by(2).map(|s| i32::from(*s).abs()).max().unwrap_or(0)
    };
    (peak(0), peak(1))
}

fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "wav"));
    found.sort();
    found
}

/// Registers `account` from the phone's port with ringa at `ringa`, answering the digest
/// challenge as a phone does.
fn register(phone_port: u16, ringa: SocketAddr, account: &str, password: &str) {
    let socket = UdpSocket::bind(("127.0.0.1", phone_port)).expect("the phone's port is free");
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("a timeout");
    let uri = format!("sip:{ringa}");
    let request = |cseq: u32, auth: Option<String>| {
        let mut m = SipMessage::request("REGISTER", &uri);
        m.push("Via", format!("SIP/2.0/UDP 127.0.0.1:{phone_port};branch=z9hG4bKreg{cseq}"))
            .push("From", format!("<sip:{account}@{ringa}>;tag=phone"))
            .push("To", format!("<sip:{account}@{ringa}>"))
            .push("Call-ID", format!("register-{phone_port}"))
            .push("CSeq", format!("{cseq} REGISTER"))
            .push("Contact", format!("<sip:{account}@127.0.0.1:{phone_port}>"))
            .push("Expires", "300");
        if let Some(auth) = auth {
            m.push("Authorization", auth);
        }
        m.to_bytes()
    };
    let receive = || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("ringa answers the REGISTER");
        SipMessage::parse(&buf[..n]).expect("a SIP response")
    };
    socket.send_to(&request(1, None), ringa).expect("sent");
    let challenge = receive();
    assert_eq!(challenge.code(), Some(401), "{challenge:?}");
    let header = challenge.header("WWW-Authenticate").expect("a challenge");
    let challenge = Challenge::parse(header).expect("a digest challenge");
    let auth = challenge.authorize("REGISTER", &uri, account, password, 1, "phone-cnonce");
    socket.send_to(&request(2, Some(auth)), ringa).expect("sent");
    let ok = receive();
    assert_eq!(ok.code(), Some(200), "{ok:?}");
}

/// How the agent's phone is found.
#[derive(Clone, Copy, PartialEq)]
enum Phone {
    /// At a `sip:user@ip:port` in the settings.
    Configured,
    /// Where it registered from, with digest credentials.
    Registered,
    /// It calls ringa itself, with digest credentials, and stays connected.
    DialsIn,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_sip_trunk_the_floor_dials_bridges_and_records_real_calls() {
    work_two_customers(Phone::Configured, Transport::Udp, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_hangs_up_the_customer_and_the_phone() {
    work_customers(Phone::Configured, Transport::Udp, false, Ending::StopMidCall).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_over_tcp_carries_the_same_calls() {
    work_two_customers(Phone::Configured, Transport::Tcp, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_a_trunk_refuses_go_through_the_next_trunk() {
    work_two_customers(Phone::Configured, Transport::Udp, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_registers_is_called_where_it_registered_from() {
    work_two_customers(Phone::Registered, Transport::Udp, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_dials_in_carries_the_shift() {
    work_two_customers(Phone::DialsIn, Transport::Udp, false).await;
}

/// How a shift ends.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// Two customers, each with its outcome.
    Outcomes,
    /// The server stops while the first customer is connected.
    StopMidCall,
}

/// A UDP trunk called `name` at `address`: 4 lines, 10 calls a second.
fn trunk(name: &str, address: SocketAddr) -> TrunkConfig {
    TrunkConfig {
        name: name.into(),
        address,
        transport: Transport::Udp,
        username: None,
        password: None,
        line_limit: 4,
        cps: 10.0,
    }
}

/// The store of the product in `dir`, with an administrator `admin` and an agent `agent1`
/// (both of password `password-1`), and the agent's id.
async fn store_with_users(dir: &Path) -> (Store, AgentId) {
    let url = format!("sqlite://{}", dir.join("live.db").display());
    let store = Store::open(&url).await.expect("the store opens");
    let now = jiff::Timestamp::now();
    let hash = ringa_web::auth::hash_password("password-1").expect("hashes");
    store.create_user("admin", "Admin", "admin", Some(&hash), now).await.expect("admin");
    let agent: AgentId =
        store.create_user("agent1", "Agent One", "agent", Some(&hash), now).await.expect("agent");
    (store, agent)
}

/// The web product serving on a free loopback port with a live floor.
struct Served {
    base: String,
    floor: Floor,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `store` with the live floor `live` (no simulated agents) on a free loopback port.
async fn serve_live(store: &Store, live: LiveConfig) -> Served {
    let config = FloorConfig {
        sim_agents: 0,
        profile: WorldProfile::quick(),
        worker: "live".to_string(),
        seed: 3,
    };
    let (state, _) =
        AppState::open_live(store.clone(), config, Some(live)).await.expect("the floor starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let floor = state.floor.clone();
    let server = tokio::spawn(ringa_web::run(listener, state, async {
        let _ = stopped.await;
    }));
    Served { base, floor, stop, server }
}

/// Two customers through the trunk (after one that refuses every call with 503, when
/// `refusing_first`), to an agent whose phone is found as `phone`.
async fn work_two_customers(phone: Phone, transport: Transport, refusing_first: bool) {
    work_customers(phone, transport, refusing_first, Ending::Outcomes).await;
}

async fn work_customers(phone: Phone, transport: Transport, refusing_first: bool, ending: Ending) {
    let customers = if ending == Ending::StopMidCall { 1 } else { 2 };
    let dir = tempfile::tempdir().expect("a temporary folder");
    tone(&dir.path().join("customer.ul"), 440.0, 2.0);
    tone(&dir.path().join("agent.ul"), 1000.0, 2.0);
    let trunk_port = free_udp_port();
    let phone_port = free_udp_port();
    // Bound by the floor itself on a port the system gives: a port picked
    // here and bound later could be taken meanwhile by another test's socket.
    let sip_bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let refusing_port = free_udp_port();
    let mut refusing_peer = refusing_first
        .then(|| Peer::sipp(dir.path(), "refusing", REFUSING, refusing_port, 2, 60, &[]));
    let mut trunk_peer = match transport {
        Transport::Udp => Peer::start(dir.path(), "trunk", "customer.ul", trunk_port, customers),
        Transport::Tcp => {
            let tcp = ["-t".to_string(), "t1".to_string()];
            Peer::sipp(
                dir.path(),
                "trunk",
                &answering("customer.ul", Some(0), -1),
                trunk_port,
                2,
                60,
                &tcp,
            )
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Users first, so that the agent's phone can be named in the telephony settings.
    let (store, agent) = store_with_users(dir.path()).await;

    let records = dir.path().join("recordings");
    std::fs::create_dir_all(&records).expect("temp dir is writable");
    let mut options = DriverOptions::new("127.0.0.1".parse().expect("literal"));
    match phone {
        Phone::Configured => {
            let uri = format!("sip:agent1@127.0.0.1:{phone_port}");
            options.agent_phones = HashMap::from([(agent, uri)]);
        }
        Phone::Registered | Phone::DialsIn => {
            options.agent_accounts = HashMap::from([(agent, "agent1".to_string())]);
            options.accounts = HashMap::from([("agent1".to_string(), "phone-pw".to_string())]);
        }
    }
    options.recordings = Some(records.clone());
    let refusing = trunk("refusing", SocketAddr::from(([127, 0, 0, 1], refusing_port)));
    let mut live = LiveConfig {
        trunks: vec![TrunkConfig {
            transport,
            ..trunk("sipp", SocketAddr::from(([127, 0, 0, 1], trunk_port)))
        }],
        sip_bind,
        options,
    };
    if refusing_first {
        live.trunks.insert(0, refusing);
    }
    let Served { base, floor, stop, server } = serve_live(&store, live).await;
    let sip = floor.sip_addr().expect("the telephony is bound");
    if phone == Phone::Registered {
        let registered = tokio::task::spawn_blocking(move || {
            register(phone_port, sip, "agent1", "phone-pw");
        });
        registered.await.expect("the phone registered");
    }
    let mut phone_peer = match phone {
        Phone::DialsIn => {
            Peer::dial_in(dir.path(), "agent.ul", phone_port, sip, ("agent1", "phone-pw"))
        }
        // The phone rings 1.5 s before it answers.
        _ => Peer::sipp(
            dir.path(),
            "phone",
            &answering("agent.ul", Some(1500), -1),
            phone_port,
            1,
            60,
            &[],
        ),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A progressive campaign with a caller ID, two contacts and the agent.
    let admin = Api::login(&base, "admin", "password-1").await;
    let windows = json!({ "spans": [{ "days": "all", "start": "00:00:00", "end": "00:00:00" }] });
    let id = admin.campaign_of_two("Live", windows, agent).await;

    // The agent works both customers: each is connected, heard, hung up and given an
    // outcome.
    let desk = Api::login(&base, "agent1", "password-1").await;
    desk.call(Method::POST, "/agent/login", Some(json!({ "campaign": id }))).await;
    desk.call(Method::POST, "/agent/ready", None).await;
    if phone != Phone::DialsIn {
        // Not ready while the phone rings: no customer is put through to a phone that has
        // not answered.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let me = desk.call(Method::GET, "/agent/state", None).await;
        assert_eq!(me["agent"]["state"], "paused", "{me}");
    }
    let mut contacts = Vec::new();
    for _ in 0..2 {
        let card = desk.card_in("connected").await;
        contacts.push(ContactId(card["contact"]["id"].as_u64().expect("a contact")));
        if ending == Ending::StopMidCall {
            // Stopping hangs up the customer and the agent's phone, who both see a BYE.
            tokio::time::sleep(Duration::from_millis(500)).await;
            floor.shutdown().await;
            assert!(trunk_peer.finished(Duration::from_secs(5)).await, "the customer's BYE");
            assert!(phone_peer.finished(Duration::from_secs(5)).await, "the phone's BYE");
            let _ = stop.send(());
            let _ = server.await;
            return;
        }
        // Both voices flow for a while before the agent ends the call.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        desk.call(Method::POST, "/agent/hangup", None).await;
        desk.card_in("ended").await;
        let outcome = json!({ "outcome": "not_interested" });
        desk.call(Method::POST, "/agent/outcome", Some(outcome)).await;
    }
    desk.call(Method::POST, "/agent/pause", Some(json!({ "reason": "done" }))).await;
    desk.call(Method::POST, "/agent/logout", None).await;

    assert!(trunk_peer.finished(Duration::from_secs(15)).await, "both customer calls ended");
    if let Some(refusing) = refusing_peer.as_mut() {
        assert!(refusing.finished(Duration::from_secs(5)).await, "the first trunk saw both");
    }
    assert!(phone_peer.finished(Duration::from_secs(15)).await, "the phone's leg ended");
    contacts.sort();
    contacts.dedup();
    assert_eq!(contacts.len(), 2, "two different customers");
    for contact in contacts {
        let attempts = store.attempts_of_contact(contact).await.expect("attempts");
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        let a = &attempts[0];
        assert_eq!(a.sip_code, Some(200), "{a:?}");
        assert_eq!(a.caller_id.as_deref(), Some("+46850001000"), "{a:?}");
        assert_eq!(a.outcome.as_deref(), Some("not_interested"), "{a:?}");
        assert_eq!(a.agent, Some(agent), "{a:?}");
        assert!(!a.open, "{a:?}");
        // The recording is linked to the attempt.
        let linked = store.recordings_of_contact(contact).await.expect("recordings");
        assert_eq!(linked.len(), 1, "{linked:?}");
        assert_eq!(linked[0].0, a.id);
        assert!(Path::new(&linked[0].1).starts_with(&records), "{linked:?}");
    }
    let files = recordings(&records);
    assert_eq!(files.len(), 2, "one recording per call: {files:?}");
    for file in files {
        let (customer, agent) = channel_peaks(&file);
        assert!(customer > 2000, "the customer is heard in {}: {customer}", file.display());
        assert!(agent > 2000, "the agent is heard in {}: {agent}", file.display());
    }
    let _ = stop.send(());
    let _ = server.await;
}

/// Sends `samples` of µ-law as 20 ms RTP packets from `socket` to `to`, in real time.
async fn stream_ulaw(socket: &tokio::net::UdpSocket, to: SocketAddr, ulaw: &[u8]) {
    for (seq, chunk) in ulaw.chunks(160).enumerate() {
        let packet = ringa_sip::rtp::RtpPacket {
            marker: false,
            payload_type: 0,
            sequence: seq as u16,
            timestamp: (seq * 160) as u32,
            ssrc: 0xBAC4,
            payload: chunk,
        };
        let _ = socket.send_to(&packet.to_bytes(), to).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// RTP packets reaching `socket` within `window`.
async fn rtp_received(socket: &tokio::net::UdpSocket, window: Duration) -> usize {
    let end = tokio::time::Instant::now() + window;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while let Ok(Ok(_)) = tokio::time::timeout_at(end, socket.recv_from(&mut buf)).await {
        n += 1;
    }
    n
}

/// The next final SIP response on `socket` (up to 5 s).
async fn sip_response(socket: &tokio::net::UdpSocket) -> SipMessage {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
            .await
            .expect("ringa answers")
            .expect("the socket works");
        let m = SipMessage::parse(&buf[..n]).expect("ringa sends valid SIP");
        // A call back rings (180) until the floor's engine has decided.
        if m.code().is_some_and(|c| c >= 200) {
            return m;
        }
    }
}

/// An INVITE from the trunk's address `me` to the campaign's caller ID, from `caller`,
/// offering PCMU at `rtp_port`.
fn call_back_invite(me: SocketAddr, caller: &str, call_id: &str, rtp_port: u16) -> SipMessage {
    let mut invite = SipMessage::request("INVITE", "sip:+46850001000@127.0.0.1");
    invite
        .push("Via", format!("SIP/2.0/UDP {me};branch=z9hG4bK{call_id}"))
        .push("From", format!("<sip:{caller}@127.0.0.1>;tag=anna"))
        .push("To", "<sip:+46850001000@127.0.0.1>")
        .push("Call-ID", call_id)
        .push("CSeq", "1 INVITE")
        .push("Contact", format!("<sip:anna@{me}>"))
        .push("Content-Type", "application/sdp");
    invite.body = format!(
        "v=0\r\no=anna 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    .into_bytes();
    invite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_calling_back_reaches_the_ready_agent_with_the_card() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    tone(&dir.path().join("agent.ul"), 1000.0, 2.0);
    let phone_port = free_udp_port();
    // Bound by the floor itself on a port the system gives: a port picked
    // here and bound later could be taken meanwhile by another test's socket.
    let sip_bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    // The customer calls from the trunk's address: its SIP and RTP sockets.
    let customer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a SIP socket");
    let customer_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let me = customer.local_addr().expect("bound");

    let now = jiff::Timestamp::now();
    let (store, agent) = store_with_users(dir.path()).await;
    let records = dir.path().join("recordings");
    std::fs::create_dir_all(&records).expect("temp dir is writable");
    let mut options = DriverOptions::new("127.0.0.1".parse().expect("literal"));
    options.agent_phones = HashMap::from([(agent, format!("sip:agent1@127.0.0.1:{phone_port}"))]);
    options.recordings = Some(records.clone());
    let live = LiveConfig { trunks: vec![trunk("carrier", me)], sip_bind, options };
    let Served { base, floor, stop, server } = serve_live(&store, live).await;
    let sip = floor.sip_addr().expect("the telephony is bound");
    let mut phone_peer = Peer::sipp(
        dir.path(),
        "phone",
        &answering("agent.ul", Some(0), -1),
        phone_port,
        1,
        60,
        &[],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A campaign whose calling window is far from now (it dials nobody meanwhile), with a
    // caller ID and Anna, who will call it back.
    let admin = Api::login(&base, "admin", "password-1").await;
    let hour = (jiff::Timestamp::now().as_second() / 3600 + 12) % 24;
    let (start, end) = (format!("{hour:02}:00:00"), format!("{hour:02}:30:00"));
    let windows = json!({ "spans": [{ "days": "all", "start": start, "end": end }] });
    let id = admin.campaign_of_two("Back", windows, agent).await;

    // The agent is ready once the phone is up.
    let desk = Api::login(&base, "agent1", "password-1").await;
    desk.call(Method::POST, "/agent/login", Some(json!({ "campaign": id }))).await;
    desk.call(Method::POST, "/agent/ready", None).await;
    let started = Instant::now();
    loop {
        let me = desk.call(Method::GET, "/agent/state", None).await;
        if me["agent"]["state"] == "ready" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ready: {me}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Anna calls the caller ID back.
    let rtp_port = customer_rtp.local_addr().expect("bound").port();
    let invite = call_back_invite(me, "+46701112233", "back-1", rtp_port);
    customer.send_to(&invite.to_bytes(), sip).await.expect("sent");
    let ok = sip_response(&customer).await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let to = ok.header("To").unwrap_or_default().to_string();
    let in_dialog = |method: &str, cseq: u32| {
        let mut m = SipMessage::request(method, "sip:ringa@127.0.0.1");
        m.push("Via", format!("SIP/2.0/UDP {me};branch=z9hG4bKback{method}"))
            .push("From", "<sip:+46701112233@127.0.0.1>;tag=anna")
            .push("To", to.clone())
            .push("Call-ID", "back-1")
            .push("CSeq", format!("{cseq} {method}"));
        m.to_bytes()
    };
    customer.send_to(&in_dialog("ACK", 1), sip).await.expect("sent");
    let ringa_media = String::from_utf8_lossy(&ok.body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("ringa's answer names its RTP port");

    // Anna speaks (a 440 Hz tone) and hears the agent's phone.
    let mut anna = Vec::new();
    let samples: Vec<i16> = (0..24_000)
        .map(|i| ((f64::from(i) * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    Codec::Pcmu.encode_into(&samples, &mut anna);
    let (_, heard) = tokio::join!(
        stream_ulaw(&customer_rtp, ringa_media, &anna),
        rtp_received(&customer_rtp, Duration::from_secs(3))
    );
    assert!(heard > 50, "the agent's phone is heard by the caller: {heard} packets");

    // The desktop shows the call connected, as a call back, with Anna's card.
    let card = desk.card_in("connected").await;
    assert_eq!(card["card"]["inbound"], true, "{card}");
    assert_eq!(card["card"]["caller"], "+46701112233", "{card}");
    assert_eq!(card["contact"]["name"], "Anna", "{card}");
    let contact = ContactId(card["contact"]["id"].as_u64().expect("a contact"));
    let allowed: Vec<&str> = card["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["allowed"] == true)
        .filter_map(|o| o["code"].as_str())
        .collect();
    assert!(allowed.contains(&"not_interested"), "outcomes of an answered call: {allowed:?}");
    let wall = floor.snapshot();
    let view = wall.campaigns.iter().find(|c| c.id.0 == id).expect("the campaign's view");
    assert_eq!((view.attempts, view.pickups, view.drops), (0, 0, 0), "not a dial");
    assert_eq!(view.inbound_connected, 1);

    // Anna hangs up; the agent sets the outcome.
    customer.send_to(&in_dialog("BYE", 2), sip).await.expect("sent");
    assert_eq!(sip_response(&customer).await.code(), Some(200));
    desk.card_in("ended").await;
    desk.call(Method::POST, "/agent/outcome", Some(json!({ "outcome": "sale" }))).await;

    // A number that is no contact's reaches the agent too, with a card of the number alone.
    let stranger = call_back_invite(me, "+46709876543", "back-2", rtp_port);
    customer.send_to(&stranger.to_bytes(), sip).await.expect("sent");
    let ok = sip_response(&customer).await;
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let mut ack = SipMessage::request("ACK", "sip:ringa@127.0.0.1");
    ack.push("Via", format!("SIP/2.0/UDP {me};branch=z9hG4bKback2ack"))
        .push("From", "<sip:+46709876543@127.0.0.1>;tag=anna")
        .push("To", ok.header("To").unwrap_or_default().to_string())
        .push("Call-ID", "back-2")
        .push("CSeq", "1 ACK");
    customer.send_to(&ack.to_bytes(), sip).await.expect("sent");
    let card = desk.card_in("connected").await;
    assert_eq!(card["card"]["inbound"], true, "{card}");
    assert_eq!(card["card"]["contact"], Value::Null, "{card}");
    assert_eq!(card["contact"]["numbers"][0]["number"], "+46709876543", "{card}");
    desk.call(Method::POST, "/agent/hangup", None).await;
    desk.card_in("ended").await;
    let bye = loop {
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), customer.recv_from(&mut buf))
            .await
            .expect("the desktop's hang-up reaches the caller")
            .expect("the socket works");
        let m = SipMessage::parse(&buf[..n]).expect("valid SIP");
        if m.method() == Some("BYE") {
            break m;
        }
    };
    assert_eq!(bye.header("Call-ID"), Some("back-2"));
    desk.call(Method::POST, "/agent/outcome", Some(json!({ "outcome": "not_interested" }))).await;

    desk.call(Method::POST, "/agent/pause", Some(json!({ "reason": "done" }))).await;
    desk.call(Method::POST, "/agent/logout", None).await;
    assert!(phone_peer.finished(Duration::from_secs(15)).await, "the phone's leg ended");

    // Journaled as a call back with its recording; no dial attempt.
    assert!(store.attempts_of_contact(contact).await.expect("attempts").is_empty());
    let back = store.inbound_of_contact(contact).await.expect("calls back");
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].outcome.as_deref(), Some("sale"), "{back:?}");
    assert_eq!(back[0].agent, Some(agent), "{back:?}");
    // The sale is an order of the day like a dialed one's, and the period statistics count
    // the call back apart from the dials.
    let hour = jiff::SignedDuration::from_hours(1);
    let period = (now - hour, jiff::Timestamp::now() + hour);
    let orders = store.orders(period.0, period.1).await.expect("orders");
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = &orders[0];
    assert_eq!((order.attempt, order.inbound), (None, Some(back[0].id)), "{order:?}");
    assert_eq!((order.contact, order.agent, order.campaign.0), (contact, Some(agent), id));
    assert_eq!(order.outcome, "sale");
    let stats = admin.call(Method::GET, &format!("/campaigns/{id}/stats"), None).await;
    let figures = &stats["campaigns"][0];
    for (figure, value) in [
        ("attempts", 0),
        ("connects", 0),
        ("drops", 0),
        ("live_answers", 0),
        ("inbound_connected", 1),
        ("inbound_conversations", 1),
        ("inbound_sales", 1),
        ("conversations", 1),
        ("sales", 1),
    ] {
        assert_eq!(figures[figure], value, "{figure}: {stats}");
    }
    let recording = back[0].recording.clone().expect("the recording is linked");
    assert!(Path::new(&recording).starts_with(&records), "{recording}");
    let (customer_peak, agent_peak) = channel_peaks(Path::new(&recording));
    assert!(customer_peak > 2000, "the caller is heard in the recording: {customer_peak}");
    assert!(agent_peak > 2000, "the agent is heard in the recording: {agent_peak}");
    let _ = stop.send(());
    let _ = server.await;
}
