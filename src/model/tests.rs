//! Tests of the model: apply, remove, reset, flow, endpoint states and history.

use super::state::EndpointChange;
use super::*;
use crate::kms::types::{IceComponentState, MediaState};

const P: &str = "p1_kurento.MediaPipeline";

fn pipeline(id: &str) -> Pipeline {
    Pipeline {
        id: id.into(),
        name: id.into(),
        ..Default::default()
    }
}

fn element(id: &str, ty: &str) -> Element {
    Element {
        id: format!("{P}/{id}_kurento.{ty}"),
        pipeline: P.into(),
        element_type: ty.into(),
        name: id.into(),
        first_seen: 1_000,
        ..Default::default()
    }
}

fn model_with(elements: &[&Element]) -> TargetModel {
    let mut m = TargetModel::new("kms");
    m.apply(Update::Pipeline(pipeline(P)));
    for e in elements {
        m.apply(Update::Element(Box::new((*e).clone())));
    }
    m
}

#[test]
fn removing_a_pipeline_removes_its_elements_and_edges() {
    let a = element("a", "PlayerEndpoint");
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&a, &b]);
    m.apply(Update::Sinks {
        source: a.id.clone(),
        sinks: [(b.id.clone(), MediaType::VIDEO)].into(),
    });
    assert_eq!(m.sources_of(&b.id).count(), 1);
    m.remove(&b.id);
    assert!(
        m.elements[&a.id].sinks.is_empty(),
        "edge into a removed element goes"
    );
    m.remove(P);
    assert!(m.elements.is_empty() && m.pipelines.is_empty());
    m.remove("unknown");
}

#[test]
fn walk_refresh_keeps_observed_history() {
    let mut b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    m.apply(Update::Flow {
        element: b.id.clone(),
        direction: Direction::Out,
        media: MediaType::VIDEO,
        flowing: true,
        at: 2_000,
    });
    b.tags.insert("room".into(), "r1".into());
    b.first_seen = 9_999;
    m.apply(Update::Element(Box::new(b.clone())));
    let e = &m.elements[&b.id];
    assert_eq!(e.tags.get("room").map(String::as_str), Some("r1"));
    assert_eq!(e.first_seen, 1_000, "first sighting is kept");
    assert!(e.flow.any(Direction::Out));
}

#[test]
fn flow_keeps_since_and_last_flowing() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    let flow = |m: &mut TargetModel, flowing, at| {
        m.apply(Update::Flow {
            element: b.id.clone(),
            direction: Direction::Out,
            media: MediaType::VIDEO,
            flowing,
            at,
        })
    };
    flow(&mut m, false, 1_000);
    assert_eq!(
        m.elements[&b.id].flow.last_flowing(Direction::Out, 5_000),
        None
    );
    flow(&mut m, true, 2_000);
    flow(&mut m, true, 3_000);
    let f = m.elements[&b.id]
        .flow
        .get(Direction::Out, MediaType::VIDEO)
        .unwrap();
    assert_eq!((f.value, f.since), (true, 2_000));
    assert_eq!(
        m.elements[&b.id].flow.last_flowing(Direction::Out, 5_000),
        Some(5_000)
    );
    flow(&mut m, false, 4_000);
    flow(&mut m, false, 6_000);
    let f = m.elements[&b.id]
        .flow
        .get(Direction::Out, MediaType::VIDEO)
        .unwrap();
    assert_eq!((f.value, f.since), (false, 4_000));
    assert_eq!(
        m.elements[&b.id].flow.last_flowing(Direction::Out, 9_000),
        Some(4_000)
    );
    assert_eq!(
        m.elements[&b.id].flow.last_flowing(Direction::In, 9_000),
        None
    );
}

#[test]
fn endpoint_states_and_ice_summary() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    let ep = |m: &mut TargetModel, change, at| {
        m.apply(Update::Endpoint {
            element: b.id.clone(),
            change,
            at,
        })
    };
    ep(
        &mut m,
        EndpointChange::MediaState(MediaState::CONNECTED),
        1_000,
    );
    ep(
        &mut m,
        EndpointChange::MediaState(MediaState::CONNECTED),
        2_000,
    );
    ep(
        &mut m,
        EndpointChange::IceAll(vec![
            ("1".into(), 1, IceComponentState::READY),
            ("1".into(), 2, IceComponentState::GATHERING),
        ]),
        1_000,
    );
    let st = m.elements[&b.id].endpoint.as_ref().unwrap();
    assert_eq!(st.media_state.unwrap().since, 1_000);
    // Component 2 GATHERING with BUNDLE is healthy: the summary follows component 1.
    assert_eq!(st.ice_state(), Some(IceComponentState::READY));
    ep(
        &mut m,
        EndpointChange::Ice {
            stream: "1".into(),
            component: 1,
            state: IceComponentState::FAILED,
        },
        3_000,
    );
    let st = m.elements[&b.id].endpoint.as_ref().unwrap();
    assert_eq!(st.ice_state(), Some(IceComponentState::FAILED));
    assert_eq!(st.ice[&("1".to_string(), 1)].since, 3_000);
}

#[test]
fn updates_for_unknown_elements_are_ignored_and_reset_clears() {
    let mut m = model_with(&[]);
    m.apply(Update::Stats {
        element: "gone".into(),
        sample: StatsSample::default(),
    });
    assert!(m.elements.is_empty());
    m.apply(Update::Connected(true));
    m.apply(Update::Synced { ok: true, at: 5 });
    m.reset();
    assert!(m.pipelines.is_empty());
    assert!(m.health.synced_once && m.health.connected);
    m.apply(Update::Connected(false));
    assert!(!m.health.last_sync_ok);
}

#[test]
fn retain_only_drops_what_a_walk_missed() {
    let a = element("a", "PassThrough");
    let b = element("b", "PassThrough");
    let mut m = model_with(&[&a, &b]);
    m.retain_only(&[P.to_string(), a.id.clone()].into());
    assert_eq!(m.elements.keys().collect::<Vec<_>>(), vec![&a.id]);
}

#[test]
fn stats_keep_previous_sample() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    for at in [1, 2, 3] {
        m.apply(Update::Stats {
            element: b.id.clone(),
            sample: StatsSample {
                at,
                ..Default::default()
            },
        });
    }
    let e = &m.elements[&b.id];
    assert_eq!(e.stats.as_ref().map(|s| s.at), Some(3));
    assert_eq!(e.previous_stats.as_ref().map(|s| s.at), Some(2));
}

fn flow_update(id: &str, flowing: bool, at: Millis) -> Update {
    Update::Flow {
        element: id.into(),
        direction: Direction::Out,
        media: MediaType::VIDEO,
        flowing,
        at,
    }
}

fn ep_update(id: &str, change: EndpointChange, at: Millis) -> Update {
    Update::Endpoint {
        element: id.into(),
        change,
        at,
    }
}

#[test]
fn history_records_transitions_in_order_without_repeats() {
    use crate::kms::types::{ConnectionState, DtlsConnectionState};
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    let id = b.id.as_str();
    let ice = |c, state| EndpointChange::Ice {
        stream: "1".into(),
        component: c,
        state,
    };
    for u in [
        flow_update(id, false, 1_000),
        flow_update(id, false, 1_500),
        ep_update(id, EndpointChange::MediaSessionStarted, 1_600),
        ep_update(id, EndpointChange::MediaSessionStarted, 1_700),
        ep_update(
            id,
            EndpointChange::IceAll(vec![
                ("1".into(), 1, IceComponentState::READY),
                ("1".into(), 2, IceComponentState::GATHERING),
            ]),
            1_800,
        ),
        ep_update(id, ice(1, IceComponentState::READY), 1_900),
        ep_update(
            id,
            EndpointChange::Dtls(DtlsConnectionState::CONNECTED),
            1_950,
        ),
        ep_update(
            id,
            EndpointChange::ConnectionState(ConnectionState::CONNECTED),
            1_960,
        ),
        ep_update(id, EndpointChange::MediaState(MediaState::CONNECTED), 2_000),
        ep_update(id, EndpointChange::MediaState(MediaState::CONNECTED), 2_500),
        ep_update(id, EndpointChange::LocalSdp(Some("v=0\r\n".into())), 2_600),
        flow_update(id, true, 3_000),
        flow_update(id, true, 3_500),
        ep_update(id, ice(1, IceComponentState::DISCONNECTED), 4_000),
        ep_update(
            id,
            EndpointChange::MediaState(MediaState::DISCONNECTED),
            5_000,
        ),
        ep_update(id, EndpointChange::MediaSessionTerminated, 6_000),
        ep_update(id, EndpointChange::MediaSessionTerminated, 6_500),
        ep_update(id, EndpointChange::MediaSessionStarted, 7_000),
    ] {
        m.apply(u);
    }
    let h = &m.elements[id].history;
    let got: Vec<(Millis, String)> = h
        .iter()
        .map(|t| {
            let v = serde_json::to_value(t).unwrap();
            let detail = ["direction", "media", "flowing", "component", "state"]
                .iter()
                .filter_map(|k| v.get(*k).map(|x| format!("{k}={x}")))
                .collect::<Vec<_>>()
                .join(" ");
            (t.at, format!("{} {detail}", v["kind"].as_str().unwrap()))
        })
        .collect();
    let want: Vec<(Millis, &str)> = vec![
        (1_000, r#"flow direction="out" media="VIDEO" flowing=false"#),
        (1_600, "session_started "),
        (1_800, r#"ice component=1 state="READY""#),
        (1_800, r#"ice component=2 state="GATHERING""#),
        (1_950, r#"dtls state="CONNECTED""#),
        (1_960, r#"connection_state state="CONNECTED""#),
        (2_000, r#"media_state state="CONNECTED""#),
        (3_000, r#"flow direction="out" media="VIDEO" flowing=true"#),
        (4_000, r#"ice component=1 state="DISCONNECTED""#),
        (5_000, r#"media_state state="DISCONNECTED""#),
        (6_000, "session_terminated "),
        (7_000, "session_started "),
    ];
    let want: Vec<(Millis, String)> = want.into_iter().map(|(a, s)| (a, s.into())).collect();
    assert_eq!(got, want);
    assert_eq!(
        serde_json::to_value(h).unwrap()[2],
        serde_json::json!({"at": 1_800, "kind": "ice", "stream": "1", "component": 1, "state": "READY"})
    );
}

#[test]
fn history_is_bounded_and_resizable() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    assert_eq!(m.history_len(), DEFAULT_HISTORY_LEN);
    for i in 0..100u64 {
        m.apply(flow_update(&b.id, i % 2 == 0, i));
    }
    let at = |m: &TargetModel| -> Vec<Millis> {
        m.elements[&b.id].history.iter().map(|t| t.at).collect()
    };
    assert_eq!(at(&m), (36..100).collect::<Vec<_>>(), "the newest 64");
    m.set_history_len(3);
    assert_eq!(at(&m), vec![97, 98, 99]);
    m.apply(flow_update(&b.id, true, 100));
    assert_eq!(at(&m), vec![98, 99, 100]);
    m.set_history_len(0);
    m.apply(flow_update(&b.id, false, 101));
    assert!(m.elements[&b.id].history.is_empty());
}

#[test]
fn history_goes_with_its_element() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    assert!(
        m.elements[&b.id].history.is_empty(),
        "nothing until observed"
    );
    m.apply(flow_update(&b.id, true, 1_000));
    m.apply(Update::Element(Box::new(b.clone())));
    assert_eq!(m.elements[&b.id].history.len(), 1, "a walk keeps it");
    m.remove(&b.id);
    m.apply(flow_update(&b.id, false, 2_000));
    assert!(!m.elements.contains_key(&b.id));
    m.apply(Update::Element(Box::new(b.clone())));
    assert!(
        m.elements[&b.id].history.is_empty(),
        "a new element starts afresh"
    );
    m.apply(flow_update(&b.id, true, 3_000));
    m.remove(P);
    m.apply(Update::Pipeline(pipeline(P)));
    m.apply(Update::Element(Box::new(b.clone())));
    assert!(
        m.elements[&b.id].history.is_empty(),
        "gone with its pipeline"
    );
}

#[test]
fn watched_events_are_recorded_as_received() {
    let b = element("b", "WebRtcEndpoint");
    let mut m = model_with(&[&b]);
    let event = |state: &str, at| Update::Event {
        element: b.id.clone(),
        event: "MediaFlowOutStateChanged".into(),
        fields: [("state".to_string(), state.to_string())].into(),
        at,
    };
    m.apply(event("FLOWING", 1_000));
    m.apply(event("FLOWING", 2_000));
    m.apply(Update::Event {
        element: "unknown".into(),
        event: "Error".into(),
        fields: Default::default(),
        at: 3_000,
    });
    let h = &m.elements[&b.id].history;
    assert_eq!(h.len(), 2, "repeats kept: each is an event received");
    assert_eq!(
        serde_json::to_value(h).unwrap()[1],
        serde_json::json!({"at": 2_000, "kind": "event", "event": "MediaFlowOutStateChanged",
            "fields": {"state": "FLOWING"}})
    );
}

#[test]
fn children_and_sources_are_read_from_the_pipeline_alone() {
    let mut m = TargetModel::new("k");
    for (id, p) in [
        ("p1/a_kurento.WebRtcEndpoint", "p1"),
        ("p1/b_kurento.HubPort", "p1"),
        ("p10/c_kurento.WebRtcEndpoint", "p10"),
        ("p0/d_kurento.WebRtcEndpoint", "p0"),
    ] {
        m.apply(Update::Element(Box::new(Element {
            id: id.into(),
            pipeline: p.into(),
            ..Default::default()
        })));
    }
    m.apply(Update::Sinks {
        source: "p1/a_kurento.WebRtcEndpoint".into(),
        sinks: [("p1/b_kurento.HubPort".to_string(), MediaType::AUDIO)].into(),
    });
    let kids: Vec<&str> = m.children("p1").map(|e| e.id.as_str()).collect();
    assert_eq!(
        kids,
        ["p1/a_kurento.WebRtcEndpoint", "p1/b_kurento.HubPort"]
    );
    assert_eq!(m.children("p").count(), 0);
    let sources: Vec<(&str, MediaType)> = m.sources_of("p1/b_kurento.HubPort").collect();
    assert_eq!(sources, [("p1/a_kurento.WebRtcEndpoint", MediaType::AUDIO)]);
}
