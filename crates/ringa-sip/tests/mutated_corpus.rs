//! Runs the SDP, RTP, telephone-event and digest parsers (the same functions the fuzz
//! targets in `fuzz/` drive) over a seeded, deterministic corpus of mutated valid inputs
//! and random bytes: none of them may panic, and what parses must be self-consistent.

use ringa_sip::digest::{Challenge, Credentials};
use ringa_sip::dtmf::TelephoneEvent;
use ringa_sip::relay::{LegMedia, Relay, Side, StreamRewriter};
use ringa_sip::rtp::RtpPacket;
use ringa_sip::sdp::{self, SessionDescription};

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

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if at < data.len() => data[at] = rng.next() as u8,
            1 if at < data.len() => data[at] ^= 1 << rng.below(8),
            2 => data.insert(at, rng.next() as u8),
            3 if at < data.len() => {
                data.remove(at);
            }
            4 => data.truncate(at),
            _ => {
                let interesting = [b'\n', b'=', b' ', b'/', b':', b'"', b'\\', 0, 0xFF, 0x7F];
                data.insert(at, interesting[rng.below(interesting.len())]);
            }
        }
    }
    data
}

const SDP_SEEDS: &[&str] = &[
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
     a=ptime:20\r\na=sendrecv\r\n",
    "v=0\nc=IN IP6 ::1\nm=video 1 RTP/AVP 96\nm=audio 7/2 RTP/AVP 8\nc=IN IP4 1.2.3.4/127\n\
     a=rtpmap:8 PCMA/8000\na=inactive\n",
];

const DIGEST_SEEDS: &[&str] = &[
    "Digest realm=\"r\", nonce=\"n\", qop=\"auth,auth-int\", opaque=\"o\", algorithm=MD5",
    "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"00\", \
     qop=auth, nc=00000001, cnonce=\"c\\\"q\"",
];

#[test]
fn sdp_parser_never_panics_and_answers_are_reparseable() {
    let mut rng = Rng(0x5D90_FFE1);
    let local = "127.0.0.1:40000".parse().expect("literal address");
    let mut parsed = 0;
    for i in 0..20_000 {
        let seed = SDP_SEEDS[i % SDP_SEEDS.len()].as_bytes();
        let data = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&data);
        if let Ok(offer) = SessionDescription::parse(&text) {
            parsed += 1;
            if let Ok((agreed, body)) = sdp::answer(&offer, 1, 1, local) {
                let back = SessionDescription::parse(&body).expect("our answer always parses");
                assert_eq!(back.audio.first_g711(), Some((agreed.codec, agreed.payload_type)));
            }
        }
    }
    assert!(parsed > 1000, "mutation should leave many bodies valid, got {parsed}");
}

#[test]
fn rtp_event_and_relay_never_panic_on_mutated_or_random_bytes() {
    let mut rng = Rng(0x0A7B_3C11);
    let audio = RtpPacket {
        marker: true,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc: 7,
        payload: &[0xFF; 160],
    }
    .to_bytes();
    let event = RtpPacket {
        marker: false,
        payload_type: 101,
        sequence: 2,
        timestamp: 320,
        ssrc: 7,
        payload: &[5, 10, 0, 160],
    }
    .to_bytes();
    let leg = |codec, ssrc| LegMedia {
        negotiated: sdp::Negotiated {
            codec,
            payload_type: match codec {
                ringa_sip::g711::Codec::Pcmu => 0,
                ringa_sip::g711::Codec::Pcma => 8,
            },
            telephone_event: Some(101),
            remote: "127.0.0.1:4000".parse().expect("literal address"),
            direction: sdp::Direction::SendRecv,
        },
        stream: StreamRewriter::new(ssrc, 0, 0),
    };
    let mut relay =
        Relay::new(leg(ringa_sip::g711::Codec::Pcmu, 1), leg(ringa_sip::g711::Codec::Pcma, 2));
    let mut ok = 0;
    for i in 0..50_000 {
        let data = if i % 10 == 0 {
            (0..rng.below(40)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, if i % 2 == 0 { &audio } else { &event })
        };
        if let Ok(p) = RtpPacket::parse(&data) {
            ok += 1;
            assert!(p.payload.len() <= data.len() - 12);
            let _ = TelephoneEvent::parse(p.payload);
        }
        let side = if i % 3 == 0 { Side::Agent } else { Side::Customer };
        if let Ok(ringa_sip::relay::Relayed::Audio { datagram, .. }) =
            relay.handle_datagram(side, &data)
        {
            RtpPacket::parse(&datagram).expect("relay output always parses");
        }
    }
    assert!(ok > 10_000, "mutation should leave many packets valid, got {ok}");
}

#[test]
fn digest_headers_never_panic() {
    let mut rng = Rng(0xD16E_5777);
    for i in 0..20_000 {
        let data = mutate(&mut rng, DIGEST_SEEDS[i % DIGEST_SEEDS.len()].as_bytes());
        let text = String::from_utf8_lossy(&data);
        if let Ok(c) = Challenge::parse(&text) {
            let h = c.authorize("INVITE", "sip:x@127.0.0.1", "u\"x", "p", 1, "c");
            let creds = Credentials::parse(&h).expect("our own header always parses");
            assert!(creds.verify("INVITE", &c.realm, &c.nonce, "p"), "{h}");
        }
        let _ = Credentials::parse(&text);
    }
}
