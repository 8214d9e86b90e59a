//! A successful response to one of our requests, read without building a
//! JSON tree of its result: the request id and the result's text. Only the
//! plain case is taken this way (`"jsonrpc": "2.0"`, an integer id, a
//! non-null `result`, no `method`, no `error`, no repeated member); anything
//! else is left to [`wire::decode`](crate::wire::decode), which reads it the
//! same as before.

use std::borrow::Cow;

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A member whose presence, not its value, matters (`null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    id: Option<u64>,
    #[serde(default)]
    method: Present,
    #[serde(default)]
    error: Present,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

/// The id and result text of a plain successful response.
#[derive(Debug, Clone, Copy)]
pub struct RawResult<'a> {
    pub id: u64,
    pub result: &'a RawValue,
}

/// `Some` for a plain successful response; `None`: decode `text` with
/// [`wire::decode`](crate::wire::decode).
pub fn peek_result(text: &str) -> Option<RawResult<'_>> {
    let e: Envelope = serde_json::from_str(text).ok()?;
    if e.jsonrpc.as_deref() != Some("2.0") || e.method.0 || e.error.0 {
        return None;
    }
    Some(RawResult {
        id: e.id?,
        result: e.result?,
    })
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
    #[serde(rename = "sessionId", borrow, default)]
    session_id: Option<Cow<'a, str>>,
}

/// What a KMS result carries: its `value` (as text; `None` when absent or
/// `null`) and its `sessionId`.
pub struct ResultParts<'a> {
    pub value: Option<Cow<'a, RawValue>>,
    pub session_id: Option<Cow<'a, str>>,
}

/// Split a result into `value` and `sessionId`, as reading it into a tree
/// and taking those members would.
pub fn result_parts(result: &RawValue) -> ResultParts<'_> {
    if let Ok(h) = serde_json::from_str::<Head>(result.get()) {
        return ResultParts {
            value: h.value.map(Cow::Borrowed),
            session_id: h.session_id,
        };
    }
    // Not an object, repeated members, a non-string sessionId: the tree way.
    let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(result.get()) else {
        return ResultParts {
            value: None,
            session_id: None,
        };
    };
    let session_id = match m.get("sessionId") {
        Some(Value::String(s)) => Some(Cow::Owned(s.clone())),
        _ => None,
    };
    let value = match m.remove("value") {
        None | Some(Value::Null) => None,
        Some(v) => serde_json::value::to_raw_value(&v).ok().map(Cow::Owned),
    };
    ResultParts { value, session_id }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, Frame, Id};

    #[test]
    fn plain_results_are_peeked_and_agree_with_the_full_decoder() {
        let text = r#"{"id":7,"result":{"value":{"a":{"type":"inboundrtp"}},"sessionId":"s-1"},"jsonrpc":"2.0"}"#;
        let r = peek_result(text).unwrap();
        assert_eq!(r.id, 7);
        let Ok(Frame::Response(full)) = decode(text) else {
            panic!()
        };
        assert_eq!(full.id, Some(Id::Num(7)));
        let tree = full.outcome.unwrap();
        let parts = result_parts(r.result);
        assert_eq!(parts.session_id.as_deref(), Some("s-1"));
        let value: Value = serde_json::from_str(parts.value.unwrap().get()).unwrap();
        assert_eq!(value, tree["value"]);
    }

    #[test]
    fn anything_else_goes_the_full_way() {
        for text in [
            r#"{"id":7,"result":null,"jsonrpc":"2.0"}"#,
            r#"{"id":7,"result":{},"error":null,"jsonrpc":"2.0"}"#,
            r#"{"id":7,"result":{},"method":null,"jsonrpc":"2.0"}"#,
            r#"{"id":"7","result":{},"jsonrpc":"2.0"}"#,
            r#"{"id":7,"result":{},"jsonrpc":"1.0"}"#,
            r#"{"id":7,"result":{},"result":{},"jsonrpc":"2.0"}"#,
            r#"{"id":7,"error":{"code":1,"message":"x"},"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","method":"onEvent","params":{"value":{}}}"#,
            "not json",
        ] {
            assert!(peek_result(text).is_none(), "{text}");
        }
    }

    #[test]
    fn result_parts_of_odd_results() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let (a, b, c) = (
            raw(r#"{"value":null,"sessionId":"s"}"#),
            raw(r#"{"value":1,"value":2,"sessionId":5}"#),
            raw("5"),
        );
        let p = result_parts(&a);
        assert!(p.value.is_none());
        assert_eq!(p.session_id.as_deref(), Some("s"));
        let p = result_parts(&b);
        assert_eq!(p.value.unwrap().get(), "2");
        assert!(p.session_id.is_none());
        let p = result_parts(&c);
        assert!(p.value.is_none() && p.session_id.is_none());
    }
}
