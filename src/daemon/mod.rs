//! The daemon's lifecycle: wires config, store, metrics, the HTTP server and
//! one scrape task and one probe task (start-up sweep of leftovers, synthetic probe:
//! `own::probe`) per target; applies reloaded configurations (targets
//! added, removed or changed live); drains on shutdown within a grace time.
//!
//! In a cluster (`[cluster]`) it runs only the targets this member owns,
//! and starts and stops them as the member list changes (`rebalance`).
//!
//! Signals are mapped onto these calls by `run_until_signal`; tests, the demo
//! and benchmarks drive a `Daemon` directly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterCollector};
use crate::config::Config;
use crate::http::{self, AppState, HttpError, Limits};
use crate::kms::Clients;
use crate::metrics::{Metrics, Settings};
use crate::model::Store;
use crate::own::{Member, Ownership, Players, ProbeConfig, ProbeTask, Watches};
use crate::reaper::{Board, Mode, Reaper, ReaperCollector, ReaperError};
use crate::scrape::{client_for, run_target, TargetSpec};
use crate::web::{Shared, Web, WebError};

mod signals;
pub use signals::run_until_signal;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("reaper: {0}")]
    Reaper(#[from] ReaperError),
    #[error("http.web_config_file: {0}")]
    Web(#[from] WebError),
}

struct RunningTarget {
    spec: TargetSpec,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    /// Leftover sweep and synthetic probe (`own::probe::run_target`).
    probe: JoinHandle<()>,
}

/// A running exporter.
pub struct Daemon {
    addr: SocketAddr,
    store: Store,
    metrics: Arc<Metrics>,
    readiness: Arc<RwLock<Vec<String>>>,
    targets: BTreeMap<String, RunningTarget>,
    http_cancel: CancellationToken,
    http: JoinHandle<()>,
    /// The web config in force (TLS, basic auth), re-read on reload.
    web: Shared,
    reaper: Reaper,
    /// The targets' clients, for the operator API's live reads.
    clients: Clients,
    api: Arc<RwLock<crate::config::ApiConfig>>,
    probe: Arc<RwLock<ProbeConfig>>,
    /// Who this process is, as tags on what it creates.
    me: Ownership,
    players: Players,
    /// The console's refresh pace (`AppState::scrape_interval`).
    scrape_interval: Arc<RwLock<Duration>>,
    /// This member, in a cluster; its registration task.
    cluster: Option<(Cluster, CancellationToken, JoinHandle<()>)>,
    config: Config,
}

impl Daemon {
    /// Bind the HTTP server and start watching every target.
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let web = Shared::new(Web::load(config.http.web_config_file.as_deref())?);
        let listener = http::bind(config.listen).await?;
        let addr = listener.local_addr().unwrap_or(config.listen);
        let store = Store::default();
        let board = Board::default();
        let cluster = config
            .cluster
            .enabled()
            .then(|| Cluster::new(&config.cluster));
        let mut collectors: Vec<Box<dyn prometheus_client::collector::Collector>> =
            vec![Box::new(ReaperCollector::new(board.clone()))];
        if let Some(c) = &cluster {
            collectors.push(Box::new(ClusterCollector::new(c.clone())));
        }
        let metrics = Arc::new(Metrics::with_collectors(
            store.clone(),
            config.scrape.tag_labels.clone(),
            config.scrape.max_endpoints,
            collectors,
        ));
        metrics.set_settings(Settings {
            tag_labels: config.scrape.tag_labels.clone(),
            max_endpoints: config.scrape.max_endpoints,
            stale_cycles: config.scrape.stale_series_cycles,
            contract: config.metrics.clone(),
        });
        let reaper = Reaper::start(
            &config.reaper,
            &config.policy,
            board,
            metrics.exporter.clone(),
        )?;
        let readiness = Arc::new(RwLock::new(config.readiness.targets.clone()));
        let clients = Clients::default();
        let api = Arc::new(RwLock::new(config.api.clone()));
        let probe = Arc::new(RwLock::new(config.probe.clone()));
        let mut me = Ownership::new(config.policy.owner_tag.clone());
        if let Some(c) = &cluster {
            me = me.in_cluster(Member {
                id: c.member().to_string(),
                alive: c.spared(),
            });
        }
        let cluster = cluster.map(|c| start_member(c, &reaper));
        let players = Players::new(me.clone());
        let scrape_interval = Arc::new(RwLock::new(config.scrape.interval));
        let state = AppState {
            metrics: metrics.clone(),
            store: store.clone(),
            readiness: readiness.clone(),
            reaper: Some(reaper.clone()),
            clients: clients.clone(),
            api: api.clone(),
            watches: Watches::default(),
            players: players.clone(),
            scrape_interval: scrape_interval.clone(),
            live: Default::default(),
            cluster: cluster.as_ref().map(|c| c.0.clone()),
        };
        let limits = Limits::from(&config.http);
        let http_cancel = CancellationToken::new();
        let http = tokio::spawn(http::serve(
            listener,
            state,
            limits,
            web.clone(),
            http_cancel.clone(),
        ));
        let mut d = Daemon {
            addr,
            store,
            metrics,
            readiness,
            targets: BTreeMap::new(),
            http_cancel,
            http,
            web,
            reaper,
            clients,
            api,
            probe,
            me,
            players,
            scrape_interval,
            cluster,
            config: config.clone(),
        };
        d.sync_targets(&config);
        d.metrics.exporter.config_reloaded(true, now_seconds());
        let web = d.web.current();
        tracing::info!(
            %addr,
            targets = d.targets.len(),
            tls = web.tls.is_some(),
            basic_auth = web.users.is_some(),
            "kurento-exporter started"
        );
        Ok(d)
    }

    /// Where the HTTP server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether new connections are served over TLS (the web config in force).
    pub fn serves_tls(&self) -> bool {
        self.web.current().tls.is_some()
    }

    /// The models of every target (read-only use).
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The reaper (zombies board, manual releases).
    pub fn reaper(&self) -> &Reaper {
        &self.reaper
    }

    /// Apply a new configuration: targets added, removed or changed; series
    /// settings and readiness updated; the web config re-read (users
    /// from the next request, TLS for the connections accepted from then
    /// on; kept when it cannot be loaded). The listen address needs a restart.
    pub fn reload(&mut self, mut config: Config) {
        if config.listen != self.config.listen {
            tracing::warn!(old = %self.config.listen, new = %config.listen, "listen address changes need a restart; keeping the old one");
        }
        if config.cluster != self.config.cluster {
            tracing::warn!("[cluster] changes need a restart; keeping the old settings");
            config.cluster = self.config.cluster.clone();
        }
        self.sync_targets(&config);
        let reaper = self
            .reaper
            .reload(&config.reaper, &config.policy, &modes(&config));
        if let Err(e) = &reaper {
            tracing::error!(error = %e, "reaper settings not reloaded; keeping the old ones");
        }
        let web = self.reload_web(&config);
        self.metrics
            .exporter
            .config_reloaded(reaper.is_ok() && web, now_seconds());
        self.metrics.set_settings(Settings {
            tag_labels: config.scrape.tag_labels.clone(),
            max_endpoints: config.scrape.max_endpoints,
            stale_cycles: config.scrape.stale_series_cycles,
            contract: config.metrics.clone(),
        });
        *self
            .readiness
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config.readiness.targets.clone();
        *self.api.write().unwrap_or_else(PoisonError::into_inner) = config.api.clone();
        *self.probe.write().unwrap_or_else(PoisonError::into_inner) = config.probe.clone();
        *self
            .scrape_interval
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config.scrape.interval;
        self.config = config;
        tracing::info!(targets = self.targets.len(), "configuration reloaded");
    }

    /// Re-read the web config; whether it is now in force.
    fn reload_web(&self, config: &Config) -> bool {
        match Web::load(config.http.web_config_file.as_deref()) {
            Ok(web) => {
                tracing::info!(
                    tls = web.tls.is_some(),
                    basic_auth = web.users.is_some(),
                    "web config loaded"
                );
                self.web.replace(web);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "http.web_config_file not reloaded; keeping the running one");
                false
            }
        }
    }

    /// Changes of the cluster's view (none outside a cluster): call
    /// `rebalance` on each (`run_until_signal` does; a member driven
    /// otherwise runs only what it owned at its last `rebalance`).
    pub fn cluster_changes(&self) -> Option<tokio::sync::watch::Receiver<crate::cluster::Status>> {
        self.cluster.as_ref().map(|c| c.0.subscribe())
    }

    /// Start and stop targets as this member's share changed.
    pub fn rebalance(&mut self) {
        let config = self.config.clone();
        self.sync_targets(&config);
    }

    fn sync_targets(&mut self, config: &Config) {
        let status = self.cluster.as_ref().map(|c| c.0.status());
        let wanted: BTreeMap<String, TargetSpec> = config
            .targets
            .iter()
            .filter(|t| status.as_ref().is_none_or(|s| s.owns(&t.name)))
            .map(|t| {
                (
                    t.name.clone(),
                    TargetSpec {
                        name: t.name.clone(),
                        url: t.url.clone(),
                        scrape: config.scrape.clone(),
                    },
                )
            })
            .collect();
        let stale: Vec<String> = self
            .targets
            .iter()
            .filter(|(name, run)| wanted.get(*name) != Some(&run.spec))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(run) = self.targets.remove(&name) {
                run.cancel.cancel();
                run.task.abort();
                // The probe task releases its run's objects, then ends.
                drop(run.probe);
            }
            self.metrics.exporter.probe.forget(&name);
            self.reaper.detach(&name);
            self.clients.remove(&name);
            self.store.remove(&name);
            if let Some((c, _, _)) = &self.cluster {
                // After the batch running under it, at most.
                c.give_up(
                    &name,
                    config.reaper.release_timeout * 2 + Duration::from_secs(1),
                );
            }
            tracing::info!(kms = %name, "target stopped");
        }
        for (name, spec) in wanted {
            if self.targets.contains_key(&name) {
                continue;
            }
            if let Some((c, _, _)) = &self.cluster {
                c.target_started(&name);
            }
            let model = self.store.target(&name);
            let cancel = CancellationToken::new();
            let client = client_for(&spec);
            self.clients.insert(&name, client.clone());
            let (cycles, cycles_rx) = tokio::sync::watch::channel(0u64);
            let mode = modes(config)
                .get(&name)
                .copied()
                .unwrap_or(config.reaper.mode);
            self.reaper.attach(
                &name,
                client.clone(),
                model.clone(),
                spec.scrape.interval,
                mode,
                cycles_rx,
            );
            let probe = tokio::spawn(crate::own::probe::run_target(ProbeTask {
                kms: name.clone(),
                client: client.clone(),
                config: self.probe.clone(),
                me: self.me.clone(),
                metrics: self.metrics.exporter.probe.clone(),
                cancel: cancel.clone(),
                swept: Some(self.sweep_log()),
            }));
            let task = tokio::spawn(run_target(
                spec.clone(),
                client,
                model,
                self.metrics.exporter.clone(),
                cycles,
                cancel.clone(),
            ));
            tracing::info!(kms = %name, url = %spec.url, "target started");
            self.targets.insert(
                name,
                RunningTarget {
                    spec,
                    cancel,
                    task,
                    probe,
                },
            );
        }
        if let (Some((c, _, _)), Some(view)) = (&self.cluster, status) {
            c.set_targets(crate::cluster::Acting {
                configured: config.targets.iter().map(|t| t.name.clone()).collect(),
                running: self.targets.keys().cloned().collect(),
                view,
            });
        }
    }

    /// The sweep's releases, into the audit log.
    fn sweep_log(&self) -> crate::own::SweepLog {
        let reaper = self.reaper.clone();
        Arc::new(move |kms: &str, released: &[crate::own::Leftover]| {
            let list: Vec<(&str, Option<&str>, Option<&str>)> = released
                .iter()
                .map(|l| {
                    (
                        l.object.as_str(),
                        l.member.as_deref(),
                        l.instance.as_deref(),
                    )
                })
                .collect();
            reaper.audit_leftovers(kms, &list);
        })
    }

    /// Stop scraping and serving; waits at most `grace`. Returns whether
    /// everything finished in time.
    pub async fn shutdown(self, grace: Duration) -> bool {
        for run in self.targets.values() {
            run.cancel.cancel();
        }
        self.http_cancel.cancel();
        let reaper = self.reaper.clone();
        let players = self.players.clone();
        let all = async {
            reaper.shutdown(grace).await;
            players.shutdown().await;
            for (_, run) in self.targets {
                let _ = run.task.await;
                let _ = run.probe.await;
            }
            let _ = self.http.await;
            // Then leave the cluster (lease revoked, with it the locks): the
            // others take the targets over at once.
            if let Some((_, cancel, task)) = self.cluster {
                cancel.cancel();
                let _ = task.await;
            }
        };
        tokio::time::timeout(grace, all).await.is_ok()
    }
}

/// Register this member (feature `cluster`): its lock fences the reaper.
#[cfg(feature = "cluster")]
fn start_member(c: Cluster, reaper: &Reaper) -> (Cluster, CancellationToken, JoinHandle<()>) {
    reaper.set_fence(Arc::new(c.clone()));
    let cancel = CancellationToken::new();
    let task = crate::cluster::start(&c, cancel.clone());
    (c, cancel, task)
}

/// Without the `cluster` feature the configuration refuses `[cluster]`
/// (`ClusterConfig::problems`): a member that never registers owns nothing.
#[cfg(not(feature = "cluster"))]
fn start_member(c: Cluster, _reaper: &Reaper) -> (Cluster, CancellationToken, JoinHandle<()>) {
    tracing::error!("built without the `cluster` feature: this member never registers");
    (c, CancellationToken::new(), tokio::spawn(async {}))
}

/// Now, seconds since the epoch (the reload timestamp gauge).
pub(crate) fn now_seconds() -> f64 {
    crate::clock::now_millis() as f64 / 1000.0
}

/// The reaper mode of every configured target.
fn modes(config: &Config) -> BTreeMap<String, Mode> {
    config
        .targets
        .iter()
        .map(|t| (t.name.clone(), t.mode(&config.reaper)))
        .collect()
}
