//! The cluster: several daemons sharing a fleet of KMS targets, coordinated
//! by etcd. Owns the `[cluster]` section (`config`), the choice of each
//! target's owner (`rendezvous`, pure), this member's registration under a
//! lease and its view of the member list (`member`), the per-target lock
//! that fences the reaper's releases (`lock`, a `reaper::Fence`), and the
//! `kurento_exporter_cluster_*` series (`collector`).
//!
//! ```text
//!   member (one task): lease grant ─► register /<name>/members/<id> ─► list + watch
//!        │  keep-alive every keepalive_interval ; etcd lost: view frozen, retried
//!        ▼
//!   Status (watch channel) ─► daemon: targets this member owns (rendezvous) start / stop
//!                          ─► own: members alive (the leftover sweep spares them)
//!                          ─► http: /api/v1/targets, /readyz ; collector: /metrics
//!   reaper batch ─► lock: txn create /<name>/locks/<target> under the lease (or confirm
//!                   it is ours) ─► revision into the audit records ; valid while the
//!                   lease was renewed within renew_deadline and the target not given up
//! ```
//!
//! The etcd parts are built with the `cluster` feature; without it the
//! section exists only to be refused with a clear error.

mod collector;
pub mod config;
#[cfg(feature = "cluster")]
mod lock;
#[cfg(feature = "cluster")]
mod member;
pub mod rendezvous;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_millis;
use crate::model::Millis;

pub use collector::ClusterCollector;
pub use config::ClusterConfig;

/// What this member knows of the cluster, as last read from etcd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// This member's id.
    pub member: String,
    /// The member list was read at least once.
    pub known: bool,
    /// The live members (registered under an unexpired lease).
    pub members: BTreeSet<String>,
    /// The etcd revision of that list.
    pub revision: i64,
    /// Members seen leaving, and when (epoch ms).
    pub departed: BTreeMap<String, Millis>,
    /// etcd answers.
    pub etcd_up: bool,
    /// When `etcd_up` last changed (epoch ms).
    pub etcd_since: Millis,
    /// The last etcd failure, for `/readyz` and the API.
    pub last_error: Option<String>,
}

impl Status {
    /// The owner of `target` among the live members.
    pub fn owner(&self, target: &str) -> Option<&str> {
        rendezvous::owner(target, &self.members)
    }

    /// Whether this member owns `target`: registered, and the winner.
    pub fn owns(&self, target: &str) -> bool {
        self.members.contains(&self.member) && self.owner(target) == Some(self.member.as_str())
    }

    /// The members a leftover sweep must spare at `now`: the live ones and
    /// those gone for less than `grace`; none known yet: `None`.
    pub fn spared(&self, now: Millis, grace: Duration) -> Option<BTreeSet<String>> {
        if !self.known {
            return None;
        }
        let grace = grace.as_millis() as Millis;
        let mut s = self.members.clone();
        s.extend(
            self.departed
                .iter()
                .filter(|(_, at)| now.saturating_sub(**at) < grace)
                .map(|(m, _)| m.clone()),
        );
        Some(s)
    }
}

/// Outcomes of a lock request (the `outcome` label: a closed set).
pub const LOCK_OUTCOMES: [&str; 4] = ["ok", "held_by_other", "no_lease", "failed"];
/// etcd operations that can fail (the `op` label: a closed set).
pub const ETCD_OPS: [&str; 6] = ["connect", "lease", "register", "list", "watch", "lock"];

/// Counters of the cluster's series.
#[derive(Debug, Default)]
pub struct Counters {
    lock: [AtomicU64; 4],
    errors: [AtomicU64; 6],
    lease_grants: AtomicU64,
    ownership_changes: AtomicU64,
}

// Without the `cluster` feature nothing counts, locks or publishes.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
impl Counters {
    fn lock_outcome(&self, outcome: &str) {
        if let Some(i) = LOCK_OUTCOMES.iter().position(|o| *o == outcome) {
            self.lock[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn error(&self, op: &str) {
        if let Some(i) = ETCD_OPS.iter().position(|o| *o == op) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The lease as the keep-alive last saw it.
#[derive(Debug, Clone, Copy, Default)]
struct LeaseState {
    id: Option<i64>,
    /// When etcd last confirmed it (a keep-alive answer or the grant).
    renewed: Option<tokio::time::Instant>,
}

/// A target's lock as this member holds it.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
struct LockState {
    /// Batches running under it.
    batches: usize,
    /// The target is leaving this member: no new batch, the lock is freed
    /// once the running ones end.
    leaving: bool,
}

struct Inner {
    cfg: ClusterConfig,
    member: String,
    status: watch::Sender<Status>,
    /// The members the leftover sweep spares (`own::Member::alive`).
    spared: watch::Sender<Option<BTreeSet<String>>>,
    counters: Counters,
    lease: Mutex<LeaseState>,
    locks: Mutex<BTreeMap<String, LockState>>,
    /// The configured targets, those this member runs and the view they
    /// were chosen from (for the series and the API).
    targets: RwLock<Acting>,
    #[cfg(feature = "cluster")]
    etcd: Mutex<Option<etcd_client::Client>>,
}

/// What the daemon acts on: the configured targets, those it runs, and
/// the view it chose them from.
#[derive(Debug, Clone, Default)]
pub struct Acting {
    pub configured: Vec<String>,
    pub running: BTreeSet<String>,
    pub view: Status,
}

/// Handle to this member (cheap to clone).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("member", &self.inner.member)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// A member with `cfg`, not yet started (`start` registers it).
    pub fn new(cfg: &ClusterConfig) -> Cluster {
        let member = cfg.member_id();
        let status = Status {
            member: member.clone(),
            etcd_since: now_millis(),
            ..Status::default()
        };
        Cluster {
            inner: Arc::new(Inner {
                cfg: cfg.clone(),
                member,
                status: watch::channel(status).0,
                spared: watch::channel(None).0,
                counters: Counters::default(),
                lease: Mutex::new(LeaseState::default()),
                locks: Mutex::new(BTreeMap::new()),
                targets: RwLock::new(Acting::default()),
                #[cfg(feature = "cluster")]
                etcd: Mutex::new(None),
            }),
        }
    }

    /// This member's id.
    pub fn member(&self) -> &str {
        &self.inner.member
    }

    /// The current view.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// Changes of the view.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// The members the leftover sweep spares, as they change.
    pub fn spared(&self) -> watch::Receiver<Option<BTreeSet<String>>> {
        self.inner.spared.subscribe()
    }

    /// Whether the lease was confirmed within `renew_deadline`.
    pub fn lease_valid(&self) -> bool {
        let l = *self.lease_state();
        l.id.is_some()
            && l.renewed
                .is_some_and(|t| t.elapsed() < self.inner.cfg.renew_deadline)
    }

    fn lease_state(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.inner
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LockState>> {
        self.inner
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Record what the daemon now acts on; counts an ownership change when
    /// the targets it runs moved.
    pub fn set_targets(&self, acting: Acting) {
        let mut t = self
            .inner
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if t.running != acting.running {
            self.inner
                .counters
                .ownership_changes
                .fetch_add(1, Ordering::Relaxed);
        }
        *t = acting;
    }

    /// What the daemon acts on.
    pub fn acting(&self) -> Acting {
        self.inner
            .targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A target starts on this member: its lock may be taken.
    pub fn target_started(&self, target: &str) {
        if let Some(l) = self.locks().get_mut(target) {
            l.leaving = false;
        }
    }

    /// `target` leaves this member: no new release batch under its lock;
    /// once the running one ends (at most `wait`), the lock is freed so the
    /// new owner need not wait for this member's lease to expire.
    pub fn give_up(&self, target: &str, wait: Duration) {
        self.locks().entry(target.to_string()).or_default().leaving = true;
        #[cfg(feature = "cluster")]
        {
            let me = self.clone();
            let target = target.to_string();
            tokio::spawn(async move { me.free(&target, wait).await });
        }
        #[cfg(not(feature = "cluster"))]
        let _ = wait;
    }

    /// Publish a new view (and what the sweep spares).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    fn publish(&self, f: impl FnOnce(&mut Status)) {
        self.inner.status.send_if_modified(|s| {
            let before = s.clone();
            f(s);
            *s != before
        });
        let spared = self
            .status()
            .spared(now_millis(), self.inner.cfg.departed_grace);
        self.inner.spared.send_if_modified(|s| {
            let changed = *s != spared;
            *s = spared;
            changed
        });
    }
}

#[cfg(feature = "cluster")]
pub use member::start;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(me: &str, members: &[&str]) -> Status {
        Status {
            member: me.into(),
            known: true,
            members: members.iter().map(|m| m.to_string()).collect(),
            ..Status::default()
        }
    }

    #[test]
    fn a_member_owns_only_what_it_wins_and_nothing_unregistered() {
        let s = status("b", &["a", "b", "c"]);
        let targets: Vec<String> = (0..60).map(|i| format!("kms-{i}")).collect();
        let mine: Vec<&String> = targets.iter().filter(|t| s.owns(t)).collect();
        assert!(!mine.is_empty() && mine.len() < 60);
        for t in &targets {
            let owners = ["a", "b", "c"]
                .iter()
                .filter(|m| status(m, &["a", "b", "c"]).owns(t))
                .count();
            assert_eq!(owners, 1, "{t}");
        }
        let out = status("d", &["a", "b", "c"]);
        assert!(targets.iter().all(|t| !out.owns(t)));
    }

    #[test]
    fn the_sweep_spares_live_and_recently_departed_members() {
        let mut s = status("a", &["a", "b"]);
        s.departed.insert("c".into(), 1_000);
        s.departed.insert("d".into(), 100_000);
        let spared = s.spared(105_000, Duration::from_secs(30)).unwrap();
        assert_eq!(
            spared,
            ["a", "b", "d"].iter().map(|m| m.to_string()).collect()
        );
        assert_eq!(Status::default().spared(0, Duration::ZERO), None);
    }
}
