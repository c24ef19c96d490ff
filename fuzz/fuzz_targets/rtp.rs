//! Fuzz target: a datagram given to the RTP parser, its payload to the RFC 4733
//! telephone-event parser, and the datagram to the relay from either leg. Nothing may panic;
//! a parsed packet and a parsed event write back to what they were read from, and whatever
//! the relay sends on parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringa_sip::dtmf::TelephoneEvent;
use ringa_sip::g711::Codec;
use ringa_sip::relay::{LegMedia, Relay, Relayed, Side, StreamRewriter};
use ringa_sip::rtp::RtpPacket;
use ringa_sip::sdp::{Direction, Negotiated};

fn leg(codec: Codec, payload_type: u8, ssrc: u32) -> LegMedia {
    LegMedia {
        negotiated: Negotiated {
            codec,
            payload_type,
            telephone_event: Some(101),
            remote: std::net::SocketAddr::from(([127, 0, 0, 1], 4000)),
            direction: Direction::SendRecv,
        },
        stream: StreamRewriter::new(ssrc, 0, 0),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = RtpPacket::parse(data) {
        assert!(packet.payload.len() + 12 <= data.len());
        let bytes = packet.to_bytes();
        let again = RtpPacket::parse(&bytes).expect("our own packet parses");
        assert_eq!(again.payload, packet.payload);
        assert_eq!(
            (again.payload_type, again.sequence, again.timestamp, again.ssrc, again.marker),
            (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc, packet.marker)
        );
        if let Ok(event) = TelephoneEvent::parse(packet.payload) {
            assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
            let _ = event.digit();
        }
    }
    let mut relay = Relay::new(leg(Codec::Pcmu, 0, 1), leg(Codec::Pcma, 8, 2));
    for side in [Side::Customer, Side::Agent] {
        if let Ok(Relayed::Audio { datagram, .. }) = relay.handle_datagram(side, data) {
            RtpPacket::parse(&datagram).expect("the relay's output parses");
        }
    }
});
