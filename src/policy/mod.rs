//! The zombie policy: a pure function from (model, policy, history, live
//! application sessions, now) to verdicts and actions. No I/O, no clock.
//!
//! ```text
//!   TargetModel ─┐
//!   Policy ──────┤                 ┌─► verdicts: object X matches rule R (+ evidence)
//!   History ─────┼─► decide(now) ──┤
//!   SessionView ─┘                 └─► actions: Flag | Release (safe, capped, oldest first)
//!   History::observe(decision, now) ─► next cycle's History
//! ```
//!
//! Files: `config` (the `[policy]` section, defaults, validation), `rules`
//! (compiled policy, matcher), `eval` (three-valued conditions), `evidence`,
//! `history` (consecutive-cycle streaks), this file (`decide` and its safety
//! gates). The reaper re-checks the same safety rules before it releases.

mod config;
mod eval;
mod evidence;
mod history;
mod live;
mod rules;
mod selector;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Direction, Element, Millis, ObjectId, TargetModel};

use eval::Index;

pub use config::{
    ConditionConfig, FlowSide, MatchConfig, PolicyConfig, RuleAction, RuleConfig, TagPair,
    PIPELINE_TYPE,
};
pub use eval::{SessionView, Tri};
pub use evidence::{Evidence, StateSince};
pub use history::{History, Streak};
pub use live::{liveness, Liveness};
pub use rules::{Matcher, Policy, PolicyError, Rule};
pub use selector::TagSelector;

/// Object X matches rule R.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub object: ObjectId,
    /// The rule acts on whole pipelines (`object` is a pipeline).
    pub pipeline_rule: bool,
    pub rule: String,
    pub action: RuleAction,
    /// The candidate streak counting this decision.
    pub streak: Streak,
    pub evidence: Evidence,
}

/// Why a release rule's candidate is only flagged in this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Hold {
    /// Fewer consecutive candidate cycles than `min_consecutive_cycles`.
    Cycles { seen: u32, needed: u32 },
    /// A candidate for less than the rule's longest condition duration.
    CandidateFor { ms: Millis, needed: Millis },
    /// Media flowed within the grace window (or flows now).
    FlowedRecently { grace_ms: Millis },
    /// `max_releases_per_cycle` reached.
    Cap,
    /// Another rule releases the object in this decision.
    AlreadyReleased,
    /// Its pipeline is released in this decision.
    PipelineReleased,
    /// The verdict names no rule of the policy (never happens; never releases).
    UnknownRule,
}

/// What the reaper is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Report (metric, log, API). `held` says why a release rule did not release.
    Flag {
        object: ObjectId,
        rule: String,
        held: Option<Hold>,
        evidence: Evidence,
    },
    /// Release the element, or the whole pipeline when `pipeline_release`.
    Release {
        object: ObjectId,
        pipeline_release: bool,
        rule: String,
        evidence: Evidence,
    },
}

impl Action {
    pub fn object(&self) -> &str {
        match self {
            Action::Flag { object, .. } | Action::Release { object, .. } => object,
        }
    }

    pub fn rule(&self) -> &str {
        match self {
            Action::Flag { rule, .. } | Action::Release { rule, .. } => rule,
        }
    }

    pub fn is_release(&self) -> bool {
        matches!(self, Action::Release { .. })
    }
}

/// One decision: verdicts and actions, oldest object first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    pub verdicts: Vec<Verdict>,
    pub actions: Vec<Action>,
}

impl Decision {
    /// The releases, in order.
    pub fn releases(&self) -> impl Iterator<Item = &Action> + '_ {
        self.actions.iter().filter(|a| a.is_release())
    }
}

/// An element's effective tags: its pipeline's, overridden by its own.
pub fn effective_tags(model: &TargetModel, e: &Element) -> BTreeMap<String, String> {
    let mut tags = model
        .pipelines
        .get(&e.pipeline)
        .map(|p| p.tags.clone())
        .unwrap_or_default();
    tags.extend(e.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// Whether policy may never act on this object: the protect or owner tag on
/// it or on its pipeline (whatever the element's own tags say), or, for a
/// pipeline, on any of its children. Unknown objects are shielded too.
pub fn shielded(model: &TargetModel, policy: &Policy, object: &str) -> bool {
    shielded_in(model, &Index::new(model), policy, object)
}

fn shielded_in(model: &TargetModel, index: &Index<'_>, policy: &Policy, object: &str) -> bool {
    let element = |e: &Element| {
        policy.shields(&e.tags)
            || model
                .pipelines
                .get(&e.pipeline)
                .is_some_and(|p| policy.shields(&p.tags))
    };
    if let Some(p) = model.pipelines.get(object) {
        policy.shields(&p.tags) || index.children(object).iter().any(|c| element(c))
    } else {
        model.elements.get(object).is_none_or(element)
    }
}

/// Whether media flows now, or flowed within `grace` ms, on the object (for a
/// pipeline: on any child), in the sense that shows a live call (the rule of
/// [`liveness`]).
pub fn flowed_within(model: &TargetModel, object: &str, grace: Millis, now: Millis) -> bool {
    flowed_in(model, &Index::new(model), object, grace, now)
}

/// Whether an endpoint's media state is known to be DISCONNECTED.
pub fn media_disconnected(e: &Element) -> bool {
    e.endpoint
        .as_ref()
        .and_then(|s| s.media_state)
        .is_some_and(|m| m.value == crate::kms::types::MediaState::DISCONNECTED)
}

fn flowed_in(
    model: &TargetModel,
    index: &Index<'_>,
    object: &str,
    grace: Millis,
    now: Millis,
) -> bool {
    let live = |e: &Element| {
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
    };
    if model.pipelines.contains_key(object) {
        index.children(object).iter().any(|c| live(c))
    } else {
        model.elements.get(object).is_some_and(live)
    }
}

/// Judge every object of one target at `now`.
///
/// Element rules run first (their verdicts are the zombies that
/// `pipeline_all_zombie` reads), then pipeline rules. A verdict needs its
/// condition tree to be `True`, the object to be at least the rule's
/// `min_age` and not shielded. Every verdict yields exactly one action, in
/// verdict order (oldest object first): a `Release` only for a release rule
/// whose candidate passed `gate` and fits under the cap, else a `Flag` saying
/// what held it. Nothing is judged before the target's first full sync.
/// `history` is the one kept for this target; advance it with
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
    let mut verdicts = Vec::new();
    let verdict = |object: &str, rule: &Rule, evidence: Evidence| Verdict {
        object: object.to_string(),
        pipeline_rule: rule.on_pipelines(),
        rule: rule.name.clone(),
        action: rule.action,
        streak: history.extended(object, &rule.name, now),
        evidence,
    };
    let no_zombies = BTreeSet::new();
    let mut ctx = eval::Ctx {
        model,
        index: &index,
        sessions,
        history,
        now,
        zombies: &no_zombies,
    };
    let element_rules: Vec<&Rule> = policy.rules.iter().filter(|r| !r.on_pipelines()).collect();
    for e in model.elements.values() {
        if element_rules.is_empty() || shielded_in(model, &index, policy, &e.id) {
            continue;
        }
        let tags = effective_tags(model, e);
        let subject = rules::Subject {
            target: &model.name,
            element_type: &e.element_type,
            pipeline_name: model.pipelines.get(&e.pipeline).map(|p| p.name.as_str()),
            tags: &tags,
        };
        for rule in &element_rules {
            if e.age_ms(now) >= rule.min_age
                && rule.matcher.matches(&subject)
                && eval::eval(&rule.when, eval::Obj::Element(e, &tags), &ctx) == Tri::True
            {
                let ev = evidence::of_element(model, &index, e, &tags, now);
                verdicts.push(verdict(&e.id, rule, ev));
            }
        }
    }
    let zombies: BTreeSet<ObjectId> = verdicts.iter().map(|v| v.object.clone()).collect();
    ctx.zombies = &zombies;
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
                && eval::eval(&rule.when, eval::Obj::Pipeline(p), &ctx) == Tri::True
            {
                let ev = evidence::of_pipeline(model, &index, p, now);
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
    Decision { verdicts, actions }
}

/// Whether a release-rule verdict may release now, before caps and overlaps:
/// `Err(hold)` if not.
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
    let candidate_ms = now.saturating_sub(v.streak.first);
    if candidate_ms < rule.longest {
        return Err(Hold::CandidateFor {
            ms: candidate_ms,
            needed: rule.longest,
        });
    }
    let grace = policy.grace_for(rule);
    if flowed_in(model, index, &v.object, grace, now) {
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

#[cfg(test)]
pub(crate) mod tests;
