//! The media relay between a customer leg and an agent leg, sans-IO.
//!
//! Each packet arriving on one leg is parsed, its audio decoded (for the recorder and the
//! answering-machine detector) and re-encoded in the other leg's law, and sent with the other
//! leg's own SSRC, sequence numbers and timestamps, so that a change of source behind the
//! relay (prompt, then customer) never shows as a jump to the phone. RFC 4733 events are
//! passed through with the payload type the receiving leg negotiated.

use crate::g711::{Codec, transcode};
use crate::rtp::{RtpError, RtpPacket};
use crate::sdp::Negotiated;

/// One side of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The customer's leg, over the trunk.
    Customer,
    /// The agent's leg.
    Agent,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Customer => Side::Agent,
            Side::Agent => Side::Customer,
        }
    }
}

/// Rewrites the RTP stream sent on one leg: fixed SSRC, continuous sequence and timestamps.
#[derive(Debug, Clone)]
pub struct StreamRewriter {
    ssrc: u32,
    next_sequence: u16,
    /// The source SSRC being followed and the offset added to its timestamps.
    source: Option<(u32, u32)>,
    last_timestamp: u32,
    last_duration: u32,
}

impl StreamRewriter {
    /// A stream with our SSRC and a starting sequence number and timestamp.
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32) -> StreamRewriter {
        StreamRewriter {
            ssrc,
            next_sequence: first_sequence,
            source: None,
            last_timestamp: first_timestamp.wrapping_sub(160),
            last_duration: 160,
        }
    }

    /// Our SSRC on this leg.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number and timestamp for a packet from `source_ssrc` stamped
    /// `source_timestamp` carrying `samples` samples.
    pub fn rewrite(&mut self, source_ssrc: u32, source_timestamp: u32, samples: u32) -> (u16, u32) {
        let offset = match self.source {
            Some((ssrc, offset)) if ssrc == source_ssrc => offset,
            _ => {
                // A new source continues right after the last packet sent.
                let start = self.last_timestamp.wrapping_add(self.last_duration);
                let offset = start.wrapping_sub(source_timestamp);
                self.source = Some((source_ssrc, offset));
                offset
            }
        };
        let timestamp = source_timestamp.wrapping_add(offset);
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.last_timestamp = timestamp;
        if samples > 0 {
            self.last_duration = samples;
        }
        (sequence, timestamp)
    }
}

/// What the relay makes of one received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// Audio: the decoded samples and the datagram to send to the other leg.
    Audio {
        /// The linear samples heard on the receiving side.
        samples: Vec<i16>,
        /// The datagram for the other leg.
        datagram: Vec<u8>,
    },
    /// A telephone event to forward unchanged but for header and payload type.
    Event {
        /// The datagram for the other leg (absent if that leg has no telephone-event).
        datagram: Option<Vec<u8>>,
    },
    /// A payload type neither negotiated law nor event: dropped.
    Ignored,
}

/// A leg's negotiated media and the stream we send on it.
#[derive(Debug, Clone)]
pub struct LegMedia {
    /// What the leg agreed to.
    pub negotiated: Negotiated,
    /// Our outgoing stream on the leg.
    pub stream: StreamRewriter,
}

/// The relay of one bridged call.
#[derive(Debug, Clone)]
pub struct Relay {
    customer: LegMedia,
    agent: LegMedia,
}

impl Relay {
    /// Bridges two legs.
    pub fn new(customer: LegMedia, agent: LegMedia) -> Relay {
        Relay { customer, agent }
    }

    /// The media of one side.
    pub fn leg(&self, side: Side) -> &LegMedia {
        match side {
            Side::Customer => &self.customer,
            Side::Agent => &self.agent,
        }
    }

    /// Sends `side`'s packets to `remote` from now on (the leg's re-INVITE moved its media).
    pub fn set_remote(&mut self, side: Side, remote: std::net::SocketAddr) {
        self.leg_mut(side).negotiated.remote = remote;
    }

    /// A leg renegotiated its media (a re-INVITE): its address, law and payload types.
    pub fn set_media(&mut self, side: Side, negotiated: Negotiated) {
        self.leg_mut(side).negotiated = negotiated;
    }

    fn leg_mut(&mut self, side: Side) -> &mut LegMedia {
        match side {
            Side::Customer => &mut self.customer,
            Side::Agent => &mut self.agent,
        }
    }

    /// Handles a datagram received on `from`.
    pub fn handle_datagram(&mut self, from: Side, datagram: &[u8]) -> Result<Relayed, RtpError> {
        let packet = RtpPacket::parse(datagram)?;
        let incoming = self.leg(from).negotiated;
        let outgoing = self.leg(from.other()).negotiated;

        if Some(packet.payload_type) == incoming.telephone_event {
            let Some(out_pt) = outgoing.telephone_event else {
                return Ok(Relayed::Event { datagram: None });
            };
            // An event's timestamp is its start; the sample count stays that of audio.
            let stream = &mut self.leg_mut(from.other()).stream;
            let (sequence, timestamp) = stream.rewrite(packet.ssrc, packet.timestamp, 0);
            let out = RtpPacket {
                payload_type: out_pt,
                sequence,
                timestamp,
                ssrc: stream.ssrc(),
                ..packet
            };
            return Ok(Relayed::Event { datagram: Some(out.to_bytes()) });
        }
        if packet.payload_type != incoming.payload_type {
            return Ok(Relayed::Ignored);
        }

        let mut samples = Vec::with_capacity(packet.payload.len());
        incoming.codec.decode_into(packet.payload, &mut samples);
        let payload = transcode(incoming.codec, outgoing.codec, packet.payload);
        let count = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        let stream = &mut self.leg_mut(from.other()).stream;
        let (sequence, timestamp) = stream.rewrite(packet.ssrc, packet.timestamp, count);
        let out = RtpPacket {
            marker: packet.marker,
            payload_type: outgoing.payload_type,
            sequence,
            timestamp,
            ssrc: stream.ssrc(),
            payload: &payload,
        };
        Ok(Relayed::Audio { samples, datagram: out.to_bytes() })
    }
}

/// Builds a packet of audio for a leg from our own source (a prompt or silence).
pub fn local_audio(
    stream: &mut StreamRewriter,
    negotiated: &Negotiated,
    source_ssrc: u32,
    source_timestamp: u32,
    samples: &[i16],
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(samples.len());
    negotiated.codec.encode_into(samples, &mut payload);
    let count = u32::try_from(samples.len()).unwrap_or(u32::MAX);
    let (sequence, timestamp) = stream.rewrite(source_ssrc, source_timestamp, count);
    RtpPacket {
        marker: false,
        payload_type: negotiated.payload_type,
        sequence,
        timestamp,
        ssrc: stream.ssrc(),
        payload: &payload,
    }
    .to_bytes()
}

/// The law a packet was encoded with on a leg, if it is audio of that leg.
pub fn audio_codec(negotiated: &Negotiated, payload_type: u8) -> Option<Codec> {
    (payload_type == negotiated.payload_type).then_some(negotiated.codec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::TelephoneEvent;
    use crate::sdp::Direction;

    fn leg(codec: Codec, event: Option<u8>, ssrc: u32) -> LegMedia {
        LegMedia {
            negotiated: Negotiated {
                codec,
                payload_type: codec.payload_type(),
                telephone_event: event,
                remote: "127.0.0.1:4000".parse().expect("literal address"),
                direction: Direction::SendRecv,
            },
            stream: StreamRewriter::new(ssrc, 1000, 50_000),
        }
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        RtpPacket { marker: false, payload_type: pt, sequence: seq, timestamp: ts, ssrc, payload }
            .to_bytes()
    }

    #[test]
    fn audio_is_transcoded_and_restamped() {
        let mut relay = Relay::new(leg(Codec::Pcmu, Some(101), 1), leg(Codec::Pcma, Some(96), 2));
        let tone: Vec<i16> = (0..160).map(|i| if i % 2 == 0 { 4000 } else { -4000 }).collect();
        let mut ulaw = Vec::new();
        Codec::Pcmu.encode_into(&tone, &mut ulaw);

        let mut stamps = Vec::new();
        for (i, (seq, ts)) in [(7u16, 9_000u32), (8, 9_160), (9, 9_320)].into_iter().enumerate() {
            let got = relay
                .handle_datagram(Side::Customer, &packet(0, seq, ts, 0xAAAA, &ulaw))
                .expect("well-formed packet");
            let Relayed::Audio { samples, datagram } = got else {
                panic!("packet {i} is audio");
            };
            assert_eq!(samples.len(), 160);
            let out = RtpPacket::parse(&datagram).expect("relay output parses");
            assert_eq!(out.payload_type, 8);
            assert_eq!(out.ssrc, 2);
            assert_eq!(out.payload, transcode(Codec::Pcmu, Codec::Pcma, &ulaw).as_slice());
            stamps.push((out.sequence, out.timestamp));
        }
        assert_eq!(stamps, vec![(1000, 50_000), (1001, 50_160), (1002, 50_320)]);

        // A new source (the phone restarted its stream) continues without a jump.
        let Relayed::Audio { datagram, .. } = relay
            .handle_datagram(Side::Customer, &packet(0, 1, 77, 0xBBBB, &ulaw))
            .expect("well-formed packet")
        else {
            panic!("audio expected");
        };
        let out = RtpPacket::parse(&datagram).expect("relay output parses");
        assert_eq!((out.sequence, out.timestamp), (1003, 50_480));
    }

    #[test]
    fn dtmf_uses_the_receiving_legs_payload_type() {
        let mut relay = Relay::new(leg(Codec::Pcmu, Some(101), 1), leg(Codec::Pcmu, Some(96), 2));
        let ev = TelephoneEvent { event: 5, end: false, volume: 10, duration: 160 };
        let got = relay
            .handle_datagram(Side::Customer, &packet(101, 1, 800, 9, &ev.to_bytes()))
            .expect("well-formed packet");
        let Relayed::Event { datagram: Some(d) } = got else {
            panic!("an event is forwarded");
        };
        let out = RtpPacket::parse(&d).expect("relay output parses");
        assert_eq!(out.payload_type, 96);
        assert_eq!(TelephoneEvent::parse(out.payload), Ok(ev));

        let mut mute = Relay::new(leg(Codec::Pcmu, Some(101), 1), leg(Codec::Pcmu, None, 2));
        let got = mute.handle_datagram(Side::Customer, &packet(101, 1, 800, 9, &ev.to_bytes()));
        assert_eq!(got, Ok(Relayed::Event { datagram: None }));
        assert_eq!(
            mute.handle_datagram(Side::Agent, &packet(18, 1, 1, 1, &[0])),
            Ok(Relayed::Ignored)
        );
        assert!(mute.handle_datagram(Side::Agent, &[0x80, 0]).is_err());
    }
}
