//! One probe run (`probe_once`) and the per-target task (`run_target`):
//! start-up release of leftovers, then a run every `probe.interval` while the
//! probe is enabled for the target.
//!
//! ```text
//!   connect   own KMS session (a new connection with the target's settings)
//!   create    pipeline, PlayerEndpoint(uri), WebRtcEndpoint ×2, each tagged;
//!             player → first endpoint; play
//!   negotiate first.generateOffer → second.processOffer → first.processAnswer;
//!             gatherCandidates on both
//!   ice       IceCandidateFound of each → addIceCandidate on the other, until
//!             every ICE component of both is CONNECTED/READY (FAILED: fails)
//!   media     until the second endpoint's media flows out (what its peer,
//!             the first endpoint, sends it)
//!   release   release the pipeline (whatever happened), close the session
//! ```
//!
//! The whole run (release excepted) is bounded by `probe.timeout`; a timeout
//! or a shutdown fails the phase in progress and still releases. A release
//! that fails is retried before the next run; a crash is covered by the
//! start-up sweep (`own::sweep`).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::kms::call::{within, CallError};
use crate::kms::types::{IceCandidate, IceComponentState, MediaType};
use crate::kms::{Client, ClientError, ConnectionConfig, EventKind, EventType, Notice};
use crate::metrics::ProbeMetrics;

use crate::own::session;
use crate::own::sweep::sweep;
use crate::own::tags::Ownership;

use super::config::ProbeConfig;

/// Why a probe phase failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("ICE failed on {0}")]
    IceFailed(String),
    #[error("cancelled (daemon shutting down)")]
    Cancelled,
}

impl From<ClientError> for ProbeError {
    fn from(e: ClientError) -> Self {
        ProbeError::Call(e.into())
    }
}

/// A phase of a probe run (the `phase` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Create,
    Negotiate,
    Ice,
    Media,
    Release,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Create => "create",
            Phase::Negotiate => "negotiate",
            Phase::Ice => "ice",
            Phase::Media => "media",
            Phase::Release => "release",
        }
    }
}

/// What one run found.
#[derive(Debug, Clone, Default)]
pub struct ProbeReport {
    /// Each phase that ran, with its duration (the failed one included).
    pub phases: Vec<(Phase, Duration)>,
    /// The phase that failed, and why.
    pub failed: Option<(Phase, String)>,
    /// The run's pipeline, if it was created.
    pub pipeline: Option<String>,
    /// The pipeline, if releasing it failed (retried later).
    pub leftover: Option<String>,
    /// The whole run.
    pub total: Duration,
}

impl ProbeReport {
    pub fn success(&self) -> bool {
        self.failed.is_none()
    }
}

/// A run in progress.
struct Run<'a> {
    client: &'a Client,
    notices: broadcast::Receiver<Notice>,
    me: &'a Ownership,
    uri: &'a str,
    limit: Duration,
    phase: Phase,
    started: Instant,
    report: ProbeReport,
    eps: [String; 2],
}

impl Run<'_> {
    fn enter(&mut self, phase: Phase) {
        let now = Instant::now();
        let took = now - self.started;
        self.report.phases.push((self.phase, took));
        self.phase = phase;
        self.started = now;
    }

    async fn create(&mut self) -> Result<(), ProbeError> {
        let (c, limit) = (self.client, self.limit);
        let pipeline = c.create_pipeline().await?;
        self.report.pipeline = Some(pipeline.clone());
        self.me.tag(c, &pipeline, limit).await?;
        let mut cp = serde_json::Map::new();
        cp.insert("mediaPipeline".into(), pipeline.as_str().into());
        cp.insert("uri".into(), self.uri.into());
        let player = c.create("PlayerEndpoint", cp, Default::default()).await?;
        self.me.tag(c, &player, limit).await?;
        for i in 0..2 {
            let ep = c.create_element("WebRtcEndpoint", &pipeline).await?;
            self.me.tag(c, &ep, limit).await?;
            self.eps[i] = ep;
        }
        c.connect_elements(&player, &self.eps[0], None).await?;
        c.play(&player).await?;
        Ok(())
    }

    async fn negotiate(&mut self) -> Result<(), ProbeError> {
        let c = self.client;
        let [a, b] = &self.eps;
        for ep in [a, b] {
            c.subscribe(ep, EventType::IceCandidateFound).await?;
        }
        let offer = c.generate_offer(a).await?;
        let answer = c.process_offer(b, &offer).await?;
        c.process_answer(a, &answer).await?;
        c.gather_candidates(a).await?;
        c.gather_candidates(b).await?;
        Ok(())
    }

    /// Hand each endpoint the candidates the other announced so far.
    async fn trickle(&mut self) -> Result<(), ProbeError> {
        loop {
            let found: Option<(String, IceCandidate)> = match self.notices.try_recv() {
                Ok(Notice::Event(ev)) => match ev.kind {
                    EventKind::IceCandidateFound { candidate } => Some((ev.object, candidate)),
                    _ => None,
                },
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => None,
                Err(_) => return Ok(()),
            };
            if let Some((from, cand)) = found {
                let to = if from == self.eps[0] {
                    &self.eps[1]
                } else if from == self.eps[1] {
                    &self.eps[0]
                } else {
                    continue;
                };
                self.client.add_ice_candidate(to, &cand).await?;
            }
        }
    }

    async fn ice(&mut self) -> Result<(), ProbeError> {
        loop {
            self.trickle().await?;
            let mut all = true;
            for ep in self.eps.clone() {
                let states = self.client.get_ice_connection_state(&ep).await?;
                if states.iter().any(|s| s.state == IceComponentState::FAILED) {
                    return Err(ProbeError::IceFailed(ep));
                }
                all &= !states.is_empty()
                    && states.iter().all(|s| {
                        matches!(
                            s.state,
                            IceComponentState::CONNECTED | IceComponentState::READY
                        )
                    });
            }
            if all {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn media(&mut self) -> Result<(), ProbeError> {
        loop {
            self.trickle().await?;
            let second = &self.eps[1];
            if self
                .client
                .is_media_flowing_out(second, MediaType::VIDEO)
                .await?
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every phase from `Create` (the one in progress) on.
    async fn steps(&mut self) -> Result<(), ProbeError> {
        self.create().await?;
        self.enter(Phase::Negotiate);
        self.negotiate().await?;
        self.enter(Phase::Ice);
        self.ice().await?;
        self.enter(Phase::Media);
        self.media().await
    }
}

/// Release `pipeline` on `client` within `limit`.
async fn release(client: &Client, pipeline: &str, limit: Duration) -> Result<(), CallError> {
    within(limit, client.release(pipeline)).await
}

/// One probe run on a new session of `conn`'s KMS; never leaves its objects
/// behind unless KMS cannot be told to release them (then `leftover`).
pub async fn probe_once(
    conn: ConnectionConfig,
    cfg: &ProbeConfig,
    me: &Ownership,
    cancel: &CancellationToken,
) -> ProbeReport {
    let begun = Instant::now();
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let limit = conn.request_timeout.min(cfg.timeout);
    let report = ProbeReport::default();
    let mut conn = conn;
    conn.connect_timeout = conn.connect_timeout.min(cfg.timeout);
    let client = tokio::select! {
        r = tokio::time::timeout_at(deadline, Client::connect(conn)) => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return failed_to_connect(report, begun, e.to_string()),
            Err(_) => return failed_to_connect(report, begun, format!("no connection within {:?}", cfg.timeout)),
        },
        _ = cancel.cancelled() => return failed_to_connect(report, begun, ProbeError::Cancelled.to_string()),
    };
    let mut run = Run {
        notices: client.notices(),
        client: &client,
        me,
        uri: &cfg.uri,
        limit,
        phase: Phase::Create,
        started: Instant::now(),
        report: ProbeReport {
            phases: vec![(Phase::Connect, begun.elapsed())],
            ..ProbeReport::default()
        },
        eps: Default::default(),
    };
    let outcome = tokio::select! {
        r = tokio::time::timeout_at(deadline, run.steps()) => {
            r.unwrap_or(Err(CallError::Timeout(cfg.timeout).into()))
        }
        _ = cancel.cancelled() => Err(ProbeError::Cancelled),
    };
    let phase = run.phase;
    run.report.phases.push((phase, run.started.elapsed()));
    if let Err(e) = outcome {
        run.report.failed = Some((phase, e.to_string()));
    }
    let mut report = std::mem::take(&mut run.report);
    drop(run);
    let at = Instant::now();
    if let Some(p) = &report.pipeline {
        if let Err(e) = release(&client, p, limit).await {
            tracing::warn!(pipeline = %p, error = %e, "probe pipeline not released; retried later");
            report.leftover = Some(p.clone());
            if report.failed.is_none() {
                report.failed = Some((Phase::Release, e.to_string()));
            }
        }
    }
    session::close(&client, limit).await;
    report.phases.push((Phase::Release, at.elapsed()));
    report.total = begun.elapsed();
    report
}

fn failed_to_connect(mut report: ProbeReport, begun: Instant, why: String) -> ProbeReport {
    report.phases.push((Phase::Connect, begun.elapsed()));
    report.failed = Some((Phase::Connect, why));
    report.total = begun.elapsed();
    report
}

/// What the per-target task needs.
pub struct ProbeTask {
    pub kms: String,
    /// The target's shared client: only its connection settings are used.
    pub client: Client,
    /// `[probe]` in force (reloadable).
    pub config: Arc<RwLock<ProbeConfig>>,
    pub me: Ownership,
    pub metrics: ProbeMetrics,
    pub cancel: CancellationToken,
    /// Told of the leftovers each sweep released (the audit log).
    pub swept: Option<crate::own::sweep::SweepLog>,
}

impl ProbeTask {
    fn config(&self) -> ProbeConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn conn(&self) -> ConnectionConfig {
        self.client.connection().config().clone()
    }

    /// Sleep `d`; false when cancelled.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// Release leftovers (of earlier processes, or `pending` of this one) on
    /// a session of its own; true when done.
    async fn sweep(&self, pending: &mut Vec<String>) -> bool {
        sweep(
            &self.kms,
            self.conn(),
            &self.me,
            pending,
            self.swept.as_ref(),
        )
        .await
    }
}

/// The per-target task: release leftovers once (retrying until KMS answers),
/// again whenever the cluster's spared members change, then probe every
/// interval while enabled. Ends when cancelled, after the
/// run in progress released its objects.
pub async fn run_target(mut task: ProbeTask) {
    let mut pending = Vec::new();
    while !task.sweep(&mut pending).await {
        let retry = task.conn().request_timeout.max(Duration::from_secs(1));
        if !task.pause(retry).await {
            return;
        }
    }
    loop {
        let cfg = task.config();
        if task.me.members_changed() {
            // In a cluster, a member's grace ran out: its leftovers go now.
            task.sweep(&mut pending).await;
        }
        if cfg.probes(&task.kms) {
            if !pending.is_empty() {
                task.sweep(&mut pending).await;
            }
            let r = probe_once(task.conn(), &cfg, &task.me, &task.cancel).await;
            record(&task, &r);
            pending.extend(r.leftover.clone());
        } else {
            // Disabled by a reload: no stale result (KurentoProbeNotRunning).
            task.metrics.forget(&task.kms);
        }
        if !task.pause(cfg.interval).await {
            break;
        }
    }
    if !pending.is_empty() {
        task.sweep(&mut pending).await;
    }
}

fn record(task: &ProbeTask, r: &ProbeReport) {
    let mut phases: Vec<(&'static str, f64)> = r
        .phases
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_secs_f64()))
        .collect();
    phases.push(("total", r.total.as_secs_f64()));
    let failed = r.failed.as_ref().map(|(p, _)| p.as_str());
    let now = crate::clock::now_secs();
    task.metrics.record(&task.kms, &phases, failed, now);
    match &r.failed {
        None => tracing::info!(kms = %task.kms, total = ?r.total, "probe succeeded"),
        Some((p, why)) => {
            tracing::warn!(kms = %task.kms, phase = p.as_str(), error = %why, "probe failed")
        }
    }
}
