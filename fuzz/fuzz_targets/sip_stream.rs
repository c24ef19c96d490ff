//! Fuzz target: the TCP stream framer (`ringa_sip::stream`). The input is cut into reads at
//! points taken from its first bytes; the messages framed must be the same whatever the
//! reads, nothing may panic, and every message framed goes on to the message parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringa_sip::message::SipMessage;
use ringa_sip::stream::{FrameError, Framer};

/// Every message the framer gives for `reads`, and how the stream ended (`Ok` when it waits
/// for more bytes, the error when it must be closed).
fn frame<'a>(reads: impl Iterator<Item = &'a [u8]>) -> (Vec<Vec<u8>>, Result<(), FrameError>) {
    let mut framer = Framer::new();
    let mut messages = Vec::new();
    for read in reads {
        framer.push(read);
        loop {
            match framer.next_message() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(err) => return (messages, Err(err)),
            }
        }
    }
    (messages, Ok(()))
}

fuzz_target!(|data: &[u8]| {
    let (cuts, stream) = data.split_at(data.len().min(4));
    let whole = frame(std::iter::once(stream));
    // Reads of 1 to 256 bytes, the sizes given by the first bytes in turn.
    let mut reads = Vec::new();
    let mut rest = stream;
    for turn in 0.. {
        if rest.is_empty() {
            break;
        }
        let size = cuts.get(turn % cuts.len().max(1)).map_or(rest.len(), |b| usize::from(*b) + 1);
        let (read, tail) = rest.split_at(size.min(rest.len()));
        reads.push(read);
        rest = tail;
    }
    let pieces = frame(reads.into_iter());
    assert_eq!(whole, pieces, "framing must not depend on how the stream was read");
    for message in &whole.0 {
        let _ = SipMessage::parse(message);
    }
});
