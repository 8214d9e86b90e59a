//! Frame-level protocol: turns one received WebSocket frame into the engine
//! call and reproduces KMS's quirks for frames that are not proper requests
//! (not JSON → close; invalid JSON-RPC → -32600 id null; notification →
//! -32000 with data {"value":"pong"}).

use serde_json::{json, Value};

use super::engine::{Engine, Outcome};
use kms_proto::wire::{code, Id, Request, Response, RpcError};

/// What to do with a frame.
#[derive(Debug, Clone)]
pub enum FrameReply {
    /// Drop the connection without answering (KMS: close 1006).
    Close,
    /// Answer (and deliver events).
    Reply(Outcome),
}

pub(crate) fn invalid_request() -> RpcError {
    RpcError {
        code: code::INVALID_REQUEST,
        message: "Invalid JSON-RPC request.".into(),
        data: None,
    }
}

/// The JSON-RPC method and (for invoke) operation of a parsed frame, for fault matching.
pub fn method_of(v: &Value) -> (Option<&str>, Option<&str>) {
    let m = v.get("method").and_then(Value::as_str);
    let op = v
        .get("params")
        .and_then(|p| p.get("operation"))
        .and_then(Value::as_str);
    (m, op)
}

impl Engine {
    /// Handle a text (or binary, as UTF-8) frame.
    pub fn handle_text(&mut self, conn_session: Option<&str>, text: &str, now: u64) -> FrameReply {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return FrameReply::Close;
        };
        self.handle_value(conn_session, v, now)
    }

    /// Handle an already parsed frame.
    pub fn handle_value(&mut self, conn_session: Option<&str>, v: Value, now: u64) -> FrameReply {
        let session = conn_session.map(str::to_owned);
        let reply = |response| {
            FrameReply::Reply(Outcome {
                response,
                session: session.clone(),
                events: Vec::new(),
            })
        };
        let Value::Object(mut m) = v else {
            return reply(Response::err(None, invalid_request()));
        };
        if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return reply(Response::err(None, invalid_request()));
        }
        let Some(method) = m.get("method").and_then(Value::as_str).map(str::to_owned) else {
            return reply(Response::err(None, invalid_request()));
        };
        let id = match m.remove("id") {
            None | Some(Value::Null) => {
                let e = RpcError {
                    code: code::SERVER_ERROR,
                    message: "Ignoring response because of a notification request".into(),
                    data: Some(json!({ "value": "pong" })),
                };
                return reply(Response::err(None, e));
            }
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) => Id::Num(n),
                None => return reply(Response::err(None, invalid_request())),
            },
            Some(Value::String(s)) => Id::Str(s),
            Some(_) => return reply(Response::err(None, invalid_request())),
        };
        let req = Request {
            jsonrpc: "2.0".into(),
            id: Some(id),
            method,
            params: m.remove("params"),
        };
        FrameReply::Reply(self.handle(conn_session, req, now))
    }
}
