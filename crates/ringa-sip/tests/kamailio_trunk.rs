//! Interop: an outbound call through Kamailio acting as a trunk that demands digest auth
//! (407) and forwards to SIPp answering. Kamailio logs the caller ID it received in From and
//! P-Asserted-Identity; both must equal the one ringa sent. Kamailio and SIPp come from
//! `scripts/test-deps`; both run in the foreground on free loopback ports and are stopped by
//! their own pids.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringa_sip::message::SipMessage;
use ringa_sip::sdp;
use ringa_sip::uac::{UacCall, UacEvent, UacParams};

const CALLER_ID: &str = "+33100000077";
const PASSWORD: &str = "trunk-secret";

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    s.local_addr().expect("bound socket has an address").port()
}

fn kamailio_config(port: u16, sipp_port: u16) -> String {
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
disable_tcp=yes
listen=udp:127.0.0.1:{port}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("trunk.test", "{PASSWORD}", "0")) {{
            proxy_challenge("trunk.test", "1");
            exit;
        }}
        consume_credentials();
        xlog("L_ERR", "RINGA-CALLERID from=$fU pai=$ai\n");
        record_route();
        $du = "sip:127.0.0.1:{sipp_port}";
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"#
    )
}

const SIPP_ANSWER: &str = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n\
<scenario name=\"answer\">\n<recv request=\"INVITE\"/>\n<send><![CDATA[\n\
SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag[call_number]\n\
[last_Call-ID:]\n[last_CSeq:]\n[last_Record-Route:]\nContact: <sip:[local_ip]:[local_port]>\n\
Content-Type: application/sdp\nContent-Length: [len]\n\n\
v=0\no=sipp 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n\n]]></send>\n\
<recv request=\"ACK\"/>\n<recv request=\"BYE\"/>\n<send><![CDATA[\n\
SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n\
Content-Length: 0\n\n]]></send>\n</scenario>\n";

struct Proc(Child);

impl Proc {
    fn wait(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.0.try_wait().expect("child status is readable") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only this child, by its pid. SIGTERM first: Kamailio's main process then stops the
        // workers it forked, which SIGKILL would leave running.
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            if !self.wait(Duration::from_secs(5)) {
                let _ = self.0.kill();
            }
        }
        let _ = self.0.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringa-sip-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

fn start_kamailio(dir: &Path, port: u16, sipp_port: u16) -> Proc {
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, kamailio_config(port, sipp_port)).expect("config is writable");
    let log = std::fs::File::create(dir.join("kamailio.log")).expect("log is writable");
    let child = Command::new("kamailio")
        .args(["-DD", "-E", "-f", cfg.to_str().expect("temp path is UTF-8")])
        .args(["-Y", dir.to_str().expect("temp path is UTF-8"), "-m", "32", "-M", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kamailio is installed by scripts/test-deps");
    Proc(child)
}

#[test]
fn call_through_kamailio_with_digest_keeps_the_caller_id() {
    let dir = temp_dir("kamailio");
    let (kport, sport) = (free_udp_port(), free_udp_port());
    std::fs::write(dir.join("answer.xml"), SIPP_ANSWER).expect("scenario is writable");
    let mut sipp = Proc(
        Command::new("sipp")
            .args(["-sf", dir.join("answer.xml").to_str().expect("temp path is UTF-8")])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &sport.to_string()])
            .args(["-mp", &free_udp_port().to_string(), "-m", "1", "-timeout", "20s"])
            .arg("-nostdin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&dir)
            .spawn()
            .expect("sipp is installed by scripts/test-deps (Debian package sip-tester)"),
    );
    let kamailio = start_kamailio(&dir, kport, sport);
    std::thread::sleep(Duration::from_millis(800));

    let socket = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout is settable");
    let trunk = SocketAddr::from(([127, 0, 0, 1], kport));
    let mut call = UacCall::start(
        Instant::now(),
        UacParams {
            call_id: format!("kam-{}@ringa-test", std::process::id()),
            number: "+33612345678".into(),
            caller_id: CALLER_ID.into(),
            local: socket.local_addr().expect("bound"),
            trunk,
            credentials: Some(("ringa".into(), PASSWORD.into())),
            sdp_offer: sdp::offer(1, "127.0.0.1:40002".parse().expect("literal address")),
        },
    );
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    let mut challenged = false;
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !events.iter().any(|e| matches!(e, UacEvent::Answered { .. })) {
        while let Some(d) = call.poll_transmit() {
            socket.send_to(&d, trunk).expect("loopback send");
        }
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && let Ok(m) = SipMessage::parse(&buf[..n])
        {
            challenged |= m.code() == Some(407);
            call.handle_message(Instant::now(), &m);
        }
        call.handle_timeout(Instant::now());
        while let Some(e) = call.poll_event() {
            assert!(!matches!(e, UacEvent::Failed { .. }), "call failed: {e:?}");
            events.push(e);
        }
    }
    assert!(challenged, "Kamailio must challenge with 407");
    assert!(events.iter().any(|e| matches!(e, UacEvent::Answered { .. })), "{events:?}");
    std::thread::sleep(Duration::from_millis(300));
    call.hangup();
    while let Some(d) = call.poll_transmit() {
        socket.send_to(&d, trunk).expect("loopback send");
    }
    assert!(sipp.wait(Duration::from_secs(10)), "SIPp did not complete the call with BYE");

    let log = std::fs::read_to_string(dir.join("kamailio.log")).expect("log is readable");
    let line = log
        .lines()
        .find(|l| l.contains("RINGA-CALLERID"))
        .unwrap_or_else(|| panic!("Kamailio logged no caller ID:\n{log}"));
    assert!(line.contains(&format!("from={CALLER_ID} ")), "{line}");
    assert!(line.contains(&format!("pai=sip:{CALLER_ID}@127.0.0.1")), "{line}");
    drop(kamailio);
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
