//! The per-element part of `/metrics`, pre-rendered: each sync cycle
//! renders its target's changed elements once (`target`), and requests are
//! served from those shared buffers — concatenated as a list of chunks, never
//! copied into one page — with a gzip form made once per cycle and part
//! (`gzip`). Families are grouped as both text formats require: per family,
//! its header, then every target's lines.

mod element;
mod gzip;
mod rtp;
mod shape;
mod target;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use bytes::Bytes;

pub use target::RenderCount;

use super::collector::Settings;
use super::contract::{self, Detail, Kind, FAMILIES, N};
use crate::model::TargetModel;
use shape::Shape;
pub(super) use target::Chunk;
use target::TargetPage;

/// Which text format a page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Prometheus,
    OpenMetrics,
}

/// The rendered parts of every target, shared by the scrape tasks (which
/// publish) and the HTTP server (which serves).
#[derive(Debug, Clone)]
pub struct Exposition {
    settings: Arc<RwLock<Settings>>,
    /// Bumped when the settings change: parts rendered before are not reused.
    settings_gen: Arc<AtomicU64>,
    targets: Arc<Mutex<HashMap<String, Arc<TargetPage>>>>,
    /// Bumped by every publication.
    generation: Arc<AtomicU64>,
    /// A client asked for gzip: publications compress their parts at once
    /// (on the scrape task), so no request waits for the compressor.
    gzip_wanted: Arc<AtomicBool>,
}

/// One family's place on a page: its header (per format) and which
/// targets' lines follow — held weakly, so that a page assembled before a
/// publication keeps no outdated part alive (requests being sent hold their
/// own references to the buffers).
pub(super) struct Section<C = Weak<Chunk>> {
    pub header: Bytes,
    pub chunks: Vec<C>,
}

impl Exposition {
    pub(super) fn new(settings: Arc<RwLock<Settings>>) -> Self {
        Exposition {
            settings,
            settings_gen: Arc::default(),
            targets: Arc::default(),
            generation: Arc::default(),
            gzip_wanted: Arc::default(),
        }
    }

    /// A request asked for gzip.
    pub(super) fn gzip_asked(&self) {
        self.gzip_wanted.store(true, Ordering::Relaxed);
    }

    fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The settings changed: render every element anew at the next cycle.
    pub(super) fn settings_changed(&self) {
        self.settings_gen.fetch_add(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// A publication or a settings change happened since `generation`.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TargetPage>>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Render `model`'s elements for the page (after a sync cycle).
    pub fn publish(&self, model: &TargetModel) -> RenderCount {
        let settings = self.settings();
        let gen = self.settings_gen.load(Ordering::Relaxed);
        let prev = self.pages().get(&model.name).cloned();
        let shape = Shape {
            kms: &model.name,
            tag_labels: &settings.tag_labels,
            on: contract::enabled(&settings.contract),
            per_stream: settings.contract.detail == Detail::Stream,
        };
        let (page, count) =
            target::render(model, &shape, settings.max_endpoints, gen, prev.as_deref());
        drop(prev);
        if self.gzip_wanted.load(Ordering::Relaxed) {
            for c in &page.chunks {
                chunk_deflated(c, settings.contract.gzip_level);
            }
        }
        self.pages().insert(model.name.clone(), Arc::new(page));
        self.generation.fetch_add(1, Ordering::Relaxed);
        count
    }

    /// The sections of a page of `targets` (name, shown), in that order:
    /// a stale target's part is kept but not shown; the parts of targets no
    /// longer watched are dropped.
    pub(super) fn sections(
        &self,
        format: Format,
        targets: &[(String, bool)],
    ) -> Vec<Section<Arc<Chunk>>> {
        let settings = self.settings();
        let on = contract::enabled(&settings.contract);
        let pages = {
            let mut all = self.pages();
            all.retain(|name, _| targets.iter().any(|(t, _)| t == name));
            targets
                .iter()
                .filter(|(_, shown)| *shown)
                .filter_map(|(name, _)| all.get(name).cloned())
                .collect::<Vec<_>>()
        };
        (0..N)
            .filter(|f| on[*f])
            .map(|f| Section {
                header: Bytes::from(header(f, format)),
                chunks: pages
                    .iter()
                    .filter_map(|p| p.chunks.get(f))
                    .filter(|c| !c.text.is_empty())
                    .cloned()
                    .collect(),
            })
            .collect()
    }
}

/// `# HELP` and `# TYPE` of family `f` in `format`.
fn header(f: usize, format: Format) -> String {
    let spec = &FAMILIES[f];
    let help = write::escape_help(spec.help);
    let help = format!("{help} (read from KMS on the exporter's timer, not at scrape time)");
    match format {
        Format::Prometheus => {
            let name = spec.sample_name();
            let ty = match spec.kind {
                Kind::Counter => "counter",
                Kind::Gauge | Kind::Info => "gauge",
            };
            format!("# HELP {name} {help}\n# TYPE {name} {ty}\n")
        }
        Format::OpenMetrics => {
            let name = spec.name;
            let ty = match spec.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Info => "info",
            };
            format!("# HELP {name} {help}\n# TYPE {name} {ty}\n")
        }
    }
}

pub(super) use gzip::{deflate, member, Deflated};

/// The deflated form of a target chunk, made once.
pub(super) fn chunk_deflated(c: &Chunk, level: u32) -> Option<&Deflated> {
    if c.gz.get().is_none() {
        let d = deflate(&c.text, level)?;
        let _ = c.gz.set(d);
    }
    c.gz.get()
}
