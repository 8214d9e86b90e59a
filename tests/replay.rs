//! Wire replay: every request of every captured `*wire*.jsonl` (real KMS 7.3,
//! `../shared/kurento/samples`) is replayed against `kms-sim`, and every
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
//!   `object`/`objectId`), deadline 30 s (2 s after the first timeout); at
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
#[path = "replay/engine.rs"]
mod engine;
mod support;

use compare::{classify, compare_message, Class, IdMap};
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
    frames: &[engine::Frame],
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
    let frames = engine::load(&path);
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
        let mut c = engine::open(&url).await;
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

// ---- the comparator itself ----------------------------------------------

fn stats_response() -> Value {
    json!({"id": 7, "jsonrpc": "2.0", "result": {
    "sessionId": "6f3341d7-d5bd-47a7-8093-25a239cce606",
    "value": {
        "3c49fb92-2df5-4096-8fbe-9a2d344cf285": {"__module__": "kurento",
            "__type__": "RTCInboundRTPStreamStats", "id": "3c49fb92-2df5-4096-8fbe-9a2d344cf285",
            "type": "inboundrtp", "bytesReceived": 725624, "ssrc": "1293818279",
            "isRemote": false, "timestampMillis": 1795561632766_u64},
        "40c9659c-d5d0-43bd-9cd5-2d1639f783d6": {"__module__": "kurento",
            "__type__": "RTCOutboundRTPStreamStats", "id": "40c9659c-d5d0-43bd-9cd5-2d1639f783d6",
            "type": "outboundrtp", "bytesSent": 0, "ssrc": "37388061",
            "isRemote": false, "timestampMillis": 1795561632766_u64}
    }}})
}

/// The same response as a different, correct KMS would give: other uuids,
/// other counters and timestamps, entries in another order.
fn stats_response_sim() -> Value {
    json!({"id": 7, "jsonrpc": "2.0", "result": {
    "sessionId": "11111111-2222-4333-8444-555555555555",
    "value": {
        "bbbbbbbb-0000-4000-8000-000000000002": {"__module__": "kurento",
            "__type__": "RTCOutboundRTPStreamStats", "id": "bbbbbbbb-0000-4000-8000-000000000002",
            "type": "outboundrtp", "bytesSent": 10, "ssrc": "99",
            "isRemote": false, "timestampMillis": 5},
        "aaaaaaaa-0000-4000-8000-000000000001": {"__module__": "kurento",
            "__type__": "RTCInboundRTPStreamStats", "id": "aaaaaaaa-0000-4000-8000-000000000001",
            "type": "inboundrtp", "bytesReceived": 1, "ssrc": "42",
            "isRemote": false, "timestampMillis": 6}
    }}})
}

fn cmp(op: Option<&str>, cap: &Value, got: &Value) -> Vec<String> {
    compare_message(&mut IdMap::default(), op, cap, got)
}

#[test]
fn comparator_accepts_same_shape() {
    let errs = cmp(Some("getStats"), &stats_response(), &stats_response_sim());
    assert!(errs.is_empty(), "{errs:?}");
    let cap = json!({"id":0,"jsonrpc":"2.0","result":{"value":"pong"}});
    assert!(cmp(
        Some("ping"),
        &cap,
        &json!({"id":0,"jsonrpc":"2.0","result":{"value":"pong"}})
    )
    .is_empty());
}

#[test]
fn comparator_rejects_wrong_shapes() {
    let cap = stats_response();
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut g = stats_response_sim();
        f(&mut g);
        cmp(Some("getStats"), &cap, &g)
    };
    let inb = "aaaaaaaa-0000-4000-8000-000000000001";
    // a missing key
    assert!(!mutate(&|g| {
        g["result"]["value"][inb]
            .as_object_mut()
            .unwrap()
            .remove("bytesReceived");
    })
    .is_empty());
    // an extra key
    assert!(!mutate(&|g| g["result"]["value"][inb]["extra"] = json!(1)).is_empty());
    // a number turned into a string (timestampMillis must stay a number here)
    assert!(!mutate(&|g| g["result"]["value"][inb]["timestampMillis"] = json!("6")).is_empty());
    // a string turned into a number (ssrc is a string)
    assert!(!mutate(&|g| g["result"]["value"][inb]["ssrc"] = json!(42)).is_empty());
    // a wrong bool
    assert!(!mutate(&|g| g["result"]["value"][inb]["isRemote"] = json!(true)).is_empty());
    // a wrong stats type / __type__
    assert!(!mutate(&|g| g["result"]["value"][inb]["__type__"] = json!("RTCStats")).is_empty());
    // an entry vanished
    assert!(!mutate(&|g| {
        g["result"]["value"].as_object_mut().unwrap().remove(inb);
    })
    .is_empty());
    // value null where an object was captured
    assert!(!mutate(&|g| g["result"]["value"] = Value::Null).is_empty());
    // sessionId not a uuid
    assert!(!mutate(&|g| g["result"]["sessionId"] = json!("session-1")).is_empty());
    // an error instead of a result
    assert!(!mutate(&|g| {
        let o = g.as_object_mut().unwrap();
        o.remove("result");
        o.insert("error".into(), json!({"code": 40101, "message": "x"}));
    })
    .is_empty());
}

#[test]
fn comparator_checks_enums_errors_and_ids() {
    let state = |s: &str| json!({"id":1,"jsonrpc":"2.0","result":{"sessionId":"6f3341d7-d5bd-47a7-8093-25a239cce606","value":s}});
    assert!(cmp(
        Some("getMediaState"),
        &state("CONNECTED"),
        &state("CONNECTED")
    )
    .is_empty());
    assert!(!cmp(
        Some("getMediaState"),
        &state("CONNECTED"),
        &state("DISCONNECTED")
    )
    .is_empty());
    let b = |v: bool| json!({"id":1,"jsonrpc":"2.0","result":{"sessionId":"6f3341d7-d5bd-47a7-8093-25a239cce606","value":v}});
    assert!(!cmp(Some("isMediaFlowingIn"), &b(true), &b(false)).is_empty());

    let err = |code: i64, t: &str, m: &str| json!({"id":3,"jsonrpc":"2.0","error":{"code":code,"data":{"type":t},"message":m}});
    let cap = err(
        40101,
        "MEDIA_OBJECT_NOT_FOUND",
        "Object 'bogus-object-id' not found",
    );
    assert!(cmp(None, &cap, &cap.clone()).is_empty());
    assert!(!cmp(
        None,
        &cap,
        &err(
            40100,
            "MEDIA_OBJECT_NOT_FOUND",
            "Object 'bogus-object-id' not found"
        )
    )
    .is_empty());
    assert!(!cmp(
        None,
        &cap,
        &err(40101, "NOT_FOUND", "Object 'bogus-object-id' not found")
    )
    .is_empty());
    assert!(!cmp(
        None,
        &cap,
        &err(40101, "MEDIA_OBJECT_NOT_FOUND", "Object not found")
    )
    .is_empty());

    // id formats and the id map
    let pipe = "99f9e360-9086-455e-b91c-20b47e156633_kurento.MediaPipeline";
    let elem = format!("{pipe}/5443c6cb-9eb5-47dd-9e38-99c064d7f573_kurento.WebRtcEndpoint");
    assert_eq!(classify(pipe), Class::Pipeline);
    assert_eq!(classify(&elem), Class::Element("WebRtcEndpoint".into()));
    assert_eq!(classify("manager_ServerManager"), Class::Manager);
    assert_eq!(classify("nope_kurento.WebRtcEndpoint"), Class::Other);
    let mut ids = IdMap::default();
    let sim_pipe = "00000000-0000-4000-8000-00000000000a_kurento.MediaPipeline";
    let sim_elem =
        format!("{sim_pipe}/00000000-0000-4000-8000-00000000000b_kurento.WebRtcEndpoint");
    let created = |v: &str| json!({"id":1,"jsonrpc":"2.0","result":{"value":v}});
    assert!(compare_message(&mut ids, None, &created(pipe), &created(sim_pipe)).is_empty());
    assert!(compare_message(&mut ids, None, &created(&elem), &created(&sim_elem)).is_empty());
    // a request naming the captured element now names the sim's element
    assert_eq!(
        ids.subst(&json!({"object": elem})),
        json!({"object": sim_elem})
    );
    // an element type change is caught
    let wrong_type = sim_elem.replace("WebRtcEndpoint", "PlayerEndpoint");
    assert!(!compare_message(
        &mut ids.clone(),
        None,
        &created(&elem),
        &created(&wrong_type)
    )
    .is_empty());
    // a getter returning another id than the one created is caught
    let other = format!("{sim_pipe}/00000000-0000-4000-8000-00000000000c_kurento.WebRtcEndpoint");
    assert!(!compare_message(&mut ids.clone(), None, &created(&elem), &created(&other)).is_empty());
    // getChildren: same ids in another order is fine, a missing child is not
    let list = |v: Vec<&str>| json!({"id":1,"jsonrpc":"2.0","result":{"value":v}});
    assert!(compare_message(
        &mut ids.clone(),
        Some("getChildren"),
        &list(vec![&elem]),
        &list(vec![&sim_elem])
    )
    .is_empty());
    assert!(!compare_message(
        &mut ids.clone(),
        Some("getChildren"),
        &list(vec![&elem]),
        &list(vec![])
    )
    .is_empty());
    // error messages carry remapped ids
    let nf = |id: &str| {
        err(
            40101,
            "MEDIA_OBJECT_NOT_FOUND",
            &format!("Object '{id}' not found"),
        )
    };
    assert!(compare_message(&mut ids.clone(), None, &nf(&elem), &nf(&sim_elem)).is_empty());
    assert!(!compare_message(&mut ids.clone(), None, &nf(&elem), &nf(&elem)).is_empty());
}

#[test]
fn comparator_checks_events() {
    let ev = |state: &str, ts: Value| {
        json!({"jsonrpc":"2.0","method":"onEvent","params":{"value":{
        "data":{"source":"manager_ServerManager","tags":[],"timestampMillis":ts,"state":state,
                "mediaType":"VIDEO","padName":"default","type":"MediaFlowInStateChanged"},
        "object":"manager_ServerManager","type":"MediaFlowInStateChanged"}}})
    };
    let cap = ev("FLOWING", json!("1795561620500"));
    assert!(cmp(None, &cap, &ev("FLOWING", json!("1"))).is_empty());
    // timestampMillis is a string in events
    assert!(!cmp(None, &cap, &ev("FLOWING", json!(1))).is_empty());
    assert!(!cmp(None, &cap, &ev("NOT_FLOWING", json!("1"))).is_empty());
}

#[test]
fn capture_files_are_found() {
    for f in [
        "wire.jsonl",
        "extra/wire-second-run.jsonl",
        "browser/close-wire.jsonl",
        "browser/crash-wire.jsonl",
    ] {
        let frames = engine::load(&support::samples_dir().join(f));
        assert!(frames.len() > 300, "{f}: {} frames", frames.len());
    }
}

#[test]
fn comparator_checks_stats_ids_are_stable() {
    let one = |sid: &str, bytes: u64| {
        json!({"id":1,"jsonrpc":"2.0","result":{"value":{sid:{"__module__":"kurento",
            "__type__":"RTCOutboundRTPStreamStats","id":sid,"type":"outboundrtp","bytesSent":bytes}}}})
    };
    let cap = one("ce806852-0a33-4131-ab15-adab86d2641c", 5);
    let mut ids = IdMap::default();
    let first = one("aaaaaaaa-0000-4000-8000-000000000001", 7);
    assert!(compare_message(&mut ids, Some("getStats"), &cap, &first).is_empty());
    // the same stream later: same stats id, other counters
    let same = one("aaaaaaaa-0000-4000-8000-000000000001", 9);
    assert!(compare_message(&mut ids.clone(), Some("getStats"), &cap, &same).is_empty());
    // a new stats id for the same stream is caught
    let other = one("aaaaaaaa-0000-4000-8000-000000000002", 9);
    assert!(!compare_message(&mut ids, Some("getStats"), &cap, &other).is_empty());
}

/// The replay rules accept KMS's own answers: every capture replayed against
/// `replay/echo_capture.cjs` (KMS's captured responses and events, every uuid
/// rewritten) must show no difference. Needs Node.js and `tests/js/node_modules`
/// (`npm ci --ignore-scripts --prefix tests/js`).
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
        "tests/js/node_modules is missing: install it with `npm ci --ignore-scripts --prefix tests/js`"
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
        let frames = engine::load(&path);
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
