//! The replay engine: one WebSocket per captured connection, requests sent in
//! captured order with ids remapped, responses and events compared with the
//! capture (see `compare.rs` for the shape rules and `tests/replay.rs` for the
//! timing rules).

use super::compare::{compare_message, short, IdMap};
use super::events::{event_key, wait_events, EventBook};
use super::wire::{open, Conn, Frame};
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// How long one response may take.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);
/// How long a time-dependent read is polled until it matches the capture.
pub const POLL_DEADLINE: Duration = Duration::from_secs(40);
/// How long we wait for an event the capture had received by then.
/// The replay runs faster than the capture (no pauses between requests), so a
/// timed event (a player ends 60 s after `play`) may be due long after the
/// request the capture had it before: the deadline covers the longest timer.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(75);
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
    pub(crate) repeats: HashMap<String, (usize, usize)>,
    /// events missing at their point: (conn, key, index in `failures`)
    pub(crate) missing: Vec<(u64, String, usize)>,
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
