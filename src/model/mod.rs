//! The model: a plain-data snapshot of what lives inside one KMS target.
//!
//! ```text
//!   scrape (walks, polls, events) ──Update──► TargetModel::apply
//!                                  ──id────► TargetModel::remove
//!   reconnect ─────────────────────────────► TargetModel::reset
//!   metrics / policy / API ◄──── read-only borrows of TargetModel
//! ```
//!
//! No I/O and no clocks: every change carries the time it was observed
//! (`Millis`, milliseconds since the Unix epoch), so readers can ask how long a
//! state has held. `apply` also keeps, per element, a bounded ring of the
//! transitions it saw (`history`).

mod element;
mod history;
pub mod negotiation;
pub mod sdp;
mod state;
pub mod stats;
mod store;

use std::collections::{BTreeMap, BTreeSet};

use crate::kms::types::MediaType;

pub use element::Element;
pub use history::{History, Transition, TransitionKind, DEFAULT_HISTORY_LEN};
pub use state::{Direction, EndpointChange, EndpointState, Flow, Since};
pub use stats::{InboundRtp, OutboundRtp, RtpStream, StatsSample};
pub use store::{SharedTarget, Store};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// A KMS object id (`<uuid>_kurento.MediaPipeline`, `<pipeline>/<uuid>_kurento.<Type>`).
pub type ObjectId = String;

/// Connection and sync status of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// The WebSocket is open and a session is established.
    pub connected: bool,
    /// A full walk has completed since the process started.
    pub synced_once: bool,
    /// The last sync (walk or stats cycle) succeeded.
    pub last_sync_ok: bool,
    /// When the last successful sync finished.
    pub last_sync_at: Option<Millis>,
    /// Sync cycles failed in a row since the last good one.
    pub failed_syncs: u32,
}

/// What the ServerManager reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSummary {
    pub version: String,
    /// Live sessions (`getSessions` without empty entries).
    pub sessions: usize,
    /// CPU use, 0..=1 per the whole machine.
    pub cpu_ratio: f64,
    pub memory_bytes: u64,
}

/// A MediaPipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    pub id: ObjectId,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// Creation time, seconds since the epoch, when known.
    pub created: Option<u64>,
    /// When the model first saw the pipeline.
    pub first_seen: Millis,
    /// The model's revision when the pipeline last changed (`TargetModel::apply`).
    pub rev: u64,
}

/// One change observed on KMS.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Connected(bool),
    /// A sync finished, successfully or not.
    Synced {
        ok: bool,
        at: Millis,
    },
    Server(ServerSummary),
    Pipeline(Pipeline),
    /// An element as read by a walk: replaces identity fields, keeps observed history.
    Element(Box<Element>),
    /// Tags of a pipeline or element, as `getTags` lists them.
    Tags {
        object: ObjectId,
        tags: BTreeMap<String, String>,
    },
    /// The element's outgoing connections, as `getSinkConnections` lists them.
    Sinks {
        source: ObjectId,
        sinks: BTreeSet<(ObjectId, MediaType)>,
    },
    Flow {
        element: ObjectId,
        direction: Direction,
        media: MediaType,
        flowing: bool,
        at: Millis,
    },
    Endpoint {
        element: ObjectId,
        change: EndpointChange,
        at: Millis,
    },
    Stats {
        element: ObjectId,
        sample: StatsSample,
    },
    /// A KMS event a watch received for an element: recorded in its history
    /// as is (the scrape keeps the states themselves current).
    Event {
        element: ObjectId,
        event: String,
        fields: BTreeMap<String, String>,
        at: Millis,
    },
}

/// Everything known about one KMS target.
#[derive(Debug, Clone)]
pub struct TargetModel {
    pub name: String,
    pub health: Health,
    pub server: Option<ServerSummary>,
    pub pipelines: BTreeMap<ObjectId, Pipeline>,
    pub elements: BTreeMap<ObjectId, Element>,
    /// Transitions kept per element (`Element::history`).
    history_len: usize,
    /// Counts the changes applied: an object's `rev` is the count when it
    /// last changed (what the metrics re-render).
    revision: u64,
}

impl Default for TargetModel {
    fn default() -> Self {
        TargetModel {
            name: String::new(),
            health: Health::default(),
            server: None,
            pipelines: BTreeMap::new(),
            elements: BTreeMap::new(),
            history_len: DEFAULT_HISTORY_LEN,
            revision: 0,
        }
    }
}

impl TargetModel {
    pub fn new(name: impl Into<String>) -> Self {
        TargetModel {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Transitions kept per element.
    pub fn history_len(&self) -> usize {
        self.history_len
    }

    /// Keep `len` transitions per element from now on (0 records none);
    /// longer histories are cut to their newest `len` entries at once.
    pub fn set_history_len(&mut self, len: usize) {
        self.history_len = len;
        for e in self.elements.values_mut() {
            e.history.truncate(len);
        }
    }

    /// Apply one observed change. Changes naming an unknown element are ignored:
    /// the element was released, or the next walk will bring it.
    pub fn apply(&mut self, update: Update) {
        self.revision += 1;
        let rev = self.revision;
        match update {
            Update::Connected(c) => {
                self.health.connected = c;
                if !c {
                    self.health.last_sync_ok = false;
                }
            }
            Update::Synced { ok, at } => {
                self.health.last_sync_ok = ok;
                self.health.failed_syncs = if ok {
                    0
                } else {
                    self.health.failed_syncs.saturating_add(1)
                };
                if ok {
                    self.health.synced_once = true;
                    self.health.last_sync_at = Some(at);
                }
            }
            Update::Server(s) => self.server = Some(s),
            Update::Pipeline(mut p) => {
                if let Some(old) = self.pipelines.get(&p.id) {
                    p.first_seen = old.first_seen;
                }
                p.rev = rev;
                self.pipelines.insert(p.id.clone(), p);
            }
            Update::Element(e) => match self.elements.get_mut(&e.id) {
                Some(old) => {
                    old.refresh_identity(*e);
                    old.rev = rev;
                }
                None => {
                    let mut e = *e;
                    e.rev = rev;
                    e.history.truncate(self.history_len);
                    self.elements.insert(e.id.clone(), e);
                }
            },
            Update::Tags { object, tags } => {
                if let Some(p) = self.pipelines.get_mut(&object) {
                    p.tags = tags;
                    p.rev = rev;
                } else if let Some(e) = self.elements.get_mut(&object) {
                    e.tags = tags;
                    e.rev = rev;
                }
            }
            Update::Sinks { source, sinks } => {
                if let Some(e) = self.elements.get_mut(&source) {
                    e.sinks = sinks;
                    e.rev = rev;
                }
            }
            Update::Flow {
                element,
                direction,
                media,
                flowing,
                at,
            } => {
                if let Some(e) = self.elements.get_mut(&element) {
                    let old = e.flow.get(direction, media).map(|s| s.value);
                    if let Some(kind) = history::flow_transition(old, direction, media, flowing) {
                        e.history.push(Transition { at, kind }, self.history_len);
                    }
                    e.flow.set(direction, media, flowing, at);
                    e.rev = rev;
                }
            }
            Update::Endpoint {
                element,
                change,
                at,
            } => {
                if let Some(e) = self.elements.get_mut(&element) {
                    let kinds = history::endpoint_transitions(e.endpoint.as_ref(), &change);
                    e.endpoint
                        .get_or_insert_with(Default::default)
                        .apply(change, at);
                    e.rev = rev;
                    for kind in kinds {
                        e.history.push(Transition { at, kind }, self.history_len);
                    }
                }
            }
            Update::Stats { element, sample } => {
                if let Some(e) = self.elements.get_mut(&element) {
                    e.record_stats(sample);
                    e.rev = rev;
                }
            }
            Update::Event {
                element,
                event,
                fields,
                at,
            } => {
                if let Some(e) = self.elements.get_mut(&element) {
                    let kind = TransitionKind::Event { event, fields };
                    e.history.push(Transition { at, kind }, self.history_len);
                }
            }
        }
    }

    /// Forget an object; a pipeline takes its elements with it, a hub its
    /// ports, and edges into a removed element go too.
    pub fn remove(&mut self, id: &str) {
        let removed: Vec<ObjectId> = if self.pipelines.remove(id).is_some() {
            let children: Vec<ObjectId> = self
                .elements
                .values()
                .filter(|e| e.pipeline == id)
                .map(|e| e.id.clone())
                .collect();
            for c in &children {
                self.elements.remove(c);
            }
            children
        } else if self.elements.remove(id).is_some() {
            // A hub takes its ports with it.
            let mut gone = vec![id.to_string()];
            let ports: Vec<ObjectId> = self
                .elements
                .values()
                .filter(|e| e.hub.as_deref() == Some(id))
                .map(|e| e.id.clone())
                .collect();
            for port in ports {
                self.elements.remove(&port);
                gone.push(port);
            }
            gone
        } else {
            return;
        };
        for e in self.elements.values_mut() {
            e.sinks.retain(|(sink, _)| !removed.contains(sink));
        }
    }

    /// Drop every object (KMS restarted or the connection was lost); health stays.
    pub fn reset(&mut self) {
        self.server = None;
        self.pipelines.clear();
        self.elements.clear();
    }

    /// Keep only the listed objects: what a full walk did not find is gone.
    pub fn retain_only(&mut self, seen: &BTreeSet<ObjectId>) {
        let gone: Vec<ObjectId> = self
            .pipelines
            .keys()
            .chain(self.elements.keys())
            .filter(|id| !seen.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.remove(&id);
        }
    }

    /// Elements of one pipeline. A KMS element id starts with its
    /// pipeline's (`<pipeline>/<uuid>_kurento.<Type>`), so they are one range
    /// of the map: no scan of the whole target.
    pub fn children<'a>(&'a self, pipeline: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements
            .range(format!("{pipeline}/")..)
            .take_while(move |(id, _)| {
                id.strip_prefix(pipeline)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|(_, e)| e)
            .filter(move |e| e.pipeline == pipeline)
    }

    /// Incoming connections of an element: `(source, media)`, from the
    /// elements of its pipeline (connections never cross pipelines).
    pub fn sources_of<'a>(
        &'a self,
        sink: &'a str,
    ) -> impl Iterator<Item = (&'a str, MediaType)> + 'a {
        let pipeline = self
            .elements
            .get(sink)
            .map_or(kms_proto::ids::pipeline_of(sink), |e| e.pipeline.as_str());
        self.children(pipeline).flat_map(move |e| {
            e.sinks
                .iter()
                .filter(move |(s, _)| s == sink)
                .map(move |(_, m)| (e.id.as_str(), *m))
        })
    }
}

#[cfg(test)]
mod tests;
