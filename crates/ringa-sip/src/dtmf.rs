//! RFC 4733 telephone events (DTMF digits carried in RTP): the 4-byte payload, parsed
//! without panicking and written back.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

use std::fmt;

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D.
    pub event: u8,
    /// The end bit: this packet closes the event.
    pub end: bool,
    /// The volume in -dBm0 (0–63).
    pub volume: u8,
    /// The duration so far, in timestamp units.
    pub duration: u16,
}

/// Why a payload is not a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLengthError(pub usize);

impl fmt::Display for EventLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a telephone event is 4 bytes, got {}", self.0)
    }
}

impl std::error::Error for EventLengthError {}

impl TelephoneEvent {
    /// Parses the first event of a payload (redundant trailing events are ignored).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, EventLengthError> {
        match payload {
            &[event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([d0, d1]),
            }),
            _ => Err(EventLengthError(payload.len())),
        }
    }

    /// The payload bytes of this event.
    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, (u8::from(self.end) << 7) | (self.volume & 0x3F), d0, d1]
    }

    /// The keypad character of this event, if it is a DTMF digit.
    pub fn digit(self) -> Option<char> {
        b"0123456789*#ABCD".get(usize::from(self.event)).map(|&b| char::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_digits() {
        let e = TelephoneEvent { event: 11, end: true, volume: 10, duration: 1280 };
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        assert_eq!(e.digit(), Some('#'));
        assert_eq!(TelephoneEvent { event: 5, ..e }.digit(), Some('5'));
        assert_eq!(TelephoneEvent { event: 40, ..e }.digit(), None);
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(EventLengthError(3)));
    }
}
