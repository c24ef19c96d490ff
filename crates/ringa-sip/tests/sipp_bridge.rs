//! Interop: a customer leg and an agent leg, both SIPp answering with real RTP, bridged by
//! ringa's relay with a stereo recording. The customer stops sending media and never sends
//! BYE (the lost-BYE case): the inactivity timer must end the bridge so the agent is freed,
//! and the recording must hold audio of both sides. SIPp comes from `scripts/test-deps`.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ringa_sip::bridge::{BridgeEnd, run_bridge};
use ringa_sip::message::SipMessage;
use ringa_sip::record::StereoRecorder;
use ringa_sip::relay::{LegMedia, Relay, Side, StreamRewriter};
use ringa_sip::sdp::{self, SessionDescription};
use ringa_sip::uac::{UacCall, UacEvent, UacParams};

#[path = "peers/sipp.rs"]
mod sipp;
use sipp::{Peer, answering, free_udp_port, tone};

struct Leg {
    call: UacCall,
    socket: UdpSocket,
    peer: SocketAddr,
}

impl Leg {
    fn flush(&mut self) {
        while let Some(d) = self.call.poll_transmit() {
            self.socket.send_to(&d, self.peer).expect("loopback send");
        }
    }

    /// Dials `peer` offering media at `rtp`; returns the leg and the peer's SDP answer.
    fn dial(peer: SocketAddr, rtp: SocketAddr, number: &str) -> (Leg, String) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
        socket.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout is settable");
        let local = socket.local_addr().expect("bound socket has an address");
        let call = UacCall::start(
            Instant::now(),
            UacParams {
                call_id: format!("{number}-{}@ringa-test", std::process::id()),
                number: number.into(),
                caller_id: "+33100000001".into(),
                local,
                trunk: peer,
                credentials: None,
                sdp_offer: sdp::offer(1, rtp),
            },
        );
        let mut leg = Leg { call, socket, peer };
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            leg.flush();
            if let Ok((n, _)) = leg.socket.recv_from(&mut buf)
                && let Ok(m) = SipMessage::parse(&buf[..n])
            {
                leg.call.handle_message(Instant::now(), &m);
            }
            leg.call.handle_timeout(Instant::now());
            while let Some(e) = leg.call.poll_event() {
                match e {
                    UacEvent::Answered { sdp } => {
                        leg.flush();
                        return (leg, sdp);
                    }
                    UacEvent::Failed { code } => panic!("{number}: call failed with {code}"),
                    _ => {}
                }
            }
        }
        panic!("{number}: no answer within 10 s");
    }

    fn hang_up(mut self) {
        self.call.hangup();
        self.flush();
    }
}

fn media(answer: &str, ssrc: u32) -> LegMedia {
    let sdp = SessionDescription::parse(answer).expect("SIPp answers with valid SDP");
    LegMedia {
        negotiated: sdp::accept_answer(&sdp).expect("SIPp answers PCMU"),
        stream: StreamRewriter::new(ssrc, 100, 16_000),
    }
}

fn rms(samples: impl Iterator<Item = i16>) -> f64 {
    let (sum, n) = samples.fold((0.0, 0usize), |(s, n), x| (s + f64::from(x).powi(2), n + 1));
    (sum / n.max(1) as f64).sqrt()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringa-sip-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

#[test]
fn lost_bye_is_ended_by_media_inactivity_and_the_recording_has_both_sides() {
    let dir = temp_dir("bridge");
    tone(&dir.join("customer.ul"), 440.0, 2.0);
    tone(&dir.join("agent.ul"), 660.0, 1.0);
    let (cport, aport) = (free_udp_port(), free_udp_port());
    // The customer talks for 2 s, then goes silent and never sends BYE.
    let customer_xml = answering("customer.ul", None, 1);
    let mut customer_sipp = Peer::sipp(&dir, "customer", &customer_xml, cport, 1, 30, &[]);
    let agent_xml = answering("agent.ul", None, -1);
    let mut agent_sipp = Peer::sipp(&dir, "agent", &agent_xml, aport, 1, 30, &[]);
    std::thread::sleep(Duration::from_millis(300));

    let customer_rtp = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    let agent_rtp = UdpSocket::bind("127.0.0.1:0").expect("loopback is available");
    let crtp = customer_rtp.local_addr().expect("bound");
    let artp = agent_rtp.local_addr().expect("bound");
    let (agent_leg, agent_sdp) =
        Leg::dial(SocketAddr::from(([127, 0, 0, 1], aport)), artp, "agent1");
    let (customer_leg, customer_sdp) =
        Leg::dial(SocketAddr::from(([127, 0, 0, 1], cport)), crtp, "+33612345678");

    let mut relay = Relay::new(media(&customer_sdp, 0x1111), media(&agent_sdp, 0x2222));
    let wav = dir.join("call.wav");
    let mut recorder = StereoRecorder::create(&wav).expect("temp dir is writable");
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let (end, stats) = run_bridge(
        &customer_rtp,
        &agent_rtp,
        &mut relay,
        Some(&mut recorder),
        Duration::from_millis(1500),
        &stop,
    )
    .expect("the bridge runs on loopback");
    let took = started.elapsed();
    recorder.finish().expect("the recording closes");

    assert_eq!(end, BridgeEnd::Inactive(Side::Customer), "{stats:?}");
    assert!(took < Duration::from_secs(8), "inactivity took {took:?}");
    assert!(stats.customer_packets > 50, "{stats:?}");
    assert!(stats.agent_packets > 50, "{stats:?}");

    // The owner now hangs up both legs: the agent is free again.
    customer_leg.hang_up();
    agent_leg.hang_up();
    let seen_bye =
        |peer: &mut Peer, secs| peer.exited(Duration::from_secs(secs)).is_some_and(|s| s.success());
    assert!(seen_bye(&mut agent_sipp, 10), "agent SIPp did not see its BYE");
    assert!(seen_bye(&mut customer_sipp, 15), "customer SIPp did not see its BYE");

    let mut reader = hound::WavReader::open(&wav).expect("the recording opens");
    assert_eq!(reader.spec().channels, 2);
    let samples: Vec<i16> = reader.samples().map(|s| s.expect("valid sample")).collect();
    let left = rms(samples.iter().step_by(2).copied());
    let right = rms(samples.iter().skip(1).step_by(2).copied());
    assert!(left > 1000.0, "customer channel RMS {left}");
    assert!(right > 1000.0, "agent channel RMS {right}");
    std::fs::remove_dir_all(&dir).expect("temp dir removable");
}
