//! SIP over a byte stream (TCP), sans-IO: cuts the stream into messages by their
//! `Content-Length` (RFC 3261 §18.3), skipping the empty lines peers send as keep-alives.
//! A message whose header is too long, or that names no or a wrong length, is an error: the
//! stream cannot be resynchronised and the owner closes the connection.

use std::fmt;

/// The longest header section accepted.
pub const MAX_HEADER: usize = 16 * 1024;
/// The longest body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No end of the header section within [`MAX_HEADER`] bytes.
    HeaderTooLong,
    /// A message over a stream must give its body's length.
    NoContentLength,
    /// The length is not a number, or over [`MAX_BODY`].
    BadContentLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::HeaderTooLong => write!(f, "SIP header over {MAX_HEADER} bytes"),
            FrameError::NoContentLength => f.write_str("SIP message without Content-Length"),
            FrameError::BadContentLength => f.write_str("SIP message with a bad Content-Length"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Bytes received on one connection, not yet a whole message.
///
/// Each byte is searched once for the end of the header section and the header is read once,
/// so a peer that sends a message a few bytes at a time costs no more than one that sends it
/// whole.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// How many bytes at the start of `buf` hold no header end (`\r\n\r\n`).
    searched: usize,
    /// The length of the message at the start of `buf`, once its header is read.
    message_len: Option<usize>,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if the bytes so far hold one.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.message_len.is_none() && self.searched == 0 {
            // Keep-alives (CRLF) between messages.
            let start = self.buf.iter().position(|b| *b != b'\r' && *b != b'\n');
            match start {
                Some(0) => {}
                Some(n) => {
                    self.buf.drain(..n);
                }
                None => {
                    self.buf.clear();
                    return Ok(None);
                }
            }
        }
        let total = match self.message_len {
            Some(total) => total,
            None => {
                // The header end may straddle what was searched and what came since.
                let from = self.searched.saturating_sub(3);
                let Some(end) = self.buf.get(from..).and_then(|new| find(new, b"\r\n\r\n")) else {
                    self.searched = self.buf.len();
                    // A blank line still to come may start up to 3 bytes before the end of
                    // the buffer: only past that is the header surely too long, whatever the
                    // reads.
                    if self.buf.len() > MAX_HEADER + 3 {
                        return Err(FrameError::HeaderTooLong);
                    }
                    return Ok(None);
                };
                let end = from + end;
                if end > MAX_HEADER {
                    return Err(FrameError::HeaderTooLong);
                }
                let header = String::from_utf8_lossy(self.buf.get(..end).unwrap_or_default());
                let total = end + 4 + content_length(&header)?;
                self.message_len = Some(total);
                total
            }
        };
        if self.buf.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buf.drain(..total).collect();
        self.searched = 0;
        self.message_len = None;
        Ok(Some(message))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `Content-Length` (or compact `l`) of a header section.
fn content_length(header: &str) -> Result<usize, FrameError> {
    let value = header.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l"))
            .then_some(value.trim())
    });
    let value = value.ok_or(FrameError::NoContentLength)?;
    let length: usize = value.parse().map_err(|_| FrameError::BadContentLength)?;
    if length > MAX_BODY {
        return Err(FrameError::BadContentLength);
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &[u8] =
        b"BYE sip:ringa@127.0.0.1 SIP/2.0\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n";
    const OK: &[u8] =
        b"SIP/2.0 200 OK\r\nCall-ID: b\r\nl: 5\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";

    #[test]
    fn messages_are_cut_by_their_length_whatever_the_reads() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(BYE);
        stream.extend_from_slice(OK);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(BYE);
        // Fed one byte at a time, then all at once: the same three messages.
        for chunk in [1, stream.len()] {
            let mut f = Framer::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                f.push(piece);
                while let Some(m) = f.next_message().expect("a valid stream") {
                    out.push(m);
                }
            }
            assert_eq!(out, vec![BYE.to_vec(), OK.to_vec(), BYE.to_vec()], "chunk {chunk}");
        }
    }

    #[test]
    fn a_stream_that_cannot_be_cut_is_an_error() {
        let mut f = Framer::new();
        f.push(b"INVITE sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::NoContentLength));
        let mut f = Framer::new();
        f.push(b"INVITE sip:x SIP/2.0\r\nContent-Length: -3\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::BadContentLength));
        let mut f = Framer::new();
        f.push(b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::BadContentLength));
        let mut f = Framer::new();
        f.push(&vec![b'a'; MAX_HEADER + 4]);
        assert_eq!(f.next_message(), Err(FrameError::HeaderTooLong));
        let mut f = Framer::new();
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_message(), Ok(None), "keep-alives only");
    }

    /// The length of the message framed from `message` read in two parts, the first of
    /// `cut` bytes (the first read's frame, if any, else the second's).
    fn framed_in_two_reads(message: &[u8], cut: usize) -> Result<Option<usize>, FrameError> {
        let mut f = Framer::new();
        f.push(&message[..cut]);
        let first = f.next_message();
        f.push(&message[cut..]);
        let framed = match first {
            Ok(None) => f.next_message(),
            other => other,
        };
        framed.map(|m| m.map(|m| m.len()))
    }

    #[test]
    fn a_header_of_the_longest_length_is_taken_however_it_is_read() {
        // The blank line starts at MAX_HEADER: the longest header accepted.
        let mut message = b"BYE sip:x SIP/2.0\r\nContent-Length: 0\r\nX-Pad: ".to_vec();
        message.resize(MAX_HEADER, b'p');
        message.extend_from_slice(b"\r\n\r\n");
        for cut in [MAX_HEADER - 1, MAX_HEADER + 1, MAX_HEADER + 2, MAX_HEADER + 3, message.len()] {
            let length = framed_in_two_reads(&message, cut);
            assert_eq!(length, Ok(Some(message.len())), "first read of {cut} bytes");
        }
        // One byte more, and the header is too long whatever the reads.
        message.insert(MAX_HEADER - 1, b'p');
        for cut in [MAX_HEADER + 3, MAX_HEADER + 4, message.len()] {
            let length = framed_in_two_reads(&message, cut);
            assert_eq!(length, Err(FrameError::HeaderTooLong), "first read of {cut} bytes");
        }
    }
}
