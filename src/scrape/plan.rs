//! Which KMS reads one cycle makes: a pure function of the model, the
//! scrape's bookkeeping and the time. No I/O.
//!
//! Per cycle: `getStats` for every RTP endpoint (flow is derived from its
//! counters), flow polls for elements without RTP stats, a one-time identity
//! read for new objects, and a staggered re-read of states every
//! `state_interval` — every `settled_state_interval` for a settled element
//! (an endpoint receiving from its peer, or an element without a peer, in a
//! pipeline no object joined or left lately) — and at once for an endpoint
//! whose counters stopped. KMS pushes no element state to a monitor that
//! keeps no references (PROTOCOL.md): these re-reads are most of its cost
//! beyond `getStats`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::kms::types::MediaType;
use crate::model::{Direction, Millis, ObjectId, TargetModel};
use kms_proto::ids::{is_hub, is_hub_port, pipeline_of};

/// What the scrape remembers per object between cycles (not KMS state).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// Name, tags, creation time (and SDPs for endpoints) were read.
    pub identity_read: bool,
    /// When states (and tags, connections) were last read.
    pub last_state_read: Option<Millis>,
    /// Both SDPs are known: they are not read again.
    pub sdp_complete: bool,
    /// Media type of each SSRC seen in stats.
    pub ssrc_media: HashMap<String, MediaType>,
    /// Counters stopped: re-read states this cycle.
    pub recheck: bool,
    /// For a pipeline: when an object of it was last created or destroyed
    /// (KMS's `ObjectCreated`/`ObjectDestroyed` events).
    pub changed_at: Option<Millis>,
}

/// Scrape bookkeeping for every object of a target.
pub type Book = HashMap<ObjectId, Meta>;

/// One read of a cycle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Read {
    /// Name, creation time and tags of a pipeline.
    PipelineIdentity(ObjectId),
    /// Name, creation time, tags and sinks of an element; SDPs for endpoints.
    Identity { id: ObjectId, endpoint: bool },
    /// `getStats` of an RTP endpoint.
    Stats(ObjectId),
    /// `isMediaFlowingIn/Out` of an element without RTP stats.
    Flow {
        id: ObjectId,
        direction: Direction,
        media: MediaType,
    },
    /// Tags, sinks, and for endpoints media and ICE states (and SDPs until
    /// both are known); the connection state too when `full` (it rarely
    /// changes: read at discovery and when counters stop).
    States {
        id: ObjectId,
        endpoint: bool,
        webrtc: bool,
        sdp: bool,
        full: bool,
    },
}

impl Read {
    pub fn object(&self) -> &str {
        match self {
            Read::PipelineIdentity(id)
            | Read::Identity { id, .. }
            | Read::Stats(id)
            | Read::Flow { id, .. }
            | Read::States { id, .. } => id,
        }
    }
}

/// Directions in which an element without RTP stats can carry media.
fn flow_directions(element_type: &str) -> &'static [Direction] {
    match element_type {
        "PlayerEndpoint" | "HttpPostEndpoint" => &[Direction::Out],
        "RecorderEndpoint" => &[Direction::In],
        // A hub carries no media of its own; KMS's flow flags on a hub port
        // do not tell liveness (PROTOCOL.md, hubs and their ports): a port is
        // judged and drawn by the endpoints it connects.
        t if is_hub(t) || is_hub_port(t) => &[],
        _ => &[Direction::In, Direction::Out],
    }
}

/// A stable offset in `0..period` for `id`, to spread periodic reads.
pub fn stagger(id: &str, period: Millis) -> Millis {
    if period == 0 {
        return 0;
    }
    // FNV-1a: stable across runs and platforms.
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h % period
}

/// How often states are re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    pub state: Duration,
    pub settled: Duration,
}

/// Whether `e` is settled at `now`: its states are re-read at the longer
/// period. An RTP endpoint is settled while media from its peer flows; any
/// element only while its pipeline's membership is unchanged for `window`.
fn settled(e: &crate::model::Element, book: &Book, now: Millis, window: Millis) -> bool {
    let pipeline_quiet = book
        .get(&e.pipeline)
        .and_then(|m| m.changed_at)
        .is_none_or(|t| now >= t.saturating_add(window));
    pipeline_quiet && (!e.is_rtp_endpoint() || e.flow.any(Direction::Out))
}

/// Whether a re-read slot of `id` lies in `(last, now]`: each object has
/// one slot per `period`, at its stable offset (`stagger`), so re-reads are
/// spread evenly over the period whatever it is and whenever objects came.
fn slot_passed(id: &str, last: Millis, now: Millis, period: Millis) -> bool {
    if period == 0 {
        return true;
    }
    let phase = stagger(id, period);
    let slot = |t: Millis| (t + period - phase) / period;
    now > last && slot(now) > slot(last)
}

/// The reads of one cycle at `now`.
pub fn plan(model: &TargetModel, book: &Book, now: Millis, periods: Periods) -> Vec<Read> {
    let interval = periods.state.as_millis() as Millis;
    // Never shorter than the unsettled period.
    let settled_interval = (periods.settled.as_millis() as Millis).max(interval);
    let mut reads = Vec::new();
    for p in model.pipelines.keys() {
        if !book.get(p).is_some_and(|m| m.identity_read) {
            reads.push(Read::PipelineIdentity(p.clone()));
        }
    }
    for e in model.elements.values() {
        let meta = book.get(&e.id);
        let endpoint = e.is_rtp_endpoint();
        let webrtc = e.element_type == "WebRtcEndpoint";
        if !meta.is_some_and(|m| m.identity_read) {
            reads.push(Read::Identity {
                id: e.id.clone(),
                endpoint,
            });
        }
        if endpoint {
            reads.push(Read::Stats(e.id.clone()));
        } else {
            for &direction in flow_directions(&e.element_type) {
                for media in [MediaType::AUDIO, MediaType::VIDEO] {
                    reads.push(Read::Flow {
                        id: e.id.clone(),
                        direction,
                        media,
                    });
                }
            }
        }
        let period = if settled(e, book, now, interval) {
            settled_interval
        } else {
            interval
        };
        let due = match meta.and_then(|m| m.last_state_read) {
            // Never read: the identity read brings the states.
            None => false,
            Some(t) => slot_passed(&e.id, t, now, period),
        };
        let recheck = meta.is_some_and(|m| m.recheck);
        if due || recheck {
            reads.push(Read::States {
                id: e.id.clone(),
                endpoint,
                webrtc,
                sdp: endpoint && !meta.is_some_and(|m| m.sdp_complete),
                full: recheck,
            });
        }
    }
    reads
}

/// Pipelines referenced by a set of reads: the cycle `unref`s each once.
pub fn touched_pipelines(reads: &[Read]) -> BTreeSet<ObjectId> {
    reads
        .iter()
        .map(|r| pipeline_of(r.object()).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Element, Pipeline, Update};
    use kms_proto::ids::type_of;

    const P: &str = "11_kurento.MediaPipeline";
    const P60: Periods = Periods {
        state: Duration::from_secs(60),
        settled: Duration::from_secs(600),
    };

    fn model(types: &[(&str, &str)]) -> TargetModel {
        let mut m = TargetModel::new("k");
        m.apply(Update::Pipeline(Pipeline {
            id: P.into(),
            ..Default::default()
        }));
        for (id, ty) in types {
            m.apply(Update::Element(Box::new(Element {
                id: format!("{P}/{id}_kurento.{ty}"),
                pipeline: P.into(),
                element_type: ty.to_string(),
                ..Default::default()
            })));
        }
        m
    }

    fn known(m: &TargetModel, last_state: Millis) -> Book {
        m.pipelines
            .keys()
            .chain(m.elements.keys())
            .map(|id| {
                (
                    id.clone(),
                    Meta {
                        identity_read: true,
                        last_state_read: Some(last_state),
                        sdp_complete: true,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn new_objects_get_identity_reads() {
        let m = model(&[("w", "WebRtcEndpoint"), ("p", "PlayerEndpoint")]);
        let reads = plan(&m, &Book::new(), 0, P60);
        assert!(reads.contains(&Read::PipelineIdentity(P.into())));
        assert_eq!(
            reads
                .iter()
                .filter(|r| matches!(r, Read::Identity { .. }))
                .count(),
            2
        );
        assert!(!reads.iter().any(|r| matches!(r, Read::States { .. })));
    }

    #[test]
    fn steady_state_reads_stats_for_endpoints_and_polls_others() {
        let m = model(&[
            ("w", "WebRtcEndpoint"),
            ("p", "PlayerEndpoint"),
            ("r", "RecorderEndpoint"),
            ("f", "PassThrough"),
            ("h", "Composite"),
        ]);
        let book = known(&m, 0);
        let reads = plan(&m, &book, 1_000, P60);
        let stats = reads.iter().filter(|r| matches!(r, Read::Stats(_))).count();
        let flows: Vec<_> = reads
            .iter()
            .filter_map(|r| match r {
                Read::Flow { id, direction, .. } => Some((type_of(id), *direction)),
                _ => None,
            })
            .collect();
        assert_eq!(stats, 1);
        // Player: out (2 media), recorder: in (2), pass-through: both (4).
        assert_eq!(flows.len(), 8, "{flows:?}");
        assert!(flows.contains(&("PlayerEndpoint", Direction::Out)));
        assert!(!flows.contains(&("PlayerEndpoint", Direction::In)));
        assert!(!flows.iter().any(|(t, _)| *t == "WebRtcEndpoint"));
        assert!(
            !flows.iter().any(|(t, _)| is_hub(t)),
            "hubs have no flow of their own"
        );
        assert_eq!(reads.len(), 9, "no identity or state reads: {reads:?}");
        assert_eq!(touched_pipelines(&reads), [P.to_string()].into());
    }

    #[test]
    fn states_are_reread_when_due_or_when_counters_stop() {
        let m = model(&[("w", "WebRtcEndpoint"), ("x", "WebRtcEndpoint")]);
        let mut book = known(&m, 0);
        // One re-read per period each, at the object's slot.
        assert_eq!(reread_counts(&m, &mut book, 0, 120_000), [2, 2, 0]);
        let w = format!("{P}/w_kurento.WebRtcEndpoint");
        book.get_mut(&w).unwrap().recheck = true;
        let reads = plan(&m, &book, 120_001, P60);
        assert!(reads.contains(&Read::States {
            id: w,
            endpoint: true,
            webrtc: true,
            sdp: false,
            full: true,
        }));
    }

    /// Cycles every second in `(from, to]`, each planned read recorded as
    /// done: how many state re-reads `w`, `x` and `h` got.
    fn reread_counts(m: &TargetModel, book: &mut Book, from: Millis, to: Millis) -> [usize; 3] {
        let mut n = [0; 3];
        let mut now = from;
        while now < to {
            now += 1_000;
            for r in plan(m, book, now, P60) {
                if let Read::States { id, .. } = r {
                    let i = ["/w_", "/x_", "/h_"]
                        .iter()
                        .position(|k| id.contains(k))
                        .unwrap();
                    n[i] += 1;
                    book.get_mut(&id).unwrap().last_state_read = Some(now);
                }
            }
        }
        n
    }

    #[test]
    fn settled_elements_are_reread_at_the_longer_period() {
        let mut m = model(&[
            ("w", "WebRtcEndpoint"),
            ("x", "WebRtcEndpoint"),
            ("h", "HubPort"),
        ]);
        // w receives from its peer: settled; x does not; a port has no peer.
        m.apply(Update::Flow {
            element: format!("{P}/w_kurento.WebRtcEndpoint"),
            direction: Direction::Out,
            media: MediaType::VIDEO,
            flowing: true,
            at: 0,
        });
        let mut book = known(&m, 0);
        // 20 minutes: x every minute, w and the port every 10 minutes.
        assert_eq!(reread_counts(&m, &mut book, 0, 1_200_000), [2, 20, 2]);
        // An object joined the pipeline: nothing there is settled for one
        // state period.
        book.get_mut(P).unwrap().changed_at = Some(1_200_000);
        // (A slot of the shorter period may pass at once, then another.)
        let after_join = reread_counts(&m, &mut book, 1_200_000, 1_260_000);
        assert!(
            after_join.iter().all(|n| (1..=2).contains(n)),
            "{after_join:?}"
        );
        assert_eq!(
            reread_counts(&m, &mut book, 1_260_000, 1_860_000),
            [1, 10, 1]
        );
    }

    #[test]
    fn stagger_is_stable_and_bounded() {
        assert_eq!(stagger("a", 60_000), stagger("a", 60_000));
        assert!(stagger("b", 10) < 10);
        assert_eq!(stagger("b", 0), 0);
    }
}
