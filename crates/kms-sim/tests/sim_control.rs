//! The HTTP control server and scenarios, observed by a monitor session
//! over a real WebSocket.

mod sim_support;

use kms_sim::{Action, Fault, Scenario, Truth, Vanish};
use serde_json::{json, Value};
use sim_support::{eventually, is_event, sim_with, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 request over TCP; returns (status, body).
async fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn control_api_truth_faults_vanish_and_restart() {
    let h = sim_with(60_000, 20, 1.0).await;
    let base = h.control_url().unwrap();
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    let e = c.element("WebRtcEndpoint", &p).await;

    let (status, body) = http(&base, "GET", "/truth", "").await;
    assert_eq!(status, 200);
    let t: Truth = serde_json::from_str(&body).unwrap();
    assert!(t.contains(&e));
    assert_eq!(t.object(&e).unwrap().parent.as_deref(), Some(p.as_str()));

    let (status, _) = http(
        &base,
        "POST",
        "/fault",
        r#"{"kind":"silent","method":"getName"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let s = c.session.clone().unwrap();
    c.send_text(&json!({"jsonrpc":"2.0","id":90,"method":"invoke","params":{"object":p,"operation":"getName","sessionId":s}}).to_string()).await;
    c.send_text(r#"{"jsonrpc":"2.0","id":91,"method":"ping","params":{}}"#)
        .await;
    assert_eq!(c.recv().await.unwrap()["id"], 91);
    assert_eq!(http(&base, "POST", "/faults/clear", "").await.0, 200);
    assert_eq!(
        http(&base, "POST", "/fault", r#"{"kind":"bogus"}"#).await.0,
        400
    );

    let path = format!("/peer/{}/vanish?how=close", e.replace('/', "%2F"));
    assert_eq!(http(&base, "POST", &path, "").await.0, 200);
    assert_eq!(http(&base, "POST", "/peer/nope/vanish", "").await.0, 404);
    let path = format!("/peer/{}/interrupt?ms=5000", e.replace('/', "%2F"));
    assert_eq!(http(&base, "POST", &path, "").await.0, 200);
    let path = format!("/peer/{}/interrupt", p.replace('/', "%2F"));
    assert_eq!(
        http(&base, "POST", &path, "").await.0,
        404,
        "not an endpoint"
    );

    // ICE of endpoints created over the wire (the probe's tests use it).
    assert_eq!(http(&base, "POST", "/ice?mode=fail", "").await.0, 200);
    assert_eq!(http(&base, "POST", "/ice?mode=normal", "").await.0, 200);
    assert_eq!(http(&base, "POST", "/ice?mode=sometimes", "").await.0, 400);

    assert_eq!(http(&base, "POST", "/restart", "").await.0, 200);
    assert_eq!(c.recv().await, None);
    assert_eq!(h.truth().counts.pipelines, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn scenario_conference_with_zombies_seen_by_a_monitor() {
    // 100x simulated time: the 25-30 s vanish timeline takes well under a second.
    let h = sim_with(60_000, 10, 100.0).await;
    let mut mon = Client::connect(&h.ws_url()).await;
    mon.subscribe("manager_ServerManager", "ObjectCreated")
        .await;
    let scenario = Scenario::new()
        .at(
            0,
            Action::Conference {
                room: "r1".into(),
                participants: 3,
                named: vec![],
            },
        )
        .at(
            0,
            Action::Fault {
                fault: Fault::Delay {
                    method: "getStats".into(),
                    delay: std::time::Duration::from_millis(1),
                },
            },
        )
        .at(
            2_000,
            Action::Forget {
                room: "r1".into(),
                participant: "p2".into(),
                how: Vanish::Crash,
            },
        )
        .at(
            2_000,
            Action::Leave {
                room: "r1".into(),
                participant: "p3".into(),
            },
        );
    h.run_scenario(scenario).await.unwrap();
    mon.event(is_event("ObjectCreated", "manager_ServerManager"))
        .await;

    let pipelines = mon
        .invoke("manager_ServerManager", "getPipelines", json!({}))
        .await;
    let p = pipelines[0].as_str().unwrap().to_owned();
    let children = mon.invoke(&p, "getChildren", json!({})).await;
    let endpoints: Vec<String> = children
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|c| c.ends_with("_kurento.WebRtcEndpoint"))
        .map(str::to_owned)
        .collect();
    assert_eq!(endpoints.len(), 2, "p3 left, p2 is a zombie");
    let zombie = h
        .truth()
        .objects
        .into_iter()
        .find(|o| o.zombie && o.kind == "WebRtcEndpoint")
        .unwrap()
        .id;
    eventually("zombie media DISCONNECTED", || {
        h.truth()
            .object(&zombie)
            .and_then(|o| o.media_state.clone())
            .as_deref()
            == Some("DISCONNECTED")
    })
    .await;
    assert_eq!(
        mon.invoke(&zombie, "getMediaState", json!({})).await,
        "DISCONNECTED"
    );
    assert_eq!(
        mon.invoke(&zombie, "isMediaFlowingOut", json!({"mediaType": "VIDEO"}))
            .await,
        false
    );
    // Video inbound entries are gone by then (audio lingers a few seconds more).
    let stats = mon
        .invoke(&zombie, "getStats", json!({"mediaType": "VIDEO"}))
        .await;
    assert!(!stats
        .as_object()
        .unwrap()
        .values()
        .any(|v| v["type"] == "inboundrtp"));
    let live = endpoints.iter().find(|e| **e != zombie).unwrap();
    assert_eq!(
        mon.invoke(live, "isMediaFlowingOut", json!({"mediaType": "VIDEO"}))
            .await,
        true
    );
    let tags = mon.invoke(live, "getTags", json!({})).await;
    assert_eq!(
        tags[0],
        json!({"__module__": "kurento", "__type__": "Tag", "key": "room", "value": "r1"})
    );
    let stats = mon
        .invoke(live, "getStats", json!({"mediaType": "AUDIO"}))
        .await;
    let inbound: Vec<&Value> = stats
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v["type"] == "inboundrtp")
        .collect();
    assert_eq!(inbound.len(), 1);
    assert!(inbound[0]["bytesReceived"].as_u64().unwrap() > 0);
    h.shutdown().await;
}

#[tokio::test]
async fn release_ledger_shows_double_releases_and_the_app_s_own() {
    let h = sim_with(60_000, 20, 0.0).await;
    let base = h.control_url().unwrap();
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    let e = c.element("PassThrough", &p).await;
    let s = c.session.clone().unwrap();

    // KMS answers success both times: only the ledger tells them apart.
    for _ in 0..2 {
        c.ok("release", json!({"object": e})).await;
    }
    h.advance_clock(std::time::Duration::from_millis(1_500));
    let r = c
        .ok(
            "transaction",
            json!({"operations": [
                {"jsonrpc": "2.0", "id": 0, "method": "release", "params": {"object": p}},
                {"jsonrpc": "2.0", "id": 1, "method": "release", "params": {"object": p}},
            ]}),
        )
        .await;
    assert!(r["value"][1].get("error").is_none(), "{r}");

    let (status, body) = http(&base, "GET", "/truth", "").await;
    assert_eq!(status, 200);
    let t: Truth = serde_json::from_str(&body).unwrap();
    assert!(!t.contains(&p) && !t.contains(&e));
    let of_e: Vec<_> = t.releases_of(&e).collect();
    assert_eq!(of_e.len(), 2);
    assert!(of_e[0].existed && !of_e[1].existed, "{of_e:?}");
    assert!(of_e.iter().all(|r| r.session == s && !r.by_app));
    let of_p: Vec<_> = t.releases_of(&p).collect();
    assert_eq!(of_p.len(), 2, "releases inside a transaction count");
    assert!(of_p[0].existed && !of_p[1].existed);
    assert_eq!(of_p[0].at_ms - of_e[0].at_ms, 1_500, "simulated time");
    assert_eq!(t.releases.len(), 4);
    assert_eq!(t.releases_dropped, 0);

    // The simulated application's own releases are marked, on its session.
    let scenario = Scenario::new()
        .at(
            0,
            Action::Conference {
                room: "r1".into(),
                participants: 2,
                named: vec![],
            },
        )
        .at(
            0,
            Action::Leave {
                room: "r1".into(),
                participant: "p1".into(),
            },
        )
        .at(0, Action::EndRoom { room: "r1".into() });
    h.run_scenario(scenario).await.unwrap();
    h.restart().await;
    let t = h.truth();
    let app: Vec<_> = t.releases.iter().filter(|r| r.by_app).collect();
    assert_eq!(
        app.len(),
        3,
        "p1's endpoint and hub port, then the pipeline"
    );
    assert!(app.iter().all(|r| r.existed && r.session != s));
    assert_eq!(t.releases.len(), 7, "a restart keeps the ledger");
    h.shutdown().await;
}
