//! Fuzz the `getStats` readers with arbitrary input: neither panics, and the
//! text reader (`stats_text`) gives what the tree reader (`stats`) gives on
//! the same text whenever that text is JSON.
#![no_main]

use kms_proto::stats::parse_stats;
use kms_proto::stats_text::parse_stats_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fast = parse_stats_text(text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        assert_eq!(fast, parse_stats(&v), "{text}");
    }
});
