//! The engine's calls on the trunks, sans-IO: turns the engine's `Originate`, `Cancel`,
//! `Drop` and `Hangup` commands into outbound INVITE dialogs, enforces each trunk's line and
//! calls-per-second limits and the ring timeout, routes datagrams by Call-ID, and reports
//! back `Input::Call` events with the call result and SIP code. A call goes to the first
//! trunk, in the configured order, with a free line and room in its rate; a trunk that fails
//! it before it rang (500, 502, 503, 504, or no answer at all) hands it to the next trunk not
//! yet tried. A call whose dialog is over is reported ended at once (its line is free); it is
//! kept apart, only for the wire, while its BYE or CANCEL is retransmitted (RFC 3261 timers
//! E/F) and the peer's repeated responses are answered.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringa_core::{CallId, CallResult};
use ringa_engine::{CallEvent, Command, Input, io::AnsweredBy};

use crate::config::TrunkConfig;
use crate::limits::TrunkGate;
use crate::message::SipMessage;
use crate::sdp;
use crate::uac::{Phase, UacCall, UacEvent, UacParams};

/// The caller ID presented when the engine gives none.
const ANONYMOUS: &str = "anonymous";

#[derive(Debug)]
struct Entry {
    uac: UacCall,
    ring_deadline: Option<Instant>,
    answered: bool,
    amd: bool,
    /// The trunk carrying the call now, and every trunk tried for it.
    trunk: usize,
    tried: Vec<usize>,
    /// A provisional response above 100 came (the far end was reached).
    rang: bool,
    /// We cancelled or hung up the call.
    ended_by_us: bool,
    dial: Dial,
}

/// What a call was placed with, to place it again on another trunk.
#[derive(Debug, Clone)]
struct Dial {
    number: String,
    caller_id: Option<String>,
    media: SocketAddr,
}

/// Failures after which the next trunk is tried, when the far end never rang.
fn fails_over(code: u16) -> bool {
    matches!(code, 408 | 500 | 502 | 503 | 504)
}

/// An answered call for the media layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The engine's call.
    pub call: CallId,
    /// The peer's SDP answer.
    pub sdp: String,
    /// Whether the engine wants answering-machine detection: the answer then reaches the
    /// engine only once the owner reports the verdict.
    pub amd: bool,
}

/// The calls on the trunks.
#[derive(Debug)]
pub struct TrunkCalls {
    trunks: Vec<TrunkConfig>,
    gates: Vec<TrunkGate>,
    local: SocketAddr,
    media: SocketAddr,
    instance: String,
    calls: HashMap<CallId, Entry>,
    by_call_id: HashMap<String, CallId>,
    /// Ended calls with work left on the wire (a BYE awaiting its answer...), by Call-ID,
    /// with their trunk.
    lingering: HashMap<String, (usize, UacCall)>,
    inputs: VecDeque<Input>,
    /// Datagrams and the index of the trunk they go to.
    transmit: VecDeque<(usize, Vec<u8>)>,
    answers: VecDeque<Answer>,
    /// New SDP offers from re-INVITE/UPDATE, for the media to follow.
    offers: VecDeque<(CallId, String)>,
    ended: VecDeque<CallId>,
}

impl TrunkCalls {
    /// Calls leave from our SIP address `local`, offering media at `media`; `instance`
    /// makes Call-IDs unique across restarts (e.g. start time and process id).
    pub fn new(
        now: Instant,
        trunk: TrunkConfig,
        local: SocketAddr,
        media: SocketAddr,
        instance: &str,
    ) -> Self {
        TrunkCalls::with_trunks(now, vec![trunk], local, media, instance)
    }

    /// As [`TrunkCalls::new`] over several trunks, in order of preference (at least one).
    pub fn with_trunks(
        now: Instant,
        trunks: Vec<TrunkConfig>,
        local: SocketAddr,
        media: SocketAddr,
        instance: &str,
    ) -> Self {
        let gates = trunks.iter().map(|t| TrunkGate::new(now, t.line_limit, t.cps)).collect();
        TrunkCalls {
            trunks,
            gates,
            local,
            media,
            instance: instance.to_string(),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            lingering: HashMap::new(),
            inputs: VecDeque::new(),
            transmit: VecDeque::new(),
            answers: VecDeque::new(),
            offers: VecDeque::new(),
            ended: VecDeque::new(),
        }
    }

    /// Executes a command of the engine; returns false for commands that are not telephony.
    /// Calls are offered media at the address given to [`TrunkCalls::new`]; see
    /// [`TrunkCalls::handle_originate`] for a media address per call.
    pub fn handle_command(&mut self, now: Instant, command: &Command) -> bool {
        match command {
            Command::Originate { .. } => {
                let media = self.media;
                self.handle_originate(now, command, media);
                return true;
            }
            Command::Cancel { call } => {
                // The engine gave up on the call: an answer it has not heard of yet (the
                // detector was still listening) is hung up.
                if let Some(e) = self.calls.get_mut(call) {
                    e.ended_by_us = true;
                    if e.answered { e.uac.hangup_at(now) } else { e.uac.cancel_at(now) }
                }
            }
            Command::Drop { call, .. } | Command::Hangup { call } => {
                if let Some(e) = self.calls.get_mut(call) {
                    e.ended_by_us = true;
                    e.uac.hangup_at(now);
                }
            }
            Command::Connect { .. } => {}
            _ => return false,
        }
        self.collect(now);
        true
    }

    /// Places the call of an `Originate` command offering media at `media` (other commands
    /// are ignored).
    pub fn handle_originate(&mut self, now: Instant, command: &Command, media: SocketAddr) {
        if let Command::Originate { call, number, caller_id, ring_timeout, amd, .. } = command {
            self.originate(
                now,
                *call,
                number.as_str(),
                caller_id.as_ref().map(|c| c.as_str()),
                Duration::try_from(*ring_timeout).unwrap_or(Duration::ZERO),
                (*amd, media),
            );
        }
        self.collect(now);
    }

    fn originate(
        &mut self,
        now: Instant,
        call: CallId,
        number: &str,
        caller_id: Option<&str>,
        ring_timeout: Duration,
        (amd, media): (bool, SocketAddr),
    ) {
        let dial =
            Dial { number: number.to_string(), caller_id: caller_id.map(str::to_string), media };
        let Some(trunk) = self.acquire(now, call, &[]) else {
            // The call never reached the network: congestion on our side, no SIP code.
            self.inputs.push_back(Input::Call {
                call,
                event: CallEvent::Failed { result: CallResult::Congestion, sip_code: None },
            });
            return;
        };
        let uac = self.start(now, call, trunk, &dial, 0);
        let ring_deadline = (!ring_timeout.is_zero()).then(|| now + ring_timeout);
        let entry = Entry {
            uac,
            ring_deadline,
            answered: false,
            amd,
            trunk,
            tried: vec![trunk],
            rang: false,
            ended_by_us: false,
            dial,
        };
        self.calls.insert(call, entry);
    }

    /// The first trunk not in `tried` with a free line and room in its rate, its line taken.
    fn acquire(&mut self, now: Instant, call: CallId, tried: &[usize]) -> Option<usize> {
        for (i, gate) in self.gates.iter_mut().enumerate() {
            if tried.contains(&i) {
                continue;
            }
            match gate.handle_acquire(now) {
                Ok(()) => return Some(i),
                Err(refusal) => {
                    let trunk = &self.trunks[i].name;
                    tracing::warn!(%call, %trunk, ?refusal, "trunk refused the call");
                }
            }
        }
        None
    }

    /// Starts the INVITE of `call` on trunk `trunk` (the `attempt`-th trunk tried).
    fn start(
        &mut self,
        now: Instant,
        call: CallId,
        trunk: usize,
        dial: &Dial,
        attempt: usize,
    ) -> UacCall {
        let t = &self.trunks[trunk];
        let call_id = match attempt {
            0 => format!("{}-{}@ringa", call.get(), self.instance),
            n => format!("{}-{}-{n}@ringa", call.get(), self.instance),
        };
        let uac = UacCall::start_over(
            now,
            UacParams {
                call_id: call_id.clone(),
                number: dial.number.clone(),
                caller_id: dial.caller_id.as_deref().unwrap_or(ANONYMOUS).to_string(),
                local: self.local,
                trunk: t.address,
                credentials: t.username.clone().zip(t.password.clone()),
                sdp_offer: sdp::offer(call.get(), dial.media),
            },
            t.transport,
        );
        self.by_call_id.insert(call_id, call);
        uac
    }

    /// Handles a message from the trunk; returns false when it belongs to none of our calls
    /// (the caller then treats it as network-originated).
    pub fn handle_message(&mut self, now: Instant, m: &SipMessage) -> bool {
        let Some(id) = m.header("Call-ID") else { return false };
        if let Some((trunk, uac)) = self.lingering.get_mut(id) {
            uac.handle_message(now, m);
            let finished = drain(*trunk, uac, &mut self.transmit);
            if finished {
                self.lingering.remove(id);
            }
            return true;
        }
        let Some(call) = self.by_call_id.get(id).copied() else {
            return false;
        };
        if let Some(e) = self.calls.get_mut(&call) {
            e.uac.handle_message(now, m);
        }
        self.collect(now);
        true
    }

    /// Handles a datagram from the trunk (see [`TrunkCalls::handle_message`]).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> bool {
        match SipMessage::parse(datagram) {
            Ok(m) => self.handle_message(now, &m),
            Err(_) => {
                tracing::debug!("dropped a datagram that is not SIP");
                true
            }
        }
    }

    /// When [`TrunkCalls::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .flat_map(|e| [e.uac.poll_timeout(), e.ring_deadline.filter(|_| !e.answered)])
            .flatten()
            .chain(self.lingering.values().filter_map(|(_, uac)| uac.poll_timeout()))
            .min()
    }

    /// Ring timeouts and retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        for e in self.calls.values_mut() {
            if !e.answered && e.ring_deadline.is_some_and(|d| now >= d) {
                e.ring_deadline = None;
                e.ended_by_us = true;
                e.uac.cancel_at(now);
            }
            e.uac.handle_timeout(now);
        }
        let transmit = &mut self.transmit;
        self.lingering.retain(|_, (trunk, uac)| {
            uac.handle_timeout(now);
            !drain(*trunk, uac, transmit)
        });
        self.collect(now);
    }

    fn collect(&mut self, now: Instant) {
        let mut ended = Vec::new();
        let mut failover = Vec::new();
        for (&call, e) in &mut self.calls {
            while let Some(d) = e.uac.poll_transmit() {
                self.transmit.push_back((e.trunk, d));
            }
            while let Some(ev) = e.uac.poll_event() {
                let event = match ev {
                    UacEvent::Ringing => {
                        e.rang = true;
                        CallEvent::Ringing
                    }
                    UacEvent::Answered { sdp } => {
                        e.answered = true;
                        self.answers.push_back(Answer { call, sdp, amd: e.amd });
                        if e.amd {
                            // The owner reports the answer with the detector's verdict; the
                            // engine learns now when the far end picked up.
                            CallEvent::PickedUp
                        } else {
                            CallEvent::Answered { by: AnsweredBy::Human }
                        }
                    }
                    UacEvent::Failed { code }
                        if fails_over(code)
                            && !e.rang
                            && !e.answered
                            && !e.ended_by_us
                            && e.tried.len() < self.trunks.len() =>
                    {
                        // Held back: the next trunk may carry the call.
                        failover.push((call, code));
                        continue;
                    }
                    UacEvent::Failed { code: 408 } if !e.uac.heard_from_peer() => {
                        // Timer B with not even a 100 Trying: the trunk is down or
                        // unreachable, which says nothing of the contact.
                        let trunk = &self.trunks[e.trunk].name;
                        tracing::warn!(%call, %trunk, "the trunk never answered the INVITE");
                        CallEvent::Failed { result: CallResult::Congestion, sip_code: None }
                    }
                    UacEvent::Failed { code } => CallEvent::Failed {
                        result: CallResult::from_sip(code),
                        sip_code: Some(code),
                    },
                    UacEvent::RemoteHangup => CallEvent::HungUp { by_customer: true },
                    UacEvent::Refreshed => continue,
                    UacEvent::Offer { sdp } => {
                        self.offers.push_back((call, sdp));
                        continue;
                    }
                };
                self.inputs.push_back(Input::Call { call, event });
            }
            if e.uac.phase() == Phase::Terminated && !failover.iter().any(|(c, _)| *c == call) {
                ended.push(call);
            }
        }
        for (call, code) in failover {
            self.fail_over(now, call, code, &mut ended);
        }
        for call in ended {
            if let Some(e) = self.calls.remove(&call) {
                self.by_call_id.remove(e.uac.call_id());
                if let Some(gate) = self.gates.get_mut(e.trunk) {
                    gate.handle_release();
                }
                self.ended.push_back(call);
                if !e.uac.is_finished() {
                    self.lingering.insert(e.uac.call_id().to_string(), (e.trunk, e.uac));
                }
            }
        }
    }

    /// Moves `call`, which its trunk failed with `code` before it rang, to the next trunk
    /// with room; when there is none the failure goes to the engine and the call ends.
    fn fail_over(&mut self, now: Instant, call: CallId, code: u16, ended: &mut Vec<CallId>) {
        let Some(tried) = self.calls.get(&call).map(|e| e.tried.clone()) else { return };
        let Some(next) = self.acquire(now, call, &tried) else {
            let event =
                CallEvent::Failed { result: CallResult::from_sip(code), sip_code: Some(code) };
            self.inputs.push_back(Input::Call { call, event });
            ended.push(call);
            return;
        };
        let Some(dial) = self.calls.get(&call).map(|e| e.dial.clone()) else { return };
        let uac = self.start(now, call, next, &dial, tried.len());
        let Some(e) = self.calls.get_mut(&call) else { return };
        tracing::info!(
            %call,
            from = %self.trunks[e.trunk].name,
            to = %self.trunks[next].name,
            code,
            "trunk failed the call; trying the next"
        );
        let old = std::mem::replace(&mut e.uac, uac);
        let old_trunk = std::mem::replace(&mut e.trunk, next);
        e.tried.push(next);
        self.by_call_id.remove(old.call_id());
        if let Some(gate) = self.gates.get_mut(old_trunk) {
            gate.handle_release();
        }
        if !old.is_finished() {
            self.lingering.insert(old.call_id().to_string(), (old_trunk, old));
        }
        let e = self.calls.get_mut(&call);
        if let Some(e) = e {
            while let Some(d) = e.uac.poll_transmit() {
                self.transmit.push_back((e.trunk, d));
            }
        }
    }

    /// The next event for the engine.
    pub fn poll_input(&mut self) -> Option<Input> {
        self.inputs.pop_front()
    }

    /// The next datagram for the trunk (with one trunk; see [`TrunkCalls::poll_transmit_to`]).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.poll_transmit_to().map(|(_, d)| d)
    }

    /// The next datagram and the index of the trunk it goes to (in the configured order).
    pub fn poll_transmit_to(&mut self) -> Option<(usize, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// The next answered call with the peer's SDP (for the media layer).
    pub fn poll_answer(&mut self) -> Option<Answer> {
        self.answers.pop_front()
    }

    /// The next SDP a customer sent in a re-INVITE or UPDATE, with its call.
    pub fn poll_offer(&mut self) -> Option<(CallId, String)> {
        self.offers.pop_front()
    }

    /// The next call whose dialog is over (failed, hung up by either side): its media and
    /// agent leg can go.
    pub fn poll_ended(&mut self) -> Option<CallId> {
        self.ended.pop_front()
    }

    /// Whether `call` is still in progress.
    pub fn is_active(&self, call: CallId) -> bool {
        self.calls.contains_key(&call)
    }

    /// The calls in progress.
    pub fn active_calls(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// Calls in progress.
    pub fn active(&self) -> usize {
        self.calls.len()
    }

    /// Ended calls still retransmitting a BYE or CANCEL, or answering the peer's repeats; not
    /// those only kept for timer K to absorb repeats of the response to their BYE or CANCEL.
    pub fn lingering(&self) -> usize {
        self.lingering.values().filter(|(_, uac)| !uac.is_settled()).count()
    }
}

/// Moves an ended call's datagrams to `transmit` and drops its events (the owner heard of
/// its end already); returns whether the call is finished.
fn drain(trunk: usize, uac: &mut UacCall, transmit: &mut VecDeque<(usize, Vec<u8>)>) -> bool {
    while let Some(d) = uac.poll_transmit() {
        transmit.push_back((trunk, d));
    }
    while uac.poll_event().is_some() {}
    uac.is_finished()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::TIMER_K;
    use ringa_core::PhoneNumber;

    fn trunk(line_limit: u32) -> TrunkConfig {
        TrunkConfig {
            name: "t".into(),
            address: "127.0.0.1:5090".parse().expect("literal address"),
            transport: crate::config::Transport::Udp,
            username: None,
            password: None,
            line_limit,
            cps: 100.0,
        }
    }

    fn originate(call: u64, ring_secs: i64) -> Command {
        Command::Originate {
            call: CallId(call),
            attempt: ringa_core::AttemptId(call),
            campaign: ringa_core::CampaignId(1),
            contact: ringa_core::ContactId(call),
            number: PhoneNumber::from_e164("+33612345678").expect("valid number"),
            caller_id: Some(PhoneNumber::from_e164("+33612345600").expect("valid number")),
            ring_timeout: jiff::SignedDuration::from_secs(ring_secs),
            amd: false,
            agent: None,
        }
    }

    fn respond(req: &[u8], code: u16) -> Vec<u8> {
        let req = SipMessage::parse(req).expect("we send valid requests");
        let mut r = SipMessage::response(code, "X");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            let mut v = req.header(name).expect("present").to_string();
            if name == "To" {
                v.push_str(";tag=p");
            }
            r.push(name, v);
        }
        r.to_bytes()
    }

    #[test]
    fn final_codes_come_back_with_result_and_code_and_free_the_line() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let mut calls = TrunkCalls::new(t0, trunk(1), local, media, "test");
        assert!(calls.handle_command(t0, &originate(1, 30)));
        let invite = calls.poll_transmit().expect("INVITE");
        let text = String::from_utf8_lossy(&invite).into_owned();
        assert!(text.contains("From: <sip:+33612345600@127.0.0.1>"), "{text}");

        // The line limit of one refuses a second call without touching the network.
        calls.handle_command(t0, &originate(2, 30));
        assert_eq!(
            calls.poll_input(),
            Some(Input::Call {
                call: CallId(2),
                event: CallEvent::Failed { result: CallResult::Congestion, sip_code: None }
            })
        );

        calls.handle_datagram(t0, &respond(&invite, 486));
        assert_eq!(
            calls.poll_input(),
            Some(Input::Call {
                call: CallId(1),
                event: CallEvent::Failed { result: CallResult::Busy, sip_code: Some(486) }
            })
        );
        assert_eq!(calls.active(), 0);
        assert!(calls.handle_command(t0, &originate(3, 30)));
        assert_eq!(calls.active(), 1);
    }

    #[test]
    fn ring_timeout_cancels_and_reports_no_answer() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let mut calls = TrunkCalls::new(t0, trunk(5), local, media, "test");
        calls.handle_command(t0, &originate(7, 20));
        let invite = calls.poll_transmit().expect("INVITE");
        calls.handle_datagram(t0, &respond(&invite, 180));
        assert_eq!(
            calls.poll_input(),
            Some(Input::Call { call: CallId(7), event: CallEvent::Ringing })
        );
        assert_eq!(calls.poll_timeout(), Some(t0 + Duration::from_secs(20)));
        calls.handle_timeout(t0 + Duration::from_secs(20));
        let cancel = calls.poll_transmit().expect("CANCEL at the ring timeout");
        assert!(cancel.starts_with(b"CANCEL "));
        calls.handle_datagram(t0, &respond(&invite, 487));
        assert_eq!(
            calls.poll_input(),
            Some(Input::Call {
                call: CallId(7),
                event: CallEvent::Failed { result: CallResult::NoAnswer, sip_code: Some(487) }
            })
        );
    }

    #[test]
    fn a_lost_bye_is_retransmitted_after_the_call_is_reported_ended() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let mut calls = TrunkCalls::new(t0, trunk(1), local, media, "test");
        calls.handle_command(t0, &originate(9, 30));
        let invite = calls.poll_transmit().expect("INVITE");
        calls.handle_datagram(t0, &respond(&invite, 200));
        let _ack = calls.poll_transmit().expect("ACK");
        assert!(matches!(
            calls.poll_input(),
            Some(Input::Call { event: CallEvent::Answered { .. }, .. })
        ));
        let t1 = t0 + Duration::from_secs(1);
        calls.handle_command(t1, &Command::Hangup { call: CallId(9) });
        let bye = calls.poll_transmit().expect("BYE");
        assert!(bye.starts_with(b"BYE "));
        assert_eq!(calls.poll_ended(), Some(CallId(9)), "ended for the owner at once");
        assert!(!calls.is_active(CallId(9)));
        assert_eq!(calls.active(), 0);
        assert_eq!(calls.lingering(), 1);
        assert!(calls.handle_command(t1, &originate(10, 30)), "the line is free again");
        let _invite = calls.poll_transmit().expect("next call's INVITE");

        // The BYE is lost: it goes out again at 0.5, 1.5 and 3.5 s.
        let mut resent = Vec::new();
        while let Some(due) = calls.poll_timeout() {
            if due > t1 + Duration::from_secs(4) {
                break;
            }
            calls.handle_timeout(due);
            while let Some(d) = calls.poll_transmit() {
                if d == bye {
                    resent.push(due - t1);
                }
            }
        }
        let expected: Vec<Duration> =
            [500, 1500, 3500].into_iter().map(Duration::from_millis).collect();
        assert_eq!(resent, expected);
        // Its 200 is taken by the call (not left to the inbound side) and ends it.
        let answered = t1 + Duration::from_secs(4);
        assert!(calls.handle_datagram(answered, &respond(&bye, 200)));
        assert_eq!(calls.lingering(), 0);
        assert!(calls.poll_transmit().is_none());
        assert_eq!(calls.poll_input(), None, "no event for the engine about the BYE");
        // The trunk repeats its 200 a second later: absorbed (timer K), not left to the
        // inbound side, and nothing is sent or reported.
        let repeat = answered + Duration::from_secs(1);
        calls.handle_timeout(repeat);
        while calls.poll_transmit().is_some() {}
        assert!(calls.handle_datagram(repeat, &respond(&bye, 200)), "absorbed");
        assert!(calls.poll_transmit().is_none());
        assert_eq!(calls.poll_input(), None);
        assert_eq!(calls.poll_ended(), None);
        // After timer K (5 s) the call is forgotten: a late 200 is no longer ours.
        calls.handle_timeout(answered + TIMER_K);
        assert!(!calls.handle_datagram(answered + TIMER_K, &respond(&bye, 200)), "forgotten");
    }

    #[test]
    fn a_bye_never_answered_is_dropped_at_timer_f() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let mut calls = TrunkCalls::new(t0, trunk(1), local, media, "test");
        calls.handle_command(t0, &originate(4, 30));
        let invite = calls.poll_transmit().expect("INVITE");
        calls.handle_datagram(t0, &respond(&invite, 200));
        calls.handle_command(t0, &Command::Hangup { call: CallId(4) });
        let mut sent = 0;
        while let Some(due) = calls.poll_timeout() {
            assert!(due <= t0 + Duration::from_secs(32), "nothing waits past timer F");
            calls.handle_timeout(due);
            while calls.poll_transmit().is_some() {
                sent += 1;
            }
        }
        assert_eq!(sent, 2 + 10, "ACK, BYE, then ten retransmissions of the BYE");
        assert_eq!(calls.lingering(), 0);
        assert!(!calls.handle_datagram(t0, &respond(&invite, 200)), "forgotten");
    }

    fn named(name: &str, port: u16, line_limit: u32) -> TrunkConfig {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        TrunkConfig { name: name.into(), address, ..trunk(line_limit) }
    }

    #[test]
    fn calls_spill_to_the_next_trunk_when_the_first_is_full() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let trunks = vec![named("a", 5090, 1), named("b", 5091, 1)];
        let mut calls = TrunkCalls::with_trunks(t0, trunks, local, media, "test");
        calls.handle_command(t0, &originate(1, 30));
        calls.handle_command(t0, &originate(2, 30));
        let first = calls.poll_transmit_to().expect("an INVITE");
        let second = calls.poll_transmit_to().expect("an INVITE");
        assert_eq!((first.0, second.0), (0, 1), "one call per trunk");
        calls.handle_command(t0, &originate(3, 30));
        let refused = Input::Call {
            call: CallId(3),
            event: CallEvent::Failed { result: CallResult::Congestion, sip_code: None },
        };
        assert_eq!(calls.poll_input(), Some(refused), "both trunks full");
    }

    #[test]
    fn a_trunk_that_fails_a_call_before_it_rings_hands_it_to_the_next() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let trunks = vec![named("a", 5090, 5), named("b", 5091, 5)];
        let mut calls = TrunkCalls::with_trunks(t0, trunks, local, media, "test");
        calls.handle_command(t0, &originate(1, 30));
        let (trunk, invite) = calls.poll_transmit_to().expect("INVITE");
        assert_eq!(trunk, 0);
        // 503 from the first trunk: ACKed there, the call goes on at the second, the engine
        // hears nothing yet.
        assert!(calls.handle_datagram(t0, &respond(&invite, 503)));
        let (ack_trunk, ack) = calls.poll_transmit_to().expect("ACK");
        assert_eq!(ack_trunk, 0);
        assert!(ack.starts_with(b"ACK "));
        let (next, again) = calls.poll_transmit_to().expect("INVITE on the next trunk");
        assert_eq!(next, 1);
        assert!(again.starts_with(b"INVITE "));
        assert_ne!(
            SipMessage::parse(&again).expect("valid").header("Call-ID"),
            SipMessage::parse(&invite).expect("valid").header("Call-ID"),
            "a new dialog"
        );
        assert_eq!(calls.poll_input(), None);
        assert_eq!(calls.active(), 1);
        // The second trunk's answer is the call's: a 503 there goes to the engine.
        calls.handle_datagram(t0, &respond(&again, 503));
        let failed = Input::Call {
            call: CallId(1),
            event: CallEvent::Failed { result: CallResult::Congestion, sip_code: Some(503) },
        };
        assert_eq!(calls.poll_input(), Some(failed));
        assert_eq!(calls.active(), 0);
        let (_, ack) = calls.poll_transmit_to().expect("the second trunk's 503 is ACKed");
        assert!(ack.starts_with(b"ACK "));
        assert!(calls.poll_transmit_to().is_none(), "no third trunk to try");

        // A call that rang is not moved: 480 after 180 is the far end's answer.
        calls.handle_command(t0, &originate(2, 30));
        let (_, invite) = calls.poll_transmit_to().expect("INVITE");
        calls.handle_datagram(t0, &respond(&invite, 180));
        calls.handle_datagram(t0, &respond(&invite, 503));
        assert_eq!(
            calls.poll_input(),
            Some(Input::Call { call: CallId(2), event: CallEvent::Ringing })
        );
        assert!(matches!(
            calls.poll_input(),
            Some(Input::Call { event: CallEvent::Failed { sip_code: Some(503), .. }, .. })
        ));
        // Busy is an answer too, whoever says it.
        while calls.poll_transmit_to().is_some() {}
        calls.handle_command(t0, &originate(3, 30));
        let (_, invite) = calls.poll_transmit_to().expect("INVITE");
        calls.handle_datagram(t0, &respond(&invite, 486));
        assert!(matches!(
            calls.poll_input(),
            Some(Input::Call { event: CallEvent::Failed { sip_code: Some(486), .. }, .. })
        ));
    }

    #[test]
    fn a_trunk_that_never_answers_is_congestion_not_the_contacts_no_answer() {
        let t0 = Instant::now();
        let local = "127.0.0.1:5080".parse().expect("literal address");
        let media = "127.0.0.1:40000".parse().expect("literal address");
        let mut calls = TrunkCalls::new(t0, trunk(5), local, media, "test");
        calls.handle_command(t0, &originate(1, 60));
        calls.handle_command(t0, &originate(2, 60));
        let _first = calls.poll_transmit().expect("INVITE");
        let second = calls.poll_transmit().expect("INVITE");
        // The second call's trunk is there: it says 100 Trying, then 408 itself.
        calls.handle_datagram(t0, &respond(&second, 100));
        calls.handle_datagram(t0, &respond(&second, 408));
        while let Some(due) = calls.poll_timeout() {
            if due > t0 + Duration::from_secs(40) {
                break;
            }
            calls.handle_timeout(due);
            while calls.poll_transmit().is_some() {}
        }
        let mut ended = Vec::new();
        while let Some(Input::Call { call, event }) = calls.poll_input() {
            ended.push((call, event));
        }
        let silent = CallEvent::Failed { result: CallResult::Congestion, sip_code: None };
        assert!(ended.contains(&(CallId(1), silent)), "{ended:?}");
        let heard = ended.iter().find(|(c, _)| *c == CallId(2)).map(|(_, e)| e.clone());
        let timed_out =
            CallEvent::Failed { result: CallResult::from_sip(408), sip_code: Some(408) };
        assert_eq!(heard, Some(timed_out), "{ended:?}");
    }
}
