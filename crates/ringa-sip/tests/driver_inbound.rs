//! Calls that arrive from the network at the running driver's SIP socket. Toll-fraud guard:
//! INVITEs from outside are challenged (401) or refused (403), an authenticated account that
//! is no agent's phone is refused too, and the trunk receives nothing at all. Calls back
//! ring (180) and are answered only once the engine has decided: a customer who calls one
//! of a campaign's caller IDs through the trunk while no agent is free hears the callback
//! message, then ringa hangs up; without a message the call is never answered (480, its
//! ACK absorbed); other numbers meet the gate. With an agent ready, the call back is
//! bridged to the agent's phone (a raw UDP endpoint on its nailed-up leg): audio goes both
//! ways, the customer's BYE ends the agent's call and gives the leg back to waiting, and the
//! desktop's hang-up sends the next caller our BYE. With a phone called per customer, the
//! customer is answered when the phone answers (a phone that refuses leaves the customer
//! unanswered: 480), and one who cancels while the phone rings has that phone's call
//! cancelled: no agent is left on a call with nobody. An owner that
//! decides later (`Lines`) hears of a caller who cancels before the decision as a hang-up,
//! and its late decision answers nobody. A call back over a TCP trunk is answered, and hung
//! up, on the connection it came on.

mod peers;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use peers::talk;
use ringa_core::campaign::{CallerId, Campaign};
use ringa_core::{AgentId, CampaignId, DialMode, OutcomeCode, PhoneNumber, RuleSet};
use ringa_engine::{AgentState, Command, Input};
use ringa_sip::driver::{AgentLegMode, DriverOptions};
use ringa_sip::prompt::Prompt;

use ringa_engine::{Engine, EngineConfig};
use ringa_sip::config::{Transport, TrunkConfig};
use ringa_sip::digest::Challenge;
use ringa_sip::driver::Telephony;
use ringa_sip::message::SipMessage;
use ringa_sip::rtp::RtpPacket;
use tokio::sync::mpsc;

fn invite(from: SocketAddr, cseq: u32, authorization: Option<String>) -> Vec<u8> {
    let mut m = SipMessage::request("INVITE", "sip:+33612345678@127.0.0.1");
    m.push("Via", format!("SIP/2.0/UDP {from};branch=z9hG4bKintruder{cseq}"))
        .push("From", format!("<sip:intruder@{}>;tag=x", from.ip()))
        .push("To", "<sip:+33612345678@127.0.0.1>")
        .push("Call-ID", "intruder-1")
        .push("CSeq", format!("{cseq} INVITE"))
        .push("Content-Type", "application/sdp");
    if let Some(a) = authorization {
        m.push("Authorization", a);
    }
    m.body = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
    m.to_bytes()
}

/// A trunk at `address` over `transport`.
fn trunk_at(address: SocketAddr, transport: Transport) -> TrunkConfig {
    TrunkConfig {
        name: "carrier".into(),
        address,
        transport,
        username: None,
        password: None,
        line_limit: 10,
        cps: 10.0,
    }
}

fn exchange(socket: &UdpSocket, to: SocketAddr, datagram: &[u8]) -> SipMessage {
    socket.send_to(datagram, to).expect("loopback send");
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).expect("the driver answers within the timeout");
    SipMessage::parse(&buf[..n]).expect("the driver answers with valid SIP")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_invites_never_reach_the_trunk() {
    let trunk_socket = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    trunk_socket.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout is settable");
    let trunk = trunk_at(trunk_socket.local_addr().expect("bound"), Transport::Udp);
    let (tx, _commands) = mpsc::unbounded_channel();
    let accounts = HashMap::from([("agent7".to_string(), "pw7".to_string())]);
    let telephony = Telephony::start(
        trunk,
        "127.0.0.1:0".parse().expect("literal address"),
        "127.0.0.1:40010".parse().expect("literal address"),
        Engine::new(EngineConfig::default()),
        tx,
        accounts,
    )
    .await
    .expect("driver starts");
    let ringa = telephony.local_addr();

    let outcome = tokio::task::spawn_blocking(move || {
        let intruder = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
        intruder.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout is settable");
        let me = intruder.local_addr().expect("bound");

        let first = exchange(&intruder, ringa, &invite(me, 1, None));
        assert_eq!(first.code(), Some(401));
        let challenge =
            Challenge::parse(first.header("WWW-Authenticate").expect("a challenge is sent"))
                .expect("the challenge parses");
        let uri = "sip:+33612345678@127.0.0.1";
        let wrong = challenge.authorize("INVITE", uri, "agent7", "guess", 1, "c");
        assert_eq!(exchange(&intruder, ringa, &invite(me, 2, Some(wrong))).code(), Some(403));
        let right = challenge.authorize("INVITE", uri, "agent7", "pw7", 1, "c");
        let agent = exchange(&intruder, ringa, &invite(me, 3, Some(right)));
        // The account is valid but no agent's phone uses it: the dialled number is never a
        // destination, so the call is refused.
        assert_eq!(agent.code(), Some(403), "an account with no phone is refused");

        let mut buf = [0u8; 4096];
        trunk_socket.recv_from(&mut buf).map(|(n, _)| n)
    })
    .await
    .expect("the intruder thread completes");
    telephony.stop().await.expect("the driver stops cleanly");
    assert!(outcome.is_err(), "the trunk received {outcome:?} bytes from a network INVITE");
}

/// A customer calling back `dialled` from the trunk's address, offering RTP at `rtp`.
fn call_back(from: SocketAddr, dialled: &str, rtp: SocketAddr, call_id: &str) -> SipMessage {
    let mut m = SipMessage::request("INVITE", &format!("sip:{dialled}@127.0.0.1"));
    m.push("Via", format!("SIP/2.0/UDP {from};branch=z9hG4bK{call_id}"))
        .push("From", "<sip:+46701234567@127.0.0.1>;tag=cust")
        .push("To", format!("<sip:{dialled}@127.0.0.1>"))
        .push("Call-ID", call_id)
        .push("CSeq", "1 INVITE")
        .push("Contact", format!("<sip:cust@{from}>"))
        .push("Content-Type", "application/sdp");
    m.body = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.port()
    )
    .into_bytes();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_calling_back_a_caller_id_hears_the_message_then_goodbye() {
    // The trunk's address is also where the customer's call comes from.
    let trunk_socket = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    trunk_socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout is settable");
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    rtp.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout is settable");
    let trunk = trunk_socket.local_addr().expect("bound");
    let (telephony, _commands) = start(trunk, Transport::Udp, options(true, None), false).await;
    let ringa = telephony.local_addr();

    let heard = tokio::task::spawn_blocking(move || {
        let me = trunk_socket.local_addr().expect("bound");
        let receive = |socket: &UdpSocket| {
            let mut buf = [0u8; 4096];
            let (n, _) = socket.recv_from(&mut buf).expect("ringa answers");
            SipMessage::parse(&buf[..n]).expect("valid SIP")
        };
        // A number that is none of the campaign's is not answered: it meets the gate.
        let stranger = call_back(me, "+46850000099", rtp.local_addr().expect("bound"), "x1");
        trunk_socket.send_to(&stranger.to_bytes(), ringa).expect("sent");
        assert_eq!(receive(&trunk_socket).code(), Some(401));

        // The caller ID in national form, as a trunk may give it: it rings, then is answered
        // for the message.
        let invite = call_back(me, "0850000012", rtp.local_addr().expect("bound"), "cb1");
        trunk_socket.send_to(&invite.to_bytes(), ringa).expect("sent");
        let ringing = receive(&trunk_socket);
        assert_eq!(ringing.code(), Some(180), "{ringing:?}");
        let ok = receive(&trunk_socket);
        assert_eq!(ok.code(), Some(200), "{ok:?}");
        assert!(String::from_utf8_lossy(&ok.body).contains("m=audio"), "{ok:?}");
        let to = ok.header("To").unwrap_or_default();
        trunk_socket.send_to(&in_dialog("UDP", me, to, "cb1", "ACK", 1), ringa).expect("sent");

        // The message plays, then ringa says goodbye.
        let mut packets = 0;
        let mut buf = [0u8; 2048];
        while rtp.recv_from(&mut buf).is_ok() {
            packets += 1;
        }
        let bye = receive(&trunk_socket);
        assert_eq!(bye.method(), Some("BYE"), "{bye:?}");
        trunk_socket.send_to(&ok_to(&bye), ringa).expect("sent");
        packets
    })
    .await
    .expect("the customer thread completes");
    // One second of message is 50 packets of 20 ms.
    assert!((45..=60).contains(&heard), "{heard} RTP packets of the message");
    telephony.stop().await.expect("the driver stops cleanly");
}

/// One second of a 600 Hz tone: the recorded callback message.
fn tone() -> Arc<Prompt> {
    let tau = std::f64::consts::TAU;
    let samples = (0..8000).map(|i| ((f64::from(i) * 600.0 * tau / 8000.0).sin() * 8000.0) as i16);
    Arc::new(Prompt::from_samples(samples.collect()))
}

/// Campaign 1, whose caller ID is +46850000012.
fn campaign_one() -> Campaign {
    let mut campaign = Campaign::new(CampaignId(1), "c", DialMode::Progressive, RuleSet::None);
    let number = PhoneNumber::from_e164("+46850000012").expect("valid");
    campaign.caller_ids.numbers = vec![CallerId { number, daily_cap: None }];
    campaign
}

/// Driver options: the callback message when `message`, and agent 1's phone at the given
/// address, called as the given mode says.
fn options(message: bool, phone: Option<(SocketAddr, AgentLegMode)>) -> DriverOptions {
    let mut options = DriverOptions::new("127.0.0.1".parse().expect("literal address"));
    if message {
        options.callback_message = Some(tone());
    }
    if let Some((phone, legs)) = phone {
        options.agent_legs = legs;
        options.agent_phones = HashMap::from([(AgentId(1), format!("sip:agent1@{phone}"))]);
    }
    options
}

/// A driver with a trunk at `trunk` over `transport` and campaign 1 (see [`campaign_one`]);
/// when `agent`, agent 1 is logged in to it and ready. With the engine's commands.
async fn start(
    trunk: SocketAddr,
    transport: Transport,
    options: DriverOptions,
    agent: bool,
) -> (Telephony, mpsc::UnboundedReceiver<Command>) {
    let (tx, commands) = mpsc::unbounded_channel();
    let bind = "127.0.0.1:0".parse().expect("literal address");
    let trunk = trunk_at(trunk, transport);
    let telephony =
        Telephony::start_with(trunk, bind, Engine::new(EngineConfig::default()), tx, options)
            .await
            .expect("driver starts");
    telephony.input(Input::Campaign { campaign: Box::new(campaign_one()) });
    if agent {
        telephony.input(Input::AgentLogin { agent: AgentId(1), campaigns: vec![CampaignId(1)] });
        telephony.input(Input::AgentReady { agent: AgentId(1) });
    }
    (telephony, commands)
}

/// A request of the customer's dialog `call_id` from `me` over `transport` (`UDP`, `TCP`),
/// with `to` (ours, tagged) as To.
fn in_dialog(
    transport: &str,
    me: SocketAddr,
    to: &str,
    call_id: &str,
    method: &str,
    cseq: u32,
) -> Vec<u8> {
    let mut m = SipMessage::request(method, "sip:ringa@127.0.0.1");
    m.push("Via", format!("SIP/2.0/{transport} {me};branch=z9hG4bK{call_id}{method}{cseq}"))
        .push("From", "<sip:+46701234567@127.0.0.1>;tag=cust")
        .push("To", to)
        .push("Call-ID", call_id)
        .push("CSeq", format!("{cseq} {method}"));
    m.to_bytes()
}

/// A 200 OK to `req` (a BYE of ours), its headers copied.
fn ok_to(req: &SipMessage) -> Vec<u8> {
    let mut ok = SipMessage::response(200, "OK");
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        ok.push(name, req.header(name).unwrap_or_default().to_string());
    }
    ok.to_bytes()
}

/// The agent's phone's `code` response to `req`, with the phone's tag on To.
fn phone_reply(req: &SipMessage, code: u16, reason: &str) -> SipMessage {
    let mut r = SipMessage::response(code, reason);
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let mut v = req.header(name).unwrap_or_default().to_string();
        if name == "To" {
            v.push_str(";tag=phone");
        }
        r.push(name, v);
    }
    r
}

/// A 200 OK to `req` with our tag on To and an SDP naming `rtp`.
fn answer(req: &SipMessage, rtp: SocketAddr) -> Vec<u8> {
    let mut r = phone_reply(req, 200, "OK");
    r.push("Contact", "<sip:agent1@127.0.0.1>").push("Content-Type", "application/sdp");
    r.body = format!(
        "v=0\r\no=p 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.port()
    )
    .into_bytes();
    r.to_bytes()
}

/// The RTP address an SDP body names (ours, in an offer or answer of the driver).
fn media_of(m: &SipMessage) -> SocketAddr {
    let port = String::from_utf8_lossy(&m.body)
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the SDP names its RTP port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// RTP packets whose payload is all `fill` reaching `socket` within `window`, and all
/// packets.
async fn heard(socket: &tokio::net::UdpSocket, fill: u8, window: Duration) -> (usize, usize) {
    let end = tokio::time::Instant::now() + window;
    let mut buf = [0u8; 2048];
    let (mut matching, mut all) = (0, 0);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, socket.recv_from(&mut buf)).await {
        if let Some(p) = buf.get(..n).and_then(|d| RtpPacket::parse(d).ok()) {
            all += 1;
            if !p.payload.is_empty() && p.payload.iter().all(|b| *b == fill) {
                matching += 1;
            }
        }
    }
    (matching, all)
}

/// The next SIP message on `socket` for which `want` holds (up to 5 s).
async fn next_sip(
    socket: &tokio::net::UdpSocket,
    want: impl Fn(&SipMessage) -> bool,
) -> Option<(SipMessage, SocketAddr)> {
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok((n, from))) = tokio::time::timeout_at(end, socket.recv_from(&mut buf)).await {
        if let Some(Ok(m)) = buf.get(..n).map(SipMessage::parse)
            && want(&m)
        {
            return Some((m, from));
        }
    }
    None
}

/// The loopback ends of a call back test: the trunk's SIP socket (where the customer calls
/// from), the customer's RTP socket and the agent's phone's SIP socket, with the trunk's
/// address (`me`) and the phone's.
struct Ends {
    trunk_sip: tokio::net::UdpSocket,
    customer_rtp: tokio::net::UdpSocket,
    phone_sip: tokio::net::UdpSocket,
    me: SocketAddr,
    phone: SocketAddr,
}

impl Ends {
    async fn bind() -> Ends {
        use tokio::net::UdpSocket;
        let trunk_sip = UdpSocket::bind("127.0.0.1:0").await.expect("loopback is available");
        let customer_rtp = UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
        let phone_sip = UdpSocket::bind("127.0.0.1:0").await.expect("a SIP socket");
        let me = trunk_sip.local_addr().expect("bound");
        let phone = phone_sip.local_addr().expect("bound");
        Ends { trunk_sip, customer_rtp, phone_sip, me, phone }
    }
}

/// The INVITE the driver sends the agent's phone at `phone_sip` (up to 5 s), and where it
/// came from; `expectation` says why it must come.
async fn phone_called(
    phone_sip: &tokio::net::UdpSocket,
    expectation: &str,
) -> (SipMessage, SocketAddr) {
    next_sip(phone_sip, |m| m.method() == Some("INVITE")).await.expect(expectation)
}

/// The next command on `commands` for which `want` holds (up to 5 s).
async fn next_command(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    want: impl Fn(&Command) -> bool,
) -> Option<Command> {
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(c)) = tokio::time::timeout_at(end, commands.recv()).await {
        if want(&c) {
            return Some(c);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_reaches_the_ready_agents_phone_and_its_bye_frees_the_agent() {
    use tokio::net::UdpSocket;
    let Ends { trunk_sip, customer_rtp, phone_sip, me, phone } = Ends::bind().await;
    let customer_rtp = Arc::new(customer_rtp);
    let phone_rtp = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket"));
    let options = options(true, Some((phone, AgentLegMode::Nailed)));
    let (telephony, mut commands) = start(me, Transport::Udp, options, true).await;
    let ringa = telephony.local_addr();

    // The agent's phone is called for the shift and answers.
    let (leg, driver) =
        phone_called(&phone_sip, "the phone is called once the agent is ready").await;
    let leg_media = media_of(&leg);
    phone_sip
        .send_to(&answer(&leg, phone_rtp.local_addr().expect("bound")), driver)
        .await
        .expect("sent");
    let phone_talks = talk(phone_rtp.clone(), leg_media, 0x22);

    // The customer calls the caller ID back: it rings, then the agent's call is answered.
    rings(&trunk_sip, ringa, &customer_rtp, "cb2").await;
    let (ok, _) = next_sip(&trunk_sip, |m| m.code().is_some()).await.expect("ringa answers");
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let to = ok.header("To").unwrap_or_default().to_string();
    let customer = |method: &str, cseq: u32| in_dialog("UDP", me, &to, "cb2", method, cseq);
    trunk_sip.send_to(&customer("ACK", 1), ringa).await.expect("sent");
    let customer_talks = talk(customer_rtp.clone(), media_of(&ok), 0x11);

    // The engine gave the call to the agent.
    let connect = next_command(&mut commands, |c| matches!(c, Command::Connect { .. })).await;
    let Some(Command::Connect { call, agent }) = connect else {
        panic!("the call back is connected: {connect:?}")
    };
    assert_eq!(agent, AgentId(1));
    assert!(call.get() >= 1 << 62, "a call back's id is apart from the engine's: {call}");

    // Audio both ways: the customer's at the phone, the phone's at the customer, and no
    // callback message (a tone, not the phone's filler) at the customer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ((at_phone, _), (at_customer, to_customer)) = tokio::join!(
        heard(&phone_rtp, 0x11, Duration::from_secs(2)),
        heard(&customer_rtp, 0x22, Duration::from_secs(2))
    );
    eprintln!(
        "in 2 s: {at_phone} customer packets at the phone, \
         {at_customer} phone packets at the customer"
    );
    assert!(at_phone > 60, "the customer's audio reaches the phone: {at_phone} packets");
    assert!(at_customer > 60, "the phone's audio reaches the customer: {at_customer} packets");
    assert!(to_customer - at_customer < 5, "nothing else played to the customer: {to_customer}");
    customer_talks.abort();

    // The customer hangs up: the agent wraps up, the leg stays up for the next customer.
    trunk_sip.send_to(&customer("BYE", 2), ringa).await.expect("sent");
    let (bye_ok, _) = next_sip(&trunk_sip, |m| m.code().is_some()).await.expect("BYE answered");
    assert_eq!(bye_ok.code(), Some(200));
    let wrap = next_command(&mut commands, |c| {
        matches!(c, Command::AgentState { state: AgentState::WrapUp { .. }, .. })
    })
    .await;
    let Some(Command::AgentState {
        state: AgentState::WrapUp { call: ended, contact, .. }, ..
    }) = wrap
    else {
        panic!("the agent wraps up after the customer's BYE")
    };
    assert_eq!((ended, contact), (call, None), "an unknown caller: no contact");
    let phone_bye = next_sip(&phone_sip, |m| m.method() == Some("BYE")).await;
    assert!(phone_bye.is_none(), "the nailed-up leg stays up: {phone_bye:?}");
    let (after, _) = heard(&phone_rtp, 0x11, Duration::from_millis(500)).await;
    assert!(after < 3, "no more customer audio at the phone: {after}");

    // The outcome frees the agent; the next caller is hung up on from the desktop: the
    // customer gets our BYE, the phone keeps its leg.
    telephony.input(Input::AgentOutcome {
        agent: AgentId(1),
        outcome: OutcomeCode::new("not_interested"),
        callback: None,
        note: None,
    });
    let ready = next_command(&mut commands, |c| {
        matches!(c, Command::AgentState { state: AgentState::Ready, .. })
    })
    .await;
    assert!(ready.is_some(), "ready again after the outcome");
    let again = call_back(me, "+46850000012", customer_rtp.local_addr().expect("bound"), "cb2b");
    trunk_sip.send_to(&again.to_bytes(), ringa).await.expect("sent");
    let final_response = |m: &SipMessage| m.code().is_some_and(|c| c >= 200);
    let (ok, _) = next_sip(&trunk_sip, final_response).await.expect("ringa answers");
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let connect = next_command(&mut commands, |c| matches!(c, Command::Connect { .. })).await;
    assert!(connect.is_some(), "the second call back is connected too");
    telephony.input(Input::AgentHangup { agent: AgentId(1) });
    let bye = next_sip(&trunk_sip, |m| m.method() == Some("BYE")).await;
    let (bye, _) = bye.expect("the desktop's hang-up sends the customer a BYE");
    assert_eq!(bye.header("Call-ID"), Some("cb2b"));
    let phone_bye = next_sip(&phone_sip, |m| m.method() == Some("BYE")).await;
    assert!(phone_bye.is_none(), "the nailed-up leg stays up: {phone_bye:?}");
    phone_talks.abort();
    telephony.stop().await.expect("the driver stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_cancels_while_the_agents_phone_rings_leaves_no_agent_on_the_line() {
    let Ends { trunk_sip, customer_rtp, phone_sip, me, phone } = Ends::bind().await;
    let options = options(true, Some((phone, AgentLegMode::PerCall)));
    let (telephony, mut commands) = start(me, Transport::Udp, options, true).await;
    let ringa = telephony.local_addr();

    let invite = rings(&trunk_sip, ringa, &customer_rtp, "cb3").await;

    // The agent's phone is called for this customer, and rings.
    let (leg, driver) = phone_called(&phone_sip, "the phone is called for the customer").await;
    let ringing = phone_reply(&leg, 180, "Ringing");
    phone_sip.send_to(&ringing.to_bytes(), driver).await.expect("sent");

    // The customer is not answered while the phone rings, and cancels: 200 for the CANCEL,
    // 487 for the INVITE, and the phone's call is cancelled.
    let answered = next_sip(&trunk_sip, |m| m.code().is_some()).await;
    assert!(answered.is_none(), "nothing answered before the phone: {answered:?}");
    cancels(&trunk_sip, ringa, &invite).await;
    let cancel = next_sip(&phone_sip, |m| m.method() == Some("CANCEL")).await;
    let (cancel, _) = cancel.expect("the ringing phone's call is cancelled");
    assert_eq!(cancel.header("Call-ID"), leg.header("Call-ID"));
    let wrap = next_command(&mut commands, |c| {
        matches!(c, Command::AgentState { state: AgentState::WrapUp { .. }, .. })
    })
    .await;
    assert!(wrap.is_some(), "the agent is out of the call: wrap-up");
    // The phone answers all the same (its 200 crossed our CANCEL): it is hung up at once.
    phone_sip.send_to(&answer(&leg, phone), driver).await.expect("sent");
    let phone_bye = next_sip(&phone_sip, |m| m.method() == Some("BYE")).await;
    assert!(phone_bye.is_some(), "a phone that answers late is hung up");
    let late = next_sip(&trunk_sip, |m| m.code() == Some(200)).await;
    assert!(late.is_none(), "the customer who left is never answered: {late:?}");
    telephony.stop().await.expect("the driver stops cleanly");
}

/// Calls back caller ID +46850000012 from `trunk` to `ringa`, offering RTP at `rtp`, as
/// call `call_id`, and checks that it rings (180). The INVITE sent.
async fn rings(
    trunk: &tokio::net::UdpSocket,
    ringa: SocketAddr,
    rtp: &tokio::net::UdpSocket,
    call_id: &str,
) -> SipMessage {
    let me = trunk.local_addr().expect("bound");
    let invite = call_back(me, "+46850000012", rtp.local_addr().expect("bound"), call_id);
    trunk.send_to(&invite.to_bytes(), ringa).await.expect("sent");
    let (ringing, _) = next_sip(trunk, |m| m.code().is_some()).await.expect("ringing");
    assert_eq!(ringing.code(), Some(180), "{ringing:?}");
    invite
}

/// The customer cancels the ringing call back `invite`: 200 for the CANCEL, 487 for the
/// INVITE, which the customer ACKs.
async fn cancels(trunk: &tokio::net::UdpSocket, ringa: SocketAddr, invite: &SipMessage) {
    trunk.send_to(&cancel_of(invite), ringa).await.expect("sent");
    let (cancelled, _) = next_sip(trunk, |m| m.cseq().is_some_and(|c| c.1 == "CANCEL"))
        .await
        .expect("the CANCEL is answered");
    assert_eq!(cancelled.code(), Some(200), "{cancelled:?}");
    let (terminated, _) = next_sip(trunk, |m| m.cseq().is_some_and(|c| c.1 == "INVITE"))
        .await
        .expect("the INVITE gets its final response");
    assert_eq!(terminated.code(), Some(487), "{terminated:?}");
    trunk.send_to(&ack_of(invite, &terminated), ringa).await.expect("sent");
}

/// The customer's CANCEL of a call back `invite`.
fn cancel_of(invite: &SipMessage) -> Vec<u8> {
    let mut m = SipMessage::request("CANCEL", "sip:+46850000012@127.0.0.1");
    for name in ["Via", "From", "To", "Call-ID"] {
        m.push(name, invite.header(name).unwrap_or_default().to_string());
    }
    m.push("CSeq", "1 CANCEL");
    m.to_bytes()
}

/// The customer's ACK of a final response other than 200 to `invite` (same branch).
fn ack_of(invite: &SipMessage, response: &SipMessage) -> Vec<u8> {
    let mut m = SipMessage::request("ACK", "sip:+46850000012@127.0.0.1");
    for name in ["Via", "From", "Call-ID"] {
        m.push(name, invite.header(name).unwrap_or_default().to_string());
    }
    m.push("To", response.header("To").unwrap_or_default().to_string()).push("CSeq", "1 ACK");
    m.to_bytes()
}

/// A driver for an owner that keeps its engine, with a trunk at `me` and campaign 1's
/// caller ID +46850000012.
async fn lines_at(
    me: SocketAddr,
    options: DriverOptions,
) -> (ringa_sip::driver::Lines, mpsc::UnboundedReceiver<Input>) {
    let trunk = trunk_at(me, Transport::Udp);
    let bind = "127.0.0.1:0".parse().expect("literal address");
    let (lines, inputs) =
        ringa_sip::driver::Lines::start(vec![trunk], bind, options).await.expect("driver starts");
    lines.campaign(&campaign_one());
    (lines, inputs)
}

/// The SIP message reaching `socket` within 2 s, if any (more than timer G's next two
/// retransmissions).
async fn quiet(socket: &tokio::net::UdpSocket) -> Option<SipMessage> {
    let mut buf = vec![0u8; 65_536];
    let got = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await;
    let Ok(Ok((n, _))) = got else { return None };
    buf.get(..n).and_then(|d| SipMessage::parse(d).ok())
}

/// The next input on `inputs` for which `want` holds (up to 5 s).
async fn next_input(
    inputs: &mut mpsc::UnboundedReceiver<Input>,
    want: impl Fn(&Input) -> bool,
) -> Option<Input> {
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(i)) = tokio::time::timeout_at(end, inputs.recv()).await {
        if want(&i) {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_cancelled_before_the_decision_is_a_hang_up_and_the_late_connect_is_void() {
    let Ends { trunk_sip, customer_rtp, phone_sip, me, phone } = Ends::bind().await;
    let options = options(false, Some((phone, AgentLegMode::PerCall)));
    let (lines, mut inputs) = lines_at(me, options).await;
    let ringa = lines.local_addr();

    let invite = rings(&trunk_sip, ringa, &customer_rtp, "cb4").await;
    let inbound = next_input(&mut inputs, |i| matches!(i, Input::InboundCall { .. })).await;
    let Some(Input::InboundCall { call, campaign, caller, .. }) = inbound else {
        panic!("the owner hears of the call back: {inbound:?}")
    };
    assert_eq!(campaign, CampaignId(1));
    assert_eq!(caller.map(|c| c.as_str().to_string()).as_deref(), Some("+46701234567"));

    // The owner has not decided yet; the customer gives up.
    cancels(&trunk_sip, ringa, &invite).await;
    let hung_up = next_input(&mut inputs, |i| matches!(i, Input::Call { .. })).await;
    let Some(Input::Call { call: gone, event }) = hung_up else {
        panic!("the cancel reaches the owner: {hung_up:?}")
    };
    assert_eq!(gone, call);
    assert_eq!(event, ringa_engine::CallEvent::HungUp { by_customer: true });

    // The owner's decision comes late: nobody is answered and no phone is called.
    lines.execute(&Command::Connect { call, agent: AgentId(1) });
    let phone_called = quiet(&phone_sip).await;
    assert!(phone_called.is_none(), "no phone is called for a caller who left");
    let late = quiet(&trunk_sip).await;
    assert!(late.is_none(), "nothing more to the customer (the ACK ended it): {late:?}");
    lines.stop().await.expect("the driver stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_agent_free_and_no_message_a_call_back_is_never_answered_480() {
    let Ends { trunk_sip, customer_rtp, me, .. } = Ends::bind().await;
    let (lines, mut inputs) = lines_at(me, options(false, None)).await;
    let ringa = lines.local_addr();

    let invite = rings(&trunk_sip, ringa, &customer_rtp, "cb5").await;
    let inbound = next_input(&mut inputs, |i| matches!(i, Input::InboundCall { .. })).await;
    let Some(Input::InboundCall { call, campaign, .. }) = inbound else {
        panic!("the owner hears of the call back: {inbound:?}")
    };
    lines.execute(&Command::InboundMessage { call, campaign });
    let (refused, _) = next_sip(&trunk_sip, |m| m.code().is_some()).await.expect("a refusal");
    assert_eq!(refused.code(), Some(480), "{refused:?}");
    let to = refused.header("To").unwrap_or_default();
    assert!(to.contains("tag="), "the final response carries our tag: {to}");
    // Sent again on timer G until the ACK, then nothing: no BYE, no RTP.
    let (again, _) = next_sip(&trunk_sip, |m| m.code().is_some()).await.expect("timer G");
    assert_eq!(again.code(), Some(480));
    trunk_sip.send_to(&ack_of(&invite, &refused), ringa).await.expect("sent");
    let after = quiet(&trunk_sip).await;
    assert!(after.is_none(), "nothing after the ACK: {after:?}");
    let mut buf = [0u8; 2048];
    let rtp = tokio::time::timeout(Duration::from_millis(300), customer_rtp.recv_from(&mut buf));
    assert!(rtp.await.is_err(), "no media to a call never answered");
    let hung_up = inputs.try_recv();
    assert!(hung_up.is_err(), "the engine had forgotten the call: {hung_up:?}");
    lines.stop().await.expect("the driver stops cleanly");
}

/// The next SIP message read from a TCP connection through `framer` (up to 5 s).
async fn next_over_tcp(
    stream: &mut tokio::net::TcpStream,
    framer: &mut ringa_sip::stream::Framer,
) -> Option<SipMessage> {
    use tokio::io::AsyncReadExt;
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Ok(Some(bytes)) = framer.next_message() {
            return SipMessage::parse(&bytes).ok();
        }
        match tokio::time::timeout_at(end, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => framer.push(buf.get(..n).unwrap_or_default()),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_over_a_tcp_trunk_is_answered_on_its_connection() {
    use tokio::io::AsyncWriteExt;
    // The trunk's own TCP address (where ringa's own connection would go) and the customer
    // calling from the trunk's host over a connection it opens to ringa.
    let trunk_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback");
    let me = trunk_listener.local_addr().expect("bound");
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("an RTP socket");
    let (telephony, _commands) = start(me, Transport::Tcp, options(true, None), false).await;
    let ringa = telephony.local_addr();

    let mut stream = tokio::net::TcpStream::connect(ringa).await.expect("ringa listens on TCP");
    let customer = stream.local_addr().expect("bound");
    // Whatever ringa would send over UDP to the customer's address lands here.
    let udp = tokio::net::UdpSocket::bind(customer).await.expect("the same port over UDP");
    let mut invite = call_back(customer, "+46850000012", rtp.local_addr().expect("bound"), "tcp1");
    invite.headers.retain(|(n, _)| n != "Via");
    invite.push("Via", format!("SIP/2.0/TCP {customer};branch=z9hG4bKtcp1"));
    stream.write_all(&invite.to_bytes()).await.expect("sent");
    let mut framer = ringa_sip::stream::Framer::new();
    let ringing = next_over_tcp(&mut stream, &mut framer).await.expect("180 on the connection");
    assert_eq!(ringing.code(), Some(180), "{ringing:?}");
    let ok = next_over_tcp(&mut stream, &mut framer).await.expect("200 on the connection");
    assert_eq!(ok.code(), Some(200), "{ok:?}");
    let contact = ok.header("Contact").unwrap_or_default();
    assert!(contact.contains("transport=tcp"), "{contact}");
    let to = ok.header("To").unwrap_or_default();
    stream.write_all(&in_dialog("TCP", customer, to, "tcp1", "ACK", 1)).await.expect("sent");

    // The message plays, then our BYE comes on the same connection, saying TCP.
    let (_, played) = heard(&rtp, 0, Duration::from_millis(800)).await;
    assert!(played > 25, "the message reaches the caller: {played} RTP packets");
    let bye = next_over_tcp(&mut stream, &mut framer).await.expect("our BYE on the connection");
    assert_eq!(bye.method(), Some("BYE"), "{bye:?}");
    assert!(bye.header("Via").unwrap_or_default().starts_with("SIP/2.0/TCP"), "{bye:?}");
    stream.write_all(&ok_to(&bye)).await.expect("sent");

    // Nothing over UDP, nothing on a connection of ringa's own to the trunk.
    let mut buf = [0u8; 4096];
    let over_udp = tokio::time::timeout(Duration::from_millis(500), udp.recv_from(&mut buf)).await;
    assert!(over_udp.is_err(), "nothing of the call back goes over UDP");
    let own = tokio::time::timeout(Duration::from_millis(200), trunk_listener.accept()).await;
    assert!(own.is_err(), "ringa needed no connection of its own");
    telephony.stop().await.expect("the driver stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_back_whose_agent_phone_refuses_is_never_answered_480() {
    let Ends { trunk_sip, customer_rtp, phone_sip, me, phone } = Ends::bind().await;
    let options = options(true, Some((phone, AgentLegMode::PerCall)));
    let (telephony, mut commands) = start(me, Transport::Udp, options, true).await;
    let ringa = telephony.local_addr();

    let invite = rings(&trunk_sip, ringa, &customer_rtp, "cb6").await;
    let (leg, driver) = phone_called(&phone_sip, "the phone is called for the customer").await;
    let busy = phone_reply(&leg, 486, "Busy Here");
    phone_sip.send_to(&busy.to_bytes(), driver).await.expect("sent");

    // The customer was never answered: 480, and the agent is out of the call.
    let (refused, _) = next_sip(&trunk_sip, |m| m.code().is_some()).await.expect("a refusal");
    assert_eq!(refused.code(), Some(480), "{refused:?}");
    trunk_sip.send_to(&ack_of(&invite, &refused), ringa).await.expect("sent");
    let paused = next_command(&mut commands, |c| {
        matches!(c, Command::AgentState { state: AgentState::Paused { .. }, .. })
    })
    .await;
    assert!(paused.is_some(), "the agent whose phone refused is paused");
    telephony.stop().await.expect("the driver stops cleanly");
}

/// The owner's engine holds a call the driver no longer carries (its end was never
/// heard): the audit reports that one hung up and leaves the calls it carries alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_ends_the_engines_calls_the_telephony_no_longer_carries() {
    let Ends { trunk_sip, customer_rtp, me, .. } = Ends::bind().await;
    let (lines, mut inputs) = lines_at(me, options(false, None)).await;
    let ringa = lines.local_addr();

    let _invite = rings(&trunk_sip, ringa, &customer_rtp, "cb-audit").await;
    let inbound = next_input(&mut inputs, |i| matches!(i, Input::InboundCall { .. })).await;
    let Some(Input::InboundCall { call: carried, .. }) = inbound else {
        panic!("the owner hears of the call back: {inbound:?}")
    };
    let lost = ringa_core::CallId(carried.0 + 1000);
    lines.audit(vec![carried, lost]);
    let ended = next_input(&mut inputs, |i| matches!(i, Input::Call { .. })).await;
    let Some(Input::Call { call, event }) = ended else {
        panic!("the lost call is reported: {ended:?}")
    };
    assert_eq!((call, event), (lost, ringa_engine::CallEvent::HungUp { by_customer: false }));
    let more = next_input(&mut inputs, |i| matches!(i, Input::Call { .. }));
    let more = tokio::time::timeout(Duration::from_millis(500), more).await;
    assert!(more.is_err(), "the call carried is left alone: {more:?}");
    lines.stop().await.expect("the driver stops cleanly");
}
