//! Unit tests of hubs and their ports (ownership, routing, the reported
//! flow flags) and of the SDP getters' errors before negotiation, driven
//! over `Engine::handle` as a client would.

use serde_json::{json, Value};

use super::engine::Engine;
use super::timeline::Vanish;
use super::webrtc::IceMode;
use kms_proto::wire::{Id, Request, RpcError};

const T0: u64 = 1_795_562_784_000;

struct Fx {
    e: Engine,
    now: u64,
    next: u64,
    /// Every event frame delivered to session "t".
    events: Vec<Value>,
}

impl Fx {
    fn new() -> Self {
        Fx {
            e: Engine::new(7, T0),
            now: T0,
            next: 1,
            events: Vec::new(),
        }
    }

    fn try_call(&mut self, method: &str, mut params: Value) -> Result<Value, RpcError> {
        params["sessionId"] = json!("t");
        self.next += 1;
        let req = Request {
            jsonrpc: "2.0".into(),
            id: Some(Id::Num(self.next)),
            method: method.into(),
            params: Some(params),
        };
        let out = self.e.handle(Some("t"), req, self.now);
        self.events.extend(out.events.into_iter().map(|d| d.frame));
        out.response.outcome
    }

    fn create(&mut self, ty: &str, ctor: Value) -> String {
        let r = self.try_call("create", json!({"type": ty, "constructorParams": ctor}));
        r.unwrap()["value"].as_str().unwrap().to_owned()
    }

    fn try_inv(&mut self, obj: &str, op: &str, args: Value) -> Result<Value, RpcError> {
        self.try_call(
            "invoke",
            json!({"object": obj, "operation": op, "operationParams": args}),
        )
        .map(|v| v["value"].clone())
    }

    fn inv(&mut self, obj: &str, op: &str, args: Value) -> Value {
        self.try_inv(obj, op, args).unwrap()
    }

    fn ids(&mut self, obj: &str, op: &str) -> Vec<String> {
        let mut v: Vec<String> = serde_json::from_value(self.inv(obj, op, json!({}))).unwrap();
        v.sort();
        v
    }

    fn flowing(&mut self, obj: &str, dir: &str, m: &str) -> bool {
        let op = format!("isMediaFlowing{dir}");
        self.inv(obj, &op, json!({"mediaType": m}))
            .as_bool()
            .unwrap()
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 500).min(end);
            self.e.tick(self.now);
        }
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn sdp_getters_answer_errors_before_negotiation() {
    let mut f = Fx::new();
    let p = f.create("MediaPipeline", json!({}));
    let ep = f.create("WebRtcEndpoint", json!({"mediaPipeline": p}));
    let local = f.try_inv(&ep, "getLocalSessionDescriptor", json!({}));
    let e = local.unwrap_err();
    assert_eq!(e.code, 40202);
    assert_eq!(e.message, "No local SDP");
    assert_eq!(
        e.data.unwrap()["type"],
        json!("SDP_END_POINT_NO_LOCAL_SDP_ERROR")
    );
    let e = f
        .try_inv(&ep, "getRemoteSessionDescriptor", json!({}))
        .unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (40203, "No remote SDP"));
    assert_eq!(
        e.data.unwrap()["type"],
        json!("SDP_END_POINT_NO_REMOTE_SDP_ERROR")
    );
    // an offer generated: the local SDP exists, the remote one not yet
    f.inv(&ep, "generateOffer", json!({}));
    assert!(f
        .inv(&ep, "getLocalSessionDescriptor", json!({}))
        .as_str()
        .unwrap()
        .starts_with("v=0"));
    let e = f
        .try_inv(&ep, "getRemoteSessionDescriptor", json!({}))
        .unwrap_err();
    assert_eq!(e.code, 40203);
}

#[test]
fn a_hub_port_belongs_to_its_hub() {
    let mut f = Fx::new();
    let p = f.create("MediaPipeline", json!({}));
    let hub = f.create("Composite", json!({"mediaPipeline": p}));
    let ep = f.create("WebRtcEndpoint", json!({"mediaPipeline": p}));
    let sub = json!({"object": "manager_ServerManager", "type": "ObjectCreated"});
    f.try_call("subscribe", sub).unwrap();
    let port = f.create("HubPort", json!({"hub": hub}));
    assert!(
        f.events
            .iter()
            .any(|ev| ev["params"]["value"]["data"]["object"] == json!(port)),
        "ObjectCreated announces the port"
    );
    let port2 = f.create("HubPort", json!({"hub": hub}));
    assert!(port.starts_with(&format!("{p}/")) && port.ends_with("_kurento.HubPort"));
    assert_eq!(
        f.ids(&p, "getChildren"),
        sorted(vec![hub.clone(), ep.clone()])
    );
    assert_eq!(
        f.ids(&hub, "getChildren"),
        sorted(vec![port.clone(), port2.clone()])
    );
    assert_eq!(f.inv(&port, "getParent", json!({})), json!(hub));
    assert_eq!(f.inv(&port, "getMediaPipeline", json!({})), json!(p));
    assert_eq!(f.inv(&hub, "getParent", json!({})), json!(p));
    f.inv(&ep, "connect", json!({"sink": port}));
    f.inv(&port, "connect", json!({"sink": ep}));
    let sinks = f.inv(&ep, "getSinkConnections", json!({"mediaType": "AUDIO"}));
    assert_eq!(sinks[0]["sink"], json!(port));
    let sources = f.inv(&ep, "getSourceConnections", json!({"mediaType": "VIDEO"}));
    assert_eq!(sources[0]["source"], json!(port));
    assert_eq!(f.e.truth().object(&port).unwrap().parent, Some(hub.clone()));
    // a HubPort needs a hub
    assert!(f
        .try_call(
            "create",
            json!({"type": "HubPort", "constructorParams": {"hub": ep}})
        )
        .is_err());

    // ObjectCreated announced the ports; releasing the hub releases them
    f.try_call("release", json!({"object": hub})).unwrap();
    for id in [&hub, &port, &port2] {
        assert!(!f.e.truth_has(id), "{id} released with its hub");
    }
    assert!(f.e.truth_has(&ep));
    assert!(f
        .inv(&ep, "getSinkConnections", json!({}))
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn composite_port_flags_do_not_tell_liveness() {
    let mut f = Fx::new();
    let eps: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|p| f.e.app_join("r1", p, IceMode::Normal).unwrap())
        .collect();
    f.advance(2_000);
    let port = |f: &Fx, i: usize| -> String {
        let t = f.e.truth();
        t.objects
            .iter()
            .find(|o| o.kind == "HubPort" && o.sinks.iter().any(|(s, _)| *s == eps[i]))
            .unwrap()
            .id
            .clone()
    };
    let (pa, pc) = (port(&f, 0), port(&f, 2));
    assert!(f.flowing(&eps[0], "Out", "VIDEO"), "a's browser sends");
    assert!(f.flowing(&pa, "In", "AUDIO"));
    assert!(
        !f.flowing(&pa, "In", "VIDEO"),
        "a live port says no VIDEO in"
    );
    assert!(f.flowing(&pa, "Out", "VIDEO") && f.flowing(&eps[0], "In", "VIDEO"));

    // c's browser crashes; the app keeps (forgets) its objects
    f.e.vanish_peer(&eps[2], Vanish::Crash);
    f.advance(6_000);
    assert!(!f.flowing(&eps[2], "Out", "AUDIO"), "c sends nothing");
    assert!(!f.flowing(&pc, "In", "AUDIO"));
    assert!(
        f.flowing(&pc, "Out", "AUDIO"),
        "the mixer keeps feeding the dead participant's port"
    );
}

#[test]
fn dispatchers_route_between_ports() {
    let mut f = Fx::new();
    let p = f.create("MediaPipeline", json!({}));
    let hub = f.create("Dispatcher", json!({"mediaPipeline": p}));
    let pipeline = p.clone();
    let mut eps = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2 {
        let ep = f.create("WebRtcEndpoint", json!({"mediaPipeline": pipeline}));
        let offer = f.e.browser_offer();
        f.inv(&ep, "processOffer", json!({"offer": offer}));
        f.inv(&ep, "gatherCandidates", json!({}));
        let cand = json!({"candidate": "candidate:1 1 UDP 2122260223 198.51.100.7 40001 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
        f.inv(&ep, "addIceCandidate", json!({"candidate": cand}));
        let port = f.create("HubPort", json!({"hub": hub}));
        f.inv(&ep, "connect", json!({"sink": port}));
        f.inv(&port, "connect", json!({"sink": ep}));
        eps.push(ep);
        ports.push(port);
    }
    f.advance(2_000);
    assert!(!f.flowing(&eps[1], "In", "VIDEO"), "nothing routed yet");
    f.inv(
        &hub,
        "connect",
        json!({"source": ports[0], "sink": ports[1]}),
    );
    f.advance(500);
    assert!(
        f.flowing(&ports[0], "In", "VIDEO"),
        "dispatcher ports report VIDEO"
    );
    assert!(f.flowing(&eps[1], "In", "VIDEO"), "0 -> 1 routed");
    assert!(!f.flowing(&eps[0], "In", "VIDEO"), "1 -> 0 not routed");
    let bad = f.try_inv(&hub, "connect", json!({"source": eps[0], "sink": ports[1]}));
    assert_eq!(bad.unwrap_err().code, 40001);

    let one = f.create("DispatcherOneToMany", json!({"mediaPipeline": pipeline}));
    let src = f.create("HubPort", json!({"hub": one}));
    let dst = f.create("HubPort", json!({"hub": one}));
    let rx = f.create("PassThrough", json!({"mediaPipeline": pipeline}));
    f.inv(&eps[1], "connect", json!({"sink": src}));
    f.inv(&dst, "connect", json!({"sink": rx}));
    f.inv(&one, "setSource", json!({"source": src}));
    f.advance(500);
    assert!(f.flowing(&rx, "In", "AUDIO") && f.flowing(&dst, "Out", "VIDEO"));
    assert!(
        !f.flowing(&src, "Out", "VIDEO"),
        "the source gets nothing back"
    );
    f.inv(&one, "removeSource", json!({}));
    f.advance(500);
    assert!(!f.flowing(&rx, "In", "AUDIO"));
}
