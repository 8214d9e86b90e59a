//! The reaper: the only code that releases KMS objects.
//!
//! ```text
//!   scrape cycle done ─► judge (per target): decide(model, policy, history,
//!        sessions, now) ─► Ledger::plan (mode, freshness, token bucket)
//!        ├─► board (zombies for /metrics and the API)
//!        ├─► audit log (flags, would-releases; fsynced)
//!        └─► jobs ─► bounded queue ─► actuator (one task): spacing, model
//!                re-check, flow re-read from KMS, then per object: intent
//!                (fsynced), release, result
//!   audit intents of unknown outcome (crash, timeout) ─► reconcile: asked
//!        of KMS before the target's next judgement, `reconciled` record
//!   POST /api/v1/objects/{id}/release ─► same queue, same checks
//! ```
//!
//! Modes per target: `observe` (flag only, the default), `dry-run` (audit and
//! count what would be released), `enforce`. Nothing is judged before a
//! target's first full sync, and nothing released while its data is stale.

mod actuator;
mod audit;
mod board;
mod collector;
mod config;
mod fence;
mod judge;
mod ledger;
mod limits;
mod manual;
mod reconcile;
mod reread;
mod sessions;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::kms::Client;
use crate::metrics::ExporterMetrics;
use crate::model::{Millis, SharedTarget, TargetModel};
use crate::policy::{Policy, PolicyConfig, PolicyError, SessionView};

pub use actuator::{Outcome, Report};
pub use audit::{rfc3339, AuditError, AuditLog, Event, Record};
pub use board::{Board, TargetBoard, Zombie};
pub use collector::ReaperCollector;
pub use config::{Mode, ReaperConfig, SessionSourceConfig};
pub use fence::{Fence, FenceError, FenceFuture, Held, LockStamp};
pub use ledger::{Count, Freshness, Job, Ledger, Plan};
pub use limits::TokenBucket;
pub use manual::ManualError;
pub use sessions::SessionStatus;

/// Whether `m` may be acted on at `now`: synced once, last sync good and
/// no older than `max_stale_cycles` intervals.
pub fn freshness(
    m: &TargetModel,
    now: Millis,
    interval: Duration,
    max_stale_cycles: u32,
) -> Freshness {
    let limit = interval.as_millis() as Millis * Millis::from(max_stale_cycles.max(1));
    let ok = m.health.connected
        && m.health.synced_once
        && m.health.last_sync_ok
        && m.health
            .last_sync_at
            .is_some_and(|t| now.saturating_sub(t) <= limit);
    if ok {
        Freshness::Fresh
    } else {
        Freshness::Stale
    }
}

/// One watched target, as the reaper sees it.
pub(crate) struct TargetCtx {
    pub name: String,
    pub client: Client,
    pub model: SharedTarget,
    /// The target's scrape interval.
    pub interval: Duration,
    ledger: Mutex<Ledger>,
    /// Releases of unknown outcome, to reconcile (see `reconcile`).
    pending: Mutex<Vec<reconcile::Pending>>,
    cancel: CancellationToken,
}

impl TargetCtx {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn pending(&self) -> MutexGuard<'_, Vec<reconcile::Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Settings the tasks read at use time (reloadable).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub release_spacing: Duration,
    pub release_timeout: Duration,
    pub max_stale_cycles: u32,
    pub releases_per_hour: u32,
    pub token: Option<String>,
}

pub(crate) struct Inner {
    settings: RwLock<Settings>,
    policy: RwLock<Arc<Policy>>,
    targets: RwLock<BTreeMap<String, Arc<TargetCtx>>>,
    pub audit: Arc<AuditLog>,
    queue: mpsc::Sender<actuator::Request>,
    pub metrics: ExporterMetrics,
    pub board: Board,
    sessions: watch::Receiver<SessionStatus>,
    /// Releases of unknown outcome found in the audit log at start-up, for
    /// targets not attached (yet).
    unresolved: Mutex<BTreeMap<String, Vec<reconcile::Pending>>>,
    /// In a cluster, the per-target lock taken before each release batch.
    fence: RwLock<Option<Arc<dyn Fence>>>,
}

impl Inner {
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn target(&self, name: &str) -> Option<Arc<TargetCtx>> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn all_targets(&self) -> Vec<Arc<TargetCtx>> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    pub fn fence(&self) -> Option<Arc<dyn Fence>> {
        self.fence
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn session_view(&self, now: Millis) -> SessionView {
        self.sessions.borrow().view(now)
    }

    pub fn session_status(&self) -> SessionStatus {
        self.sessions.borrow().clone()
    }
}

/// Why the reaper could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ReaperError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("reaper.api_token_file: {0}")]
    Token(std::io::Error),
}

/// Handle to the running reaper (cheap to clone).
#[derive(Clone)]
pub struct Reaper {
    inner: Arc<Inner>,
    cancel: CancellationToken,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    sessions_tx: Arc<watch::Sender<SessionStatus>>,
    sessions_cancel: Arc<Mutex<CancellationToken>>,
    session_cfg: Arc<Mutex<Option<SessionSourceConfig>>>,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").finish_non_exhaustive()
    }
}

fn settings_of(cfg: &ReaperConfig) -> Result<Settings, ReaperError> {
    Ok(Settings {
        release_spacing: cfg.release_spacing,
        release_timeout: cfg.release_timeout,
        max_stale_cycles: cfg.max_stale_cycles,
        releases_per_hour: cfg.releases_per_hour,
        token: cfg.token().map_err(ReaperError::Token)?,
    })
}

impl Reaper {
    /// Open the audit log, start the actuator and the session source.
    pub fn start(
        cfg: &ReaperConfig,
        policy: &PolicyConfig,
        board: Board,
        metrics: ExporterMetrics,
    ) -> Result<Reaper, ReaperError> {
        let audit = Arc::new(AuditLog::open(cfg.audit_log.as_deref())?);
        let unresolved = match cfg.audit_log.as_deref() {
            Some(p) => reconcile::unresolved(p).map_err(|source| AuditError::Io {
                path: p.to_path_buf(),
                source,
            })?,
            None => BTreeMap::new(),
        };
        for (target, p) in &unresolved {
            tracing::warn!(kms = %target, count = p.len(),
                "audit log: releases of unknown outcome; reconciling them with KMS");
        }
        let policy = Arc::new(Policy::new(policy)?);
        let (queue, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let (sessions_tx, sessions_rx) = watch::channel(SessionStatus::default());
        let inner = Arc::new(Inner {
            settings: RwLock::new(settings_of(cfg)?),
            policy: RwLock::new(policy),
            targets: RwLock::new(BTreeMap::new()),
            audit,
            queue,
            metrics,
            board,
            sessions: sessions_rx,
            unresolved: Mutex::new(unresolved),
            fence: RwLock::new(None),
        });
        let cancel = CancellationToken::new();
        let actuator = tokio::spawn(actuator::run(inner.clone(), rx, cancel.clone()));
        let r = Reaper {
            inner,
            cancel,
            tasks: Arc::new(Mutex::new(vec![actuator])),
            sessions_tx: Arc::new(sessions_tx),
            sessions_cancel: Arc::new(Mutex::new(CancellationToken::new())),
            session_cfg: Arc::new(Mutex::new(None)),
        };
        r.set_session_source(cfg.sessions.clone());
        Ok(r)
    }

    /// Record the leftovers the start-up sweep released on `target`
    /// (object, creating member, creating process).
    pub fn audit_leftovers(&self, target: &str, released: &[(&str, Option<&str>, Option<&str>)]) {
        let records: Vec<Record> = released
            .iter()
            .map(|(object, member, instance)| Record::leftover(target, object, *member, *instance))
            .collect();
        // Not synced: it runs on the probe task, and what it records is done.
        if let Err(e) = self.inner.audit.write(&records, false) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }

    /// Take `fence`'s lock of a target before each of its release batches
    /// (a cluster member); releases without it are not sent.
    pub fn set_fence(&self, fence: Arc<dyn Fence>) {
        *self
            .inner
            .fence
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(fence);
    }

    fn set_session_source(&self, cfg: Option<SessionSourceConfig>) {
        let mut current = self
            .session_cfg
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *current == cfg && cfg.is_some() {
            return;
        }
        let mut c = self
            .sessions_cancel
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.cancel();
        *c = self.cancel.child_token();
        self.sessions_tx.send_replace(SessionStatus::default());
        if let Some(s) = cfg.clone() {
            let task = tokio::spawn(sessions::run(s, self.sessions_tx.clone(), c.clone()));
            self.lock_tasks().push(task);
        }
        *current = cfg;
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Watch a target: judge after every scrape cycle signalled on `cycles`.
    pub fn attach(
        &self,
        name: &str,
        client: Client,
        model: SharedTarget,
        interval: Duration,
        mode: Mode,
        cycles: watch::Receiver<u64>,
    ) {
        let settings = self.inner.settings();
        let ctx = Arc::new(TargetCtx {
            name: name.to_string(),
            client,
            model,
            interval,
            ledger: Mutex::new(Ledger::new(
                name,
                mode,
                settings.releases_per_hour,
                now_millis(),
            )),
            pending: Mutex::new(Vec::new()),
            cancel: self.cancel.child_token(),
        });
        let unresolved = self
            .inner
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .unwrap_or_default();
        reconcile::add(&ctx, unresolved);
        self.inner.board.set_mode(name, mode, &self.inner.policy());
        if let Some(old) = self
            .inner
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), ctx.clone())
        {
            old.cancel.cancel();
            let carried = std::mem::take(&mut *old.pending());
            reconcile::add(&ctx, carried);
        }
        let task = tokio::spawn(judge::run(self.inner.clone(), ctx, cycles));
        let mut tasks = self.lock_tasks();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Stop watching a target; its zombies leave the board.
    pub fn detach(&self, name: &str) {
        if let Some(t) = self
            .inner
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
        {
            t.cancel.cancel();
            let left = std::mem::take(&mut *t.pending());
            if !left.is_empty() {
                self.inner
                    .unresolved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(name.to_string())
                    .or_default()
                    .extend(left);
            }
        }
        self.inner.board.remove(name);
    }

    /// Apply a reloaded configuration: settings, policy, modes, session
    /// source; the audit log is reopened (rotation).
    pub fn reload(
        &self,
        cfg: &ReaperConfig,
        policy: &PolicyConfig,
        modes: &BTreeMap<String, Mode>,
    ) -> Result<(), ReaperError> {
        let settings = settings_of(cfg)?;
        let policy = Arc::new(Policy::new(policy)?);
        let now = now_millis();
        for t in self.inner.all_targets() {
            let mode = modes.get(&t.name).copied().unwrap_or(cfg.mode);
            t.ledger().configure(mode, settings.releases_per_hour, now);
            self.inner.board.set_mode(&t.name, mode, &policy);
        }
        *self
            .inner
            .policy
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = settings;
        if cfg.audit_log.as_deref() != self.inner.audit.path() {
            tracing::warn!("reaper.audit_log changes need a restart; keeping the old path");
        }
        self.set_session_source(cfg.sessions.clone());
        self.reopen_audit();
        Ok(())
    }

    /// Reopen the audit log (after rotation).
    pub fn reopen_audit(&self) {
        if let Err(e) = self.inner.audit.reopen() {
            tracing::error!(error = %e, "cannot reopen the audit log");
        }
    }

    /// The zombies board (metrics, API).
    pub fn board(&self) -> &Board {
        &self.inner.board
    }

    pub fn session_status(&self) -> SessionStatus {
        self.inner.session_status()
    }

    /// Whether mutating API calls are enabled, and with which token.
    pub fn token(&self) -> Option<String> {
        self.inner.settings().token
    }

    /// Release `object` on behalf of the operator, through the same checks.
    pub async fn release_manually(&self, object: &str) -> Result<Report, ManualError> {
        manual::release(&self.inner, object).await
    }

    /// Stop judging and acting; a release being sent is awaited up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.cancel.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.lock_tasks());
        let _ = tokio::time::timeout(grace, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests;
