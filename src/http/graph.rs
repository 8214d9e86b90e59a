//! Pipeline topology in the contract of Grafana's Node Graph API datasource
//! plugin: `/api/graph/fields` describes the frames, `/api/graph/data` gives
//! nodes (elements) and edges (connections per media type), read from the
//! model. Node colour arcs: `arc__flowing` / `arc__not_flowing` fractions.

use serde_json::{json, Value};

use crate::model::{Direction, Element, Store};

/// The field descriptions of `/api/graph/fields`.
pub fn fields() -> Value {
    let f = |name: &str, ty: &str| json!({ "field_name": name, "type": ty });
    json!({
        "nodes_fields": [
            f("id", "string"),
            f("title", "string"),
            f("subTitle", "string"),
            f("mainStat", "string"),
            f("secondaryStat", "string"),
            json!({ "field_name": "arc__flowing", "type": "number", "color": "green", "displayName": "media flowing" }),
            json!({ "field_name": "arc__not_flowing", "type": "number", "color": "red", "displayName": "no media" }),
            f("detail__pipeline", "string"),
            f("detail__kms", "string"),
        ],
        "edges_fields": [
            f("id", "string"),
            f("source", "string"),
            f("target", "string"),
            f("mainStat", "string"),
        ],
    })
}

/// Bytes per second an element moves, from its last two stats samples.
fn rate_bytes(e: &Element) -> Option<f64> {
    let (cur, prev) = (e.stats.as_ref()?, e.previous_stats.as_ref()?);
    let rx: f64 = cur
        .inbound
        .iter()
        .filter_map(|s| cur.receive_bitrate(prev, &s.ssrc))
        .sum();
    let tx: f64 = cur
        .outbound
        .iter()
        .filter_map(|s| cur.send_bitrate(prev, &s.ssrc))
        .sum();
    Some((rx + tx) / 8.0)
}

/// The short form of an id's last segment, for titles.
fn short(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    last.get(..8).unwrap_or(last)
}

/// `/api/graph/data`: the topology of the pipelines matching `pipeline` and
/// `kms` (each `None` = all).
pub fn data(store: &Store, kms: Option<&str>, pipeline: Option<&str>) -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for t in store.targets() {
        let m = t.read();
        if kms.is_some_and(|k| k != m.name) {
            continue;
        }
        for e in m.elements.values() {
            if pipeline.is_some_and(|p| p != e.pipeline) {
                continue;
            }
            let flowing = e.flow.any(Direction::In) || e.flow.any(Direction::Out);
            let title = if e.name.is_empty() || e.name == e.id {
                short(&e.id).to_string()
            } else {
                e.name.clone()
            };
            let main = rate_bytes(e).map_or_else(
                || {
                    if flowing {
                        "flowing".into()
                    } else {
                        "no media".into()
                    }
                },
                |b| format!("{:.0} kb/s", b * 8.0 / 1000.0),
            );
            let secondary = e
                .endpoint
                .as_ref()
                .and_then(|s| s.media_state)
                .map_or(String::new(), |s| format!("media {}", s.value));
            nodes.push(json!({
                "id": e.id,
                "title": title,
                "subTitle": e.element_type,
                "mainStat": main,
                "secondaryStat": secondary,
                "arc__flowing": if flowing { 1.0 } else { 0.0 },
                "arc__not_flowing": if flowing { 0.0 } else { 1.0 },
                "detail__pipeline": e.pipeline,
                "detail__kms": m.name,
            }));
            for (sink, media) in &e.sinks {
                edges.push(json!({
                    "id": format!("{}>{}>{}", e.id, sink, media),
                    "source": e.id,
                    "target": sink,
                    "mainStat": media.as_str(),
                }));
            }
        }
    }
    json!({ "nodes": nodes, "edges": edges })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::types::MediaType;
    use crate::model::{Pipeline, Update};

    #[test]
    fn nodes_and_edges_carry_the_declared_fields() {
        let store = Store::default();
        let t = store.target("k");
        {
            let mut m = t.write();
            for p in ["p1", "p2"] {
                m.apply(Update::Pipeline(Pipeline {
                    id: p.into(),
                    ..Default::default()
                }));
            }
            for (id, p, ty) in [
                ("p1/a", "p1", "PlayerEndpoint"),
                ("p1/b", "p1", "WebRtcEndpoint"),
                ("p2/c", "p2", "WebRtcEndpoint"),
            ] {
                m.apply(Update::Element(Box::new(Element {
                    id: id.into(),
                    pipeline: p.into(),
                    element_type: ty.into(),
                    name: id.into(),
                    ..Default::default()
                })));
            }
            m.apply(Update::Sinks {
                source: "p1/a".into(),
                sinks: [("p1/b".to_string(), MediaType::VIDEO)].into(),
            });
            m.apply(Update::Flow {
                element: "p1/a".into(),
                direction: Direction::Out,
                media: MediaType::VIDEO,
                flowing: true,
                at: 1,
            });
        }
        let d = data(&store, None, Some("p1"));
        let nodes = d["nodes"].as_array().unwrap();
        let edges = d["edges"].as_array().unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(edges.len(), 1);
        let f = fields();
        for (frame, key) in [(nodes, "nodes_fields"), (edges, "edges_fields")] {
            let names: Vec<&str> = f[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["field_name"].as_str().unwrap())
                .collect();
            for item in frame {
                let mut keys: Vec<&str> = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                keys.sort_unstable();
                let mut want = names.clone();
                want.sort_unstable();
                assert_eq!(keys, want);
            }
        }
        let a = nodes.iter().find(|n| n["id"] == "p1/a").unwrap();
        assert_eq!(
            (a["arc__flowing"].as_f64(), a["arc__not_flowing"].as_f64()),
            (Some(1.0), Some(0.0))
        );
        let b = nodes.iter().find(|n| n["id"] == "p1/b").unwrap();
        assert_eq!(b["arc__not_flowing"].as_f64(), Some(1.0));
        assert_eq!(edges[0]["source"], "p1/a");
        assert_eq!(edges[0]["target"], "p1/b");
        assert_eq!(
            data(&store, Some("other"), None)["nodes"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
    }
}
