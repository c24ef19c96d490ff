//! The gate in front of every request that arrives from the network, sans-IO.
//!
//! ringa never relays a network-originated call to a trunk: the only inbound requests it
//! accepts are from its own agents' phones, proven by digest authentication against the
//! configured agent accounts. Everything else is challenged (401) or refused (403), and a
//! source that sends too fast is dropped without a reply so ringa cannot be used as an
//! amplifier. An accepted request names the agent account; what the caller dialled is never
//! used as a destination.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};

use crate::digest::Credentials;
use crate::limits::SourceRateLimiter;
use crate::message::SipMessage;
use crate::uac::USER_AGENT;

/// How long a nonce we issued stays valid (it is accepted in its window and the next).
const NONCE_WINDOW: Duration = Duration::from_secs(300);

/// What to do with an inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send this response and go no further (challenge, refusal, OPTIONS answer).
    Respond(SipMessage),
    /// Say nothing: the source exceeded its rate.
    Drop,
    /// An authenticated agent phone: handle the request as that agent's.
    Agent {
        /// The agent account name.
        user: String,
    },
}

/// The inbound request gate.
#[derive(Debug)]
pub struct InboundGuard {
    realm: String,
    secret: String,
    accounts: HashMap<String, String>,
    limiter: SourceRateLimiter,
    epoch: Instant,
}

impl InboundGuard {
    /// A gate for `accounts` (agent username → password) in `realm`; `secret` keys the
    /// nonces; each source IP may send `rate` requests per second (bursts of `burst`).
    pub fn new(
        epoch: Instant,
        realm: &str,
        secret: &str,
        accounts: HashMap<String, String>,
        rate: f64,
        burst: f64,
    ) -> InboundGuard {
        InboundGuard {
            realm: realm.to_string(),
            secret: secret.to_string(),
            accounts,
            limiter: SourceRateLimiter::new(rate, burst),
            epoch,
        }
    }

    fn nonce(&self, source: SocketAddr, window: u64) -> String {
        let digest = Md5::digest(format!("{}:{}:{window}", self.secret, source.ip()).as_bytes());
        let mut out = format!("{window:x}.");
        for b in digest {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    fn window(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / NONCE_WINDOW.as_secs()
    }

    /// Judges one request received from `source`.
    pub fn handle_request(&mut self, now: Instant, source: SocketAddr, m: &SipMessage) -> Verdict {
        if !self.limiter.handle_request(now, source.ip()) {
            return Verdict::Drop;
        }
        let Some(method) = m.method() else {
            return Verdict::Drop; // Responses are not requests; the dialog layer owns them.
        };
        match method {
            "ACK" => return Verdict::Drop,
            "OPTIONS" => return Verdict::Respond(reply(m, 200, "OK")),
            "INVITE" | "REGISTER" => {}
            _ => return Verdict::Respond(reply(m, 403, "Forbidden")),
        }
        let window = self.window(now);
        let Some(header) = m.header("Authorization") else {
            return self.challenge(m, source, window);
        };
        let Ok(creds) = Credentials::parse(header) else {
            return Verdict::Respond(reply(m, 403, "Forbidden"));
        };
        let fresh = [window, window.saturating_sub(1)]
            .into_iter()
            .any(|w| creds.nonce == self.nonce(source, w));
        if !fresh {
            // A stale or foreign nonce: challenge again rather than refuse.
            return self.challenge(m, source, window);
        }
        let verified = self
            .accounts
            .get(&creds.username)
            .is_some_and(|pw| creds.verify(method, &self.realm, &creds.nonce, pw));
        if verified {
            Verdict::Agent { user: creds.username }
        } else {
            Verdict::Respond(reply(m, 403, "Forbidden"))
        }
    }

    fn challenge(&self, m: &SipMessage, source: SocketAddr, window: u64) -> Verdict {
        let mut r = reply(m, 401, "Unauthorized");
        r.push(
            "WWW-Authenticate",
            format!(
                "Digest realm=\"{}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
                self.realm,
                self.nonce(source, window)
            ),
        );
        Verdict::Respond(r)
    }

    /// Forgets idle sources (call now and then to bound memory).
    pub fn handle_sweep(&mut self, now: Instant) {
        self.limiter.handle_sweep(now);
    }
}

/// A response to `m` copying the headers that tie it to the request.
pub fn reply(m: &SipMessage, code: u16, reason: &str) -> SipMessage {
    let mut r = SipMessage::response(code, reason);
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for (n, v) in m.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            r.push(n, v.clone());
        }
    }
    r.push("User-Agent", USER_AGENT);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Challenge;

    fn invite(to: &str) -> SipMessage {
        let mut m = SipMessage::request("INVITE", &format!("sip:{to}@127.0.0.1"));
        m.push("Via", "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK1")
            .push("From", "<sip:intruder@127.0.0.9>;tag=1")
            .push("To", format!("<sip:{to}@127.0.0.1>"))
            .push("Call-ID", "x")
            .push("CSeq", "1 INVITE");
        m
    }

    fn code_of(v: Verdict) -> Option<u16> {
        match v {
            Verdict::Respond(r) => r.code(),
            _ => None,
        }
    }

    fn guard(t0: Instant) -> InboundGuard {
        let accounts = HashMap::from([("agent1".to_string(), "pw1".to_string())]);
        InboundGuard::new(t0, "ringa", "s3cret", accounts, 5.0, 10.0)
    }

    #[test]
    fn unauthenticated_calls_to_numbers_are_challenged_then_refused() {
        let t0 = Instant::now();
        let mut g = guard(t0);
        let src: SocketAddr = "127.0.0.9:5060".parse().expect("literal address");
        let m = invite("+33612345678");
        let Verdict::Respond(r) = g.handle_request(t0, src, &m) else {
            panic!("an unauthenticated INVITE is answered, never accepted");
        };
        assert_eq!(r.code(), Some(401));
        let ch = Challenge::parse(r.header("WWW-Authenticate").expect("challenge"))
            .expect("our challenge parses");

        let mut wrong = m.clone();
        let uri = "sip:+33612345678@127.0.0.1";
        wrong.push("Authorization", ch.authorize("INVITE", uri, "agent1", "guess", 1, "c"));
        let Verdict::Respond(r) = g.handle_request(t0, src, &wrong) else {
            panic!("a wrong password is refused");
        };
        assert_eq!(r.code(), Some(403));

        let mut unknown = m.clone();
        unknown.push("Authorization", ch.authorize("INVITE", uri, "nobody", "pw1", 1, "c"));
        assert_eq!(code_of(g.handle_request(t0, src, &unknown)), Some(403));

        let mut good = m.clone();
        good.push("Authorization", ch.authorize("INVITE", uri, "agent1", "pw1", 1, "c"));
        assert_eq!(g.handle_request(t0, src, &good), Verdict::Agent { user: "agent1".into() });

        // The nonce is bound to the source address and expires.
        let other: SocketAddr = "127.0.0.8:5060".parse().expect("literal address");
        assert_eq!(code_of(g.handle_request(t0, other, &good)), Some(401));
        let late = t0 + NONCE_WINDOW * 3;
        assert_eq!(code_of(g.handle_request(late, src, &good)), Some(401));
    }

    #[test]
    fn floods_are_dropped_and_other_methods_refused() {
        let t0 = Instant::now();
        let mut g = guard(t0);
        let src: SocketAddr = "127.0.0.7:5060".parse().expect("literal address");
        let mut bye = invite("x");
        bye.start =
            crate::message::StartLine::Request { method: "BYE".into(), uri: "sip:x".into() };
        assert_eq!(code_of(g.handle_request(t0, src, &bye)), Some(403));
        let answered =
            (0..100).filter(|_| g.handle_request(t0, src, &invite("1")) != Verdict::Drop);
        assert_eq!(answered.count(), 9, "burst of 10 minus the BYE");
        g.handle_sweep(t0 + Duration::from_secs(3600));
        assert_ne!(
            g.handle_request(t0 + Duration::from_secs(3600), src, &invite("1")),
            Verdict::Drop
        );
    }
}
