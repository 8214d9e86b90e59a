//! The daemon's one wall clock. Every "now" the scrape, the reaper, the
//! probe and the API stamp comes from here; pure code (model, policy) takes
//! the time as a parameter instead.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is set
/// before 1970).
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock seconds since the Unix epoch, for Prometheus timestamps.
pub fn now_secs() -> f64 {
    now_millis() as f64 / 1000.0
}
