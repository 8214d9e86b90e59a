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
mod decide;
mod defaults;
mod eval;
mod evidence;
mod history;
mod live;
mod rules;
mod selector;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Element, Millis, ObjectId, TargetModel};

use eval::Index;

pub use config::{
    ConditionConfig, FlowSide, MatchConfig, PolicyConfig, RuleAction, RuleConfig, TagPair,
    PIPELINE_TYPE,
};
pub use decide::{decide, flowed_within, media_disconnected};
pub use eval::{SessionView, Tri};
pub use evidence::{Because, Evidence, StateSince};
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
    /// Since when each element has had no media neighbour and each pipeline
    /// no element: kept by `History::observe` for the next decision.
    #[serde(skip)]
    pub isolated: BTreeMap<ObjectId, Millis>,
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

#[cfg(test)]
pub(crate) mod tests;
