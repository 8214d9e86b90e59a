//! Tables for connections, pipelines, age and application sessions, and the
//! three-valued `all` / `any`.

use super::conditions::{d, ev, table, unread};
use super::*;
use crate::policy::config::ConditionConfig as C;

#[test]
fn connections_pipelines_age_and_sessions() {
    fn linked(m: &mut TargetModel) -> String {
        let a = add(m, P, "a", "PlayerEndpoint", T0);
        let b = add(m, P, "b", "WebRtcEndpoint", T0);
        m.apply(Update::Sinks {
            source: a,
            sinks: [(b.clone(), MediaType::VIDEO)].into(),
        });
        b
    }
    fn source(m: &mut TargetModel) -> String {
        linked(m);
        format!("{P}/a_kurento.PlayerEndpoint")
    }
    fn pipeline_with_child(m: &mut TargetModel) -> String {
        add(m, P, "a", "PlayerEndpoint", T0);
        P.to_string()
    }
    fn empty(_: &mut TargetModel) -> String {
        P.to_string()
    }
    fn room_on_pipeline(m: &mut TargetModel) -> String {
        tag(m, P, "room", "gone");
        add(m, P, "a", "WebRtcEndpoint", T0)
    }
    table(&[
        (
            "isolated 6m",
            unread,
            C::NoConnections(d(300)),
            T0 + 6 * MIN,
            Tri::True,
        ),
        (
            "isolated 4m",
            unread,
            C::NoConnections(d(300)),
            T0 + 4 * MIN,
            Tri::False,
        ),
        (
            "a sink",
            linked,
            C::NoConnections(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "a source",
            source,
            C::NoConnections(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "pipeline empty 6m",
            empty,
            C::PipelineEmpty(d(300)),
            T0 + 6 * MIN,
            Tri::True,
        ),
        (
            "pipeline empty 4m",
            empty,
            C::PipelineEmpty(d(300)),
            T0 + 4 * MIN,
            Tri::False,
        ),
        (
            "pipeline with a child",
            pipeline_with_child,
            C::PipelineEmpty(d(300)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "all zombie: a live child",
            pipeline_with_child,
            C::PipelineAllZombie(d(60)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        (
            "all zombie: no child",
            empty,
            C::PipelineAllZombie(d(60)),
            T0 + 9 * MIN,
            Tri::False,
        ),
        ("min age met", unread, C::MinAge(d(60)), T0 + MIN, Tri::True),
        (
            "min age not met",
            unread,
            C::MinAge(d(60)),
            T0 + 59 * SEC,
            Tri::False,
        ),
        (
            "session tag absent",
            unread,
            C::SessionGone("room".into()),
            T0,
            Tri::False,
        ),
        (
            "session gone (pipeline tag)",
            room_on_pipeline,
            C::SessionGone("room".into()),
            T0,
            Tri::True,
        ),
    ]);
    // Unsynced target: absence of connections or children cannot be told.
    let mut m = model();
    let id = unread(&mut m);
    m.health.synced_once = false;
    assert_eq!(
        ev(&C::NoConnections(d(1)), &m, &id, &known(&[]), T0 + 9 * MIN),
        Tri::Unknown
    );
    m.remove(&id);
    assert_eq!(
        ev(&C::PipelineEmpty(d(1)), &m, P, &known(&[]), T0 + 9 * MIN),
        Tri::Unknown
    );
}

#[test]
fn session_gone_is_three_valued() {
    let mut m = model();
    let id = unread(&mut m);
    tag(&mut m, &id, "room", "r1");
    let c = C::SessionGone("room".into());
    assert_eq!(ev(&c, &m, &id, &known(&["r2"]), T0), Tri::True);
    assert_eq!(ev(&c, &m, &id, &known(&["r1", "r2"]), T0), Tri::False);
    assert_eq!(ev(&c, &m, &id, &SessionView::Unknown, T0), Tri::Unknown);
}

#[test]
fn all_and_any_follow_kleene_logic() {
    let mut m = model();
    let id = unread(&mut m);
    let now = T0 + 9 * MIN;
    let t = C::MinAge(d(1));
    let f = C::MinAge(d(3600));
    let u = C::MediaDisconnected(d(1));
    let rows = [
        (C::All(vec![t.clone(), t.clone()]), Tri::True),
        (C::All(vec![t.clone(), u.clone()]), Tri::Unknown),
        (C::All(vec![f.clone(), u.clone()]), Tri::False),
        (C::Any(vec![u.clone(), t.clone()]), Tri::True),
        (C::Any(vec![f.clone(), u.clone()]), Tri::Unknown),
        (C::Any(vec![f.clone(), f.clone()]), Tri::False),
        (
            C::All(vec![C::Any(vec![f.clone(), t.clone()]), t.clone()]),
            Tri::True,
        ),
    ];
    for (c, want) in rows {
        assert_eq!(ev(&c, &m, &id, &known(&[]), now), want, "{c:?}");
    }
    // Unknown never makes a verdict, even under a release rule.
    let p = policy_of(vec![rule(
        "u",
        RuleAction::Release,
        &[],
        C::All(vec![t, u]),
    )]);
    let (d, _) = run_cycles(&m, &p, &known(&[]), now, now + 10 * MIN, 10 * SEC);
    assert!(d.verdicts.is_empty() && d.actions.is_empty(), "{d:?}");
}

#[test]
fn matcher_selects_by_type_tags_pipeline_name_and_target() {
    let mut m = model();
    let a = unread(&mut m);
    tag(&mut m, &a, "room", "r1");
    tag(&mut m, P, "env", "prod");
    let player = add(&mut m, P, "pl", "PlayerEndpoint", T0);
    let matching = |matcher: MatchConfig| -> Vec<String> {
        let p = policy_of(vec![RuleConfig {
            matcher,
            ..rule("r", RuleAction::Flag, &[], C::MinAge(d(1)))
        }]);
        let dec = decide(&m, &p, &History::new(), &known(&[]), T0 + 9 * MIN);
        dec.verdicts.into_iter().map(|v| v.object).collect()
    };
    let by = |types: &[&str], tags: &[&str], name: Option<&str>, targets: &[&str]| MatchConfig {
        element_types: types.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        pipeline_name: name.map(str::to_string),
        targets: targets.iter().map(|s| s.to_string()).collect(),
    };
    let both = vec![player.clone(), a.clone()];
    let only_a = vec![a.clone()];
    let none: Vec<String> = Vec::new();
    let only_player = vec![player.clone()];
    let rows: Vec<(MatchConfig, &Vec<String>)> = vec![
        (by(&[], &[], None, &[]), &both),
        (by(&["WebRtcEndpoint"], &[], None, &[]), &only_a),
        (by(&["RecorderEndpoint"], &[], None, &[]), &none),
        (by(&[], &["room"], None, &[]), &only_a),
        (by(&[], &["room=r1"], None, &[]), &only_a),
        (by(&[], &["room=r2"], None, &[]), &none),
        (by(&[], &["!room"], None, &[]), &only_player),
        (by(&[], &["env=prod"], None, &[]), &both), // inherited from the pipeline
        (by(&[], &[], Some("^meeting-\\d$"), &[]), &both),
        (by(&[], &[], Some("^lobby"), &[]), &none),
        (by(&[], &[], None, &["kms-1"]), &both),
        (by(&[], &[], None, &["kms-2"]), &none),
    ];
    for (matcher, want) in rows {
        let mut got = matching(matcher.clone());
        got.sort();
        let mut want = want.clone();
        want.sort();
        assert_eq!(got, want, "{matcher:?}");
    }
    // A pipeline rule sees pipelines only.
    let got = matching(by(&[PIPELINE_TYPE], &["env=prod"], None, &[]));
    assert_eq!(got, vec![P.to_string()]);
}
