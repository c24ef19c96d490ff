//! Media-inactivity and session timers, sans-IO: they end a call whose BYE was lost, so an
//! agent never stays "in call" on a dead leg.

use std::time::{Duration, Instant};

/// Why a watchdog ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No RTP arrived for the inactivity timeout.
    MediaInactive,
    /// The session was not refreshed within the session interval (RFC 4028).
    SessionExpired,
}

/// Watches one leg: the last RTP packet and the last session refresh.
#[derive(Debug, Clone)]
pub struct MediaWatchdog {
    inactivity: Duration,
    session_interval: Option<Duration>,
    last_media: Instant,
    last_refresh: Instant,
    expired: Option<Expiry>,
}

impl MediaWatchdog {
    /// Starts watching at `now` (the answer).
    pub fn new(now: Instant, inactivity: Duration, session_interval: Option<Duration>) -> Self {
        MediaWatchdog {
            inactivity,
            session_interval,
            last_media: now,
            last_refresh: now,
            expired: None,
        }
    }

    /// An RTP packet arrived.
    pub fn handle_media(&mut self, now: Instant) {
        self.last_media = self.last_media.max(now);
    }

    /// A re-INVITE or UPDATE refreshed the session.
    pub fn handle_refresh(&mut self, now: Instant) {
        self.last_refresh = self.last_refresh.max(now);
    }

    /// When the watchdog must next be woken.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired.is_some() {
            return None;
        }
        let media = self.last_media + self.inactivity;
        Some(match self.session_interval {
            Some(i) => media.min(self.last_refresh + i),
            None => media,
        })
    }

    /// Checks the timers at `now`; returns the expiry once, when it happens.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Expiry> {
        if self.expired.is_some() {
            return None;
        }
        let expiry = if now >= self.last_media + self.inactivity {
            Some(Expiry::MediaInactive)
        } else if self.session_interval.is_some_and(|i| now >= self.last_refresh + i) {
            Some(Expiry::SessionExpired)
        } else {
            None
        };
        self.expired = expiry;
        expiry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_after_lost_bye_expires_once() {
        let t0 = Instant::now();
        let mut w = MediaWatchdog::new(t0, Duration::from_secs(10), None);
        w.handle_media(t0 + Duration::from_secs(5));
        assert_eq!(w.poll_timeout(), Some(t0 + Duration::from_secs(15)));
        assert_eq!(w.handle_timeout(t0 + Duration::from_secs(14)), None);
        assert_eq!(w.handle_timeout(t0 + Duration::from_secs(15)), Some(Expiry::MediaInactive));
        assert_eq!(w.handle_timeout(t0 + Duration::from_secs(16)), None);
        assert_eq!(w.poll_timeout(), None);
    }

    #[test]
    fn session_interval_needs_refreshes() {
        let t0 = Instant::now();
        let mut w = MediaWatchdog::new(t0, Duration::from_secs(30), Some(Duration::from_secs(90)));
        for s in (0..120).step_by(10) {
            w.handle_media(t0 + Duration::from_secs(s));
        }
        w.handle_refresh(t0 + Duration::from_secs(60));
        assert_eq!(w.handle_timeout(t0 + Duration::from_secs(120)), None);
        assert_eq!(w.poll_timeout(), Some(t0 + Duration::from_secs(140)));
        w.handle_media(t0 + Duration::from_secs(149));
        assert_eq!(w.handle_timeout(t0 + Duration::from_secs(150)), Some(Expiry::SessionExpired));
    }
}
