//! The actuator: the one task that releases objects. It takes jobs from a
//! bounded queue, one at a time, and for each: waits out the target's
//! spacing, re-checks the model (fresh, still there, not shielded), re-reads
//! media flow from KMS and aborts if anything flows, writes and syncs the
//! audit record, sends `release` under a timeout, records and counts the
//! outcome. Nothing here decides *what* to release: that is `policy`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::kms::types::MediaType;
use crate::kms::{Client, ClientError};
use crate::model::Millis;
use crate::policy::shielded;
use crate::scrape::now_millis;
use crate::scrape::plan::{is_hub, pipeline_of, type_of};

use super::audit::{rfc3339, Event, Record};
use super::ledger::Job;
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

/// Run until `cancel`; jobs still queued then are answered `Cancelled`.
pub(super) async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    loop {
        let req = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
        };
        let target = inner.target(&req.job.target);
        let report = match target {
            None => Report {
                outcome: Outcome::Gone,
                detail: Some("target no longer configured".into()),
            },
            Some(t) => {
                let spacing = inner.settings().release_spacing;
                if let Some(prev) = last.get(&t.name) {
                    let until = *prev + spacing;
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            finish(&inner, Some(&t), &req.job, Report { outcome: Outcome::Cancelled, detail: None }, req.reply);
                            break;
                        }
                        _ = tokio::time::sleep_until(until) => {}
                    }
                }
                let r = execute(&inner, &t, &req.job).await;
                if r.outcome != Outcome::Protected && r.outcome != Outcome::Stale {
                    last.insert(t.name.clone(), Instant::now());
                }
                r
            }
        };
        let t = inner.target(&req.job.target);
        finish(&inner, t.as_deref(), &req.job, report, req.reply);
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
        if report.outcome == Outcome::Ok {
            l.released.insert(job.object.clone());
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

fn audit_record(job: &Job, event: Event, outcome: &'static str, detail: Option<String>) -> Record {
    let now = now_millis();
    Record {
        time: rfc3339(now),
        time_ms: now,
        event,
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
    }
}

async fn audit(inner: &Arc<Inner>, records: Vec<Record>) -> Result<(), String> {
    let log = inner.audit.clone();
    tokio::task::spawn_blocking(move || log.append(&records))
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

/// What flows on the object now, read from KMS: `Ok(Some(description))` if
/// anything flows.
async fn flowing(
    client: &Client,
    job: &Job,
    limit: Duration,
) -> Result<Option<String>, ClientError> {
    let elements = if job.pipeline_release {
        client.get_children(&job.object).await?
    } else {
        vec![job.object.clone()]
    };
    let deadline = Instant::now() + limit;
    for e in elements.iter().filter(|e| !is_hub(type_of(e))) {
        for media in [MediaType::AUDIO, MediaType::VIDEO] {
            let (fin, fout) = tokio::time::timeout_at(deadline, async {
                tokio::join!(
                    client.is_media_flowing_in(e, media),
                    client.is_media_flowing_out(e, media)
                )
            })
            .await
            .map_err(|_| ClientError::Timeout {
                method: "isMediaFlowing".into(),
                timeout_ms: limit.as_millis() as u64,
            })?;
            let (fin, fout) = match (fin, fout) {
                // A child released meanwhile carries nothing.
                (Err(ClientError::ObjectNotFound { .. }), _)
                | (_, Err(ClientError::ObjectNotFound { .. }))
                    if job.pipeline_release =>
                {
                    (false, false)
                }
                (a, b) => (a?, b?),
            };
            if fin || fout {
                let dir = if fin { "in" } else { "out" };
                return Ok(Some(format!("{} flowing {dir} on {e}", media.as_str())));
            }
        }
    }
    Ok(None)
}

async fn execute(inner: &Arc<Inner>, t: &Arc<TargetCtx>, job: &Job) -> Report {
    let now = now_millis();
    if let Some(r) = precheck(inner, t, job, now) {
        return r;
    }
    let limit = inner.settings().release_timeout;
    let started = Instant::now();
    let pipeline = if job.pipeline_release {
        job.object.clone()
    } else {
        pipeline_of(&job.object).to_string()
    };
    let flow = flowing(&t.client, job, limit).await;
    let report = match flow {
        Err(ClientError::ObjectNotFound { .. }) => Report {
            outcome: Outcome::Gone,
            detail: Some("KMS no longer has it".into()),
        },
        Err(e) => Report {
            outcome: Outcome::Failed,
            detail: Some(format!("flow re-read failed: {e}")),
        },
        Ok(Some(what)) => {
            let r = audit_record(
                job,
                Event::ReleaseAborted,
                "aborted_flowing",
                Some(what.clone()),
            );
            if let Err(e) = audit(inner, vec![r]).await {
                tracing::error!(error = %e, "audit log write failed");
            }
            Report {
                outcome: Outcome::AbortedFlowing,
                detail: Some(what),
            }
        }
        Ok(None) => {
            let intent = audit_record(job, Event::Release, "sent", None);
            match audit(inner, vec![intent]).await {
                Err(e) => {
                    tracing::error!(error = %e, "audit log write failed; not releasing");
                    Report {
                        outcome: Outcome::AuditFailed,
                        detail: Some(e),
                    }
                }
                Ok(()) => {
                    let left = limit
                        .saturating_sub(started.elapsed())
                        .max(Duration::from_millis(100));
                    let r = match tokio::time::timeout(left, t.client.release(&job.object)).await {
                        Ok(Ok(())) => Report {
                            outcome: Outcome::Ok,
                            detail: None,
                        },
                        Ok(Err(e)) => Report {
                            outcome: Outcome::Failed,
                            detail: Some(e.to_string()),
                        },
                        Err(_) => Report {
                            outcome: Outcome::Failed,
                            detail: Some(format!("timed out after {limit:?}")),
                        },
                    };
                    let done = audit_record(
                        job,
                        Event::ReleaseResult,
                        r.outcome.as_str(),
                        r.detail.clone(),
                    );
                    if let Err(e) = audit(inner, vec![done]).await {
                        tracing::error!(error = %e, "audit log write failed");
                    }
                    r
                }
            }
        }
    };
    // The re-read referenced the pipeline from our session: drop it, unless
    // the pipeline itself is gone.
    if !(job.pipeline_release && report.outcome == Outcome::Ok) {
        let _ = tokio::time::timeout(limit, t.client.unref(&pipeline)).await;
    }
    report
}
