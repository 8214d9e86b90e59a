//! Engine tests of WebRTC negotiation as KMS 7.3 shows it on the wire
//! (samples/wire.jsonl): MediaSessionStarted and the offerer's DTLS NEW at
//! negotiation, DTLS events of both bundle components, selected pairs made
//! of the announced candidates, and candidates in the session descriptors.

use serde_json::{json, Value};

use super::engine::Engine;
use kms_proto::wire::{Id, Request};

const T0: u64 = 1_795_562_784_000;

struct Fx {
    e: Engine,
    now: u64,
    next: u64,
    /// (object suffix, event type, data) of every event delivered so far.
    events: Vec<(String, String, Value)>,
}

impl Fx {
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
        for d in events {
            let v = &d.frame["params"]["value"];
            let data = v["data"].clone();
            let obj = v["object"].as_str().unwrap_or_default().to_owned();
            let ty = v["type"].as_str().unwrap_or_default().to_owned();
            self.events.push((obj, ty, data));
        }
    }

    fn inv(&mut self, obj: &str, op: &str, args: Value) -> Value {
        self.call(
            "invoke",
            json!({"object": obj, "operation": op, "operationParams": args}),
        )
    }

    fn endpoint(&mut self, p: &str) -> String {
        let id = self.call(
            "create",
            json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": p}}),
        );
        let id = id.as_str().unwrap_or_default().to_owned();
        for ty in [
            "MediaSessionStarted",
            "DtlsConnectionStateChange",
            "IceCandidateFound",
            "NewCandidatePairSelected",
        ] {
            self.call("subscribe", json!({"object": id, "type": ty}));
        }
        id
    }

    fn seen(&self, obj: &str, ty: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|(o, t, _)| o == obj && t == ty)
            .map(|(_, _, d)| d.clone())
            .collect()
    }

    fn dtls(&self, obj: &str) -> Vec<String> {
        self.seen(obj, "DtlsConnectionStateChange")
            .iter()
            .map(|d| format!("{} {}", d["state"].as_str().unwrap_or(""), d["componentId"]))
            .collect()
    }
}

fn lines(sdp: &Value, prefix: &str) -> Vec<String> {
    sdp.as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn loopback_negotiation_matches_the_capture() {
    let mut f = Fx {
        e: Engine::new(3, T0),
        now: T0,
        next: 0,
        events: Vec::new(),
    };
    let p = f.call("create", json!({"type": "MediaPipeline"}));
    let p = p.as_str().unwrap_or_default().to_owned();
    let (a, b) = (f.endpoint(&p), f.endpoint(&p));
    let offer = f.inv(&a, "generateOffer", json!({}));
    let answer = f.inv(&b, "processOffer", json!({ "offer": offer }));
    assert_eq!(
        f.seen(&b, "MediaSessionStarted").len(),
        1,
        "B1: at processOffer"
    );
    assert!(f.dtls(&b).is_empty(), "the answerer's DTLS waits for ICE");
    f.inv(&a, "processAnswer", json!({ "answer": answer }));
    assert_eq!(
        f.seen(&a, "MediaSessionStarted").len(),
        1,
        "B1: at processAnswer"
    );
    assert_eq!(f.dtls(&a), ["NEW \"[bundle/dtlssrtpenc]\""], "B2");

    // Candidates go to the peer as kurento-client does, after both gathered.
    f.inv(&a, "gatherCandidates", json!({}));
    f.inv(&b, "gatherCandidates", json!({}));
    for (from, to) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
        for c in f.seen(&from, "IceCandidateFound") {
            f.inv(
                &to,
                "addIceCandidate",
                json!({ "candidate": c["candidate"] }),
            );
        }
    }
    f.now += 1_000;
    let ev = f.e.tick(f.now);
    f.absorb(ev);

    // B3: both components, in KMS's order.
    let enc = "\"[bundle/dtlssrtpenc]\"";
    let dec = "\"[bundle/dtlssrtpdec]\"";
    let expect: Vec<String> = [
        ("NEW", enc),
        ("CONNECTING", dec),
        ("CONNECTING", enc),
        ("CONNECTED", dec),
        ("CONNECTED", enc),
    ]
    .iter()
    .map(|(s, c)| format!("{s} {c}"))
    .collect();
    assert_eq!(f.dtls(&a), expect);
    assert_eq!(f.dtls(&b), expect);

    // A1: the pairs are announced candidates, B's mirrors A's.
    let pa = f.inv(&a, "getICECandidatePairs", json!({}));
    let pb = f.inv(&b, "getICECandidatePairs", json!({}));
    let announced = |f: &Fx, o: &str| -> Vec<Value> {
        f.seen(o, "IceCandidateFound")
            .iter()
            .map(|c| c["candidate"]["candidate"].clone())
            .collect()
    };
    let (ca, cb) = (announced(&f, &a), announced(&f, &b));
    let (pa, pb) = (pa.as_array().cloned(), pb.as_array().cloned());
    let (pa, pb) = (pa.unwrap_or_default(), pb.unwrap_or_default());
    assert_eq!(pa.len(), 2);
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x["componentId"], y["componentId"]);
        assert!(ca.contains(&x["localCandidate"]) && cb.contains(&x["remoteCandidate"]));
        assert_eq!(x["localCandidate"], y["remoteCandidate"]);
        assert_eq!(x["remoteCandidate"], y["localCandidate"]);
    }
    let selected: Vec<Value> = f
        .seen(&a, "NewCandidatePairSelected")
        .iter()
        .map(|e| e["candidatePair"]["localCandidate"].clone())
        .collect();
    assert!(pa.iter().all(|x| selected.contains(&x["localCandidate"])));

    // A2: descriptors list the gathered / added candidates in every section.
    let local_a = f.inv(&a, "getLocalSessionDescriptor", json!({}));
    let remote_b = f.inv(&b, "getRemoteSessionDescriptor", json!({}));
    let cands = lines(&local_a, "a=candidate:");
    assert_eq!(cands.len(), 12, "6 candidates in each of 2 sections");
    assert_eq!(cands, lines(&remote_b, "a=candidate:"));
    assert_eq!(
        lines(
            &f.inv(&a, "getRemoteSessionDescriptor", json!({})),
            "a=candidate:"
        ),
        lines(
            &f.inv(&b, "getLocalSessionDescriptor", json!({})),
            "a=candidate:"
        )
    );
}
