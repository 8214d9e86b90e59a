//! Manual releases from the operator API: the object is looked up in the
//! models, checked (known, not shielded, data fresh, not already being
//! released, within the token bucket), then queued to the actuator like any
//! policy release, which re-reads flow and audits before releasing.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::clock::now_millis;
use crate::policy::shielded;
use kms_proto::ids::{pipeline_of, type_of};

use super::actuator::{Report, Request};
use super::ledger::Job;
use super::{freshness, Freshness, Inner};

/// Why a manual release was refused before reaching KMS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    #[error("no configured KMS knows object {0}")]
    NotFound(String),
    #[error("object {0} carries the protect or owner tag (on itself, its pipeline or a child)")]
    Protected(String),
    #[error("target {0} has stale data (not synced, or its last sync failed)")]
    Stale(String),
    #[error("object {0} is already being released")]
    Busy(String),
    #[error("release rate limit of target {0} reached")]
    RateLimited(String),
    #[error("the release queue is full")]
    QueueFull,
    #[error("the reaper is shutting down")]
    ShuttingDown,
}

pub(super) async fn release(inner: &Arc<Inner>, object: &str) -> Result<Report, ManualError> {
    let now = now_millis();
    let policy = inner.policy();
    let settings = inner.settings();
    let mut found = None;
    for t in inner.all_targets() {
        let m = t.model.read();
        let pipeline = m.pipelines.contains_key(object);
        if pipeline || m.elements.contains_key(object) {
            if shielded(&m, &policy, object) {
                return Err(ManualError::Protected(object.to_string()));
            }
            if freshness(&m, now, t.interval, settings.max_stale_cycles) == Freshness::Stale {
                return Err(ManualError::Stale(t.name.clone()));
            }
            drop(m);
            found = Some((t, pipeline));
            break;
        }
    }
    let Some((t, pipeline_release)) = found else {
        return Err(ManualError::NotFound(object.to_string()));
    };
    {
        let mut l = t.ledger();
        if l.busy(object) {
            return Err(ManualError::Busy(object.to_string()));
        }
        if !l.bucket.try_take(now) {
            inner
                .metrics
                .reaper_action(&t.name, "manual", "release", "rate_limited");
            return Err(ManualError::RateLimited(t.name.clone()));
        }
        l.inflight.insert(object.to_string());
    }
    let mode = t.ledger().mode;
    let job = Job {
        target: t.name.clone(),
        object: object.to_string(),
        object_type: if pipeline_release {
            "MediaPipeline".to_string()
        } else {
            type_of(object).to_string()
        },
        pipeline: if pipeline_release {
            object.to_string()
        } else {
            pipeline_of(object).to_string()
        },
        pipeline_release,
        rule: "manual".into(),
        evidence: None,
        mode,
        manual: true,
    };
    let (tx, rx) = oneshot::channel();
    if inner
        .queue
        .try_send(Request {
            job,
            reply: Some(tx),
        })
        .is_err()
    {
        t.ledger().inflight.remove(object);
        return Err(ManualError::QueueFull);
    }
    rx.await.map_err(|_| ManualError::ShuttingDown)
}
