//! `decide`: one target judged at `now`. Rules that read only the object
//! run first; rules that read neighbours' verdicts (`neighbours_zombie`)
//! then run to a fixpoint, so a verdict propagates from a dead endpoint to
//! its hub port, the hub, a player or recorder feeding only zombies;
//! pipeline rules last. Then the safety gates turn verdicts into actions.
//!
//! ```text
//!   WebRtcEndpoint (peer gone) ─► HubPort (its only neighbour is zombie)
//!                                   └─► Composite (every port is zombie)
//!                                         └─► MediaPipeline (every element)
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Direction, Element, Millis, ObjectId, TargetModel};

use super::eval::{self, derived_since, Ctx, Index, Obj};
use super::evidence::{self, Because};
use super::rules::{self, Rule};
use super::{
    effective_tags, liveness, shielded_in, Action, Decision, History, Hold, Policy, RuleAction,
    SessionView, Tri, Verdict, PIPELINE_TYPE,
};

/// Whether an endpoint's media state is known to be DISCONNECTED.
pub fn media_disconnected(e: &Element) -> bool {
    e.endpoint
        .as_ref()
        .and_then(|s| s.media_state)
        .is_some_and(|m| m.value == crate::kms::types::MediaState::DISCONNECTED)
}

/// Whether media flows now, or flowed within `grace` ms, on the object in
/// the sense that shows a live call (the rule of [`liveness`]); for a
/// pipeline, on any of its RTP endpoints (the elements that carry peers).
pub fn flowed_within(model: &TargetModel, object: &str, grace: Millis, now: Millis) -> bool {
    let index = Index::new(model);
    subjects(model, &index, object, None)
        .iter()
        .any(|e| live(e, grace, now))
}

fn live(e: &Element, grace: Millis, now: Millis) -> bool {
    let recent = |d: Direction| {
        e.flow.any(d)
            || e.flow
                .last_flowing(d, now)
                .is_some_and(|t| now.saturating_sub(t) < grace)
    };
    liveness(
        &e.element_type,
        recent(Direction::In),
        recent(Direction::Out),
    )
    .resolve(media_disconnected(e))
}

/// The elements whose liveness decides whether `object` may be released: a
/// pipeline's RTP endpoints; for a derived verdict, the endpoints it rests
/// on; else the element itself.
fn subjects<'a>(
    model: &'a TargetModel,
    index: &Index<'a>,
    object: &str,
    because: Option<&Because>,
) -> Vec<&'a Element> {
    if model.pipelines.contains_key(object) {
        return index
            .children(object)
            .iter()
            .copied()
            .filter(|e| e.is_rtp_endpoint())
            .collect();
    }
    match because {
        Some(b) => b
            .rests_on
            .iter()
            .filter_map(|id| model.elements.get(id))
            .collect(),
        None => model.elements.get(object).into_iter().collect(),
    }
}

/// Judge every object of one target at `now`.
///
/// A verdict needs its condition tree to be `True`, the object to be at
/// least the rule's `min_age` and not shielded. Every verdict yields exactly
/// one action, in verdict order (oldest object first): a `Release` only for
/// a release rule whose candidate passed `gate` and fits under the cap, else
/// a `Flag` saying what held it. Nothing is judged before the target's first
/// full sync. `history` is the one kept for this target; advance it with
/// `History::observe(&decision, now)`.
pub fn decide(
    model: &TargetModel,
    policy: &Policy,
    history: &History,
    sessions: &SessionView,
    now: Millis,
) -> Decision {
    if !model.health.synced_once {
        // Nothing is known until a first full walk.
        return Decision::default();
    }
    let index = Index::new(model);
    let mut isolated = BTreeMap::new();
    for e in model.elements.values() {
        if index.neighbours(e).is_empty() {
            isolated.insert(e.id.clone(), history.isolated_since(&e.id).unwrap_or(now));
        }
    }
    for p in model.pipelines.keys() {
        if index.children(p).is_empty() {
            isolated.insert(p.clone(), history.isolated_since(p).unwrap_or(now));
        }
    }
    let verdict = |object: &str, rule: &Rule, evidence| Verdict {
        object: object.to_string(),
        pipeline_rule: rule.on_pipelines(),
        rule: rule.name.clone(),
        action: rule.action,
        streak: history.extended(object, &rule.name, now),
        evidence,
    };
    // Elements a rule may judge, with their effective tags.
    let judged: Vec<(&Element, BTreeMap<String, String>)> = model
        .elements
        .values()
        .filter(|e| !shielded_in(model, &index, policy, &e.id))
        .map(|e| (e, effective_tags(model, e)))
        .collect();
    let matches = |rule: &Rule, e: &Element, tags: &BTreeMap<String, String>| {
        e.age_ms(now) >= rule.min_age
            && rule.matcher.matches(&rules::Subject {
                target: &model.name,
                element_type: &e.element_type,
                pipeline_name: model.pipelines.get(&e.pipeline).map(|p| p.name.as_str()),
                tags,
            })
    };
    let (plain, derived): (Vec<&Rule>, Vec<&Rule>) = policy
        .rules
        .iter()
        .filter(|r| !r.on_pipelines())
        .partition(|r| !r.when.reads_neighbours());
    let no_zombies = BTreeMap::new();
    let base = Ctx {
        model,
        index: &index,
        sessions,
        now,
        zombies: &no_zombies,
        isolated: &isolated,
    };
    let mut verdicts = Vec::new();
    // Since when each element is a zombie, and the endpoints that says rests on.
    let mut zombies: BTreeMap<ObjectId, Millis> = BTreeMap::new();
    let mut rests: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new();
    {
        let ctx = base.with(&zombies);
        for (e, tags) in &judged {
            for rule in &plain {
                if matches(rule, e, tags)
                    && eval::eval(&rule.when, Obj::Element(e, tags), &ctx) == Tri::True
                {
                    let ev = evidence::of_element(model, &index, e, tags, now);
                    verdicts.push(verdict(&e.id, rule, ev));
                }
            }
        }
    }
    for v in &verdicts {
        let since = zombies.entry(v.object.clone()).or_insert(v.streak.first);
        *since = (*since).min(v.streak.first);
        rests.insert(v.object.clone(), vec![v.object.clone()]);
    }
    // Derived verdicts, to a fixpoint: each pass may only add.
    let mut done: BTreeSet<(ObjectId, &str)> = BTreeSet::new();
    loop {
        let mut found = Vec::new();
        {
            let ctx = base.with(&zombies);
            for (e, tags) in &judged {
                for rule in &derived {
                    if done.contains(&(e.id.clone(), rule.name.as_str()))
                        || !matches(rule, e, tags)
                        || eval::eval(&rule.when, Obj::Element(e, tags), &ctx) != Tri::True
                    {
                        continue;
                    }
                    let Some((since, neighbours)) = derived_since(e, &ctx) else {
                        continue;
                    };
                    let rests_on = rests_of(model, &rests, &neighbours);
                    let mut ev = evidence::of_element(model, &index, e, tags, now);
                    ev.because = Some(Because::neighbours(&neighbours, rests_on, since));
                    found.push((
                        e.id.clone(),
                        rule.name.as_str(),
                        since,
                        verdict(&e.id, rule, ev),
                    ));
                }
            }
        }
        if found.is_empty() {
            break;
        }
        for (id, rule, since, v) in found {
            done.insert((id.clone(), rule));
            if let Some(b) = &v.evidence.because {
                rests
                    .entry(id.clone())
                    .or_insert_with(|| b.rests_on.clone());
            }
            zombies.entry(id).or_insert(since);
            verdicts.push(v);
        }
    }
    let ctx = base.with(&zombies);
    for rule in policy.rules.iter().filter(|r| r.on_pipelines()) {
        for p in model.pipelines.values() {
            if eval::pipeline_age(p, now) < rule.min_age
                || shielded_in(model, &index, policy, &p.id)
            {
                continue;
            }
            let subject = rules::Subject {
                target: &model.name,
                element_type: PIPELINE_TYPE,
                pipeline_name: Some(&p.name),
                tags: &p.tags,
            };
            if rule.matcher.matches(&subject)
                && eval::eval(&rule.when, Obj::Pipeline(p), &ctx) == Tri::True
            {
                let mut ev = evidence::of_pipeline(model, &index, p, now);
                ev.because = Because::of_pipeline(&index, p, &zombies, &rests, &isolated);
                verdicts.push(verdict(&p.id, rule, ev));
            }
        }
    }
    // Oldest first; ties by object id, then rule order.
    let rank: BTreeMap<&str, usize> = policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    verdicts.sort_by(|a, b| {
        b.evidence
            .age_ms
            .cmp(&a.evidence.age_ms)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| rank.get(a.rule.as_str()).cmp(&rank.get(b.rule.as_str())))
    });
    let actions = actions(model, &index, policy, &verdicts, now);
    Decision {
        verdicts,
        actions,
        isolated,
    }
}

/// The endpoints a derived verdict rests on: each neighbour's own, an RTP
/// endpoint itself. Sorted, without repeats.
fn rests_of(
    model: &TargetModel,
    rests: &BTreeMap<ObjectId, Vec<ObjectId>>,
    neighbours: &[&str],
) -> Vec<ObjectId> {
    let mut out: Vec<ObjectId> = neighbours
        .iter()
        .flat_map(|n| match rests.get(*n) {
            Some(r) => r.clone(),
            None if model.elements.get(*n).is_some_and(Element::is_rtp_endpoint) => {
                vec![n.to_string()]
            }
            None => Vec::new(),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a release-rule verdict may release now, before caps and overlaps:
/// `Err(hold)` if not. A condition's duration was counted once, when the
/// verdict was made; the gate only asks for consecutive cycles and for no
/// live media within the grace on the elements the verdict rests on.
fn gate(
    model: &TargetModel,
    index: &Index<'_>,
    policy: &Policy,
    v: &Verdict,
    now: Millis,
) -> Result<(), Hold> {
    // A verdict always names a rule of the policy; were it not so, no release.
    let Some(rule) = policy.rules.iter().find(|r| r.name == v.rule) else {
        return Err(Hold::UnknownRule);
    };
    if v.streak.cycles < policy.min_consecutive_cycles {
        return Err(Hold::Cycles {
            seen: v.streak.cycles,
            needed: policy.min_consecutive_cycles,
        });
    }
    let grace = policy.grace_for(rule);
    let because = if v.pipeline_rule {
        None
    } else {
        v.evidence.because.as_ref()
    };
    if subjects(model, index, &v.object, because)
        .iter()
        .any(|e| live(e, grace, now))
    {
        return Err(Hold::FlowedRecently { grace_ms: grace });
    }
    Ok(())
}

fn actions(
    model: &TargetModel,
    index: &Index<'_>,
    policy: &Policy,
    verdicts: &[Verdict],
    now: Millis,
) -> Vec<Action> {
    let gates: Vec<Option<Hold>> = verdicts
        .iter()
        .map(|v| match v.action {
            RuleAction::Release => gate(model, index, policy, v, now).err(),
            RuleAction::Flag => None,
        })
        .collect();
    // Pipelines some rule may release: their children need no release of their own.
    let releasable_pipelines: BTreeSet<&str> = verdicts
        .iter()
        .zip(&gates)
        .filter(|(v, g)| v.pipeline_rule && v.action == RuleAction::Release && g.is_none())
        .map(|(v, _)| v.object.as_str())
        .collect();
    let mut released: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::with_capacity(verdicts.len());
    for (v, g) in verdicts.iter().zip(gates) {
        let flag = |held| Action::Flag {
            object: v.object.clone(),
            rule: v.rule.clone(),
            held,
            evidence: v.evidence.clone(),
        };
        if v.action == RuleAction::Flag {
            out.push(flag(None));
            continue;
        }
        let held = g.or_else(|| {
            if released.contains(v.object.as_str()) {
                Some(Hold::AlreadyReleased)
            } else if !v.pipeline_rule
                && releasable_pipelines.contains(v.evidence.pipeline.as_str())
            {
                Some(Hold::PipelineReleased)
            } else if released.len() >= policy.max_releases_per_cycle {
                Some(Hold::Cap)
            } else {
                None
            }
        });
        match held {
            Some(h) => out.push(flag(Some(h))),
            None => {
                released.insert(&v.object);
                out.push(Action::Release {
                    object: v.object.clone(),
                    pipeline_release: v.pipeline_rule,
                    rule: v.rule.clone(),
                    evidence: v.evidence.clone(),
                });
            }
        }
    }
    out
}
