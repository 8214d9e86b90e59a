//! How an element is drawn, the same in every picture the daemon makes (DOT,
//! the Node Graph frames, the console's SVG): its look by verdict and flow,
//! the colour of that look, and the node's label.
//!
//! ```text
//!   a zombie verdict       → Zombie   (red, subtitle: the rule)
//!   media flows through it → Flowing  (green)
//!   otherwise              → Idle     (grey: hubs, muted or paused elements)
//! ```

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kms::types::MediaType;
use crate::model::{Direction, Element, ObjectId, TargetModel};
use crate::reaper::Zombie;
use kms_proto::ids::{is_hub, is_hub_port};

/// A target's zombie verdicts by object (the first rule of each).
pub type Verdicts = BTreeMap<ObjectId, Zombie>;

/// The look of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Look {
    Zombie,
    Flowing,
    Idle,
}

impl Look {
    /// The look of `e`, given its verdict (if any).
    pub fn of(e: &Element, verdict: Option<&Zombie>) -> Look {
        if verdict.is_some() {
            Look::Zombie
        } else if !is_hub(&e.element_type) && e.flow.iter().any(|(_, _, s)| s.value) {
            Look::Flowing
        } else {
            Look::Idle
        }
    }

    /// The look of `e` in its model: as [`Look::of`], but a hub port (whose
    /// own flow flags KMS does not make meaningful) flows when media flows on
    /// any of its connections.
    pub fn in_model(m: &TargetModel, e: &Element, verdict: Option<&Zombie>) -> Look {
        let look = Look::of(e, verdict);
        if look != Look::Idle || !is_hub_port(&e.element_type) {
            return look;
        }
        let out = e
            .sinks
            .iter()
            .any(|(sink, media)| edge(m, e, sink, *media).flowing == Some(true));
        let into = m.sources_of(&e.id).any(|(source, media)| {
            m.elements
                .get(source)
                .is_some_and(|s| edge(m, s, &e.id, media).flowing == Some(true))
        });
        if out || into {
            Look::Flowing
        } else {
            Look::Idle
        }
    }

    /// Fill colour (a CSS/Graphviz `#rrggbb`).
    pub fn colour(self) -> &'static str {
        match self {
            Look::Zombie => "#f2495c",
            Look::Flowing => "#73bf69",
            Look::Idle => "#c7d0d9",
        }
    }
}

/// `a1b2c3d4` of `<pipeline>/a1b2c3d4-..._kurento.Type`.
pub fn short_id(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    let uuid = last.split('_').next().unwrap_or(last);
    uuid.get(..8).unwrap_or(uuid)
}

/// A node's title: the element's name when the application set one (KMS
/// names elements by their id otherwise), else the first of `tag_keys` it
/// carries, else its type and short id.
pub fn title(e: &Element, tag_keys: &[&str]) -> String {
    if !e.name.is_empty() && !e.name.contains(short_id(&e.id)) {
        return e.name.clone();
    }
    if let Some(v) = tag_keys.iter().find_map(|k| e.tags.get(*k)) {
        return format!("{} {v}", e.element_type);
    }
    format!("{} {}", e.element_type, short_id(&e.id))
}

/// Media on one connection `source → sink` of one media type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Whether media flows on it; `None` when nothing tells.
    pub flowing: Option<bool>,
    /// Its bitrate in bits/s, when an RTP endpoint at either end measures it.
    pub bps: Option<f64>,
}

impl Edge {
    /// Stroke colour: green while media flows, grey otherwise.
    pub fn colour(&self) -> &'static str {
        if self.flowing == Some(true) {
            Look::Flowing.colour()
        } else {
            "#8e8e8e"
        }
    }

    /// `VIDEO 1234 kb/s`, or the media alone when no rate is known.
    pub fn label(&self, media: MediaType) -> String {
        match self.bps {
            Some(b) => format!("{} {:.0} kb/s", media.as_str(), b / 1000.0),
            None => media.as_str().to_string(),
        }
    }
}

/// What flows on `source → sink` for `media`: the source's flow out into the
/// pipeline, else (a source with no flow readings, such as a hub port) the
/// sink's flow in; the rate from an RTP endpoint at either end (what the
/// source receives from its peer, else what the sink sends to its peer).
pub fn edge(m: &TargetModel, source: &Element, sink: &str, media: MediaType) -> Edge {
    let sink = m.elements.get(sink);
    let flowing = source
        .flow
        .get(Direction::Out, media)
        .map(|s| s.value)
        .or_else(|| sink.and_then(|t| t.flow.get(Direction::In, media).map(|s| s.value)));
    let rate = |e: &Element, inbound: bool| -> Option<f64> {
        let (cur, prev) = (e.stats.as_ref()?, e.previous_stats.as_ref()?);
        let rates: Vec<f64> = if inbound {
            cur.inbound
                .iter()
                .filter(|r| r.media == Some(media))
                .filter_map(|r| cur.receive_bitrate(prev, &r.ssrc))
                .collect()
        } else {
            cur.outbound
                .iter()
                .filter(|r| r.media == Some(media))
                .filter_map(|r| cur.send_bitrate(prev, &r.ssrc))
                .collect()
        };
        (!rates.is_empty()).then(|| rates.iter().sum())
    };
    let bps = if source.is_rtp_endpoint() {
        rate(source, true)
    } else {
        sink.filter(|t| t.is_rtp_endpoint())
            .and_then(|t| rate(t, false))
    };
    Edge { flowing, bps }
}

#[cfg(test)]
pub(super) mod tests {
    //! A room to draw: a flowing endpoint and its port on a Composite, and a
    //! zombie endpoint and its port.

    use super::*;
    use crate::model::{Pipeline, Update};
    use crate::policy::{Evidence, RuleAction, Streak};

    pub const P: &str = "p1_kurento.MediaPipeline";

    pub fn id(name: &str, ty: &str) -> String {
        format!("{P}/{name}_kurento.{ty}")
    }

    pub fn zombie(object: &str, rule: &str) -> Zombie {
        Zombie {
            kms: "kms".into(),
            object: object.into(),
            rule: rule.into(),
            action: RuleAction::Flag,
            status: "flagged",
            held: None,
            pipeline: P.into(),
            element_type: kms_proto::ids::type_of(object).into(),
            streak: Streak::default(),
            evidence: Evidence::default(),
        }
    }

    /// The room, and the verdicts: the dead endpoint and its port.
    pub fn room() -> (TargetModel, Verdicts) {
        let mut m = TargetModel::new("kms");
        m.apply(Update::Pipeline(Pipeline {
            id: P.into(),
            name: "room".into(),
            ..Default::default()
        }));
        let add = |m: &mut TargetModel, name: &str, ty: &str, hub: Option<&str>| {
            m.apply(Update::Element(Box::new(Element {
                id: id(name, ty),
                pipeline: P.into(),
                element_type: ty.into(),
                name: id(name, ty),
                hub: hub.map(|h| id(h, "Composite")),
                ..Default::default()
            })));
        };
        add(&mut m, "hub", "Composite", None);
        for (ep, port) in [("live", "plive"), ("dead", "pdead")] {
            add(&mut m, ep, "WebRtcEndpoint", None);
            add(&mut m, port, "HubPort", Some("hub"));
            let (e, p) = (id(ep, "WebRtcEndpoint"), id(port, "HubPort"));
            for (source, sink) in [(&e, &p), (&p, &e)] {
                m.apply(Update::Sinks {
                    source: source.clone(),
                    sinks: [(sink.clone(), MediaType::VIDEO)].into(),
                });
            }
        }
        for (dir, flowing) in [(Direction::Out, true), (Direction::In, true)] {
            m.apply(Update::Flow {
                element: id("live", "WebRtcEndpoint"),
                direction: dir,
                media: MediaType::VIDEO,
                flowing,
                at: 1,
            });
        }
        m.apply(Update::Flow {
            element: id("dead", "WebRtcEndpoint"),
            direction: Direction::Out,
            media: MediaType::VIDEO,
            flowing: false,
            at: 1,
        });
        let verdicts = [
            (id("dead", "WebRtcEndpoint"), "webrtc-peer-gone"),
            (id("pdead", "HubPort"), "neighbours-zombie"),
        ]
        .into_iter()
        .map(|(o, r)| (o.clone(), zombie(&o, r)))
        .collect();
        (m, verdicts)
    }

    #[test]
    fn looks_by_verdict_and_flow() {
        let (m, v) = room();
        let look = |name: &str, ty: &str| {
            let e = &m.elements[&id(name, ty)];
            Look::in_model(&m, e, v.get(&e.id))
        };
        assert_eq!(look("dead", "WebRtcEndpoint"), Look::Zombie);
        assert_eq!(look("pdead", "HubPort"), Look::Zombie);
        assert_eq!(look("live", "WebRtcEndpoint"), Look::Flowing);
        assert_eq!(
            look("plive", "HubPort"),
            Look::Flowing,
            "by its connections"
        );
        assert_eq!(look("hub", "Composite"), Look::Idle);
        let e = &m.elements[&id("live", "WebRtcEndpoint")];
        let x = edge(&m, e, &id("plive", "HubPort"), MediaType::VIDEO);
        assert_eq!(x.flowing, Some(true));
        assert_eq!(x.colour(), Look::Flowing.colour());
    }
}
