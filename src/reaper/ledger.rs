//! What the reaper remembers of one target between cycles, and `plan`: the
//! pure step from a policy decision to audit records, counted outcomes and
//! release jobs, under the reaper's own gates (mode, freshness, in-flight and
//! already-released objects, the token bucket). No I/O, time passed in.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Millis, ObjectId};
use crate::policy::{Action, Decision, Evidence};

use super::audit::{rfc3339, Event, Record};
use super::limits::TokenBucket;
use super::Mode;

/// How long an object whose release was aborted (media flowed at the
/// re-read) waits before it may be queued again.
pub const ABORT_COOL_DOWN_MS: Millis = 60_000;

/// One release for the actuator.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub target: String,
    pub object: ObjectId,
    pub object_type: String,
    pub pipeline: ObjectId,
    /// The object is a pipeline (released with everything in it).
    pub pipeline_release: bool,
    pub rule: String,
    pub evidence: Option<Evidence>,
    pub mode: Mode,
    /// Started by the operator API rather than the policy.
    pub manual: bool,
}

/// A counted outcome: `kurento_reaper_actions_total{rule,action,outcome}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub rule: String,
    pub action: &'static str,
    pub outcome: &'static str,
}

/// The result of one `plan`.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub records: Vec<Record>,
    pub counts: Vec<Count>,
    pub jobs: Vec<Job>,
}

/// The reaper's memory of one target.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub target: String,
    pub mode: Mode,
    /// `(object, rule)` pairs flagged in their current streak (recorded once).
    flagged: BTreeSet<(ObjectId, String)>,
    /// Objects recorded as would-release in their current streak (dry-run).
    would: BTreeSet<ObjectId>,
    /// Objects whose release a reaper gate holds, and which gate (counted
    /// once per gate).
    deferred: BTreeMap<ObjectId, &'static str>,
    /// Releases queued or running.
    pub inflight: BTreeSet<ObjectId>,
    /// Objects a release was sent for, until the model forgets them.
    pub released: BTreeSet<ObjectId>,
    /// Objects with an audited intent whose outcome is unknown (a crash, a
    /// timeout) until KMS is asked again (`reconcile`): never queued meanwhile.
    pub unsettled: BTreeSet<ObjectId>,
    /// Objects whose release was aborted (media flowed at the re-read), and
    /// until when they are not queued again.
    cooling: BTreeMap<ObjectId, Millis>,
    pub bucket: TokenBucket,
}

/// Whether the target's data may be acted on, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Never synced, last sync failed, or older than N cycles.
    Stale,
}

/// An audit record about a decided action.
fn record(
    target: &str,
    mode: Mode,
    event: Event,
    outcome: &'static str,
    now: Millis,
    action: &Action,
) -> Record {
    let (object, rule, evidence, held) = match action {
        Action::Flag {
            object,
            rule,
            held,
            evidence,
        } => (object, rule, evidence, *held),
        Action::Release {
            object,
            rule,
            evidence,
            ..
        } => (object, rule, evidence, None),
    };
    Record {
        time: rfc3339(now),
        time_ms: now,
        event,
        id: None,
        target: target.to_string(),
        object: object.clone(),
        object_type: evidence.object_type.clone(),
        pipeline: evidence.pipeline.clone(),
        rule: rule.clone(),
        mode,
        origin: "policy",
        outcome,
        held: if event == Event::Flag { held } else { None },
        detail: None,
        evidence: Some(evidence.clone()),
        lock: None,
        creator: None,
    }
}

impl Ledger {
    pub fn new(target: &str, mode: Mode, releases_per_hour: u32, now: Millis) -> Self {
        Ledger {
            target: target.to_string(),
            mode,
            flagged: BTreeSet::new(),
            would: BTreeSet::new(),
            deferred: BTreeMap::new(),
            inflight: BTreeSet::new(),
            released: BTreeSet::new(),
            unsettled: BTreeSet::new(),
            cooling: BTreeMap::new(),
            bucket: TokenBucket::new(releases_per_hour, now),
        }
    }

    /// Whether an object is queued, running, already released or waiting
    /// for its last release to be reconciled.
    pub fn busy(&self, object: &str) -> bool {
        self.inflight.contains(object)
            || self.released.contains(object)
            || self.unsettled.contains(object)
    }

    /// After an aborted release: not queued again for `ABORT_COOL_DOWN_MS`.
    pub fn cool_down(&mut self, object: &str, now: Millis) {
        self.cooling
            .insert(object.to_string(), now + ABORT_COOL_DOWN_MS);
    }

    /// Turn one decision into records, counts and jobs. `exists` tells
    /// whether the model still holds an object (released ones are forgotten
    /// once it does not).
    pub fn plan(
        &mut self,
        decision: &Decision,
        freshness: Freshness,
        now: Millis,
        exists: impl Fn(&str) -> bool,
    ) -> Plan {
        let mut plan = Plan::default();
        let mode = self.mode;
        let target = self.target.clone();
        let count = |plan: &mut Plan, rule: &str, action, outcome| {
            plan.counts.push(Count {
                rule: rule.to_string(),
                action,
                outcome,
            })
        };
        let mut current: BTreeSet<(ObjectId, String)> = BTreeSet::new();
        let mut releasing: BTreeSet<ObjectId> = BTreeSet::new();
        for a in &decision.actions {
            let (object, rule, evidence) = match a {
                Action::Flag {
                    object,
                    rule,
                    evidence,
                    ..
                }
                | Action::Release {
                    object,
                    rule,
                    evidence,
                    ..
                } => (object, rule, evidence),
            };
            current.insert((object.clone(), rule.clone()));
            if !self.flagged.contains(&(object.clone(), rule.clone())) {
                self.flagged.insert((object.clone(), rule.clone()));
                let r = record(&target, mode, Event::Flag, "flagged", now, a);
                plan.records.push(r);
                count(&mut plan, rule, "flag", "flagged");
            }
            let Action::Release {
                pipeline_release, ..
            } = a
            else {
                continue;
            };
            releasing.insert(object.clone());
            match mode {
                Mode::Observe => {}
                Mode::DryRun => {
                    if self.would.insert(object.clone()) {
                        let r = record(&target, mode, Event::WouldRelease, "dry_run", now, a);
                        plan.records.push(r);
                        count(&mut plan, rule, "would_release", "dry_run");
                    }
                }
                Mode::Enforce => {
                    if self.busy(object) || self.cooling.get(object).is_some_and(|t| now < *t) {
                        continue;
                    }
                    let gate = if freshness == Freshness::Stale {
                        Some("stale")
                    } else if !self.bucket.try_take(now) {
                        Some("rate_limited")
                    } else {
                        None
                    };
                    if let Some(outcome) = gate {
                        if self.deferred.insert(object.clone(), outcome) != Some(outcome) {
                            count(&mut plan, rule, "release", outcome);
                        }
                        continue;
                    }
                    self.deferred.remove(object);
                    self.inflight.insert(object.clone());
                    plan.jobs.push(Job {
                        target: target.clone(),
                        object: object.clone(),
                        object_type: evidence.object_type.clone(),
                        pipeline: evidence.pipeline.clone(),
                        pipeline_release: *pipeline_release,
                        rule: rule.clone(),
                        evidence: Some(evidence.clone()),
                        mode,
                        manual: false,
                    });
                }
            }
        }
        // Streaks that ended: a new streak is recorded anew.
        self.flagged.retain(|k| current.contains(k));
        let candidates: BTreeSet<&str> = current.iter().map(|(o, _)| o.as_str()).collect();
        self.would.retain(|o| candidates.contains(o.as_str()));
        self.deferred.retain(|o, _| releasing.contains(o));
        self.released.retain(|o| exists(o));
        self.cooling
            .retain(|o, until| now < *until && releasing.contains(o));
        plan
    }

    /// A new mode or rate (configuration reload).
    pub fn configure(&mut self, mode: Mode, releases_per_hour: u32, now: Millis) {
        if mode != self.mode {
            self.would.clear();
            self.deferred.clear();
        }
        self.mode = mode;
        self.bucket.set_rate(releases_per_hour, now);
    }
}
