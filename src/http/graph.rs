//! Pipeline topology in the contract of Grafana's Node Graph API datasource
//! plugin: `/api/graph/fields` describes the frames, `/api/graph/data` gives
//! nodes (elements) and edges (connections per media type), read from the
//! model, coloured as every picture is (`paint`): node arcs `arc__zombie`,
//! `arc__flowing`, `arc__idle` (one of them 1) and `color`.

use serde_json::{json, Value};

use crate::model::Store;

use super::paint::{edge, title, Look, Verdicts};

/// Tags that name a node when the application set them.
const TAG_KEYS: &[&str] = &["participant", "room"];

/// The field descriptions of `/api/graph/fields`.
pub fn fields() -> Value {
    let f = |name: &str, ty: &str| json!({ "field_name": name, "type": ty });
    let arcs = [
        (Look::Zombie, "zombie"),
        (Look::Flowing, "media flowing"),
        (Look::Idle, "live, idle"),
    ]
    .map(|(look, name)| {
        json!({ "field_name": format!("arc__{}", look_word(look)), "type": "number",
                "color": look.colour(), "displayName": name })
    });
    let mut nodes = vec![
        f("id", "string"),
        f("title", "string"),
        f("subTitle", "string"),
        f("mainStat", "string"),
        f("secondaryStat", "string"),
        f("color", "string"),
    ];
    nodes.extend(arcs);
    nodes.extend([
        f("detail__pipeline", "string"),
        f("detail__kms", "string"),
        f("detail__because", "string"),
    ]);
    json!({
        "nodes_fields": nodes,
        "edges_fields": [
            f("id", "string"),
            f("source", "string"),
            f("target", "string"),
            f("mainStat", "string"),
            f("color", "string"),
        ],
    })
}

/// `/api/graph/data`: the topology of the pipelines matching `pipeline` and
/// `kms` (each `None` = all); `verdicts` gives a target's zombies. Nodes are
/// coloured by verdict and flow, subtitled with the rule of a zombie; edges
/// (one per media type) by the media on them, labelled with its bitrate; a
/// hub port is linked to its hub.
pub fn data(
    store: &Store,
    kms: Option<&str>,
    pipeline: Option<&str>,
    verdicts: &dyn Fn(&str) -> Verdicts,
) -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for t in store.targets() {
        let m = t.read();
        if kms.is_some_and(|k| k != m.name) {
            continue;
        }
        let zombies = verdicts(&m.name);
        for e in m.elements.values() {
            if pipeline.is_some_and(|p| p != e.pipeline) {
                continue;
            }
            let verdict = zombies.get(&e.id);
            let look = Look::in_model(&m, e, verdict);
            let out: Vec<_> = e
                .sinks
                .iter()
                .map(|(sink, media)| (sink, *media, edge(&m, e, sink, *media)))
                .collect();
            let bps: f64 = out.iter().filter_map(|(_, _, x)| x.bps).sum();
            let main = if out.iter().any(|(_, _, x)| x.bps.is_some()) {
                format!("{:.0} kb/s out", bps / 1000.0)
            } else {
                look_word(look).to_string()
            };
            let secondary = e
                .endpoint
                .as_ref()
                .and_then(|s| s.media_state)
                .map_or(String::new(), |s| format!("media {}", s.value));
            let arc = |l: Look| if look == l { 1.0 } else { 0.0 };
            nodes.push(json!({
                "id": e.id,
                "title": title(e, TAG_KEYS),
                "subTitle": verdict.map_or(e.element_type.as_str(), |z| z.rule.as_str()),
                "mainStat": main,
                "secondaryStat": secondary,
                "color": look.colour(),
                "arc__zombie": arc(Look::Zombie),
                "arc__flowing": arc(Look::Flowing),
                "arc__idle": arc(Look::Idle),
                "detail__pipeline": e.pipeline,
                "detail__kms": m.name,
                "detail__because": verdict
                    .and_then(|z| z.evidence.because.as_ref())
                    .map_or(String::new(), |b| b.reason.clone()),
            }));
            for (sink, media, x) in out {
                edges.push(json!({
                    "id": format!("{}>{}>{}", e.id, sink, media),
                    "source": e.id,
                    "target": sink,
                    "mainStat": x.label(media),
                    "color": x.colour(),
                }));
            }
            if let Some(hub) = e.hub.as_deref().filter(|h| m.elements.contains_key(*h)) {
                edges.push(json!({
                    "id": format!("{}>{}>port", e.id, hub),
                    "source": e.id,
                    "target": hub,
                    "mainStat": "port",
                    "color": Look::Idle.colour(),
                }));
            }
        }
    }
    json!({ "nodes": nodes, "edges": edges })
}

fn look_word(l: Look) -> &'static str {
    match l {
        Look::Zombie => "zombie",
        Look::Flowing => "flowing",
        Look::Idle => "idle",
    }
}

#[cfg(test)]
mod tests {
    use super::super::paint::tests::{id, room, P};
    use super::*;

    #[test]
    fn frames_carry_the_declared_fields_and_colours_by_verdict() {
        let (m, verdicts) = room();
        let store = Store::default();
        *store.target("kms").write() = m;
        let d = data(&store, None, Some(P), &|_| verdicts.clone());
        let nodes = d["nodes"].as_array().unwrap();
        let edges = d["edges"].as_array().unwrap();
        assert_eq!(nodes.len(), 5);
        // 2 connections each way + 2 port-to-hub links.
        assert_eq!(edges.len(), 6);
        let f = fields();
        for (frame, key) in [(nodes, "nodes_fields"), (edges, "edges_fields")] {
            let mut want: Vec<&str> = f[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["field_name"].as_str().unwrap())
                .collect();
            want.sort_unstable();
            for item in frame {
                let mut keys: Vec<&str> = item
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                keys.sort_unstable();
                assert_eq!(keys, want);
            }
        }
        let node = |name: &str, ty: &str| {
            nodes
                .iter()
                .find(|n| n["id"] == id(name, ty))
                .unwrap()
                .clone()
        };
        let arcs = |n: &Value| {
            [
                n["arc__zombie"].as_f64(),
                n["arc__flowing"].as_f64(),
                n["arc__idle"].as_f64(),
            ]
        };
        let dead = node("dead", "WebRtcEndpoint");
        assert_eq!(arcs(&dead), [Some(1.0), Some(0.0), Some(0.0)]);
        assert_eq!(dead["color"], Look::Zombie.colour());
        assert_eq!(dead["subTitle"], "webrtc-peer-gone");
        let live = node("live", "WebRtcEndpoint");
        assert_eq!(arcs(&live), [Some(0.0), Some(1.0), Some(0.0)]);
        assert_eq!(live["subTitle"], "WebRtcEndpoint");
        let hub = node("hub", "Composite");
        assert_eq!(arcs(&hub), [Some(0.0), Some(0.0), Some(1.0)]);
        assert_eq!(hub["color"], Look::Idle.colour());
        let port_link = edges
            .iter()
            .find(|e| {
                e["source"] == id("plive", "HubPort") && e["target"] == id("hub", "Composite")
            })
            .expect("a port is linked to its hub");
        assert_eq!(port_link["mainStat"], "port");
        let flowing = edges
            .iter()
            .find(|e| e["source"] == id("live", "WebRtcEndpoint"))
            .unwrap();
        assert_eq!(flowing["color"], Look::Flowing.colour());
        assert_eq!(flowing["mainStat"], "VIDEO");
        assert!(
            data(&store, Some("other"), None, &|_| Verdicts::new())["nodes"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}
