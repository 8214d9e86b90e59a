//! Replays the kurento-client session captured from a real KMS 7.3
//! (`tests/fixtures/kurento/samples/wire.jsonl`, connection 1: pipeline, player,
//! two WebRtcEndpoints in loopback, stats, release of the sender and 45 s of
//! polling; the second capture; two real browsers that vanished) against the
//! simulator on a clock driven by the recorded times, and compares every
//! response with the recorded one (same result/error, same JSON shape, same
//! enum-like values such as states, flows and types, same booleans) and the
//! events each connection received (same event types on the same objects).

mod sim_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kms_sim::Vanish;
use serde_json::Value;
use sim_support::{sim_with, Client};

/// The simulator's clock is frozen and driven by the replay (deterministic).
const SPEED: f64 = 0.0;

/// The repository's copies of the captures (`tests/fixtures/kurento/samples`).
fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kurento/samples")
}

fn looks_like_id(s: &str) -> bool {
    s.contains("_kurento.")
        || s.starts_with("v=0")
        || (s.len() == 36 && s.matches('-').count() == 4)
}

/// Remember which recorded ids/SDPs correspond to which simulator ones.
fn learn(rec: &Value, sim: &Value, map: &mut HashMap<String, String>) {
    match (rec, sim) {
        (Value::String(r), Value::String(s)) if r != s && looks_like_id(r) => {
            // First sighting wins (creates come first; lists may be ordered differently).
            map.entry(r.clone()).or_insert_with(|| s.clone());
        }
        (Value::Object(r), Value::Object(s)) => {
            for (k, v) in r {
                if let Some(w) = s.get(k) {
                    learn(v, w, map);
                }
            }
        }
        (Value::Array(r), Value::Array(s)) => {
            for (v, w) in r.iter().zip(s) {
                learn(v, w, map);
            }
        }
        _ => {}
    }
}

fn substitute(v: &mut Value, map: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(m) = map.get(s.as_str()) {
                *s = m.clone();
            }
        }
        Value::Object(o) => o.values_mut().for_each(|x| substitute(x, map)),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, map)),
        _ => {}
    }
}

fn enum_like(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// Differences between the recorded and the simulated value.
fn diff(path: &str, rec: &Value, sim: &Value, out: &mut Vec<String>) {
    match (rec, sim) {
        (Value::Null, Value::Null) | (Value::Number(_), Value::Number(_)) => {}
        (Value::Bool(a), Value::Bool(b)) if a == b => {}
        (Value::String(a), Value::String(b)) => {
            if (enum_like(a) || path.ends_with("/type") || path.ends_with("__type__")) && a != b {
                out.push(format!("{path}: recorded {a:?}, simulated {b:?}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!(
                    "{path}: recorded {} items, simulated {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), x, y, out);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keyed_by_id = a.keys().chain(b.keys()).any(|k| looks_like_id(k));
            if keyed_by_id {
                // Stats maps: compare per stats type.
                let group = |m: &serde_json::Map<String, Value>| {
                    let mut g: Vec<(String, Value)> = m
                        .values()
                        .map(|v| (v["type"].as_str().unwrap_or("").to_owned(), v.clone()))
                        .collect();
                    g.sort_by(|x, y| x.0.cmp(&y.0));
                    g
                };
                let (ga, gb) = (group(a), group(b));
                let ta: Vec<&String> = ga.iter().map(|x| &x.0).collect();
                let tb: Vec<&String> = gb.iter().map(|x| &x.0).collect();
                if ta != tb {
                    out.push(format!("{path}: recorded stats {ta:?}, simulated {tb:?}"));
                }
                for ((t, x), (_, y)) in ga.iter().zip(&gb) {
                    diff(&format!("{path}[{t}]"), x, y, out);
                }
                return;
            }
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                out.push(format!("{path}: recorded keys {ka:?}, simulated {kb:?}"));
            }
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    diff(&format!("{path}/{k}"), v, w, out);
                }
            }
        }
        _ => out.push(format!("{path}: recorded {rec}, simulated {sim}")),
    }
}

/// Replay the client frames of `file` (all its connections, interleaved in
/// recorded order) and return the differences with the recorded responses.
async fn replay(file: &str) -> Vec<String> {
    replay_with(file, None).await
}

/// As `replay`, and after the response to request `id` the (only) browser
/// peer vanishes `how` (the capture's browser was killed or closed there).
async fn replay_with(file: &str, vanish: Option<(u64, Vanish)>) -> Vec<String> {
    let path = samples().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let frames: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let t0 = frames[0]["t"].as_u64().unwrap();
    let responses: HashMap<(u64, u64), &Value> = frames
        .iter()
        .filter(|f| f["dir"] == "kms->client" && f["msg"].get("id").is_some_and(Value::is_u64))
        .map(|f| {
            (
                (
                    f["conn"].as_u64().unwrap_or(1),
                    f["msg"]["id"].as_u64().unwrap(),
                ),
                &f["msg"],
            )
        })
        .collect();

    // Ticks of 500 ms of simulated time, as `advance_clock` steps.
    let h = sim_with(600_000, 500, SPEED).await;
    let mut clients: HashMap<u64, Client> = HashMap::new();
    let mut map = HashMap::new();
    let mut problems = Vec::new();
    for f in frames.iter().filter(|f| f["dir"] == "client->kms") {
        let conn = f["conn"].as_u64().unwrap_or(1);
        let due = f["t"].as_u64().unwrap() - t0;
        let elapsed = h.elapsed_ms();
        if due > elapsed {
            h.advance_clock(Duration::from_millis(due - elapsed));
        }
        let mut msg = f["msg"].clone();
        substitute(&mut msg, &map);
        let Some(id) = msg["id"].as_u64() else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(v) = clients.entry(conn) {
            v.insert(Client::connect(&h.ws_url()).await);
        }
        let c = clients.get_mut(&conn).unwrap();
        c.send_text(&msg.to_string()).await;
        let got = c.response(id).await;
        if let Some((_, how)) = vanish.filter(|(at, _)| *at == id) {
            h.with_engine(|e, _| {
                let t = e.truth();
                for o in t.objects.iter().filter(|o| o.kind == "WebRtcEndpoint") {
                    e.vanish_peer(&o.id, how);
                }
            });
        }
        let Some(rec) = responses.get(&(conn, id)) else {
            continue;
        };
        learn(rec, &got, &mut map);
        let what = format!(
            "conn {conn} #{id} {} {}",
            msg["method"].as_str().unwrap_or(""),
            msg["params"]["operation"].as_str().unwrap_or("")
        );
        let mut d = Vec::new();
        if msg["params"]["operation"] == "getSessions" {
            // The recorded KMS had sessions from before the capture: check the form only.
            let v: Vec<&str> = got["result"]["value"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let (blank, ids) = v.split_at(v.len() / 2);
            if !blank.iter().all(|s| s.is_empty()) || ids.iter().any(|s| s.is_empty()) {
                d.push(format!("getSessions form: {v:?}"));
            }
        } else {
            diff("", rec, &got, &mut d);
        }
        problems.extend(d.into_iter().map(|p| format!("{what} {p}")));
    }
    // Events: every (event type, object) pair KMS sent a connection, the simulator sent too.
    for (conn, c) in clients.iter_mut() {
        let got: std::collections::BTreeSet<(String, String)> = c
            .events
            .iter()
            .map(|e| {
                let v = &e["params"]["value"];
                (
                    v["type"].as_str().unwrap_or("").to_owned(),
                    v["object"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let want: std::collections::BTreeSet<(String, String)> = frames
            .iter()
            .filter(|f| f["conn"].as_u64().unwrap_or(1) == *conn && f["msg"]["method"] == "onEvent")
            .map(|f| {
                let v = &f["msg"]["params"]["value"];
                let object = v["object"].as_str().unwrap_or("");
                let object = map.get(object).map_or(object, String::as_str);
                (
                    v["type"].as_str().unwrap_or("").to_owned(),
                    object.to_owned(),
                )
            })
            .collect();
        for missing in want.difference(&got) {
            problems.push(format!("conn {conn} event missing: {missing:?}"));
        }
        for extra in got.difference(&want) {
            problems.push(format!("conn {conn} event not sent by KMS: {extra:?}"));
        }
    }
    h.shutdown().await;
    problems
}

#[tokio::test]
async fn replay_of_a_real_kurento_client_session_matches() {
    let problems = replay("wire.jsonl").await;
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn replay_of_the_second_capture_matches() {
    let problems = replay("extra/wire-second-run.jsonl").await;
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn replay_of_a_crashed_browser_matches() {
    // The browser was killed right after the first round of polls (request 38).
    let problems = replay_with("browser/crash-wire.jsonl", Some((38, Vanish::Crash))).await;
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn replay_of_a_closed_browser_matches() {
    let problems = replay_with("browser/close-wire.jsonl", Some((38, Vanish::Close))).await;
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
