//! Fencing of releases: what the reaper asks before a release batch when
//! several daemons share KMS targets (the cluster's per-target lock). The
//! reaper holds a `Held` for the batch, checks `Held::valid` before every
//! release it sends, and stamps the lock's member and revision on the
//! batch's audit records. Without a fence (a single daemon) nothing changes.

use std::future::Future;
use std::pin::Pin;

/// A future of the fence.
pub type FenceFuture<'a> = Pin<Box<dyn Future<Output = Result<Held, FenceError>> + Send + 'a>>;

/// Why a target's lock is not ours: no release is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FenceError {
    /// Another member holds the lock.
    #[error("the target's lock is held by member {0}")]
    HeldByOther(String),
    /// This member's lease is not known to be alive (etcd unreachable, or
    /// not renewed within the renewal deadline).
    #[error("no valid lease: {0}")]
    NoLease(String),
    /// The coordination service failed or did not answer.
    #[error("lock request failed: {0}")]
    Failed(String),
}

/// The lock of one target, held for one release batch.
pub struct Held {
    /// The member holding it.
    pub member: String,
    /// The lock's revision: increases with every new holder of the target.
    pub revision: i64,
    /// Whether the lock may still be acted on (the lease renewed within its
    /// deadline, the lock not given up).
    pub valid: Box<dyn Fn() -> bool + Send + Sync>,
    /// Dropped when the batch ends; until then the holder does not give
    /// the lock up.
    pub batch: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("member", &self.member)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// What grants a target's lock.
pub trait Fence: Send + Sync {
    /// Take (or confirm) the lock of `target` for one batch.
    fn hold<'a>(&'a self, target: &'a str) -> FenceFuture<'a>;
}

/// The lock stamped on a release's audit records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockStamp {
    /// The member that held the target's lock.
    pub member: String,
    /// The lock's revision (etcd's create revision of the lock key).
    pub lock_revision: i64,
}

impl Held {
    pub fn stamp(&self) -> LockStamp {
        LockStamp {
            member: self.member.clone(),
            lock_revision: self.revision,
        }
    }
}

/// The lock of `target` for one batch: `Ok(None)` without a fence (a
/// single daemon); an error when the lock is not ours (nothing is sent).
pub(super) async fn acquire(
    fence: Option<std::sync::Arc<dyn Fence>>,
    target: &str,
    limit: std::time::Duration,
) -> Result<Option<Held>, FenceError> {
    let Some(f) = fence else {
        return Ok(None);
    };
    match tokio::time::timeout(limit, f.hold(target)).await {
        Ok(held) => held.map(Some),
        Err(_) => Err(FenceError::Failed(format!("no answer within {limit:?}"))),
    }
}

/// Whether a release may be sent under `held` (always, without a fence).
pub(super) fn still_held(held: &Option<Held>) -> bool {
    held.as_ref().is_none_or(|h| (h.valid)())
}
