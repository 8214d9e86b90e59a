//! Release rules: the safety gates (K cycles, candidate duration, flow grace),
//! the per-decision cap, oldest-first order, one release per object, pipeline
//! releases covering their children, and history streaks.

use std::time::Duration;

use super::*;
use crate::policy::config::ConditionConfig as C;

fn release(name: &str, types: &[&str], when: C) -> RuleConfig {
    rule(name, RuleAction::Release, types, when)
}

fn with(rules: Vec<RuleConfig>, f: impl FnOnce(&mut PolicyConfig)) -> Policy {
    let mut cfg = PolicyConfig {
        rules,
        ..PolicyConfig::default()
    };
    f(&mut cfg);
    match Policy::new(&cfg) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn holds(d: &Decision) -> Vec<Option<Hold>> {
    d.actions
        .iter()
        .map(|a| match a {
            Action::Flag { held, .. } => *held,
            Action::Release { .. } => None,
        })
        .collect()
}

/// A long-standing streak for every (object, rule).
fn seasoned(objects: &[&str], rules: &[&str]) -> History {
    let mut h = History::new();
    for o in objects {
        for r in rules {
            h.insert(
                *o,
                *r,
                Streak {
                    cycles: 100,
                    first: T0,
                },
            );
        }
    }
    h
}

#[test]
fn a_release_waits_for_k_cycles_after_the_rule_duration_counted_once() {
    let mut m = model();
    let u = unnegotiated_webrtc(&mut m, P, "u", T0);
    let p = policy_of(vec![release(
        "unneg",
        &[],
        C::NoRemoteSdp(Duration::from_secs(120)),
    )]);
    let mut h = History::new();
    let mut first_release = None;
    let mut seen_holds = Vec::new();
    let mut now = T0;
    while now <= T0 + 10 * MIN && first_release.is_none() {
        let d = decide(&m, &p, &h, &known(&[]), now);
        if d.releases().count() == 1 {
            first_release = Some(now);
            assert!(matches!(
                &d.actions[0],
                Action::Release { object, pipeline_release: false, .. } if *object == u
            ));
        }
        seen_holds.extend(holds(&d).into_iter().flatten());
        h = h.observe(&d, now);
        now += 10 * SEC;
    }
    // Candidate from T0+2m (the condition's 2 minutes, counted once); the
    // second consecutive cycle, T0+2m10s, releases.
    assert_eq!(first_release, Some(T0 + 2 * MIN + 10 * SEC));
    assert_eq!(h.get(&u, "unneg").map(|s| s.first), Some(T0 + 2 * MIN));
    assert_eq!(seen_holds, [Hold::Cycles { seen: 1, needed: 2 }]);
}

/// The shipped rules, every one releasing.
fn shipped_releasing() -> Policy {
    with(PolicyConfig::default().rules, |c| {
        for r in &mut c.rules {
            r.action = RuleAction::Release;
        }
    })
}

/// When `object` is first released, deciding every `cycle` from `from`.
fn first_release(m: &TargetModel, p: &Policy, object: &str, from: Millis, cycle: Millis) -> Millis {
    let mut h = History::new();
    let mut now = from;
    loop {
        let d = decide(m, p, &h, &SessionView::Unknown, now);
        if d.releases().any(|a| a.object() == object) {
            return now;
        }
        h = h.observe(&d, now);
        now += cycle;
        assert!(now < from + 60 * MIN, "{object} never released");
    }
}

#[test]
fn the_shipped_durations_mean_what_they_say() {
    // Evidence at T (the last condition starts to hold); release at T + the
    // rule's duration + at most two cycles (the first cycle past it, and
    // K = 2 consecutive cycles).
    let cycle = 10 * SEC;
    let p = shipped_releasing();
    let mut m = model();
    let crashed = live_webrtc(&mut m, "crashed", T0);
    let closed = live_webrtc(&mut m, "closed", T0);
    let hub = add(&mut m, P, "hub", "Composite", T0);
    let port = port_of(&mut m, P, "port", &hub, &closed, T0);
    let live = live_webrtc(&mut m, "live", T0);
    port_of(&mut m, P, "live-port", &hub, &live, T0);
    let v = T0 + 20 * MIN;
    for id in [&crashed, &closed] {
        flow(&mut m, id, Direction::Out, false, v + 4 * SEC);
        flow(&mut m, id, Direction::In, false, v + 4 * SEC);
    }
    // A crash: media DISCONNECTED 25 s later, the evidence of `webrtc-peer-gone`.
    ep(
        &mut m,
        &crashed,
        EndpointChange::MediaState(MediaState::DISCONNECTED),
        v + 25 * SEC,
    );
    // A close: DTLS CLOSED at once, flow gone 4 s later.
    ep(
        &mut m,
        &closed,
        EndpointChange::Dtls(crate::kms::types::DtlsConnectionState::CLOSED),
        v,
    );
    let within = |at: Millis, evidence: Millis, duration: Millis| {
        assert!(
            at >= evidence + duration && at <= evidence + duration + 2 * cycle,
            "released at +{} s, evidence at +{} s, duration {} s",
            (at - v) / SEC,
            (evidence - v) / SEC,
            duration / SEC
        );
    };
    let at = first_release(&m, &p, &crashed, v, cycle);
    within(at, v + 25 * SEC, 5 * MIN);
    let at_closed = first_release(&m, &p, &closed, v, cycle);
    within(at_closed, v + 4 * SEC, MIN);
    assert!(at_closed < at, "a proper close goes sooner than a crash");
    // The port: once its endpoint is a zombie, 30 s more.
    let at = first_release(&m, &p, &port, v, cycle);
    assert!(at >= at_closed - 2 * cycle + 30 * SEC && at <= at_closed + 30 * SEC + 2 * cycle);
}

#[test]
fn history_streaks_end_when_an_object_stops_being_a_candidate() {
    let mut m = model();
    let u = unnegotiated_webrtc(&mut m, P, "u", T0);
    let p = policy_of(vec![release(
        "unneg",
        &[],
        C::NoRemoteSdp(Duration::from_secs(120)),
    )]);
    let (_, h) = run_cycles(&m, &p, &known(&[]), T0, T0 + 5 * MIN, 10 * SEC);
    assert_eq!(h.get(&u, "unneg").map(|s| s.cycles), Some(19));
    ep(
        &mut m,
        &u,
        EndpointChange::RemoteSdp(Some("v=0".into())),
        T0 + 5 * MIN,
    );
    let d = decide(&m, &p, &h, &known(&[]), T0 + 5 * MIN + 10 * SEC);
    assert!(d.verdicts.is_empty());
    assert!(h.observe(&d, T0 + 5 * MIN + 10 * SEC).is_empty());
}

#[test]
fn no_release_while_media_flows_or_flowed_within_the_grace() {
    let mut m = model();
    let a = live_webrtc(&mut m, "a", T0);
    tag(&mut m, P, "room", "closed");
    let left = || release("left", &[], C::SessionGone("room".into()));
    let h = seasoned(&[&a], &["left"]);
    let now = T0 + 30 * MIN;
    // Flowing now: held even with no grace configured (the rule has no duration).
    let p = policy_of(vec![left()]);
    let d = decide(&m, &p, &h, &known(&["open"]), now);
    assert_eq!(holds(&d), vec![Some(Hold::FlowedRecently { grace_ms: 0 })]);
    flow(&mut m, &a, Direction::In, false, now - 30 * SEC);
    flow(&mut m, &a, Direction::Out, false, now - 50 * SEC);
    let p = with(vec![left()], |c| {
        c.flow_grace = Some(Duration::from_secs(60))
    });
    let d = decide(&m, &p, &h, &known(&["open"]), now);
    assert_eq!(
        holds(&d),
        vec![Some(Hold::FlowedRecently { grace_ms: 60_000 })]
    );
    let d = decide(&m, &p, &h, &known(&["open"]), now + 30 * SEC);
    assert_eq!(d.releases().count(), 1);
    // An unreadable session source: not even a candidate.
    let d = decide(&m, &p, &h, &SessionView::Unknown, now + 30 * SEC);
    assert!(d.verdicts.is_empty());
}

#[test]
fn an_endpoint_fed_by_a_meeting_is_live_only_while_its_peer_is() {
    // Two endpoints still fed by the pipeline (flow in), nothing from their
    // peers for ten minutes: one receive-only participant (media CONNECTED),
    // one whose peer vanished (media DISCONNECTED).
    let mut m = model();
    let recv_only = live_webrtc(&mut m, "recv-only", T0);
    let vanished = live_webrtc(&mut m, "vanished", T0);
    tag(&mut m, P, "room", "closed");
    let now = T0 + 30 * MIN;
    for id in [&recv_only, &vanished] {
        flow(&mut m, id, Direction::Out, false, now - 10 * MIN);
    }
    ep(
        &mut m,
        &vanished,
        EndpointChange::MediaState(MediaState::DISCONNECTED),
        now - 9 * MIN,
    );
    let p = with(
        vec![release("left", &[], C::SessionGone("room".into()))],
        |c| c.flow_grace = Some(Duration::from_secs(300)),
    );
    let h = seasoned(&[&recv_only, &vanished], &["left"]);
    let d = decide(&m, &p, &h, &known(&["open"]), now);
    let released: Vec<&str> = d.releases().map(|a| a.object()).collect();
    assert_eq!(released, vec![vanished.as_str()]);
    assert!(d.actions.iter().any(|a| a.object() == recv_only
        && matches!(
            a,
            Action::Flag {
                held: Some(Hold::FlowedRecently { .. }),
                ..
            }
        )));
    // A player (not an endpoint) fed by the pipeline is live either way.
    let player = add(&mut m, P, "player", "RecorderEndpoint", T0);
    flow(&mut m, &player, Direction::In, true, T0 + MIN);
    assert!(flowed_within(&m, &player, 0, now));
    assert!(!flowed_within(&m, &vanished, 300_000, now));
    assert!(flowed_within(&m, &recv_only, 300_000, now));
}

#[test]
fn releases_are_capped_oldest_first() {
    let mut m = model();
    let ids: Vec<String> = (0..5)
        .map(|i| unnegotiated_webrtc(&mut m, P, &format!("u{i}"), T0 + i * MIN))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let p = with(
        vec![release(
            "unneg",
            &[],
            C::NoRemoteSdp(Duration::from_secs(120)),
        )],
        |c| c.max_releases_per_cycle = 2,
    );
    let d = decide(
        &m,
        &p,
        &seasoned(&refs, &["unneg"]),
        &known(&[]),
        T0 + 60 * MIN,
    );
    let order: Vec<&str> = d.actions.iter().map(Action::object).collect();
    assert_eq!(order, refs, "oldest first");
    let released: Vec<&str> = d.releases().map(Action::object).collect();
    assert_eq!(released, vec![refs[0], refs[1]]);
    assert_eq!(holds(&d)[2..], [Some(Hold::Cap); 3]);
    let p = with(p_rules(), |c| c.max_releases_per_cycle = 0);
    let d = decide(
        &m,
        &p,
        &seasoned(&refs, &["unneg"]),
        &known(&[]),
        T0 + 60 * MIN,
    );
    assert_eq!(d.releases().count(), 0);
}

fn p_rules() -> Vec<RuleConfig> {
    vec![release(
        "unneg",
        &[],
        C::NoRemoteSdp(Duration::from_secs(120)),
    )]
}

#[test]
fn one_release_per_object_and_a_pipeline_release_covers_its_children() {
    let mut m = model();
    let a = unnegotiated_webrtc(&mut m, P, "a", T0);
    let b = unnegotiated_webrtc(&mut m, P, "b", T0);
    let five = Duration::from_secs(300);
    let rules = vec![
        release("unneg", &[], C::NoRemoteSdp(five)),
        release("isolated", &[], C::NoConnections(five)),
        release("pipe", &[PIPELINE_TYPE], C::PipelineAllZombie(five)),
    ];
    let h = seasoned(&[&a, &b, P], &["unneg", "isolated", "pipe"]);
    let now = T0 + 60 * MIN;
    let d = decide(&m, &with(rules.clone(), |_| {}), &h, &known(&[]), now);
    let releases: Vec<(&str, bool)> = d
        .releases()
        .map(|a| match a {
            Action::Release {
                object,
                pipeline_release,
                ..
            } => (object.as_str(), *pipeline_release),
            Action::Flag { .. } => unreachable!(),
        })
        .collect();
    assert_eq!(releases, vec![(P, true)]);
    assert_eq!(
        holds(&d)
            .iter()
            .filter(|h| **h == Some(Hold::PipelineReleased))
            .count(),
        4
    );
    // Without the pipeline rule, each element is released once.
    let d = decide(&m, &with(rules[..2].to_vec(), |_| {}), &h, &known(&[]), now);
    let released: Vec<&str> = d.releases().map(Action::object).collect();
    assert_eq!(released, vec![a.as_str(), b.as_str()]);
    assert_eq!(
        holds(&d)
            .iter()
            .filter(|h| **h == Some(Hold::AlreadyReleased))
            .count(),
        2
    );
}

#[test]
fn generated_worlds_exercise_releases_and_every_gate() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut releases, mut held) = (0, std::collections::HashSet::new());
    for _ in 0..600 {
        let w = super::props::world()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let (m, p, h, s) = super::props::build(&w);
        let d = decide(&m, &p, &h, &s, w.now);
        releases += d.releases().count();
        for a in &d.actions {
            if let Action::Flag { held: Some(x), .. } = a {
                held.insert(std::mem::discriminant(x));
            }
        }
    }
    assert!(releases > 20, "only {releases} releases");
    assert!(held.len() >= 4, "only {} kinds of hold", held.len());
}

#[test]
fn candidate_since_reads_only_the_objects_own_streaks() {
    let mut h = History::new();
    h.insert(
        "p",
        "r2",
        Streak {
            cycles: 1,
            first: 50,
        },
    );
    h.insert(
        "p",
        "r1",
        Streak {
            cycles: 4,
            first: 20,
        },
    );
    h.insert(
        "p/e",
        "r1",
        Streak {
            cycles: 9,
            first: 5,
        },
    );
    h.insert(
        "o",
        "r1",
        Streak {
            cycles: 9,
            first: 1,
        },
    );
    assert_eq!(h.candidate_since("p"), Some(20));
    assert_eq!(h.candidate_since("p/e"), Some(5));
    assert_eq!(h.candidate_since("q"), None);
    assert_eq!(
        h.extended("p", "r1", 100),
        Streak {
            cycles: 5,
            first: 20
        }
    );
    assert_eq!(
        h.extended("p", "r9", 100),
        Streak {
            cycles: 1,
            first: 100
        }
    );
}
