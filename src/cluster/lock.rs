//! The per-target lock that fences releases: the key
//! `/<name>/locks/<target>`, created under this member's lease only when
//! absent (an etcd transaction), so at most one member holds it; its create
//! revision grows with every new holder and goes into the audit records.
//! Each release batch takes or confirms it; it is valid while the lease was
//! renewed within `renew_deadline` (shorter than the TTL, so a member cut
//! off stops releasing before its lock can pass to another) and the target
//! is not leaving this member. A target that leaves waits for its running
//! batch, then frees the lock so the new owner need not wait for the TTL.

use std::time::Duration;

use etcd_client::{Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};

use super::member::within;
use super::Cluster;
use crate::reaper::{Fence, FenceError, FenceFuture, Held};

/// Ends a batch when dropped.
struct Batch {
    cluster: Cluster,
    target: String,
}

impl Drop for Batch {
    fn drop(&mut self) {
        let mut locks = self.cluster.locks();
        if let Some(l) = locks.get_mut(&self.target) {
            l.batches = l.batches.saturating_sub(1);
        }
    }
}

impl Cluster {
    async fn take(&self, target: &str) -> Result<Held, FenceError> {
        let counters = &self.inner.counters;
        let refuse = |outcome: &str, e: FenceError| {
            counters.lock_outcome(outcome);
            Err(e)
        };
        if !self.lease_valid() {
            return refuse(
                "no_lease",
                FenceError::NoLease(format!(
                    "not renewed within cluster.renew_deadline ({})",
                    humantime::format_duration(self.inner.cfg.renew_deadline)
                )),
            );
        }
        let Some(lease) = self.lease_state().id else {
            return refuse("no_lease", FenceError::NoLease("not registered".into()));
        };
        if self.locks().get(target).is_some_and(|l| l.leaving) {
            return refuse(
                "failed",
                FenceError::Failed("the target is moving to another member".into()),
            );
        }
        let Some(mut client) = self.client() else {
            return refuse("no_lease", FenceError::NoLease("etcd unreachable".into()));
        };
        let key = self.lock_key(target);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                self.inner.member.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key.clone(), None)]);
        let limit = self.inner.cfg.request_timeout;
        let r = match within(limit, "lock", client.txn(txn)).await {
            Ok(r) => r,
            Err(e) => {
                counters.error("lock");
                return refuse("failed", FenceError::Failed(e.to_string()));
            }
        };
        let revision = if r.succeeded() {
            r.header().map_or(0, |h| h.revision())
        } else {
            let kv = r.op_responses().into_iter().find_map(|o| match o {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            });
            match kv {
                Some(kv) if kv.lease() == lease => kv.create_revision(),
                Some(kv) => {
                    let holder = kv.value_str().unwrap_or("?").to_string();
                    return refuse("held_by_other", FenceError::HeldByOther(holder));
                }
                None => return refuse("failed", FenceError::Failed("lock vanished".into())),
            }
        };
        {
            let mut locks = self.locks();
            let l = locks.entry(target.to_string()).or_default();
            if l.leaving {
                return refuse(
                    "failed",
                    FenceError::Failed("the target is moving to another member".into()),
                );
            }
            l.batches += 1;
        }
        counters.lock_outcome("ok");
        let me = self.clone();
        let t = target.to_string();
        Ok(Held {
            member: self.inner.member.clone(),
            revision,
            valid: Box::new(move || {
                me.lease_valid()
                    && me.lease_state().id == Some(lease)
                    && !me.locks().get(&t).is_some_and(|l| l.leaving)
            }),
            batch: Box::new(Batch {
                cluster: self.clone(),
                target: target.to_string(),
            }),
        })
    }

    /// Once the running batch ends (at most `wait`), delete the lock of a
    /// target that left, if it is still ours.
    pub(super) async fn free(&self, target: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while self.locks().get(target).is_some_and(|l| l.batches > 0)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !self.locks().get(target).is_some_and(|l| l.leaving) {
            return; // it came back meanwhile
        }
        let (Some(lease), Some(mut client)) = (self.lease_state().id, self.client()) else {
            return;
        };
        let key = self.lock_key(target);
        let txn = Txn::new()
            .when([Compare::lease(key.clone(), CompareOp::Equal, lease)])
            .and_then([TxnOp::delete(key, None)]);
        if let Err(e) = within(self.inner.cfg.request_timeout, "lock", client.txn(txn)).await {
            self.inner.counters.error("lock");
            tracing::warn!(kms = %target, error = %e, "cluster: lock not freed; it goes with the lease");
        }
    }
}

impl Fence for Cluster {
    fn hold<'a>(&'a self, target: &'a str) -> FenceFuture<'a> {
        Box::pin(self.take(target))
    }
}
