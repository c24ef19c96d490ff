//! Admission limits, sans-IO: a trunk's line limit and calls-per-second token bucket, and a
//! per-source-IP request rate limiter for requests arriving from the network.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Why a trunk refuses a new call right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// All lines are in use.
    LinesFull,
    /// The calls-per-second budget is spent; retry at the given instant.
    RateLimited(Instant),
}

/// A token bucket: `rate` tokens per second, at most `burst` saved.
#[derive(Debug, Clone)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn new(now: Instant, rate: f64, burst: f64) -> Bucket {
        Bucket { rate, burst, tokens: burst, updated: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = self.updated.max(now);
    }

    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.rate;
            Err(now + Duration::from_secs_f64(wait))
        }
    }
}

/// The line limit and calls-per-second limit of one trunk.
#[derive(Debug, Clone)]
pub struct TrunkGate {
    line_limit: u32,
    in_use: u32,
    bucket: Bucket,
}

impl TrunkGate {
    /// A gate with all lines free and one second's worth of calls available.
    pub fn new(now: Instant, line_limit: u32, cps: f64) -> TrunkGate {
        TrunkGate { line_limit, in_use: 0, bucket: Bucket::new(now, cps, cps.max(1.0)) }
    }

    /// Takes a line for a new call, or says why not.
    pub fn handle_acquire(&mut self, now: Instant) -> Result<(), Refusal> {
        if self.in_use >= self.line_limit {
            return Err(Refusal::LinesFull);
        }
        self.bucket.take(now).map_err(Refusal::RateLimited)?;
        self.in_use += 1;
        Ok(())
    }

    /// Gives a line back when its call ends.
    pub fn handle_release(&mut self) {
        self.in_use = self.in_use.saturating_sub(1);
    }

    /// Lines in use.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }
}

/// Limits the requests per second accepted from each source IP.
#[derive(Debug, Clone)]
pub struct SourceRateLimiter {
    rate: f64,
    burst: f64,
    sources: HashMap<IpAddr, Bucket>,
}

impl SourceRateLimiter {
    /// `rate` requests per second per source, bursts up to `burst`.
    pub fn new(rate: f64, burst: f64) -> SourceRateLimiter {
        SourceRateLimiter { rate, burst, sources: HashMap::new() }
    }

    /// Whether a request from `source` is admitted.
    pub fn handle_request(&mut self, now: Instant, source: IpAddr) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        let bucket = self.sources.entry(source).or_insert_with(|| Bucket::new(now, rate, burst));
        bucket.take(now).is_ok()
    }

    /// Forgets sources whose bucket has been full for a while, bounding memory.
    pub fn handle_sweep(&mut self, now: Instant) {
        let idle = Duration::from_secs_f64(self.burst / self.rate + 60.0);
        self.sources.retain(|_, b| now.saturating_duration_since(b.updated) < idle);
    }

    /// Sources currently tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_limit_and_cps_are_enforced() {
        let t0 = Instant::now();
        let mut gate = TrunkGate::new(t0, 3, 2.0);
        assert_eq!(gate.handle_acquire(t0), Ok(()));
        assert_eq!(gate.handle_acquire(t0), Ok(()));
        let Err(Refusal::RateLimited(retry)) = gate.handle_acquire(t0) else {
            panic!("a third call in the same instant must exceed 2 cps");
        };
        assert_eq!(retry, t0 + Duration::from_millis(500));
        assert_eq!(gate.handle_acquire(retry), Ok(()));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(gate.handle_acquire(later), Err(Refusal::LinesFull));
        gate.handle_release();
        assert_eq!(gate.in_use(), 2);
        assert_eq!(gate.handle_acquire(later), Ok(()));
    }

    #[test]
    fn sources_are_limited_independently_and_swept() {
        let t0 = Instant::now();
        let mut lim = SourceRateLimiter::new(1.0, 2.0);
        let a: IpAddr = "127.0.0.1".parse().expect("literal address");
        let b: IpAddr = "127.0.0.2".parse().expect("literal address");
        assert!(lim.handle_request(t0, a));
        assert!(lim.handle_request(t0, a));
        assert!(!lim.handle_request(t0, a));
        assert!(lim.handle_request(t0, b));
        assert!(lim.handle_request(t0 + Duration::from_secs(1), a));
        lim.handle_sweep(t0 + Duration::from_secs(3600));
        assert_eq!(lim.tracked(), 0);
    }
}
