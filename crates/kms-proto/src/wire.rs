//! JSON-RPC 2.0 framing as KMS speaks it: request, response and notification
//! shapes, request ids, the error object and the error codes KMS returns.
//!
//! Pure data and codec, no I/O. Both the client (`kms::connection`) and the
//! simulator (`sim`) build and read frames through this module, so the two can
//! never drift apart on the wire format.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The id of the ServerManager, fixed in every KMS.
pub const SERVER_MANAGER: &str = "manager_ServerManager";

/// Error codes KMS returns (see `tests/fixtures/kurento/PROTOCOL.md`, "Errors").
pub mod code {
    /// Unknown or released object.
    pub const MEDIA_OBJECT_NOT_FOUND: i64 = 40101;
    /// Unknown operation on an object.
    pub const MALFORMED_TRANSACTION: i64 = 40008;
    /// `connect`/`keepAlive` with an unknown session.
    pub const INVALID_SESSION: i64 = 40007;
    /// A parameter value that cannot be unmarshalled.
    pub const MARSHALL_ERROR: i64 = 40001;
    /// `getKmd` of an unknown module.
    pub const UNDEFINED: i64 = 40500;
    /// `subscribe` to an event the object does not raise.
    pub const MEDIA_OBJECT_EVENT_NOT_SUPPORTED: i64 = 40106;
    /// `create` of an unknown type.
    pub const MEDIA_OBJECT_NOT_AVAILABLE: i64 = 40108;
    /// `getLocalSessionDescriptor` before any offer/answer was generated
    /// (`SDP_END_POINT_NO_LOCAL_SDP_ERROR`, `No local SDP`).
    pub const SDP_END_POINT_NO_LOCAL_SDP_ERROR: i64 = 40202;
    /// `getRemoteSessionDescriptor` before a remote offer/answer was processed
    /// (`SDP_END_POINT_NO_REMOTE_SDP_ERROR`, `No remote SDP`).
    pub const SDP_END_POINT_NO_REMOTE_SDP_ERROR: i64 = 40203;
    /// Invalid JSON-RPC request (no `jsonrpc`, wrong version, batch).
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown JSON-RPC method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Internal error while processing (e.g. `params` not an object).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Server error (notification request, missing parameter).
    pub const SERVER_ERROR: i64 = -32000;
}

/// A JSON-RPC request id. KMS clients use integers; KMS echoes string ids too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Num(u64),
    Str(String),
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Num(n)
    }
}

/// The `error` member of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// The `data.type` string KMS attaches to its own (non JSON-RPC) errors.
    pub fn kind(&self) -> Option<&str> {
        self.data.as_ref()?.get("type")?.as_str()
    }

    /// An error of KMS itself, with `data.type`.
    pub fn kms(code: i64, kind: &str, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: Some(serde_json::json!({ "type": kind })),
        }
    }

    /// 40101 for `id`, with KMS's exact message.
    pub fn not_found(id: &str) -> Self {
        Self::kms(
            code::MEDIA_OBJECT_NOT_FOUND,
            "MEDIA_OBJECT_NOT_FOUND",
            format!("Object '{id}' not found"),
        )
    }
}

/// A request as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    pub fn new(id: impl Into<Id>, method: &str, params: Map<String, Value>) -> Self {
        Request {
            jsonrpc: "2.0".into(),
            id: Some(id.into()),
            method: method.into(),
            params: Some(Value::Object(params)),
        }
    }
}

/// A response as sent on the wire: exactly one of `result` and `error`.
/// `id` is `null` for requests KMS could not read an id from.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Option<Id>,
    pub outcome: Result<Value, RpcError>,
}

impl Response {
    pub fn ok(id: Option<Id>, result: Value) -> Self {
        Response {
            id,
            outcome: Ok(result),
        }
    }

    pub fn err(id: Option<Id>, error: RpcError) -> Self {
        Response {
            id,
            outcome: Err(error),
        }
    }

    /// The JSON value of this response, keys as KMS orders them.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        match &self.outcome {
            Ok(r) => {
                m.insert("id".into(), id_value(&self.id));
                m.insert("jsonrpc".into(), "2.0".into());
                m.insert("result".into(), r.clone());
            }
            Err(e) => {
                m.insert(
                    "error".into(),
                    serde_json::to_value(e).unwrap_or(Value::Null),
                );
                m.insert("id".into(), id_value(&self.id));
                m.insert("jsonrpc".into(), "2.0".into());
            }
        }
        Value::Object(m)
    }
}

fn id_value(id: &Option<Id>) -> Value {
    match id {
        None => Value::Null,
        Some(Id::Num(n)) => Value::from(*n),
        Some(Id::Str(s)) => Value::from(s.clone()),
    }
}

/// An `onEvent` notification: `params.value` = `{data, object, type}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventValue {
    pub data: Value,
    pub object: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

impl EventValue {
    /// The full notification frame.
    pub fn to_notification(&self) -> Value {
        serde_json::json!({
            "jsonrpc": "2.0",
            "method": "onEvent",
            "params": { "value": self },
        })
    }
}

/// Anything a peer can receive, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Request(Request),
    Response(Response),
    Event(EventValue),
    /// A notification other than `onEvent`, kept raw.
    Notification {
        method: String,
        params: Value,
    },
}

/// Why a text frame could not be read as JSON-RPC.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON-RPC 2.0 message")]
    NotJsonRpc,
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

/// Decode one text frame. Never panics, whatever the input.
pub fn decode(text: &str) -> Result<Frame, DecodeError> {
    let v: Value = serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    decode_value(v)
}

/// Decode an already parsed JSON value.
pub fn decode_value(v: Value) -> Result<Frame, DecodeError> {
    let Value::Object(mut m) = v else {
        return Err(DecodeError::NotJsonRpc);
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(DecodeError::NotJsonRpc);
    }
    if let Some(method) = m.get("method").and_then(Value::as_str).map(str::to_owned) {
        let id = match m.remove("id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_id(v)?),
        };
        let params = m.remove("params");
        if id.is_none() && method == "onEvent" {
            let value = params
                .and_then(|mut p| p.get_mut("value").map(Value::take))
                .ok_or(DecodeError::Malformed {
                    what: "onEvent",
                    detail: "no params.value".into(),
                })?;
            let ev: EventValue =
                serde_json::from_value(value).map_err(|e| DecodeError::Malformed {
                    what: "onEvent",
                    detail: e.to_string(),
                })?;
            return Ok(Frame::Event(ev));
        }
        if id.is_none() {
            return Ok(Frame::Notification {
                method,
                params: params.unwrap_or(Value::Null),
            });
        }
        return Ok(Frame::Request(Request {
            jsonrpc: "2.0".into(),
            id,
            method,
            params,
        }));
    }
    let id = match m.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_id(v)?),
    };
    if let Some(e) = m.remove("error") {
        let e: RpcError = serde_json::from_value(e).map_err(|e| DecodeError::Malformed {
            what: "error",
            detail: e.to_string(),
        })?;
        return Ok(Frame::Response(Response::err(id, e)));
    }
    match m.remove("result") {
        Some(r) => Ok(Frame::Response(Response::ok(id, r))),
        None => Err(DecodeError::Malformed {
            what: "response",
            detail: "neither result nor error".into(),
        }),
    }
}

fn parse_id(v: Value) -> Result<Id, DecodeError> {
    serde_json::from_value(v).map_err(|e| DecodeError::Malformed {
        what: "id",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_result_error_event_and_request() {
        let r = decode(r#"{"id":3,"jsonrpc":"2.0","result":{"value":"pong"}}"#).unwrap();
        assert_eq!(
            r,
            Frame::Response(Response::ok(Some(Id::Num(3)), json!({"value":"pong"})))
        );

        let e = decode(r#"{"error":{"code":40101,"data":{"type":"MEDIA_OBJECT_NOT_FOUND"},"message":"Object 'x' not found"},"id":25,"jsonrpc":"2.0"}"#).unwrap();
        let Frame::Response(Response {
            id,
            outcome: Err(err),
        }) = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(id, Some(Id::Num(25)));
        assert_eq!(err, RpcError::not_found("x"));
        assert_eq!(err.kind(), Some("MEDIA_OBJECT_NOT_FOUND"));

        let n = decode(r#"{"jsonrpc":"2.0","method":"onEvent","params":{"value":{"data":{"source":"s","state":"FLOWING"},"object":"o","type":"MediaFlowInStateChanged"}}}"#).unwrap();
        let Frame::Event(ev) = n else { panic!() };
        assert_eq!(ev.event_type, "MediaFlowInStateChanged");
        assert_eq!(ev.object, "o");

        let q =
            decode(r#"{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":"abc"}"#)
                .unwrap();
        let Frame::Request(q) = q else { panic!() };
        assert_eq!(q.id, Some(Id::Str("abc".into())));
    }

    #[test]
    fn rejects_non_jsonrpc() {
        assert!(matches!(
            decode("{\"jsonrpc\":"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            decode(r#"{"id":1,"method":"ping"}"#),
            Err(DecodeError::NotJsonRpc)
        );
        assert_eq!(
            decode(r#"[{"jsonrpc":"2.0"}]"#),
            Err(DecodeError::NotJsonRpc)
        );
        assert!(decode(r#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(decode(r#"{"jsonrpc":"2.0","id":[1],"result":1}"#).is_err());
    }

    #[test]
    fn response_serializes_in_kms_key_order() {
        let ok = Response::ok(Some(Id::Num(0)), json!({"value":"pong"}));
        assert_eq!(
            serde_json::to_string(&ok.to_value()).unwrap(),
            r#"{"id":0,"jsonrpc":"2.0","result":{"value":"pong"}}"#
        );
        let err = Response::err(
            None,
            RpcError {
                code: code::INVALID_REQUEST,
                message: "Invalid JSON-RPC request.".into(),
                data: None,
            },
        );
        assert_eq!(
            serde_json::to_string(&err.to_value()).unwrap(),
            r#"{"error":{"code":-32600,"message":"Invalid JSON-RPC request."},"id":null,"jsonrpc":"2.0"}"#
        );
    }
}
