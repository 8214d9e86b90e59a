//! One target's per-element part of the page, rendered once per sync cycle:
//! an element whose revision (and its pipeline's) is unchanged since the last
//! render has its lines copied from the last render, not written again.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::element;
use super::gzip::Deflated;
use super::shape::{Bufs, Shape};
use crate::metrics::contract::N;
use crate::model::{ObjectId, TargetModel};

/// Where an element's lines sit in each family's chunk, and what they were
/// rendered from.
#[derive(Debug)]
struct Entry {
    key: (u64, u64),
    ranges: [(u32, u32); N],
}

/// One family's lines of one target, and their compressed form (made on
/// the first request that asks for gzip).
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub text: Bytes,
    pub gz: OnceLock<Deflated>,
}

/// A target's rendered part.
#[derive(Debug, Default)]
pub(super) struct TargetPage {
    pub chunks: Vec<Arc<Chunk>>,
    index: HashMap<ObjectId, Entry>,
    /// The settings' generation it was rendered with.
    pub settings: u64,
}

/// How many elements were rendered anew and how many copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenderCount {
    pub rendered: usize,
    pub reused: usize,
}

/// Render `model`'s elements (at most `max`), reusing `prev` where nothing
/// changed (when it was rendered with the same settings generation).
pub(super) fn render(
    model: &TargetModel,
    shape: &Shape<'_>,
    max: usize,
    settings: u64,
    prev: Option<&TargetPage>,
) -> (TargetPage, RenderCount) {
    let prev = prev.filter(|p| p.settings == settings && p.chunks.len() == N);
    let mut bufs: Bufs = std::array::from_fn(|f| {
        Vec::with_capacity(prev.map_or(0, |p| p.chunks[f].text.len() + 4096))
    });
    let mut index = HashMap::with_capacity(model.elements.len().min(max));
    let mut count = RenderCount::default();
    for e in model.elements.values().take(max) {
        let pipeline = model.pipelines.get(&e.pipeline);
        let key = (e.rev, pipeline.map_or(0, |p| p.rev));
        let mut ranges = [(0u32, 0u32); N];
        let old = prev.and_then(|p| p.index.get(&e.id).filter(|o| o.key == key).map(|o| (p, o)));
        if let Some((p, o)) = old {
            for f in 0..N {
                let (a, b) = o.ranges[f];
                let start = bufs[f].len() as u32;
                bufs[f].extend_from_slice(&p.chunks[f].text[a as usize..b as usize]);
                ranges[f] = (start, bufs[f].len() as u32);
            }
            count.reused += 1;
        } else {
            let starts: [u32; N] = std::array::from_fn(|f| bufs[f].len() as u32);
            element::render(&mut bufs, shape, e, pipeline);
            for f in 0..N {
                ranges[f] = (starts[f], bufs[f].len() as u32);
            }
            count.rendered += 1;
        }
        index.insert(e.id.clone(), Entry { key, ranges });
    }
    let chunks = bufs
        .into_iter()
        .map(|b| {
            Arc::new(Chunk {
                text: Bytes::from(b),
                gz: OnceLock::new(),
            })
        })
        .collect();
    let page = TargetPage {
        chunks,
        index,
        settings,
    };
    (page, count)
}
