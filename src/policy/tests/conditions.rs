//! One table per element condition: true, false and unknown cases. The
//! helpers here serve `logic` too.

use std::time::Duration;

use super::*;
use crate::kms::types::{DtlsConnectionState, IceComponentState, MediaState};
use crate::policy::config::ConditionConfig as C;

pub(super) fn d(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Evaluate `c` on object `id` of `m`.
pub(super) fn ev(c: &C, m: &TargetModel, id: &str, sessions: &SessionView, now: Millis) -> Tri {
    let zombies = BTreeMap::new();
    let index = eval::Index::new(m);
    // Whatever is isolated has been so since the timeline began.
    let isolated: BTreeMap<ObjectId, Millis> = m
        .elements
        .values()
        .filter(|e| index.neighbours(e).is_empty())
        .map(|e| e.id.clone())
        .chain(
            m.pipelines
                .keys()
                .filter(|p| index.children(p).is_empty())
                .cloned(),
        )
        .map(|id| (id, T0))
        .collect();
    let ctx = eval::Ctx {
        model: m,
        index: &index,
        sessions,
        now,
        zombies: &zombies,
        isolated: &isolated,
    };
    if let Some(p) = m.pipelines.get(id) {
        return eval::eval(c, eval::Obj::Pipeline(p), &ctx);
    }
    let e = &m.elements[id];
    let tags = effective_tags(m, e);
    eval::eval(c, eval::Obj::Element(e, &tags), &ctx)
}

pub(super) type Setup = fn(&mut TargetModel) -> String;

/// `(case, setup returning the object id, condition, now, expected)`.
pub(super) fn table(rows: &[(&str, Setup, C, Millis, Tri)]) {
    for (case, setup, cond, now, want) in rows {
        let mut m = model();
        let id = setup(&mut m);
        let got = ev(cond, &m, &id, &known(&[]), *now);
        assert_eq!(got, *want, "{case}: {cond:?} at T0+{}s", (now - T0) / SEC);
    }
}

pub(super) fn live(m: &mut TargetModel) -> String {
    live_webrtc(m, "a", T0)
}
pub(super) fn unnegotiated(m: &mut TargetModel) -> String {
    unnegotiated_webrtc(m, P, "u", T0)
}
pub(super) fn unread(m: &mut TargetModel) -> String {
    add(m, P, "x", "WebRtcEndpoint", T0)
}
/// Measured silent both ways from T0 on, never flowing.
pub(super) fn never_flowed(m: &mut TargetModel) -> String {
    let id = add(m, P, "n", "WebRtcEndpoint", T0);
    flow(m, &id, Direction::Out, false, T0);
    flow(m, &id, Direction::In, false, T0);
    id
}
pub(super) fn player(m: &mut TargetModel) -> String {
    add(m, P, "pl", "PlayerEndpoint", T0)
}
/// Live, then the peer left at T0+1m: flow out stops at once, media
/// DISCONNECTED 30 s later, ICE stays READY.
pub(super) fn vanished(m: &mut TargetModel) -> String {
    let id = live_webrtc(m, "v", T0);
    flow(m, &id, Direction::Out, false, T0 + MIN);
    ep(
        m,
        &id,
        EndpointChange::MediaState(MediaState::DISCONNECTED),
        T0 + MIN + 30 * SEC,
    );
    id
}
pub(super) fn receive_only(m: &mut TargetModel) -> String {
    let id = live_webrtc(m, "r", T0);
    flow(m, &id, Direction::Out, false, T0);
    id
}

#[test]
fn no_flow() {
    let out = |s| C::NoFlow {
        direction: FlowSide::Out,
        duration: d(s),
    };
    let side = |direction| C::NoFlow {
        direction,
        duration: d(300),
    };
    table(&[
        ("flowing now", live, out(300), T0 + 60 * MIN, Tri::False),
        (
            "stopped 6m ago",
            vanished,
            out(300),
            T0 + 7 * MIN,
            Tri::True,
        ),
        (
            "stopped 4m ago",
            vanished,
            out(300),
            T0 + 5 * MIN,
            Tri::False,
        ),
        (
            "never flowed, measured 6m ago",
            never_flowed,
            out(300),
            T0 + 6 * MIN,
            Tri::True,
        ),
        (
            "never flowed, measured 4m ago",
            never_flowed,
            out(300),
            T0 + 4 * MIN,
            Tri::False,
        ),
        (
            "not measured yet (found at start-up)",
            unread,
            out(300),
            T0 + 60 * MIN,
            Tri::Unknown,
        ),
        (
            "receive-only: in flows",
            receive_only,
            side(FlowSide::In),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "receive-only: out silent",
            receive_only,
            side(FlowSide::Out),
            T0 + 9 * MIN,
            Tri::True,
        ),
        (
            "receive-only: either",
            receive_only,
            side(FlowSide::Either),
            T0 + 9 * MIN,
            Tri::True,
        ),
        (
            "receive-only: both",
            receive_only,
            side(FlowSide::Both),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "never flowed: both",
            never_flowed,
            side(FlowSide::Both),
            T0 + 9 * MIN,
            Tri::True,
        ),
    ]);
}

#[test]
fn media_dtls_and_session_states() {
    table(&[
        (
            "media: state unread",
            unread,
            C::MediaDisconnected(d(300)),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
        (
            "media: not an endpoint",
            player,
            C::MediaDisconnected(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "media: CONNECTED",
            live,
            C::MediaDisconnected(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "media: DISCONNECTED 5m30s",
            vanished,
            C::MediaDisconnected(d(300)),
            T0 + 7 * MIN,
            Tri::True,
        ),
        (
            "media: DISCONNECTED 3m30s",
            vanished,
            C::MediaDisconnected(d(300)),
            T0 + 5 * MIN,
            Tri::False,
        ),
        (
            "dtls: CONNECTED",
            live,
            C::DtlsClosed(d(10)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "dtls: never reported",
            unnegotiated,
            C::DtlsClosed(d(10)),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
        (
            "dtls: CLOSED 1m",
            |m| {
                let id = live_webrtc(m, "c", T0);
                ep(
                    m,
                    &id,
                    EndpointChange::Dtls(DtlsConnectionState::CLOSED),
                    T0 + MIN,
                );
                id
            },
            C::DtlsClosed(d(10)),
            T0 + 2 * MIN,
            Tri::True,
        ),
        (
            "terminated: not seen",
            live,
            C::SessionTerminated(d(10)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "terminated: unread",
            unread,
            C::SessionTerminated(d(10)),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
        (
            "terminated: seen 1m ago",
            |m| {
                let id = live_webrtc(m, "t", T0);
                ep(m, &id, EndpointChange::MediaSessionTerminated, T0 + MIN);
                id
            },
            C::SessionTerminated(d(10)),
            T0 + 2 * MIN,
            Tri::True,
        ),
    ]);
}

#[test]
fn negotiation_and_ice() {
    let failed = |m: &mut TargetModel| {
        let id = add(m, P, "f", "WebRtcEndpoint", T0);
        ep(m, &id, EndpointChange::RemoteSdp(Some("v=0".into())), T0);
        ep(
            m,
            &id,
            EndpointChange::IceAll(vec![("0".into(), 1, IceComponentState::FAILED)]),
            T0 + MIN,
        );
        id
    };
    let failed_set = |s| C::IceState {
        states: vec![IceComponentState::FAILED, IceComponentState::DISCONNECTED],
        duration: d(s),
    };
    let gathering = C::IceState {
        states: vec![IceComponentState::GATHERING],
        duration: d(60),
    };
    table(&[
        (
            "sdp: never negotiated 6m",
            unnegotiated,
            C::NoRemoteSdp(d(300)),
            T0 + 6 * MIN,
            Tri::True,
        ),
        (
            "sdp: never negotiated 4m",
            unnegotiated,
            C::NoRemoteSdp(d(300)),
            T0 + 4 * MIN,
            Tri::False,
        ),
        (
            "sdp: negotiated",
            live,
            C::NoRemoteSdp(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "sdp: unread",
            unread,
            C::NoRemoteSdp(d(300)),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
        (
            "sdp: not an endpoint",
            player,
            C::NoRemoteSdp(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "ice never: no candidates",
            unnegotiated,
            C::IceNeverConnected(d(120)),
            T0 + 3 * MIN,
            Tri::True,
        ),
        (
            "ice never: too young",
            unnegotiated,
            C::IceNeverConnected(d(120)),
            T0 + MIN,
            Tri::False,
        ),
        (
            "ice never: FAILED only",
            failed,
            C::IceNeverConnected(d(120)),
            T0 + 3 * MIN,
            Tri::True,
        ),
        (
            "ice never: READY",
            live,
            C::IceNeverConnected(d(120)),
            T0 + 3 * MIN,
            Tri::False,
        ),
        (
            "ice never: unread",
            unread,
            C::IceNeverConnected(d(120)),
            T0 + 3 * MIN,
            Tri::Unknown,
        ),
        (
            "ice state: FAILED 2m",
            failed,
            failed_set(60),
            T0 + 3 * MIN,
            Tri::True,
        ),
        (
            "ice state: FAILED 30s",
            failed,
            failed_set(60),
            T0 + MIN + 30 * SEC,
            Tri::False,
        ),
        (
            "ice state: READY",
            vanished,
            failed_set(60),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "ice state: component 2 GATHERING is not read",
            live,
            gathering,
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "ice state: no components",
            unnegotiated,
            failed_set(60),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
        (
            "ice state: unread",
            unread,
            failed_set(60),
            T0 + 9 * MIN,
            Tri::Unknown,
        ),
    ]);
}
