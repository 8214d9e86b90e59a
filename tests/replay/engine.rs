//! The replay engine: one WebSocket per captured connection, requests sent in
//! captured order with ids remapped, responses and events compared with the
//! capture (see `compare.rs` for the shape rules and `tests/replay.rs` for the
//! timing rules).

use super::compare::{compare_message, short, IdMap};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long one response may take.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a time-dependent read is polled until it matches the capture.
pub const POLL_DEADLINE: Duration = Duration::from_secs(40);
/// How long we wait for an event the capture had received by then.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(30);
/// Once a wait has timed out, later waits of the same kind use this.
pub const SHORT_DEADLINE: Duration = Duration::from_secs(2);

/// Getters whose answer depends on media timing: polled with a deadline, and
/// the answer may match any later capture of the same request.
pub const TIMED_OPS: &[&str] = &[
    "isMediaFlowingIn",
    "isMediaFlowingOut",
    "getMediaState",
    "getConnectionState",
    "getIceConnectionState",
    "getICECandidatePairs",
    "getStats",
    "getDtlsConnectionState",
    "getState",
    "getPosition",
    "getUsedCpu",
];

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

enum Incoming {
    Json(Value),
    Closed(String),
}

/// One replay WebSocket: responses by id, events in arrival order.
pub struct Conn {
    tx: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Message,
    >,
    rx: mpsc::UnboundedReceiver<Incoming>,
    responses: HashMap<String, Value>,
    events: Vec<Value>,
    closed: Option<String>,
    binary: bool,
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
    async fn send_raw(&mut self, s: String, binary: bool) {
        let m = if binary {
            Message::Binary(s.into_bytes())
        } else {
            Message::Text(s)
        };
        if let Err(e) = self.tx.send(m).await {
            self.closed.get_or_insert(format!("send failed: {e}"));
        }
    }

    fn absorb(&mut self, m: Incoming) {
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
    async fn response(&mut self, id: &Value, d: Duration) -> Result<Value, String> {
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
    fn drain(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.absorb(m);
        }
    }
}

/// The key events are matched by: type, object, and the state-like fields.
fn event_key(ev: &Value) -> String {
    let v = &ev["params"]["value"];
    let d = &v["data"];
    let mut k = format!(
        "{} on {}",
        v["type"].as_str().unwrap_or("?"),
        v["object"].as_str().unwrap_or("?")
    );
    for f in [
        "state",
        "newState",
        "mediaType",
        "componentId",
        "object",
        "objectId",
    ] {
        if let Some(x) = d.get(f) {
            k.push_str(&format!(
                " {f}={}",
                x.as_str().map_or_else(|| x.to_string(), str::to_string)
            ));
        }
    }
    k
}

/// Whether a request changes server state (anything but reads, pings,
/// subscriptions and session keep-alives).
fn mutates(req: &Value) -> bool {
    match req["method"].as_str() {
        Some("ping" | "describe" | "subscribe" | "unsubscribe" | "keepAlive" | "connect") => false,
        Some("invoke") => !req["params"]["operation"]
            .as_str()
            .is_some_and(|o| o.starts_with("get") || o.starts_with("is")),
        _ => true,
    }
}

fn request_key(conn: u64, req: &Value) -> String {
    let p = &req["params"];
    format!(
        "{conn} {} {} {} {}",
        req["method"], p["object"], p["operation"], p["operationParams"]
    )
}

/// Something that happened outside the protocol during the capture (a
/// browser peer vanished), re-enacted through the simulator's control API
/// (`POST /peer/{element}/vanish?how=crash|close`) before frame `before_frame`.
pub struct VanishPlan {
    pub before_frame: usize,
    /// The captured WebRtcEndpoint id (mapped to the sim's at that point).
    pub element: String,
    pub how: String,
    pub control: std::net::SocketAddr,
}

async fn http_post(addr: std::net::SocketAddr, path: &str) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    timeout(RESPONSE_DEADLINE, s.read_to_string(&mut out))
        .await
        .map_err(|_| "no HTTP answer".to_string())?
        .map_err(|e| e.to_string())?;
    if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
        Ok(out)
    } else {
        Err(out)
    }
}

/// The result of one replay.
#[derive(Default)]
pub struct Report {
    pub failures: Vec<String>,
    pub requests: usize,
    pub compared: usize,
    pub events_checked: usize,
    /// failure signature -> (index in `failures`, repetitions)
    repeats: HashMap<String, (usize, usize)>,
    /// events missing at their point: (conn, key, index in `failures`)
    missing: Vec<(u64, String, usize)>,
}

impl Report {
    /// Record a failure; the same failure (`sig`) again is only counted.
    fn fail(&mut self, sig: String, msg: String) {
        if let Some(r) = self.repeats.get_mut(&sig) {
            r.1 += 1;
            return;
        }
        self.repeats.insert(sig, (self.failures.len(), 0));
        self.failures.push(msg);
    }

    fn finish(&mut self) {
        for (i, n) in self.repeats.values() {
            if *n > 0 {
                self.failures[*i]
                    .push_str(&format!("\n      (and {n} more times, same difference)"));
            }
        }
    }
}

pub async fn replay(url: &str, frames: &[Frame], vanish: Option<VanishPlan>) -> Report {
    let mut rep = Report::default();
    let mut ids = IdMap::default();
    // captured responses and events, indexed
    let mut cap_resp: HashMap<(u64, String), (usize, Value)> = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        if !f.to_kms && f.msg.get("method").is_none() {
            if let Some(id) = f.msg.get("id") {
                cap_resp
                    .entry((f.conn, id.to_string()))
                    .or_insert((i, f.msg.clone()));
            }
        }
    }
    // later captures of the same request (for time-dependent reads)
    // The next state-changing request (or re-enacted vanish) after each
    // frame: a timed read may match a later capture of itself only up to it.
    let mut next_change = vec![frames.len(); frames.len() + 1];
    for i in (0..frames.len()).rev() {
        let f = &frames[i];
        let changes =
            (f.to_kms && mutates(&f.msg)) || vanish.as_ref().is_some_and(|v| v.before_frame == i);
        next_change[i] = if changes { i } else { next_change[i + 1] };
    }
    let mut same_req: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        if f.to_kms {
            same_req
                .entry(request_key(f.conn, &f.msg))
                .or_default()
                .push(i);
        }
    }

    let mut conns: BTreeMap<u64, Conn> = BTreeMap::new();
    let mut book = EventBook::default();
    let mut failed_polls: HashSet<String> = HashSet::new();
    let mut extra_id: u64 = 900_000;

    for (i, f) in frames.iter().enumerate() {
        if let Some(v) = vanish.as_ref().filter(|v| v.before_frame == i) {
            let element = ids.subst_str(&v.element);
            let path = format!("/peer/{}/vanish?how={}", element.replace('/', "%2F"), v.how);
            if let Err(e) = http_post(v.control, &path).await {
                rep.failures.push(format!(
                    "control API POST {path} failed (cannot re-enact the vanish): {e}"
                ));
            }
        }
        if !f.to_kms {
            if f.msg.get("method").and_then(Value::as_str) == Some("onEvent") {
                book.seen
                    .entry(f.conn)
                    .or_default()
                    .push((i, f.msg.clone()));
            }
            continue;
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = conns.entry(f.conn) {
            let mut c = open(url).await;
            // conn 1 is kurento-client, which sends binary frames
            c.binary = f.conn == 1;
            slot.insert(c);
        }
        // Events the captured client had received before this request must
        // have reached us too.
        let before = format!(
            "conn {} request #{} {} {}",
            f.conn,
            f.msg["id"],
            f.msg["method"].as_str().unwrap_or("?"),
            f.msg["params"]["operation"].as_str().unwrap_or("")
        );
        wait_events(&mut conns, &mut book, &mut ids, &mut rep, &before).await;

        rep.requests += 1;
        let req = ids.subst(&f.msg);
        let conn = conns.get_mut(&f.conn).expect("conn");
        let text = match &req {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let binary = conn.binary;
        conn.send_raw(text, binary).await;
        let Some(id) = f.msg.get("id").cloned() else {
            continue;
        };
        let Some((_, cap)) = cap_resp.get(&(f.conn, id.to_string())).cloned() else {
            continue;
        };
        let op = f.msg["params"]["operation"].as_str().map(str::to_string);
        let method = f.msg["method"].as_str().unwrap_or("?").to_string();
        let what = format!(
            "conn {} request #{} {} {}{}",
            f.conn,
            id,
            method,
            op.clone().unwrap_or_default(),
            f.msg["params"]["object"]
                .as_str()
                .map(|o| format!(" on {}", tail(o)))
                .unwrap_or_default()
        );
        let got = match conn.response(&id, RESPONSE_DEADLINE).await {
            Ok(g) => g,
            Err(e) => {
                rep.failures
                    .push(format!("{what}: {e}; expected {}", short(&cap)));
                continue;
            }
        };
        rep.compared += 1;
        let mut trial = ids.clone();
        let errs = compare_message(&mut trial, op.as_deref(), &cap, &got);
        if errs.is_empty() {
            ids = trial;
            continue;
        }
        let timed = method == "invoke" && op.as_deref().is_some_and(|o| TIMED_OPS.contains(&o));
        if !timed {
            let sig = format!("{} {}", request_key(f.conn, &f.msg), errs.join("; "));
            rep.fail(
                sig,
                format!(
                    "{what}: {}\n      request {}\n      expected {}\n      got      {}",
                    errs.join("; "),
                    short(&req),
                    short(&cap),
                    short(&got)
                ),
            );
            continue;
        }
        // Time-dependent read: accept a later captured answer of the same
        // request (up to the next state-changing request: the sim may be
        // faster, but not skip a cause); otherwise poll (new request ids)
        // until one matches.
        let key = request_key(f.conn, &f.msg);
        let until = next_change[i + 1];
        let alts: Vec<Value> = same_req[&key]
            .iter()
            .filter(|j| **j >= i && **j < until)
            .filter_map(|j| {
                let rid = frames[*j].msg.get("id")?.to_string();
                cap_resp.get(&(f.conn, rid)).map(|x| x.1.clone())
            })
            .collect();
        let deadline = if failed_polls.contains(&key) {
            Duration::ZERO
        } else {
            POLL_DEADLINE
        };
        let end = Instant::now() + deadline;
        let mut last = got;
        let mut matched = false;
        loop {
            for a in &alts {
                let mut t = ids.clone();
                if compare_message(&mut t, op.as_deref(), a, &last).is_empty() {
                    ids = t;
                    matched = true;
                    break;
                }
            }
            if matched || Instant::now() >= end {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            extra_id += 1;
            let mut again = req.clone();
            again["id"] = json!(extra_id);
            let conn = conns.get_mut(&f.conn).expect("conn");
            conn.send_raw(again.to_string(), binary).await;
            match conn.response(&json!(extra_id), RESPONSE_DEADLINE).await {
                Ok(g) => last = g,
                Err(_) => break,
            }
        }
        if !matched {
            failed_polls.insert(key.clone());
            let mut t = ids.clone();
            let errs = compare_message(&mut t, op.as_deref(), &cap, &last);
            let sig = format!("{key} {}", errs.join("; "));
            rep.fail(sig, format!(
                "{what} (time-dependent, polled {deadline:?}): {}\n      request {}\n      expected {}\n      got      {}",
                errs.join("; "),
                short(&req),
                short(&cap),
                short(&last)
            ));
        }
    }
    // every captured event must eventually arrive
    wait_events(
        &mut conns,
        &mut book,
        &mut ids,
        &mut rep,
        "the end of the replay",
    )
    .await;
    // an event missing at its point may still have come later
    for (c, k, idx) in std::mem::take(&mut rep.missing) {
        let late = conns.get_mut(&c).is_some_and(|conn| {
            conn.drain();
            conn.events.iter().any(|e| event_key(e) == k)
        });
        rep.failures[idx].push_str(if late {
            " -- it arrived later than in the capture"
        } else {
            " -- never received"
        });
    }
    for (_, mut c) in conns {
        let _ = c.tx.close().await;
    }
    rep.finish();
    rep
}

fn tail(id: &str) -> String {
    match id.rsplit_once("_kurento.") {
        Some((_, t)) => format!("{}..{t}", &id[..8.min(id.len())]),
        None => id.to_string(),
    }
}

/// Wait until every captured event (by key) received so far on each
/// connection has a replayed counterpart; compare the first of each key.
/// Captured events by connection, and what the replay has matched so far.
#[derive(Default)]
struct EventBook {
    /// captured events seen so far in the capture, per connection
    seen: HashMap<u64, Vec<(usize, Value)>>,
    /// (conn, key) already found (or already reported missing)
    satisfied: HashSet<(u64, String)>,
    /// (conn, key) whose first event was compared in shape
    shape_done: HashSet<(u64, String)>,
    /// event types that timed out once (short deadline from then on)
    slow_types: HashSet<String>,
}

async fn wait_events(
    conns: &mut BTreeMap<u64, Conn>,
    book: &mut EventBook,
    ids: &mut IdMap,
    rep: &mut Report,
    before: &str,
) {
    let EventBook {
        seen,
        satisfied,
        shape_done,
        slow_types,
    } = book;
    for (conn_id, conn) in conns.iter_mut() {
        conn.drain();
        let Some(evs) = seen.get(conn_id) else {
            continue;
        };
        // captured keys (in sim id space) still to be found
        let wanted: Vec<(String, Value)> = evs
            .iter()
            .map(|(_, e)| (event_key(&ids.subst(e)), e.clone()))
            .filter(|(k, _)| !satisfied.contains(&(*conn_id, k.clone())))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        for (k, cap) in wanted {
            if satisfied.contains(&(*conn_id, k.clone())) {
                continue;
            }
            // an event type that already timed out once is not waited for long again
            let etype = k.split(' ').next().unwrap_or("").to_string();
            let end = Instant::now()
                + if slow_types.contains(&etype) {
                    SHORT_DEADLINE
                } else {
                    EVENT_DEADLINE
                };
            loop {
                if let Some(got) = conn.events.iter().find(|e| event_key(e) == k) {
                    satisfied.insert((*conn_id, k.clone()));
                    rep.events_checked += 1;
                    if shape_done.insert((*conn_id, k.clone())) {
                        let mut t = ids.clone();
                        let errs = compare_message(&mut t, None, &cap, got);
                        if errs.is_empty() {
                            *ids = t;
                        } else {
                            rep.failures.push(format!(
                                "conn {conn_id} event {k}: {}\n      expected {}\n      got      {}",
                                errs.join("; "),
                                short(&cap),
                                short(got)
                            ));
                        }
                    }
                    break;
                }
                let now = Instant::now();
                if now >= end || conn.closed.is_some() {
                    satisfied.insert((*conn_id, k.clone()));
                    slow_types.insert(etype.clone());
                    // what the sim did send of this type on this object
                    let prefix: String = k.split(' ').take(3).collect::<Vec<_>>().join(" ");
                    let mut have: Vec<String> = conn
                        .events
                        .iter()
                        .map(event_key)
                        .filter(|e| e.starts_with(&prefix))
                        .map(|e| e[prefix.len()..].trim().to_string())
                        .collect();
                    have.dedup();
                    rep.missing.push((*conn_id, k.clone(), rep.failures.len()));
                    rep.failures.push(format!(
                        "conn {conn_id}: event {k} not received before {before} (KMS had sent it by then; by then the sim had sent this type on this object with: {have:?})"
                    ));
                    break;
                }
                match tokio::time::timeout_at(end, conn.rx.recv()).await {
                    Ok(Some(m)) => conn.absorb(m),
                    Ok(None) => conn.closed = Some("reader gone".into()),
                    Err(_) => {}
                }
            }
        }
    }
}
