//! Fuzz the JSON-RPC frame decoder and the event decoder with arbitrary bytes.
#![no_main]

use kms_proto::events::Event;
use kms_proto::wire::{self, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(Frame::Event(ev)) = wire::decode(text) {
            let _ = Event::from_wire(ev);
        }
    }
});
