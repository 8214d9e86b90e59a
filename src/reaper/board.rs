//! The board: the current zombies of every target with their evidence, the
//! reaper mode and the session source's state, as the last judgement left
//! them. `/metrics` and `GET /api/v1/zombies` read it; only the judges write.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

use crate::model::{Millis, ObjectId};
use crate::policy::{Action, Decision, Evidence, Hold, Policy, RuleAction, Streak};

use super::{Mode, SessionStatus};

/// One (object, rule) verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Zombie {
    pub kms: String,
    pub object: ObjectId,
    pub rule: String,
    /// What the rule asks for.
    pub action: RuleAction,
    /// `flagged`, `held` (a release rule's candidate, not yet allowed),
    /// `release` (allowed now: released in enforce mode, would be in dry-run).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Hold>,
    pub pipeline: ObjectId,
    pub element_type: String,
    pub streak: Streak,
    pub evidence: Evidence,
}

/// One target's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetBoard {
    pub kms: String,
    pub mode: Mode,
    /// Rule names of the policy (so counts of zero are exported too).
    pub rules: Vec<String>,
    /// The target's data may be acted on.
    pub fresh: bool,
    pub judged_at: Option<Millis>,
    pub zombies: Vec<Zombie>,
}

#[derive(Debug, Default)]
struct State {
    targets: BTreeMap<String, TargetBoard>,
    sessions: SessionStatus,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<RwLock<State>>);

impl Board {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_mode(&self, kms: &str, mode: Mode, policy: &Policy) {
        let mut s = self.write();
        let b = s.targets.entry(kms.to_string()).or_default();
        b.kms = kms.to_string();
        b.mode = mode;
        b.rules = policy.rules.iter().map(|r| r.name.clone()).collect();
    }

    pub(super) fn remove(&self, kms: &str) {
        self.write().targets.remove(kms);
    }

    pub(super) fn set_sessions(&self, status: SessionStatus) {
        self.write().sessions = status;
    }

    /// Replace a target's zombies with those of `decision`.
    pub(super) fn judged(&self, kms: &str, decision: &Decision, fresh: bool, now: Millis) {
        let zombies = decision
            .verdicts
            .iter()
            .zip(&decision.actions)
            .map(|(v, a)| {
                let (status, held) = match a {
                    Action::Release { .. } => ("release", None),
                    Action::Flag { held: Some(h), .. } => ("held", Some(*h)),
                    Action::Flag { held: None, .. } => ("flagged", None),
                };
                Zombie {
                    kms: kms.to_string(),
                    object: v.object.clone(),
                    rule: v.rule.clone(),
                    action: v.action,
                    status,
                    held,
                    pipeline: v.evidence.pipeline.clone(),
                    element_type: v.evidence.object_type.clone(),
                    streak: v.streak,
                    evidence: v.evidence.clone(),
                }
            })
            .collect();
        let mut s = self.write();
        let b = s.targets.entry(kms.to_string()).or_default();
        b.kms = kms.to_string();
        b.fresh = fresh;
        b.judged_at = Some(now);
        b.zombies = zombies;
    }

    /// Every target's board, in name order.
    pub fn targets(&self) -> Vec<TargetBoard> {
        self.read().targets.values().cloned().collect()
    }

    /// Run `f` over the boards without copying them (the metrics collector).
    pub fn with<R>(
        &self,
        f: impl FnOnce(&BTreeMap<String, TargetBoard>, &SessionStatus) -> R,
    ) -> R {
        let s = self.read();
        f(&s.targets, &s.sessions)
    }

    pub fn sessions(&self) -> SessionStatus {
        self.read().sessions.clone()
    }
}
