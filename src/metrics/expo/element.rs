//! One element's series, written into the buffer of each family: the info
//! series with everything static about it, connections (one per sink, with
//! the set of media types), flow, states, and its RTP figures (`rtp`). Labels
//! name objects by their short ids.

use kms_proto::ids::short_id;

use super::rtp;
use super::shape::{Bufs, Shape};
use super::write::Line;
use crate::kms::types::{ConnectionState, MediaState};
use crate::metrics::contract as c;
use crate::model::{Element, Pipeline};

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Write every series of `e` (in pipeline `p`, when known).
pub(super) fn render(out: &mut Bufs, s: &Shape<'_>, e: &Element, p: Option<&Pipeline>) {
    let element = short_id(&e.id);
    let pipeline = short_id(&e.pipeline);
    if s.on[c::INFO] {
        let name = if e.name == e.id { "" } else { e.name.as_str() };
        let pipeline_name = p.map_or("", |p| if p.name == p.id { "" } else { p.name.as_str() });
        let mut l = Line::start(&mut out[c::INFO], "kurento_element_info")
            .label("kms", s.kms)
            .label("pipeline", pipeline)
            .label("element", element)
            .label("element_type", &e.element_type)
            .label("id", &e.id)
            .label("name", name)
            .label("pipeline_name", pipeline_name)
            .label("hub", e.hub.as_deref().map_or("", short_id));
        for tag in s.tag_labels {
            l = l.label(tag, e.tags.get(tag).map_or("", String::as_str));
        }
        l.value(1.0);
    }
    if s.on[c::CREATED] {
        if let Some(created) = e.created {
            Line::start(
                &mut out[c::CREATED],
                "kurento_element_created_timestamp_seconds",
            )
            .label("kms", s.kms)
            .label("element", element)
            .value(created as f64);
        }
    }
    if s.on[c::CONNECTION] {
        connections(out, s, e, pipeline, element);
    }
    if s.on[c::FLOWING] {
        for (d, m, st) in e.flow.iter() {
            Line::start(&mut out[c::FLOWING], "kurento_media_flowing")
                .label("kms", s.kms)
                .label("element", element)
                .label("media", m.as_str())
                .label("direction", d.as_str())
                .value(flag(st.value));
        }
    }
    states(out, s, e, element);
    if let Some(stats) = &e.stats {
        rtp::render(out, s, element, stats, e.previous_stats.as_ref());
    }
}

/// One series per sink: `media` is the sorted, comma-joined set of media
/// types connected to it, e.g. `AUDIO,DATA,VIDEO` (`e.sinks` is sorted by
/// sink, then media, and `MediaType`'s order is alphabetical).
fn connections(out: &mut Bufs, s: &Shape<'_>, e: &Element, pipeline: &str, element: &str) {
    let mut media = String::new();
    let mut sinks = e.sinks.iter().peekable();
    while let Some((sink, m)) = sinks.next() {
        if !media.is_empty() {
            media.push(',');
        }
        media.push_str(m.as_str());
        if sinks.peek().is_some_and(|(next, _)| next == sink) {
            continue;
        }
        Line::start(&mut out[c::CONNECTION], "kurento_element_connection_info")
            .label("kms", s.kms)
            .label("pipeline", pipeline)
            .label("source", element)
            .label("sink", short_id(sink))
            .label("media", &media)
            .value(1.0);
        media.clear();
    }
}

fn states(out: &mut Bufs, s: &Shape<'_>, e: &Element, element: &str) {
    let Some(ep) = &e.endpoint else { return };
    if s.on[c::ICE] {
        if let Some(st) = ep.ice_state() {
            Line::start(&mut out[c::ICE], "kurento_ice_connection_state")
                .label("kms", s.kms)
                .label("element", element)
                .label("state", st.as_str())
                .value(1.0);
        }
    }
    if s.on[c::MEDIA_CONNECTED] {
        if let Some(st) = ep.media_state {
            Line::start(&mut out[c::MEDIA_CONNECTED], "kurento_media_connected")
                .label("kms", s.kms)
                .label("element", element)
                .value(flag(st.value == MediaState::CONNECTED));
        }
    }
    if s.on[c::CONNECTION_CONNECTED] {
        if let Some(st) = ep.connection_state {
            Line::start(
                &mut out[c::CONNECTION_CONNECTED],
                "kurento_connection_connected",
            )
            .label("kms", s.kms)
            .label("element", element)
            .value(flag(st.value == ConnectionState::CONNECTED));
        }
    }
}
