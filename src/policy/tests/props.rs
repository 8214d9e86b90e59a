//! Property tests: for arbitrary models, histories, session views, policies
//! and times, `decide` keeps its safety invariants. The checks recompute each
//! fact from the model instead of calling the policy's own helpers.

use std::time::Duration;

use proptest::prelude::*;

pub(crate) use super::oracle::{age, carries_shield, flowed_under};
use super::oracle::{neighbours, rtp};
use super::*;
use crate::kms::types::{DtlsConnectionState, IceComponentState, MediaState};
use crate::policy::config::ConditionConfig as C;

const TYPES: &[&str] = &[
    "WebRtcEndpoint",
    "RtpEndpoint",
    "PlayerEndpoint",
    "RecorderEndpoint",
    "HubPort",
    "Composite",
];
const KEYS: &[&str] = &["kurento-exporter.protect", "kurento-exporter.owner", "room"];
const VALUES: &[&str] = &["true", "false", "kurento-exporter", "r1", "r2"];

#[derive(Debug, Clone)]
struct ElSpec {
    pipeline: usize,
    ty: usize,
    seen_ago: u64,
    created_ago: Option<u64>,
    tags: Vec<(usize, usize)>,
    /// `(out?, flowing, ago)`, applied oldest first.
    flows: Vec<(bool, bool, u64)>,
    endpoint: bool,
    media: Option<(bool, u64)>,
    remote_sdp: bool,
    dtls_closed: Option<u64>,
    terminated: Option<u64>,
    ice: Option<(usize, u64)>,
    sink: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct World {
    pipelines: Vec<(u64, Vec<(usize, usize)>)>,
    elements: Vec<ElSpec>,
    /// `(object index, rule index, cycles, first offset from now)`.
    streaks: Vec<(usize, usize, u32, i64)>,
    sessions: Option<Vec<usize>>,
    rules: Vec<usize>,
    min_ages: Vec<u64>,
    k: u32,
    cap: usize,
    grace: Option<u64>,
    pub(crate) now: u64,
    /// Every (object, rule) has a long streak on top of `streaks`.
    veteran: bool,
}

const HOUR: u64 = 60 * MIN;

fn ago() -> impl Strategy<Value = u64> {
    prop_oneof![0..2 * MIN, 0..HOUR]
}

fn tags() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..3)
}

fn element() -> impl Strategy<Value = ElSpec> {
    (
        (
            0..4usize,
            0..TYPES.len(),
            ago(),
            prop::option::of(ago()),
            tags(),
        ),
        prop::collection::vec((any::<bool>(), any::<bool>(), ago()), 0..5),
        (
            any::<bool>(),
            prop::option::of((any::<bool>(), ago())),
            any::<bool>(),
        ),
        (
            prop::option::of(ago()),
            prop::option::of(ago()),
            prop::option::of((0..IceComponentState::ALL.len(), ago())),
            prop::option::of(0..12usize),
        ),
    )
        .prop_map(
            |((pipeline, ty, seen_ago, created_ago, tags), flows, e, o)| ElSpec {
                pipeline,
                ty,
                seen_ago,
                created_ago,
                tags,
                flows,
                endpoint: e.0,
                media: e.1,
                remote_sdp: e.2,
                dtls_closed: o.0,
                terminated: o.1,
                ice: o.2,
                sink: o.3,
            },
        )
}

pub(crate) fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec((ago(), tags()), 0..4),
        prop::collection::vec(element(), 0..12),
        prop::collection::vec(
            (0..16usize, 0..RULES, 0..6u32, -(HOUR as i64)..MIN as i64),
            0..24,
        ),
        prop::option::of(prop::collection::vec(0..VALUES.len(), 0..3)),
        (
            prop::collection::vec(0..RULES, 1..5),
            prop::collection::vec(1..15 * MIN, RULES),
        ),
        (
            1..5u32,
            0..4usize,
            prop::option::of(1..10 * MIN),
            0..HOUR,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                pipelines,
                elements,
                streaks,
                sessions,
                (rules, min_ages),
                (k, cap, grace, now, veteran),
            )| {
                World {
                    pipelines,
                    elements,
                    streaks,
                    sessions,
                    rules,
                    min_ages,
                    k,
                    cap,
                    grace,
                    now: T0 + 2 * HOUR + now,
                    veteran,
                }
            },
        )
}

const RULES: usize = 8;

fn d(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Rule `i` of the generated policy (mostly releases, one flag rule).
fn rule_config(i: usize, min_age: u64) -> RuleConfig {
    let element = |name: &str, action, when| RuleConfig {
        min_age: d(min_age),
        ..rule(name, action, &[], when)
    };
    let pipeline = |name: &str, when| RuleConfig {
        min_age: d(min_age),
        ..rule(name, RuleAction::Release, &[PIPELINE_TYPE], when)
    };
    let silent = |direction, ms| C::NoFlow {
        direction,
        duration: d(ms),
    };
    match i {
        0 => element("silent", RuleAction::Release, silent(FlowSide::Both, MIN)),
        1 => element(
            "gone",
            RuleAction::Release,
            C::All(vec![
                silent(FlowSide::Out, MIN),
                C::MediaDisconnected(d(MIN)),
            ]),
        ),
        2 => element(
            "unnegotiated",
            RuleAction::Release,
            C::Any(vec![
                C::NoRemoteSdp(d(2 * MIN)),
                C::IceNeverConnected(d(2 * MIN)),
            ]),
        ),
        3 => element("left", RuleAction::Release, C::SessionGone("room".into())),
        4 => pipeline(
            "pipe",
            C::Any(vec![C::PipelineEmpty(d(MIN)), C::PipelineAllZombie(d(MIN))]),
        ),
        5 => element(
            "flag-only",
            RuleAction::Flag,
            silent(FlowSide::Either, 30 * SEC),
        ),
        6 => pipeline("pipe-left", C::SessionGone("room".into())),
        _ => element(
            "derived",
            RuleAction::Release,
            C::NeighboursZombie(d(30 * SEC)),
        ),
    }
}

pub(crate) fn build(w: &World) -> (TargetModel, Policy, History, SessionView) {
    build_named(w, &|n| format!("e{n}"))
}

/// `build`, element `n` named `name(n)` (so the model's order can change).
pub(crate) fn build_named(
    w: &World,
    name: &dyn Fn(usize) -> String,
) -> (TargetModel, Policy, History, SessionView) {
    let now = w.now;
    let at = |ago: u64| now.saturating_sub(ago);
    let mut m = model();
    m.pipelines.clear();
    let pid = |i: usize| format!("p{i}_kurento.MediaPipeline");
    for (i, (seen, t)) in w.pipelines.iter().enumerate() {
        add_pipeline(&mut m, &pid(i), &format!("meeting-{i}"), at(*seen));
        for (k, v) in t {
            tag(&mut m, &pid(i), KEYS[*k], VALUES[*v]);
        }
    }
    let mut ids = Vec::new();
    for (n, e) in w.elements.iter().enumerate() {
        // Some elements belong to a pipeline the model does not list.
        let id = add(
            &mut m,
            &pid(e.pipeline),
            &name(n),
            TYPES[e.ty],
            at(e.seen_ago),
        );
        if let Some(c) = e.created_ago {
            if let Some(el) = m.elements.get_mut(&id) {
                el.created = Some(at(c) / 1000);
            }
        }
        for (k, v) in &e.tags {
            tag(&mut m, &id, KEYS[*k], VALUES[*v]);
        }
        let mut flows = e.flows.clone();
        flows.sort_by_key(|f| std::cmp::Reverse(f.2));
        for (out, flowing, ago) in flows {
            let dir = if out { Direction::Out } else { Direction::In };
            flow(&mut m, &id, dir, flowing, at(ago));
        }
        if e.endpoint {
            let t = at(e.seen_ago);
            ep(&mut m, &id, EndpointChange::IceAll(Vec::new()), t);
            if e.remote_sdp {
                ep(
                    &mut m,
                    &id,
                    EndpointChange::RemoteSdp(Some("v=0".into())),
                    t,
                );
            }
            if let Some((disc, ago)) = e.media {
                let s = if disc {
                    MediaState::DISCONNECTED
                } else {
                    MediaState::CONNECTED
                };
                ep(&mut m, &id, EndpointChange::MediaState(s), at(ago));
            }
            if let Some(ago) = e.dtls_closed {
                ep(
                    &mut m,
                    &id,
                    EndpointChange::Dtls(DtlsConnectionState::CLOSED),
                    at(ago),
                );
            }
            if let Some(ago) = e.terminated {
                ep(&mut m, &id, EndpointChange::MediaSessionTerminated, at(ago));
            }
            if let Some((s, ago)) = e.ice {
                let state = IceComponentState::ALL[s];
                ep(
                    &mut m,
                    &id,
                    EndpointChange::Ice {
                        stream: "0".into(),
                        component: 1,
                        state,
                    },
                    at(ago),
                );
            }
        }
        ids.push(id);
    }
    // A port belongs to the first Composite of its pipeline, if any.
    for (n, e) in w.elements.iter().enumerate() {
        if TYPES[e.ty] != "HubPort" {
            continue;
        }
        let hub = w
            .elements
            .iter()
            .position(|h| TYPES[h.ty] == "Composite" && h.pipeline == e.pipeline);
        if let (Some(h), Some(el)) = (hub, m.elements.get_mut(&ids[n])) {
            el.hub = Some(ids[h].clone());
        }
    }
    for (n, e) in w.elements.iter().enumerate() {
        if let Some(sink) = e.sink.and_then(|s| ids.get(s)) {
            m.apply(Update::Sinks {
                source: ids[n].clone(),
                sinks: [(sink.clone(), MediaType::VIDEO)].into(),
            });
        }
    }
    let mut rules: Vec<usize> = w.rules.clone();
    rules.sort_unstable();
    rules.dedup();
    let cfg = PolicyConfig {
        min_consecutive_cycles: w.k,
        max_releases_per_cycle: w.cap,
        flow_grace: w.grace.map(d),
        rules: rules
            .iter()
            .map(|&i| rule_config(i, w.min_ages[i]))
            .collect(),
        ..PolicyConfig::default()
    };
    let policy = match Policy::new(&cfg) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let objects: Vec<String> = (0..w.pipelines.len()).map(pid).chain(ids).collect();
    let mut h = History::new();
    if w.veteran {
        for o in &objects {
            for r in 0..RULES {
                let s = Streak {
                    cycles: 50,
                    first: now.saturating_sub(HOUR),
                };
                h.insert(o.clone(), rule_config(r, 1).name, s);
            }
        }
    }
    for (o, r, cycles, off) in &w.streaks {
        if let Some(obj) = objects.get(*o) {
            let first = now.saturating_add_signed(*off);
            h.insert(
                obj.clone(),
                rule_config(*r, 1).name,
                Streak {
                    cycles: *cycles,
                    first,
                },
            );
        }
    }
    let sessions = match &w.sessions {
        None => SessionView::Unknown,
        Some(v) => SessionView::Known(v.iter().map(|i| VALUES[*i].to_string()).collect()),
    };
    (m, policy, h, sessions)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn decisions_keep_the_safety_invariants(w in world()) {
        let (m, p, h, s) = build(&w);
        let now = w.now;
        let dec = decide(&m, &p, &h, &s, now);
        prop_assert_eq!(&dec, &decide(&m, &p, &h, &s, now), "deterministic");
        prop_assert_eq!(dec.actions.len(), dec.verdicts.len());
        let verdicts: BTreeSet<(&str, &str)> =
            dec.verdicts.iter().map(|v| (v.object.as_str(), v.rule.as_str())).collect();
        for v in &dec.verdicts {
            let rule = p.rules.iter().find(|r| r.name == v.rule).expect("verdict names a rule");
            prop_assert!(!carries_shield(&m, &v.object), "shielded verdict {}", v.object);
            prop_assert!(age(&m, &v.object, now) >= rule.min_age, "too young {}", v.object);
        }
        let releases: Vec<&Action> = dec.releases().collect();
        prop_assert!(releases.len() <= p.max_releases_per_cycle);
        let mut seen = BTreeSet::new();
        for a in &dec.actions {
            prop_assert!(verdicts.contains(&(a.object(), a.rule())), "action without verdict");
        }
        for a in releases {
            let Action::Release { object, pipeline_release, rule, .. } = a else { unreachable!() };
            prop_assert!(seen.insert(object.clone()), "released twice: {}", object);
            let r = p.rules.iter().find(|r| &r.name == rule).expect("rule");
            prop_assert_eq!(r.action, RuleAction::Release);
            prop_assert_eq!(*pipeline_release, r.on_pipelines());
            prop_assert_eq!(*pipeline_release, m.pipelines.contains_key(object));
            prop_assert!(!carries_shield(&m, object));
            prop_assert!(age(&m, object, now) >= r.min_age);
            let before = h.get(object, rule);
            let cycles = before.map_or(1, |s| s.cycles + 1);
            let first = before.map_or(now, |s| s.first.min(now));
            prop_assert!(cycles >= p.min_consecutive_cycles, "{} cycles < K", cycles);
            prop_assert!(first <= now);
            let grace = p.flow_grace.unwrap_or(r.longest);
            let because = dec
                .verdicts
                .iter()
                .find(|v| &v.object == object && &v.rule == rule)
                .and_then(|v| v.evidence.because.clone());
            if let Some(b) = because.as_ref().filter(|_| !pipeline_release) {
                // A derived release rests on zombies only.
                for id in &b.rests_on {
                    prop_assert!(dec.verdicts.iter().any(|v| &v.object == id), "rests on live {}", id);
                }
            }
            prop_assert!(
                !flowed_under(&m, object, because.as_ref(), grace, now),
                "media flowed within grace on {}", object
            );
        }
        // Derived verdicts: never an RTP endpoint, never with a neighbour that
        // is not itself a zombie (a live neighbour that feeds it or that it
        // feeds keeps it alive).
        let zombies: BTreeSet<&str> = dec.verdicts.iter().map(|v| v.object.as_str()).collect();
        for v in dec.verdicts.iter().filter(|v| v.rule == "derived") {
            prop_assert!(!rtp(&m.elements[&v.object]), "derived verdict on an endpoint");
            for n in neighbours(&m, &v.object) {
                prop_assert!(zombies.contains(n.as_str()), "{} has live neighbour {}", v.object, n);
            }
        }
    }

    #[test]
    fn verdicts_do_not_depend_on_the_order_of_the_model(w in world()) {
        // Same world, elements named so that the model iterates them in reverse.
        let count = w.elements.len();
        let (m1, p1, h1, s1) = build_named(&w, &|n| format!("e{n:02}"));
        let (m2, p2, h2, s2) = build_named(&w, &|n| format!("e{:02}", 99 - (n % 100)));
        let key = |id: &str, reverse: bool| -> String {
            // Back to the element index (pipelines keep their ids).
            match id.rsplit_once("/e") {
                Some((_, rest)) => {
                    let n: usize = rest[..2].parse().unwrap_or(0);
                    let n = if reverse { 99 - n } else { n };
                    format!("#{n}")
                }
                None => id.to_string(),
            }
        };
        let set = |d: &Decision, reverse: bool| -> BTreeSet<(String, String)> {
            d.verdicts.iter().map(|v| (key(&v.object, reverse), v.rule.clone())).collect()
        };
        let d1 = decide(&m1, &p1, &h1, &s1, w.now);
        let d2 = decide(&m2, &p2, &h2, &s2, w.now);
        prop_assert!(count <= 12);
        prop_assert_eq!(set(&d1, false), set(&d2, true));
    }

    #[test]
    fn unreadable_sessions_never_count_as_gone(w in world()) {
        let (m, _, h, _) = build(&w);
        let p = policy_of(vec![rule_config(3, 1), rule_config(6, 1)]);
        let dec = decide(&m, &p, &h, &SessionView::Unknown, w.now);
        prop_assert!(dec.verdicts.is_empty());
    }

    #[test]
    fn nothing_is_released_before_k_cycles(w in world()) {
        let (m, p, _, s) = build(&w);
        let mut h = History::new();
        for cycle in 1..p.min_consecutive_cycles {
            let now = w.now + u64::from(cycle) * 10 * SEC;
            let dec = decide(&m, &p, &h, &s, now);
            prop_assert_eq!(dec.releases().count(), 0, "cycle {}", cycle);
            h = h.observe(&dec, now);
            prop_assert!(h.iter().all(|(_, _, st)| st.cycles >= 1 && st.cycles <= cycle));
        }
    }
}
