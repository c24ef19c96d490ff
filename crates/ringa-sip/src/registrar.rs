//! Where agents' phones that register with ringa can be reached, sans-IO.
//!
//! A phone proves its account with digest authentication at the inbound gate
//! (`guard`); its REGISTER then lands here. The binding keeps the user part of
//! the phone's Contact and the address the REGISTER came from (not the host in
//! the Contact, which behind NAT is a private address), so that ringa calls the
//! phone back through the same hole. A binding lasts for the expiry the phone
//! asked for, clamped to [`MIN_EXPIRES`]..=[`MAX_EXPIRES`]; `Expires: 0` (or
//! `Contact: *`) removes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::guard::reply;
use crate::message::{SipMessage, param, split_list, uri_of, user_of};

/// The shortest registration granted, in seconds (a phone asking less is told 423 with
/// this minimum).
pub const MIN_EXPIRES: u64 = 60;
/// The longest registration granted, in seconds.
pub const MAX_EXPIRES: u64 = 3600;
/// What a phone that names no expiry gets.
const DEFAULT_EXPIRES: u64 = 3600;

/// A response to a REGISTER, with the To tag a UAS adds (RFC 3261 8.2.6.2).
fn answer(m: &SipMessage, code: u16, reason: &str) -> SipMessage {
    let mut r = reply(m, code, reason);
    for (name, value) in r.headers.iter_mut() {
        let to = name.eq_ignore_ascii_case("To") || name == "t";
        if to && param(value, "tag").is_none() {
            value.push_str(";tag=ringa-registrar");
        }
    }
    r
}

/// Where a registered phone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The user part of the phone's Contact.
    pub user: String,
    /// The address its REGISTER came from, where it is called.
    pub address: SocketAddr,
    expires: Instant,
}

impl Binding {
    /// The URI ringa calls the phone at.
    pub fn uri(&self) -> String {
        format!("sip:{}@{}", self.user, self.address)
    }
}

/// The bindings of the accounts that registered.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: HashMap<String, Binding>,
}

impl Registrar {
    pub fn new() -> Registrar {
        Registrar::default()
    }

    /// Handles an authenticated REGISTER of `account` that came from `source`; returns the
    /// response to send.
    pub fn handle_register(
        &mut self,
        now: Instant,
        account: &str,
        source: SocketAddr,
        m: &SipMessage,
    ) -> SipMessage {
        let contacts: Vec<&str> =
            m.header_values("Contact").into_iter().flat_map(split_list).collect();
        let header_expires = m.header("Expires").and_then(|v| v.trim().parse::<u64>().ok());
        if contacts.iter().any(|c| c.trim() == "*") {
            if header_expires != Some(0) {
                return answer(m, 400, "Bad Request");
            }
            self.bindings.remove(account);
            return answer(m, 200, "OK");
        }
        let Some(contact) = contacts.first() else {
            // A query: answer with the binding in force, if any.
            let mut r = answer(m, 200, "OK");
            if let Some(b) = self.lookup(now, account) {
                let left = b.expires.saturating_duration_since(now).as_secs();
                r.push("Contact", format!("<{}>;expires={left}", b.uri()));
            }
            return r;
        };
        let asked = param(contact, "expires")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or(header_expires)
            .unwrap_or(DEFAULT_EXPIRES);
        if asked == 0 {
            self.bindings.remove(account);
            return answer(m, 200, "OK");
        }
        if asked < MIN_EXPIRES {
            let mut r = answer(m, 423, "Interval Too Brief");
            r.push("Min-Expires", MIN_EXPIRES.to_string());
            return r;
        }
        let uri = uri_of(contact);
        let Some(user) = user_of(uri).filter(|u| !u.is_empty()) else {
            return answer(m, 400, "Bad Request");
        };
        let granted = asked.min(MAX_EXPIRES);
        let binding = Binding {
            user: user.to_string(),
            address: source,
            expires: now + Duration::from_secs(granted),
        };
        let mut r = answer(m, 200, "OK");
        r.push("Contact", format!("<{uri}>;expires={granted}"));
        tracing::info!(account, address = %source, expires = granted, "agent phone registered");
        self.bindings.insert(account.to_string(), binding);
        r
    }

    /// Where `account`'s phone is, if it registered and the binding has not expired.
    pub fn lookup(&self, now: Instant, account: &str) -> Option<&Binding> {
        self.bindings.get(account).filter(|b| b.expires > now)
    }

    /// Forgets expired bindings (call now and then to bound memory).
    pub fn handle_sweep(&mut self, now: Instant) {
        self.bindings.retain(|_, b| b.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(contact: Option<&str>, expires: Option<&str>) -> SipMessage {
        let mut m = SipMessage::request("REGISTER", "sip:127.0.0.1");
        m.push("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK7")
            .push("From", "<sip:agent1@127.0.0.1>;tag=9")
            .push("To", "<sip:agent1@127.0.0.1>")
            .push("Call-ID", "reg-1")
            .push("CSeq", "2 REGISTER");
        if let Some(c) = contact {
            m.push("Contact", c);
        }
        if let Some(e) = expires {
            m.push("Expires", e);
        }
        m
    }

    #[test]
    fn a_binding_uses_the_source_address_and_lasts_its_granted_time() {
        let t0 = Instant::now();
        let mut r = Registrar::new();
        // Behind NAT: the Contact names a private address, the datagram came from another.
        let source: SocketAddr = "127.0.0.7:40112".parse().expect("literal");
        let m = register(Some("<sip:phone1@10.0.0.5:5060>"), Some("120"));
        let answer = r.handle_register(t0, "agent1", source, &m);
        assert_eq!(answer.code(), Some(200));
        assert_eq!(answer.header("Contact"), Some("<sip:phone1@10.0.0.5:5060>;expires=120"));
        assert_eq!(answer.header("To"), Some("<sip:agent1@127.0.0.1>;tag=ringa-registrar"));
        let b = r.lookup(t0, "agent1").expect("bound");
        assert_eq!(b.uri(), "sip:phone1@127.0.0.7:40112");
        assert!(r.lookup(t0 + Duration::from_secs(119), "agent1").is_some());
        assert!(r.lookup(t0 + Duration::from_secs(120), "agent1").is_none());
        r.handle_sweep(t0 + Duration::from_secs(121));
        assert!(r.bindings.is_empty());
    }

    #[test]
    fn expiry_is_clamped_refused_when_too_brief_and_zero_unregisters() {
        let t0 = Instant::now();
        let mut r = Registrar::new();
        let source: SocketAddr = "127.0.0.7:5060".parse().expect("literal");
        let long = register(Some("<sip:p@127.0.0.7>;expires=86400"), None);
        let answer = r.handle_register(t0, "agent1", source, &long);
        assert_eq!(answer.header("Contact"), Some("<sip:p@127.0.0.7>;expires=3600"));

        let brief = register(Some("<sip:p@127.0.0.7>"), Some("10"));
        let answer = r.handle_register(t0, "agent1", source, &brief);
        assert_eq!(answer.code(), Some(423));
        assert_eq!(answer.header("Min-Expires"), Some("60"));
        assert!(r.lookup(t0, "agent1").is_some(), "a refused refresh keeps the binding");

        let query = register(None, None);
        let answer = r.handle_register(t0, "agent1", source, &query);
        assert_eq!(answer.header("Contact"), Some("<sip:p@127.0.0.7:5060>;expires=3600"));

        let gone = register(Some("<sip:p@127.0.0.7>"), Some("0"));
        assert_eq!(r.handle_register(t0, "agent1", source, &gone).code(), Some(200));
        assert!(r.lookup(t0, "agent1").is_none());

        r.handle_register(t0, "agent1", source, &long);
        let star_without_zero = register(Some("*"), None);
        let answer = r.handle_register(t0, "agent1", source, &star_without_zero);
        assert_eq!(answer.code(), Some(400));
        let star = register(Some("*"), Some("0"));
        assert_eq!(r.handle_register(t0, "agent1", source, &star).code(), Some(200));
        assert!(r.lookup(t0, "agent1").is_none());
    }

    #[test]
    fn a_contact_without_a_user_is_refused() {
        let t0 = Instant::now();
        let mut r = Registrar::new();
        let source: SocketAddr = "127.0.0.7:5060".parse().expect("literal");
        let m = register(Some("<sip:127.0.0.7:5060>"), None);
        assert_eq!(r.handle_register(t0, "agent1", source, &m).code(), Some(400));
        assert!(r.lookup(t0, "agent1").is_none());
    }
}
