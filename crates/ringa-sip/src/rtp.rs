//! RTP packets (RFC 3550): a borrowing parser that rejects malformed input without
//! panicking, and a writer for the packets the relay sends.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

use std::fmt;

/// The fixed RTP header length in bytes.
pub const HEADER_LEN: usize = 12;

/// Why a datagram is not an RTP packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Fewer bytes than the header (with its CSRCs and extension) needs.
    Truncated,
    /// The version field is not 2.
    BadVersion(u8),
    /// The padding count is zero or longer than the payload.
    BadPadding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::Truncated => write!(f, "RTP packet is truncated"),
            RtpError::BadVersion(v) => write!(f, "RTP version {v} is not 2"),
            RtpError::BadPadding => write!(f, "RTP padding length is invalid"),
        }
    }
}

impl std::error::Error for RtpError {}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit (start of a talkspurt or of a DTMF event).
    pub marker: bool,
    /// The 7-bit payload type.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The payload, without header, CSRCs, extension or padding.
    pub payload: &'a [u8],
}

fn be16(bytes: &[u8], at: usize) -> Result<u16, RtpError> {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(RtpError::Truncated),
    }
}

fn be32(bytes: &[u8], at: usize) -> Result<u32, RtpError> {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(RtpError::Truncated),
    }
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let (&first, rest) = datagram.split_first().ok_or(RtpError::Truncated)?;
        let &second = rest.first().ok_or(RtpError::Truncated)?;
        if datagram.len() < HEADER_LEN {
            return Err(RtpError::Truncated);
        }
        let version = first >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = first & 0x20 != 0;
        let has_extension = first & 0x10 != 0;
        let csrc_count = usize::from(first & 0x0F);

        let mut start = HEADER_LEN + 4 * csrc_count;
        if has_extension {
            let words = usize::from(be16(datagram, start + 2)?);
            start += 4 + 4 * words;
        }
        let mut end = datagram.len();
        if start > end {
            return Err(RtpError::Truncated);
        }
        if has_padding {
            let &pad = datagram.last().ok_or(RtpError::Truncated)?;
            let pad = usize::from(pad);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: second & 0x80 != 0,
            payload_type: second & 0x7F,
            sequence: be16(datagram, 2)?,
            timestamp: be32(datagram, 4)?,
            ssrc: be32(datagram, 8)?,
            payload: datagram.get(start..end).ok_or(RtpError::Truncated)?,
        })
    }

    /// Writes this packet (no CSRCs, extension or padding) into `out`, replacing it.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }

    /// This packet as a new datagram.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        self.write(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let payload = [1u8, 2, 3, 4];
        let p = RtpPacket {
            marker: true,
            payload_type: 8,
            sequence: 65_535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
            payload: &payload,
        };
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(RtpPacket::parse(&bytes), Ok(p));
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        let mut d = vec![0x80 | 0x20 | 0x10 | 0x01, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        d.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        d.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension, one word
        d.extend_from_slice(&[0xAA, 0xBB]); // payload
        d.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = RtpPacket::parse(&d).expect("the packet above is well formed");
        assert_eq!(p.payload, &[0xAA, 0xBB]);
        assert_eq!(p.sequence, 1);
        assert_eq!(p.timestamp, 2);
        assert_eq!(p.ssrc, 3);
    }

    #[test]
    fn malformed_packets_are_rejected() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut d = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5];
        assert_eq!(RtpPacket::parse(&d), Err(RtpError::BadPadding));
        d.pop();
        d.push(0);
        assert_eq!(RtpPacket::parse(&d), Err(RtpError::BadPadding));
        assert_eq!(RtpPacket::parse(&[0x8F; 12]), Err(RtpError::Truncated));
        assert_eq!(
            RtpPacket::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
            Err(RtpError::Truncated)
        );
    }
}
