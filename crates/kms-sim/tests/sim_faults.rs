//! Fault injection, restart and listener pause over a real WebSocket.

mod sim_support;

use std::time::Duration;

use kms_sim::Fault;
use serde_json::{json, Value};
use sim_support::{sim, Client};

#[tokio::test]
async fn delayed_responses_come_back_out_of_order() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    let p = c.pipeline().await;
    h.inject(Fault::Delay {
        method: "getChildren".into(),
        delay: Duration::from_millis(300),
    });
    let s = c.session.clone().unwrap();
    c.send_text(&json!({"jsonrpc":"2.0","id":50,"method":"invoke","params":{"object":p,"operation":"getChildren","sessionId":s}}).to_string()).await;
    c.send_text(
        &json!({"jsonrpc":"2.0","id":51,"method":"ping","params":{"interval":1000}}).to_string(),
    )
    .await;
    let first = c.recv().await.unwrap();
    let second = c.recv().await.unwrap();
    assert_eq!(first["id"], 51);
    assert_eq!(second["id"], 50);
    assert_eq!(second["result"]["value"], json!([]));
    h.shutdown().await;
}

#[tokio::test]
async fn close_on_request_garbage_and_silence() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    c.pipeline().await;
    h.inject(Fault::Garbage { count: 4 });
    c.send_text(r#"{"jsonrpc":"2.0","id":7,"method":"ping","params":{}}"#)
        .await;
    let mut frames = Vec::new();
    loop {
        let f = c.recv().await.unwrap();
        let done = f["id"] == 7;
        frames.push(f);
        if done {
            break;
        }
    }
    assert_eq!(frames.len(), 5, "{frames:?}");
    assert!(frames[0].is_string(), "first garbage frame is not JSON");
    assert_eq!(frames[3], json!({"binary": true}));

    h.inject(Fault::Silent {
        method: "getName".into(),
    });
    let s = c.session.clone().unwrap();
    c.send_text(&json!({"jsonrpc":"2.0","id":8,"method":"invoke","params":{"object":"manager_ServerManager","operation":"getName","sessionId":s}}).to_string()).await;
    c.send_text(r#"{"jsonrpc":"2.0","id":9,"method":"ping","params":{}}"#)
        .await;
    assert_eq!(c.recv().await.unwrap()["id"], 9);
    h.clear_faults();

    h.inject(Fault::CloseOnRequest {
        method: "describe".into(),
    });
    c.send_text(r#"{"jsonrpc":"2.0","id":10,"method":"describe","params":{"object":"manager_ServerManager"}}"#).await;
    assert_eq!(c.recv().await, None);
    // Once only.
    let mut d = Client::connect(&h.ws_url()).await;
    d.ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    h.shutdown().await;
}

#[tokio::test]
async fn restart_drops_everything_and_changes_server_id() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    let before = c.ok("connect", json!({})).await["serverId"].clone();
    c.pipeline().await;
    assert_eq!(h.truth().counts.pipelines, 1);
    h.restart().await;
    assert_eq!(c.recv().await, None);
    assert_eq!(h.truth().counts.pipelines, 0);
    let mut c = Client::connect(&h.ws_url()).await;
    let after = c.ok("connect", json!({})).await["serverId"].clone();
    assert_ne!(before, after);
    assert_eq!(
        c.invoke("manager_ServerManager", "getPipelines", json!({}))
            .await,
        json!([])
    );
    h.shutdown().await;
}

#[tokio::test]
async fn paused_listener_refuses_then_comes_back_empty() {
    let h = sim(60_000, 50).await;
    let mut c = Client::connect(&h.ws_url()).await;
    c.pipeline().await;
    h.pause_listener().await;
    assert_eq!(c.recv().await, None);
    assert!(tokio_tungstenite::connect_async(h.ws_url()).await.is_err());
    h.resume_listener().await.unwrap();
    let mut c = Client::connect(&h.ws_url()).await;
    assert_eq!(
        c.invoke("manager_ServerManager", "getPipelines", json!({}))
            .await,
        Value::Array(vec![])
    );
    h.shutdown().await;
}
