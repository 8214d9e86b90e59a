//! Sessions, references and garbage collection over a real WebSocket,
//! reproducing tests/fixtures/kurento/samples/gc/monitor-references.txt: an
//! application creates pipelines and leaves; a monitor's calls decide which
//! of them the collector may release.

mod sim_support;

use kms_sim::SimHandle;
use serde_json::json;
use sim_support::{eventually, sim, Client};

async fn wait_rounds(h: &SimHandle, n: u64) {
    let start = h.truth().gc_rounds;
    eventually("GC rounds", || h.truth().gc_rounds >= start + n).await;
}

#[tokio::test]
async fn monitor_references_decide_what_survives_the_collector() {
    let h = sim(200, 50).await;
    let mut app = Client::connect(&h.ws_url()).await;
    let mut pe = Vec::new();
    for n in 5..=9 {
        let p = app.pipeline().await;
        app.invoke(&p, "setName", json!({"name": format!("P{n}")}))
            .await;
        let e = app.element("WebRtcEndpoint", &p).await;
        pe.push((p, e));
    }
    let [(p5, e5), (p6, e6), (p7, e7), (p8, e8), (p9, e9)] =
        <[(String, String); 5]>::try_from(pe).unwrap();

    let mut mon = Client::connect(&h.ws_url()).await;
    let listed = mon
        .invoke("manager_ServerManager", "getPipelines", json!({}))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 5);
    mon.ok("describe", json!({"object": p6})).await;
    let children = mon.invoke(&p7, "getChildren", json!({})).await;
    assert_eq!(children, json!([e7]));
    mon.invoke(&e8, "getStats", json!({})).await;
    mon.invoke(&e9, "getStats", json!({})).await;
    mon.ok("unref", json!({"object": p9})).await;
    // The application still holds P9: nothing released yet.
    assert!(h.truth().contains(&p9) && h.truth().contains(&e9));

    app.close().await;
    let gone = [&p5, &e5, &e6, &e7, &p9, &e9];
    eventually("abandoned objects collected", || {
        let t = h.truth();
        gone.iter().all(|id| !t.contains(id))
    })
    .await;
    wait_rounds(&h, 3).await;
    let t = h.truth();
    for id in [&p6, &p7, &p8, &e8] {
        assert!(t.contains(id), "{id} kept alive by the monitor");
    }
    assert_eq!(
        t.object(&p8).unwrap().sessions,
        vec![mon.session.clone().unwrap()]
    );
    let mut left = mon
        .invoke("manager_ServerManager", "getPipelines", json!({}))
        .await;
    left.as_array_mut().unwrap().sort_by_key(|v| v.to_string());
    let mut want = vec![json!(p6), json!(p7), json!(p8)];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(left, json!(want));

    for p in [&p6, &p7, &p8] {
        mon.ok("unref", json!({"object": p})).await;
    }
    let t = h.truth();
    for id in [&p6, &p7, &p8, &e8] {
        assert!(!t.contains(id), "{id} released at once by unref");
    }
    assert_eq!(t.counts.pipelines, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn subscriptions_keep_objects_alive_until_unref() {
    let h = sim(200, 50).await;
    let mut app = Client::connect(&h.ws_url()).await;
    let p = app.pipeline().await;
    let e = app.element("WebRtcEndpoint", &p).await;
    let mut mon = Client::connect(&h.ws_url()).await;
    mon.subscribe(&e, "MediaFlowInStateChanged").await;
    app.close().await;
    eventually("app session collected", || h.truth().sessions.len() == 1).await;
    wait_rounds(&h, 2).await;
    assert!(h.truth().contains(&e));
    mon.ok("unref", json!({"object": p})).await;
    let t = h.truth();
    assert!(!t.contains(&e) && !t.contains(&p));
    h.shutdown().await;
}

#[tokio::test]
async fn open_connections_keep_sessions_and_close_session_releases() {
    let h = sim(100, 50).await;
    let mut app = Client::connect(&h.ws_url()).await;
    let p = app.pipeline().await;
    wait_rounds(&h, 3).await;
    assert!(h.truth().contains(&p), "an open session is never collected");

    let mut other = Client::connect(&h.ws_url()).await;
    other.invoke(&p, "getName", json!({})).await;
    other.ok("closeSession", json!({"release": false})).await;
    assert!(
        h.truth().contains(&p),
        "release:false only drops the other session's references"
    );
    other.ok("describe", json!({"object": p})).await;
    other.ok("closeSession", json!({"release": true})).await;
    assert!(
        !h.truth().contains(&p),
        "release:true releases what the session referenced"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_connection_dropped_on_a_malformed_frame_leaks_its_session() {
    let h = sim(100, 50).await;
    let mut app = Client::connect(&h.ws_url()).await;
    let p = app.pipeline().await;
    app.send_text("{not json").await;
    assert_eq!(app.recv().await, None);
    wait_rounds(&h, 3).await;
    assert!(h.truth().contains(&p), "KMS never collects such a session");
    h.shutdown().await;
}

#[tokio::test]
async fn reconnecting_with_connect_keeps_the_session_and_its_objects() {
    // Long enough a period that the reconnection lands before a second round.
    let h = sim(500, 50).await;
    let mut app = Client::connect(&h.ws_url()).await;
    let p = app.pipeline().await;
    let session = app.session.clone().unwrap();
    app.close().await;
    let mut again = Client::connect(&h.ws_url()).await;
    let r = again.ok("connect", json!({"sessionId": session})).await;
    assert_eq!(r["sessionId"], json!(session));
    wait_rounds(&h, 3).await;
    assert!(
        h.truth().contains(&p),
        "the session is bound to the new connection"
    );
    let t = h.truth();
    let s = t.sessions.iter().find(|s| s.id == session).unwrap();
    assert!(s.connected);
    again.close().await;
    eventually("session collected once gone again", || {
        !h.truth().contains(&p)
    })
    .await;
    h.shutdown().await;
}
