//! A customer whose re-INVITE moves its media mid-call is followed: the driver runs a
//! progressive campaign whose one customer is a hand-written SIP endpoint on raw UDP sockets
//! (so the test sees exactly where RTP lands) and whose agent's phone is a PJSIP process
//! that talks. Once the agent's audio reaches the customer's first RTP port, the customer
//! sends a re-INVITE naming a second port and A-law: the agent's audio must arrive there,
//! in A-law, and no longer at the first one. The same for an agent's phone (a raw endpoint
//! on its nailed-up leg) that re-INVITEs mid-call: the customer's audio follows it, and so
//! does the leg's own audio between calls.

mod peers;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use peers::*;
use ringa_core::{AgentId, CampaignId, DialMode};
use ringa_engine::{Command, Engine, EngineConfig, Input};
use ringa_sip::config::TrunkConfig;
use ringa_sip::driver::{DriverOptions, Telephony};
use ringa_sip::message::SipMessage;
use ringa_sip::rtp::RtpPacket;
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const CUSTOMER: &str = "+46701130001";

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=cust 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

/// A response to `req` with `code`, our tag on To, and an optional SDP body.
fn respond(req: &SipMessage, code: u16, body: Option<String>) -> Vec<u8> {
    let mut r = SipMessage::response(code, "OK");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let mut v = req.header(name).unwrap_or_default().to_string();
        if name == "To" {
            v.push_str(";tag=cust");
        }
        r.push(name, v);
    }
    r.push("Contact", "<sip:cust@127.0.0.1>");
    if let Some(body) = body {
        r.push("Content-Type", "application/sdp");
        r.body = body.into_bytes();
    }
    r.to_bytes()
}

/// Starts the driver with a progressive campaign and agent 1 ready.
async fn start_shift(
    trunk: TrunkConfig,
    commands: mpsc::UnboundedSender<Command>,
    options: DriverOptions,
) -> Telephony {
    let bind = "127.0.0.1:0".parse().expect("literal address");
    let engine = Engine::new(EngineConfig::default());
    let telephony =
        Telephony::start_with(trunk, bind, engine, commands, options).await.expect("driver starts");
    telephony.input(Input::Campaign {
        campaign: Box::new(campaign(DialMode::Progressive, "+46850000012", false)),
    });
    telephony.input(Input::CampaignActive { campaign: CampaignId(1), active: true });
    telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
    telephony.input(Input::AgentReady { agent: AgentId(1) });
    telephony
}

/// Gives the engine its one customer and follows the attempt to its end; returns the
/// driver and whether the customer was connected to the agent.
async fn feed_one_customer(
    telephony: Telephony,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> (Telephony, bool) {
    let mut pending = vec![contact(1, CUSTOMER)];
    let mut connected = false;
    while let Some(command) = commands.recv().await {
        match command {
            Command::FetchContacts { campaign, want } => {
                let n = (want as usize).min(pending.len());
                let contacts: Vec<_> = pending.drain(..n).collect();
                telephony.input(Input::Contacts { campaign, contacts, exhausted: true });
            }
            Command::Connect { .. } => connected = true,
            Command::AttemptEnded { .. } => break,
            _ => {}
        }
    }
    (telephony, connected)
}

/// RTP packets that reach `socket` within `window`.
async fn count_rtp(socket: &UdpSocket, window: Duration) -> usize {
    payload_types(socket, window).await.len()
}

/// The payload type of every RTP packet that reaches `socket` within `window`.
async fn payload_types(socket: &UdpSocket, window: Duration) -> Vec<u8> {
    let end = Instant::now() + window;
    let mut buf = [0u8; 2048];
    let mut types = Vec::new();
    while let Ok(Ok((len, _))) = tokio::time::timeout_at(end, socket.recv_from(&mut buf)).await {
        if let Some(p) = buf.get(..len).and_then(|d| RtpPacket::parse(d).ok()) {
            types.push(p.payload_type);
        }
    }
    types
}

/// As [`sdp`], offering only A-law (payload type 8).
fn sdp_alaw(port: u16) -> String {
    sdp(port).replace("RTP/AVP 0 101", "RTP/AVP 8 101").replace("0 PCMU/8000", "8 PCMA/8000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_follows_a_customer_whose_reinvite_moves_its_media() {
    let dir = temp_dir("reinvite-media");
    let v = voices(&dir);
    let agent_port = free_udp_port();
    let agent_plan = json!({"agent1": {"kind": "agent", "audio": v.agent.to_str()}});
    let _agent = pjsua(&dir, "agent", agent_port, &agent_plan, 60);
    wait_ready(&dir, &["agent"], Duration::from_secs(20));

    // The customer: a SIP socket and two RTP sockets.
    let sip = UdpSocket::bind("127.0.0.1:0").await.expect("a SIP socket");
    let first = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let second = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let first_port = first.local_addr().expect("bound").port();
    let second_port = second.local_addr().expect("bound").port();

    let trunk = loopback_trunk("raw", sip.local_addr().expect("bound").port(), 1, 5.0);
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    options.agent_phones =
        HashMap::from([(AgentId(1), format!("sip:agent1@127.0.0.1:{agent_port}"))]);
    let (tx, commands) = mpsc::unbounded_channel();
    let telephony = start_shift(trunk, tx, options).await;
    let feeder = tokio::spawn(feed_one_customer(telephony, commands));

    // The INVITE: answer with the first RTP port.
    let mut buf = vec![0u8; 65_536];
    let (invite, driver) = loop {
        let (n, from) = timeout(Duration::from_secs(10), sip.recv_from(&mut buf))
            .await
            .expect("the INVITE arrives")
            .expect("socket works");
        let m = SipMessage::parse(&buf[..n]).expect("the driver sends valid SIP");
        if m.method() == Some("INVITE") {
            break (m, from);
        }
    };
    let ok = respond(&invite, 200, Some(sdp(first_port)));
    sip.send_to(&ok, driver).await.expect("sent");

    // Our own RTP keeps the call alive (the driver ends silent legs).
    let ringa_media = SocketAddr::from(([127, 0, 0, 1], offered_port(&invite)));
    let talker = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let talk = talk(Arc::new(talker), ringa_media, 0xff);

    // The agent's audio reaches the first port once bridged.
    let before = count_rtp(&first, Duration::from_secs(4)).await;
    assert!(before > 50, "agent audio at the first port: {before} packets");

    // The re-INVITE moves the media to the second port, and to A-law.
    let me = sip.local_addr().expect("bound");
    let reinvite = in_dialog("INVITE", 2, &invite, me, Some(sdp_alaw(second_port)));
    sip.send_to(&reinvite.to_bytes(), driver).await.expect("sent");
    let answered = loop {
        let (n, _) = timeout(Duration::from_secs(5), sip.recv_from(&mut buf))
            .await
            .expect("the re-INVITE is answered")
            .expect("socket works");
        let m = SipMessage::parse(&buf[..n]).expect("valid SIP");
        if m.header("CSeq").is_some_and(|c| c.starts_with("2 ")) {
            break m;
        }
    };
    assert_eq!(answered.code(), Some(200), "{answered:?}");
    let answer = String::from_utf8_lossy(&answered.body).into_owned();
    assert!(answer.contains("RTP/AVP 8") && !answer.contains("PCMU"), "{answer}");

    // Give in-flight packets 200 ms to land, then count where the audio goes, in which law.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (after_first, types) = tokio::join!(
        count_rtp(&first, Duration::from_secs(2)),
        payload_types(&second, Duration::from_secs(2))
    );
    let after_second = types.len();
    assert!(types.iter().all(|pt| *pt == 8), "A-law from now on: {types:?}");
    eprintln!(
        "agent audio: {before} packets at the first port in 4 s; after the re-INVITE \
         {after_second} at the second, {after_first} at the first in 2 s"
    );
    assert!(after_second > 50, "agent audio follows to the second port: {after_second}");
    assert!(after_first < 3, "nothing more at the first port: {after_first}");
    talk.abort();

    // The customer hangs up; the attempt ends.
    let bye = in_dialog("BYE", 3, &invite, me, None);
    sip.send_to(&bye.to_bytes(), driver).await.expect("sent");
    let (telephony, connected) =
        timeout(Duration::from_secs(10), feeder).await.expect("the attempt ends").expect("task");
    assert!(connected, "the customer was connected to the agent");
    telephony.stop().await.expect("the driver stops cleanly");
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}

/// A request `method` with `cseq` from the peer that answered `invite` (our tag `cust`,
/// as [`respond`] gives it), sent from `me`, with an SDP `body` if given.
fn in_dialog(
    method: &str,
    cseq: u32,
    invite: &SipMessage,
    me: SocketAddr,
    body: Option<String>,
) -> SipMessage {
    let mut m = SipMessage::request(method, "sip:ringa@127.0.0.1");
    m.push("Via", format!("SIP/2.0/UDP {me};branch=z9hG4bK{method}{cseq}"))
        .push("From", format!("{};tag=cust", invite.header("To").unwrap_or_default()))
        .push("To", invite.header("From").unwrap_or_default().to_string())
        .push("Call-ID", invite.header("Call-ID").unwrap_or_default().to_string())
        .push("CSeq", format!("{cseq} {method}"))
        .push("Contact", format!("<sip:cust@{me}>"));
    if let Some(body) = body {
        m.push("Content-Type", "application/sdp");
        m.body = body.into_bytes();
    }
    m
}

/// The offer's RTP port (the `m=audio` line).
fn offered_port(m: &SipMessage) -> u16 {
    String::from_utf8_lossy(&m.body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the offer names its RTP port")
}

/// The next request with `method` on `socket`, and where it came from.
async fn next_request(socket: &UdpSocket, method: &str) -> (SipMessage, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("a {method} arrives"))
            .expect("socket works");
        let m = SipMessage::parse(&buf[..n]).expect("the driver sends valid SIP");
        if m.method() == Some(method) {
            return (m, from);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_follows_an_agent_phone_whose_reinvite_moves_its_media() {
    // The agent's phone and the customer are hand-written endpoints on raw sockets.
    let phone = UdpSocket::bind("127.0.0.1:0").await.expect("a SIP socket");
    let first = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let second = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let (first_port, second_port) =
        (first.local_addr().expect("bound").port(), second.local_addr().expect("bound").port());
    let trunk_sip = UdpSocket::bind("127.0.0.1:0").await.expect("a SIP socket");
    let customer_rtp = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");

    let trunk = loopback_trunk("raw", trunk_sip.local_addr().expect("bound").port(), 1, 5.0);
    let mut options = DriverOptions::new(IpAddr::from([127, 0, 0, 1]));
    let phone_addr = phone.local_addr().expect("bound");
    options.agent_phones = HashMap::from([(AgentId(1), format!("sip:agent1@{phone_addr}"))]);
    let (tx, commands) = mpsc::unbounded_channel();
    let telephony = start_shift(trunk, tx, options).await;

    // The shift's call to the phone: answered with the first RTP port.
    let (leg_invite, driver) = next_request(&phone, "INVITE").await;
    phone.send_to(&respond(&leg_invite, 200, Some(sdp(first_port))), driver).await.expect("sent");

    let feeder = tokio::spawn(feed_one_customer(telephony, commands));

    // The customer answers and talks.
    let (invite, driver) = next_request(&trunk_sip, "INVITE").await;
    let customer_port = customer_rtp.local_addr().expect("bound").port();
    trunk_sip
        .send_to(&respond(&invite, 200, Some(sdp(customer_port))), driver)
        .await
        .expect("sent");
    let ringa_media = SocketAddr::from(([127, 0, 0, 1], offered_port(&invite)));
    let talk = talk(Arc::new(customer_rtp), ringa_media, 0x55);
    let before = count_rtp(&first, Duration::from_secs(3)).await;
    assert!(before > 50, "audio at the phone's first port: {before} packets");

    // The phone's re-INVITE (its own CSeq space) moves its media to the second port.
    let reinvite = in_dialog("INVITE", 7, &leg_invite, phone_addr, Some(sdp(second_port)));
    phone.send_to(&reinvite.to_bytes(), driver).await.expect("sent");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (after_first, after_second) = tokio::join!(
        count_rtp(&first, Duration::from_secs(2)),
        count_rtp(&second, Duration::from_secs(2))
    );
    eprintln!(
        "to the phone: {before} packets at the first port in 3 s; after its re-INVITE \
         {after_second} at the second, {after_first} at the first in 2 s"
    );
    assert!(after_second > 50, "the customer's audio follows the phone: {after_second}");
    assert!(after_first < 3, "nothing more at the first port: {after_first}");
    talk.abort();

    // The customer hangs up; between calls the leg's own audio goes to the new port too.
    let bye = in_dialog("BYE", 3, &invite, trunk_sip.local_addr().expect("bound"), None);
    trunk_sip.send_to(&bye.to_bytes(), driver).await.expect("sent");
    let (telephony, connected) =
        timeout(Duration::from_secs(10), feeder).await.expect("the attempt ends").expect("task");
    assert!(connected, "the customer was connected to the agent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (idle_first, idle_second) = tokio::join!(
        count_rtp(&first, Duration::from_secs(1)),
        count_rtp(&second, Duration::from_secs(1))
    );
    assert!(idle_second > 20, "idle audio at the new port: {idle_second}");
    assert!(idle_first < 3, "no idle audio at the old port: {idle_first}");
    telephony.stop().await.expect("the driver stops cleanly");
}
