//! Rate limits of releases on one target: a token bucket (R per hour, burst
//! R) with time passed in, so the limits are plain arithmetic to test.

use crate::model::Millis;

const HOUR_MS: f64 = 3_600_000.0;

/// R tokens per hour, at most R held.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    per_hour: u32,
    tokens: f64,
    last: Millis,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(per_hour: u32, now: Millis) -> Self {
        TokenBucket {
            per_hour,
            tokens: f64::from(per_hour),
            last: now,
        }
    }

    fn refill(&mut self, now: Millis) {
        let elapsed = now.saturating_sub(self.last) as f64;
        self.tokens = (self.tokens + elapsed * f64::from(self.per_hour) / HOUR_MS)
            .min(f64::from(self.per_hour));
        self.last = self.last.max(now);
    }

    /// Take one token if there is one at `now`.
    pub fn try_take(&mut self, now: Millis) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (no change).
    pub fn available(&self, now: Millis) -> u32 {
        let mut b = self.clone();
        b.refill(now);
        b.tokens.floor() as u32
    }

    /// A new rate, keeping what is held (up to the new burst).
    pub fn set_rate(&mut self, per_hour: u32, now: Millis) {
        self.refill(now);
        self.per_hour = per_hour;
        self.tokens = self.tokens.min(f64::from(per_hour));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut b = TokenBucket::new(60, 0);
        for _ in 0..60 {
            assert!(b.try_take(0));
        }
        assert!(!b.try_take(0), "burst spent");
        assert!(!b.try_take(59_999), "less than a minute: no token yet");
        assert!(b.try_take(60_000), "one per minute");
        assert!(!b.try_take(60_001));
    }

    #[test]
    fn clock_going_back_gives_nothing() {
        let mut b = TokenBucket::new(1, 1_000_000);
        assert!(b.try_take(1_000_000));
        assert!(!b.try_take(0));
        assert!(!b.try_take(1_000_000));
    }

    proptest! {
        /// Over any window of an hour, at most R (burst) + R (refill) releases.
        #[test]
        fn never_more_than_the_rate(
            per_hour in 1u32..200,
            steps in proptest::collection::vec(0u64..120_000, 1..400),
        ) {
            let mut b = TokenBucket::new(per_hour, 0);
            let mut now = 0;
            let mut taken: Vec<Millis> = Vec::new();
            for s in steps {
                now += s;
                if b.try_take(now) {
                    taken.push(now);
                }
            }
            for (i, t) in taken.iter().enumerate() {
                let in_hour = taken[i..].iter().take_while(|x| **x < t + 3_600_000).count();
                prop_assert!(in_hour as u32 <= 2 * per_hour);
            }
            // From the start: burst plus refill.
            let allowed = per_hour as u64 + now * per_hour as u64 / 3_600_000;
            prop_assert!(taken.len() as u64 <= allowed);
        }
    }
}
