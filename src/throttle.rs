//! Rate-limited repetitive warnings: a hostile or broken peer must not turn
//! each bad frame or failed `accept` into a log line. `Throttle::hit`
//! counts every occurrence and lets one line through per interval, with the
//! number of occurrences it stands for.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a throttled warning may be logged by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct State {
    /// When the last line went out (none yet: the first hit logs at once).
    last: Option<Instant>,
    /// Occurrences since then, including the current one.
    count: u64,
}

/// One kind of repetitive warning.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    state: Mutex<State>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(DEFAULT_INTERVAL)
    }
}

impl Throttle {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            state: Mutex::new(State {
                last: None,
                count: 0,
            }),
        }
    }

    /// Count one occurrence at `now`; `Some(n)` when a line may be logged
    /// now, `n` being the occurrences it reports (this one and those held
    /// back since the last line).
    pub fn hit_at(&self, now: Instant) -> Option<u64> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.count += 1;
        let due = s
            .last
            .is_none_or(|t| now.saturating_duration_since(t) >= self.interval);
        if !due {
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.count))
    }

    /// `hit_at` now.
    pub fn hit(&self) -> Option<u64> {
        self.hit_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_it_stands_for() {
        let t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.hit_at(t0), Some(1), "the first is logged at once");
        let held: Vec<Option<u64>> = (1..=999)
            .map(|i| t.hit_at(t0 + Duration::from_millis(i)))
            .collect();
        assert!(held.iter().all(Option::is_none));
        assert_eq!(t.hit_at(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(t.hit_at(t0 + Duration::from_secs(11)), None);
        assert_eq!(t.hit_at(t0 + Duration::from_secs(25)), Some(2));
    }
}
