//! Serving `/metrics`: a page is assembled from the registry's small part
//! (the exporter's own instruments, target-level families, the reaper's
//! series) and the targets' pre-rendered parts, at most once a second or
//! when a target published; every request in between shares it, plain or
//! gzipped (compressed once per assembly, the targets' parts once per cycle).

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::expo::{chunk_deflated, deflate, member, Chunk, Deflated, Format, Section};
use super::{Metrics, OPENMETRICS_TEXT, PROMETHEUS_TEXT};

/// How old the exporter's own figures on a shared page may get.
const REFRESH: Duration = Duration::from_secs(1);

/// A page to send.
#[derive(Debug, Clone)]
pub struct Served {
    pub content_type: &'static str,
    /// The body is gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The body, in order.
    pub body: Vec<Bytes>,
}

impl Served {
    pub fn len(&self) -> usize {
        self.body.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One assembled page.
struct Assembly {
    generation: u64,
    /// The targets (name, shown) it was made for.
    targets: Vec<(String, bool)>,
    built: Instant,
    head: Bytes,
    sections: Vec<Section>,
    tail: Bytes,
    gz: OnceLock<Option<Vec<Bytes>>>,
}

/// The parts of an assembly, held for one answer.
type Live = Vec<Vec<Arc<Chunk>>>;

impl Assembly {
    /// Its parts, if all are still the targets' current ones.
    fn live(&self) -> Option<Live> {
        self.sections
            .iter()
            .map(|s| s.chunks.iter().map(Weak::upgrade).collect())
            .collect()
    }

    fn plain(&self, live: &Live) -> Vec<Bytes> {
        let mut body = Vec::with_capacity(2 + self.sections.len() * 2);
        body.push(self.head.clone());
        for (s, chunks) in self.sections.iter().zip(live) {
            body.push(s.header.clone());
            body.extend(chunks.iter().map(|c| c.text.clone()));
        }
        if !self.tail.is_empty() {
            body.push(self.tail.clone());
        }
        body
    }

    fn gzip(&self, level: u32, live: &Live) -> Option<Vec<Bytes>> {
        self.gz
            .get_or_init(|| {
                let own: Vec<Deflated> = std::iter::once(&self.head)
                    .chain(self.sections.iter().map(|s| &s.header))
                    .chain(std::iter::once(&self.tail))
                    .map(|b| deflate(b, level))
                    .collect::<Option<_>>()?;
                let mut parts: Vec<&Deflated> = vec![&own[0]];
                for (i, chunks) in live.iter().enumerate() {
                    parts.push(&own[i + 1]);
                    for c in chunks {
                        parts.push(chunk_deflated(c, level)?);
                    }
                }
                parts.push(&own[own.len() - 1]);
                Some(member(parts))
            })
            .clone()
    }
}

/// The last page of each format.
#[derive(Default)]
pub(super) struct Pages {
    last: Mutex<[Option<Arc<Assembly>>; 2]>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pages")
    }
}

/// Whether an `Accept-Encoding` value accepts gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

impl Metrics {
    /// The page for a request with this `Accept` header, gzipped when
    /// `gzip` (and the compressor works).
    pub fn serve(&self, accept: Option<&str>, gzip: bool) -> Result<Served, std::fmt::Error> {
        let format = if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        };
        let (page, live) = self.assembled(format)?;
        let content_type = match format {
            Format::OpenMetrics => OPENMETRICS_TEXT,
            Format::Prometheus => PROMETHEUS_TEXT,
        };
        let level = self.gzip_level();
        if gzip {
            self.exporter.pages.gzip_asked();
        }
        let body = if gzip { page.gzip(level, &live) } else { None };
        Ok(match body {
            Some(body) => Served {
                content_type,
                gzip: true,
                body,
            },
            None => Served {
                content_type,
                gzip: false,
                body: page.plain(&live),
            },
        })
    }

    /// The current page of `format`: the last one while no target published,
    /// went stale or away, and it is younger than `REFRESH`; else a new one.
    fn assembled(&self, format: Format) -> Result<(Arc<Assembly>, Live), std::fmt::Error> {
        let slot = usize::from(format == Format::OpenMetrics);
        let mut last = self
            .pages
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self.exporter.pages.generation();
        let stale_cycles = self.stale_cycles();
        let targets: Vec<(String, bool)> = self
            .store
            .targets()
            .iter()
            .map(|t| {
                let m = t.read();
                (m.name.clone(), !super::collector::stale(&m, stale_cycles))
            })
            .collect();
        if let Some(a) = &last[slot] {
            if a.generation == generation && a.targets == targets && a.built.elapsed() < REFRESH {
                if let Some(live) = a.live() {
                    return Ok((a.clone(), live));
                }
            }
        }
        last[slot] = None;
        let (a, live) = self.assemble(format, generation, targets)?;
        let a = Arc::new(a);
        last[slot] = Some(a.clone());
        Ok((a, live))
    }

    fn assemble(
        &self,
        format: Format,
        generation: u64,
        targets: Vec<(String, bool)>,
    ) -> Result<(Assembly, Live), std::fmt::Error> {
        let mut head = String::with_capacity(64 * 1024);
        let mut tail = Bytes::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut head, &self.registry)?;
                if let Some(n) = head.strip_suffix("# EOF\n").map(str::len) {
                    head.truncate(n);
                }
                tail = Bytes::from_static(b"# EOF\n");
            }
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut head, &self.registry)?;
            }
        }
        let current = self.exporter.pages.sections(format, &targets);
        let live: Live = current.iter().map(|s| s.chunks.clone()).collect();
        let sections = current
            .into_iter()
            .map(|s| Section {
                header: s.header,
                chunks: s.chunks.iter().map(Arc::downgrade).collect(),
            })
            .collect();
        let page = Assembly {
            generation,
            built: Instant::now(),
            head: Bytes::from(head),
            sections,
            targets,
            tail,
            gz: OnceLock::new(),
        };
        Ok((page, live))
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_accepted_as_clients_ask() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("identity, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("deflate, gzip")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, deflate")));
        assert!(!accepts_gzip(Some("x-gzip2")));
        assert!(!accepts_gzip(None));
    }
}
