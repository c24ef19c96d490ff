//! Calls ringa answers, sans-IO: the server side of one INVITE dialog per call (RFC 3261
//! §13.3 and §17.2.1 over UDP), owned by an agent whose phone dialled in to start the shift,
//! or by a customer calling back one of a campaign's caller IDs.
//!
//! Whoever is let in was checked before (the inbound gate proved the phone's account, or
//! the call came from a trunk to one of our numbers). A phone's leg answers at once with
//! our SDP and sends the 200 OK again on timer G (T1 doubling up to T2) until the ACK comes;
//! without an ACK by timer H (64*T1) the leg is given up with a BYE. A call back rings
//! first (180) until its owner accepts it (the 200 OK as above) or rejects it with a final
//! response, itself sent again on timer G until the ACK or timer H; the caller's CANCEL
//! meanwhile is answered 200 and the INVITE 487. A call back that came over TCP says so in
//! our Via and Contact, and its messages are marked for the connection it came on; nothing
//! is sent again on it (timers H and F still end what gets no answer). Inside the dialog a
//! repeated INVITE gets the same 200 again, a re-INVITE or UPDATE is answered with our SDP,
//! OPTIONS with 200, and the phone's BYE ends the leg. ringa's own BYE (the agent logs out)
//! is retransmitted as a non-INVITE client transaction. Time is always an argument.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use crate::guard::reply;
use crate::message::{SipMessage, param, uri_of};
use crate::transaction::{NonInviteClient, T1, T2, TIMEOUT, TimerAction};

/// Timer I over UDP: how long a refused leg absorbs repeated ACKs (RFC 3261 T4).
const T4: std::time::Duration = std::time::Duration::from_secs(5);
use crate::uac::USER_AGENT;

/// What happened on an answered leg of owner `K`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialInEvent<K> {
    /// The caller cancelled a ringing leg (answered 487): the leg is gone.
    Cancelled {
        /// The leg's owner.
        owner: K,
    },
    /// The phone never acknowledged our 200 OK: the leg is gone.
    Unacknowledged {
        /// The leg's owner.
        owner: K,
    },
    /// The phone hung up.
    HungUp {
        /// The leg's owner.
        owner: K,
    },
    /// The phone sent a new offer in the dialog (re-INVITE or UPDATE): its media may have
    /// moved.
    Offer {
        /// The leg's owner.
        owner: K,
        /// The phone's SDP.
        sdp: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Ringing (180 sent), waiting for the owner to accept or reject the call.
    Ringing,
    /// Refused with a final response (sent again until the ACK).
    Refused,
    /// Answered, waiting for the ACK.
    Answered,
    /// Acknowledged: the leg is up.
    Confirmed,
    /// Ended by either side; kept while a BYE is retransmitted or answered again.
    Ended,
}

/// One answered leg.
#[derive(Debug)]
struct Leg<K> {
    owner: K,
    /// Where the phone's datagrams come from and ours go.
    peer: SocketAddr,
    /// The INVITE came over TCP: our messages go back on its connection, never again.
    tcp: bool,
    phase: Phase,
    /// The CSeq number of the INVITE we answered.
    invite_cseq: u32,
    /// Our 200 OK, sent again until the ACK.
    ok: Vec<u8>,
    /// The INVITE being answered, for a final response other than our 200.
    invite: SipMessage,
    /// The last response to the INVITE we sent (180 while ringing, then the final one).
    last: Vec<u8>,
    answered_at: Instant,
    next_ok: Instant,
    interval: std::time::Duration,
    /// Our side's From (the INVITE's To with our tag) and the phone's (its From).
    local_party: String,
    remote_party: String,
    call_id: String,
    remote_target: String,
    route_set: Vec<String>,
    our_sdp: String,
    local: SocketAddr,
    /// Our next CSeq number for requests we send.
    cseq: u32,
    bye: Option<NonInviteClient>,
    /// When an ended leg is forgotten (timer J for a repeated BYE, or our BYE's end).
    linger_until: Option<Instant>,
}

impl<K> Leg<K> {
    /// Sends (from now on) the final response `code` to the INVITE instead of an answer.
    fn refuse(&mut self, now: Instant, code: u16, reason: &str) {
        self.last = self.response_to(&self.invite, code, reason).to_bytes();
        self.phase = Phase::Refused;
        self.answered_at = now;
        self.next_ok = now + T1;
        self.interval = T1;
    }

    fn response_to(&self, m: &SipMessage, code: u16, reason: &str) -> SipMessage {
        let mut r = reply(m, code, reason);
        for (name, value) in r.headers.iter_mut() {
            if name.eq_ignore_ascii_case("To") || name == "t" {
                value.clone_from(&self.local_party);
            }
        }
        r
    }

    fn with_sdp(&self, mut r: SipMessage) -> SipMessage {
        let transport = if self.tcp { ";transport=tcp" } else { "" };
        r.push("Contact", format!("<sip:ringa@{}{transport}>", self.local));
        r.push("Content-Type", "application/sdp");
        r.body = self.our_sdp.clone().into_bytes();
        r
    }

    fn bye(&mut self, now: Instant) -> Vec<u8> {
        self.cseq += 1;
        let mut m = SipMessage::request("BYE", &self.remote_target);
        let branch = format!("z9hG4bK{}-{}", short_id(&self.call_id), self.cseq);
        let transport = if self.tcp { "TCP" } else { "UDP" };
        m.push("Via", format!("SIP/2.0/{transport} {};branch={branch};rport", self.local))
            .push("Max-Forwards", "70")
            .push("From", self.local_party.clone())
            .push("To", self.remote_party.clone())
            .push("Call-ID", self.call_id.clone())
            .push("CSeq", format!("{} BYE", self.cseq))
            .push("User-Agent", USER_AGENT);
        for r in &self.route_set {
            m.push("Route", r.clone());
        }
        let bytes = m.to_bytes();
        self.bye = Some(NonInviteClient::new(now, "BYE", self.cseq, bytes.clone()));
        self.phase = Phase::Ended;
        bytes
    }
}

/// A short stable token from a Call-ID, for our tags and branches.
fn short_id(call_id: &str) -> String {
    let mut h: u32 = 2_166_136_261;
    for b in call_id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    format!("{h:08x}")
}

/// Why a phone's INVITE cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialInError {
    /// A required header is missing or malformed.
    Malformed(&'static str),
}

/// The answered legs of one kind of owner, by Call-ID.
#[derive(Debug)]
pub struct DialIns<K> {
    local: SocketAddr,
    legs: HashMap<String, Leg<K>>,
    /// What to send: to whom, whether over the TCP connection the leg came on, and what.
    transmit: VecDeque<(SocketAddr, bool, Vec<u8>)>,
    events: VecDeque<DialInEvent<K>>,
}

impl<K: Copy + PartialEq + fmt::Debug + fmt::Display> DialIns<K> {
    /// Legs answered from our SIP address `local`.
    pub fn new(local: SocketAddr) -> DialIns<K> {
        DialIns { local, legs: HashMap::new(), transmit: VecDeque::new(), events: VecDeque::new() }
    }

    /// Answers `invite` from `peer` as `owner`'s leg with `our_sdp` (the 200 OK goes out at
    /// once and again until the ACK).
    pub fn answer(
        &mut self,
        now: Instant,
        owner: K,
        peer: SocketAddr,
        invite: &SipMessage,
        our_sdp: String,
    ) -> Result<(), DialInError> {
        let mut leg = self.leg(now, owner, peer, invite, our_sdp, false)?;
        leg.phase = Phase::Answered;
        leg.last = leg.ok.clone();
        self.transmit.push_back((peer, false, leg.ok.clone()));
        self.legs.insert(leg.call_id.clone(), leg);
        Ok(())
    }

    /// Takes `invite` from `peer` (over TCP when `tcp`) as `owner`'s leg and rings (180):
    /// nothing is answered until [`DialIns::accept`] (the 200 OK with `our_sdp`) or
    /// [`DialIns::reject`].
    pub fn ring(
        &mut self,
        now: Instant,
        owner: K,
        peer: SocketAddr,
        invite: &SipMessage,
        our_sdp: String,
        tcp: bool,
    ) -> Result<(), DialInError> {
        let mut leg = self.leg(now, owner, peer, invite, our_sdp, tcp)?;
        leg.phase = Phase::Ringing;
        leg.last = leg.response_to(invite, 180, "Ringing").to_bytes();
        self.transmit.push_back((peer, tcp, leg.last.clone()));
        self.legs.insert(leg.call_id.clone(), leg);
        Ok(())
    }

    /// Answers `owner`'s ringing leg with our 200 OK; false when it rings no more (the
    /// caller cancelled, or it was answered or refused already).
    pub fn accept(&mut self, now: Instant, owner: K) -> bool {
        let Some(leg) = self.ringing(owner) else { return false };
        leg.phase = Phase::Answered;
        leg.answered_at = now;
        leg.next_ok = now + T1;
        leg.interval = T1;
        leg.last = leg.ok.clone();
        let out = (leg.peer, leg.tcp, leg.ok.clone());
        self.transmit.push_back(out);
        true
    }

    /// Refuses `owner`'s ringing leg with the final response `code`; false when it rings no
    /// more.
    pub fn reject(&mut self, now: Instant, owner: K, code: u16, reason: &str) -> bool {
        let Some(leg) = self.ringing(owner) else { return false };
        leg.refuse(now, code, reason);
        let out = (leg.peer, leg.tcp, leg.last.clone());
        self.transmit.push_back(out);
        true
    }

    /// Whether `owner`'s leg still rings.
    pub fn is_ringing(&self, owner: K) -> bool {
        self.legs.values().any(|l| l.owner == owner && l.phase == Phase::Ringing)
    }

    fn ringing(&mut self, owner: K) -> Option<&mut Leg<K>> {
        self.legs.values_mut().find(|l| l.owner == owner && l.phase == Phase::Ringing)
    }

    fn leg(
        &self,
        now: Instant,
        owner: K,
        peer: SocketAddr,
        invite: &SipMessage,
        our_sdp: String,
        tcp: bool,
    ) -> Result<Leg<K>, DialInError> {
        let call_id = invite.header("Call-ID").ok_or(DialInError::Malformed("Call-ID"))?;
        let (invite_cseq, _) = invite.cseq().ok_or(DialInError::Malformed("CSeq"))?;
        let from = invite.header("From").ok_or(DialInError::Malformed("From"))?;
        let to = invite.header("To").ok_or(DialInError::Malformed("To"))?;
        let contact = invite.header("Contact").ok_or(DialInError::Malformed("Contact"))?;
        if param(from, "tag").is_none() {
            return Err(DialInError::Malformed("From tag"));
        }
        let local_party = match param(to, "tag") {
            Some(_) => to.to_string(),
            None => format!("{to};tag={}", short_id(call_id)),
        };
        let mut leg = Leg {
            owner,
            peer,
            tcp,
            phase: Phase::Answered,
            invite_cseq,
            ok: Vec::new(),
            invite: invite.clone(),
            last: Vec::new(),
            answered_at: now,
            next_ok: now + T1,
            interval: T1,
            local_party,
            remote_party: from.to_string(),
            call_id: call_id.to_string(),
            remote_target: uri_of(contact).to_string(),
            route_set: invite.header_values("Record-Route").into_iter().map(String::from).collect(),
            our_sdp,
            local: self.local,
            cseq: 0,
            bye: None,
            linger_until: None,
        };
        // The phone's Record-Route is echoed so that its proxy stays in the path.
        let mut ok = leg.with_sdp(leg.response_to(invite, 200, "OK"));
        for rr in invite.header_values("Record-Route") {
            ok.push("Record-Route", rr.to_string());
        }
        leg.ok = ok.to_bytes();
        Ok(leg)
    }

    /// Whether a leg of `owner` is up or being answered.
    pub fn has(&self, owner: K) -> bool {
        let up = |l: &Leg<K>| !matches!(l.phase, Phase::Ended | Phase::Refused);
        self.legs.values().any(|l| l.owner == owner && up(l))
    }

    /// Handles a message from the network; false when it belongs to no dialled-in leg.
    pub fn handle_message(&mut self, now: Instant, m: &SipMessage) -> bool {
        let Some(call_id) = m.header("Call-ID") else { return false };
        let Some(leg) = self.legs.get_mut(call_id) else { return false };
        let cseq = m.cseq();
        if let Some(code) = m.code() {
            if let (Some(bye), Some((n, method))) = (leg.bye.as_mut(), cseq)
                && bye.matches(n, method)
            {
                bye.handle_response(code);
            }
            return true;
        }
        let of_invite = cseq.map(|c| c.0) == Some(leg.invite_cseq);
        match m.method().unwrap_or_default() {
            "ACK" if of_invite => match leg.phase {
                Phase::Answered => leg.phase = Phase::Confirmed,
                Phase::Refused => {
                    // Timer I: a repeated ACK is absorbed a while, then the leg is forgotten.
                    leg.phase = Phase::Ended;
                    leg.linger_until = Some(now + T4);
                }
                _ => {}
            },
            "ACK" => {}
            "INVITE" if of_invite => {
                // Our response was lost: the same one again.
                self.transmit.push_back((leg.peer, leg.tcp, leg.last.clone()));
            }
            "CANCEL" => {
                let r = reply(m, 200, "OK");
                self.transmit.push_back((leg.peer, leg.tcp, r.to_bytes()));
                if leg.phase == Phase::Ringing && of_invite {
                    leg.refuse(now, 487, "Request Terminated");
                    self.transmit.push_back((leg.peer, leg.tcp, leg.last.clone()));
                    self.events.push_back(DialInEvent::Cancelled { owner: leg.owner });
                }
            }
            "INVITE" | "UPDATE" if leg.phase != Phase::Ended => {
                let r = leg.with_sdp(leg.response_to(m, 200, "OK"));
                self.transmit.push_back((leg.peer, leg.tcp, r.to_bytes()));
                if !m.body.is_empty() {
                    let sdp = String::from_utf8_lossy(&m.body).into_owned();
                    self.events.push_back(DialInEvent::Offer { owner: leg.owner, sdp });
                }
            }
            "BYE" => {
                let r = leg.response_to(m, 200, "OK");
                self.transmit.push_back((leg.peer, leg.tcp, r.to_bytes()));
                if leg.phase != Phase::Ended {
                    leg.phase = Phase::Ended;
                    self.events.push_back(DialInEvent::HungUp { owner: leg.owner });
                }
                // Timer J: a repeated BYE (our 200 was lost) is answered again.
                leg.linger_until = Some(now + TIMEOUT);
            }
            "OPTIONS" => {
                let r = leg.response_to(m, 200, "OK");
                self.transmit.push_back((leg.peer, leg.tcp, r.to_bytes()));
            }
            _ => {
                let r = leg.response_to(m, 405, "Method Not Allowed");
                self.transmit.push_back((leg.peer, leg.tcp, r.to_bytes()));
            }
        }
        true
    }

    /// Ends `owner`'s leg with a BYE (retransmitted until answered or timer F); a leg still
    /// ringing is refused with 480 Temporarily Unavailable instead.
    pub fn hangup(&mut self, now: Instant, owner: K) {
        let up = |l: &Leg<K>| l.owner == owner && !matches!(l.phase, Phase::Ended | Phase::Refused);
        for leg in self.legs.values_mut().filter(|l| up(l)) {
            let bytes = match leg.phase {
                Phase::Ringing => {
                    leg.refuse(now, 480, "Temporarily Unavailable");
                    leg.last.clone()
                }
                _ => leg.bye(now),
            };
            self.transmit.push_back((leg.peer, leg.tcp, bytes));
        }
    }

    /// When [`DialIns::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| {
                let ok = matches!(l.phase, Phase::Answered | Phase::Refused).then_some(l.next_ok);
                let bye = l.bye.as_ref().and_then(NonInviteClient::poll_timeout);
                [ok, bye, l.linger_until].into_iter().flatten().min()
            })
            .min()
    }

    /// Timers G and H (our 200 OK), E and F (our BYE), J (forgetting ended legs).
    pub fn handle_timeout(&mut self, now: Instant) {
        for leg in self.legs.values_mut() {
            if leg.phase == Phase::Refused {
                if now >= leg.answered_at + TIMEOUT {
                    // Timer H: the caller never acknowledged our refusal; it is over anyway.
                    leg.phase = Phase::Ended;
                } else if now >= leg.next_ok {
                    leg.interval = (leg.interval * 2).min(T2);
                    leg.next_ok = now + leg.interval;
                    if !leg.tcp {
                        self.transmit.push_back((leg.peer, leg.tcp, leg.last.clone()));
                    }
                }
            }
            if leg.phase == Phase::Answered {
                if now >= leg.answered_at + TIMEOUT {
                    // Timer H: no ACK. The phone may think it is connected: say goodbye.
                    self.events.push_back(DialInEvent::Unacknowledged { owner: leg.owner });
                    let bytes = leg.bye(now);
                    self.transmit.push_back((leg.peer, leg.tcp, bytes));
                } else if now >= leg.next_ok {
                    leg.interval = (leg.interval * 2).min(T2);
                    leg.next_ok = now + leg.interval;
                    if !leg.tcp {
                        self.transmit.push_back((leg.peer, leg.tcp, leg.ok.clone()));
                    }
                }
            }
            if let Some(bye) = leg.bye.as_mut() {
                match bye.handle_timeout(now) {
                    TimerAction::Retransmit(bytes) if !leg.tcp => {
                        self.transmit.push_back((leg.peer, leg.tcp, bytes));
                    }
                    TimerAction::Retransmit(_) => {}
                    TimerAction::TimedOut => {
                        tracing::warn!(leg = %leg.owner, "BYE never answered");
                    }
                    TimerAction::Nothing => {}
                }
            }
        }
        self.legs.retain(|_, l| {
            let bye_done = l.bye.as_ref().is_none_or(NonInviteClient::is_done);
            let lingering = l.linger_until.is_some_and(|t| now < t);
            l.phase != Phase::Ended || !bye_done || lingering
        });
    }

    /// The next message to send, with its destination and whether it goes back on the TCP
    /// connection its leg came on.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, bool, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// The next leg event.
    pub fn poll_event(&mut self) -> Option<DialInEvent<K>> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::StartLine;
    use ringa_core::AgentId;

    const PHONE: &str = "127.0.0.5:5062";

    fn invite(cseq: u32) -> SipMessage {
        let mut m = SipMessage::request("INVITE", "sip:ringa@127.0.0.1:5060");
        m.push("Via", "SIP/2.0/UDP 127.0.0.5:5062;branch=z9hG4bKphone")
            .push("From", "<sip:agent1@127.0.0.1>;tag=ph1")
            .push("To", "<sip:ringa@127.0.0.1>")
            .push("Call-ID", "dial-in-1")
            .push("CSeq", format!("{cseq} INVITE"))
            .push("Contact", "<sip:agent1@127.0.0.5:5062>");
        m.body = b"v=0\r\n".to_vec();
        m
    }

    fn request(method: &str, cseq: u32) -> SipMessage {
        let mut m = SipMessage::request(method, "sip:ringa@127.0.0.1:5060");
        m.push("Via", "SIP/2.0/UDP 127.0.0.5:5062;branch=z9hG4bKx")
            .push("From", "<sip:agent1@127.0.0.1>;tag=ph1")
            .push("To", "<sip:ringa@127.0.0.1>;tag=any")
            .push("Call-ID", "dial-in-1")
            .push("CSeq", format!("{cseq} {method}"));
        m
    }

    fn sent(d: &mut DialIns<AgentId>) -> Vec<SipMessage> {
        let mut out = Vec::new();
        while let Some((to, _, bytes)) = d.poll_transmit() {
            assert_eq!(to, PHONE.parse().expect("literal"));
            out.push(SipMessage::parse(&bytes).expect("we send valid SIP"));
        }
        out
    }

    fn legs(t0: Instant) -> DialIns<AgentId> {
        let mut d = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        let peer = PHONE.parse().expect("literal");
        d.answer(t0, AgentId(7), peer, &invite(2), "v=0 ours".into()).expect("answerable");
        d
    }

    #[test]
    fn the_answer_is_repeated_until_the_ack_and_carries_our_tag_and_sdp() {
        let t0 = Instant::now();
        let mut d = legs(t0);
        let ok = sent(&mut d).remove(0);
        assert_eq!(ok.code(), Some(200));
        let to = ok.header("To").expect("To");
        assert!(param(to, "tag").is_some(), "{to}");
        assert_eq!(ok.body, b"v=0 ours");
        assert!(d.has(AgentId(7)));
        // Timer G: 0.5 s, then 1 s later, then 2 s later.
        let mut resent = Vec::new();
        for ms in (0..=4000).step_by(50) {
            d.handle_timeout(t0 + Duration::from_millis(ms));
            if !sent(&mut d).is_empty() {
                resent.push(ms);
            }
        }
        assert_eq!(resent, vec![500, 1500, 3500]);
        // A repeated INVITE gets the same 200; the ACK stops the timer.
        assert!(d.handle_message(t0, &invite(2)));
        assert_eq!(sent(&mut d).len(), 1);
        assert!(d.handle_message(t0, &request("ACK", 2)));
        d.handle_timeout(t0 + Duration::from_secs(10));
        assert!(sent(&mut d).is_empty());
        assert!(d.poll_event().is_none());
    }

    #[test]
    fn without_an_ack_the_leg_is_given_up_with_a_bye_at_timer_h() {
        let t0 = Instant::now();
        let mut d = legs(t0);
        sent(&mut d);
        d.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(d.poll_event(), Some(DialInEvent::Unacknowledged { owner: AgentId(7) }));
        let bye = sent(&mut d).pop().expect("a BYE");
        assert_eq!(bye.method(), Some("BYE"));
        let StartLine::Request { uri, .. } = &bye.start else { panic!("a request") };
        assert_eq!(uri, "sip:agent1@127.0.0.5:5062");
        assert!(!d.has(AgentId(7)));
    }

    #[test]
    fn the_phones_bye_ends_the_leg_and_ours_is_retransmitted_until_answered() {
        let t0 = Instant::now();
        let mut d = legs(t0);
        d.handle_message(t0, &request("ACK", 2));
        sent(&mut d);
        // In the dialog: OPTIONS and a re-INVITE are answered.
        d.handle_message(t0, &request("OPTIONS", 3));
        d.handle_message(t0, &request("INVITE", 4));
        let answers = sent(&mut d);
        assert_eq!(answers.iter().map(SipMessage::code).collect::<Vec<_>>(), [Some(200); 2]);
        assert_eq!(answers[1].body, b"v=0 ours");
        let mut moved = request("INVITE", 5);
        moved.body = b"v=0 moved".to_vec();
        d.handle_message(t0, &moved);
        sent(&mut d);
        let sdp = "v=0 moved".to_string();
        assert_eq!(d.poll_event(), Some(DialInEvent::Offer { owner: AgentId(7), sdp }));

        d.hangup(t0, AgentId(7));
        let bye = sent(&mut d).pop().expect("our BYE");
        assert_eq!(bye.header("To"), Some("<sip:agent1@127.0.0.1>;tag=ph1"));
        assert!(!d.has(AgentId(7)));
        d.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(sent(&mut d).len(), 1, "retransmitted on timer E");
        let mut ok = SipMessage::response(200, "OK");
        ok.push("Call-ID", "dial-in-1").push("CSeq", "1 BYE");
        d.handle_message(t0, &ok);
        d.handle_timeout(t0 + Duration::from_secs(2));
        assert!(sent(&mut d).is_empty());
        assert!(d.legs.is_empty(), "forgotten once the BYE is answered");

        let mut d = legs(t0);
        d.handle_message(t0, &request("ACK", 2));
        d.handle_message(t0, &request("BYE", 3));
        assert_eq!(d.poll_event(), Some(DialInEvent::HungUp { owner: AgentId(7) }));
        assert_eq!(sent(&mut d).pop().and_then(|m| m.code()), Some(200));
        d.handle_message(t0, &request("BYE", 3));
        assert_eq!(sent(&mut d).pop().and_then(|m| m.code()), Some(200), "answered again");
        assert!(d.poll_event().is_none());
    }

    #[test]
    fn a_ringing_leg_is_answered_refused_or_cancelled_as_its_owner_or_caller_says() {
        let t0 = Instant::now();
        let peer = PHONE.parse().expect("literal");
        let ringing = |d: &mut DialIns<AgentId>| {
            d.ring(t0, AgentId(7), peer, &invite(2), "v=0 ours".into(), false).expect("answerable");
            let r = sent(d).remove(0);
            assert_eq!(r.code(), Some(180));
            assert!(param(r.header("To").expect("To"), "tag").is_some());
        };
        // Accepted: our 200 with the SDP, and timer G from then on.
        let mut d = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        ringing(&mut d);
        d.handle_timeout(t0 + Duration::from_secs(3));
        assert!(sent(&mut d).is_empty(), "nothing is sent while it rings");
        assert!(d.is_ringing(AgentId(7)));
        let t1 = t0 + Duration::from_secs(3);
        assert!(d.accept(t1, AgentId(7)));
        let ok = sent(&mut d).remove(0);
        assert_eq!((ok.code(), ok.body.as_slice()), (Some(200), b"v=0 ours".as_slice()));
        assert!(!d.accept(t1, AgentId(7)), "answered once");
        d.handle_timeout(t1 + Duration::from_millis(500));
        assert_eq!(sent(&mut d).len(), 1, "timer G runs from the answer");

        // Refused: the final response until the ACK, then nothing.
        let mut d = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        ringing(&mut d);
        assert!(d.reject(t0, AgentId(7), 480, "Temporarily Unavailable"));
        assert_eq!(sent(&mut d).remove(0).code(), Some(480));
        assert!(!d.has(AgentId(7)));
        d.handle_timeout(t0 + Duration::from_millis(500));
        assert_eq!(sent(&mut d).remove(0).code(), Some(480), "sent again on timer G");
        assert!(d.handle_message(t0, &request("ACK", 2)));
        d.handle_timeout(t0 + Duration::from_secs(10));
        assert!(sent(&mut d).is_empty());
        assert!(d.legs.is_empty(), "forgotten after timer I");
        assert!(d.poll_event().is_none());

        // Cancelled by the caller: 200 for the CANCEL, 487 for the INVITE, and the event.
        let mut d = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        ringing(&mut d);
        assert!(d.handle_message(t0, &request("CANCEL", 2)));
        let codes: Vec<_> = sent(&mut d).iter().map(SipMessage::code).collect();
        assert_eq!(codes, [Some(200), Some(487)]);
        assert_eq!(d.poll_event(), Some(DialInEvent::Cancelled { owner: AgentId(7) }));
        assert!(!d.accept(t0, AgentId(7)), "a cancelled leg is never answered");
        // The owner's hang-up of a ringing leg refuses it with 480.
        let mut d = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        ringing(&mut d);
        d.hangup(t0, AgentId(7));
        assert_eq!(sent(&mut d).remove(0).code(), Some(480));
    }

    #[test]
    fn an_invite_without_a_contact_or_from_tag_is_not_answered() {
        let t0 = Instant::now();
        let mut d: DialIns<AgentId> = DialIns::new("127.0.0.1:5060".parse().expect("literal"));
        let peer = PHONE.parse().expect("literal");
        let mut m = invite(1);
        m.headers.retain(|(n, _)| n != "Contact");
        assert!(d.answer(t0, AgentId(1), peer, &m, String::new()).is_err());
        let mut m = invite(1);
        m.headers.retain(|(n, _)| n != "From");
        m.push("From", "<sip:agent1@127.0.0.1>");
        assert!(d.answer(t0, AgentId(1), peer, &m, String::new()).is_err());
        assert!(sent(&mut d).is_empty());
    }
}
