//! Property tests: whatever a server sends, the codec, the event decoder and
//! the stats parser return (possibly an error) and never panic.

use kurento_exporter::kms::events::Event;
use kurento_exporter::kms::stats::parse_stats;
use kurento_exporter::kms::wire::{self, Frame};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("2.0".to_owned()),
            Just("onEvent".to_owned()),
            Just("inboundrtp".to_owned()),
            Just("-1".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("jsonrpc".to_owned()),
            Just("id".to_owned()),
            Just("method".to_owned()),
            Just("params".to_owned()),
            Just("value".to_owned()),
            Just("data".to_owned()),
            Just("type".to_owned()),
            Just("object".to_owned()),
            Just("result".to_owned()),
            Just("error".to_owned()),
            Just("code".to_owned()),
            Just("message".to_owned()),
            Just("packetsLost".to_owned()),
            Just("bytesReceived".to_owned()),
            Just("inputLatency".to_owned()),
            Just("avg".to_owned()),
            Just("ssrc".to_owned()),
            "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn exercise(frame: Result<Frame, wire::DecodeError>) {
    if let Ok(Frame::Event(ev)) = frame {
        let _ = Event::from_wire(ev);
    }
}

proptest! {
    #[test]
    fn decode_never_panics_on_text(s in ".{0,200}") {
        exercise(wire::decode(&s));
    }

    #[test]
    fn decode_never_panics_on_json(v in arb_json()) {
        exercise(wire::decode(&v.to_string()));
        exercise(wire::decode_value(v));
    }

    #[test]
    fn decode_never_panics_on_rpc_shapes(id in arb_json(), body in arb_json(), which in 0..4u8) {
        let mut m = Map::new();
        m.insert("jsonrpc".into(), "2.0".into());
        m.insert("id".into(), id);
        let key = ["result", "error", "method", "params"][which as usize];
        m.insert(key.into(), body.clone());
        if which == 3 {
            m.insert("method".into(), "onEvent".into());
            m.remove("id");
        }
        exercise(wire::decode_value(Value::Object(m)));
    }

    #[test]
    fn stats_never_panic(v in arb_json(), entries in prop::collection::vec(arb_json(), 0..5)) {
        let _ = parse_stats(&v);
        let map: Map<String, Value> = entries
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                if let Value::Object(o) = &mut e {
                    let ty = ["inboundrtp", "outboundrtp", "endpoint", "element", "candidatepair", "transport"][i % 6];
                    o.insert("type".into(), ty.into());
                }
                (i.to_string(), e)
            })
            .collect();
        let n = map.len();
        let parsed = parse_stats(&Value::Object(map)).unwrap().unwrap();
        prop_assert_eq!(parsed.len(), n);
    }
}
