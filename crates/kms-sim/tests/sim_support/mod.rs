//! Test support for the simulator tests: a raw JSON-RPC WebSocket client
//! (tokio-tungstenite) and polling helpers with deadlines.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kms_sim::{self as sim, SimConfig, SimHandle};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn sim(gc_ms: u64, tick_ms: u64) -> SimHandle {
    sim_with(gc_ms, tick_ms, 1.0).await
}

pub async fn sim_with(gc_ms: u64, tick_ms: u64, speed: f64) -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: Some("127.0.0.1:0".parse().unwrap()),
        gc_period: Duration::from_millis(gc_ms),
        tick: Duration::from_millis(tick_ms),
        seed: 7,
        speed,
    })
    .await
    .expect("simulator starts")
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_id: u64,
    pub session: Option<String>,
    pub events: Vec<Value>,
    pub stray: Vec<Value>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Client {
            ws,
            next_id: 1,
            session: None,
            events: Vec::new(),
            stray: Vec::new(),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Next text frame as JSON, None when the connection ended.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("frame in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(serde_json::from_str(&t).unwrap_or(Value::String(t)))
                }
                Some(Ok(Message::Binary(_))) => return Some(json!({"binary": true})),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Send a request and return the full response, keeping events aside.
    pub async fn call(&mut self, method: &str, mut params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        if let (Some(s), Some(m)) = (&self.session, params.as_object_mut()) {
            m.entry("sessionId").or_insert(json!(s));
        }
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(&req.to_string()).await;
        self.response(id).await
    }

    pub async fn response(&mut self, id: u64) -> Value {
        loop {
            let v = self.recv().await.expect("connection open");
            if v.get("method").and_then(Value::as_str) == Some("onEvent") {
                self.events.push(v);
                continue;
            }
            if v.get("id") == Some(&json!(id)) {
                if let Some(s) = v.pointer("/result/sessionId").and_then(Value::as_str) {
                    self.session = Some(s.to_owned());
                }
                return v;
            }
            self.stray.push(v);
        }
    }

    /// `result` of a call, panicking on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone()).await;
        assert!(r.get("error").is_none(), "{method} {params} failed: {r}");
        r["result"].clone()
    }

    pub async fn create(&mut self, ty: &str, ctor: Value) -> String {
        let r = self
            .ok(
                "create",
                json!({"type": ty, "constructorParams": ctor, "properties": {}}),
            )
            .await;
        r["value"].as_str().expect("id").to_owned()
    }

    pub async fn pipeline(&mut self) -> String {
        self.create("MediaPipeline", json!({})).await
    }

    pub async fn element(&mut self, ty: &str, pipeline: &str) -> String {
        self.create(ty, json!({ "mediaPipeline": pipeline })).await
    }

    pub async fn invoke(&mut self, object: &str, op: &str, params: Value) -> Value {
        let r = self
            .ok(
                "invoke",
                json!({"object": object, "operation": op, "operationParams": params}),
            )
            .await;
        r["value"].clone()
    }

    pub async fn subscribe(&mut self, object: &str, ty: &str) -> String {
        let r = self
            .ok("subscribe", json!({"object": object, "type": ty}))
            .await;
        r["value"].as_str().expect("sub id").to_owned()
    }

    /// Wait for an event matching `pred` (checks buffered events first).
    pub async fn event(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.events.iter().position(&pred) {
            return self.events.remove(i);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = tokio::time::timeout(left, self.recv())
                .await
                .expect("event before deadline")
                .expect("connection open");
            if pred(&v) {
                return v;
            }
            if v.get("method").and_then(Value::as_str) == Some("onEvent") {
                self.events.push(v);
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// An `onEvent` of type `ty` on `object`.
pub fn is_event<'a>(ty: &'a str, object: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |v: &Value| {
        v.pointer("/params/value/type").and_then(Value::as_str) == Some(ty)
            && v.pointer("/params/value/object").and_then(Value::as_str) == Some(object)
    }
}

/// Poll `cond` until true or the deadline.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
