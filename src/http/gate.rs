//! The gate of the API's live KMS reads (SDPs, GStreamer DOT), per target:
//! at most `api.live_max_concurrent` at once and `api.live_reads_per_second`
//! (a token bucket, that many in a burst). Anyone who can reach the port may
//! ask for them, so without a gate each request would be one more call on
//! the target's KMS. Refusals answer 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a live read was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `api.live_max_concurrent` reads of this target are running.
    Busy,
    /// `api.live_reads_per_second` reached.
    Rate,
}

/// A token bucket refilled at `rate` per second, holding at most `rate`
/// (at least one).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One target's gate.
#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    max: usize,
    bucket: Mutex<Bucket>,
}

/// The gates of every target (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct LiveGates {
    gates: Arc<Mutex<HashMap<String, Arc<Gate>>>>,
}

impl LiveGates {
    /// Let one live read of `target` through, or say why not: `max`
    /// concurrent reads, `rate` reads per second. The permit ends the read.
    pub fn enter(
        &self,
        target: &str,
        max: usize,
        rate: f64,
        now: Instant,
    ) -> Result<OwnedSemaphorePermit, Refused> {
        let max = max.max(1);
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
            let g = gates
                .entry(target.to_string())
                .or_insert_with(|| Arc::new(Gate::new(max, rate, now)));
            // A reloaded limit takes a new gate (reads in flight finish).
            if g.max != max {
                *g = Arc::new(Gate::new(max, rate, now));
            }
            g.clone()
        };
        let permit = gate
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        let mut b = gate.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let burst = rate.max(1.0);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(Refused::Rate);
        }
        b.tokens -= 1.0;
        Ok(permit)
    }
}

impl Gate {
    fn new(max: usize, rate: f64, now: Instant) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max)),
            max,
            bucket: Mutex::new(Bucket {
                tokens: rate.max(1.0),
                at: now,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn concurrency_and_rate_are_bounded_per_target() {
        let g = LiveGates::default();
        let t0 = Instant::now();
        let a = g.enter("a", 2, 100.0, t0).unwrap();
        let _b = g.enter("a", 2, 100.0, t0).unwrap();
        assert_eq!(g.enter("a", 2, 100.0, t0).unwrap_err(), Refused::Busy);
        assert!(g.enter("b", 2, 100.0, t0).is_ok(), "per target");
        drop(a);
        assert!(g.enter("a", 2, 100.0, t0).is_ok());

        // 3 per second: a burst of 3, then one each third of a second.
        let g = LiveGates::default();
        let ok = (0..10)
            .filter(|_| g.enter("a", 100, 3.0, t0).is_ok())
            .count();
        assert_eq!(ok, 3);
        assert_eq!(g.enter("a", 100, 3.0, t0).unwrap_err(), Refused::Rate);
        let later = t0 + Duration::from_millis(340);
        assert!(g.enter("a", 100, 3.0, later).is_ok());
        assert_eq!(g.enter("a", 100, 3.0, later).unwrap_err(), Refused::Rate);
    }
}
