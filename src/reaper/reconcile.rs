//! Releases whose outcome is unknown, and how they are settled: an `intent`
//! in the audit log with no `result` (the daemon died between the two), or
//! whose result is `timeout` (no answer: KMS may or may not have acted). At
//! start-up the log is scanned for them (`unresolved`); once a target is
//! attached they are `unsettled` in its ledger (never queued again
//! meanwhile) until `settle` asks KMS whether each object still exists and
//! writes a `reconciled` record: `gone` (not in KMS any more) or
//! `not_released` (still there: the request never took effect).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::clock::now_millis;
use crate::kms::{Client, ClientError};
use crate::model::{Millis, ObjectId};

use super::audit::{rfc3339, Event, Record};
use super::{Inner, Mode, TargetCtx};

/// The result outcome of a release that got no answer: reconciled later.
pub(super) const NO_ANSWER: &str = "timeout";

/// A release intent whose outcome is not known yet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub id: String,
    pub time_ms: Millis,
    pub target: String,
    pub object: ObjectId,
    pub object_type: String,
    pub pipeline: ObjectId,
    pub rule: String,
    pub mode: Mode,
    pub manual: bool,
    /// Why it is unknown (for the reconciled record's detail).
    pub why: String,
}

/// The fields of an audit line the scan needs (other lines are skipped).
#[derive(Deserialize)]
struct Line {
    event: String,
    id: Option<String>,
    #[serde(default)]
    time_ms: Millis,
    #[serde(default)]
    target: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    rule: String,
    mode: Option<Mode>,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    outcome: String,
}

/// The intents of the log at `path` that have neither a definite result nor
/// a reconciled record, oldest first, grouped by target. A missing file has none.
pub(crate) fn unresolved(path: &Path) -> std::io::Result<BTreeMap<String, Vec<Pending>>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut open: BTreeMap<String, Pending> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        let Some(id) = l.id else { continue };
        match l.event.as_str() {
            "intent" => {
                order.push(id.clone());
                let p = Pending {
                    id: id.clone(),
                    time_ms: l.time_ms,
                    target: l.target,
                    object: l.object,
                    object_type: l.object_type,
                    pipeline: l.pipeline,
                    rule: l.rule,
                    mode: l.mode.unwrap_or_default(),
                    manual: l.origin == "manual",
                    why: "no result recorded (the daemon stopped)".into(),
                };
                open.insert(id, p);
            }
            "result" if l.outcome == NO_ANSWER => {
                if let Some(p) = open.get_mut(&id) {
                    p.why = "no answer from KMS".into();
                }
            }
            "result" | "reconciled" => {
                open.remove(&id);
            }
            _ => {}
        }
    }
    let mut by_target: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    for id in order {
        if let Some(p) = open.remove(&id) {
            by_target.entry(p.target.clone()).or_default().push(p);
        }
    }
    Ok(by_target)
}

/// The `reconciled` record of `p`: `present` tells whether KMS still has it.
fn record(p: &Pending, present: bool) -> Record {
    let now = now_millis();
    let (outcome, seen) = if present {
        (
            "not_released",
            "still in KMS: the release did not take effect",
        )
    } else {
        ("gone", "no longer in KMS")
    };
    Record {
        time: rfc3339(now),
        time_ms: now,
        event: Event::Reconciled,
        id: Some(p.id.clone()),
        target: p.target.clone(),
        object: p.object.clone(),
        object_type: p.object_type.clone(),
        pipeline: p.pipeline.clone(),
        rule: p.rule.clone(),
        mode: p.mode,
        origin: if p.manual { "manual" } else { "policy" },
        outcome,
        held: None,
        detail: Some(format!(
            "intent of {}: {}; {seen}",
            rfc3339(p.time_ms),
            p.why
        )),
        evidence: None,
        lock: None,
        creator: None,
    }
}

/// Which of `pending` KMS still has. Pipelines are looked up with
/// `getPipelines` (no reference taken); elements with `getChildren` of
/// their pipeline, whose reference is dropped again.
async fn present(
    client: &Client,
    pending: &[Pending],
    limit: Duration,
) -> Result<BTreeSet<ObjectId>, ClientError> {
    let work = async {
        let pipelines: BTreeSet<String> = client.get_pipelines().await?.into_iter().collect();
        let mut found: BTreeSet<ObjectId> = BTreeSet::new();
        let mut children: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for p in pending {
            if p.object == p.pipeline || !pipelines.contains(&p.pipeline) {
                if pipelines.contains(&p.object) {
                    found.insert(p.object.clone());
                }
                continue;
            }
            if !children.contains_key(p.pipeline.as_str()) {
                let kids = match client.get_children(&p.pipeline).await {
                    Ok(k) => k.into_iter().collect(),
                    Err(ClientError::ObjectNotFound { .. }) => BTreeSet::new(),
                    Err(e) => return Err(e),
                };
                let _ = client.unref(&p.pipeline).await;
                children.insert(&p.pipeline, kids);
            }
            if children
                .get(p.pipeline.as_str())
                .is_some_and(|k| k.contains(&p.object))
            {
                found.insert(p.object.clone());
            }
        }
        Ok(found)
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ClientError::Timeout {
            method: "getPipelines/getChildren".into(),
            timeout_ms: limit.as_millis() as u64,
        })?
}

/// Ask KMS about every unsettled release of `t` and write their
/// `reconciled` records (synced); those KMS could not be asked about, or
/// whose record could not be written, wait for the next call.
pub(super) async fn settle(inner: &Arc<Inner>, t: &TargetCtx) {
    let pending = std::mem::take(&mut *t.pending());
    if pending.is_empty() {
        return;
    }
    let limit = inner.settings().release_timeout;
    let keep = match present(&t.client, &pending, limit).await {
        Ok(found) => {
            let records: Vec<Record> = pending
                .iter()
                .map(|p| record(p, found.contains(&p.object)))
                .collect();
            let log = inner.audit.clone();
            match tokio::task::spawn_blocking(move || log.append(&records)).await {
                Ok(Ok(())) => {
                    let mut l = t.ledger();
                    for p in &pending {
                        l.unsettled.remove(&p.object);
                    }
                    tracing::info!(kms = %t.name, count = pending.len(), "releases of unknown outcome reconciled");
                    Vec::new()
                }
                Ok(Err(e)) => {
                    tracing::error!(kms = %t.name, error = %e, "audit log write failed; reconciling later");
                    pending
                }
                Err(e) => {
                    tracing::error!(kms = %t.name, error = %e, "audit task failed; reconciling later");
                    pending
                }
            }
        }
        Err(e) => {
            tracing::warn!(kms = %t.name, error = %e, count = pending.len(),
                "cannot check releases of unknown outcome; trying again next cycle");
            pending
        }
    };
    if !keep.is_empty() {
        let mut slot = t.pending();
        let newer = std::mem::take(&mut *slot);
        *slot = keep;
        slot.extend(newer);
    }
}

/// Mark `pending` unsettled on `t` (at attach, or after a release timed out).
pub(super) fn add(t: &TargetCtx, pending: Vec<Pending>) {
    if pending.is_empty() {
        return;
    }
    {
        let mut l = t.ledger();
        for p in &pending {
            l.unsettled.insert(p.object.clone());
        }
    }
    t.pending().extend(pending);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_keeps_intents_without_a_definite_outcome() {
        let d = std::env::temp_dir().join(format!("ke-reconcile-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("audit.jsonl");
        let line = |event: &str, id: &str, object: &str, outcome: &str| {
            format!(
                r#"{{"event":"{event}","id":"{id}","time_ms":5,"target":"k{}","object":"{object}","object_type":"MediaPipeline","pipeline":"{object}","rule":"r","mode":"enforce","origin":"policy","outcome":"{outcome}"}}"#,
                &id[..1]
            )
        };
        let text = [
            line("intent", "a1", "pa", "intent"),
            line("result", "a1", "pa", "ok"),
            line("intent", "b1", "pb", "intent"),
            r#"{"event":"flag","object":"pb","outcome":"flagged"}"#.to_string(),
            line("intent", "a2", "pc", "intent"),
            line("result", "a2", "pc", NO_ANSWER),
            line("intent", "a3", "pd", "intent"),
            line("result", "a3", "pd", NO_ANSWER),
            line("reconciled", "a3", "pd", "gone"),
            line("intent", "a4", "pe", "intent"),
            "not json".to_string(),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let u = unresolved(&path).unwrap();
        let objects = |t: &str| -> Vec<(String, String)> {
            u[t].iter()
                .map(|p| (p.object.clone(), p.why.clone()))
                .collect()
        };
        assert_eq!(u.len(), 2);
        assert_eq!(
            objects("ka"),
            vec![
                ("pc".to_string(), "no answer from KMS".to_string()),
                (
                    "pe".to_string(),
                    "no result recorded (the daemon stopped)".to_string()
                )
            ]
        );
        assert_eq!(objects("kb").len(), 1);
        let p = &u["kb"][0];
        assert_eq!((p.mode, p.manual, p.time_ms), (Mode::Enforce, false, 5));
        assert!(unresolved(&d.join("none.jsonl")).unwrap().is_empty());
        std::fs::remove_dir_all(d).unwrap();
    }
}
