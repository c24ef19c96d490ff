//! Interop: ringa's outbound INVITE dialog against SIPp answering, refusing (486, 404, 480)
//! and ringing until cancelled (487). SIPp comes from Debian's `sip-tester`, installed by
//! `scripts/test-deps`; each scenario runs on its own free loopback port, scenario files are
//! written at run time, and every SIPp process is stopped by its own pid.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringa_core::CallResult;
use ringa_sip::message::SipMessage;
use ringa_sip::sdp;
use ringa_sip::uac::{UacCall, UacEvent, UacParams};

const HEADERS: &str = "[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag[call_number]\n\
    [last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port]>\n";

fn send(text: &str) -> String {
    format!("  <send><![CDATA[\n{text}\n]]></send>\n")
}

fn status(code: u16, reason: &str) -> String {
    send(&format!("SIP/2.0 {code} {reason}\n{HEADERS}Content-Length: 0\n"))
}

/// The SIPp UAS scenario for one behaviour.
fn scenario(kind: &str) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"ringa\">\n\
         <recv request=\"INVITE\"/>\n",
    );
    match kind {
        "answer" => {
            s += &status(180, "Ringing");
            s += &send(&format!(
                "SIP/2.0 200 OK\n{HEADERS}Content-Type: application/sdp\nContent-Length: [len]\n\n\
                 v=0\no=sipp 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
                 m=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\n\
                 a=rtpmap:101 telephone-event/8000\n"
            ));
            s += "  <recv request=\"ACK\"/>\n  <recv request=\"BYE\"/>\n";
            s += &send(
                "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n\
                        [last_CSeq:]\nContent-Length: 0\n",
            );
        }
        "ring" => {
            s += &status(180, "Ringing");
            s += "  <recv request=\"CANCEL\"/>\n";
            s += &send(
                "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n\
                        [last_CSeq:]\nContent-Length: 0\n",
            );
            s += &send(
                "SIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n\
                 [last_To:];tag=[pid]SIPpTag[call_number]\n[last_Call-ID:]\nCSeq: 1 INVITE\n\
                 Content-Length: 0\n",
            );
            s += "  <recv request=\"ACK\"/>\n";
        }
        code => {
            let code: u16 = code.parse().expect("scenario kinds are answer, ring or a code");
            s += &status(100, "Trying");
            s += &status(code, "Refused");
            s += "  <recv request=\"ACK\"/>\n";
        }
    }
    s + "</scenario>\n"
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    s.local_addr().expect("bound socket has an address").port()
}

struct Sipp {
    child: Child,
}

impl Sipp {
    fn start(dir: &Path, kind: &str, port: u16) -> Sipp {
        let file = dir.join(format!("{kind}.xml"));
        std::fs::write(&file, scenario(kind)).expect("scenario is writable");
        let media = free_udp_port();
        let child = Command::new("sipp")
            .args(["-sf", file.to_str().expect("temp path is UTF-8")])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &media.to_string(), "-m", "1", "-timeout", "20s", "-nostdin"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(dir)
            .spawn()
            .expect("sipp is installed by scripts/test-deps (Debian package sip-tester)");
        Sipp { child }
    }

    /// Waits for SIPp to exit; true when its one call succeeded.
    fn wait(mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().expect("child status is readable") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        // Kills only this child, by its pid; a no-op when it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Places one call to `peer`; cancels after `ring_timeout`, hangs up one second after an
/// answer. Returns the events seen.
fn place_call(peer: SocketAddr, ring_timeout: Duration) -> Vec<UacEvent> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout is settable");
    let local = socket.local_addr().expect("bound socket has an address");
    let start = Instant::now();
    let mut call = UacCall::start(
        start,
        UacParams {
            call_id: format!("{}-{}@ringa-test", peer.port(), std::process::id()),
            number: "+33612345678".into(),
            caller_id: "+33100000001".into(),
            local,
            trunk: peer,
            credentials: None,
            sdp_offer: sdp::offer(1, "127.0.0.1:40000".parse().expect("literal address")),
        },
    );
    let mut events = Vec::new();
    let mut answered_at = None;
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(15) {
        while let Some(d) = call.poll_transmit() {
            socket.send_to(&d, peer).expect("loopback send");
        }
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && let Ok(m) = SipMessage::parse(&buf[..n])
        {
            call.handle_message(Instant::now(), &m);
        }
        call.handle_timeout(Instant::now());
        while let Some(e) = call.poll_event() {
            if matches!(e, UacEvent::Answered { .. }) {
                answered_at = Some(Instant::now());
            }
            let done = matches!(e, UacEvent::Failed { .. } | UacEvent::RemoteHangup);
            events.push(e);
            if done {
                // Flush the ACK before leaving.
                while let Some(d) = call.poll_transmit() {
                    socket.send_to(&d, peer).expect("loopback send");
                }
                return events;
            }
        }
        if answered_at.is_none() && start.elapsed() > ring_timeout {
            call.cancel();
        }
        if answered_at.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            call.hangup();
            while let Some(d) = call.poll_transmit() {
                socket.send_to(&d, peer).expect("loopback send");
            }
            // Give the peer time to read the BYE; its 200 needs no action.
            std::thread::sleep(Duration::from_millis(200));
            return events;
        }
    }
    events
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringa-sip-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

#[test]
fn outbound_calls_against_sipp_map_every_final_response() {
    let dir = temp_dir("sipp-uac");
    let cases: [(&str, Option<u16>, Option<CallResult>); 5] = [
        ("answer", None, None),
        ("486", Some(486), Some(CallResult::Busy)),
        ("404", Some(404), Some(CallResult::Invalid)),
        ("480", Some(480), Some(CallResult::NoAnswer)),
        ("ring", Some(487), Some(CallResult::NoAnswer)),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(kind, code, result)| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let port = free_udp_port();
                let sipp = Sipp::start(&dir, kind, port);
                // Let SIPp bind before the INVITE (retransmission covers a slow start).
                std::thread::sleep(Duration::from_millis(300));
                let peer = SocketAddr::from(([127, 0, 0, 1], port));
                let events = place_call(peer, Duration::from_secs(2));
                let ok = sipp.wait(Duration::from_secs(10));
                (kind, code, result, events, ok)
            })
        })
        .collect();

    for h in handles {
        let (kind, code, result, events, sipp_ok) = h.join().expect("call thread completes");
        match code {
            None => {
                assert!(events.contains(&UacEvent::Ringing), "{kind}: {events:?}");
                let answered = events.iter().any(|e| {
                    matches!(e, UacEvent::Answered { sdp }
                    if sdp::SessionDescription::parse(sdp).is_ok())
                });
                assert!(answered, "{kind}: {events:?}");
            }
            Some(code) => {
                assert_eq!(events.last(), Some(&UacEvent::Failed { code }), "{kind}: {events:?}");
                assert_eq!(Some(CallResult::from_sip(code)), result, "{kind}");
            }
        }
        assert!(sipp_ok, "{kind}: SIPp did not complete its scenario");
    }
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
