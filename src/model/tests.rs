use super::element::EndpointChange;
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
