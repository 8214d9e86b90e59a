//! Tests of the policy: model builders (here), per-condition tables
//! (`conditions`, `logic`), the default policy on realistic timelines (`defaults`),
//! the `[policy]` config (`config`) and safety properties (`props`).

mod conditions;
mod config;
mod defaults;
mod logic;
mod oracle;
pub(crate) mod props;
mod releases;

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::kms::types::{IceComponentState, MediaState, MediaType};
use crate::model::Direction;
use crate::model::{EndpointChange, Pipeline, Update};

/// Start of every timeline.
pub(super) const T0: Millis = 1_700_000_000_000;
pub(super) const SEC: Millis = 1_000;
pub(super) const MIN: Millis = 60 * SEC;

pub(super) const P: &str = "p1_kurento.MediaPipeline";

/// A synced target with one empty pipeline `P` first seen at `T0`.
pub(super) fn model() -> TargetModel {
    let mut m = TargetModel::new("kms-1");
    m.apply(Update::Connected(true));
    m.apply(Update::Synced { ok: true, at: T0 });
    add_pipeline(&mut m, P, "meeting-1", T0);
    m
}

pub(super) fn add_pipeline(m: &mut TargetModel, id: &str, name: &str, first_seen: Millis) {
    m.apply(Update::Pipeline(Pipeline {
        id: id.into(),
        name: name.into(),
        first_seen,
        ..Default::default()
    }));
}

/// Add an element of `ty` named `name` to `pipeline`, first seen at `at`; returns its id.
pub(super) fn add(m: &mut TargetModel, pipeline: &str, name: &str, ty: &str, at: Millis) -> String {
    let id = format!("{pipeline}/{name}_kurento.{ty}");
    m.apply(Update::Element(Box::new(Element {
        id: id.clone(),
        pipeline: pipeline.into(),
        element_type: ty.into(),
        name: name.into(),
        first_seen: at,
        ..Default::default()
    })));
    id
}

/// A HubPort of `hub` connected both ways (audio and video) with `element`.
pub(super) fn port_of(
    m: &mut TargetModel,
    pipeline: &str,
    name: &str,
    hub: &str,
    element: &str,
    at: Millis,
) -> String {
    let id = add(m, pipeline, name, "HubPort", at);
    if let Some(e) = m.elements.get_mut(&id) {
        e.hub = Some(hub.to_string());
    }
    connect(m, &id, element);
    connect(m, element, &id);
    id
}

/// Connect `source` to `sink` for audio and video (keeping other sinks).
pub(super) fn connect(m: &mut TargetModel, source: &str, sink: &str) {
    let mut sinks = m.elements[source].sinks.clone();
    for media in [MediaType::AUDIO, MediaType::VIDEO] {
        sinks.insert((sink.to_string(), media));
    }
    m.apply(Update::Sinks {
        source: source.into(),
        sinks,
    });
}

pub(super) fn flow(m: &mut TargetModel, id: &str, dir: Direction, flowing: bool, at: Millis) {
    for media in [MediaType::AUDIO, MediaType::VIDEO] {
        m.apply(Update::Flow {
            element: id.into(),
            direction: dir,
            media,
            flowing,
            at,
        });
    }
}

pub(super) fn ep(m: &mut TargetModel, id: &str, change: EndpointChange, at: Millis) {
    m.apply(Update::Endpoint {
        element: id.into(),
        change,
        at,
    });
}

pub(super) fn tag(m: &mut TargetModel, id: &str, key: &str, value: &str) {
    let mut tags = m
        .pipelines
        .get(id)
        .map(|p| p.tags.clone())
        .or_else(|| m.elements.get(id).map(|e| e.tags.clone()))
        .unwrap_or_default();
    tags.insert(key.into(), value.into());
    m.apply(Update::Tags {
        object: id.into(),
        tags,
    });
}

/// A WebRtcEndpoint that negotiated with a browser at `at`: remote SDP, ICE
/// component 1 READY and component 2 GATHERING (BUNDLE), DTLS and media
/// CONNECTED, media flowing both ways.
pub(super) fn live_webrtc(m: &mut TargetModel, name: &str, at: Millis) -> String {
    let id = add(m, P, name, "WebRtcEndpoint", at);
    ep(
        m,
        &id,
        EndpointChange::RemoteSdp(Some("v=0\r\n".into())),
        at,
    );
    ep(
        m,
        &id,
        EndpointChange::IceAll(vec![
            ("0".into(), 1, IceComponentState::READY),
            ("0".into(), 2, IceComponentState::GATHERING),
        ]),
        at + 2 * SEC,
    );
    ep(
        m,
        &id,
        EndpointChange::ConnectionState(crate::kms::types::ConnectionState::CONNECTED),
        at + 2 * SEC,
    );
    ep(
        m,
        &id,
        EndpointChange::Dtls(crate::kms::types::DtlsConnectionState::CONNECTED),
        at + 2 * SEC,
    );
    ep(
        m,
        &id,
        EndpointChange::MediaState(MediaState::CONNECTED),
        at + 3 * SEC,
    );
    ep(m, &id, EndpointChange::MediaSessionStarted, at + 3 * SEC);
    flow(m, &id, Direction::In, true, at + 3 * SEC);
    flow(m, &id, Direction::Out, true, at + 3 * SEC);
    id
}

/// A WebRtcEndpoint whose state was read but that never got an answer.
pub(super) fn unnegotiated_webrtc(
    m: &mut TargetModel,
    pipeline: &str,
    name: &str,
    at: Millis,
) -> String {
    let id = add(m, pipeline, name, "WebRtcEndpoint", at);
    // KMS answered "no remote SDP" (40203).
    ep(m, &id, EndpointChange::RemoteSdp(None), at);
    ep(m, &id, EndpointChange::IceAll(Vec::new()), at);
    ep(
        m,
        &id,
        EndpointChange::MediaState(MediaState::DISCONNECTED),
        at,
    );
    ep(
        m,
        &id,
        EndpointChange::ConnectionState(crate::kms::types::ConnectionState::DISCONNECTED),
        at,
    );
    id
}

pub(super) fn default_policy() -> Policy {
    match Policy::new(&PolicyConfig::default()) {
        Ok(p) => p,
        Err(e) => panic!("default policy: {e}"),
    }
}

/// A policy of the given rules with the default safety settings.
pub(super) fn policy_of(rules: Vec<RuleConfig>) -> Policy {
    let cfg = PolicyConfig {
        rules,
        ..PolicyConfig::default()
    };
    match Policy::new(&cfg) {
        Ok(p) => p,
        Err(e) => panic!("policy: {e}"),
    }
}

pub(super) fn rule(
    name: &str,
    action: RuleAction,
    types: &[&str],
    when: ConditionConfig,
) -> RuleConfig {
    RuleConfig {
        name: name.into(),
        action,
        min_age: std::time::Duration::from_secs(60),
        matcher: MatchConfig {
            element_types: types.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
        when,
    }
}

pub(super) fn known(ids: &[&str]) -> SessionView {
    SessionView::Known(ids.iter().map(|s| s.to_string()).collect())
}

/// `(object, rule)` of every verdict.
pub(super) fn flagged(d: &Decision) -> Vec<(String, String)> {
    d.verdicts
        .iter()
        .map(|v| (v.object.clone(), v.rule.clone()))
        .collect()
}

/// Run one decision per `period` from `from` to `to` (inclusive), advancing
/// the history; returns the last decision and history.
pub(super) fn run_cycles(
    m: &TargetModel,
    policy: &Policy,
    sessions: &SessionView,
    from: Millis,
    to: Millis,
    period: Millis,
) -> (Decision, History) {
    let mut h = History::new();
    let mut d = Decision::default();
    let mut now = from;
    while now <= to {
        d = decide(m, policy, &h, sessions, now);
        h = h.observe(&d, now);
        now += period;
    }
    (d, h)
}
