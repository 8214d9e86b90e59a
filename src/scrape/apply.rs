//! Applying what one read returned to the target's model and the scrape's
//! bookkeeping: updates, flow derived from two stats samples, hub ports named
//! by connections, objects gone; and the stub of an object known only by id.

use crate::model::{Element, Millis, SharedTarget, Update};

use super::plan::{Book, Read};
use super::reads::ReadResult;
use kms_proto::ids::{is_hub_port, pipeline_of, type_of};

/// An element known only by its id (from an event or a walk).
pub(super) fn stub(id: &str, now: Millis) -> Element {
    Element {
        id: id.to_string(),
        pipeline: pipeline_of(id).to_string(),
        element_type: type_of(id).to_string(),
        name: id.to_string(),
        first_seen: now,
        ..Default::default()
    }
}

pub(super) fn apply_result(
    model: &SharedTarget,
    book: &mut Book,
    read: &Read,
    res: ReadResult,
    now: Millis,
) {
    let id = read.object();
    let mut m = model.write();
    if let Some(gone) = &res.gone {
        m.remove(gone);
        book.retain(|k, _| k != gone && pipeline_of(k) != gone);
        return;
    }
    let mut stats_of = None;
    for u in res.updates {
        if let Update::Stats { element, .. } = &u {
            stats_of = Some(element.clone());
        }
        if let Update::Sinks { sinks, .. } = &u {
            // Connections name hub ports a pipeline walk cannot list.
            for (sink, _) in sinks {
                if is_hub_port(type_of(sink)) && !m.elements.contains_key(sink) {
                    m.apply(Update::Element(Box::new(stub(sink, now))));
                }
            }
        }
        m.apply(u);
    }
    let mut stopped = false;
    if let Some(e) = stats_of.and_then(|id| m.elements.get(&id)) {
        if let (Some(cur), Some(prev)) = (&e.stats, &e.previous_stats) {
            let flows: Vec<Update> = cur
                .derive_flow(prev)
                .into_iter()
                .map(|((direction, media), flowing)| {
                    stopped |= !flowing && e.flow.get(direction, media).is_some_and(|s| s.value);
                    Update::Flow {
                        element: e.id.clone(),
                        direction,
                        media,
                        flowing,
                        at: now,
                    }
                })
                .collect();
            for u in flows {
                m.apply(u);
            }
        }
    }
    drop(m);
    let meta = book.entry(id.to_string()).or_default();
    meta.identity_read |= res.identity_read;
    if res.states_read {
        // Later re-reads fall on the object's slots (`plan`).
        meta.last_state_read = Some(now);
        meta.recheck = false;
    }
    meta.sdp_complete |= res.sdp_complete;
    meta.ssrc_media.extend(res.ssrc_media);
    meta.recheck |= stopped;
}
