//! The capture files and the replay's WebSocket connections: frames as
//! captured, one connection per captured `conn`, responses by id and events
//! in arrival order.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
pub struct Frame {
    pub conn: u64,
    pub to_kms: bool,
    pub msg: Value,
}

pub fn load(path: &Path) -> Vec<Frame> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("capture line is JSON");
            let msg = match &v["msg"] {
                // a frame captured as raw text: parse it when it is JSON
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                m => m.clone(),
            };
            Frame {
                conn: v["conn"].as_u64().unwrap_or(1),
                to_kms: v["dir"].as_str() == Some("client->kms"),
                msg,
            }
        })
        .collect()
}

pub(crate) enum Incoming {
    Json(Value),
    Closed(String),
}

/// One replay WebSocket: responses by id, events in arrival order.
pub struct Conn {
    pub(crate) tx: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Message,
    >,
    pub(crate) rx: mpsc::UnboundedReceiver<Incoming>,
    pub(crate) responses: HashMap<String, Value>,
    pub(crate) events: Vec<Value>,
    pub(crate) closed: Option<String>,
    pub(crate) binary: bool,
}

pub async fn open(url: &str) -> Conn {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    let (tx, mut read) = ws.split();
    let (etx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(m) = read.next().await {
            let text = match m {
                Ok(Message::Text(t)) => t,
                Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
                Ok(Message::Close(c)) => {
                    let _ = etx.send(Incoming::Closed(format!("close frame {c:?}")));
                    return;
                }
                Ok(_) => continue,
                Err(e) => {
                    let _ = etx.send(Incoming::Closed(format!("error {e}")));
                    return;
                }
            };
            let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if etx.send(Incoming::Json(v)).is_err() {
                return;
            }
        }
        let _ = etx.send(Incoming::Closed("end of stream".into()));
    });
    Conn {
        tx,
        rx,
        responses: HashMap::new(),
        events: Vec::new(),
        closed: None,
        binary: false,
    }
}

impl Conn {
    pub async fn send_text(&mut self, s: &str) {
        self.send_raw(s.to_string(), false).await;
    }

    /// Next message, or `Err(reason)` when the socket closed / nothing came.
    pub async fn next(&mut self, d: Duration) -> Result<Value, String> {
        match timeout(d, self.rx.recv()).await {
            Ok(Some(Incoming::Json(v))) => Ok(v),
            Ok(Some(Incoming::Closed(r))) => Err(format!("closed: {r}")),
            Ok(None) => Err("closed: reader gone".into()),
            Err(_) => Err("timeout".into()),
        }
    }
}

impl Conn {
    pub(crate) async fn send_raw(&mut self, s: String, binary: bool) {
        let m = if binary {
            Message::Binary(s.into_bytes())
        } else {
            Message::Text(s)
        };
        if let Err(e) = self.tx.send(m).await {
            self.closed.get_or_insert(format!("send failed: {e}"));
        }
    }

    pub(crate) fn absorb(&mut self, m: Incoming) {
        match m {
            Incoming::Json(v) => {
                if v.get("method").and_then(Value::as_str) == Some("onEvent") {
                    self.events.push(v);
                } else if let Some(id) = v.get("id") {
                    self.responses.insert(id.to_string(), v);
                } else {
                    self.responses.insert("?".into(), v);
                }
            }
            Incoming::Closed(r) => {
                self.closed.get_or_insert(r);
            }
        }
    }

    /// Wait for the response with `id` (deadline).
    pub(crate) async fn response(&mut self, id: &Value, d: Duration) -> Result<Value, String> {
        let key = id.to_string();
        let end = Instant::now() + d;
        loop {
            if let Some(v) = self.responses.remove(&key) {
                return Ok(v);
            }
            if let Some(r) = &self.closed {
                return Err(format!("connection closed ({r})"));
            }
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some(m)) => self.absorb(m),
                Ok(None) => self.closed = Some("reader gone".into()),
                Err(_) => return Err(format!("no response within {d:?}")),
            }
        }
    }

    /// Take whatever already arrived, without waiting.
    pub(crate) fn drain(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.absorb(m);
        }
    }
}
