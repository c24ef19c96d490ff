//! Fuzz target: the SDP parser and both sides of offer/answer. Nothing may panic; our answer
//! to an offer must parse and name the law agreed, and an answer we accept must give the
//! same law as the answer's first G.711 format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringa_sip::sdp::{self, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(peer) = SessionDescription::parse(&text) else { return };
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    if let Ok((agreed, body)) = sdp::answer(&peer, 1, 1, local) {
        let back = SessionDescription::parse(&body).expect("our answer always parses");
        assert_eq!(back.audio.first_g711(), Some((agreed.codec, agreed.payload_type)));
        assert_eq!(back.audio.telephone_event(), agreed.telephone_event);
    }
    if let Ok(agreed) = sdp::accept_answer(&peer) {
        assert_eq!(peer.audio.first_g711(), Some((agreed.codec, agreed.payload_type)));
    }
});
