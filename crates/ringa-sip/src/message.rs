//! SIP messages (RFC 3261): a parser that refuses malformed input without panicking, header
//! access that understands compact forms, and a writer.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

use std::fmt;

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// No blank line ends the headers.
    Incomplete,
    /// The start line is neither a request nor a status line.
    BadStartLine,
    /// A header line has no colon.
    BadHeader,
    /// Content-Length disagrees with the body.
    BadLength,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Incomplete => write!(f, "SIP message headers are not terminated"),
            MessageError::BadStartLine => write!(f, "SIP start line is malformed"),
            MessageError::BadHeader => write!(f, "SIP header line is malformed"),
            MessageError::BadLength => write!(f, "SIP Content-Length disagrees with the body"),
        }
    }
}

impl std::error::Error for MessageError {}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request: method and Request-URI.
    Request {
        /// The method, e.g. `INVITE`.
        method: String,
        /// The Request-URI.
        uri: String,
    },
    /// A response: status code and reason phrase.
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// The start line.
    pub start: StartLine,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

fn full_name(name: &str) -> &str {
    match name.to_ascii_lowercase().as_str() {
        "i" => "call-id",
        "f" => "from",
        "t" => "to",
        "v" => "via",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        _ => name,
    }
}

fn same_header(a: &str, b: &str) -> bool {
    full_name(a).eq_ignore_ascii_case(full_name(b))
}

impl SipMessage {
    /// A request with no headers yet.
    pub fn request(method: &str, uri: &str) -> SipMessage {
        SipMessage {
            start: StartLine::Request { method: method.to_string(), uri: uri.to_string() },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with no headers yet.
    pub fn response(code: u16, reason: &str) -> SipMessage {
        SipMessage {
            start: StartLine::Response { code, reason: reason.to_string() },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Parses one datagram.
    pub fn parse(bytes: &[u8]) -> Result<SipMessage, MessageError> {
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n");
        let (head, body) = match split {
            Some(at) => (bytes.get(..at).unwrap_or(&[]), bytes.get(at + 4..).unwrap_or(&[])),
            None => return Err(MessageError::Incomplete),
        };
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split("\r\n");
        let first = lines.next().ok_or(MessageError::BadStartLine)?;
        let start = parse_start_line(first)?;

        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // A folded continuation of the previous header.
                let (_, value) = headers.last_mut().ok_or(MessageError::BadHeader)?;
                // Joined with one space, and never leading or trailing (a header
                // whose value starts on the continuation line).
                let more = line.trim();
                if !value.is_empty() && !more.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(MessageError::BadHeader)?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(MessageError::BadHeader);
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut message = SipMessage { start, headers, body: body.to_vec() };
        if let Some(len) = message.header("Content-Length") {
            let len: usize = len.parse().map_err(|_| MessageError::BadLength)?;
            if len > message.body.len() {
                return Err(MessageError::BadLength);
            }
            message.body.truncate(len);
        }
        Ok(message)
    }

    /// The first value of a header (compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| same_header(n, name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, comma-separated values split (outside quotes and <>).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| same_header(n, name))
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) -> &mut SipMessage {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The status code, for a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, method) = self.header("CSeq")?.split_once(char::is_whitespace)?;
        Some((n.trim().parse().ok()?, method.trim()))
    }

    /// The serialised message, with Content-Length set from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                out.push_str(&format!("{method} {uri} SIP/2.0\r\n"));
            }
            StartLine::Response { code, reason } => {
                out.push_str(&format!("SIP/2.0 {code} {reason}\r\n"));
            }
        }
        for (name, value) in &self.headers {
            if !same_header(name, "Content-Length") {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, MessageError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| MessageError::BadStartLine)?;
        if !(100..700).contains(&code) {
            return Err(MessageError::BadStartLine);
        }
        return Ok(StartLine::Response { code, reason: reason.to_string() });
    }
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(uri), Some("SIP/2.0"), None)
            if !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_alphabetic())
                && !uri.is_empty() =>
        {
            Ok(StartLine::Request { method: method.to_string(), uri: uri.to_string() })
        }
        _ => Err(MessageError::BadStartLine),
    }
}

/// Splits a header value on commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.extend(value.get(start..i).map(str::trim).filter(|s| !s.is_empty()));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.extend(value.get(start..).map(str::trim).filter(|s| !s.is_empty()));
    parts
}

/// The value of a `;name=value` parameter of a header (outside its `<uri>`).
pub fn param<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match header.rfind('>') {
        Some(at) => header.get(at + 1..)?,
        None => header,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI inside `<...>` of a name-addr, or the whole value up to `;` for an addr-spec.
pub fn uri_of(header: &str) -> &str {
    match (header.find('<'), header.find('>')) {
        (Some(a), Some(b)) if a < b => header.get(a + 1..b).unwrap_or(header),
        _ => header.split(';').next().unwrap_or(header).trim(),
    }
}

/// The user part of a SIP URI (`sip:user@host` → `user`).
pub fn user_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("sips:").or_else(|| uri.strip_prefix("sip:"))?;
    rest.split_once('@').map(|(user, _)| user.split(';').next().unwrap_or(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parses_with_compact_and_folded_headers() {
        let raw = b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
            f: <sip:+33100000000@127.0.0.1>;tag=abc\r\nTo: \"A, B\" <sip:1@h>;tag=9\r\n\
            i: call-1\r\nCSeq: 1\r\n  INVITE\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n\
            l: 4\r\n\r\nbodyEXTRA";
        let m = SipMessage::parse(raw).expect("valid response");
        assert_eq!(m.code(), Some(180));
        assert_eq!(m.header("Call-ID"), Some("call-1"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.body, b"body");
        assert_eq!(param(m.header("From").expect("present"), "tag"), Some("abc"));
        assert_eq!(param(m.header("To").expect("present"), "tag"), Some("9"));
        assert_eq!(m.header_values("Record-Route"), vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
        assert_eq!(uri_of("\"x\" <sip:+331@h;user=phone>;tag=1"), "sip:+331@h;user=phone");
        assert_eq!(user_of("sip:+331@h"), Some("+331"));
        let again = SipMessage::parse(&m.to_bytes()).expect("our output parses");
        assert_eq!((&again.start, &again.body), (&m.start, &m.body));
        assert_eq!(again.header("From"), m.header("From"));
        assert_eq!(again.header("Content-Length"), Some("4"));
    }

    #[test]
    fn requests_are_built_and_parsed() {
        let mut m = SipMessage::request("BYE", "sip:ringa@127.0.0.1:5062");
        m.push("Call-ID", "c").push("CSeq", "2 BYE");
        let back = SipMessage::parse(&m.to_bytes()).expect("our output parses");
        assert_eq!(back.method(), Some("BYE"));
        assert_eq!(back.header("content-length"), Some("0"));
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(SipMessage::parse(b"INVITE sip:x SIP/2.0\r\n"), Err(MessageError::Incomplete));
        assert_eq!(SipMessage::parse(b"HELLO\r\n\r\n"), Err(MessageError::BadStartLine));
        assert_eq!(SipMessage::parse(b"SIP/2.0 99 X\r\n\r\n"), Err(MessageError::BadStartLine));
        assert_eq!(
            SipMessage::parse(b"BYE x SIP/2.0\r\nnocolon\r\n\r\n"),
            Err(MessageError::BadHeader)
        );
        assert_eq!(
            SipMessage::parse(b"BYE x SIP/2.0\r\n  fold\r\n\r\n"),
            Err(MessageError::BadHeader)
        );
        assert_eq!(
            SipMessage::parse(b"BYE x SIP/2.0\r\nContent-Length: 9\r\n\r\nab"),
            Err(MessageError::BadLength)
        );
    }
}
