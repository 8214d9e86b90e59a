//! Unit tests of the engine driven with its own clock: references and GC
//! tables, flow propagation, WebRTC negotiation, stats growth and the
//! peer-vanished timeline.

use serde_json::{json, Value};

use super::engine::Engine;
use super::timeline::Vanish;
use super::webrtc::IceMode;
use kms_proto::wire::{Id, Request};

const T0: u64 = 1_795_562_784_000;

struct Fx {
    e: Engine,
    now: u64,
    next: u64,
}

impl Fx {
    fn new() -> Self {
        Fx {
            e: Engine::new(1, T0),
            now: T0,
            next: 1,
        }
    }

    fn call(&mut self, s: &str, method: &str, mut params: Value) -> Value {
        params["sessionId"] = json!(s);
        self.next += 1;
        let req = Request {
            jsonrpc: "2.0".into(),
            id: Some(Id::Num(self.next)),
            method: method.into(),
            params: Some(params),
        };
        let out = self.e.handle(Some(s), req, self.now);
        match out.response.outcome {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e:?}"),
        }
    }

    fn create(&mut self, s: &str, ty: &str, ctor: Value) -> String {
        self.call(s, "create", json!({"type": ty, "constructorParams": ctor}))["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn inv(&mut self, s: &str, obj: &str, op: &str, args: Value) -> Value {
        self.call(
            s,
            "invoke",
            json!({"object": obj, "operation": op, "operationParams": args}),
        )["value"]
            .clone()
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 500).min(end);
            self.e.tick(self.now);
        }
    }

    fn flowing(&mut self, obj: &str, dir: &str, m: &str) -> bool {
        self.inv(
            "t",
            obj,
            &format!("isMediaFlowing{dir}"),
            json!({"mediaType": m}),
        )
        .as_bool()
        .unwrap()
    }

    fn inbound(&mut self, obj: &str, m: &str) -> Vec<Value> {
        let stats = self.inv("t", obj, "getStats", json!({"mediaType": m}));
        stats
            .as_object()
            .map(|o| {
                o.values()
                    .filter(|v| v["type"] == "inboundrtp")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn references_follow_kms_media_set() {
    let mut f = Fx::new();
    let p = f.create("app", "MediaPipeline", json!({}));
    let e = f.create("app", "WebRtcEndpoint", json!({"mediaPipeline": p}));
    // getPipelines does not reference; getChildren references the pipeline only.
    f.inv("mon", "manager_ServerManager", "getPipelines", json!({}));
    assert!(f.e.sessions["mon"].refs.is_empty());
    f.inv("mon", &p, "getChildren", json!({}));
    assert_eq!(
        f.e.sessions["mon"].refs.iter().collect::<Vec<_>>(),
        vec![&p]
    );
    // An element call references the element and its pipeline.
    f.inv("mon", &e, "getName", json!({}));
    assert_eq!(f.e.sessions["mon"].refs.len(), 2);
    // unref is recursive and releases nothing the app still holds.
    f.call("mon", "unref", json!({"object": p}));
    assert!(f.e.sessions["mon"].refs.is_empty());
    assert!(f.e.truth_has(&e));
    // GC: the app's session disconnected -> marked, then dropped.
    f.e.detach("app", false);
    f.e.gc(f.now);
    assert!(f.e.truth_has(&p), "first round only marks");
    f.e.gc(f.now);
    assert!(!f.e.truth_has(&p) && !f.e.truth_has(&e));
    assert!(!f.e.sessions.contains_key("app"));
}

#[test]
fn a_request_between_rounds_keeps_a_disconnected_session() {
    let mut f = Fx::new();
    let p = f.create("app", "MediaPipeline", json!({}));
    f.e.gc(f.now);
    f.inv("app", &p, "getName", json!({}));
    f.e.gc(f.now);
    assert!(f.e.truth_has(&p));
    f.e.gc(f.now);
    assert!(!f.e.truth_has(&p));
}

fn loopback(f: &mut Fx) -> (String, String, String, String) {
    let p = f.create("t", "MediaPipeline", json!({}));
    let player = f.create(
        "t",
        "PlayerEndpoint",
        json!({"mediaPipeline": p, "uri": "file:///a.webm"}),
    );
    let a = f.create("t", "WebRtcEndpoint", json!({"mediaPipeline": p}));
    let b = f.create("t", "WebRtcEndpoint", json!({"mediaPipeline": p}));
    f.inv("t", &player, "connect", json!({"sink": a}));
    let offer = f.inv("t", &a, "generateOffer", json!({}));
    let answer = f.inv("t", &b, "processOffer", json!({"offer": offer}));
    f.inv("t", &a, "processAnswer", json!({"answer": answer}));
    f.inv("t", &a, "gatherCandidates", json!({}));
    f.inv("t", &b, "gatherCandidates", json!({}));
    f.inv("t", &player, "play", json!({}));
    f.advance(1_000);
    (p, player, a, b)
}

#[test]
fn loopback_flows_like_kms() {
    let mut f = Fx::new();
    let (p, player, a, b) = loopback(&mut f);
    assert!(f.flowing(&player, "Out", "VIDEO"));
    assert!(f.flowing(&a, "In", "VIDEO"), "A is fed by the player");
    assert!(f.flowing(&b, "Out", "VIDEO"), "B receives from its peer A");
    assert!(!f.flowing(&b, "In", "VIDEO"), "nothing feeds B");
    assert!(!f.flowing(&a, "Out", "VIDEO"), "B sends nothing back");
    // What A sends is what B receives: same SSRC on both sides.
    let out_a: Vec<String> =
        f.e.rtc(&a)
            .unwrap()
            .streams
            .iter()
            .map(|s| s.out_ssrc.to_string())
            .collect();
    let in_b: Vec<String> =
        f.e.rtc(&b)
            .unwrap()
            .streams
            .iter()
            .map(|s| s.in_ssrc.to_string())
            .collect();
    assert_eq!(out_a, in_b);
    let ice = f.inv("t", &b, "getIceConnectionState", json!({}));
    assert_eq!(ice.as_array().unwrap().len(), 2);
    assert!(ice
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["state"] == "READY" && c["streamId"] == "1"));
    assert_eq!(f.inv("t", &b, "getMediaState", json!({})), "CONNECTED");
    assert_eq!(
        f.inv("t", &b, "getICECandidatePairs", json!({}))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Counters grow with the clock; the ids and SSRCs are stable.
    let first = f.inbound(&b, "VIDEO");
    assert_eq!(first.len(), 1);
    f.advance(2_000);
    let second = f.inbound(&b, "VIDEO");
    assert_eq!(first[0]["id"], second[0]["id"]);
    assert_eq!(first[0]["ssrc"], second[0]["ssrc"]);
    assert!(second[0]["ssrc"].is_string());
    let grew =
        second[0]["bytesReceived"].as_u64().unwrap() - first[0]["bytesReceived"].as_u64().unwrap();
    assert_eq!(grew, 300_000, "1.2 Mbit/s for 2 s");
    assert_eq!(second[0]["packetsLost"], -1);
    let all = f.inv("t", &a, "getStats", json!({}));
    let out: Vec<&Value> = all
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v["type"] == "outboundrtp")
        .collect();
    assert_eq!(out.len(), 2, "one outbound per SSRC");
    assert!(out.iter().all(|v| v["bytesSent"].as_u64().unwrap() > 0));
    assert!(!all
        .as_object()
        .unwrap()
        .values()
        .any(|v| v["type"] == "endpoint"));
    f.inv("t", &p, "setLatencyStats", json!({"latencyStats": true}));
    let all = f.inv("t", &a, "getStats", json!({"mediaType": "VIDEO"}));
    let ep = &all[a.as_str()];
    assert_eq!(ep["__type__"], "EndpointStats");
    assert_eq!(ep["inputLatency"][0]["name"], "sink_video_default");
    assert_eq!(
        f.inv("t", &player, "getStats", json!({}))[player.as_str()]["type"],
        "element"
    );
}

#[test]
fn released_peer_follows_the_vanished_timeline() {
    let mut f = Fx::new();
    let (_, _, a, b) = loopback(&mut f);
    f.call("t", "release", json!({"object": a}));
    f.advance(5_000);
    assert!(!f.flowing(&b, "Out", "VIDEO"));
    assert!(f.inbound(&b, "VIDEO").is_empty(), "inbound entries vanish");
    assert_eq!(f.inv("t", &b, "getMediaState", json!({})), "CONNECTED");
    f.advance(25_000);
    assert_eq!(f.inv("t", &b, "getMediaState", json!({})), "DISCONNECTED");
    assert_eq!(f.inv("t", &b, "getConnectionState", json!({})), "CONNECTED");
    let ice = f.inv("t", &b, "getIceConnectionState", json!({}));
    assert!(ice
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["state"] == "READY"));
}

#[test]
fn browser_peer_crash_freezes_then_drops_inbound() {
    let mut f = Fx::new();
    let p = f.create("t", "MediaPipeline", json!({}));
    let e = f.create("t", "WebRtcEndpoint", json!({"mediaPipeline": p}));
    f.inv("t", &e, "connect", json!({"sink": e}));
    let offer = f.e.browser_offer();
    let answer = f.inv("t", &e, "processOffer", json!({"offer": offer}));
    let answer = answer.as_str().unwrap();
    assert!(answer.starts_with("v=0\r\no=- "));
    assert!(answer.contains("s=Kurento Media Server\r\n"));
    assert!(answer.contains("a=group:BUNDLE 0 1\r\n"));
    f.inv("t", &e, "gatherCandidates", json!({}));
    f.advance(1_000);
    let ice = f.inv("t", &e, "getIceConnectionState", json!({}));
    assert_eq!(ice[0]["state"], "READY");
    assert_eq!(
        ice[1]["state"], "GATHERING",
        "BUNDLE + rtcp-mux: component 2 never connects"
    );
    assert!(f.flowing(&e, "Out", "AUDIO") && f.flowing(&e, "In", "VIDEO"));
    f.e.vanish_peer(&e, Vanish::Crash);
    f.advance(2_000);
    assert!(f.flowing(&e, "Out", "VIDEO"), "still flowing for ~4 s");
    f.advance(3_000);
    assert!(!f.flowing(&e, "Out", "VIDEO") && !f.flowing(&e, "In", "VIDEO"));
    let frozen = f.inbound(&e, "AUDIO");
    f.advance(5_000);
    assert_eq!(
        frozen[0]["bytesReceived"],
        f.inbound(&e, "AUDIO")[0]["bytesReceived"]
    );
    f.advance(20_000);
    assert!(f.inbound(&e, "AUDIO").is_empty());
    assert_eq!(f.inv("t", &e, "getMediaState", json!({})), "DISCONNECTED");
    assert_eq!(f.inv("t", &e, "getConnectionState", json!({})), "CONNECTED");
}

#[test]
fn ice_failure_modes() {
    for (mode, last) in [(IceMode::Never, "CONNECTING"), (IceMode::Fail, "FAILED")] {
        let mut f = Fx::new();
        let p = f.create("t", "MediaPipeline", json!({}));
        let e = f.create("t", "WebRtcEndpoint", json!({"mediaPipeline": p}));
        f.e.rtc_mut(&e).unwrap().ice_mode = mode;
        let offer = f.e.browser_offer();
        f.inv("t", &e, "processOffer", json!({"offer": offer}));
        f.inv("t", &e, "gatherCandidates", json!({}));
        f.advance(5_000);
        assert_eq!(
            f.inv("t", &e, "getIceConnectionState", json!({}))[0]["state"],
            last
        );
        assert_eq!(f.inv("t", &e, "getMediaState", json!({})), "DISCONNECTED");
        assert!(!f.flowing(&e, "Out", "VIDEO"));
        let outbound = f.inv("t", &e, "getStats", json!({}));
        assert!(outbound
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.get("bytesSent").is_none_or(|b| b == 0)));
    }
}

#[test]
fn conference_app_tags_and_zombies() {
    let mut f = Fx::new();
    for p in ["alice", "bob", "carol"] {
        f.e.app_join("r1", p, IceMode::Normal).unwrap();
    }
    f.advance(1_000);
    let alice = f.e.app_endpoint("r1", "alice").unwrap();
    assert!(f.flowing(&alice, "Out", "VIDEO"), "alice's browser sends");
    assert!(
        f.flowing(&alice, "In", "VIDEO"),
        "the others reach alice through the composite"
    );
    let tags = f.inv("t", &alice, "getTags", json!({}));
    assert_eq!(tags[0]["key"], "room");
    assert_eq!(tags[1]["value"], "alice");
    f.e.app_forget("r1", "bob", Vanish::Crash);
    f.e.app_leave("r1", "carol");
    f.advance(30_000);
    let t = f.e.truth();
    assert_eq!(t.counts.webrtc_endpoints, 2);
    assert_eq!(t.counts.zombies, 2, "bob's endpoint and hub port");
    let bob = t
        .objects
        .iter()
        .find(|o| o.zombie && o.kind == "WebRtcEndpoint")
        .unwrap();
    assert_eq!(bob.media_state.as_deref(), Some("DISCONNECTED"));
    assert!(bob.media.iter().all(|m| !m.flowing_out));
    // The app session stays: the collector never takes zombies of an open app.
    f.e.gc(f.now);
    f.e.gc(f.now);
    assert_eq!(f.e.truth().counts.webrtc_endpoints, 2);
}

#[test]
fn ten_thousand_endpoints_in_one_engine() {
    let mut f = Fx::new();
    for r in 0..2_500 {
        let room = format!("room{r}");
        for p in 0..4 {
            f.e.app_join(&room, &format!("p{p}"), IceMode::Normal)
                .unwrap();
        }
    }
    f.advance(1_000);
    let t = f.e.truth();
    assert_eq!(t.counts.webrtc_endpoints, 10_000);
    assert_eq!(t.counts.pipelines, 2_500);
    let flowing = t
        .objects
        .iter()
        .filter(|o| {
            o.kind == "WebRtcEndpoint" && o.media.iter().all(|m| m.flowing_in && m.flowing_out)
        })
        .count();
    assert_eq!(flowing, 10_000);
    assert!(f.e.timed.is_empty(), "nothing left to tick once connected");
}

#[test]
fn invalid_uri_raises_four_error_events() {
    let mut f = Fx::new();
    let p = f.create("t", "MediaPipeline", json!({}));
    let player = f.create(
        "t",
        "PlayerEndpoint",
        json!({"mediaPipeline": p, "uri": "not a uri"}),
    );
    f.call("t", "subscribe", json!({"object": player, "type": "Error"}));
    f.call("t", "subscribe", json!({"object": p, "type": "Error"}));
    let req = Request {
        jsonrpc: "2.0".into(),
        id: Some(Id::Num(1)),
        method: "invoke".into(),
        params: Some(json!({"object": player, "operation": "play", "sessionId": "t"})),
    };
    let out = f.e.handle(Some("t"), req, f.now);
    assert_eq!(out.events.len(), 4);
    let d = &out.events[0].frame["params"]["value"]["data"];
    assert_eq!(d["type"], "INVALID_URI");
    assert_eq!(d["description"], "Invalid URI");
    assert!(!f.flowing(&player, "Out", "VIDEO"));
}

#[test]
fn file_players_end_after_the_media_duration() {
    let mut f = Fx::new();
    let p = f.create("t", "MediaPipeline", json!({}));
    let player = f.create(
        "t",
        "PlayerEndpoint",
        json!({"mediaPipeline": p, "uri": "file:///srv/media/test.webm"}),
    );
    f.call(
        "t",
        "subscribe",
        json!({"object": player, "type": "EndOfStream"}),
    );
    f.inv("t", &player, "play", json!({}));
    assert!(f.flowing(&player, "Out", "VIDEO"));
    let end = f.now + super::player::FILE_DURATION_MS + 500;
    let mut eos = 0;
    while f.now < end {
        f.now += 500;
        eos += f.e.tick(f.now).len();
    }
    assert_eq!(eos, 1, "one EndOfStream");
    assert_eq!(f.inv("t", &player, "getState", json!({})), "STOP");
    assert!(f.flowing(&player, "Out", "VIDEO"), "flows a little longer");
    f.advance(2_000);
    assert!(!f.flowing(&player, "Out", "VIDEO"));
}

#[test]
fn offer_without_a_supported_video_codec_gets_video_rejected() {
    let mut f = Fx::new();
    let p = f.create("t", "MediaPipeline", json!({}));
    let e = f.create("t", "WebRtcEndpoint", json!({"mediaPipeline": p}));
    f.inv("t", &e, "connect", json!({"sink": e}));
    // The app's browser offer, with video offering only a made-up codec.
    let offer =
        f.e.browser_offer()
            .replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 FOO/90000");
    let answer = f.inv("t", &e, "processOffer", json!({"offer": offer}));
    let answer = answer.as_str().unwrap();
    assert!(answer.contains("m=audio 1 UDP/TLS/RTP/SAVPF 111 0 8\r\n"));
    assert!(
        answer.contains("m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=group:BUNDLE 0\r\n"), "{answer}");
    assert!(!answer.contains("FOO"), "no codec is answered for video");
    f.inv("t", &e, "gatherCandidates", json!({}));
    f.advance(3_000);
    assert!(f.flowing(&e, "Out", "AUDIO"), "audio still negotiated");
    assert!(!f.flowing(&e, "Out", "VIDEO"), "no video from the peer");
    assert!(f.inbound(&e, "VIDEO").is_empty());
    assert_eq!(f.inbound(&e, "AUDIO").len(), 1);
    let remote = f.inv("t", &e, "getRemoteSessionDescriptor", json!({}));
    assert!(remote.as_str().unwrap().contains("FOO/90000"));
}
