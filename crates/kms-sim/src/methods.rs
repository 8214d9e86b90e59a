//! JSON-RPC method dispatch: session binding (ping, keepAlive, connect,
//! closeSession) and the session methods (create, describe, invoke,
//! subscribe, unsubscribe, release, ref, unref, transaction), each result
//! carrying `sessionId` as KMS does.

use serde_json::{json, Map, Value};

use super::engine::{server_error, Engine, Outcome, Sub};
use kms_proto::wire::{code, Request, Response, RpcError};

fn invalid_session() -> RpcError {
    RpcError::kms(code::INVALID_SESSION, "INVALID_SESSION", "Invalid session")
}

impl Engine {
    /// Handle one decoded request from a connection currently bound to
    /// `conn_session`.
    pub fn handle(&mut self, conn_session: Option<&str>, req: Request, now: u64) -> Outcome {
        self.now = self.now.max(now);
        let (response, session) = self.dispatch(conn_session, req);
        self.settle();
        Outcome {
            response,
            session,
            events: std::mem::take(&mut self.out),
        }
    }

    fn dispatch(&mut self, conn_session: Option<&str>, req: Request) -> (Response, Option<String>) {
        let id = req.id.clone();
        let params = match req.params {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                let e = RpcError {
                    code: code::INTERNAL_ERROR,
                    message: "Unexpected error while processing method: in Json::Value::find(begin, end): requires objectValue or nullValue".into(),
                    data: None,
                };
                return (Response::err(id, e), conn_session.map(str::to_owned));
            }
        };
        let explicit = params
            .get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let known = explicit.clone().or_else(|| conn_session.map(str::to_owned));
        let method = req.method.as_str();
        match method {
            "ping" => {
                if let Some(s) = &known {
                    self.touch(s);
                }
                let mut r = Map::new();
                if let Some(s) = &known {
                    r.insert("sessionId".into(), s.clone().into());
                }
                r.insert("value".into(), "pong".into());
                (Response::ok(id, Value::Object(r)), known)
            }
            "keepAlive" => match known.filter(|s| self.sessions.contains_key(s)) {
                Some(s) => {
                    self.touch(&s);
                    (Response::ok(id, json!({ "sessionId": s })), Some(s))
                }
                None => (
                    Response::err(id, invalid_session()),
                    conn_session.map(str::to_owned),
                ),
            },
            "connect" => {
                let s = match explicit {
                    Some(s) if !self.sessions.contains_key(&s) => {
                        return (
                            Response::err(id, invalid_session()),
                            conn_session.map(str::to_owned),
                        )
                    }
                    Some(s) => s,
                    None => match conn_session {
                        Some(s) => s.to_owned(),
                        None => self.uuid(),
                    },
                };
                self.touch(&s);
                let r = json!({ "serverId": self.server_id, "sessionId": s });
                (Response::ok(id, r), Some(s))
            }
            "closeSession" => {
                let Some(s) = known else {
                    return (Response::ok(id, Value::Null), None);
                };
                let release = params
                    .get("release")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.close_session(&s, release);
                (Response::ok(id, Value::Null), Some(s))
            }
            _ => {
                let s = match known {
                    Some(s) => s,
                    None => self.uuid(),
                };
                self.touch(&s);
                let outcome = self.session_method(&s, method, &params);
                let resp = match outcome {
                    Ok(Value::Object(mut m)) => {
                        m.insert("sessionId".into(), s.clone().into());
                        Response::ok(id, Value::Object(m))
                    }
                    Ok(_) => Response::ok(id, json!({ "sessionId": s })),
                    Err(e) => Response::err(id, e),
                };
                (resp, Some(s))
            }
        }
    }

    /// Mark a session as used (and create it when new).
    pub(crate) fn touch(&mut self, session: &str) {
        self.sessions.entry(session.to_owned()).or_default().marked = false;
    }

    /// Methods running in a session; the result map gets `sessionId` added.
    fn session_method(
        &mut self,
        s: &str,
        method: &str,
        p: &Map<String, Value>,
    ) -> Result<Value, RpcError> {
        let object = || -> Result<&str, RpcError> {
            p.get("object")
                .and_then(Value::as_str)
                .ok_or_else(|| server_error("'object' parameter is required"))
        };
        match method {
            "create" => {
                let v = self.create(s, p)?;
                Ok(json!({ "value": v }))
            }
            "describe" => {
                let o = object()?;
                let kind = self.obj(o)?.kind;
                self.add_ref(s, o);
                let hierarchy: Vec<String> = kind
                    .hierarchy()
                    .iter()
                    .map(|c| format!("kurento.{c}"))
                    .collect();
                Ok(json!({
                    "hierarchy": hierarchy,
                    "qualifiedType": format!("kurento.{}", kind.name()),
                    "type": kind.name(),
                }))
            }
            "invoke" => {
                let op = p
                    .get("operation")
                    .and_then(Value::as_str)
                    .ok_or_else(|| server_error("'operation' parameter is required"))?;
                let o = object()?;
                self.obj(o)?;
                self.add_ref(s, o);
                let empty = Map::new();
                let args = p
                    .get("operationParams")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                let v = self.invoke(s, o, op, args)?;
                Ok(json!({ "value": v }))
            }
            "subscribe" => {
                let o = object()?;
                let ty = p
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| server_error("'type' parameter is required"))?;
                let kind = self.obj(o)?.kind;
                if !kind.has_event(ty) {
                    return Err(RpcError::kms(
                        code::MEDIA_OBJECT_EVENT_NOT_SUPPORTED,
                        "MEDIA_OBJECT_EVENT_NOT_SUPPORTED",
                        format!("Event '{ty}' not supported"),
                    ));
                }
                self.add_ref(s, o);
                let sub = Sub {
                    id: self.uuid(),
                    session: s.to_owned(),
                    event: ty.to_owned(),
                };
                let sid = sub.id.clone();
                if let Some(obj) = self.objects.get_mut(o) {
                    obj.subs.push(sub);
                }
                Ok(json!({ "value": sid }))
            }
            "unsubscribe" => {
                let o = object()?;
                let sub = p.get("subscription").and_then(Value::as_str).unwrap_or("");
                // KMS answers success even for a released object (seen in wire.jsonl).
                if let Some(obj) = self.objects.get_mut(o) {
                    obj.subs.retain(|x| x.id != sub);
                }
                Ok(json!({}))
            }
            "release" => {
                let o = object()?;
                self.record_release(o, s, false);
                self.release(o);
                Ok(json!({}))
            }
            "ref" => {
                let o = object()?;
                self.obj(o)?;
                self.add_ref(s, o);
                Ok(json!({}))
            }
            "unref" => {
                let o = object()?;
                self.obj(o)?;
                self.unref(s, o);
                Ok(json!({}))
            }
            "transaction" => {
                let ops = p
                    .get("operations")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    let resp = match kms_proto::wire::decode_value(op) {
                        Ok(kms_proto::wire::Frame::Request(r)) => self.dispatch(Some(s), r).0,
                        _ => Response::err(None, super::rpc::invalid_request()),
                    };
                    results.push(resp.to_value());
                }
                Ok(json!({ "value": results }))
            }
            _ => Err(RpcError {
                code: code::METHOD_NOT_FOUND,
                message: "Method not found.".into(),
                data: None,
            }),
        }
    }
}
