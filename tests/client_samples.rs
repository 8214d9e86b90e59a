//! The codec, event and stats parsers against the real KMS captures in
//! `tests/fixtures/kurento/samples`.

use std::path::PathBuf;

use kurento_exporter::kms::events::{Event, EventKind, EventType};
use kurento_exporter::kms::stats::{parse_stats, Stat};
use kurento_exporter::kms::types::{
    ElementConnectionData, IceCandidatePair, IceComponentState, IceConnection, MediaFlowState,
    MediaType, ServerInfo, Tag,
};
use kurento_exporter::kms::wire::{self, Frame, Id};
use serde_json::Value;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kurento/samples")
}

fn load(rel: &str) -> Value {
    let p = samples().join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn example_value(name: &str) -> Value {
    load(&format!("extra/examples/{name}.json"))["response"]["result"]["value"].clone()
}

#[test]
fn every_captured_frame_decodes() {
    for file in ["wire.jsonl", "extra/wire-second-run.jsonl"] {
        let text = std::fs::read_to_string(samples().join(file)).unwrap();
        let mut n = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let rec: Value = serde_json::from_str(line).unwrap();
            let msg = &rec["msg"];
            let frame = wire::decode(&msg.to_string());
            if rec["dir"] == "kms->client" {
                // Every KMS frame is a response or an event.
                match frame {
                    Ok(Frame::Response(_)) | Ok(Frame::Event(_)) => {}
                    other => panic!("{file}: {other:?} from {msg}"),
                }
                if let Ok(Frame::Event(ev)) = wire::decode(&msg.to_string()) {
                    let (event, ok) = Event::from_wire(ev);
                    assert!(ok, "{file}: {msg}");
                    if EventType::from_name(&event.event_type).is_some() {
                        assert!(event.typed().is_some(), "{msg}");
                    }
                    assert!(event.timestamp_ms.is_some(), "{msg}");
                }
            }
            n += 1;
        }
        assert!(n > 100, "{file}: only {n} frames");
    }
}

#[test]
fn errors_sample_decodes_with_ids() {
    let errors = load("extra/examples/errors.json");
    for e in errors.as_array().unwrap() {
        let Frame::Response(r) = wire::decode_value(e["response"].clone()).unwrap() else {
            panic!()
        };
        assert_eq!(r.id, e["response"]["id"].as_u64().map(Id::Num));
        let err = r.outcome.unwrap_err();
        assert_eq!(err.code, e["response"]["error"]["code"].as_i64().unwrap());
    }
}

#[test]
fn every_event_type_in_the_samples_is_typed() {
    let by_type = load("extra/examples/onEvent-by-type.json");
    let mut seen = 0;
    for (name, frame) in by_type.as_object().unwrap() {
        let Frame::Event(ev) = wire::decode(&frame.to_string()).unwrap() else {
            panic!("{name}")
        };
        let (event, ok) = Event::from_wire(ev);
        assert!(ok, "{name}");
        assert_eq!(event.typed().map(EventType::as_str), Some(name.as_str()));
        assert!(event.timestamp_ms.unwrap() > 1_700_000_000_000);
        assert!(!event.source.is_empty());
        seen += 1;
    }
    assert_eq!(seen, 16);

    let get = |name: &str| {
        let Frame::Event(ev) = wire::decode(&by_type[name].to_string()).unwrap() else {
            panic!()
        };
        Event::from_wire(ev).0
    };
    match get("IceComponentStateChanged").kind {
        EventKind::IceComponentStateChanged(c) => {
            assert_eq!((c.stream_id.as_str(), c.component_id), ("1", 1));
            assert_eq!(c.state, IceComponentState::GATHERING);
        }
        k => panic!("{k:?}"),
    }
    match get("MediaFlowOutStateChanged").kind {
        EventKind::MediaFlowOutStateChanged(c) => {
            assert_eq!(c.state, MediaFlowState::FLOWING);
            assert_eq!(c.media_type, MediaType::VIDEO);
            assert_eq!(c.pad_name, "default");
        }
        k => panic!("{k:?}"),
    }
    match get("Error").kind {
        EventKind::Error(e) => {
            assert_eq!(e.error_type, "INVALID_URI");
            assert_eq!(e.error_code, Some(0));
        }
        k => panic!("{k:?}"),
    }
    let dtls = get("DtlsConnectionStateChange");
    assert_eq!(
        dtls.tags,
        vec![Tag {
            key: "role".into(),
            value: "receiver".into()
        }]
    );
    match dtls.kind {
        EventKind::DtlsConnectionStateChange(d) => {
            assert_eq!(d.component_id, "[bundle/dtlssrtpenc]")
        }
        k => panic!("{k:?}"),
    }
    match get("ObjectDestroyed").kind {
        EventKind::ObjectDestroyed { object_id } => assert!(object_id.ends_with("PlayerEndpoint")),
        k => panic!("{k:?}"),
    }
    match get("NewCandidatePairSelected").kind {
        EventKind::NewCandidatePairSelected { candidate_pair } => {
            assert_eq!(candidate_pair.component_id, 1)
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn unknown_and_broken_events_are_kept_raw() {
    let ev = wire::EventValue {
        data: serde_json::json!({"source": "s", "timestampMillis": 12, "channelId": 3}),
        object: "o".into(),
        event_type: "DataChannelOpened".into(),
    };
    let (e, ok) = Event::from_wire(ev);
    assert!(ok);
    assert_eq!(e.timestamp_ms, Some(12));
    assert!(matches!(e.kind, EventKind::Unknown { .. }));
    let ev = wire::EventValue {
        data: serde_json::json!({"state": "SIDEWAYS"}),
        object: "o".into(),
        event_type: "MediaFlowInStateChanged".into(),
    };
    let (e, ok) = Event::from_wire(ev);
    assert!(!ok);
    assert!(matches!(e.kind, EventKind::Unknown { .. }));
}

#[test]
fn getter_values_from_the_samples() {
    let info: ServerInfo = serde_json::from_value(example_value("getInfo")).unwrap();
    assert_eq!(info.version, "7.3.1-dev");
    assert_eq!(info.server_type, "KMS");
    assert!(info
        .modules
        .iter()
        .any(|m| m.name == "elements" && m.factories.iter().any(|f| f == "WebRtcEndpoint")));
    let conns: Vec<ElementConnectionData> =
        serde_json::from_value(example_value("getSinkConnections")).unwrap();
    assert_eq!(conns.len(), 3);
    assert_eq!(conns[1].media_type, MediaType::DATA);
    let ice: Vec<IceConnection> =
        serde_json::from_value(example_value("getIceConnectionState")).unwrap();
    assert_eq!(ice[1].component_id, 2);
    let pairs: Vec<IceCandidatePair> =
        serde_json::from_value(example_value("getICECandidatePairs")).unwrap();
    assert_eq!(pairs[0].stream_id, "1");
    let tags: Vec<Tag> = serde_json::from_value(example_value("getTags")).unwrap();
    assert_eq!(tags[0].key, "role");
}

#[test]
fn stats_samples_parse_with_units() {
    let all = parse_stats(&example_value("getStats-inbound-outbound-endpoint"))
        .unwrap()
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.values().all(|s| !matches!(s, Stat::Other(_))));
    let Stat::InboundRtp(a) = &all["a6bca871-b344-4dc7-bd93-8550d15b86ad"] else {
        panic!()
    };
    assert_eq!(a.stream.ssrc.as_deref(), Some("4050879906"));
    assert_eq!(a.bytes_received, Some(145_704));
    assert_eq!(a.packets_received, Some(904));
    assert_eq!(a.stream.packets_lost, None, "-1 means unknown");
    assert!((a.jitter_s.unwrap() - 0.000125).abs() < 1e-9);
    assert_eq!(a.common.timestamp_ms, Some(1_795_562_803_031));
    let Stat::OutboundRtp(o) = &all["be144106-bea1-48dd-a5b0-efaf4b3950cb"] else {
        panic!()
    };
    assert_eq!((o.bytes_sent, o.packets_sent), (Some(74_337), Some(120)));
    assert!((o.round_trip_time_s.unwrap() - 0.00115966796875).abs() < 1e-12);
    assert_eq!(o.stream.packets_lost, Some(0));
    let ep = all
        .values()
        .find_map(|s| match s {
            Stat::Endpoint(e) => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(ep.e2e_latency.len(), 2);
    assert_eq!(ep.input_latency[1].media_type, Some(MediaType::VIDEO));

    // Real latencies (nanoseconds) from the kurento-client run.
    let results = load("kurento-client-results.json");
    let a_stats = parse_stats(&results["A"]["stats"]).unwrap().unwrap();
    let e2e: Vec<f64> = a_stats
        .values()
        .filter_map(|s| match s {
            Stat::Endpoint(e) => Some(e.e2e_latency.iter().map(|l| l.avg_ns)),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(e2e.contains(&425_573_353.0), "{e2e:?}");
    for side in ["A", "B"] {
        for key in ["stats", "statsAudio", "statsVideo"] {
            let m = parse_stats(&results[side][key]).unwrap().unwrap();
            assert!(
                m.values().all(|s| !matches!(s, Stat::Other(_))),
                "{side}.{key}"
            );
        }
    }

    let player = parse_stats(&load("player-stats.json")).unwrap().unwrap();
    assert!(matches!(player.values().next(), Some(Stat::Element(e)) if e.input_latency.is_empty()));
    for name in [
        "getStats-AUDIO",
        "getStats-VIDEO",
        "getStats-PlayerEndpoint",
    ] {
        let m = parse_stats(&example_value(name)).unwrap().unwrap();
        assert!(m.values().all(|s| !matches!(s, Stat::Other(_))), "{name}");
    }
}

#[test]
fn browser_snapshots_parse() {
    for which in ["crash", "close"] {
        let snap = load(&format!("browser/{which}-live-snapshot.json"));
        let mut found = 0;
        walk(&snap, &mut |v| {
            if let Some(obj) = v.as_object() {
                let looks_like_stats = !obj.is_empty()
                    && obj
                        .values()
                        .all(|e| e.get("timestampMillis").is_some() && e.get("type").is_some());
                if looks_like_stats {
                    let m = parse_stats(v).unwrap().unwrap();
                    assert!(m.values().all(|s| !matches!(s, Stat::Other(_))), "{v}");
                    found += 1;
                }
            }
        });
        assert!(found > 0, "{which}: no stats map found");
    }
}

fn walk(v: &Value, f: &mut dyn FnMut(&Value)) {
    f(v);
    match v {
        Value::Object(m) => m.values().for_each(|c| walk(c, f)),
        Value::Array(a) => a.iter().for_each(|c| walk(c, f)),
        _ => {}
    }
}
