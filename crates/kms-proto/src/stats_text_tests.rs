//! The text reader must agree with the tree reader on every input: real
//! captures from KMS 7.3 and generated entries with every field in odd shapes.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kurento/samples")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json" || x == "jsonl") {
            out.push(p);
        }
    }
}

/// Objects whose every member is an object with a stats `type`.
fn stats_maps<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            let looks = !m.is_empty()
                && m.values().all(|e| {
                    e.get("type").is_some_and(Value::is_string)
                        || e.get("__type__").is_some_and(Value::is_string)
                });
            if looks {
                out.push(v);
            }
            m.values().for_each(|e| stats_maps(e, out));
        }
        Value::Array(a) => a.iter().for_each(|e| stats_maps(e, out)),
        _ => {}
    }
}

/// Both readers given the same text (a float may not survive a trip
/// through text bit for bit, so the tree is parsed from the text too).
fn tree(text: &str) -> Result<Option<StatsMap>, StatsError> {
    parse_stats(&serde_json::from_str::<Value>(text).unwrap())
}

fn same(v: &Value) {
    let text = v.to_string();
    assert_eq!(parse_stats_text(&text), tree(&text), "{text}");
}

#[test]
fn agrees_with_the_tree_reader_on_captured_get_stats() {
    let mut paths = Vec::new();
    files(&samples(), &mut paths);
    let mut values = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            values.push(v);
        } else {
            values.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
    }
    let mut maps = Vec::new();
    values.iter().for_each(|v| stats_maps(v, &mut maps));
    assert!(maps.len() >= 20, "only {} stats maps found", maps.len());
    let typed = maps
        .iter()
        .filter(|m| {
            let parsed = parse_stats_text(&m.to_string()).unwrap().unwrap();
            parsed.values().any(|s| matches!(s, Stat::InboundRtp(_)))
        })
        .count();
    assert!(typed >= 5, "only {typed} maps with inbound RTP entries");
    // Every captured entry goes the one-pass way, not the fallback.
    for m in &maps {
        for e in m.as_object().unwrap().values() {
            let text = e.to_string();
            assert!(serde_json::from_str::<Fields>(&text).is_ok(), "{text}");
        }
    }
    maps.into_iter().for_each(same);
}

#[test]
fn null_odd_values_and_non_maps() {
    assert_eq!(parse_stats_text("null"), Ok(None));
    for v in [json!({}), json!([1]), json!("x"), json!(3)] {
        same(&v);
    }
    same(&json!({
        "a": {"type": "inboundrtp", "bytesReceived": "lots", "id": "a"},
        "b": {"type": "inboundrtp", "bytesReceived": 10.0, "packetsLost": -1, "ssrc": 5},
        "c": {"type": "datachannel"},
        "d": 7,
        "e": {"type": "inboundrtp", "state": 5, "id": null},
        "f": {"__type__": "EndpointStats", "inputLatency": null, "E2ELatency": [{"avg": "5", "type": "VIDEO"}]},
        "g": {"type": "outboundrtp", "type": "transport", "bytesSent": 1},
    }));
}

const FIELDS: &[&str] = &[
    "id",
    "timestampMillis",
    "ssrc",
    "associateStatsId",
    "isRemote",
    "mediaTrackId",
    "transportId",
    "codecId",
    "firCount",
    "pliCount",
    "nackCount",
    "sliCount",
    "remb",
    "packetsLost",
    "fractionLost",
    "packetsReceived",
    "bytesReceived",
    "jitter",
    "packetsSent",
    "bytesSent",
    "targetBitrate",
    "roundTripTime",
    "inputLatency",
    "E2ELatency",
    "localCandidateId",
    "remoteCandidateId",
    "state",
    "nominated",
    "availableOutgoingBitrate",
    "availableIncomingBitrate",
    "activeConnection",
    "selectedCandidatePairId",
    "payloadType",
    "codec",
    "clockRate",
    "channels",
    "unknownField",
];

const TYPES: &[&str] = &[
    "inboundrtp",
    "outboundrtp",
    "endpoint",
    "element",
    "candidatepair",
    "transport",
    "codec",
    "datachannel",
];

const KMD: &[&str] = &[
    "RTCInboundRTPStreamStats",
    "RTCOutboundRTPStreamStats",
    "EndpointStats",
    "ElementStats",
    "RTCIceCandidatePairStats",
    "RTCTransportStats",
    "RTCCodec",
    "Other",
];

fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u32>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        (0.0f64..1e6).prop_map(Value::from),
        any::<u16>().prop_map(|n| Value::from(n.to_string())),
        Just(Value::from(" 12 ")),
        Just(Value::from("x")),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!([{"name": "src", "type": "AUDIO", "avg": 12.5}])),
        Just(json!([{"type": "VIDEO"}])),
        Just(json!({"nested": 1})),
    ]
}

fn entry_value() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(0..TYPES.len()),
        proptest::option::of(0..KMD.len()),
        proptest::collection::vec((0..FIELDS.len(), odd_value()), 0..12),
    )
        .prop_map(|(ty, kmd, fields)| {
            let mut m = Map::new();
            if let Some(t) = ty {
                m.insert("type".into(), TYPES[t].into());
            }
            if let Some(k) = kmd {
                m.insert("__type__".into(), KMD[k].into());
            }
            for (f, v) in fields {
                m.insert(FIELDS[f].into(), v);
            }
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn agrees_with_the_tree_reader_on_generated_entries(
        entries in proptest::collection::vec(entry_value(), 0..6)
    ) {
        let m: Map<String, Value> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("s{i}"), e))
            .collect();
        let v = Value::Object(m);
        let text = v.to_string();
        prop_assert_eq!(parse_stats_text(&text), tree(&text), "{}", text);
    }
}
