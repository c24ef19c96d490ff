//! An outbound call through a trunk (the UAC side of one INVITE dialog), sans-IO.
//!
//! It writes the INVITE with the attempt's caller ID in From and P-Asserted-Identity, our
//! own Call-ID and `User-Agent: ringa/<version>`; answers a 401/407 once with digest
//! credentials; follows provisional responses; cancels; acknowledges final responses; ends
//! with BYE or on the peer's BYE; answers re-INVITE, UPDATE and OPTIONS inside the dialog;
//! and runs the UDP client transactions of RFC 3261 §17.1 ([`crate::transaction`]): the
//! INVITE is sent again until a response arrives (timers A/B), BYE and CANCEL until a final
//! response (timers E/F; with none after 32 s the request is given up and logged), and the ACK
//! of a 2xx is sent again whenever the peer repeats its 2xx. Once the dialog is over for the
//! owner ([`Phase::Terminated`]) the call may still have work on the wire: it is
//! [`UacCall::is_finished`] only when its BYE or CANCEL is answered or timed out, the
//! retransmissions of the peer's last message (a final failure: timer D; a BYE: timer J) are
//! absorbed, and so are those of the final response to our BYE or CANCEL (timer K: 5 s over
//! UDP, none over TCP); [`UacCall::is_settled`] says when only timer K is left. Every
//! datagram to send comes out of [`UacCall::poll_transmit`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::Transport;
use crate::digest::Challenge;
use crate::message::{SipMessage, param, uri_of};
use crate::sdp;
use crate::transaction::{InviteClient, NonInviteClient, TIMEOUT, TIMER_D, TIMER_K, TimerAction};

/// The User-Agent header value.
pub const USER_AGENT: &str = concat!("ringa/", env!("CARGO_PKG_VERSION"));

/// What the call reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UacEvent {
    /// 180 or 183 arrived.
    Ringing,
    /// 2xx arrived; the peer's SDP body.
    Answered {
        /// The SDP answer.
        sdp: String,
    },
    /// A final failure with its SIP code (408 if nothing answered at all, or if a cancelled
    /// INVITE got no final response within 32 s of the CANCEL).
    Failed {
        /// The final status code.
        code: u16,
    },
    /// The peer sent BYE.
    RemoteHangup,
    /// A re-INVITE or UPDATE with a new offer arrived (already answered with our SDP).
    Refreshed,
    /// The re-INVITE or UPDATE just reported as [`UacEvent::Refreshed`] carried this SDP
    /// offer: the peer's media may have moved.
    Offer {
        /// The peer's new SDP.
        sdp: String,
    },
}

/// The phase of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// INVITE sent, no final response yet.
    Calling,
    /// In the dialog after 2xx.
    Confirmed,
    /// Over.
    Terminated,
}

/// Identity and addressing of one outbound call.
#[derive(Debug, Clone)]
pub struct UacParams {
    /// Our Call-ID.
    pub call_id: String,
    /// The number dialled (Request-URI user part).
    pub number: String,
    /// The caller ID presented (From and P-Asserted-Identity user part).
    pub caller_id: String,
    /// Our SIP address (Via, Contact).
    pub local: SocketAddr,
    /// The trunk's address (next hop and Request-URI host).
    pub trunk: SocketAddr,
    /// Digest credentials, if the trunk challenges.
    pub credentials: Option<(String, String)>,
    /// Our SDP offer.
    pub sdp_offer: String,
}

/// One outbound INVITE dialog.
#[derive(Debug)]
pub struct UacCall {
    p: UacParams,
    local_tag: String,
    branch: String,
    /// The CSeq and branch of the INVITE a 401/407 challenged, to acknowledge that response
    /// again if the peer repeats it.
    challenged: Option<(u32, String)>,
    /// The last CSeq number used.
    cseq: u32,
    /// The CSeq number of the current INVITE.
    invite_cseq: u32,
    invite: InviteClient,
    phase: Phase,
    provisional: bool,
    cancel_wanted: bool,
    cancelled: bool,
    authorised: bool,
    remote_to: Option<String>,
    remote_target: Option<String>,
    route_set: Vec<String>,
    bye_sent: bool,
    /// BYE and CANCEL waiting for a final response, or completed and kept for timer K.
    requests: Vec<NonInviteClient>,
    /// The ACK of the 2xx, sent again when the 2xx is.
    ack: Option<Vec<u8>>,
    /// A cancelled INVITE with no final response by then is given up (RFC 3261 §9.1).
    cancel_deadline: Option<Instant>,
    /// Kept until then to answer the peer's retransmissions of its last message.
    linger_until: Option<Instant>,
    /// The latest instant given to the call (for [`UacCall::hangup`] and [`UacCall::cancel`]).
    now: Instant,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<UacEvent>,
    counter: u32,
    /// UDP (with retransmissions) or TCP.
    transport: Transport,
    /// The version of our last SDP (the first offer is version 1).
    sdp_version: u64,
    /// Any response came from the peer.
    heard: bool,
}

impl UacCall {
    /// Starts the call over UDP: the INVITE is queued for transmission.
    pub fn start(now: Instant, p: UacParams) -> UacCall {
        UacCall::start_over(now, p, Transport::Udp)
    }

    /// Starts the call over `transport`. Over TCP nothing is retransmitted (the stream is
    /// reliable), but timers B and F still end a transaction that gets no answer.
    pub fn start_over(now: Instant, p: UacParams, transport: Transport) -> UacCall {
        let local_tag = format!("r{}", short_hash(&p.call_id, 1));
        let mut call = UacCall {
            p,
            local_tag,
            branch: String::new(),
            challenged: None,
            cseq: 1,
            invite_cseq: 1,
            invite: InviteClient::new(now, Vec::new()),
            phase: Phase::Calling,
            provisional: false,
            cancel_wanted: false,
            cancelled: false,
            authorised: false,
            remote_to: None,
            remote_target: None,
            route_set: Vec::new(),
            bye_sent: false,
            requests: Vec::new(),
            ack: None,
            cancel_deadline: None,
            linger_until: None,
            now,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            counter: 0,
            transport,
            sdp_version: 1,
            heard: false,
        };
        call.send_invite(now, None);
        call
    }

    /// Our Call-ID.
    pub fn call_id(&self) -> &str {
        &self.p.call_id
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether nothing is left to do: the dialog is over, its BYE or CANCEL is answered or
    /// timed out, and no retransmission from the peer is awaited. The owner drops the call
    /// then.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Terminated && self.requests.is_empty() && self.linger_until.is_none()
    }

    /// Whether nothing more is awaited from the peer: as [`UacCall::is_finished`], except that
    /// an answered BYE or CANCEL may still be kept for timer K to absorb repeats of its
    /// response.
    pub fn is_settled(&self) -> bool {
        self.phase == Phase::Terminated
            && self.requests.iter().all(NonInviteClient::is_done)
            && self.linger_until.is_none()
    }

    /// A BYE or CANCEL client transaction for `request`, just sent at `now`; timer K runs over
    /// UDP only.
    fn non_invite(
        &self,
        now: Instant,
        method: &str,
        cseq: u32,
        request: Vec<u8>,
    ) -> NonInviteClient {
        let timer_k = if self.transport == Transport::Udp { TIMER_K } else { Duration::ZERO };
        NonInviteClient::new(now, method, cseq, request).with_timer_k(timer_k)
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn new_branch(&mut self) -> String {
        self.counter += 1;
        format!("z9hG4bK{}", short_hash(&self.p.call_id, 100 + self.counter))
    }

    fn request_uri(&self) -> String {
        format!("sip:{}@{}", self.p.number, self.p.trunk)
    }

    /// Our answer to an offer the peer makes inside the dialog: the law it lists first, at our
    /// same media address, with a new version; `None` when there is no offer or no common law
    /// (our original offer is sent then).
    fn answer_offer(&mut self, body: &[u8]) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        let offer = sdp::SessionDescription::parse(&String::from_utf8_lossy(body)).ok()?;
        let ours = sdp::SessionDescription::parse(&self.p.sdp_offer).ok()?;
        let session = self
            .p
            .sdp_offer
            .lines()
            .find_map(|l| l.strip_prefix("o="))
            .and_then(|o| o.split_whitespace().nth(1))
            .and_then(|id| id.parse().ok())
            .unwrap_or(1);
        self.sdp_version += 1;
        let (_, answer) =
            sdp::answer(&offer, session, self.sdp_version, ours.audio.address).ok()?;
        Some(answer)
    }

    /// Our Contact, naming the transport the peer reaches us over.
    fn contact(&self) -> String {
        match self.transport {
            Transport::Udp => format!("<sip:ringa@{}>", self.p.local),
            Transport::Tcp => format!("<sip:ringa@{};transport=tcp>", self.p.local),
        }
    }

    /// Queues a retransmission: only over UDP.
    fn retransmit(&mut self, d: Vec<u8>) {
        if self.transport == Transport::Udp {
            self.transmit.push_back(d);
        }
    }

    fn our_from(&self) -> String {
        format!("<sip:{}@{}>;tag={}", self.p.caller_id, self.p.local.ip(), self.local_tag)
    }

    fn base(&self, method: &str, uri: &str, branch: &str, cseq: u32) -> SipMessage {
        let mut m = SipMessage::request(method, uri);
        let via = match self.transport {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        };
        m.push("Via", format!("SIP/2.0/{via} {};branch={branch};rport", self.p.local))
            .push("Max-Forwards", "70")
            .push("From", self.our_from())
            .push(
                "To",
                self.remote_to.clone().unwrap_or_else(|| format!("<{}>", self.request_uri())),
            )
            .push("Call-ID", self.p.call_id.clone())
            .push("CSeq", format!("{cseq} {method}"))
            .push("User-Agent", USER_AGENT);
        m
    }

    fn send_invite(&mut self, now: Instant, authorization: Option<(&str, String)>) {
        self.branch = self.new_branch();
        let uri = self.request_uri();
        let mut m = self.base("INVITE", &uri, &self.branch.clone(), self.cseq);
        // A fresh INVITE never carries a To tag.
        m.headers.retain(|(n, _)| n != "To");
        m.push("To", format!("<{uri}>"))
            .push("Contact", self.contact())
            .push(
                "P-Asserted-Identity",
                format!("<sip:{}@{}>", self.p.caller_id, self.p.local.ip()),
            )
            .push("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")
            .push("Content-Type", "application/sdp");
        if let Some((name, value)) = authorization {
            m.push(name, value);
        }
        m.body = self.p.sdp_offer.clone().into_bytes();
        let bytes = m.to_bytes();
        self.transmit.push_back(bytes.clone());
        self.invite = InviteClient::new(now, bytes);
        self.invite_cseq = self.cseq;
    }

    /// Asks to cancel at `now` (at the ring timeout or when the engine cancels).
    pub fn cancel_at(&mut self, now: Instant) {
        self.advance(now);
        if self.phase != Phase::Calling || self.cancelled {
            return;
        }
        self.cancel_wanted = true;
        if self.provisional {
            self.send_cancel(now);
        }
    }

    /// [`UacCall::cancel_at`] at the latest instant given to the call.
    pub fn cancel(&mut self) {
        self.cancel_at(self.now);
    }

    fn send_cancel(&mut self, now: Instant) {
        self.cancelled = true;
        let uri = self.request_uri();
        let mut m = self.base("CANCEL", &uri, &self.branch.clone(), self.invite_cseq);
        m.headers.retain(|(n, _)| n != "To");
        m.push("To", format!("<{uri}>"));
        let bytes = m.to_bytes();
        self.transmit.push_back(bytes.clone());
        let cancel = self.non_invite(now, "CANCEL", self.invite_cseq, bytes);
        self.requests.push(cancel);
        self.cancel_deadline = Some(now + TIMEOUT);
    }

    /// Hangs up at `now`: BYE in a dialog, CANCEL while calling. The dialog is over for the
    /// owner at once; the BYE is sent again until it is answered or times out.
    pub fn hangup_at(&mut self, now: Instant) {
        self.advance(now);
        match self.phase {
            Phase::Calling => self.cancel_at(now),
            Phase::Confirmed => {
                self.send_bye(now);
                self.phase = Phase::Terminated;
            }
            Phase::Terminated => {}
        }
    }

    /// [`UacCall::hangup_at`] at the latest instant given to the call.
    pub fn hangup(&mut self) {
        self.hangup_at(self.now);
    }

    fn send_bye(&mut self, now: Instant) {
        if self.bye_sent {
            return;
        }
        self.bye_sent = true;
        self.cseq += 1;
        let target = self.remote_target.clone().unwrap_or_else(|| self.request_uri());
        let branch = self.new_branch();
        let mut m = self.base("BYE", &target, &branch, self.cseq);
        self.add_routes(&mut m);
        let bytes = m.to_bytes();
        self.transmit.push_back(bytes.clone());
        let bye = self.non_invite(now, "BYE", self.cseq, bytes);
        self.requests.push(bye);
    }

    fn add_routes(&self, m: &mut SipMessage) {
        for r in &self.route_set {
            m.push("Route", r.clone());
        }
    }

    fn ack_non_2xx(&mut self, response: &SipMessage) {
        let (branch, cseq) = (self.branch.clone(), self.invite_cseq);
        self.ack_failure(response, &branch, cseq);
    }

    /// Acknowledges a final failure of the INVITE sent with `branch` and `cseq`.
    fn ack_failure(&mut self, response: &SipMessage, branch: &str, cseq: u32) {
        let uri = self.request_uri();
        let mut m = self.base("ACK", &uri, branch, cseq);
        m.headers.retain(|(n, _)| n != "To");
        m.push("To", response.header("To").unwrap_or_default().to_string());
        self.transmit.push_back(m.to_bytes());
    }

    /// Acknowledges a 2xx: the first time builds the ACK, later times (the peer repeating
    /// its 2xx because our ACK was lost) send the same ACK again.
    fn ack_2xx(&mut self) {
        if let Some(ack) = &self.ack {
            self.transmit.push_back(ack.clone());
            return;
        }
        let target = self.remote_target.clone().unwrap_or_else(|| self.request_uri());
        let branch = self.new_branch();
        let mut m = self.base("ACK", &target, &branch, self.invite_cseq);
        self.add_routes(&mut m);
        let bytes = m.to_bytes();
        self.transmit.push_back(bytes.clone());
        self.ack = Some(bytes);
    }

    /// Takes the dialog's remote tag, target and route set from a 2xx.
    fn learn_dialog(&mut self, m: &SipMessage) {
        self.remote_to = m.header("To").map(str::to_string);
        self.remote_target = m.header("Contact").map(|c| uri_of(c).to_string());
        self.route_set =
            m.header_values("Record-Route").into_iter().rev().map(str::to_string).collect();
    }

    /// Handles a message from the network for this Call-ID.
    pub fn handle_message(&mut self, now: Instant, m: &SipMessage) {
        self.advance(now);
        match m.code() {
            Some(code) => {
                self.heard = true;
                self.handle_response(now, code, m);
            }
            None => self.handle_request(now, m),
        }
    }

    /// Whether the peer answered anything at all (even 100 Trying): a call that ends with
    /// 408 without it never reached the trunk.
    pub fn heard_from_peer(&self) -> bool {
        self.heard
    }

    fn handle_response(&mut self, now: Instant, code: u16, m: &SipMessage) {
        let Some((cseq, method)) = m.cseq() else { return };
        if method != "INVITE" {
            // A response to our BYE or CANCEL ends or slows its retransmission; a repeat of
            // its final response within timer K is absorbed.
            if let Some(tx) = self.requests.iter_mut().find(|t| t.matches(cseq, method))
                && tx.handle_response_at(now, code)
            {
                tracing::trace!(call_id = %self.p.call_id, code, method, "absorbed a repeat");
            }
            self.requests.retain(|t| !t.is_terminated());
            return;
        }
        if (200..300).contains(&code) {
            if cseq != self.invite_cseq {
                return;
            }
            self.invite.handle_response(code);
            match self.phase {
                Phase::Calling => {
                    self.learn_dialog(m);
                    self.phase = Phase::Confirmed;
                    self.cancel_deadline = None;
                    let sdp = String::from_utf8_lossy(&m.body).into_owned();
                    self.events.push_back(UacEvent::Answered { sdp });
                    self.ack_2xx();
                    if self.cancel_wanted {
                        // CANCEL lost the race with the answer: end the call.
                        self.hangup_at(now);
                    }
                }
                Phase::Terminated if self.ack.is_none() => {
                    // A 2xx after we gave up on the INVITE: the peer thinks the call is up,
                    // so acknowledge it and end it.
                    self.learn_dialog(m);
                    self.ack_2xx();
                    self.send_bye(now);
                }
                // A repeated 2xx: our ACK was lost, send it again.
                Phase::Confirmed | Phase::Terminated => self.ack_2xx(),
            }
            return;
        }
        if cseq != self.invite_cseq || self.phase != Phase::Calling {
            if code >= 300 && cseq == self.invite_cseq {
                // A repeated final failure: our ACK was lost, send it again.
                self.ack_non_2xx(m);
            } else if let Some((first, branch)) = self.challenged.clone()
                && code >= 300
                && cseq == first
            {
                // The challenge again: the ACK to it was lost.
                self.ack_failure(m, &branch, first);
            }
            return;
        }
        self.invite.handle_response(code);
        if code < 200 {
            if code > 100 && !self.provisional {
                self.events.push_back(UacEvent::Ringing);
            }
            self.provisional = true;
            if self.cancel_wanted && !self.cancelled {
                self.send_cancel(now);
            }
            // A provisional response stops retransmission but not timer C (the ring timeout,
            // which the owner enforces by cancelling).
            return;
        }
        self.ack_non_2xx(m);
        if (code == 401 || code == 407) && !self.authorised && !self.cancel_wanted {
            let (challenge_header, answer_header) = if code == 401 {
                ("WWW-Authenticate", "Authorization")
            } else {
                ("Proxy-Authenticate", "Proxy-Authorization")
            };
            let challenge = m.header(challenge_header).map(Challenge::parse);
            if let (Some(Ok(ch)), Some((user, pass))) = (challenge, self.p.credentials.clone()) {
                self.authorised = true;
                self.challenged = Some((self.invite_cseq, self.branch.clone()));
                self.cseq += 1;
                self.provisional = false;
                let cnonce = short_hash(&self.p.call_id, 7);
                let value = ch.authorize("INVITE", &self.request_uri(), &user, &pass, 1, &cnonce);
                self.send_invite(now, Some((answer_header, value)));
                return;
            }
        }
        self.phase = Phase::Terminated;
        self.cancel_deadline = None;
        self.linger_until = Some(now + TIMER_D);
        self.events.push_back(UacEvent::Failed { code });
    }

    fn handle_request(&mut self, now: Instant, m: &SipMessage) {
        let method = m.method().unwrap_or_default().to_string();
        if method == "ACK" {
            return;
        }
        let mut r = SipMessage::response(200, "OK");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for (n, v) in m.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
                r.push(n, v.clone());
            }
        }
        r.push("User-Agent", USER_AGENT);
        match method.as_str() {
            "BYE" => {
                if self.phase == Phase::Confirmed {
                    self.phase = Phase::Terminated;
                    // Timer J: a repeated BYE (our 200 was lost) is answered again.
                    self.linger_until = Some(now + TIMEOUT);
                    self.events.push_back(UacEvent::RemoteHangup);
                }
            }
            "INVITE" | "UPDATE" => {
                r.push("Contact", self.contact());
                if !m.body.is_empty() || method == "INVITE" {
                    r.push("Content-Type", "application/sdp");
                    let answer = self.answer_offer(&m.body);
                    r.body = answer.unwrap_or_else(|| self.p.sdp_offer.clone()).into_bytes();
                }
                self.events.push_back(UacEvent::Refreshed);
                if !m.body.is_empty() {
                    let sdp = String::from_utf8_lossy(&m.body).into_owned();
                    self.events.push_back(UacEvent::Offer { sdp });
                }
            }
            "OPTIONS" => {}
            _ => {
                r = SipMessage::response(405, "Method Not Allowed");
                for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                    if let Some(v) = m.header(name) {
                        r.push(name, v.to_string());
                    }
                }
            }
        }
        self.transmit.push_back(r.to_bytes());
    }

    /// When [`UacCall::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let invite = self.invite.poll_timeout().filter(|_| self.phase == Phase::Calling);
        let cancel = self.cancel_deadline.filter(|_| self.phase == Phase::Calling);
        self.requests
            .iter()
            .filter_map(NonInviteClient::poll_timeout)
            .chain([invite, cancel, self.linger_until].into_iter().flatten())
            .min()
    }

    /// Retransmits the INVITE (or gives up with 408 after timer B), the BYE or CANCEL (or
    /// gives it up after timer F), and ends a cancelled INVITE that got no final response.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.phase == Phase::Calling {
            match self.invite.handle_timeout(now) {
                TimerAction::Retransmit(d) => self.retransmit(d),
                TimerAction::TimedOut => self.fail_on_timeout(),
                TimerAction::Nothing => {}
            }
        }
        if self.phase == Phase::Calling && self.cancel_deadline.is_some_and(|d| now >= d) {
            tracing::warn!(
                call_id = %self.p.call_id,
                "no final response to the cancelled INVITE within 32 s; the call is over"
            );
            self.fail_on_timeout();
        }
        let mut again = Vec::new();
        for tx in &mut self.requests {
            match tx.handle_timeout(now) {
                TimerAction::Retransmit(d) => again.push(d),
                TimerAction::TimedOut => tracing::warn!(
                    call_id = %self.p.call_id,
                    method = tx.method(),
                    "no final response within 32 s (timer F); the dialog is over anyway"
                ),
                TimerAction::Nothing => {}
            }
        }
        for d in again {
            self.retransmit(d);
        }
        self.requests.retain(|t| !t.is_terminated());
        if self.linger_until.is_some_and(|d| now >= d) {
            self.linger_until = None;
        }
    }

    fn fail_on_timeout(&mut self) {
        self.phase = Phase::Terminated;
        self.cancel_deadline = None;
        self.events.push_back(UacEvent::Failed { code: 408 });
    }

    /// The next datagram to send to the trunk.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<UacEvent> {
        self.events.pop_front()
    }

    /// The tag of the peer's To header once a dialog exists.
    pub fn remote_tag(&self) -> Option<&str> {
        self.remote_to.as_deref().and_then(|t| param(t, "tag"))
    }
}

/// A short stable hex token derived from a string and a salt (for tags and branches; the
/// Call-ID itself carries the randomness).
fn short_hash(s: &str, salt: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(salt);
    for b in s.bytes().chain(salt.to_be_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SipMessage;
    use crate::transaction::T1;
    use std::time::Duration;

    fn at(t0: Instant, secs: f64) -> Instant {
        t0 + Duration::from_secs_f64(secs)
    }

    /// An answered call at `t0`, its INVITE and ACK sent and taken.
    fn answered(t0: Instant) -> (UacCall, Vec<u8>) {
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        c.handle_message(t0, &reply(&inv, 200, &[("Contact", "<sip:peer@127.0.0.1:5090>")]));
        assert!(matches!(c.poll_event(), Some(UacEvent::Answered { .. })));
        let ack = c.poll_transmit().expect("ACK");
        (c, ack)
    }

    /// Runs the call's timers as an owner would until `until`, returning the offsets from
    /// `from` at which it sent something, with what it sent.
    fn run_timers(c: &mut UacCall, from: Instant, until: Instant) -> Vec<(Duration, Vec<u8>)> {
        let mut sent = Vec::new();
        while let Some(due) = c.poll_timeout() {
            if due > until {
                break;
            }
            c.handle_timeout(due);
            while let Some(d) = c.poll_transmit() {
                sent.push((due - from, d));
            }
        }
        sent
    }

    fn offsets(sent: &[(Duration, Vec<u8>)]) -> Vec<f64> {
        sent.iter().map(|(d, _)| d.as_secs_f64()).collect()
    }

    fn params() -> UacParams {
        UacParams {
            call_id: "call-42@ringa".to_string(),
            number: "+33612345678".to_string(),
            caller_id: "+33100000001".to_string(),
            local: "127.0.0.1:5080".parse().expect("literal address"),
            trunk: "127.0.0.1:5090".parse().expect("literal address"),
            credentials: Some(("ringa".to_string(), "pw".to_string())),
            sdp_offer: "v=0\r\n".to_string(),
        }
    }

    fn reply(req: &[u8], code: u16, extra: &[(&str, &str)]) -> SipMessage {
        let req = SipMessage::parse(req).expect("we send valid requests");
        let mut r = SipMessage::response(code, "X");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut v = req.header(name).expect("present").to_string();
            if name == "To" && code > 100 {
                v.push_str(";tag=peer");
            }
            r.push(name, v);
        }
        for (n, v) in extra {
            r.push(n, *v);
        }
        r
    }

    #[test]
    fn invite_carries_caller_id_and_user_agent() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = SipMessage::parse(&c.poll_transmit().expect("INVITE queued")).expect("valid");
        assert_eq!(inv.method(), Some("INVITE"));
        assert!(inv.header("From").expect("From").contains("sip:+33100000001@"));
        assert!(inv.header("P-Asserted-Identity").expect("PAI").contains("+33100000001"));
        assert_eq!(inv.header("User-Agent"), Some(USER_AGENT));
        assert_eq!(inv.header("Call-ID"), Some("call-42@ringa"));
        assert!(USER_AGENT.starts_with("ringa/"));
        // Retransmission until a response, then 408 at timer B.
        c.handle_timeout(t0 + T1);
        assert!(c.poll_transmit().is_some());
        c.handle_timeout(t0 + TIMEOUT);
        assert_eq!(c.poll_event(), Some(UacEvent::Failed { code: 408 }));
    }

    #[test]
    fn proxy_challenge_is_answered_once_then_answer_and_bye() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        let ch = "Digest realm=\"trunk\", nonce=\"n1\", qop=\"auth\"";
        c.handle_message(t0, &reply(&inv, 407, &[("Proxy-Authenticate", ch)]));
        let ack = SipMessage::parse(&c.poll_transmit().expect("ACK")).expect("valid");
        assert_eq!(ack.method(), Some("ACK"));
        let inv2 = c.poll_transmit().expect("authorised INVITE");
        let parsed = SipMessage::parse(&inv2).expect("valid");
        assert_eq!(parsed.cseq(), Some((2, "INVITE")));
        let creds = crate::digest::Credentials::parse(
            parsed.header("Proxy-Authorization").expect("credentials sent"),
        )
        .expect("valid credentials");
        assert!(creds.verify("INVITE", "trunk", "n1", "pw"));
        // The proxy repeats its 407 (our ACK was lost): the same ACK again, no new INVITE.
        c.handle_message(t0, &reply(&inv, 407, &[("Proxy-Authenticate", ch)]));
        let again = SipMessage::parse(&c.poll_transmit().expect("ACK again")).expect("valid");
        assert_eq!(again.method(), Some("ACK"));
        assert_eq!(again.cseq(), Some((1, "ACK")));
        assert_eq!(again.header("Via"), ack.header("Via"), "the challenged INVITE's branch");
        assert!(c.poll_transmit().is_none());

        c.handle_message(t0, &reply(&inv2, 180, &[]));
        assert_eq!(c.poll_event(), Some(UacEvent::Ringing));
        let ok = reply(&inv2, 200, &[("Contact", "<sip:peer@127.0.0.1:5090>")]);
        c.handle_message(t0, &ok);
        assert!(matches!(c.poll_event(), Some(UacEvent::Answered { .. })));
        let ack = SipMessage::parse(&c.poll_transmit().expect("ACK")).expect("valid");
        assert_eq!(
            ack.start,
            crate::message::StartLine::Request {
                method: "ACK".into(),
                uri: "sip:peer@127.0.0.1:5090".into()
            }
        );
        assert!(ack.header("To").expect("To").contains("tag=peer"));
        c.hangup();
        let bye = SipMessage::parse(&c.poll_transmit().expect("BYE")).expect("valid");
        assert_eq!(bye.cseq(), Some((3, "BYE")));
        assert_eq!(c.phase(), Phase::Terminated);
    }

    #[test]
    fn cancel_waits_for_a_provisional_and_487_fails() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        c.cancel();
        assert!(c.poll_transmit().is_none(), "no CANCEL before a provisional response");
        c.handle_message(t0, &reply(&inv, 183, &[]));
        let cancel = SipMessage::parse(&c.poll_transmit().expect("CANCEL")).expect("valid");
        assert_eq!(cancel.cseq(), Some((1, "CANCEL")));
        c.handle_message(t0, &reply(&inv, 487, &[]));
        assert_eq!(c.poll_event(), Some(UacEvent::Ringing));
        assert_eq!(c.poll_event(), Some(UacEvent::Failed { code: 487 }));
        assert!(c.poll_transmit().is_some(), "the 487 is acknowledged");
    }

    #[test]
    fn peer_bye_and_reinvite_are_answered() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        c.handle_message(t0, &reply(&inv, 200, &[]));
        let _ = c.poll_event();
        let _ = c.poll_transmit();
        let mut reinvite = SipMessage::request("INVITE", "sip:ringa@127.0.0.1:5080");
        reinvite.push("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKp").push("CSeq", "1 INVITE");
        reinvite.body = b"v=0\r\n".to_vec();
        c.handle_message(t0, &reinvite);
        let r = SipMessage::parse(&c.poll_transmit().expect("200 to re-INVITE")).expect("valid");
        assert_eq!(r.code(), Some(200));
        assert!(!r.body.is_empty());
        let mut bye = SipMessage::request("BYE", "sip:ringa@127.0.0.1:5080");
        bye.push("CSeq", "2 BYE");
        c.handle_message(t0, &bye);
        assert_eq!(c.poll_event(), Some(UacEvent::Refreshed));
        assert_eq!(c.poll_event(), Some(UacEvent::Offer { sdp: "v=0\r\n".to_string() }));
        assert_eq!(c.poll_event(), Some(UacEvent::RemoteHangup));
        assert_eq!(c.phase(), Phase::Terminated);
    }

    #[test]
    fn a_lost_bye_is_sent_again_until_a_response_stops_it() {
        let t0 = Instant::now();
        let (mut c, _) = answered(t0);
        let t1 = at(t0, 1.0);
        c.hangup_at(t1);
        let bye = c.poll_transmit().expect("BYE");
        assert_eq!(c.phase(), Phase::Terminated, "the dialog is over for the owner at once");
        assert!(!c.is_finished(), "but the BYE is not answered yet");
        assert_eq!(c.poll_timeout(), Some(at(t1, 0.5)));
        let sent = run_timers(&mut c, t1, at(t1, 4.0));
        assert_eq!(offsets(&sent), [0.5, 1.5, 3.5], "timer E: T1 doubling");
        assert!(sent.iter().all(|(_, d)| *d == bye), "the same BYE each time");
        c.handle_message(at(t1, 4.0), &reply(&bye, 200, &[]));
        assert!(c.is_settled() && !c.is_finished(), "answered; kept for timer K");
        assert_eq!(c.poll_timeout(), Some(at(t1, 9.0)), "timer K only: no more retransmission");
        // The peer repeats its 200 a second later: absorbed, nothing sent, no event.
        c.handle_message(at(t1, 5.0), &reply(&bye, 200, &[]));
        assert_eq!(c.poll_transmit(), None);
        assert!(run_timers(&mut c, t1, at(t1, 60.0)).is_empty());
        assert!(c.is_finished(), "timer K is over");
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.poll_event(), None, "nothing more for the owner");
    }

    #[test]
    fn an_unanswered_bye_is_given_up_at_timer_f() {
        let t0 = Instant::now();
        let (mut c, _) = answered(t0);
        c.hangup_at(t0);
        let _bye = c.poll_transmit().expect("BYE");
        let sent = run_timers(&mut c, t0, at(t0, 100.0));
        let expected = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
        assert_eq!(offsets(&sent), expected, "timer E capped at T2");
        assert!(c.is_finished(), "timer F ended it at 32 s");
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn a_provisional_response_to_bye_spaces_retransmissions_by_t2() {
        let t0 = Instant::now();
        let (mut c, _) = answered(t0);
        c.hangup_at(t0);
        let bye = c.poll_transmit().expect("BYE");
        c.handle_message(at(t0, 0.1), &reply(&bye, 100, &[]));
        let sent = run_timers(&mut c, t0, at(t0, 10.0));
        assert_eq!(offsets(&sent), [0.5, 4.5, 8.5]);
        c.handle_message(at(t0, 10.0), &reply(&bye, 481, &[]));
        assert!(c.is_settled(), "any final response ends the BYE");
    }

    #[test]
    fn a_repeated_200_gets_the_same_ack_even_after_our_bye() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        let ok = reply(&inv, 200, &[("Contact", "<sip:peer@127.0.0.1:5090>")]);
        c.handle_message(t0, &ok);
        let ack = c.poll_transmit().expect("ACK");
        c.handle_message(at(t0, 0.5), &ok);
        assert_eq!(c.poll_transmit(), Some(ack.clone()), "our ACK was lost: sent again");
        c.hangup_at(at(t0, 1.0));
        let bye = c.poll_transmit().expect("BYE");
        c.handle_message(at(t0, 1.2), &ok);
        assert_eq!(c.poll_transmit(), Some(ack.clone()), "still acknowledged after the BYE");
        let parsed = SipMessage::parse(&ack).expect("valid ACK");
        assert_eq!(parsed.cseq(), Some((1, "ACK")), "the ACK keeps the INVITE's CSeq");
        c.handle_message(at(t0, 1.3), &reply(&bye, 200, &[]));
        assert!(c.is_settled());
        let answered = std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, UacEvent::Answered { .. }))
            .count();
        assert_eq!(answered, 1, "a repeated 200 is not a second answer");
    }

    #[test]
    fn a_lost_cancel_is_sent_again_and_a_repeated_487_acknowledged_again() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        c.handle_message(t0, &reply(&inv, 180, &[]));
        c.cancel_at(at(t0, 2.0));
        let cancel = c.poll_transmit().expect("CANCEL");
        let sent = run_timers(&mut c, at(t0, 2.0), at(t0, 4.0));
        assert_eq!(offsets(&sent), [0.5, 1.5]);
        assert!(sent.iter().all(|(_, d)| *d == cancel));
        c.handle_message(at(t0, 4.0), &reply(&cancel, 200, &[]));
        let t487 = at(t0, 4.1);
        c.handle_message(t487, &reply(&inv, 487, &[]));
        assert_eq!(c.poll_event(), Some(UacEvent::Ringing));
        assert_eq!(c.poll_event(), Some(UacEvent::Failed { code: 487 }));
        let ack = c.poll_transmit().expect("ACK of the 487");
        assert!(!c.is_finished(), "kept for timer D");
        c.handle_message(at(t0, 4.6), &reply(&inv, 487, &[]));
        let again = c.poll_transmit().expect("the repeated 487 is acknowledged again");
        assert_eq!(again, ack);
        assert_eq!(c.poll_event(), None, "reported once");
        assert!(run_timers(&mut c, t0, at(t0, 100.0)).is_empty(), "nothing is retransmitted");
        assert!(c.is_finished(), "timer D is over");
    }

    #[test]
    fn a_cancelled_invite_with_no_final_response_ends_after_32_s() {
        let t0 = Instant::now();
        let mut c = UacCall::start(t0, params());
        let inv = c.poll_transmit().expect("INVITE queued");
        c.handle_message(t0, &reply(&inv, 183, &[]));
        assert_eq!(c.poll_timeout(), None, "a provisional response stops timers A and B");
        c.cancel_at(at(t0, 20.0));
        let cancel = c.poll_transmit().expect("CANCEL");
        c.handle_message(at(t0, 20.1), &reply(&cancel, 200, &[]));
        let _ = run_timers(&mut c, t0, at(t0, 51.9));
        assert_eq!(c.phase(), Phase::Calling, "still waiting for the 487");
        let _ = run_timers(&mut c, t0, at(t0, 100.0));
        assert_eq!(c.poll_event(), Some(UacEvent::Ringing));
        assert_eq!(c.poll_event(), Some(UacEvent::Failed { code: 408 }));
        assert!(c.is_finished(), "never hangs");
    }

    #[test]
    fn a_repeated_bye_from_the_peer_is_answered_again() {
        let t0 = Instant::now();
        let (mut c, _) = answered(t0);
        let mut bye = SipMessage::request("BYE", "sip:ringa@127.0.0.1:5080");
        bye.push("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKb").push("CSeq", "2 BYE");
        c.handle_message(at(t0, 1.0), &bye);
        assert_eq!(c.poll_event(), Some(UacEvent::RemoteHangup));
        assert!(c.poll_transmit().is_some(), "200 to the BYE");
        c.handle_message(at(t0, 1.5), &bye);
        let again = SipMessage::parse(&c.poll_transmit().expect("200 again")).expect("valid");
        assert_eq!(again.code(), Some(200));
        assert_eq!(c.poll_event(), None, "one hang-up only");
        assert!(!c.is_finished());
        assert!(run_timers(&mut c, t0, at(t0, 40.0)).is_empty());
        assert!(c.is_finished(), "timer J is over");
    }

    #[test]
    fn over_tcp_nothing_is_retransmitted_and_timer_b_still_ends_the_call() {
        let t0 = Instant::now();
        let mut c = UacCall::start_over(t0, params(), Transport::Tcp);
        let inv = SipMessage::parse(&c.poll_transmit().expect("INVITE")).expect("valid");
        assert!(inv.header("Via").is_some_and(|v| v.starts_with("SIP/2.0/TCP ")), "{inv:?}");
        assert_eq!(inv.header("Contact"), Some("<sip:ringa@127.0.0.1:5080;transport=tcp>"));
        let sent = run_timers(&mut c, t0, at(t0, 40.0));
        assert!(sent.is_empty(), "retransmitted over TCP at {:?}", offsets(&sent));
        assert_eq!(c.poll_event(), Some(UacEvent::Failed { code: 408 }));

        // An answered call's BYE goes once; timer F still closes it.
        let mut c = UacCall::start_over(t0, params(), Transport::Tcp);
        let inv = c.poll_transmit().expect("INVITE");
        c.handle_message(t0, &reply(&inv, 200, &[("Contact", "<sip:peer@127.0.0.1:5090>")]));
        while c.poll_transmit().is_some() {}
        c.hangup_at(t0);
        let bye = SipMessage::parse(&c.poll_transmit().expect("BYE")).expect("valid");
        assert_eq!(bye.cseq(), Some((2, "BYE")));
        assert!(run_timers(&mut c, t0, at(t0, 40.0)).is_empty());
        assert!(c.poll_timeout().is_none(), "timer F ended the BYE");
    }
}
