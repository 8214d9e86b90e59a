//! The model collector: the target-level `kurento_*` series (up, server,
//! counts, fleet counts by state), computed from the model when the page is
//! assembled. The per-element series are pre-rendered per cycle (`expo`).
//!
//! KMS is read on the daemon's timer (`scrape.interval`), not at scrape time:
//! values are as old as the last cycle, which HELP texts say.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::family::{family, Family};
use crate::model::{Store, TargetModel};

/// Encodes the model of every target.
#[derive(Debug)]
pub struct ModelCollector {
    store: Store,
    settings: Arc<RwLock<Settings>>,
}

/// What shapes the series; changed on configuration reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Tags exported as labels of `kurento_element_info`.
    pub tag_labels: Vec<String>,
    /// Most elements per target with per-element series.
    pub max_endpoints: usize,
    /// A target disconnected, or whose syncs failed this many times in a
    /// row, has no per-object series (its data is stale); `kurento_up`, the
    /// last-sync time and the counts stay.
    pub stale_cycles: u32,
    /// `[metrics]`: opt-in families and detail.
    pub contract: super::MetricsConfig,
}

/// `Settings::stale_cycles` unless configured (`scrape.stale_series_cycles`).
pub const DEFAULT_STALE_CYCLES: u32 = 2;

impl ModelCollector {
    pub fn new(store: Store, settings: Arc<RwLock<Settings>>) -> Self {
        ModelCollector { store, settings }
    }
}

/// Whether a target's per-element series are left off the page: it is
/// disconnected, or its syncs failed `stale_cycles` times in a row.
pub(super) fn stale(model: &TargetModel, stale_cycles: u32) -> bool {
    let h = &model.health;
    !h.connected || h.failed_syncs >= stale_cycles.max(1)
}

/// A target and how many of its elements the cardinality cap leaves out.
struct View<'a> {
    model: &'a TargetModel,
    dropped: usize,
}

impl<'a> View<'a> {
    fn new(model: &'a TargetModel, max: usize) -> Self {
        View {
            model,
            dropped: model.elements.len().saturating_sub(max),
        }
    }

    fn kms(&self) -> &'a str {
        &self.model.name
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Collector for ModelCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let settings = self
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let targets = self.store.targets();
        let guards: Vec<_> = targets.iter().map(|t| t.read()).collect();
        let views: Vec<View> = guards
            .iter()
            .map(|g| View::new(g, settings.max_endpoints))
            .collect();
        self.encode_targets(&mut enc, &views)
    }
}

/// RTP endpoints counted by (ICE state, media state, flowing).
type StateCounts<'a> = std::collections::BTreeMap<(&'a str, &'a str, &'a str), usize>;

impl ModelCollector {
    fn encode_targets(&self, enc: &mut DescriptorEncoder, views: &[View]) -> fmt::Result {
        use MetricType::{Gauge, Info};
        family(
            enc,
            "kurento_up",
            "1 when the target is connected and its last sync succeeded",
            Gauge,
            |f| {
                for v in views {
                    let h = &v.model.health;
                    f.emit(
                        &vec![("kms", v.kms())],
                        bool_value(h.connected && h.last_sync_ok),
                    )?;
                }
                Ok(())
            },
        )?;
        family(enc, "kurento_server", "KMS version", Info, |f| {
            for v in views {
                if let Some(s) = &v.model.server {
                    f.emit(
                        &vec![("kms", v.kms()), ("version", s.version.as_str())],
                        1.0,
                    )?;
                }
            }
            Ok(())
        })?;
        family(
            enc,
            "kurento_pipelines",
            "Media pipelines on the target",
            Gauge,
            |f| {
                for v in views.iter().filter(|v| v.model.health.synced_once) {
                    f.emit(&vec![("kms", v.kms())], v.model.pipelines.len() as f64)?;
                }
                Ok(())
            },
        )?;
        let per_type: Vec<(&str, std::collections::BTreeMap<&str, usize>)> = views
            .iter()
            .filter(|v| v.model.health.synced_once)
            .map(|v| {
                let mut m = std::collections::BTreeMap::new();
                for e in v.model.elements.values() {
                    *m.entry(e.element_type.as_str()).or_insert(0) += 1;
                }
                (v.kms(), m)
            })
            .collect();
        family(
            enc,
            "kurento_elements",
            "Media elements on the target, by type",
            Gauge,
            |f| {
                for (kms, m) in &per_type {
                    for (ty, n) in m {
                        f.emit(&vec![("kms", *kms), ("element_type", *ty)], *n as f64)?;
                    }
                }
                Ok(())
            },
        )?;
        // RTP endpoints by ICE state, media state and flow either way:
        // a fleet view that never reads per-endpoint series.
        let per_state: Vec<(&str, StateCounts<'_>)> = views
            .iter()
            .filter(|v| v.model.health.synced_once)
            .map(|v| {
                let mut m = std::collections::BTreeMap::new();
                for e in v.model.elements.values().filter(|e| e.is_rtp_endpoint()) {
                    let ep = e.endpoint.as_ref();
                    let ice = ep
                        .and_then(|s| s.ice_state())
                        .map_or("unknown", |s| s.as_str());
                    let media = ep
                        .and_then(|s| s.media_state)
                        .map_or("unknown", |s| s.value.as_str());
                    // Either way: a receive-only viewer's media flows to its peer.
                    let flowing = if e.flow.any(crate::model::Direction::Out)
                        || e.flow.any(crate::model::Direction::In)
                    {
                        "true"
                    } else {
                        "false"
                    };
                    *m.entry((ice, media, flowing)).or_insert(0) += 1;
                }
                (v.kms(), m)
            })
            .collect();
        family(
            enc,
            "kurento_fleet_endpoints",
            "RTP endpoints by ICE state (component 1), media state and whether media flows through them (from their peer or to it)",
            Gauge,
            |f| {
                for (kms, m) in &per_state {
                    for ((ice, media, flowing), n) in m {
                        let l = vec![
                            ("kms", *kms),
                            ("ice_state", *ice),
                            ("media_state", *media),
                            ("flowing", *flowing),
                        ];
                        f.emit(&l, *n as f64)?;
                    }
                }
                Ok(())
            },
        )?;
        let server = |f: &mut Family, get: fn(&crate::model::ServerSummary) -> f64| {
            for v in views {
                if let Some(s) = &v.model.server {
                    f.emit(&vec![("kms", v.kms())], get(s))?;
                }
            }
            Ok(())
        };
        family(enc, "kurento_sessions", "Live KMS sessions", Gauge, |f| {
            server(f, |s| s.sessions as f64)
        })?;
        family(
            enc,
            "kurento_server_cpu_ratio",
            "CPU used by KMS, 0 to 1 of the whole machine",
            Gauge,
            |f| server(f, |s| s.cpu_ratio),
        )?;
        family(
            enc,
            "kurento_server_memory_bytes",
            "Memory used by KMS",
            Gauge,
            |f| server(f, |s| s.memory_bytes as f64),
        )?;
        family(
            enc,
            "kurento_exporter_last_sync_timestamp_seconds",
            "When the last successful sync of the target finished",
            Gauge,
            |f| {
                for v in views {
                    if let Some(at) = v.model.health.last_sync_at {
                        f.emit(&vec![("kms", v.kms())], at as f64 / 1000.0)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            enc,
            "kurento_exporter_dropped_elements",
            "Elements beyond scrape.max_endpoints whose series are not exported",
            Gauge,
            |f| {
                for v in views {
                    f.emit(&vec![("kms", v.kms())], v.dropped as f64)?;
                }
                Ok(())
            },
        )
    }
}
