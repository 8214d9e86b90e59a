//! The causal media model of a pipeline: element connections per media type,
//! and media flow computed from sources (a playing player, an RTP endpoint
//! whose peer sends) along connections. Flow changes raise
//! MediaFlowIn/OutStateChanged. `settle` recomputes dirty pipelines.

use std::collections::HashMap;

use serde_json::json;

use super::engine::Engine;
use super::kinds::Kind;
use super::webrtc::Rtc;
use kms_proto::types::{MediaFlowState, MediaType};

/// The media types that carry flow (DATA never flows in the model).
pub const FLOW_TYPES: [MediaType; 2] = [MediaType::AUDIO, MediaType::VIDEO];

/// Index of an audio/video media type in per-type arrays.
pub fn midx(m: MediaType) -> Option<usize> {
    match m {
        MediaType::AUDIO => Some(0),
        MediaType::VIDEO => Some(1),
        MediaType::DATA => None,
    }
}

/// One connection of an element, as seen from that element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub peer: String,
    pub media: MediaType,
}

/// Media state of an element.
#[derive(Debug, Default)]
pub struct Element {
    /// Connections from this element (source) to sinks.
    pub sinks: Vec<Link>,
    /// Connections from sources into this element.
    pub sources: Vec<Link>,
    pub flow_in: [bool; 2],
    pub flow_out: [bool; 2],
    pub playing: bool,
    /// Players: when the media ends.
    pub eos_at: Option<u64>,
    /// Players: output still flows until then after the end of stream.
    pub flow_until: u64,
    /// HubPorts: their hub.
    pub hub: Option<String>,
    /// HubPorts of a Dispatcher: the port whose input this one outputs
    /// (`Dispatcher.connect(source, sink)` on the sink).
    pub hub_source: Option<String>,
    pub rtc: Option<Box<Rtc>>,
}

impl Element {
    pub fn new(kind: Kind) -> Self {
        Element {
            rtc: kind
                .is_rtp()
                .then(|| Box::new(Rtc::new(kind == Kind::WebRtcEndpoint))),
            ..Default::default()
        }
    }
}

impl Engine {
    /// The pipeline `id` lives in (itself for a pipeline; a hub port's is
    /// its hub's).
    pub(crate) fn pipeline_of(&self, id: &str) -> Option<String> {
        let mut o = self.objects.get(id)?;
        for _ in 0..4 {
            match o.kind {
                Kind::MediaPipeline => return Some(o.id.clone()),
                _ => o = self.objects.get(o.parent.as_deref()?)?,
            }
        }
        None
    }

    /// Every element of `pipeline`: its children and the hubs' ports.
    pub(crate) fn elements_of(&self, pipeline: &str) -> Vec<String> {
        let Some(pl) = self.objects.get(pipeline) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for c in &pl.children {
            out.push(c.clone());
            if let Some(o) = self.objects.get(c) {
                out.extend(o.children.iter().cloned());
            }
        }
        out
    }

    pub(crate) fn mark_dirty(&mut self, id: &str) {
        if let Some(p) = self.pipeline_of(id) {
            self.dirty.insert(p);
        }
    }

    /// Link `src` → `sink` for `media`; raises ElementConnected on the source.
    pub(crate) fn link(&mut self, src: &str, sink: &str, media: MediaType) {
        let exists = self
            .objects
            .get(src)
            .and_then(|o| o.el.as_ref())
            .is_some_and(|e| e.sinks.iter().any(|l| l.peer == sink && l.media == media));
        if exists {
            return;
        }
        // A sink input takes one source per media type: replace the old one.
        let old: Vec<String> = self
            .objects
            .get(sink)
            .and_then(|o| o.el.as_ref())
            .map(|e| {
                e.sources
                    .iter()
                    .filter(|l| l.media == media)
                    .map(|l| l.peer.clone())
                    .collect()
            })
            .unwrap_or_default();
        for o in old {
            self.unlink(&o, sink, media);
        }
        if let Some(e) = self.objects.get_mut(src).and_then(|o| o.el.as_mut()) {
            e.sinks.push(Link {
                peer: sink.to_owned(),
                media,
            });
        }
        if let Some(e) = self.objects.get_mut(sink).and_then(|o| o.el.as_mut()) {
            e.sources.push(Link {
                peer: src.to_owned(),
                media,
            });
        }
        self.raise(src, "ElementConnected", connection_fields(sink, media));
        self.mark_dirty(src);
    }

    /// Remove the `src` → `sink` link for `media`; raises ElementDisconnected.
    pub(crate) fn unlink(&mut self, src: &str, sink: &str, media: MediaType) {
        let mut found = false;
        if let Some(e) = self.objects.get_mut(src).and_then(|o| o.el.as_mut()) {
            let before = e.sinks.len();
            e.sinks.retain(|l| !(l.peer == sink && l.media == media));
            found = e.sinks.len() != before;
        }
        if let Some(e) = self.objects.get_mut(sink).and_then(|o| o.el.as_mut()) {
            e.sources.retain(|l| !(l.peer == src && l.media == media));
        }
        if found {
            self.raise(src, "ElementDisconnected", connection_fields(sink, media));
            self.mark_dirty(src);
            self.mark_dirty(sink);
        }
    }

    /// Before an element goes away: drop its links and tell its RTP peer.
    pub(crate) fn detach_media(&mut self, id: &str) {
        let Some(el) = self.objects.get(id).and_then(|o| o.el.as_ref()) else {
            return;
        };
        let sinks = el.sinks.clone();
        let sources = el.sources.clone();
        let peer = el
            .rtc
            .as_ref()
            .and_then(|r| r.peer_endpoint().map(str::to_owned));
        for l in sinks {
            self.unlink(id, &l.peer, l.media);
        }
        for l in sources {
            self.unlink(&l.peer, id, l.media);
        }
        if let Some(p) = peer {
            self.peer_released(&p);
        }
        self.mark_dirty(id);
    }

    /// Whether `id` outputs `m` given current input flags (and hub inputs).
    fn produces(&self, id: &str, m: usize, hubs: &HashMap<String, [u32; 2]>) -> bool {
        let Some(o) = self.objects.get(id) else {
            return false;
        };
        let Some(el) = o.el.as_ref() else {
            return false;
        };
        match o.kind {
            Kind::PlayerEndpoint => el.playing || self.now < el.flow_until,
            Kind::WebRtcEndpoint | Kind::RtpEndpoint => {
                el.rtc.as_ref().is_some_and(|r| self.peer_sends(r, m))
            }
            // What a hub gives its port: see `hub`.
            Kind::HubPort => self.port_produces(id, m, hubs),
            Kind::PassThrough
            | Kind::FaceOverlayFilter
            | Kind::GStreamerFilter
            | Kind::ImageOverlayFilter
            | Kind::ZBarFilter => el.flow_in[m],
            _ => false,
        }
    }

    /// Recompute flows of dirty pipelines and raise the changes.
    pub(crate) fn settle(&mut self) {
        let mut rounds = 0;
        while let Some(p) = self.dirty.pop_first() {
            rounds += 1;
            if rounds > 10_000 {
                self.dirty.clear();
                break;
            }
            self.recompute(&p);
        }
    }

    fn recompute(&mut self, pipeline: &str) {
        if !self.objects.contains_key(pipeline) {
            return;
        }
        let ids: Vec<String> = self.elements_of(pipeline);
        let old: Vec<([bool; 2], [bool; 2])> = ids
            .iter()
            .map(|id| {
                self.objects
                    .get(id)
                    .and_then(|o| o.el.as_ref())
                    .map_or(([false; 2], [false; 2]), |e| (e.flow_in, e.flow_out))
            })
            .collect();
        for id in &ids {
            if let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) {
                e.flow_in = [false; 2];
                e.flow_out = [false; 2];
            }
        }
        // Least fixed point: flags only ever turn on.
        for _ in 0..=ids.len() + 1 {
            let mut changed = false;
            let hubs = self.hub_inputs(&ids);
            for id in &ids {
                let mut outs = [false; 2];
                let mut ins = [false; 2];
                for m in 0..2 {
                    outs[m] = self.produces(id, m, &hubs);
                    ins[m] = self
                        .objects
                        .get(id)
                        .and_then(|o| o.el.as_ref())
                        .is_some_and(|e| {
                            e.sources.iter().any(|l| {
                                midx(l.media) == Some(m)
                                    && self
                                        .objects
                                        .get(&l.peer)
                                        .and_then(|p| p.el.as_ref())
                                        .is_some_and(|p| p.flow_out[m])
                            })
                        });
                }
                if let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) {
                    if e.flow_in != ins || e.flow_out != outs {
                        e.flow_in = ins;
                        e.flow_out = outs;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // What KMS reports is not always the true media (hub ports: see `hub`).
        for id in &ids {
            let Some(fin) = self
                .objects
                .get(id)
                .and_then(|o| o.el.as_ref())
                .map(|e| e.flow_in)
            else {
                continue;
            };
            let shown = self.reported_in(id, fin);
            if let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) {
                e.flow_in = shown;
            }
        }
        let now = self.now;
        for (id, (old_in, old_out)) in ids.iter().zip(old) {
            let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) else {
                continue;
            };
            let (new_in, new_out) = (e.flow_in, e.flow_out);
            let peer = e.rtc.as_mut().and_then(|r| {
                r.sync_counters(new_in, new_out, now);
                r.peer_endpoint().map(str::to_owned)
            });
            if old_in != new_in {
                if let Some(p) = &peer {
                    self.mark_dirty(p);
                }
            }
            for (m, mt) in FLOW_TYPES.iter().enumerate() {
                if old_in[m] != new_in[m] {
                    self.raise(id, "MediaFlowInStateChanged", flow_fields(new_in[m], *mt));
                }
                if old_out[m] != new_out[m] {
                    self.raise(id, "MediaFlowOutStateChanged", flow_fields(new_out[m], *mt));
                }
            }
        }
    }
}

fn flow_fields(on: bool, m: MediaType) -> serde_json::Value {
    let state = if on {
        MediaFlowState::FLOWING
    } else {
        MediaFlowState::NOT_FLOWING
    };
    json!({ "state": state.as_str(), "mediaType": m.as_str(), "padName": "default" })
}

fn connection_fields(sink: &str, m: MediaType) -> serde_json::Value {
    json!({
        "sink": sink,
        "mediaType": m.as_str(),
        "sourceMediaDescription": "default",
        "sinkMediaDescription": "default",
    })
}
