//! Facts of PROTOCOL.md seen on KMS 7.3.1 in 2026-12 that no wire capture
//! holds yet, replayed as scripted exchanges with the exact answers KMS gave:
//! the SDP getters' errors before negotiation (40202, 40203) and hub ports
//! belonging to their hub (the pipeline's `getChildren` without them, the
//! hub's with them, a port's parent and pipeline). Like the captures, these
//! run against `REPLAY_KMS_URL` when it is set.

use serde_json::{json, Value};
use std::time::Duration;

use super::wire::Conn;

/// One session on one connection, with its own request ids.
struct Session {
    conn: Conn,
    next: u64,
    session: Option<String>,
}

impl Session {
    /// Send `method` and wait for its answer (events are skipped).
    async fn call(&mut self, method: &str, mut params: Value) -> Value {
        self.next += 1;
        if let Some(s) = &self.session {
            params["sessionId"] = json!(s);
        }
        let req = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        self.conn.send_text(&req.to_string()).await;
        loop {
            let m = self
                .conn
                .next(Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{method}: no answer: {e}"));
            if m["id"] == json!(self.next) {
                if let Some(s) = m["result"]["sessionId"].as_str() {
                    self.session = Some(s.to_string());
                }
                return m;
            }
        }
    }

    async fn value(&mut self, method: &str, params: Value) -> Value {
        let m = self.call(method, params).await;
        assert!(m["error"].is_null(), "{method}: {m}");
        m["result"]["value"].clone()
    }

    async fn create(&mut self, ty: &str, ctor: Value) -> String {
        let v = self
            .value("create", json!({"type": ty, "constructorParams": ctor}))
            .await;
        v.as_str().expect("created id").to_string()
    }

    async fn invoke(&mut self, obj: &str, op: &str) -> Value {
        self.call("invoke", json!({"object": obj, "operation": op}))
            .await
    }

    async fn ids(&mut self, obj: &str, op: &str) -> Vec<String> {
        let m = self.invoke(obj, op).await;
        let mut v: Vec<String> =
            serde_json::from_value(m["result"]["value"].clone()).unwrap_or_default();
        v.sort();
        v
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Run the scripted facts against `url`; returns the discrepancies.
pub async fn check(url: &str) -> Vec<String> {
    let mut s = Session {
        conn: super::wire::open(url).await,
        next: 0,
        session: None,
    };
    let mut fail = Vec::new();
    let pipeline = s.create("MediaPipeline", json!({})).await;
    let ep = s
        .create("WebRtcEndpoint", json!({"mediaPipeline": pipeline}))
        .await;
    for (op, code, kind, message) in [
        (
            "getLocalSessionDescriptor",
            40202,
            "SDP_END_POINT_NO_LOCAL_SDP_ERROR",
            "No local SDP",
        ),
        (
            "getRemoteSessionDescriptor",
            40203,
            "SDP_END_POINT_NO_REMOTE_SDP_ERROR",
            "No remote SDP",
        ),
    ] {
        let m = s.invoke(&ep, op).await;
        let want = json!({"code": code, "data": {"type": kind}, "message": message});
        if m["error"] != want {
            fail.push(format!(
                "{op} before negotiation: expected error {want}, got {m}"
            ));
        }
    }

    let hub = s
        .create("Composite", json!({"mediaPipeline": pipeline}))
        .await;
    let ports = vec![
        s.create("HubPort", json!({"hub": hub})).await,
        s.create("HubPort", json!({"hub": hub})).await,
    ];
    let children = s.ids(&pipeline, "getChildren").await;
    if children != sorted(vec![ep.clone(), hub.clone()]) {
        fail.push(format!(
            "the pipeline's getChildren lists its endpoint and hub, not the ports: got {children:?}"
        ));
    }
    let hub_children = s.ids(&hub, "getChildren").await;
    if hub_children != sorted(ports.clone()) {
        fail.push(format!(
            "the hub's getChildren lists its ports {ports:?}: got {hub_children:?}"
        ));
    }
    for (op, want) in [("getParent", &hub), ("getMediaPipeline", &pipeline)] {
        let got = s.invoke(&ports[0], op).await["result"]["value"].clone();
        if got != json!(want) {
            fail.push(format!("a port's {op} is {want}: got {got}"));
        }
    }
    s.call("release", json!({"object": hub})).await;
    let gone = s.invoke(&ports[1], "getName").await;
    if gone["error"]["code"] != json!(40101) {
        fail.push(format!(
            "releasing the hub releases its ports: getName answered {gone}"
        ));
    }
    s.call("release", json!({"object": pipeline})).await;
    fail
}
