//! Method 3: learning per number how long it rings before voicemail picks
//! up, and proposing a ring timeout just below that, so the dialer gives up
//! before the machine answers. The timeout is never below the rule set's
//! minimum ring time.

use serde::{Deserialize, Serialize};

/// How many recent voicemail pickups are kept per number.
const KEEP: usize = 8;

/// Limits for proposing a ring timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingPolicy {
    /// The rule set's minimum ring time in milliseconds.
    pub min_ring_ms: u32,
    /// The campaign's ring timeout when nothing is learned.
    pub default_ring_ms: u32,
    /// How far below the earliest pickup the timeout is set.
    pub margin_ms: u32,
    /// Pickups needed before proposing anything.
    pub min_observations: usize,
    /// Pickup times spreading more than this are not a habit.
    pub max_spread_ms: u32,
}

/// The proposed ring timeout and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingTimeout {
    /// Ring for this long, in milliseconds.
    pub ring_ms: u32,
    /// Whether it was learned from this number's voicemail pickups.
    pub learned: bool,
}

/// One number's observed voicemail pickup times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingTimeModel {
    pickups_ms: Vec<u32>,
}

impl RingTimeModel {
    /// A number with no observations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Voicemail answered after ringing `ring_ms` milliseconds.
    pub fn record_voicemail_pickup(&mut self, ring_ms: u32) {
        self.pickups_ms.push(ring_ms);
        if self.pickups_ms.len() > KEEP {
            self.pickups_ms.remove(0);
        }
    }

    /// A person answered: the number's voicemail habit may have changed, so
    /// the oldest half of the pickups is forgotten.
    pub fn record_person_answer(&mut self) {
        let drop = self.pickups_ms.len().div_ceil(2);
        self.pickups_ms.drain(..drop);
    }

    /// The ring timeout to use for the next call to this number.
    pub fn propose(&self, policy: &RingPolicy) -> RingTimeout {
        let fallback =
            RingTimeout { ring_ms: policy.default_ring_ms.max(policy.min_ring_ms), learned: false };
        if self.pickups_ms.len() < policy.min_observations.max(1) {
            return fallback;
        }
        let (Some(&min), Some(&max)) = (self.pickups_ms.iter().min(), self.pickups_ms.iter().max())
        else {
            return fallback;
        };
        if max - min > policy.max_spread_ms {
            return fallback;
        }
        let ring_ms = min.saturating_sub(policy.margin_ms).max(policy.min_ring_ms);
        RingTimeout { ring_ms: ring_ms.min(fallback.ring_ms), learned: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RingPolicy = RingPolicy {
        min_ring_ms: 15_000,
        default_ring_ms: 25_000,
        margin_ms: 1_000,
        min_observations: 2,
        max_spread_ms: 3_000,
    };

    #[test]
    fn nothing_learned_gives_the_campaign_default() {
        let mut m = RingTimeModel::new();
        assert_eq!(m.propose(&POLICY), RingTimeout { ring_ms: 25_000, learned: false });
        m.record_voicemail_pickup(20_000);
        assert!(!m.propose(&POLICY).learned, "one pickup is not a habit");
    }

    #[test]
    fn consistent_pickups_give_a_timeout_just_below_them() {
        let mut m = RingTimeModel::new();
        for ms in [20_400, 20_100, 21_000] {
            m.record_voicemail_pickup(ms);
        }
        assert_eq!(m.propose(&POLICY), RingTimeout { ring_ms: 19_100, learned: true });
    }

    #[test]
    fn the_timeout_never_goes_below_the_minimum_ring_time() {
        let mut m = RingTimeModel::new();
        for ms in [12_000, 12_500] {
            m.record_voicemail_pickup(ms);
        }
        assert_eq!(m.propose(&POLICY), RingTimeout { ring_ms: 15_000, learned: true });
    }

    #[test]
    fn scattered_pickups_are_not_used() {
        let mut m = RingTimeModel::new();
        for ms in [16_000, 24_000] {
            m.record_voicemail_pickup(ms);
        }
        assert!(!m.propose(&POLICY).learned);
    }

    #[test]
    fn a_person_answering_forgets_old_pickups() {
        let mut m = RingTimeModel::new();
        for ms in [18_000, 18_200, 18_100, 18_300] {
            m.record_voicemail_pickup(ms);
        }
        m.record_person_answer();
        assert_eq!(m.pickups_ms, vec![18_100, 18_300]);
        m.record_person_answer();
        assert!(!m.propose(&POLICY).learned);
    }
}
