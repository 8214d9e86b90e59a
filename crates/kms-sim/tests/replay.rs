//! Wire replay: every request of every captured `*wire*.jsonl` (real KMS 7.3,
//! `tests/fixtures/kurento/samples`) is replayed against `kms-sim`, and every
//! response and event is compared in SHAPE with the captured one.
//!
//! How the replay works
//! - One fresh `kms-sim` process per capture file; one WebSocket per captured
//!   `conn` (files without `conn` have a single connection). Requests go out in
//!   captured order across connections; each one waits for its response
//!   (deadline 10 s) before the next is sent. Connection 1 (kurento-client)
//!   sends binary frames, the others text frames, as in the capture.
//! - Ids are remapped at uuid granularity: every id-like string in a captured
//!   response (session ids, object ids, subscription ids, stats ids, server
//!   id) binds its uuids to the sim's; later requests get every bound uuid
//!   replaced, also inside composite strings (`<pipeline>/<element>`) and
//!   nested requests (`transaction`). Captured SDP answers/offers are bound to
//!   the sim's SDP, so `processOffer`/`processAnswer` carry the sim's own SDP
//!   (a browser's captured offer is not a response and is sent as is).
//!   Captured ICE candidates are sent as is. Bogus ids are sent as is.
//!
//! What is compared (details in `replay/compare.rs`)
//! - the whole message except its `id`: same keys recursively, same JSON
//!   types, same id formats (uuid, `<uuid>_kurento.MediaPipeline`,
//!   `<pipe>/<uuid>_kurento.Type` with the same Type, `manager_ServerManager`,
//!   other); bound ids must stay consistent (a getter must return the very id
//!   the sim created); booleans exact; error `code`, `data.type` and
//!   `message` (captured ids replaced) exact; enum-like strings and small
//!   fixed strings (`pong`, names, tags, types, hierarchy) exact; counters,
//!   timestamps, uuids, SDP text, candidates, version strings by type/format.
//!
//! Timing
//! - Reads that depend on media timing ([`engine::TIMED_OPS`]: flow, media,
//!   connection and ICE states, stats, candidate pairs) may match the capture
//!   of the same request at this point or at a later point before the next
//!   state-changing request (or re-enacted vanish): the sim may be faster than
//!   KMS, but may not skip a cause. Otherwise they are re-sent every 250 ms
//!   until one matches, deadline 40 s (a request key that already timed out
//!   is not polled again).
//! - Events: before each request, every event the captured connection had
//!   received by then must have arrived on the replay connection (matched by
//!   type, object, and `state`/`newState`/`mediaType`/`componentId`/
//!   `object`/`objectId`), deadline 75 s (2 s after the first timeout); at
//!   the end every captured event key must have arrived. Multiplicity is not
//!   compared (KMS's counts of ICE candidates or repeated `Error` events are
//!   not fixed). The first replayed event of each key is compared in shape
//!   with the first captured one.
//!
//! `REPLAY_KMS_URL=ws://host:8888/kurento cargo test --test replay` replays
//! against that server instead of a fresh `kms-sim` (one test at a time:
//! `--test-threads=1`), e.g. to check these rules against a real KMS.
//!
//! Browser captures: the browser vanished outside the protocol; the replay
//! re-enacts it with the simulator's control API (`POST
//! /peer/{element}/vanish?how=crash|close`, see `vanish_plan`).
//!
//! Failures that repeat (the same request key with the same difference) are
//! reported once with a count.
//!
//! The rules are checked both ways: the `comparator_*` unit tests feed wrong
//! shapes that must fail, and `replay_rules_accept_the_capture_itself`
//! replays every capture against `replay/echo_capture.cjs` (KMS's own captured
//! answers with every uuid rewritten), which must pass.
//!
//! Malformed frames (`extra/malformed-requests.json`) are replayed on their own
//! connections: a non-JSON frame must close the socket without a JSON-RPC
//! answer; the others must give the captured error (`-32603`: message prefix).

#[path = "replay/compare.rs"]
mod compare;
#[cfg(test)]
#[path = "replay/compare_tests.rs"]
mod compare_tests;
#[path = "replay/engine.rs"]
mod engine;
#[path = "replay/events.rs"]
mod events;
#[path = "replay/facts.rs"]
mod facts;
mod support;
#[path = "replay/wire.rs"]
mod wire;

use compare::{compare_message, IdMap};
use serde_json::{json, Value};
use std::time::Duration;

/// The server under test: `kms-sim` (with its control API) on free ports, or
/// the server named by `REPLAY_KMS_URL` (e.g. a real KMS, to check the replay
/// rules themselves; no control API there).
fn target() -> (Option<support::SimProcess>, String) {
    match std::env::var("REPLAY_KMS_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let sim = support::spawn_sim_with_control(&[]);
            let url = sim.ws_url();
            (Some(sim), url)
        }
    }
}

/// In the browser captures the browser vanished (killed, or its peer
/// connection closed) between two polls, outside the protocol. The replay
/// re-enacts it through the simulator's control API just before the first
/// request that follows KMS's first `NOT_FLOWING` event, on the endpoint the
/// capture created.
fn vanish_plan(
    frames: &[wire::Frame],
    how: &str,
    control: std::net::SocketAddr,
) -> engine::VanishPlan {
    let element = frames
        .iter()
        .filter(|f| !f.to_kms)
        .find_map(|f| {
            let v = f.msg["result"]["value"].as_str()?;
            v.ends_with("_kurento.WebRtcEndpoint")
                .then(|| v.to_string())
        })
        .expect("the capture creates a WebRtcEndpoint");
    let first_stop = frames
        .iter()
        .position(|f| f.msg["params"]["value"]["data"]["state"] == json!("NOT_FLOWING"))
        .expect("the capture has a NOT_FLOWING event");
    let before_frame = (first_stop..frames.len())
        .find(|i| frames[*i].to_kms)
        .expect("requests follow the vanish");
    engine::VanishPlan {
        before_frame,
        element,
        how: how.to_string(),
        control,
    }
}

async fn replay_file(rel: &str, vanish: Option<&str>) {
    let path = support::samples_dir().join(rel);
    let frames = wire::load(&path);
    assert!(
        frames.iter().filter(|f| f.to_kms).count() > 10,
        "{} holds too few requests",
        path.display()
    );
    let (sim, url) = target();
    let plan = match (vanish, sim.as_ref().and_then(|s| s.control)) {
        (Some(how), Some(control)) => Some(vanish_plan(&frames, how, control)),
        _ => None,
    };
    let rep = engine::replay(&url, &frames, plan).await;
    eprintln!(
        "{rel}: {} requests sent, {} responses compared, {} event keys checked, {} discrepancies",
        rep.requests,
        rep.compared,
        rep.events_checked,
        rep.failures.len()
    );
    assert!(rep.compared > 10, "{rel}: too few responses compared");
    if !rep.failures.is_empty() {
        panic!(
            "{rel}: the simulator differs from the capture in {} places:\n  - {}",
            rep.failures.len(),
            rep.failures.join("\n  - ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_wire() {
    replay_file("wire.jsonl", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_wire_second_run() {
    replay_file("extra/wire-second-run.jsonl", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_browser_close() {
    replay_file("browser/close-wire.jsonl", Some("close")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_browser_crash() {
    replay_file("browser/crash-wire.jsonl", Some("crash")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_malformed_frames() {
    let path = support::samples_dir().join("extra/malformed-requests.json");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read malformed-requests"))
            .expect("malformed-requests.json is JSON");
    assert!(cases.len() >= 5);
    let (_sim, url) = target();
    let mut failures = Vec::new();
    for case in &cases {
        let sent = case["sent"].as_str().expect("sent");
        let expected = case["received"][0].as_str().expect("received");
        let mut c = wire::open(&url).await;
        c.send_text(sent).await;
        let got = c.next(Duration::from_secs(5)).await;
        if expected.starts_with("CLOSE") {
            match got {
                Err(e) if e.starts_with("closed") => {}
                other => failures.push(format!(
                    "sent {sent:?}: expected the socket to close (KMS: {expected}), got {other:?}"
                )),
            }
            continue;
        }
        let want: Value = serde_json::from_str(expected).expect("received is JSON");
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("sent {sent:?}: expected {want}, got {e}"));
                continue;
            }
        };
        let mut errs = Vec::new();
        if got["id"] != want["id"] {
            errs.push(format!("id {} expected, got {}", want["id"], got["id"]));
        }
        let (wm, gm) = (&want["error"]["message"], &got["error"]["message"]);
        let mut w = want.clone();
        let mut g = got.clone();
        if want["error"]["code"] == json!(-32603) {
            // the rest of the message is the C++ JSON library's own text
            let prefix = "Unexpected error while processing method:";
            if !gm.as_str().is_some_and(|s| s.starts_with(prefix)) {
                errs.push(format!("message starting {prefix:?} expected, got {gm}"));
            }
            w["error"]["message"] = json!("");
            g["error"]["message"] = json!("");
        } else if wm != gm {
            errs.push(format!("message {wm} expected, got {gm}"));
        }
        errs.extend(compare_message(&mut IdMap::default(), None, &w, &g));
        if !errs.is_empty() {
            failures.push(format!(
                "sent {sent:?}: {}\n      expected {want}\n      got      {got}",
                errs.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "malformed frames: {} discrepancies:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

/// PROTOCOL.md facts seen on KMS 7.3.1 (2026-12) that no capture holds yet:
/// 40202/40203 before negotiation, hub ports owned by their hub
/// (`replay/facts.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_protocol_facts() {
    let (_sim, url) = target();
    let failures = facts::check(&url).await;
    assert!(
        failures.is_empty(),
        "the server differs from PROTOCOL.md in {} places:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

#[test]
fn capture_files_are_found() {
    for f in [
        "wire.jsonl",
        "extra/wire-second-run.jsonl",
        "browser/close-wire.jsonl",
        "browser/crash-wire.jsonl",
    ] {
        let frames = wire::load(&support::samples_dir().join(f));
        assert!(frames.len() > 300, "{f}: {} frames", frames.len());
    }
}

/// The replay rules accept KMS's own answers: every capture replayed against
/// `replay/echo_capture.cjs` (KMS's captured responses and events, every uuid
/// rewritten) must show no difference. Needs Node.js and `crates/kms-sim/tests/js/node_modules`
/// (`npm ci --ignore-scripts --prefix crates/kms-sim/tests/js`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rules_accept_the_capture_itself() {
    struct Echo(std::process::Child);
    impl Drop for Echo {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let tests = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    assert!(
        tests.join("js/node_modules/ws").is_dir(),
        "crates/kms-sim/tests/js/node_modules is missing: install it with `npm ci --ignore-scripts --prefix crates/kms-sim/tests/js`"
    );
    for rel in [
        "wire.jsonl",
        "extra/wire-second-run.jsonl",
        "browser/close-wire.jsonl",
        "browser/crash-wire.jsonl",
    ] {
        let path = support::samples_dir().join(rel);
        let port = support::free_port();
        let _echo = Echo(
            std::process::Command::new("node")
                .arg(tests.join("replay/echo_capture.cjs"))
                .arg(&path)
                .arg(port.to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run `node`: {e}")),
        );
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                std::time::Instant::now() < end,
                "echo_capture did not listen on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let frames = wire::load(&path);
        let rep = engine::replay(&format!("ws://{addr}/kurento"), &frames, None).await;
        assert!(
            rep.compared > 100 && rep.events_checked > 10,
            "{rel}: too little compared"
        );
        assert!(
            rep.failures.is_empty(),
            "{rel}: the replay rules reject KMS's own (id-rewritten) answers:\n  - {}",
            rep.failures.join("\n  - ")
        );
    }
}
