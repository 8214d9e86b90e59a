//! The actuator: the one task that releases objects. It takes jobs from a
//! bounded queue, one at a time, and for each: waits out the target's
//! spacing, re-checks the model (fresh, still there, not shielded), re-reads
//! media flow from KMS and aborts if a live call shows (`live_now`, the sense
//! of `policy::flowed_within`), then for each object writes and syncs its
//! `intent` audit record, sends the `release` under a timeout, and records
//! (`result`) and counts the outcome. Nothing here decides *what* to release: that is `policy`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::kms::ClientError;
use crate::model::Millis;
use crate::policy::shielded;
use kms_proto::ids::pipeline_of;

use super::audit::{rfc3339, Event, Record};
use super::fence::{self, Held};
use super::ledger::Job;
use super::reconcile;
use super::reread::flowing;
use super::{freshness, Freshness, Inner, TargetCtx};

/// How one release ended: the `outcome` label (a bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Released.
    Ok,
    /// KMS refused or the request failed or timed out.
    Failed,
    /// Already gone (from the model or from KMS).
    Gone,
    /// Media flowed at the last re-read: not released.
    AbortedFlowing,
    /// Carries the protect or owner tag: not released.
    Protected,
    /// The target's data is stale: not released.
    Stale,
    /// The audit record could not be written: not released.
    AuditFailed,
    /// The daemon is shutting down: not released.
    Cancelled,
    /// In a cluster: the target's lock is not this member's (or its lease
    /// is not known to be alive): not released.
    NoLock,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Gone => "gone",
            Outcome::AbortedFlowing => "aborted_flowing",
            Outcome::Protected => "protected",
            Outcome::Stale => "stale",
            Outcome::AuditFailed => "audit_failed",
            Outcome::Cancelled => "cancelled",
            Outcome::NoLock => "no_lock",
        }
    }
}

/// A job and, for manual releases, who waits for its outcome.
pub(super) struct Request {
    pub job: Job,
    pub reply: Option<oneshot::Sender<Report>>,
}

/// The outcome of one job, with a human detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// Jobs taken from the queue at once (checked and re-read together).
const BATCH: usize = 64;

/// Run until `cancel`; jobs still queued then are answered `Cancelled`.
pub(super) async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    'outer: loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // Per target, in queue order.
        let mut by_target: Vec<(String, Vec<Request>)> = Vec::new();
        for r in batch {
            match by_target.iter_mut().find(|(t, _)| *t == r.job.target) {
                Some((_, v)) => v.push(r),
                None => by_target.push((r.job.target.clone(), vec![r])),
            }
        }
        for (name, reqs) in by_target {
            let Some(t) = inner.target(&name) else {
                for r in reqs {
                    let report = Report {
                        outcome: Outcome::Gone,
                        detail: Some("target no longer configured".into()),
                    };
                    finish(&inner, None, &r.job, report, r.reply);
                }
                continue;
            };
            if !execute_batch(&inner, &t, reqs, &mut last, &cancel).await {
                break 'outer;
            }
        }
    }
    rx.close();
    while let Ok(req) = rx.try_recv() {
        let t = inner.target(&req.job.target);
        let report = Report {
            outcome: Outcome::Cancelled,
            detail: Some("shutting down".into()),
        };
        finish(&inner, t.as_deref(), &req.job, report, req.reply);
    }
}

/// Book the outcome: ledger, metrics, reply.
fn finish(
    inner: &Inner,
    target: Option<&TargetCtx>,
    job: &Job,
    report: Report,
    reply: Option<oneshot::Sender<Report>>,
) {
    if let Some(t) = target {
        let mut l = t.ledger();
        l.inflight.remove(&job.object);
        match report.outcome {
            Outcome::Ok => {
                l.released.insert(job.object.clone());
            }
            // KMS saw a live call the model did not: look again later, not
            // at every cycle.
            Outcome::AbortedFlowing => l.cool_down(&job.object, now_millis()),
            _ => {}
        }
    }
    inner
        .metrics
        .reaper_action(&job.target, &job.rule, "release", report.outcome.as_str());
    if report.outcome != Outcome::Ok {
        tracing::warn!(kms = %job.target, object = %job.object, rule = %job.rule,
            outcome = report.outcome.as_str(), detail = ?report.detail, "release not done");
    }
    if let Some(tx) = reply {
        let _ = tx.send(report);
    }
}

fn audit_record(
    job: &Job,
    event: Event,
    id: Option<&str>,
    outcome: &'static str,
    detail: Option<String>,
) -> Record {
    let now = now_millis();
    Record {
        time: rfc3339(now),
        time_ms: now,
        event,
        id: id.map(str::to_string),
        target: job.target.clone(),
        object: job.object.clone(),
        object_type: job.object_type.clone(),
        pipeline: job.pipeline.clone(),
        rule: job.rule.clone(),
        mode: job.mode,
        origin: if job.manual { "manual" } else { "policy" },
        outcome,
        held: None,
        detail,
        evidence: job.evidence.clone(),
        lock: None,
        creator: None,
    }
}

/// Append records; `sync` waits for them to reach the disk.
async fn audit(inner: &Arc<Inner>, records: Vec<Record>, sync: bool) -> Result<(), String> {
    if records.is_empty() {
        return Ok(());
    }
    let log = inner.audit.clone();
    tokio::task::spawn_blocking(move || log.write(&records, sync))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// The model-side checks, again, right before acting.
fn precheck(inner: &Inner, t: &TargetCtx, job: &Job, now: Millis) -> Option<Report> {
    let settings = inner.settings();
    let policy = inner.policy();
    let m = t.model.read();
    let stop = |outcome, detail: &str| {
        Some(Report {
            outcome,
            detail: Some(detail.to_string()),
        })
    };
    if freshness(&m, now, t.interval, settings.max_stale_cycles) == Freshness::Stale {
        return stop(Outcome::Stale, "target data is stale or not synced yet");
    }
    if !m.pipelines.contains_key(&job.object) && !m.elements.contains_key(&job.object) {
        return stop(Outcome::Gone, "no longer in the model");
    }
    if shielded(&m, &policy, &job.object) {
        return stop(Outcome::Protected, "carries the protect or owner tag");
    }
    None
}

/// Release a batch of one target's jobs: checks and flow re-reads for all,
/// then the releases one by one (spaced), each with its synced intent
/// before and its result after. Returns false when cancelled.
async fn execute_batch(
    inner: &Arc<Inner>,
    t: &Arc<TargetCtx>,
    reqs: Vec<Request>,
    last: &mut HashMap<String, Instant>,
    cancel: &CancellationToken,
) -> bool {
    let now = now_millis();
    let settings = inner.settings();
    let limit = settings.release_timeout;
    let mut go = Vec::new();
    let mut reread = Vec::new();
    for r in reqs {
        match precheck(inner, t, &r.job, now) {
            Some(report) => finish(inner, Some(t), &r.job, report, r.reply),
            None => reread.push(r),
        }
    }
    // In a cluster, the target's lock first: the re-reads below then see
    // what any earlier holder released.
    let held = match fence::acquire(inner.fence(), &t.name, limit).await {
        Ok(h) => h,
        Err(e) => {
            for r in reread {
                no_lock(inner, t, r, e.to_string());
            }
            return true;
        }
    };
    let flows =
        futures_util::future::join_all(reread.iter().map(|r| flowing(&t.client, &r.job, limit)))
            .await;
    let mut aborted = Vec::new();
    let mut touched: Vec<String> = Vec::new();
    for (r, flow) in reread.into_iter().zip(flows) {
        let pipeline = if r.job.pipeline_release {
            r.job.object.clone()
        } else {
            pipeline_of(&r.job.object).to_string()
        };
        let report = match flow {
            Ok(None) => {
                go.push((r, pipeline));
                continue;
            }
            Err(ClientError::ObjectNotFound { .. }) => Report {
                outcome: Outcome::Gone,
                detail: Some("KMS no longer has it".into()),
            },
            Err(e) => Report {
                outcome: Outcome::Failed,
                detail: Some(format!("flow re-read failed: {e}")),
            },
            Ok(Some(what)) => {
                aborted.push(audit_record(
                    &r.job,
                    Event::ReleaseAborted,
                    None,
                    "aborted_flowing",
                    Some(what.clone()),
                ));
                Report {
                    outcome: Outcome::AbortedFlowing,
                    detail: Some(what),
                }
            }
        };
        touched.push(pipeline);
        finish(inner, Some(t), &r.job, report, r.reply);
    }
    if let Err(e) = audit(inner, aborted, false).await {
        tracing::error!(error = %e, "audit log write failed");
    }
    let mut pending = go.into_iter();
    let mut alive = true;
    // Sends are spaced; answers are booked as they come.
    let mut sent = futures_util::stream::FuturesUnordered::new();
    for (r, pipeline) in pending.by_ref() {
        if let Some(prev) = last.get(&t.name).copied() {
            let until = prev + settings.release_spacing;
            let mut cancelled = false;
            loop {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => { cancelled = true; break; }
                    Some(done) = sent.next(), if !sent.is_empty() => {
                        book(inner, t, done, limit, &mut touched).await;
                    }
                    _ = tokio::time::sleep_until(until) => break,
                }
            }
            if cancelled {
                cancel_one(inner, t, r);
                touched.push(pipeline);
                alive = false;
                break;
            }
        }
        if !fence::still_held(&held) {
            no_lock(inner, t, r, "the lease was not renewed in time".into());
            touched.push(pipeline);
            continue;
        }
        let lock = held.as_ref().map(Held::stamp);
        // This release's intent is on disk before its request leaves.
        let id = uuid::Uuid::new_v4().to_string();
        let mut intent = audit_record(&r.job, Event::Intent, Some(&id), "intent", None);
        intent.lock = lock.clone();
        if let Err(e) = audit(inner, vec![intent], true).await {
            tracing::error!(error = %e, "audit log write failed; not releasing");
            touched.push(pipeline);
            let report = Report {
                outcome: Outcome::AuditFailed,
                detail: Some(e),
            };
            finish(inner, Some(t), &r.job, report, r.reply);
            continue;
        }
        last.insert(t.name.clone(), Instant::now());
        let client = t.client.clone();
        sent.push(async move {
            let res = tokio::time::timeout(limit, client.release(&r.job.object)).await;
            (r, id, pipeline, res, lock)
        });
    }
    while let Some(done) = sent.next().await {
        book(inner, t, done, limit, &mut touched).await;
    }
    for (r, pipeline) in pending {
        cancel_one(inner, t, r);
        touched.push(pipeline);
    }
    unref_all(t, touched, limit).await;
    alive
}

/// A job not sent because the daemon is shutting down (no intent written).
fn cancel_one(inner: &Arc<Inner>, t: &Arc<TargetCtx>, r: Request) {
    let report = Report {
        outcome: Outcome::Cancelled,
        detail: Some("shutting down".into()),
    };
    finish(inner, Some(t), &r.job, report, r.reply);
}

type Sent = (
    Request,
    String,
    String,
    Result<Result<(), ClientError>, tokio::time::error::Elapsed>,
    Option<fence::LockStamp>,
);

/// A job not sent because the target's lock is not ours (no intent written).
fn no_lock(inner: &Arc<Inner>, t: &Arc<TargetCtx>, r: Request, why: String) {
    let report = Report {
        outcome: Outcome::NoLock,
        detail: Some(why),
    };
    finish(inner, Some(t), &r.job, report, r.reply);
}

/// Book the answer to one sent release: its result record (unsynced: its
/// intent is), ledger, metrics, reply. Without an answer (timeout, lost
/// connection) the outcome is unknown: the object is reconciled with KMS
/// before its target's next judgement.
async fn book(
    inner: &Arc<Inner>,
    t: &Arc<TargetCtx>,
    (r, id, pipeline, res, lock): Sent,
    limit: Duration,
    touched: &mut Vec<String>,
) {
    let no_answer = |detail: String| {
        (
            Report {
                outcome: Outcome::Failed,
                detail: Some(detail),
            },
            reconcile::NO_ANSWER,
        )
    };
    let (report, outcome) = match res {
        Ok(Ok(())) => (
            Report {
                outcome: Outcome::Ok,
                detail: None,
            },
            "ok",
        ),
        Ok(Err(e @ ClientError::ObjectNotFound { .. })) => (
            Report {
                outcome: Outcome::Gone,
                detail: Some(e.to_string()),
            },
            "not_found",
        ),
        Ok(Err(e @ (ClientError::Kms { .. } | ClientError::Protocol(_)))) => (
            Report {
                outcome: Outcome::Failed,
                detail: Some(e.to_string()),
            },
            "failed",
        ),
        Ok(Err(e)) => no_answer(format!("{e}; outcome unknown, reconciled with KMS next")),
        Err(_) => no_answer(format!(
            "no answer within {limit:?}; outcome unknown, reconciled with KMS next"
        )),
    };
    let mut result = audit_record(
        &r.job,
        Event::Result,
        Some(&id),
        outcome,
        report.detail.clone(),
    );
    result.lock = lock;
    if let Err(e) = audit(inner, vec![result], false).await {
        tracing::error!(error = %e, "audit log write failed");
    }
    if outcome == reconcile::NO_ANSWER {
        reconcile::add(t, vec![pending_of(&r.job, id)]);
    }
    if !(r.job.pipeline_release && report.outcome == Outcome::Ok) {
        touched.push(pipeline);
    }
    finish(inner, Some(t), &r.job, report, r.reply);
}

/// The release `id` of `job`, of unknown outcome.
fn pending_of(job: &Job, id: String) -> reconcile::Pending {
    reconcile::Pending {
        id,
        time_ms: now_millis(),
        target: job.target.clone(),
        object: job.object.clone(),
        object_type: job.object_type.clone(),
        pipeline: job.pipeline.clone(),
        rule: job.rule.clone(),
        mode: job.mode,
        manual: job.manual,
        why: "no answer from KMS".into(),
    }
}

/// The re-reads referenced these pipelines from our session: drop that.
async fn unref_all(t: &TargetCtx, mut pipelines: Vec<String>, limit: Duration) {
    pipelines.sort();
    pipelines.dedup();
    let calls = pipelines.iter().map(|p| t.client.unref(p));
    let _ = tokio::time::timeout(limit, futures_util::future::join_all(calls)).await;
}
