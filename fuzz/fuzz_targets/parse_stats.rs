//! Fuzz the `getStats` parser with arbitrary JSON.
#![no_main]

use kms_proto::stats::parse_stats;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_stats(&v);
    }
});
