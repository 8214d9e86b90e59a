//! Everything on `/metrics`: the contract (`contract`), the per-element part
//! pre-rendered once per sync cycle per target (`expo`), and one registry
//! owned by the daemon (no global registry) for the exporter's own
//! instruments, the target-level families (`collector`) and other parts'
//! collectors; `serve` assembles the shared page, as Prometheus text or
//! OpenMetrics by content negotiation, gzipped when asked.

mod collector;
pub mod contract;
mod expo;
mod family;
mod fleet;
mod probe;
#[cfg(target_os = "linux")]
mod process;
mod serve;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub use collector::{ModelCollector, Settings};
pub use contract::MetricsConfig;
pub use expo::{Exposition, RenderCount};
pub use family::Labels;
pub use fleet::{quality, FleetHistograms, Quality};
pub use probe::ProbeMetrics;
pub use serve::{accepts_gzip, Served};
use std::sync::{Arc, PoisonError, RwLock};

use crate::model::Store;

/// Why something went wrong, as a bounded label set.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ErrorKind {
    connect,
    disconnected,
    timeout,
    protocol,
    kms_error,
    sync_failed,
    event_lagged,
}

/// Outcome of one KMS request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    ok,
    not_found,
    timeout,
    disconnected,
    kms_error,
    protocol,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KmsLabels {
    kms: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    kms: String,
    method: &'static str,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    kms: String,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReaperLabels {
    kms: String,
    rule: String,
    action: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kms: String,
    kind: ErrorKind,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn sync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// The exporter's own instruments, updated by the scrape tasks.
#[derive(Debug, Clone)]
pub struct ExporterMetrics {
    sync_duration: Family<KmsLabels, Histogram, fn() -> Histogram>,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    errors: Family<ErrorLabels, Counter>,
    requests_per_endpoint: Family<KmsLabels, Gauge<f64, AtomicU64>>,
    reaper_actions: Family<ReaperLabels, Counter>,
    /// Sum and count of sync durations per target (readable, unlike the histogram).
    sync_totals: Arc<std::sync::Mutex<std::collections::HashMap<String, (f64, u64)>>>,
    /// The synthetic probe's results.
    pub probe: ProbeMetrics,
    /// Fleet distributions, observed once per sync cycle.
    pub fleet: FleetHistograms,
    /// The targets' pre-rendered parts of `/metrics` (published once per cycle).
    pub pages: Exposition,
    /// 1 when the last configuration (re)load was applied, 0 when refused.
    config_reload_ok: Gauge,
    /// When the configuration was last applied, seconds since the epoch.
    config_reload_at: Gauge<f64, AtomicU64>,
}

impl ExporterMetrics {
    fn new(settings: Arc<RwLock<Settings>>) -> Self {
        ExporterMetrics {
            pages: Exposition::new(settings),
            sync_duration: Family::new_with_constructor(sync_histogram),
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(latency_histogram),
            errors: Family::default(),
            requests_per_endpoint: Family::default(),
            reaper_actions: Family::default(),
            sync_totals: Arc::default(),
            probe: ProbeMetrics::default(),
            fleet: FleetHistograms::default(),
            config_reload_ok: Gauge::default(),
            config_reload_at: Gauge::default(),
        }
    }

    /// A configuration was applied (`ok`, at `at_seconds` since the epoch)
    /// or refused (the one in force stays, and so does its timestamp).
    pub fn config_reloaded(&self, ok: bool, at_seconds: f64) {
        self.config_reload_ok.set(i64::from(ok));
        if ok {
            self.config_reload_at.set(at_seconds);
        }
    }

    /// One KMS request finished.
    pub fn rpc(&self, kms: &str, method: &'static str, outcome: Outcome, seconds: f64) {
        let kms = kms.to_string();
        self.rpc_requests
            .get_or_create(&RpcLabels {
                kms: kms.clone(),
                method,
                outcome,
            })
            .inc();
        self.rpc_duration
            .get_or_create(&MethodLabels { kms, method })
            .observe(seconds);
    }

    /// One sync cycle of `kms` took `seconds`.
    pub fn sync(&self, kms: &str, seconds: f64) {
        {
            let mut totals = self
                .sync_totals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let t = totals.entry(kms.to_string()).or_insert((0.0, 0));
            t.0 += seconds;
            t.1 += 1;
        }
        self.sync_duration
            .get_or_create(&KmsLabels { kms: kms.into() })
            .observe(seconds);
    }

    pub fn error(&self, kms: &str, kind: ErrorKind) {
        self.errors
            .get_or_create(&ErrorLabels {
                kms: kms.into(),
                kind,
            })
            .inc();
    }

    /// How many errors of `kind` `kms` counted so far (the scrape compares
    /// two readings to judge a cycle).
    pub fn errors_so_far(&self, kms: &str, kind: ErrorKind) -> u64 {
        self.errors
            .get_or_create(&ErrorLabels {
                kms: kms.into(),
                kind,
            })
            .get()
    }

    /// The reaper did `action` under `rule` with `outcome` (bounded label sets).
    pub fn reaper_action(
        &self,
        kms: &str,
        rule: &str,
        action: &'static str,
        outcome: &'static str,
    ) {
        self.reaper_actions
            .get_or_create(&ReaperLabels {
                kms: kms.into(),
                rule: rule.into(),
                action,
                outcome,
            })
            .inc();
    }

    /// The count of `kurento_reaper_actions_total{kms,rule,action,outcome}` so far.
    pub fn reaper_actions(
        &self,
        kms: &str,
        rule: &str,
        action: &'static str,
        outcome: &'static str,
    ) -> u64 {
        self.reaper_actions
            .get(&ReaperLabels {
                kms: kms.into(),
                rule: rule.into(),
                action,
                outcome,
            })
            .map_or(0, |c| c.get())
    }

    /// The last `requests_per_endpoint` value of `kms` (benchmarks, tests).
    pub fn last_requests_per_endpoint(&self, kms: &str) -> Option<f64> {
        self.requests_per_endpoint
            .get(&KmsLabels { kms: kms.into() })
            .map(|g| g.get())
    }

    /// `(sum of seconds, count)` of the sync cycles of `kms` so far.
    pub fn sync_totals(&self, kms: &str) -> (f64, u64) {
        self.sync_totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kms)
            .copied()
            .unwrap_or((0.0, 0))
    }

    /// KMS requests per endpoint in the last stats cycle of `kms`.
    pub fn requests_per_endpoint(&self, kms: &str, value: f64) {
        self.requests_per_endpoint
            .get_or_create(&KmsLabels { kms: kms.into() })
            .set(value);
    }
}

/// The registry behind `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    settings: Arc<RwLock<Settings>>,
    store: Store,
    /// The last page assembled, per format.
    pages: serve::Pages,
    pub exporter: ExporterMetrics,
}

/// `(content type, body)` of a rendered page.
pub type Page = (&'static str, String);

pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    pub fn new(store: Store, tag_labels: Vec<String>, max_endpoints: usize) -> Self {
        Self::with_collectors(store, tag_labels, max_endpoints, Vec::new())
    }

    /// As `new`, with the collectors other parts own (the reaper's board):
    /// each is encoded at scrape time after the model's series.
    pub fn with_collectors(
        store: Store,
        tag_labels: Vec<String>,
        max_endpoints: usize,
        collectors: Vec<Box<dyn Collector>>,
    ) -> Self {
        let settings = Arc::new(RwLock::new(Settings {
            tag_labels,
            max_endpoints,
            stale_cycles: collector::DEFAULT_STALE_CYCLES,
            contract: MetricsConfig::default(),
        }));
        let mut registry = Registry::default();
        let exporter = ExporterMetrics::new(settings.clone());
        registry.register(
            "kurento_exporter_build",
            "Version, git revision and compiler of kurento-exporter",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", env!("KURENTO_EXPORTER_GIT_REVISION")),
                ("rustc_version", env!("KURENTO_EXPORTER_RUSTC_VERSION")),
            ]),
        );
        registry.register(
            "kurento_exporter_config_last_reload_successful",
            "1 when the last configuration load or reload (SIGHUP) was applied, 0 when it was refused",
            exporter.config_reload_ok.clone(),
        );
        registry.register(
            "kurento_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration in force was applied, seconds since the epoch",
            exporter.config_reload_at.clone(),
        );
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(process::ProcessCollector));
        registry.register(
            "kurento_exporter_sync_duration_seconds",
            "Duration of one sync cycle of a target",
            exporter.sync_duration.clone(),
        );
        registry.register(
            "kurento_exporter_rpc_requests",
            "KMS requests sent, by method and outcome",
            exporter.rpc_requests.clone(),
        );
        registry.register(
            "kurento_exporter_rpc_duration_seconds",
            "Duration of KMS requests",
            exporter.rpc_duration.clone(),
        );
        registry.register(
            "kurento_exporter_errors",
            "Errors by kind",
            exporter.errors.clone(),
        );
        registry.register(
            "kurento_exporter_requests_per_endpoint",
            "KMS requests per RTP endpoint (WebRtcEndpoint, RtpEndpoint) in the last sync cycle, every other element's reads and unref included",
            exporter.requests_per_endpoint.clone(),
        );
        registry.register(
            "kurento_reaper_actions",
            "Reaper actions (flag, would_release, release) by rule and outcome",
            exporter.reaper_actions.clone(),
        );
        exporter.probe.register(&mut registry);
        exporter.fleet.register(&mut registry);
        registry.register_collector(Box::new(ModelCollector::new(
            store.clone(),
            settings.clone(),
        )));
        for c in collectors {
            registry.register_collector(c);
        }
        Metrics {
            registry,
            settings,
            store,
            pages: serve::Pages::default(),
            exporter,
        }
    }

    /// New series settings (configuration reload): the targets' parts are
    /// rendered anew at their next cycle.
    pub fn set_settings(&self, s: Settings) {
        let mut cur = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if *cur != s {
            *cur = s;
            drop(cur);
            self.exporter.pages.settings_changed();
        }
    }

    fn read_settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn gzip_level(&self) -> u32 {
        self.read_settings().contract.gzip_level
    }

    fn stale_cycles(&self) -> u32 {
        self.read_settings().stale_cycles
    }

    /// The whole page for a request with this `Accept` header, as one
    /// string (tests and tools; the server sends `serve`'s chunks).
    pub fn render(&self, accept: Option<&str>) -> Result<Page, std::fmt::Error> {
        let served = self.serve(accept, false)?;
        let mut body = Vec::with_capacity(served.len());
        for b in &served.body {
            body.extend_from_slice(b);
        }
        let text = String::from_utf8(body).map_err(|_| std::fmt::Error)?;
        Ok((served.content_type, text))
    }
}

#[cfg(test)]
mod page_tests;
#[cfg(test)]
mod tests;
