//! Oracles for the property tests: each fact recomputed from the model,
//! not with the policy's own helpers.

use super::*;
use crate::kms::types::MediaState;

const KEYS: &[&str] = &["kurento-exporter.protect", "kurento-exporter.owner"];

/// Protect or owner tag on the object, its pipeline, or (for a pipeline) a child.
pub(crate) fn carries_shield(m: &TargetModel, object: &str) -> bool {
    let bad = |t: &BTreeMap<String, String>| {
        t.get(KEYS[0]).map(String::as_str) == Some("true")
            || t.get(KEYS[1]).map(String::as_str) == Some("kurento-exporter")
    };
    let pipeline_bad = |id: &str| m.pipelines.get(id).is_some_and(|p| bad(&p.tags));
    if m.pipelines.contains_key(object) {
        return pipeline_bad(object) || m.children(object).any(|c| bad(&c.tags));
    }
    let e = &m.elements[object];
    bad(&e.tags) || pipeline_bad(&e.pipeline)
}

pub(crate) fn age(m: &TargetModel, object: &str, now: Millis) -> Millis {
    let (created, seen) = match m.pipelines.get(object) {
        Some(p) => (p.created, p.first_seen),
        None => (m.elements[object].created, m.elements[object].first_seen),
    };
    now.saturating_sub(created.map_or(seen, |s| s * 1000))
}

/// The media neighbours of an element, recomputed: a hub's ports; else the
/// elements connected to it either way, itself and hubs aside.
pub(super) fn neighbours(m: &TargetModel, id: &str) -> BTreeSet<String> {
    let hub = |t: &str| t == "Composite";
    if hub(&m.elements[id].element_type) {
        return m
            .elements
            .values()
            .filter(|e| e.hub.as_deref() == Some(id))
            .map(|e| e.id.clone())
            .collect();
    }
    let out = m.elements[id].sinks.iter().map(|(s, _)| s.clone());
    let into = m
        .elements
        .values()
        .filter(|e| e.sinks.iter().any(|(s, _)| s == id))
        .map(|e| e.id.clone());
    out.chain(into)
        .filter(|n| n != id && m.elements.get(n).is_none_or(|e| !hub(&e.element_type)))
        .collect()
}

pub(super) fn rtp(e: &Element) -> bool {
    e.element_type == "WebRtcEndpoint" || e.element_type == "RtpEndpoint"
}

/// Media flows now or flowed within `grace` on the elements a release of the
/// object rests on: a pipeline's RTP endpoints, or the given elements.
pub(crate) fn flowed(m: &TargetModel, object: &str, grace: Millis, now: Millis) -> bool {
    let els: Vec<&Element> = if m.pipelines.contains_key(object) {
        m.children(object).filter(|e| rtp(e)).collect()
    } else {
        vec![&m.elements[object]]
    };
    flowed_on(&els, grace, now)
}

/// `flowed`, for a release derived from neighbours (`because`, an element's):
/// on the elements its chain starts from.
pub(crate) fn flowed_under(
    m: &TargetModel,
    object: &str,
    because: Option<&Because>,
    grace: Millis,
    now: Millis,
) -> bool {
    match because.filter(|_| !m.pipelines.contains_key(object)) {
        Some(b) => {
            let els: Vec<&Element> = b
                .rests_on
                .iter()
                .filter_map(|id| m.elements.get(id))
                .collect();
            flowed_on(&els, grace, now)
        }
        None => flowed(m, object, grace, now),
    }
}

pub(super) fn flowed_on(els: &[&Element], grace: Millis, now: Millis) -> bool {
    els.iter().any(|e| {
        let recent = |d: Direction| {
            e.flow.iter().any(|(dir, _, s)| dir == d && s.value)
                || e.flow
                    .last_flowing(d, now)
                    .is_some_and(|t| now - t.min(now) < grace)
        };
        let endpoint = e.element_type == "WebRtcEndpoint" || e.element_type == "RtpEndpoint";
        let disconnected = e
            .endpoint
            .as_ref()
            .and_then(|s| s.media_state)
            .is_some_and(|m| m.value == MediaState::DISCONNECTED);
        if endpoint {
            // Media from the peer, or fed by the pipeline to a peer still there.
            recent(Direction::Out) || (recent(Direction::In) && !disconnected)
        } else if e.element_type == "HubPort" || e.element_type == "Composite" {
            // A port is judged by its neighbours, a hub carries nothing.
            false
        } else {
            recent(Direction::In) || recent(Direction::Out)
        }
    })
}
