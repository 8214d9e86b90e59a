//! The simulator over a real WebSocket: message shapes, ids, getters,
//! errors and quirks as captured from KMS 7.3 (tests/fixtures/kurento/samples).

mod sim_support;

use serde_json::{json, Value};
use sim_support::{is_event, sim, Client};

#[tokio::test]
async fn ping_without_session_and_string_ids() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    c.send_text(r#"{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":0}"#)
        .await;
    let r = c.recv().await.unwrap();
    assert_eq!(
        r.to_string(),
        r#"{"id":0,"jsonrpc":"2.0","result":{"value":"pong"}}"#
    );
    let p = c.pipeline().await;
    assert!(p.ends_with("_kurento.MediaPipeline"));
    c.send_text(r#"{"jsonrpc":"2.0","id":"abc-123","method":"ping","params":{}}"#)
        .await;
    let r = c.recv().await.unwrap();
    assert_eq!(r["id"], "abc-123");
    assert_eq!(r["result"]["value"], "pong");
    assert_eq!(r["result"]["sessionId"].as_str(), c.session.as_deref());
    h.shutdown().await;
}

#[tokio::test]
async fn create_describe_and_getters_match_kms() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    let e = c.element("WebRtcEndpoint", &p).await;
    let (prefix, tail) = e.split_once('/').unwrap();
    assert_eq!(prefix, p);
    assert!(tail.ends_with("_kurento.WebRtcEndpoint"));
    let uuid = tail.trim_end_matches("_kurento.WebRtcEndpoint");
    assert_eq!(uuid.len(), 36);

    let d = c.ok("describe", json!({"object": e})).await;
    assert_eq!(d["type"], "WebRtcEndpoint");
    assert_eq!(d["qualifiedType"], "kurento.WebRtcEndpoint");
    assert_eq!(
        d["hierarchy"],
        json!([
            "kurento.BaseRtpEndpoint",
            "kurento.SdpEndpoint",
            "kurento.SessionEndpoint",
            "kurento.Endpoint",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ])
    );
    let d = c
        .ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    assert_eq!(d["hierarchy"], json!(["kurento.MediaObject"]));

    assert_eq!(c.invoke(&e, "getName", json!({})).await, json!(e));
    assert_eq!(c.invoke(&e, "getParent", json!({})).await, json!(p));
    assert_eq!(c.invoke(&e, "getMediaPipeline", json!({})).await, json!(p));
    assert_eq!(c.invoke(&p, "getParent", json!({})).await, Value::Null);
    assert_eq!(c.invoke(&p, "getMediaPipeline", json!({})).await, json!(p));
    assert_eq!(c.invoke(&p, "getChildren", json!({})).await, json!([e]));
    assert!(
        c.invoke(&e, "getCreationTime", json!({}))
            .await
            .as_u64()
            .unwrap()
            > 1_600_000_000
    );
    assert_eq!(c.invoke(&e, "getStats", json!({})).await, Value::Null);
    assert_eq!(
        c.invoke(&e, "getIceConnectionState", json!({})).await,
        json!([])
    );
    assert_eq!(
        c.invoke(&e, "getConnectionState", json!({})).await,
        "DISCONNECTED"
    );
    assert_eq!(
        c.invoke(&e, "getMediaState", json!({})).await,
        "DISCONNECTED"
    );
    assert_eq!(c.invoke(&e, "getIceTcp", json!({})).await, true);
    assert_eq!(c.invoke(&p, "getLatencyStats", json!({})).await, false);

    let r = c
        .ok(
            "invoke",
            json!({"object": e, "operation": "setName", "operationParams": {"name": "B"}}),
        )
        .await;
    assert_eq!(
        r,
        json!({"sessionId": c.session.clone().unwrap(), "value": null})
    );
    assert_eq!(c.invoke(&e, "getName", json!({})).await, "B");
    c.invoke(&e, "addTag", json!({"key": "role", "value": "receiver"}))
        .await;
    assert_eq!(
        c.invoke(&e, "getTags", json!({})).await,
        json!([{"__module__": "kurento", "__type__": "Tag", "key": "role", "value": "receiver"}])
    );

    let info = c
        .invoke("manager_ServerManager", "getInfo", json!({}))
        .await;
    assert_eq!(info["__type__"], "ServerInfo");
    assert_eq!(info["version"], "7.3.1-dev");
    assert_eq!(
        c.invoke("manager_ServerManager", "getPipelines", json!({}))
            .await,
        json!([p])
    );
    let sessions = c
        .invoke("manager_ServerManager", "getSessions", json!({}))
        .await;
    assert_eq!(sessions, json!(["", c.session.clone().unwrap()]));
    assert_eq!(
        c.invoke("manager_ServerManager", "getCpuCount", json!({}))
            .await,
        2
    );
    assert!(c
        .invoke(
            "manager_ServerManager",
            "getKmd",
            json!({"moduleName": "core"})
        )
        .await
        .is_string());
    h.shutdown().await;
}

fn error_of(r: &Value) -> (i64, String, Option<String>) {
    let e = &r["error"];
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_owned(),
        e.pointer("/data/type")
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
}

#[tokio::test]
async fn errors_match_kms() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    let e = c.element("WebRtcEndpoint", &p).await;
    let sub = c
        .call("subscribe", json!({"object": e, "type": "NoSuchEvent"}))
        .await;
    assert_eq!(
        error_of(&sub),
        (
            40106,
            "Event 'NoSuchEvent' not supported".into(),
            Some("MEDIA_OBJECT_EVENT_NOT_SUPPORTED".into())
        )
    );
    let r = c
        .call(
            "invoke",
            json!({"object": "bogus-object-id", "operation": "getName", "operationParams": {}}),
        )
        .await;
    assert_eq!(
        error_of(&r),
        (
            40101,
            "Object 'bogus-object-id' not found".into(),
            Some("MEDIA_OBJECT_NOT_FOUND".into())
        )
    );
    let r = c
        .call(
            "invoke",
            json!({"object": e, "operation": "noSuchOperation", "operationParams": {}}),
        )
        .await;
    assert_eq!(
        error_of(&r),
        (
            40008,
            "Method 'noSuchOperation' with 0 parameters not found".into(),
            Some("MALFORMED_TRANSACTION".into())
        )
    );
    let r = c.call("invoke", json!({"object": e, "operation": "getStats", "operationParams": {"mediaType": "BOGUS"}})).await;
    assert_eq!(
        error_of(&r),
        (
            40001,
            "Invalid value for 'MediaType'".into(),
            Some("MARSHALL_ERROR".into())
        )
    );
    let r = c
        .call(
            "create",
            json!({"type": "NoSuchType", "constructorParams": {}}),
        )
        .await;
    assert_eq!(
        error_of(&r),
        (
            40108,
            "Factory 'NoSuchType' not found".into(),
            Some("MEDIA_OBJECT_NOT_AVAILABLE".into())
        )
    );
    let r = c
        .call(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {}}),
        )
        .await;
    assert_eq!(
        error_of(&r),
        (
            40001,
            "'mediaPipeline' parameter should be a string".into(),
            Some("MARSHALL_ERROR".into())
        )
    );
    let r = c.call("noSuchMethod", json!({})).await;
    assert_eq!(error_of(&r), (-32601, "Method not found.".into(), None));
    let r = c
        .call("keepAlive", json!({"sessionId": "bogus-session"}))
        .await;
    assert_eq!(
        error_of(&r),
        (
            40007,
            "Invalid session".into(),
            Some("INVALID_SESSION".into())
        )
    );
    let r = c.call("invoke", json!({"object": "manager_ServerManager", "operation": "getKmd", "operationParams": {"moduleName": "nope"}})).await;
    assert_eq!(
        error_of(&r),
        (
            40500,
            "Requested kmd module doesn't exist".into(),
            Some("UNDEFINED".into())
        )
    );
    let r = c
        .call(
            "subscribe",
            json!({"object": "bogus-object-id", "type": "Error"}),
        )
        .await;
    assert_eq!(error_of(&r).0, 40101);
    let r = c.call("ref", json!({"object": "bogus-object-id"})).await;
    assert_eq!(error_of(&r).0, 40101);
    let r = c.ok("release", json!({"object": "bogus-object-id"})).await;
    assert_eq!(r, json!({"sessionId": c.session.clone().unwrap()}));
    let r = c.ok("keepAlive", json!({})).await;
    assert_eq!(r, json!({"sessionId": c.session.clone().unwrap()}));
    let r = c.ok("connect", json!({})).await;
    assert_eq!(r["sessionId"].as_str(), c.session.as_deref());
    assert_eq!(r["serverId"].as_str().map(str::len), Some(36));
    h.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_follow_kms_quirks() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    for (sent, expect) in [
        (
            r#"{"id":100,"method":"ping"}"#,
            r#"{"error":{"code":-32600,"message":"Invalid JSON-RPC request."},"id":null,"jsonrpc":"2.0"}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"ping"}"#,
            r#"{"error":{"code":-32000,"data":{"value":"pong"},"message":"Ignoring response because of a notification request"},"id":null,"jsonrpc":"2.0"}"#,
        ),
        (
            r#"{"jsonrpc":"1.0","id":102,"method":"ping"}"#,
            r#"{"error":{"code":-32600,"message":"Invalid JSON-RPC request."},"id":null,"jsonrpc":"2.0"}"#,
        ),
        (
            r#"[{"jsonrpc":"2.0","id":103,"method":"ping"}]"#,
            r#"{"error":{"code":-32600,"message":"Invalid JSON-RPC request."},"id":null,"jsonrpc":"2.0"}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":104,"method":"ping","params":[]}"#,
            r#"{"error":{"code":-32603,"message":"Unexpected error while processing method: in Json::Value::find(begin, end): requires objectValue or nullValue"},"id":104,"jsonrpc":"2.0"}"#,
        ),
    ] {
        c.send_text(sent).await;
        assert_eq!(c.recv().await.unwrap().to_string(), expect, "for {sent}");
    }
    // Binary requests are accepted; answers come as text.
    use futures_util::SinkExt;
    c.ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        br#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{}}"#.to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(c.recv().await.unwrap()["result"]["value"], "pong");
    // Not JSON: the connection is dropped without an answer.
    c.send_text(r#"{"jsonrpc":"2.0","id":99,"method":"#).await;
    assert_eq!(c.recv().await, None);
    h.shutdown().await;
}

#[tokio::test]
async fn events_reach_only_subscribers_with_kms_shapes() {
    let h = sim(60_000, 50).await;
    let mut a = Client::connect(&h.ws_url()).await;
    let mut b = Client::connect(&h.ws_url()).await;
    b.ok("ping", json!({"interval": 5000})).await;
    let p0 = b.pipeline().await;
    a.subscribe("manager_ServerManager", "ObjectCreated").await;
    a.subscribe("manager_ServerManager", "ObjectDestroyed")
        .await;
    let p = b.pipeline().await;
    let ev = a
        .event(is_event("ObjectCreated", "manager_ServerManager"))
        .await;
    let data = &ev["params"]["value"]["data"];
    assert_eq!(data["object"], json!(p));
    assert_eq!(data["source"], "manager_ServerManager");
    assert_eq!(data["tags"], json!([]));
    assert!(data["timestampMillis"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert!(data.get("type").is_none());
    assert!(ev.get("id").is_none());

    let player = b
        .create(
            "PlayerEndpoint",
            json!({"mediaPipeline": p, "uri": "file:///x.webm"}),
        )
        .await;
    let sink = b.element("WebRtcEndpoint", &p).await;
    a.subscribe(&player, "ElementConnected").await;
    a.subscribe(&sink, "MediaFlowInStateChanged").await;
    b.invoke(&player, "connect", json!({"sink": sink})).await;
    let mut types = Vec::new();
    for _ in 0..3 {
        let ev = a.event(is_event("ElementConnected", &player)).await;
        let d = &ev["params"]["value"]["data"];
        assert_eq!(d["sink"], json!(sink));
        assert_eq!(d["type"], "ElementConnected");
        types.push(d["mediaType"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(types, ["AUDIO", "DATA", "VIDEO"]);
    let conns = b.invoke(&sink, "getSourceConnections", json!({})).await;
    assert_eq!(conns.as_array().unwrap().len(), 3);
    assert_eq!(conns[0]["__type__"], "ElementConnectionData");
    assert_eq!(conns[0]["sourceDescription"], "default");

    b.invoke(&player, "play", json!({})).await;
    let ev = a.event(is_event("MediaFlowInStateChanged", &sink)).await;
    assert_eq!(ev["params"]["value"]["data"]["state"], "FLOWING");
    assert_eq!(ev["params"]["value"]["data"]["padName"], "default");
    assert_eq!(
        b.invoke(&sink, "isMediaFlowingIn", json!({"mediaType": "VIDEO"}))
            .await,
        true
    );
    assert_eq!(
        b.invoke(&player, "isMediaFlowingOut", json!({"mediaType": "AUDIO"}))
            .await,
        true
    );
    assert_eq!(
        b.invoke(&sink, "isMediaFlowingOut", json!({"mediaType": "VIDEO"}))
            .await,
        false
    );

    // b never subscribed: it got no events.
    assert!(b.events.is_empty(), "{:?}", b.events);

    b.ok("release", json!({"object": p})).await;
    let first = a
        .event(is_event("ObjectDestroyed", "manager_ServerManager"))
        .await;
    assert_ne!(
        first["params"]["value"]["data"]["objectId"],
        json!(p),
        "children are destroyed first"
    );
    let mut destroyed = vec![first["params"]["value"]["data"]["objectId"].clone()];
    while !destroyed.contains(&json!(p)) {
        let ev = a
            .event(is_event("ObjectDestroyed", "manager_ServerManager"))
            .await;
        destroyed.push(ev["params"]["value"]["data"]["objectId"].clone());
    }
    assert_eq!(destroyed.len(), 3);
    let r = b
        .call("invoke", json!({"object": player, "operation": "getName"}))
        .await;
    assert_eq!(r["error"]["code"], 40101);
    assert_eq!(
        b.invoke("manager_ServerManager", "getPipelines", json!({}))
            .await,
        json!([p0])
    );
    h.shutdown().await;
}

#[tokio::test]
async fn transaction_runs_operations_in_order() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    let r = c
        .ok("transaction", json!({"operations": [
            {"jsonrpc": "2.0", "id": 0, "method": "invoke", "params": {"object": p, "operation": "getName", "operationParams": {}}},
            {"jsonrpc": "2.0", "id": 1, "method": "invoke", "params": {"object": "manager_ServerManager", "operation": "getPipelines", "operationParams": {}}},
        ]}))
        .await;
    let s = c.session.clone().unwrap();
    assert_eq!(
        r,
        json!({"sessionId": s, "value": [
            {"id": 0, "jsonrpc": "2.0", "result": {"sessionId": s, "value": p}},
            {"id": 1, "jsonrpc": "2.0", "result": {"sessionId": s, "value": [p]}},
        ]})
    );
    let r = c.call("closeSession", json!({})).await;
    assert_eq!(r["result"], Value::Null);
    h.shutdown().await;
}
