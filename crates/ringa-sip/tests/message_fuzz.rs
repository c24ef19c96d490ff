//! The SIP message parser, its header helpers, the outbound dialog and the
//! inbound gate fed a seeded corpus: real messages (INVITE, 200 with SDP, BYE,
//! CANCEL, REGISTER with digest, 407) truncated and mutated, bad
//! Content-Length values, folded and huge headers, and random bytes. Nothing
//! may panic; whatever parses must write back to bytes that parse the same.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringa_sip::guard::InboundGuard;
use ringa_sip::message::{SipMessage, param, split_list, uri_of, user_of};
use ringa_sip::uac::{UacCall, UacParams};

/// A small xorshift generator: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const CALL_ID: &str = "fuzz-call-1";

const SEEDS: &[&str] = &[
    "INVITE sip:+46701740605@127.0.0.1:5070 SIP/2.0\r\n\
     Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
     From: <sip:+46812345678@127.0.0.1>;tag=a1\r\nTo: <sip:+46701740605@127.0.0.1>\r\n\
     Call-ID: fuzz-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:ringa@127.0.0.1:5060>\r\n\
     Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
     From: <sip:+46812345678@127.0.0.1>;tag=a1\r\nTo: \"B, C\" <sip:+46701740605@h>;tag=b2\r\n\
     Call-ID: fuzz-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:peer@127.0.0.1:5070>\r\n\
     Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\nContent-Type: application/sdp\r\n\
     Content-Length: 129\r\n\r\nv=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
     t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    "BYE sip:ringa@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK9\r\n\
     From: <sip:+46701740605@h>;tag=b2\r\nTo: <sip:+46812345678@127.0.0.1>;tag=a1\r\n\
     Call-ID: fuzz-call-1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    "CANCEL sip:+46701740605@127.0.0.1:5070 SIP/2.0\r\n\
     v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=a1\r\nt: <sip:b@h>\r\n\
     i: fuzz-call-1\r\nCSeq: 1 CANCEL\r\nl: 0\r\n\r\n",
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKr\r\n\
     From: <sip:agent1@127.0.0.1>;tag=r1\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: reg-1\r\n\
     CSeq: 2 REGISTER\r\nContact: <sip:agent1@127.0.0.1:5090>;expires=3600\r\n\
     Authorization: Digest username=\"agent1\", realm=\"ringa\", nonce=\"abc\", \
     uri=\"sip:127.0.0.1\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, \
     qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=b\r\n\
     From: <sip:a@h>;tag=a1\r\nTo: <sip:b@h>;tag=p7\r\nCall-ID: fuzz-call-1\r\n\
     CSeq: 1\r\n INVITE\r\nProxy-Authenticate: Digest realm=\"trunk\", nonce=\"n1\", \
     qop=\"auth\", algorithm=MD5\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 180 Ringing\r\nCall-ID: fuzz-call-1\r\nCSeq: 1 INVITE\r\nTo: <sip:b@h>;tag=b2\r\n\
     Content-Length: 0\r\n\r\n",
];

const CONTENT_LENGTHS: &[&str] =
    &["-1", "99999999999999999999999", "abc", "", " 4 ", "0x10", "+3", "4294967296", "1e3"];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(data.len() + 1);
        match rng.below(10) {
            0 if at < data.len() => data[at] = rng.next() as u8,
            1 if at < data.len() => data[at] ^= 1 << rng.below(8),
            2 => data.insert(at, rng.next() as u8),
            3 if at < data.len() => {
                data.remove(at);
            }
            4 => data.truncate(at),
            5 => {
                // A folded continuation line, or one with nothing before it.
                let fold: &[u8] = if rng.below(2) == 0 { b"\r\n  folded" } else { b"\r\n\t" };
                data.splice(at..at, fold.iter().copied());
            }
            6 => {
                let value = CONTENT_LENGTHS[rng.below(CONTENT_LENGTHS.len())];
                let header = format!("Content-Length: {value}\r\n");
                let line = find(&data, b"\r\n").map_or(0, |p| p + 2);
                data.splice(line..line, header.into_bytes());
            }
            7 => {
                // A huge header, or very many small ones.
                let line = find(&data, b"\r\n").map_or(0, |p| p + 2);
                let header = if rng.below(2) == 0 {
                    format!("X-Big: {}\r\n", "x".repeat(20_000))
                } else {
                    "X-N: ;;,,<>\"\r\n".repeat(300)
                };
                data.splice(line..line, header.into_bytes());
            }
            _ => {
                let interesting =
                    [b'\r', b'\n', b':', b' ', b';', b',', b'<', b'>', b'"', b'=', 0, 0xFF, 0xC3];
                data.insert(at, interesting[rng.below(interesting.len())]);
            }
        }
    }
    data
}

fn find(data: &[u8], needle: &[u8]) -> Option<usize> {
    data.windows(needle.len()).position(|w| w == needle)
}

/// Everything a driver reads of a message; the values are folded into a
/// number so that no access is optimised away.
fn read_all(m: &SipMessage) -> usize {
    let mut seen = m.code().map_or(0, usize::from) + m.method().map_or(0, str::len);
    seen += m.cseq().map_or(0, |(n, method)| n as usize % 7 + method.len());
    for name in ["Via", "From", "To", "Contact", "Record-Route", "Call-ID", "l", "Route"] {
        for value in m.header_values(name) {
            seen += uri_of(value).len() + split_list(value).len();
            seen += user_of(uri_of(value)).map_or(0, str::len);
            seen +=
                param(value, "tag").map_or(0, str::len) + param(value, "branch").is_some() as usize;
        }
    }
    seen
}

fn uac(now: Instant) -> UacCall {
    let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal address");
    let trunk: SocketAddr = "127.0.0.1:5070".parse().expect("literal address");
    UacCall::start(
        now,
        UacParams {
            call_id: CALL_ID.into(),
            number: "+46701740605".into(),
            caller_id: "+46812345678".into(),
            local,
            trunk,
            credentials: Some(("user".into(), "secret".into())),
            sdp_offer: ringa_sip::sdp::offer(1, local),
        },
    )
}

#[test]
fn mutated_messages_never_panic_and_what_parses_writes_back() {
    let mut rng = Rng(0x5eed_51b0_0001);
    let epoch = Instant::now();
    let source: SocketAddr = "127.0.0.1:5090".parse().expect("literal address");
    let accounts = HashMap::from([("agent1".to_string(), "pw".to_string())]);
    let mut guard = InboundGuard::new(epoch, "ringa", "secret", accounts, 1e9, 1e9);
    let (mut parsed, mut refused, mut seen) = (0, 0, 0usize);

    for round in 0..2500u64 {
        let data = if round % 10 == 9 {
            let len = rng.below(400);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let seed = SEEDS[rng.below(SEEDS.len())];
            mutate(&mut rng, seed.as_bytes())
        };
        let message = match SipMessage::parse(&data) {
            Ok(message) => message,
            Err(err) => {
                refused += 1;
                assert!(!err.to_string().is_empty());
                continue;
            }
        };
        parsed += 1;
        seen += read_all(&message);

        let again = SipMessage::parse(&message.to_bytes()).expect("our own output parses");
        assert_eq!((&again.start, &again.body), (&message.start, &message.body));
        assert_eq!(again.cseq(), message.cseq());

        // The dialog layer and the inbound gate take whatever the parser passed.
        let now = epoch + Duration::from_millis(round);
        let mut call = uac(now);
        call.handle_message(now, &message);
        if rng.below(2) == 0 {
            call.cancel();
        } else {
            call.hangup();
        }
        call.handle_message(now, &message);
        call.handle_timeout(now + Duration::from_secs(40));
        while call.poll_transmit().is_some() || call.poll_event().is_some() {}
        let _ = guard.handle_request(now, source, &message);
    }
    assert!(parsed > 600, "mutation should leave many messages valid, got {parsed}");
    assert!(refused > 600, "and many broken, got {refused}");
    assert!(seen > 0);
}

#[test]
fn content_length_the_body_cannot_meet_is_an_error() {
    for value in ["-1", "99999999999999999999999", "abc", "", "0x10", "5"] {
        let raw = format!("BYE sip:x SIP/2.0\r\nCall-ID: c\r\nContent-Length: {value}\r\n\r\nab");
        let err = SipMessage::parse(raw.as_bytes());
        assert!(err.is_err(), "Content-Length {value:?} with a 2-byte body: {err:?}");
    }
    let raw = b"BYE sip:x SIP/2.0\r\nl:  1 \r\n\r\nab";
    assert_eq!(SipMessage::parse(raw).expect("a shorter length cuts the body").body, b"a");
}

#[test]
fn odd_rtp_and_rtcp_packets_are_errors_or_empty_payloads() {
    use ringa_sip::rtp::RtpPacket;
    let header = |first: u8, second: u8| {
        let mut p = vec![first, second, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend_from_slice(&[0xAA; 4]);
        p
    };
    // Fifteen CSRCs announced in a 16-byte packet.
    assert!(RtpPacket::parse(&header(0x8F, 0)).is_err());
    // An extension whose length runs past the end.
    let mut ext = header(0x90, 0);
    ext.extend_from_slice(&[0xBE, 0xDE, 0xFF, 0xFF]);
    assert!(RtpPacket::parse(&ext).is_err());
    // Padding longer than the payload, and padding of zero bytes.
    let mut pad = header(0xA0, 0);
    pad.push(200);
    assert!(RtpPacket::parse(&pad).is_err());
    let mut zero = header(0xA0, 0);
    zero.push(0);
    assert!(RtpPacket::parse(&zero).is_err());
    // Version 0 and 3, and every truncation of a valid packet.
    assert!(RtpPacket::parse(&header(0x00, 0)).is_err());
    assert!(RtpPacket::parse(&header(0xC0, 0)).is_err());
    let valid = header(0x80, 0);
    for len in 0..12 {
        assert!(RtpPacket::parse(&valid[..len]).is_err(), "{len} bytes");
    }
    // RTCP (sender report, receiver report, BYE) reads as a payload type the
    // media layer does not know, never as audio of a G.711 type.
    for pt in [200u8, 201, 203] {
        let mut rtcp = vec![0x80, pt, 0, 6];
        rtcp.extend_from_slice(&[0x11; 24]);
        if let Ok(p) = RtpPacket::parse(&rtcp) {
            assert!(p.payload_type != 0 && p.payload_type != 8, "RTCP {pt} read as G.711");
        }
    }
}

#[test]
fn a_header_whose_value_starts_on_a_continuation_line_reads_the_same_written_back() {
    let raw = b"BYE sip:x SIP/2.0\r\nCSeq:\r\n 7 BYE\r\nCall-ID: c\r\n \t \r\n\r\n";
    let m = SipMessage::parse(raw).expect("folded headers parse");
    assert_eq!(m.cseq(), Some((7, "BYE")));
    assert_eq!(m.header("Call-ID"), Some("c"));
    let again = SipMessage::parse(&m.to_bytes()).expect("our own output parses");
    assert_eq!(&again.headers[..m.headers.len()], &m.headers[..]);
}
