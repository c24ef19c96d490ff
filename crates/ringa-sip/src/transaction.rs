//! Client transaction timers of RFC 3261 §17.1 over UDP, sans-IO: the INVITE client
//! (timers A and B) and the non-INVITE client (timers E and F, for BYE and CANCEL, and timer K,
//! which keeps a completed one to absorb its final response's retransmissions). Each holds
//! the request it sent and says when to send it again and when to give up; time is always an
//! argument, never read here. A transaction does not send its first copy: the owner does.

use std::time::{Duration, Instant};

/// RTT estimate (RFC 3261 T1).
pub const T1: Duration = Duration::from_millis(500);
/// The longest retransmit interval of a non-INVITE request (RFC 3261 T2).
pub const T2: Duration = Duration::from_secs(4);
/// Timer B (INVITE) and timer F (non-INVITE): 64*T1, after which the transaction times out.
pub const TIMEOUT: Duration = Duration::from_secs(32);
/// Timer D over UDP: how long a failed INVITE's ACK is kept to answer the response's
/// retransmissions.
pub const TIMER_D: Duration = Duration::from_secs(32);
/// Timer K over UDP (RFC 3261 T4, 5 s): how long a completed non-INVITE client transaction
/// stays to absorb retransmissions of its final response. Over TCP it is zero.
pub const TIMER_K: Duration = Duration::from_secs(5);

/// What a timer asks of the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerAction {
    /// Nothing is due.
    Nothing,
    /// Send this copy of the request again.
    Retransmit(Vec<u8>),
    /// No response came within 64*T1: the transaction is over (report 408).
    TimedOut,
}

/// The state of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Sent, no response yet: retransmitted on the timer.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived.
    Completed,
    /// No response within 64*T1.
    TimedOut,
}

/// An INVITE client transaction over UDP (RFC 3261 §17.1.1): the INVITE is sent again at
/// 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s (timer A, doubling from T1) until any response
/// arrives; with none by 32 s (timer B) it times out. A provisional response stops both
/// timers (the ring timeout is the owner's).
#[derive(Debug, Clone)]
pub struct InviteClient {
    request: Vec<u8>,
    started: Instant,
    interval: Duration,
    next: Instant,
    state: State,
}

impl InviteClient {
    /// The INVITE `request` was just sent at `now`.
    pub fn new(now: Instant, request: Vec<u8>) -> InviteClient {
        InviteClient { request, started: now, interval: T1, next: now + T1, state: State::Trying }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// A response to the INVITE with status `code` arrived.
    pub fn handle_response(&mut self, code: u16) {
        if self.state == State::TimedOut {
            return;
        }
        if code >= 200 {
            self.state = State::Completed;
            self.request = Vec::new();
        } else if self.state == State::Trying {
            self.state = State::Proceeding;
        }
    }

    /// When [`InviteClient::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state == State::Trying).then(|| self.next.min(self.started + TIMEOUT))
    }

    /// Timer A (retransmit) and timer B (give up).
    pub fn handle_timeout(&mut self, now: Instant) -> TimerAction {
        if self.state != State::Trying {
            return TimerAction::Nothing;
        }
        if now >= self.started + TIMEOUT {
            self.state = State::TimedOut;
            self.request = Vec::new();
            return TimerAction::TimedOut;
        }
        if now < self.next {
            return TimerAction::Nothing;
        }
        self.interval *= 2;
        self.next = now + self.interval;
        TimerAction::Retransmit(self.request.clone())
    }
}

/// A non-INVITE client transaction over UDP (RFC 3261 §17.1.2), for BYE and CANCEL: the
/// request is sent again on timer E, from T1 doubling up to T2 (0.5, 1.5, 3.5, 7.5, 11.5 s...),
/// every T2 once a provisional response arrived, until a final response; with none by 64*T1
/// (timer F, 32 s) it times out and the owner treats the request as done anyway. A final
/// response given with its time ([`NonInviteClient::handle_response_at`]) keeps the
/// transaction in Completed for timer K, so that the peer's retransmissions of that response
/// are recognised and absorbed (RFC 3261 §17.1.2.2).
#[derive(Debug, Clone)]
pub struct NonInviteClient {
    method: String,
    cseq: u32,
    request: Vec<u8>,
    started: Instant,
    interval: Duration,
    next: Instant,
    state: State,
    /// Timer K: [`TIMER_K`] over UDP, zero over TCP.
    timer_k: Duration,
    /// Completed with timer K running until then.
    absorb_until: Option<Instant>,
}

impl NonInviteClient {
    /// `request` (method `method`, CSeq number `cseq`) was just sent at `now`.
    pub fn new(now: Instant, method: &str, cseq: u32, request: Vec<u8>) -> NonInviteClient {
        NonInviteClient {
            method: method.to_string(),
            cseq,
            request,
            started: now,
            interval: T1,
            next: now + T1,
            state: State::Trying,
            timer_k: TIMER_K,
            absorb_until: None,
        }
    }

    /// The same transaction with timer K set to `timer_k` (zero over a reliable transport).
    pub fn with_timer_k(mut self, timer_k: Duration) -> NonInviteClient {
        self.timer_k = timer_k;
        self
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the transaction is over (answered with a final response, or timed out).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Completed | State::TimedOut)
    }

    /// Whether the transaction can be forgotten: it is done and timer K is not running.
    pub fn is_terminated(&self) -> bool {
        self.is_done() && self.absorb_until.is_none()
    }

    /// Whether a response with this CSeq belongs to the transaction.
    pub fn matches(&self, cseq: u32, method: &str) -> bool {
        self.cseq == cseq && self.method.eq_ignore_ascii_case(method)
    }

    /// A response with status `code` arrived.
    pub fn handle_response(&mut self, code: u16) {
        match self.state {
            State::Trying | State::Proceeding if code >= 200 => {
                self.state = State::Completed;
                self.request = Vec::new();
            }
            State::Trying => self.state = State::Proceeding,
            _ => {}
        }
    }

    /// A response with status `code` arrived at `now`. A final one completes the transaction
    /// and starts timer K; one that arrives while timer K runs is a retransmission, absorbed.
    /// Returns whether the response belonged to a transaction already completed.
    pub fn handle_response_at(&mut self, now: Instant, code: u16) -> bool {
        if self.state == State::Completed {
            return true;
        }
        self.handle_response(code);
        if self.state == State::Completed && !self.timer_k.is_zero() {
            self.absorb_until = Some(now + self.timer_k);
        }
        false
    }

    /// When [`NonInviteClient::handle_timeout`] must next run: timers E and F, or timer K.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() {
            return self.absorb_until;
        }
        Some(self.next.min(self.started + TIMEOUT))
    }

    /// Timer E (retransmit), timer F (give up) and timer K (forget a completed transaction).
    pub fn handle_timeout(&mut self, now: Instant) -> TimerAction {
        if self.is_done() {
            if self.absorb_until.is_some_and(|k| now >= k) {
                self.absorb_until = None;
            }
            return TimerAction::Nothing;
        }
        if now >= self.started + TIMEOUT {
            self.state = State::TimedOut;
            self.request = Vec::new();
            return TimerAction::TimedOut;
        }
        if now < self.next {
            return TimerAction::Nothing;
        }
        self.interval =
            if self.state == State::Proceeding { T2 } else { (self.interval * 2).min(T2) };
        self.next = now + self.interval;
        TimerAction::Retransmit(self.request.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the transaction's timers from `t0` to `t0 + until` as an owner would (waking at
    /// each deadline) and returns the offsets at which it retransmitted, and when it timed
    /// out.
    fn run(
        t0: Instant,
        until: Duration,
        mut poll: impl FnMut() -> Option<Instant>,
        mut fire: impl FnMut(Instant) -> TimerAction,
    ) -> (Vec<Duration>, Option<Duration>) {
        let mut sent = Vec::new();
        while let Some(at) = poll() {
            if at > t0 + until {
                break;
            }
            match fire(at) {
                TimerAction::Retransmit(_) => sent.push(at - t0),
                TimerAction::TimedOut => return (sent, Some(at - t0)),
                TimerAction::Nothing => {}
            }
        }
        (sent, None)
    }

    fn secs(list: &[f64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[test]
    fn a_lost_bye_is_sent_again_on_timer_e_until_timer_f() {
        let t0 = Instant::now();
        let bye = b"BYE sip:peer SIP/2.0\r\n\r\n".to_vec();
        let mut tx = NonInviteClient::new(t0, "BYE", 2, bye.clone());
        assert_eq!(tx.handle_timeout(t0 + Duration::from_millis(499)), TimerAction::Nothing);
        assert_eq!(tx.handle_timeout(t0 + T1), TimerAction::Retransmit(bye));
        let mut tx = NonInviteClient::new(t0, "BYE", 2, b"BYE".to_vec());
        let cell = std::cell::RefCell::new(&mut tx);
        let (sent, timed_out) = run(
            t0,
            Duration::from_secs(60),
            || cell.borrow().poll_timeout(),
            |at| cell.borrow_mut().handle_timeout(at),
        );
        let expected = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
        assert_eq!(sent, secs(&expected));
        assert_eq!(timed_out, Some(TIMEOUT), "timer F gives up at 64*T1");
        assert_eq!(tx.state(), State::TimedOut);
        assert!(tx.is_done());
        assert_eq!(tx.poll_timeout(), None, "nothing left to wait for");
    }

    #[test]
    fn a_final_response_stops_retransmission() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(t0, "BYE", 3, b"BYE".to_vec());
        assert!(matches!(tx.handle_timeout(t0 + T1), TimerAction::Retransmit(_)));
        assert!(tx.matches(3, "BYE"));
        assert!(!tx.matches(3, "CANCEL") && !tx.matches(2, "BYE"));
        tx.handle_response(200);
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_timeout(), None);
        assert_eq!(tx.handle_timeout(t0 + Duration::from_secs(2)), TimerAction::Nothing);
        assert_eq!(tx.handle_timeout(t0 + TIMEOUT), TimerAction::Nothing, "no timeout either");
    }

    #[test]
    fn a_completed_transaction_absorbs_repeated_responses_for_timer_k() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(t0, "BYE", 3, b"BYE".to_vec());
        let answered = t0 + Duration::from_millis(200);
        assert!(!tx.handle_response_at(answered, 200), "the first 200 is no repeat");
        assert_eq!(tx.state(), State::Completed);
        assert!(tx.is_done() && !tx.is_terminated(), "kept for timer K");
        assert_eq!(tx.poll_timeout(), Some(answered + TIMER_K));
        // The peer repeats its 200 a second later: recognised, nothing is sent.
        let again = answered + Duration::from_secs(1);
        assert_eq!(tx.handle_timeout(again), TimerAction::Nothing);
        assert!(tx.handle_response_at(again, 200), "a repeat is absorbed");
        assert!(tx.matches(3, "BYE") && !tx.is_terminated());
        assert_eq!(
            tx.handle_timeout(answered + TIMER_K - Duration::from_millis(1)),
            TimerAction::Nothing
        );
        assert!(!tx.is_terminated());
        assert_eq!(tx.handle_timeout(answered + TIMER_K), TimerAction::Nothing);
        assert!(tx.is_terminated(), "forgotten after timer K");
        assert_eq!(tx.poll_timeout(), None);

        // Over TCP timer K is zero: done and forgotten at the final response.
        let mut tx =
            NonInviteClient::new(t0, "CANCEL", 1, b"CANCEL".to_vec()).with_timer_k(Duration::ZERO);
        tx.handle_response_at(answered, 200);
        assert!(tx.is_terminated());
        assert_eq!(tx.poll_timeout(), None);
        // A timed-out transaction has no timer K either.
        let mut tx = NonInviteClient::new(t0, "BYE", 2, b"BYE".to_vec());
        assert_eq!(tx.handle_timeout(t0 + TIMEOUT), TimerAction::TimedOut);
        assert!(tx.is_terminated());
    }

    #[test]
    fn a_provisional_response_moves_retransmission_to_t2() {
        let t0 = Instant::now();
        let mut tx = NonInviteClient::new(t0, "CANCEL", 1, b"CANCEL".to_vec());
        assert!(matches!(tx.handle_timeout(t0 + T1), TimerAction::Retransmit(_)));
        tx.handle_response(100);
        assert_eq!(tx.state(), State::Proceeding);
        let cell = std::cell::RefCell::new(&mut tx);
        let (sent, timed_out) = run(
            t0,
            Duration::from_secs(60),
            || cell.borrow().poll_timeout(),
            |at| cell.borrow_mut().handle_timeout(at),
        );
        let expected = [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5];
        assert_eq!(sent, secs(&expected));
        assert_eq!(timed_out, Some(TIMEOUT));
    }

    #[test]
    fn the_invite_doubles_without_cap_until_timer_b() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(t0, b"INVITE".to_vec());
        let cell = std::cell::RefCell::new(&mut tx);
        let (sent, timed_out) = run(
            t0,
            Duration::from_secs(60),
            || cell.borrow().poll_timeout(),
            |at| cell.borrow_mut().handle_timeout(at),
        );
        assert_eq!(sent, secs(&[0.5, 1.5, 3.5, 7.5, 15.5, 31.5]));
        assert_eq!(timed_out, Some(TIMEOUT), "timer B at 64*T1, not at the next timer A");

        let mut tx = InviteClient::new(t0, b"INVITE".to_vec());
        tx.handle_response(180);
        assert_eq!(tx.state(), State::Proceeding);
        assert_eq!(tx.poll_timeout(), None, "a provisional response stops timers A and B");
        assert_eq!(tx.handle_timeout(t0 + TIMEOUT), TimerAction::Nothing);
    }
}
