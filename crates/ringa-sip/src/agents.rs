//! Legs to agents' phones, sans-IO. ringa calls the agent's SIP address straight (never
//! through a trunk), in one of two ways: a per-call leg is placed when the engine connects
//! an answered customer and lives exactly as long as that customer call (its events name the
//! call); a nailed-up leg is placed once when the agent becomes ready and stays up for the
//! shift, customer after customer (its events name the agent only). Datagrams to send come
//! out with their destination. A leg that is over is forgotten by its call or agent at once,
//! but kept for the wire while its BYE or CANCEL is retransmitted (RFC 3261 timers E/F, given
//! up after 32 s) and the phone's repeated responses are answered.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use ringa_core::{AgentId, CallId};

use crate::message::SipMessage;
use crate::sdp;
use crate::uac::{Phase, UacCall, UacEvent, UacParams};

/// An agent's phone address that ringa cannot call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUriError(pub String);

impl fmt::Display for AgentUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent phone {:?} is not sip:user@ip:port", self.0)
    }
}

impl std::error::Error for AgentUriError {}

/// Splits `sip:user@ip:port` into the user part and the address (a literal IP; the port
/// defaults to 5060).
pub fn parse_agent_uri(uri: &str) -> Result<(String, SocketAddr), AgentUriError> {
    let err = || AgentUriError(uri.to_string());
    let rest = uri.trim().strip_prefix("sip:").ok_or_else(err)?;
    let rest = rest.split(';').next().unwrap_or(rest);
    let (user, host) = rest.split_once('@').ok_or_else(err)?;
    if user.is_empty() {
        return Err(err());
    }
    let addr = host
        .parse::<SocketAddr>()
        .or_else(|_| host.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 5060)))
        .map_err(|_| err())?;
    Ok((user.to_string(), addr))
}

/// What happened on an agent leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentLegEvent {
    /// The phone answered with this SDP.
    Answered {
        /// The customer call the leg serves.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The phone's SDP answer.
        sdp: String,
    },
    /// The phone did not answer (busy, unreachable, 408 after timer B).
    Failed {
        /// The customer call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The SIP code.
        code: u16,
    },
    /// The phone hung up.
    HungUp {
        /// The customer call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// The phone sent a new offer in the dialog (re-INVITE or UPDATE): its media may have
    /// moved.
    Offer {
        /// The customer call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// The phone's SDP.
        sdp: String,
    },
    /// The phone of a nailed-up leg sent a new offer in the dialog.
    NailedOffer {
        /// The agent.
        agent: AgentId,
        /// The phone's SDP.
        sdp: String,
    },
    /// The agent's nailed-up leg answered with this SDP.
    NailedAnswered {
        /// The agent.
        agent: AgentId,
        /// The phone's SDP answer.
        sdp: String,
    },
    /// The agent's phone did not answer the nailed-up leg.
    NailedFailed {
        /// The agent.
        agent: AgentId,
        /// The SIP code.
        code: u16,
    },
    /// The agent's phone hung up its nailed-up leg.
    NailedHungUp {
        /// The agent.
        agent: AgentId,
    },
}

/// What a leg serves: one customer call, or an agent's whole shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LegKey {
    Call(CallId),
    Nailed(AgentId),
}

#[derive(Debug)]
struct Leg {
    agent: AgentId,
    dest: SocketAddr,
    uac: UacCall,
}

/// The agent legs of one driver.
#[derive(Debug)]
pub struct AgentLegs {
    local: SocketAddr,
    instance: String,
    legs: HashMap<LegKey, Leg>,
    by_call_id: HashMap<String, LegKey>,
    /// Legs that are over with work left on the wire, by Call-ID.
    lingering: HashMap<String, (SocketAddr, UacCall)>,
    /// The latest instant given (for [`AgentLegs::hangup`], which takes none).
    now: Option<Instant>,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<AgentLegEvent>,
    /// Nailed-up legs placed so far, for unique Call-IDs across re-dials.
    serial: u64,
}

impl AgentLegs {
    /// Legs leave from our SIP address `local`; `instance` keeps Call-IDs unique.
    pub fn new(local: SocketAddr, instance: &str) -> AgentLegs {
        AgentLegs {
            local,
            instance: instance.to_string(),
            legs: HashMap::new(),
            by_call_id: HashMap::new(),
            lingering: HashMap::new(),
            now: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            serial: 0,
        }
    }

    /// Calls `agent`'s phone at `uri` for customer `call`, offering media at `media`;
    /// `caller` is shown on the phone (the customer's number).
    pub fn dial(
        &mut self,
        now: Instant,
        call: CallId,
        agent: AgentId,
        uri: &str,
        media: SocketAddr,
        caller: &str,
    ) -> Result<(), AgentUriError> {
        self.start(now, LegKey::Call(call), agent, uri, caller, media)
    }

    /// Calls `agent`'s phone at `uri` for a nailed-up leg that stays up across customer
    /// calls, offering media at `media`; the phone shows `ringa` as the caller.
    pub fn dial_nailed(
        &mut self,
        now: Instant,
        agent: AgentId,
        uri: &str,
        media: SocketAddr,
    ) -> Result<(), AgentUriError> {
        self.start(now, LegKey::Nailed(agent), agent, uri, "ringa", media)
    }

    /// Sends the INVITE of `agent`'s leg `key` to the phone at `uri`, showing `caller`,
    /// offering media at `media`.
    fn start(
        &mut self,
        now: Instant,
        key: LegKey,
        agent: AgentId,
        uri: &str,
        caller: &str,
        media: SocketAddr,
    ) -> Result<(), AgentUriError> {
        self.advance(now);
        let (user, dest) = parse_agent_uri(uri)?;
        let (call_id, sdp_offer) = match key {
            LegKey::Call(call) => (
                format!("a{}-{}-{}@ringa", agent.0, call.get(), self.instance),
                sdp::offer(call.get(), media),
            ),
            LegKey::Nailed(_) => {
                // A fresh Call-ID for every leg of the shift, placed again after a hangup.
                self.serial += 1;
                (
                    format!("n{}-{}-{}@ringa", agent.0, self.serial, self.instance),
                    sdp::offer(agent.0 ^ (self.serial << 32), media),
                )
            }
        };
        let params = UacParams {
            call_id: call_id.clone(),
            number: user,
            caller_id: caller.to_string(),
            local: self.local,
            trunk: dest,
            credentials: None,
            sdp_offer,
        };
        self.by_call_id.insert(call_id, key);
        self.legs.insert(key, Leg { agent, dest, uac: UacCall::start(now, params) });
        self.collect();
        Ok(())
    }

    fn advance(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |t| t.max(now)));
    }

    /// Ends the leg of `call` at `now` (BYE, or CANCEL while it rings).
    pub fn hangup_at(&mut self, now: Instant, call: CallId) {
        self.end(now, LegKey::Call(call));
    }

    /// [`AgentLegs::hangup_at`] at the latest instant given to the legs (the BYE's
    /// retransmission timers count from there).
    pub fn hangup(&mut self, call: CallId) {
        if let Some(now) = self.now {
            self.end(now, LegKey::Call(call));
        }
    }

    /// Ends `agent`'s nailed-up leg at `now`.
    pub fn hangup_nailed_at(&mut self, now: Instant, agent: AgentId) {
        self.end(now, LegKey::Nailed(agent));
    }

    /// [`AgentLegs::hangup_nailed_at`] at the latest instant given to the legs.
    pub fn hangup_nailed(&mut self, agent: AgentId) {
        if let Some(now) = self.now {
            self.end(now, LegKey::Nailed(agent));
        }
    }

    fn end(&mut self, now: Instant, key: LegKey) {
        self.advance(now);
        if let Some(leg) = self.legs.get_mut(&key) {
            leg.uac.hangup_at(now);
        }
        self.collect();
    }

    /// Whether `call` has a leg in progress.
    pub fn has_leg(&self, call: CallId) -> bool {
        self.legs.contains_key(&LegKey::Call(call))
    }

    /// Whether `agent` has a nailed-up leg being placed or up.
    pub fn has_nailed(&self, agent: AgentId) -> bool {
        self.legs.contains_key(&LegKey::Nailed(agent))
    }

    /// Handles a message; false when it belongs to no agent leg.
    pub fn handle_message(&mut self, now: Instant, m: &SipMessage) -> bool {
        self.advance(now);
        let Some(id) = m.header("Call-ID") else { return false };
        if let Some((dest, uac)) = self.lingering.get_mut(id) {
            uac.handle_message(now, m);
            if drain(*dest, uac, &mut self.transmit) {
                self.lingering.remove(id);
            }
            return true;
        }
        let Some(key) = self.by_call_id.get(id).copied() else {
            return false;
        };
        if let Some(leg) = self.legs.get_mut(&key) {
            leg.uac.handle_message(now, m);
        }
        self.collect();
        true
    }

    /// When [`AgentLegs::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lingering = self.lingering.values().map(|(_, uac)| uac);
        self.legs.values().map(|l| &l.uac).chain(lingering).filter_map(UacCall::poll_timeout).min()
    }

    /// Retransmissions, timer B (INVITE) and timer F (BYE, CANCEL).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        for leg in self.legs.values_mut() {
            leg.uac.handle_timeout(now);
        }
        let transmit = &mut self.transmit;
        self.lingering.retain(|_, (dest, uac)| {
            uac.handle_timeout(now);
            !drain(*dest, uac, transmit)
        });
        self.collect();
    }

    /// Legs that are over but still retransmitting a BYE or CANCEL, or answering repeats; not
    /// those only kept for timer K to absorb repeats of the response to their BYE or CANCEL.
    pub fn lingering(&self) -> usize {
        self.lingering.values().filter(|(_, uac)| !uac.is_settled()).count()
    }

    fn collect(&mut self) {
        let mut ended = Vec::new();
        for (&key, leg) in &mut self.legs {
            while let Some(d) = leg.uac.poll_transmit() {
                self.transmit.push_back((leg.dest, d));
            }
            let agent = leg.agent;
            while let Some(ev) = leg.uac.poll_event() {
                let event = match (key, ev) {
                    (_, UacEvent::Ringing | UacEvent::Refreshed) => continue,
                    (LegKey::Call(call), UacEvent::Offer { sdp }) => {
                        AgentLegEvent::Offer { call, agent, sdp }
                    }
                    (LegKey::Nailed(_), UacEvent::Offer { sdp }) => {
                        AgentLegEvent::NailedOffer { agent, sdp }
                    }
                    (LegKey::Call(call), UacEvent::Answered { sdp }) => {
                        AgentLegEvent::Answered { call, agent, sdp }
                    }
                    (LegKey::Call(call), UacEvent::Failed { code }) => {
                        AgentLegEvent::Failed { call, agent, code }
                    }
                    (LegKey::Call(call), UacEvent::RemoteHangup) => {
                        AgentLegEvent::HungUp { call, agent }
                    }
                    (LegKey::Nailed(_), UacEvent::Answered { sdp }) => {
                        AgentLegEvent::NailedAnswered { agent, sdp }
                    }
                    (LegKey::Nailed(_), UacEvent::Failed { code }) => {
                        AgentLegEvent::NailedFailed { agent, code }
                    }
                    (LegKey::Nailed(_), UacEvent::RemoteHangup) => {
                        AgentLegEvent::NailedHungUp { agent }
                    }
                };
                self.events.push_back(event);
            }
            if leg.uac.phase() == Phase::Terminated {
                ended.push(key);
            }
        }
        for key in ended {
            if let Some(leg) = self.legs.remove(&key) {
                self.by_call_id.remove(leg.uac.call_id());
                if !leg.uac.is_finished() {
                    self.lingering.insert(leg.uac.call_id().to_string(), (leg.dest, leg.uac));
                }
            }
        }
    }

    /// The next datagram and where it goes.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// The next leg event.
    pub fn poll_event(&mut self) -> Option<AgentLegEvent> {
        self.events.pop_front()
    }
}

/// Moves an ended leg's datagrams (to `dest`) to `transmit` and drops its events (the owner
/// heard of its end already); returns whether the leg is finished.
fn drain(
    dest: SocketAddr,
    uac: &mut UacCall,
    transmit: &mut VecDeque<(SocketAddr, Vec<u8>)>,
) -> bool {
    while let Some(d) = uac.poll_transmit() {
        transmit.push_back((dest, d));
    }
    while uac.poll_event().is_some() {}
    uac.is_finished()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_uris_parse_to_user_and_address() {
        assert_eq!(
            parse_agent_uri("sip:agent1@127.0.0.1:5071"),
            Ok(("agent1".to_string(), "127.0.0.1:5071".parse().expect("literal")))
        );
        assert_eq!(
            parse_agent_uri("sip:7@127.0.0.2;transport=udp"),
            Ok(("7".to_string(), "127.0.0.2:5060".parse().expect("literal")))
        );
        assert!(parse_agent_uri("sip:agent1@phone.example").is_err());
        assert!(parse_agent_uri("tel:+331").is_err());
        assert!(parse_agent_uri("sip:@127.0.0.1").is_err());
    }

    #[test]
    fn a_leg_is_dialled_answered_and_hung_up() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal");
        let media = "127.0.0.1:40000".parse().expect("literal");
        let mut legs = AgentLegs::new(local, "t");
        legs.dial(t0, CallId(5), AgentId(2), "sip:a2@127.0.0.1:5072", media, "+331")
            .expect("valid uri");
        let (dest, invite) = legs.poll_transmit().expect("INVITE to the phone");
        assert_eq!(dest, "127.0.0.1:5072".parse().expect("literal"));
        let invite = SipMessage::parse(&invite).expect("valid INVITE");
        assert!(invite.header("P-Asserted-Identity").expect("PAI").contains("+331"));
        let mut ok = SipMessage::response(200, "OK");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut v = invite.header(name).expect("present").to_string();
            if name == "To" {
                v.push_str(";tag=phone");
            }
            ok.push(name, v);
        }
        ok.body = b"v=0\r\n".to_vec();
        assert!(legs.handle_message(t0, &ok));
        assert_eq!(
            legs.poll_event(),
            Some(AgentLegEvent::Answered {
                call: CallId(5),
                agent: AgentId(2),
                sdp: "v=0\r\n".to_string()
            })
        );
        let (_, ack) = legs.poll_transmit().expect("ACK");
        legs.hangup(CallId(5));
        let (_, bye) = legs.poll_transmit().expect("BYE");
        assert!(bye.starts_with(b"BYE "));
        assert!(!legs.has_leg(CallId(5)));
        assert!(legs.handle_message(t0, &ok), "a repeated 200 is still the leg's");
        assert_eq!(legs.poll_transmit(), Some((dest, ack)), "and is acknowledged again");
        assert_eq!(legs.poll_event(), None);
        assert!(legs.handle_message(t0, &bye_ok(&bye)));
        let timer_k = t0 + crate::transaction::TIMER_K;
        legs.handle_timeout(timer_k);
        assert!(!legs.handle_message(timer_k, &ok), "forgotten once its BYE is answered (+ K)");
    }

    fn answer(legs: &mut AgentLegs, now: Instant, invite: &[u8]) {
        let invite = SipMessage::parse(invite).expect("valid INVITE");
        let mut ok = SipMessage::response(200, "OK");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut v = invite.header(name).expect("present").to_string();
            if name == "To" {
                v.push_str(";tag=phone");
            }
            ok.push(name, v);
        }
        assert!(legs.handle_message(now, &ok));
    }

    fn bye_ok(bye: &[u8]) -> SipMessage {
        let bye = SipMessage::parse(bye).expect("valid BYE");
        let mut ok = SipMessage::response(200, "OK");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            ok.push(name, bye.header(name).expect("present").to_string());
        }
        ok
    }

    /// Runs the legs' timers until `until`; the offsets from `from` at which `wanted` went out.
    fn resent(legs: &mut AgentLegs, wanted: &[u8], from: Instant, until: Instant) -> Vec<f64> {
        let mut at = Vec::new();
        while let Some(due) = legs.poll_timeout() {
            if due > until {
                break;
            }
            legs.handle_timeout(due);
            while let Some((_, d)) = legs.poll_transmit() {
                if d == wanted {
                    at.push((due - from).as_secs_f64());
                }
            }
        }
        at
    }

    #[test]
    fn a_nailed_legs_lost_bye_is_retransmitted_until_answered() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal");
        let media = "127.0.0.1:40000".parse().expect("literal");
        let phone: SocketAddr = "127.0.0.1:5073".parse().expect("literal");
        let mut legs = AgentLegs::new(local, "t");
        legs.dial_nailed(t0, AgentId(3), "sip:a3@127.0.0.1:5073", media).expect("valid uri");
        let (_, invite) = legs.poll_transmit().expect("INVITE");
        answer(&mut legs, t0, &invite);
        assert!(matches!(legs.poll_event(), Some(AgentLegEvent::NailedAnswered { .. })));
        let _ack = legs.poll_transmit().expect("ACK");
        let t1 = t0 + std::time::Duration::from_secs(60);
        legs.hangup_nailed_at(t1, AgentId(3));
        let (dest, bye) = legs.poll_transmit().expect("BYE");
        assert_eq!(dest, phone);
        assert!(!legs.has_nailed(AgentId(3)), "the agent has no leg any more");
        assert_eq!(legs.lingering(), 1);
        let until = t1 + std::time::Duration::from_secs(4);
        assert_eq!(resent(&mut legs, &bye, t1, until), [0.5, 1.5, 3.5]);
        assert!(legs.handle_message(until, &bye_ok(&bye)));
        assert_eq!(legs.lingering(), 0, "nothing more awaited from the phone");
        let timer_k = until + crate::transaction::TIMER_K;
        assert_eq!(legs.poll_timeout(), Some(timer_k), "only timer K runs");
        // The phone repeats its 200 a second later: absorbed, nothing sent or reported.
        let repeat = until + std::time::Duration::from_secs(1);
        assert!(legs.handle_message(repeat, &bye_ok(&bye)), "absorbed");
        assert_eq!(legs.poll_transmit(), None);
        assert_eq!(legs.poll_event(), None);
        // After timer K the leg is forgotten: a late 200 is no longer the legs'.
        legs.handle_timeout(timer_k);
        assert_eq!(legs.poll_timeout(), None);
        assert!(!legs.handle_message(timer_k, &bye_ok(&bye)), "forgotten");
    }

    #[test]
    fn a_per_call_legs_bye_is_given_up_at_timer_f() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal");
        let media = "127.0.0.1:40000".parse().expect("literal");
        let mut legs = AgentLegs::new(local, "t");
        legs.dial(t0, CallId(8), AgentId(1), "sip:a1@127.0.0.1:5071", media, "+331")
            .expect("valid uri");
        let (_, invite) = legs.poll_transmit().expect("INVITE");
        answer(&mut legs, t0, &invite);
        let _ = legs.poll_transmit();
        // hangup() takes the latest instant the legs were given (here t0).
        legs.hangup(CallId(8));
        let (_, bye) = legs.poll_transmit().expect("BYE");
        let until = t0 + std::time::Duration::from_secs(100);
        let at = resent(&mut legs, &bye, t0, until);
        assert_eq!(at, [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]);
        assert_eq!(legs.lingering(), 0, "timer F ended it");
        assert_eq!(legs.poll_timeout(), None);
    }
}
