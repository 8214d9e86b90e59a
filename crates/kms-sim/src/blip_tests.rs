//! Engine tests of network blips (`Engine::interrupt_peer`), driven with the
//! engine's own clock: a two-party conference where alice's network goes
//! away for a short and a long while, seen by a monitor session's events,
//! `getStats`, `getIceConnectionState` and the ground truth.

use serde_json::{json, Value};

use super::engine::Engine;
use super::webrtc::IceMode;
use kms_proto::wire::{Id, Request};

const T0: u64 = 1_795_562_784_000;

const WATCHED: [&str; 6] = [
    "MediaFlowOutStateChanged",
    "MediaFlowInStateChanged",
    "MediaStateChanged",
    "IceComponentStateChanged",
    "DtlsConnectionStateChange",
    "ConnectionStateChanged",
];

struct Fx {
    e: Engine,
    now: u64,
    next: u64,
    alice: String,
    bob: String,
    /// (object, event type, data) of every event the monitor received.
    events: Vec<(String, String, Value)>,
}

impl Fx {
    /// alice and bob in room r1, connected, watched by the monitor session "t".
    fn conference() -> Fx {
        let mut e = Engine::new(7, T0);
        let alice = e.app_join("r1", "alice", IceMode::Normal).unwrap();
        let bob = e.app_join("r1", "bob", IceMode::Normal).unwrap();
        let mut f = Fx {
            e,
            now: T0,
            next: 0,
            alice,
            bob,
            events: Vec::new(),
        };
        f.advance(1_000);
        for ep in [f.alice.clone(), f.bob.clone()] {
            for ty in WATCHED {
                f.call("subscribe", json!({"object": ep, "type": ty}));
            }
        }
        f
    }

    fn call(&mut self, method: &str, mut params: Value) -> Value {
        params["sessionId"] = json!("t");
        self.next += 1;
        let req = Request {
            jsonrpc: "2.0".into(),
            id: Some(Id::Num(self.next)),
            method: method.into(),
            params: Some(params),
        };
        let out = self.e.handle(Some("t"), req, self.now);
        self.absorb(out.events);
        match out.response.outcome {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("{method}: {e:?}"),
        }
    }

    fn absorb(&mut self, events: Vec<super::engine::Delivery>) {
        for d in events.into_iter().filter(|d| d.session == "t") {
            let v = &d.frame["params"]["value"];
            let obj = v["object"].as_str().unwrap_or_default().to_owned();
            let ty = v["type"].as_str().unwrap_or_default().to_owned();
            self.events.push((obj, ty, v["data"].clone()));
        }
    }

    fn inv(&mut self, obj: &str, op: &str, args: Value) -> Value {
        self.call(
            "invoke",
            json!({"object": obj, "operation": op, "operationParams": args}),
        )
    }

    /// Move the clock in 500 ms ticks.
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 500).min(end);
            let out = self.e.tick(self.now);
            self.absorb(out);
        }
    }

    fn interrupt_alice(&mut self, for_ms: u64) {
        self.e.advance(self.now);
        let alice = self.alice.clone();
        assert!(self.e.interrupt_peer(&alice, for_ms));
        let out = self.e.take_events();
        self.absorb(out);
    }

    fn flowing(&mut self, obj: &str, dir: &str, m: &str) -> bool {
        let op = format!("isMediaFlowing{dir}");
        self.inv(obj, &op, json!({"mediaType": m}))
            .as_bool()
            .unwrap()
    }

    /// `bytesReceived` of the (non-phantom) inbound entry of `m`, if listed.
    fn received(&mut self, obj: &str, m: &str) -> Option<u64> {
        let stats = self.inv(obj, "getStats", json!({"mediaType": m}));
        let entries = stats.as_object()?.values().cloned().collect::<Vec<_>>();
        entries
            .iter()
            .filter(|v| v["type"] == "inboundrtp")
            .filter_map(|v| v["bytesReceived"].as_u64())
            .max()
    }

    fn sent(&mut self, obj: &str, m: &str) -> u64 {
        let stats = self.inv(obj, "getStats", json!({"mediaType": m}));
        stats
            .as_object()
            .unwrap()
            .values()
            .filter(|v| v["type"] == "outboundrtp")
            .filter_map(|v| v["bytesSent"].as_u64())
            .sum()
    }

    fn ice1(&mut self, obj: &str) -> Value {
        self.inv(obj, "getIceConnectionState", json!({}))[0]["state"].clone()
    }

    /// The monitor's events on `obj` since `from` (index), as `type state`
    /// strings with their timestamps relative to `t`.
    fn seen(&self, obj: &str, from: usize, t: u64) -> Vec<(u64, String)> {
        self.events[from..]
            .iter()
            .filter(|(o, _, _)| o == obj)
            .map(|(_, ty, d)| {
                let state = d["state"]
                    .as_str()
                    .or_else(|| d["newState"].as_str())
                    .unwrap_or_default();
                let media = d["mediaType"].as_str().unwrap_or_default();
                let at: u64 = d["timestampMillis"].as_str().unwrap().parse().unwrap();
                (at - t, format!("{ty} {state} {media}").trim().to_owned())
            })
            .collect()
    }
}

#[test]
fn a_short_blip_stops_flow_and_keeps_the_media_state() {
    let mut f = Fx::conference();
    let (alice, bob) = (f.alice.clone(), f.bob.clone());
    assert!(f.flowing(&alice, "Out", "VIDEO") && f.flowing(&bob, "In", "VIDEO"));
    let mark = f.events.len();
    let t = f.now;
    f.interrupt_alice(10_000);
    f.advance(2_000);
    assert!(f.flowing(&alice, "Out", "VIDEO"), "KMS notices after ~4 s");
    let truth = f.e.truth();
    let a = truth.object(&alice).unwrap();
    assert!(a.interrupted && a.peer_present == Some(true));

    f.advance(3_000);
    assert!(!f.flowing(&alice, "Out", "VIDEO") && !f.flowing(&alice, "Out", "AUDIO"));
    assert!(
        !f.flowing(&bob, "In", "AUDIO"),
        "bob hears only alice through the composite"
    );
    assert!(
        f.flowing(&bob, "In", "VIDEO"),
        "the composite's grid still shows bob himself"
    );
    assert!(
        f.flowing(&alice, "In", "VIDEO"),
        "bob still sends to alice's endpoint"
    );
    let frozen_in = f.received(&alice, "AUDIO").unwrap();
    let frozen_out = f.sent(&bob, "AUDIO");
    let truth = f.e.truth();
    let a = truth.object(&alice).unwrap();
    assert_eq!(a.peer_present, Some(true), "the peer is still there");
    assert!(a.media.iter().all(|m| !m.flowing_out && m.recv_bps == 0.0));
    assert_eq!(a.media_state.as_deref(), Some("CONNECTED"));
    assert_eq!(a.ice_states[0], "READY");

    f.advance(4_000);
    assert_eq!(f.received(&alice, "AUDIO"), Some(frozen_in), "frozen");
    assert_eq!(f.sent(&bob, "AUDIO"), frozen_out, "bob forwards no voice");
    assert_eq!(f.inv(&alice, "getMediaState", json!({})), "CONNECTED");

    f.advance(2_000);
    assert!(f.flowing(&alice, "Out", "VIDEO") && f.flowing(&bob, "In", "VIDEO"));
    f.advance(1_000);
    assert!(
        f.received(&alice, "AUDIO").unwrap() > frozen_in,
        "grows again"
    );
    assert!(f.sent(&bob, "AUDIO") > frozen_out);
    let truth = f.e.truth();
    let a = truth.object(&alice).unwrap();
    assert!(!a.interrupted && a.media.iter().all(|m| m.flowing_out));

    assert_eq!(
        f.seen(&alice, mark, t),
        vec![
            (4_000, "MediaFlowOutStateChanged NOT_FLOWING AUDIO".into()),
            (4_000, "MediaFlowOutStateChanged NOT_FLOWING VIDEO".into()),
            (10_000, "MediaFlowOutStateChanged FLOWING AUDIO".into()),
            (10_000, "MediaFlowOutStateChanged FLOWING VIDEO".into()),
        ],
        "no media state, ICE, DTLS or connection state change"
    );
    assert_eq!(
        f.seen(&bob, mark, t),
        vec![
            (4_000, "MediaFlowInStateChanged NOT_FLOWING AUDIO".into()),
            (10_000, "MediaFlowInStateChanged FLOWING AUDIO".into()),
        ],
        "the grid (video) keeps coming: it shows bob too"
    );
    assert!(f.e.timed.is_empty(), "nothing left to tick after recovery");
}

#[test]
fn a_long_blip_takes_the_media_state_down_and_back() {
    let mut f = Fx::conference();
    let alice = f.alice.clone();
    let before = f.received(&alice, "VIDEO").unwrap();
    let mark = f.events.len();
    let t = f.now;
    f.interrupt_alice(40_000);
    f.advance(6_000);
    let frozen = f.received(&alice, "VIDEO").unwrap();
    assert!(frozen > before, "counted until the flow stopped");
    f.advance(4_000);
    assert_eq!(
        f.received(&alice, "VIDEO"),
        None,
        "the video entry vanished"
    );
    assert_eq!(f.inv(&alice, "getMediaState", json!({})), "CONNECTED");
    f.advance(15_000);
    assert_eq!(f.inv(&alice, "getMediaState", json!({})), "DISCONNECTED");
    assert_eq!(f.inv(&alice, "getConnectionState", json!({})), "CONNECTED");
    assert_eq!(
        f.ice1(&alice),
        "READY",
        "ICE does not notice (samples/browser)"
    );
    let truth = f.e.truth();
    let a = truth.object(&alice).unwrap();
    assert_eq!(a.media_state.as_deref(), Some("DISCONNECTED"));
    assert!(a.interrupted && a.peer_present == Some(true));

    f.advance(15_000);
    assert_eq!(f.inv(&alice, "getMediaState", json!({})), "CONNECTED");
    assert!(f.flowing(&alice, "Out", "VIDEO"));
    f.advance(1_000);
    let after = f.received(&alice, "VIDEO").unwrap();
    assert!(after > frozen, "the entry is back and counts again");
    assert_eq!(f.ice1(&alice), "READY");

    assert_eq!(
        f.seen(&alice, mark, t),
        vec![
            (4_000, "MediaFlowOutStateChanged NOT_FLOWING AUDIO".into()),
            (4_000, "MediaFlowOutStateChanged NOT_FLOWING VIDEO".into()),
            (24_000, "MediaStateChanged DISCONNECTED".into()),
            (40_000, "MediaStateChanged CONNECTED".into()),
            (40_000, "MediaFlowOutStateChanged FLOWING AUDIO".into()),
            (40_000, "MediaFlowOutStateChanged FLOWING VIDEO".into()),
        ]
    );
}

#[test]
fn blips_extend_and_give_way_to_a_vanished_peer() {
    let mut f = Fx::conference();
    let alice = f.alice.clone();
    f.interrupt_alice(5_000);
    f.advance(3_000);
    f.e.advance(f.now);
    assert!(f.e.app_interrupt("r1", "alice", 5_000), "extends to +8 s");
    f.advance(3_000);
    assert!(!f.flowing(&alice, "Out", "VIDEO"), "still cut at +6 s");
    f.advance(2_500);
    assert!(f.flowing(&alice, "Out", "VIDEO"), "back at +8 s");
    // A blip on an endpoint whose peer crashed changes nothing.
    f.e.vanish_peer(&alice, super::timeline::Vanish::Crash);
    f.interrupt_alice(60_000);
    f.advance(30_000);
    let truth = f.e.truth();
    let a = truth.object(&alice).unwrap();
    assert_eq!(a.peer_present, Some(false));
    assert!(!a.interrupted);
    assert_eq!(a.media_state.as_deref(), Some("DISCONNECTED"));
    assert!(!f.e.app_interrupt("r1", "nobody", 1_000));
}
