//! The model collector: every `kurento_*` series describing KMS, computed from
//! the model when Prometheus scrapes, so a released object's series vanish by
//! themselves at the next scrape.
//!
//! KMS is read on the daemon's timer (`scrape.interval`), not at scrape time:
//! values are as old as the last cycle, which HELP texts say.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::family::{family, Family, Labels};
use crate::kms::types::{ConnectionState, IceComponentState, MediaState};
use crate::model::{Element, Store, TargetModel};

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
}

/// `Settings::stale_cycles` unless configured (`scrape.stale_series_cycles`).
pub const DEFAULT_STALE_CYCLES: u32 = 2;

impl ModelCollector {
    pub fn new(store: Store, settings: Arc<RwLock<Settings>>) -> Self {
        ModelCollector { store, settings }
    }
}

/// A target and the elements whose series are exported (the cardinality cap).
struct View<'a> {
    model: &'a TargetModel,
    elements: Vec<&'a Element>,
    dropped: usize,
}

impl<'a> View<'a> {
    fn new(model: &'a TargetModel, max: usize, stale_cycles: u32) -> Self {
        let h = &model.health;
        let stale = !h.connected || h.failed_syncs >= stale_cycles.max(1);
        // Dropped by the cardinality cap (not for staleness).
        let dropped = model.elements.len().saturating_sub(max);
        let shown = if stale { 0 } else { max };
        let elements: Vec<&Element> = model.elements.values().take(shown).collect();
        View {
            model,
            elements,
            dropped,
        }
    }

    fn kms(&self) -> &'a str {
        &self.model.name
    }

    fn element_labels(&self, e: &'a Element) -> Labels<'a> {
        vec![
            ("kms", self.kms()),
            ("pipeline", e.pipeline.as_str()),
            ("element", e.id.as_str()),
        ]
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
            .map(|g| View::new(g, settings.max_endpoints, settings.stale_cycles))
            .collect();
        self.encode_targets(&mut enc, &views)?;
        encode_elements(&mut enc, &views, &settings.tag_labels)?;
        let rtp: Vec<(&str, &[&Element])> =
            views.iter().map(|v| (v.kms(), &v.elements[..])).collect();
        super::rtp::encode(&mut enc, &rtp)?;
        Ok(())
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
        // RTP endpoints by ICE state, media state and flow from their peer:
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
                    let flowing = if e.flow.any(crate::model::Direction::Out) {
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
            "RTP endpoints by ICE state (component 1), media state and whether media from their peer flows",
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

fn encode_elements(
    enc: &mut DescriptorEncoder,
    views: &[View],
    tag_labels: &[String],
) -> fmt::Result {
    use MetricType::{Gauge, Info};
    family(
        enc,
        "kurento_element",
        "A media element, with its configured tags as labels",
        Info,
        |f| {
            for v in views {
                for e in &v.elements {
                    let mut l = v.element_labels(e);
                    l.push(("element_type", e.element_type.as_str()));
                    l.push(("name", e.name.as_str()));
                    for tag in tag_labels {
                        let value = e.tags.get(tag).map_or("", String::as_str);
                        l.push((tag.as_str(), value));
                    }
                    f.emit(&l, 1.0)?;
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "kurento_element_created_timestamp_seconds",
        "When KMS created the element",
        Gauge,
        |f| {
            for v in views {
                for e in &v.elements {
                    if let Some(c) = e.created {
                        f.emit(&v.element_labels(e), c as f64)?;
                    }
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "kurento_element_connection",
        "A connection from source to sink for one media type",
        Info,
        |f| {
            for v in views {
                for e in &v.elements {
                    for (sink, media) in &e.sinks {
                        let l = vec![
                            ("kms", v.kms()),
                            ("pipeline", e.pipeline.as_str()),
                            ("source", e.id.as_str()),
                            ("sink", sink.as_str()),
                            ("media", media.as_str()),
                        ];
                        f.emit(&l, 1.0)?;
                    }
                }
            }
            Ok(())
        },
    )?;
    family(
            enc,
            "kurento_media_flowing",
            "1 when media flows; direction in = from the pipeline into the element, out = from the element into the pipeline (for a WebRtcEndpoint: received from its peer)",
            Gauge,
            |f| {
                for v in views {
                    for e in &v.elements {
                        for (d, m, s) in e.flow.iter() {
                            let mut l = v.element_labels(e);
                            l.push(("media", m.as_str()));
                            l.push(("direction", d.as_str()));
                            f.emit(&l, bool_value(s.value))?;
                        }
                    }
                }
                Ok(())
            },
        )?;
    family(
        enc,
        "kurento_ice_connection_state",
        "ICE state of the endpoint (component 1, best stream): 1 on the current state",
        Gauge,
        |f| {
            for v in views {
                for e in &v.elements {
                    let Some(cur) = e.endpoint.as_ref().and_then(|s| s.ice_state()) else {
                        continue;
                    };
                    for st in IceComponentState::ALL {
                        let mut l = v.element_labels(e);
                        l.push(("state", st.as_str()));
                        f.emit(&l, bool_value(*st == cur))?;
                    }
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "kurento_media_connected",
        "1 when the endpoint's media state is CONNECTED",
        Gauge,
        |f| {
            for v in views {
                for e in &v.elements {
                    if let Some(s) = e.endpoint.as_ref().and_then(|s| s.media_state) {
                        f.emit(
                            &v.element_labels(e),
                            bool_value(s.value == MediaState::CONNECTED),
                        )?;
                    }
                }
            }
            Ok(())
        },
    )?;
    family(
        enc,
        "kurento_connection_connected",
        "1 when the endpoint's connection state is CONNECTED",
        Gauge,
        |f| {
            for v in views {
                for e in &v.elements {
                    if let Some(s) = e.endpoint.as_ref().and_then(|s| s.connection_state) {
                        f.emit(
                            &v.element_labels(e),
                            bool_value(s.value == ConnectionState::CONNECTED),
                        )?;
                    }
                }
            }
            Ok(())
        },
    )
}
