//! The judge of one target: after every scrape cycle, runs the policy on the
//! model, plans through the target's ledger, publishes the zombies on the
//! board, appends flag and would-release records to the audit log, counts,
//! and queues releases for the actuator (never waiting on a full queue).
//! Releases of unknown outcome are reconciled first (`reconcile::settle`).

use std::sync::Arc;

use tokio::sync::{mpsc::error::TrySendError, watch};

use crate::clock::now_millis;
use crate::policy::{decide, History};

use super::actuator::Request;
use super::reconcile;
use super::{freshness, Freshness, Inner, TargetCtx};

pub(super) async fn run(inner: Arc<Inner>, t: Arc<TargetCtx>, mut cycles: watch::Receiver<u64>) {
    let mut history = History::new();
    loop {
        tokio::select! {
            _ = t.cancel.cancelled() => return,
            r = cycles.changed() => if r.is_err() { return },
        }
        cycles.borrow_and_update();
        // Releases of unknown outcome are settled before anything new is planned.
        reconcile::settle(&inner, &t).await;
        history = step(&inner, &t, &history).await;
    }
}

/// One judgement; returns the next history.
async fn step(inner: &Arc<Inner>, t: &Arc<TargetCtx>, history: &History) -> History {
    let now = now_millis();
    let policy = inner.policy();
    let settings = inner.settings();
    let sessions = inner.session_view(now);
    inner.board.set_sessions(inner.session_status());
    let (decision, fresh, plan) = {
        let m = t.model.read();
        let decision = decide(&m, &policy, history, &sessions, now);
        let fresh = freshness(&m, now, t.interval, settings.max_stale_cycles);
        let plan = t.ledger().plan(&decision, fresh, now, |o| {
            m.pipelines.contains_key(o) || m.elements.contains_key(o)
        });
        (decision, fresh, plan)
    };
    let next = history.observe(&decision, now);
    inner
        .board
        .judged(&t.name, &decision, fresh == Freshness::Fresh, now);
    if !plan.records.is_empty() {
        let log = inner.audit.clone();
        let records = plan.records;
        let written = tokio::task::spawn_blocking(move || log.append(&records)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(kms = %t.name, error = %e, "audit log write failed"),
            Err(e) => tracing::error!(kms = %t.name, error = %e, "audit task failed"),
        }
    }
    for c in &plan.counts {
        inner
            .metrics
            .reaper_action(&t.name, &c.rule, c.action, c.outcome);
    }
    for job in plan.jobs {
        let object = job.object.clone();
        let rule = job.rule.clone();
        match inner.queue.try_send(Request { job, reply: None }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                t.ledger().inflight.remove(&object);
                inner
                    .metrics
                    .reaper_action(&t.name, &rule, "release", "queue_full");
                tracing::warn!(kms = %t.name, object = %object, "release queue full; retrying next cycle");
            }
        }
    }
    next
}
