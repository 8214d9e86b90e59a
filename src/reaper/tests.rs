//! Tests of the reaper's pure part: `Ledger::plan` tables (modes, once-only
//! records, in-flight and released objects, staleness, the token bucket) and
//! property tests over arbitrary models and histories (acceptance 1).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::ledger::ABORT_COOL_DOWN_MS;
use super::*;
use crate::policy::tests::props::{age, build, carries_shield, flowed_under, world};
use crate::policy::{decide, Action, Decision, Evidence, RuleAction, Streak, Verdict};

fn evidence(object: &str) -> Evidence {
    Evidence {
        target: "kms".into(),
        object_type: "WebRtcEndpoint".into(),
        pipeline: "p".into(),
        pipeline_name: None,
        age_ms: 0,
        last_flow_in: None,
        last_flow_out: None,
        media_state: None,
        connection_state: None,
        ice_state: None,
        ice: Vec::new(),
        dtls_state: None,
        remote_sdp: None,
        session_terminated: None,
        tags: BTreeMap::from([("o".to_string(), object.to_string())]),
        children: 0,
        connections: 0,
        because: None,
    }
}

/// A decision releasing `release` and flagging `flag` (objects, rule "r").
fn decision(release: &[&str], flag: &[&str]) -> Decision {
    let mut d = Decision::default();
    for (o, rel) in release
        .iter()
        .map(|o| (o, true))
        .chain(flag.iter().map(|o| (o, false)))
    {
        d.verdicts.push(Verdict {
            object: o.to_string(),
            pipeline_rule: false,
            rule: "r".into(),
            action: RuleAction::Release,
            streak: Streak {
                cycles: 5,
                first: 0,
            },
            evidence: evidence(o),
        });
        d.actions.push(if rel {
            Action::Release {
                object: o.to_string(),
                pipeline_release: false,
                rule: "r".into(),
                evidence: evidence(o),
            }
        } else {
            Action::Flag {
                object: o.to_string(),
                rule: "r".into(),
                held: None,
                evidence: evidence(o),
            }
        });
    }
    d
}

fn events(p: &Plan) -> Vec<(Event, String)> {
    p.records
        .iter()
        .map(|r| (r.event, r.object.clone()))
        .collect()
}

fn outcomes(p: &Plan) -> Vec<(&'static str, &'static str)> {
    p.counts.iter().map(|c| (c.action, c.outcome)).collect()
}

fn jobs(p: &Plan) -> Vec<String> {
    p.jobs.iter().map(|j| j.object.clone()).collect()
}

const ALL: fn(&str) -> bool = |_| true;

#[test]
fn observe_flags_once_and_releases_nothing() {
    let mut l = Ledger::new("kms", Mode::Observe, 100, 0);
    let d = decision(&["a"], &["b"]);
    let p = l.plan(&d, Freshness::Fresh, 1, ALL);
    assert_eq!(
        events(&p),
        vec![(Event::Flag, "a".into()), (Event::Flag, "b".into())]
    );
    assert_eq!(outcomes(&p), vec![("flag", "flagged"), ("flag", "flagged")]);
    assert!(p.jobs.is_empty());
    let p = l.plan(&d, Freshness::Fresh, 2, ALL);
    assert!(
        p.records.is_empty() && p.counts.is_empty(),
        "once per streak"
    );
    // The streak of `b` ends and starts again: flagged anew.
    l.plan(&decision(&["a"], &[]), Freshness::Fresh, 3, ALL);
    let p = l.plan(&d, Freshness::Fresh, 4, ALL);
    assert_eq!(events(&p), vec![(Event::Flag, "b".into())]);
}

#[test]
fn dry_run_records_would_release_once() {
    let mut l = Ledger::new("kms", Mode::DryRun, 100, 0);
    let d = decision(&["a", "b"], &[]);
    let p = l.plan(&d, Freshness::Fresh, 1, ALL);
    assert!(p.jobs.is_empty());
    let would: Vec<_> = events(&p)
        .into_iter()
        .filter(|(e, _)| *e == Event::WouldRelease)
        .collect();
    assert_eq!(would.len(), 2);
    assert_eq!(
        p.counts
            .iter()
            .filter(|c| c.action == "would_release")
            .count(),
        2
    );
    assert!(l.plan(&d, Freshness::Fresh, 2, ALL).records.is_empty());
}

#[test]
fn enforce_queues_each_object_once_until_it_is_gone() {
    let mut l = Ledger::new("kms", Mode::Enforce, 100, 0);
    let d = decision(&["a", "b"], &["c"]);
    let p = l.plan(&d, Freshness::Fresh, 1, ALL);
    assert_eq!(jobs(&p), vec!["a", "b"]);
    assert!(p.jobs.iter().all(|j| j.mode == Mode::Enforce && !j.manual));
    assert!(
        l.plan(&d, Freshness::Fresh, 2, ALL).jobs.is_empty(),
        "in flight"
    );
    // The actuator released `a`; `b` failed (back to candidates).
    l.inflight.clear();
    l.released.insert("a".into());
    let p = l.plan(&d, Freshness::Fresh, 3, |o| o == "a");
    assert_eq!(jobs(&p), vec!["b"], "a released, not again");
    let p = l.plan(&d, Freshness::Fresh, 4, |o| o != "a");
    assert!(p.jobs.is_empty());
    assert!(
        !l.released.contains("a"),
        "forgotten once the model forgot it"
    );
}

#[test]
fn stale_data_and_the_bucket_hold_releases() {
    let mut l = Ledger::new("kms", Mode::Enforce, 2, 0);
    let d = decision(&["a", "b", "c"], &[]);
    let p = l.plan(&d, Freshness::Stale, 1, ALL);
    assert!(p.jobs.is_empty());
    let stale: Vec<_> = outcomes(&p)
        .into_iter()
        .filter(|o| o.0 == "release")
        .collect();
    assert_eq!(stale, vec![("release", "stale"); 3]);
    assert!(
        l.plan(&d, Freshness::Stale, 2, ALL).counts.is_empty(),
        "counted once"
    );
    let p = l.plan(&d, Freshness::Fresh, 3, ALL);
    assert_eq!(jobs(&p), vec!["a", "b"], "burst of 2");
    assert_eq!(outcomes(&p), vec![("release", "rate_limited")]);
    // Half an hour later: one more token.
    l.inflight.clear();
    l.released.extend(["a".to_string(), "b".to_string()]);
    let p = l.plan(&d, Freshness::Fresh, 1_800_003, ALL);
    assert_eq!(jobs(&p), vec!["c"]);
}

#[test]
fn an_aborted_release_cools_down_before_the_next_try() {
    let mut l = Ledger::new("kms", Mode::Enforce, 100, 0);
    let d = decision(&["a"], &[]);
    assert_eq!(jobs(&l.plan(&d, Freshness::Fresh, 1, ALL)), vec!["a"]);
    // The actuator aborted it: media flowed at the re-read.
    l.inflight.clear();
    l.cool_down("a", 2);
    assert!(l.plan(&d, Freshness::Fresh, 3, ALL).jobs.is_empty());
    assert!(l
        .plan(&d, Freshness::Fresh, 2 + ABORT_COOL_DOWN_MS - 1, ALL)
        .jobs
        .is_empty());
    assert_eq!(
        jobs(&l.plan(&d, Freshness::Fresh, 2 + ABORT_COOL_DOWN_MS, ALL)),
        vec!["a"]
    );
}

#[test]
fn mode_change_applies_at_once() {
    let mut l = Ledger::new("kms", Mode::DryRun, 10, 0);
    let d = decision(&["a"], &[]);
    assert!(l.plan(&d, Freshness::Fresh, 1, ALL).jobs.is_empty());
    l.configure(Mode::Enforce, 10, 2);
    assert_eq!(jobs(&l.plan(&d, Freshness::Fresh, 3, ALL)), vec!["a"]);
}

fn ids(m: &crate::model::TargetModel) -> BTreeSet<String> {
    m.pipelines
        .keys()
        .chain(m.elements.keys())
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Over several cycles on any model and history: every job is a release
    /// the policy decided in that cycle (a subset of the candidates), of an
    /// object that is not protected or owned, old enough, silent over the
    /// grace window; no object is queued twice; at most M per cycle and the
    /// bucket's R per hour; nothing at all in observe, dry-run or when stale.
    #[test]
    fn the_reaper_only_releases_safe_candidates(
        w in world(),
        per_hour in 1u32..20,
        steps in proptest::collection::vec(1u64..120_000, 1..6),
        stale_at in proptest::option::of(0usize..6),
    ) {
        let (m, p, mut h, s) = build(&w);
        let present = ids(&m);
        let mut enforce = Ledger::new("kms", Mode::Enforce, per_hour, w.now);
        let mut dry = Ledger::new("kms", Mode::DryRun, per_hour, w.now);
        let mut observe = Ledger::new("kms", Mode::Observe, per_hour, w.now);
        let mut queued: BTreeSet<String> = BTreeSet::new();
        let mut now = w.now;
        for (i, step) in steps.iter().enumerate() {
            now += step;
            let dec = decide(&m, &p, &h, &s, now);
            let fresh = if stale_at == Some(i) { Freshness::Stale } else { Freshness::Fresh };
            let plan = enforce.plan(&dec, fresh, now, |o| present.contains(o));
            prop_assert!(dry.plan(&dec, fresh, now, |o| present.contains(o)).jobs.is_empty());
            prop_assert!(observe.plan(&dec, fresh, now, |o| present.contains(o)).jobs.is_empty());
            if fresh == Freshness::Stale {
                prop_assert!(plan.jobs.is_empty());
            }
            prop_assert!(plan.jobs.len() <= p.max_releases_per_cycle);
            let releases: BTreeMap<&str, &Action> =
                dec.releases().map(|a| (a.object(), a)).collect();
            for j in &plan.jobs {
                let Some(Action::Release { rule, pipeline_release, .. }) = releases.get(j.object.as_str()) else {
                    return Err(TestCaseError::fail(format!("{} queued without a release decision", j.object)));
                };
                prop_assert_eq!(&j.rule, rule);
                prop_assert_eq!(j.pipeline_release, *pipeline_release);
                let r = p.rules.iter().find(|r| &r.name == rule).unwrap();
                prop_assert!(!carries_shield(&m, &j.object), "protected {}", j.object);
                prop_assert!(age(&m, &j.object, now) >= r.min_age, "too young {}", j.object);
                let grace = p.flow_grace.unwrap_or(r.longest);
                let because = j.evidence.as_ref().and_then(|e| e.because.as_ref());
                prop_assert!(!flowed_under(&m, &j.object, because, grace, now), "flowed within grace {}", j.object);
                prop_assert!(queued.insert(j.object.clone()), "queued twice {}", j.object);
            }
            h = h.observe(&dec, now);
        }
        // The bucket: burst R plus what the elapsed time refilled.
        let allowed = u64::from(per_hour) + (now - w.now) * u64::from(per_hour) / 3_600_000;
        prop_assert!(queued.len() as u64 <= allowed);
    }
}
