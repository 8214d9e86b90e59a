//! Unit tests of the shape comparator: wrong shapes must fail, the same
//! shape with other ids, counters and timestamps must pass.

use super::compare::{classify, compare_message, Class, IdMap};
use serde_json::{json, Value};

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
