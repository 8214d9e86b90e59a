//! One media element of the model: identity, topology, media flow, endpoint
//! states, the last two stats samples and the history of observed transitions.

use std::collections::{BTreeMap, BTreeSet};

use crate::kms::types::MediaType;

use super::history::History;
use super::state::{EndpointState, Flow};
use super::stats::StatsSample;
use super::{Millis, ObjectId};

/// A media element and what was observed about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub id: ObjectId,
    pub pipeline: ObjectId,
    /// Short type name, e.g. `WebRtcEndpoint`.
    pub element_type: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// Creation time, seconds since the epoch, when known.
    pub created: Option<u64>,
    /// When the model first saw the element.
    pub first_seen: Millis,
    /// A HubPort's hub (Composite, Dispatcher, ...): on KMS a port belongs to
    /// its hub, not to the pipeline. `None` for other elements, or until read.
    pub hub: Option<ObjectId>,
    /// Outgoing connections: `(sink, media)`.
    pub sinks: BTreeSet<(ObjectId, MediaType)>,
    pub flow: Flow,
    /// Present for SDP/RTP endpoints once any of their state was read.
    pub endpoint: Option<EndpointState>,
    pub stats: Option<StatsSample>,
    pub previous_stats: Option<StatsSample>,
    /// The state transitions observed, oldest first (bounded, see `history`).
    pub history: History,
    /// The model's revision when the element last changed (events recorded
    /// in its history aside): unchanged means its series are unchanged.
    pub rev: u64,
}

impl Element {
    /// Whether this type carries RTP stats (its flow is derived from counters).
    pub fn is_rtp_endpoint(&self) -> bool {
        kms_proto::ids::is_rtp_endpoint(&self.element_type)
    }

    /// Take identity fields from a fresh read, keep what was observed over time.
    pub(super) fn refresh_identity(&mut self, fresh: Element) {
        self.pipeline = fresh.pipeline;
        self.element_type = fresh.element_type;
        self.name = fresh.name;
        self.tags = fresh.tags;
        if fresh.created.is_some() {
            self.created = fresh.created;
        }
        if fresh.hub.is_some() {
            self.hub = fresh.hub;
        }
    }

    pub(super) fn record_stats(&mut self, sample: StatsSample) {
        self.previous_stats = self.stats.take();
        self.stats = Some(sample);
    }

    /// Age in seconds at `now`, from the creation time or else first sighting.
    pub fn age_ms(&self, now: Millis) -> Millis {
        let born = self
            .created
            .map(|s| s.saturating_mul(1000))
            .unwrap_or(self.first_seen);
        now.saturating_sub(born)
    }
}
