//! The request multiplexer alone (no socket): ids, out-of-order matching,
//! session tracking, error mapping, and tolerance of odd frames.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::*;
use crate::kms::shared::Link;

fn shared() -> (Arc<Shared>, Link, mpsc::UnboundedReceiver<String>) {
    let mut cfg = ConnectionConfig::new("ws://127.0.0.1:1/kurento");
    cfg.request_timeout = Duration::from_millis(200);
    let shared = Arc::new(Shared::new(cfg));
    let (tx, rx) = mpsc::unbounded_channel();
    (shared, Link { generation: 1, tx }, rx)
}

fn object(id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("object".into(), id.into());
    m
}

fn spawn_call(
    s: &Arc<Shared>,
    link: &Link,
    method: Method,
    params: Map<String, Value>,
) -> tokio::task::JoinHandle<Result<Value, ClientError>> {
    let (s, link) = (s.clone(), link.clone());
    tokio::spawn(async move {
        let deadline = Instant::now() + s.cfg.request_timeout;
        s.call_on(&link, method, params, deadline).await
    })
}

async fn sent(rx: &mut mpsc::UnboundedReceiver<String>) -> Value {
    let text = rx.recv().await.expect("a frame was sent");
    serde_json::from_str(&text).expect("valid JSON")
}

#[tokio::test]
async fn matches_responses_out_of_order_and_tracks_the_session() {
    let (s, link, mut rx) = shared();
    let a = spawn_call(&s, &link, Method::Describe, object("a"));
    let fa = sent(&mut rx).await;
    let b = spawn_call(&s, &link, Method::Release, object("b"));
    let fb = sent(&mut rx).await;
    assert_eq!(fa["jsonrpc"], "2.0");
    assert_eq!(fa["method"], "describe");
    assert_eq!(fa["params"]["object"], "a");
    assert!(fa["params"].get("sessionId").is_none());
    assert_ne!(fa["id"], fb["id"]);

    s.on_text(
        &json!({"id": fb["id"], "jsonrpc": "2.0", "result": {"sessionId": "S1"}}).to_string(),
        1,
    );
    assert_eq!(b.await.unwrap().unwrap(), json!({"sessionId": "S1"}));
    assert_eq!(lock(&s.session).as_deref(), Some("S1"));
    s.on_text(
        &json!({"error": {"code": 40101, "message": "Object 'a' not found", "data": {"type": "MEDIA_OBJECT_NOT_FOUND"}},
                "id": fa["id"], "jsonrpc": "2.0"})
        .to_string(),
        1,
    );
    assert_eq!(
        a.await.unwrap(),
        Err(ClientError::ObjectNotFound { id: "a".into() })
    );

    // Later requests carry the session id.
    let c = spawn_call(&s, &link, Method::Unref, object("c"));
    let fc = sent(&mut rx).await;
    assert_eq!(fc["params"]["sessionId"], "S1");
    s.fail_pending(1);
    assert_eq!(c.await.unwrap(), Err(ClientError::Disconnected));
}

#[tokio::test]
async fn odd_frames_are_counted_and_ignored() {
    let (s, link, mut rx) = shared();
    let mut notices = s.notices.subscribe();
    let call = spawn_call(&s, &link, Method::Ping, Map::new());
    let f = sent(&mut rx).await;
    for junk in [
        "not json",
        "[1,2]",
        r#"{"jsonrpc":"2.0","id":999999,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid JSON-RPC request."}}"#,
        r#"{"jsonrpc":"2.0","method":"onEvent","params":{"value":{"object":"o","type":"MediaStateChanged","data":{"newState":"WEIRD"}}}}"#,
        r#"{"jsonrpc":"2.0","method":"somethingElse","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":"str","result":{}}"#,
    ] {
        s.on_text(junk, 1);
    }
    let c = &s.counters;
    assert_eq!(c.garbage_frames.load(Ordering::Relaxed), 2);
    assert_eq!(c.unknown_ids.load(Ordering::Relaxed), 3);
    assert_eq!(c.malformed_events.load(Ordering::Relaxed), 1);
    assert_eq!(c.unexpected_frames.load(Ordering::Relaxed), 1);
    assert!(matches!(notices.try_recv(), Ok(Notice::Event(_))));
    // The real answer still gets through.
    s.on_text(
        &json!({"id": f["id"], "jsonrpc": "2.0", "result": {"value": "pong"}}).to_string(),
        1,
    );
    assert_eq!(call.await.unwrap().unwrap()["value"], "pong");
}

#[tokio::test]
async fn unanswered_request_times_out_and_is_forgotten() {
    let (s, link, mut rx) = shared();
    let call = spawn_call(&s, &link, Method::Describe, object("x"));
    let f = sent(&mut rx).await;
    assert!(matches!(
        call.await.unwrap(),
        Err(ClientError::Timeout { .. })
    ));
    assert_eq!(s.pending_count(), 0);
    // A late answer is just an unknown id.
    s.on_text(
        &json!({"id": f["id"], "jsonrpc": "2.0", "result": {}}).to_string(),
        1,
    );
    assert_eq!(s.counters.unknown_ids.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn closed_link_fails_at_once() {
    let (s, link, rx) = shared();
    drop(rx);
    let r = spawn_call(&s, &link, Method::Describe, object("x"))
        .await
        .unwrap();
    assert_eq!(r, Err(ClientError::Disconnected));
    let conn = Connection {
        shared: s,
        stop: Arc::new(ShutdownOnDrop(watch::channel(false).0)),
    };
    assert_eq!(
        conn.call(Method::Describe, object("x")).await,
        Err(ClientError::Disconnected)
    );
}

#[tokio::test]
async fn in_flight_requests_are_bounded() {
    let (s, link, mut rx) = shared();
    let mut cfg = s.cfg.clone();
    cfg.max_in_flight = 2;
    cfg.request_timeout = Duration::from_secs(5);
    let s = Arc::new(Shared::new(cfg));
    *lock(&s.link) = Some(link);
    let conn = Connection {
        shared: s.clone(),
        stop: Arc::new(ShutdownOnDrop(watch::channel(false).0)),
    };
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.call(Method::Describe, object(&format!("o{i}"))).await })
        })
        .collect();
    let first = sent(&mut rx).await;
    let second = sent(&mut rx).await;
    // The third waits for a free slot: nothing more is sent yet.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(rx.try_recv().is_err());
    s.on_text(
        &json!({"id": first["id"], "jsonrpc": "2.0", "result": {}}).to_string(),
        1,
    );
    let third = sent(&mut rx).await;
    for f in [&second, &third] {
        s.on_text(
            &json!({"id": f["id"], "jsonrpc": "2.0", "result": {}}).to_string(),
            1,
        );
    }
    for c in calls {
        assert_eq!(c.await.unwrap(), Ok(json!({})));
    }
}
