//! Fuzz the JSON-RPC frame decoder and the event decoder with arbitrary bytes;
//! where the reply reader takes a frame (`reply::peek_result`), it must agree
//! with the full decoder on the id, the result and its value and session.
#![no_main]

use kms_proto::events::Event;
use kms_proto::reply::{peek_result, result_parts};
use kms_proto::wire::{self, Frame, Id};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let full = wire::decode(text);
    if let Ok(Frame::Event(ev)) = &full {
        let _ = Event::from_wire(ev.clone());
    }
    let Some(r) = peek_result(text) else {
        return;
    };
    let Ok(Frame::Response(resp)) = full else {
        panic!("peeked a response the full decoder did not read as one: {text}");
    };
    assert_eq!(resp.id, Some(Id::Num(r.id)), "{text}");
    let tree = resp.outcome.expect("a result");
    let raw: Value = serde_json::from_str(r.result.get()).expect("result text is JSON");
    assert_eq!(raw, tree, "{text}");
    let parts = result_parts(r.result);
    let value = parts
        .value
        .map(|v| serde_json::from_str::<Value>(v.get()).expect("value text is JSON"));
    let tree_value = tree.get("value").filter(|v| !v.is_null()).cloned();
    assert_eq!(value, tree_value, "{text}");
    assert_eq!(
        parts.session_id.as_deref(),
        tree.get("sessionId").and_then(Value::as_str),
        "{text}"
    );
});
