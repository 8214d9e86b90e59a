//! The shipped default policy against realistic model states, following the
//! timelines in PROTOCOL.md ("When a peer vanishes", "When a browser peer
//! vanishes"), decided every 10 s with the history carried along.

use super::*;
use crate::kms::types::{DtlsConnectionState, IceComponentState, MediaState};

const CYCLE: Millis = 10 * SEC;
const PEER_GONE: &str = "webrtc-peer-gone";
const NEVER: &str = "webrtc-never-negotiated";
const PIPE: &str = "pipeline-empty-or-all-zombie";
const CLOSED: &str = "webrtc-peer-closed";
const DERIVED: &str = "neighbours-zombie";

fn judge(m: &TargetModel, from: Millis, to: Millis) -> Decision {
    run_cycles(m, &default_policy(), &SessionView::Unknown, from, to, CYCLE).0
}

fn has(d: &Decision, object: &str, rule: &str) -> bool {
    flagged(d).contains(&(object.to_string(), rule.to_string()))
}

#[test]
fn default_policy_only_flags() {
    let p = default_policy();
    assert_eq!(p.min_consecutive_cycles, 2);
    assert_eq!(p.max_releases_per_cycle, 10);
    assert!(p.rules.iter().all(|r| r.action == RuleAction::Flag));
    assert_eq!(p.protect_tag.key, "kurento-exporter.protect");
    assert_eq!(p.owner_tag.value, "kurento-exporter");
}

#[test]
fn vanished_peer_is_flagged_after_five_minutes() {
    // A call running since T0; the peer is released at V. Per the capture: flow
    // out stops within seconds, media DISCONNECTED after ~30 s, ICE stays READY
    // and the connection CONNECTED. Media still flows in (others are sent to it).
    let mut m = model();
    let other = live_webrtc(&mut m, "other", T0);
    let b = live_webrtc(&mut m, "b", T0);
    let v = T0 + 10 * MIN;
    flow(&mut m, &b, Direction::Out, false, v + 4 * SEC);
    ep(
        &mut m,
        &b,
        EndpointChange::MediaState(MediaState::DISCONNECTED),
        v + 30 * SEC,
    );
    let before = judge(&m, v, v + 5 * MIN);
    assert!(
        before.verdicts.is_empty(),
        "too early: {:?}",
        flagged(&before)
    );
    let after = judge(&m, v, v + 5 * MIN + 40 * SEC);
    assert_eq!(flagged(&after), vec![(b.clone(), PEER_GONE.to_string())]);
    let e = &after.verdicts[0].evidence;
    assert_eq!(e.last_flow_out, Some(v + 4 * SEC));
    assert_eq!(e.ice_state, Some(IceComponentState::READY));
    assert_eq!(
        e.media_state.map(|s| (s.state, s.since)),
        Some((MediaState::DISCONNECTED, v + 30 * SEC))
    );
    assert_eq!(e.remote_sdp, Some(true));
    assert_eq!(e.pipeline_name.as_deref(), Some("meeting-1"));
    assert!(matches!(
        after.actions.as_slice(),
        [Action::Flag { held: None, .. }]
    ));
    assert!(!has(&after, &other, PEER_GONE));
    assert!(!has(&after, P, PIPE), "one live child keeps the pipeline");
}

#[test]
fn browser_crash_and_close_are_flagged_but_not_a_healthy_browser_call() {
    // Crash: flow stops after ~4 s both ways, media DISCONNECTED after ~25 s,
    // ICE component 1 READY and component 2 GATHERING throughout.
    // Close: DTLS CLOSED at once as well.
    let mut m = model();
    let healthy = live_webrtc(&mut m, "healthy", T0);
    let crashed = live_webrtc(&mut m, "crashed", T0);
    let closed = live_webrtc(&mut m, "closed", T0);
    let v = T0 + 20 * MIN;
    ep(
        &mut m,
        &closed,
        EndpointChange::Dtls(DtlsConnectionState::CLOSED),
        v,
    );
    for id in [&crashed, &closed] {
        flow(&mut m, id, Direction::Out, false, v + 4 * SEC);
        flow(&mut m, id, Direction::In, false, v + 4 * SEC);
        ep(
            &mut m,
            id,
            EndpointChange::MediaState(MediaState::DISCONNECTED),
            v + 25 * SEC,
        );
    }
    // A proper close is firm evidence: flagged after a minute.
    let d = judge(&m, T0, v + 10 * SEC + MIN);
    assert_eq!(flagged(&d), [(closed.clone(), CLOSED.to_string())]);
    let d = judge(&m, T0, v + 6 * MIN);
    assert!(has(&d, &crashed, PEER_GONE) && has(&d, &closed, PEER_GONE));
    assert!(has(&d, &closed, CLOSED) && !has(&d, &crashed, CLOSED));
    assert!(
        !has(&d, &healthy, PEER_GONE),
        "GATHERING component 2 is no sign"
    );
    assert_eq!(d.verdicts.len(), 3, "{:?}", flagged(&d));
}

#[test]
fn ice_state_alone_never_flags() {
    // Component 1 DISCONNECTED for an hour while media flows and the media
    // state stays CONNECTED: the default policy says nothing.
    let mut m = model();
    let a = live_webrtc(&mut m, "a", T0);
    ep(
        &mut m,
        &a,
        EndpointChange::Ice {
            stream: "0".into(),
            component: 1,
            state: IceComponentState::DISCONNECTED,
        },
        T0 + MIN,
    );
    let d = judge(&m, T0, T0 + 60 * MIN);
    assert!(d.verdicts.is_empty(), "{:?}", flagged(&d));
}

#[test]
fn healthy_call_is_never_flagged() {
    let mut m = model();
    live_webrtc(&mut m, "a", T0);
    live_webrtc(&mut m, "b", T0);
    let d = judge(&m, T0, T0 + 2 * 60 * MIN);
    assert!(d.verdicts.is_empty(), "{:?}", flagged(&d));
}

#[test]
fn receive_only_participant_is_never_flagged() {
    // Nothing flows out by design; media flows in and the media state is CONNECTED.
    let mut m = model();
    let viewer = live_webrtc(&mut m, "viewer", T0);
    flow(&mut m, &viewer, Direction::Out, false, T0 + 3 * SEC);
    let d = judge(&m, T0, T0 + 60 * MIN);
    assert!(d.verdicts.is_empty(), "{:?}", flagged(&d));
    // A viewer that never had anything flow out at all.
    let mut m = model();
    let id = add(&mut m, P, "v", "WebRtcEndpoint", T0);
    ep(
        &mut m,
        &id,
        EndpointChange::RemoteSdp(Some("v=0".into())),
        T0,
    );
    ep(
        &mut m,
        &id,
        EndpointChange::MediaState(MediaState::CONNECTED),
        T0 + SEC,
    );
    flow(&mut m, &id, Direction::In, true, T0 + SEC);
    let d = judge(&m, T0, T0 + 60 * MIN);
    assert!(d.verdicts.is_empty(), "{:?}", flagged(&d));
}

#[test]
fn never_negotiated_endpoint_is_flagged_after_five_minutes() {
    let mut m = model();
    let u = unnegotiated_webrtc(&mut m, P, "u", T0);
    let d = judge(&m, T0, T0 + 4 * MIN);
    assert!(d.verdicts.is_empty());
    let d = judge(&m, T0, T0 + 5 * MIN);
    assert!(has(&d, &u, NEVER), "{:?}", flagged(&d));
    assert_eq!(d.verdicts[0].evidence.remote_sdp, Some(false));
}

#[test]
fn empty_pipeline_is_flagged_after_five_minutes() {
    let m = model();
    assert!(judge(&m, T0, T0 + 4 * MIN).verdicts.is_empty());
    let d = judge(&m, T0, T0 + 5 * MIN);
    assert_eq!(flagged(&d), vec![(P.to_string(), PIPE.to_string())]);
    assert_eq!(d.verdicts[0].evidence.children, 0);
}

#[test]
fn all_zombie_pipeline_is_flagged_once_its_children_were_zombies_for_five_minutes() {
    let mut m = model();
    let a = unnegotiated_webrtc(&mut m, P, "a", T0);
    let b = unnegotiated_webrtc(&mut m, P, "b", T0);
    // Another pipeline with one zombie and one live endpoint stays unflagged.
    let q = "q_kurento.MediaPipeline";
    add_pipeline(&mut m, q, "meeting-2", T0);
    unnegotiated_webrtc(&mut m, q, "z", T0);
    sending_webrtc(&mut m, q, "live");
    // Children are zombies from T0+5m; the pipeline 30 s later.
    let d = judge(&m, T0, T0 + 5 * MIN + 20 * SEC);
    assert!(has(&d, &a, NEVER) && has(&d, &b, NEVER));
    assert!(!has(&d, P, PIPE));
    let d = judge(&m, T0, T0 + 5 * MIN + 30 * SEC);
    assert!(has(&d, P, PIPE), "{:?}", flagged(&d));
    assert!(!has(&d, q, PIPE));
}

#[test]
fn a_forgotten_room_is_flagged_whole_and_a_live_one_not_at_all() {
    // A room pipeline: a Composite, a forgotten endpoint and its port.
    let mut m = model();
    let hub = add(&mut m, P, "hub", "Composite", T0);
    let a = unnegotiated_webrtc(&mut m, P, "a", T0);
    let port = port_of(&mut m, P, "pa", &hub, &a, T0);
    // A live room: one participant alone with its port.
    let q = "q_kurento.MediaPipeline";
    add_pipeline(&mut m, q, "live-room", T0);
    let hub2 = add(&mut m, q, "hub2", "Composite", T0);
    let live = sending_webrtc(&mut m, q, "alone");
    let live_port = port_of(&mut m, q, "pl", &hub2, &live, T0);
    // The endpoint at T0+5m, its port and hub 30 s later, the pipeline with them.
    let d = judge(&m, T0, T0 + 5 * MIN + 20 * SEC);
    assert_eq!(flagged(&d), [(a.clone(), NEVER.to_string())]);
    let d = judge(&m, T0, T0 + 5 * MIN + 30 * SEC);
    for id in [&port, &hub] {
        assert!(has(&d, id, DERIVED), "{id}: {:?}", flagged(&d));
    }
    assert!(has(&d, P, PIPE), "{:?}", flagged(&d));
    for id in [q, &hub2, &live, &live_port] {
        assert!(d.verdicts.iter().all(|v| v.object != *id), "{id}");
    }
    let why = |id: &str| {
        d.verdicts
            .iter()
            .find(|v| v.object == id)
            .and_then(|v| v.evidence.because.clone())
            .expect("a derived verdict says why")
    };
    assert_eq!(
        why(&port).reason,
        format!("its only neighbour is zombie {a}")
    );
    assert_eq!(why(&port).rests_on, std::slice::from_ref(&a));
    assert_eq!(why(&hub).zombies, std::slice::from_ref(&port));
    assert_eq!(why(&hub).rests_on, std::slice::from_ref(&a));
    assert_eq!(why(P).reason, "every element (3) is a zombie");
}

#[test]
fn a_hub_nobody_joined_is_flagged_after_its_grace() {
    let mut m = model();
    let hub = add(&mut m, P, "hub", "Composite", T0);
    // Isolated since T0: past the 30 s grace, once a minute old.
    assert!(judge(&m, T0, T0 + 50 * SEC).verdicts.is_empty());
    let d = judge(&m, T0, T0 + MIN);
    assert!(has(&d, &hub, DERIVED), "{:?}", flagged(&d));
    assert_eq!(
        d.verdicts[0]
            .evidence
            .because
            .as_ref()
            .map(|b| b.reason.as_str()),
        Some("no media neighbour left")
    );
}

#[test]
fn protected_and_owned_objects_are_never_flagged() {
    let mut m = model();
    let u = unnegotiated_webrtc(&mut m, P, "u", T0);
    tag(&mut m, &u, "kurento-exporter.protect", "true");
    let q = "q_kurento.MediaPipeline";
    add_pipeline(&mut m, q, "exporter-probe", T0);
    tag(&mut m, q, "kurento-exporter.owner", "kurento-exporter");
    let inherited = unnegotiated_webrtc(&mut m, q, "w", T0);
    let d = judge(&m, T0, T0 + 30 * MIN);
    assert!(d.verdicts.is_empty(), "{:?}", flagged(&d));
    assert!(
        shielded(&m, &default_policy(), P),
        "a protected child shields its pipeline"
    );
    assert!(shielded(&m, &default_policy(), &inherited));
}

#[test]
fn nothing_is_judged_before_the_first_sync() {
    let mut m = model();
    unnegotiated_webrtc(&mut m, P, "u", T0);
    m.health.synced_once = false;
    assert!(judge(&m, T0, T0 + 30 * MIN).verdicts.is_empty());
}

/// A negotiated WebRtcEndpoint of `pipeline` whose peer sends, since T0.
fn sending_webrtc(m: &mut TargetModel, pipeline: &str, name: &str) -> String {
    let id = add(m, pipeline, name, "WebRtcEndpoint", T0);
    ep(m, &id, EndpointChange::RemoteSdp(Some("v=0".into())), T0);
    ep(
        m,
        &id,
        EndpointChange::MediaState(MediaState::CONNECTED),
        T0,
    );
    flow(m, &id, Direction::Out, true, T0);
    id
}
