//! The synthetic probe's instruments: `kurento_probe_success{kms}`,
//! `kurento_probe_duration_seconds{kms,phase}` (the last run's phases),
//! `kurento_probe_last_run_timestamp_seconds{kms}` and
//! `kurento_probe_failures_total{kms,phase}` (the phase that failed).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kms {
    kms: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KmsPhase {
    kms: String,
    phase: &'static str,
}

/// Results of the probe runs, per target.
#[derive(Debug, Clone, Default)]
pub struct ProbeMetrics {
    success: Family<Kms, Gauge>,
    duration: Family<KmsPhase, Gauge<f64, AtomicU64>>,
    last_run: Family<Kms, Gauge<f64, AtomicU64>>,
    failures: Family<KmsPhase, Counter>,
}

impl ProbeMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "kurento_probe_success",
            "Whether the last synthetic media probe run succeeded (1) or failed (0)",
            self.success.clone(),
        );
        registry.register(
            "kurento_probe_duration_seconds",
            "Duration of each phase of the last synthetic probe run (total: the whole run)",
            self.duration.clone(),
        );
        registry.register(
            "kurento_probe_last_run_timestamp_seconds",
            "When the last synthetic probe run ended, seconds since the epoch",
            self.last_run.clone(),
        );
        registry.register(
            "kurento_probe_failures",
            "Failed synthetic probe runs, by the phase that failed",
            self.failures.clone(),
        );
    }

    /// Record one run: its phases' durations, and the failing phase if any.
    pub fn record(
        &self,
        kms: &str,
        phases: &[(&'static str, f64)],
        failed: Option<&'static str>,
        at_seconds: f64,
    ) {
        let k = Kms {
            kms: kms.to_owned(),
        };
        self.success
            .get_or_create(&k)
            .set(i64::from(failed.is_none()));
        for (phase, secs) in phases {
            let l = KmsPhase {
                kms: kms.to_owned(),
                phase,
            };
            self.duration.get_or_create(&l).set(*secs);
        }
        if let Some(phase) = failed {
            let l = KmsPhase {
                kms: kms.to_owned(),
                phase,
            };
            self.failures.get_or_create(&l).inc();
        }
        self.last_run.get_or_create(&k).set(at_seconds);
    }

    /// Drop the series of a target no longer probed.
    pub fn forget(&self, kms: &str) {
        let k = Kms {
            kms: kms.to_owned(),
        };
        self.success.remove(&k);
        self.last_run.remove(&k);
    }
}
