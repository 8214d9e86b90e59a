//! The simulator's state machine: the object store, the sessions, and the
//! dispatch of JSON-RPC methods. No I/O: the server feeds it requests and a
//! clock (`now`, epoch milliseconds) and delivers what it returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Map, Value};

use super::kinds::Kind;
use super::media::Element;
use kms_proto::wire::{code, Response, RpcError, SERVER_MANAGER};

/// An event frame for one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub session: String,
    pub frame: Value,
}

/// What one request produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response: Response,
    /// The session the request ran in (the connection should remember it).
    pub session: Option<String>,
    pub events: Vec<Delivery>,
}

/// An event subscription of a session on an object.
#[derive(Debug, Clone)]
pub struct Sub {
    pub id: String,
    pub session: String,
    pub event: String,
}

/// One media object.
#[derive(Debug)]
pub struct Obj {
    pub id: String,
    pub kind: Kind,
    pub parent: Option<String>,
    pub children: BTreeSet<String>,
    pub name: Option<String>,
    pub tags: Vec<(String, String)>,
    pub send_tags: bool,
    /// Epoch seconds.
    pub created: u64,
    pub subs: Vec<Sub>,
    /// Set by scenarios: the application forgot this object.
    pub zombie: bool,
    /// Why the object is (or is not) a zombie, when the application knows.
    pub why: Option<String>,
    pub props: BTreeMap<String, Value>,
    /// Pipelines only.
    pub latency_stats: bool,
    /// Media elements only.
    pub el: Option<Box<Element>>,
}

/// A client session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Open connections bound to this session.
    pub conns: u32,
    /// Marked unused by the last GC round.
    pub marked: bool,
    /// A connection of this session died on a malformed frame: KMS never collects it.
    pub leaked: bool,
    pub refs: BTreeSet<String>,
}

/// The whole simulated KMS.
#[derive(Debug)]
pub struct Engine {
    pub(crate) objects: HashMap<String, Obj>,
    pub(crate) pipelines: BTreeSet<String>,
    pub(crate) sessions: BTreeMap<String, Session>,
    pub(crate) server_id: String,
    pub(crate) rng: SmallRng,
    pub(crate) out: Vec<Delivery>,
    pub(crate) now: u64,
    /// Pipelines whose media flow must be recomputed.
    pub(crate) dirty: BTreeSet<String>,
    /// Elements with pending timed media transitions.
    pub(crate) timed: BTreeSet<String>,
    /// The simulated application's session.
    pub(crate) app: Option<String>,
    /// Conferences of the simulated application.
    pub(crate) rooms: BTreeMap<String, super::app::Room>,
    /// Garbage-collector rounds run so far.
    pub(crate) gc_rounds: u64,
    /// SDP origin id → the simulator endpoint that wrote it (loopback detection).
    pub(crate) origins: HashMap<u64, String>,
    /// Every release request received (bounded).
    pub(crate) ledger: super::ledger::Ledger,
    /// ICE behaviour of WebRtcEndpoints created over the wire from now on
    /// (`SimHandle::set_wire_ice`; scenario participants have their own).
    pub(crate) wire_ice: super::webrtc::IceMode,
    /// The application's browsers whose offer comes later: (due, endpoint,
    /// (the browser sends, receives)).
    pub(crate) late_offers: Vec<(u64, String, (bool, bool))>,
}

pub(crate) type RpcResult = Result<Value, RpcError>;

pub(crate) fn marshall(msg: impl Into<String>) -> RpcError {
    RpcError::kms(code::MARSHALL_ERROR, "MARSHALL_ERROR", msg)
}

pub(crate) fn server_error(msg: &str) -> RpcError {
    RpcError {
        code: code::SERVER_ERROR,
        message: msg.into(),
        data: None,
    }
}

impl Engine {
    pub fn new(seed: u64, now: u64) -> Self {
        let mut e = Engine {
            objects: HashMap::new(),
            pipelines: BTreeSet::new(),
            sessions: BTreeMap::new(),
            server_id: String::new(),
            rng: SmallRng::seed_from_u64(seed),
            out: Vec::new(),
            now,
            dirty: BTreeSet::new(),
            timed: BTreeSet::new(),
            app: None,
            rooms: BTreeMap::new(),
            gc_rounds: 0,
            origins: HashMap::new(),
            ledger: Default::default(),
            wire_ice: Default::default(),
            late_offers: Vec::new(),
        };
        e.server_id = e.uuid();
        let sm = e.new_obj(SERVER_MANAGER.into(), Kind::ServerManager, None);
        e.objects.insert(SERVER_MANAGER.into(), sm);
        e
    }

    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    /// A random UUID from the seeded generator (deterministic ids).
    pub(crate) fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    pub(crate) fn new_obj(&self, id: String, kind: Kind, parent: Option<String>) -> Obj {
        Obj {
            id,
            kind,
            parent,
            children: BTreeSet::new(),
            name: None,
            tags: Vec::new(),
            send_tags: false,
            created: self.now / 1000,
            subs: Vec::new(),
            zombie: false,
            why: None,
            props: BTreeMap::new(),
            latency_stats: false,
            el: kind.is_element().then(|| Box::new(Element::new(kind))),
        }
    }

    pub(crate) fn obj(&self, id: &str) -> Result<&Obj, RpcError> {
        self.objects.get(id).ok_or_else(|| RpcError::not_found(id))
    }

    /// A connection bound `session`.
    pub fn attach(&mut self, session: &str) {
        let s = self.sessions.entry(session.to_owned()).or_default();
        s.conns += 1;
        s.marked = false;
    }

    /// A connection bound to `session` closed. `leaked`: it died on a
    /// malformed frame, and KMS never collects such a session.
    pub fn detach(&mut self, session: &str, leaked: bool) {
        if let Some(s) = self.sessions.get_mut(session) {
            s.conns = s.conns.saturating_sub(1);
            s.leaked |= leaked;
        }
    }

    pub(crate) fn create(&mut self, s: &str, p: &Map<String, Value>) -> Result<String, RpcError> {
        let ty = p
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| server_error("'type' parameter is required"))?;
        let kind = Kind::from_name(ty)
            .filter(|k| *k != Kind::ServerManager)
            .ok_or_else(|| {
                RpcError::kms(
                    code::MEDIA_OBJECT_NOT_AVAILABLE,
                    "MEDIA_OBJECT_NOT_AVAILABLE",
                    format!("Factory '{ty}' not found"),
                )
            })?;
        let empty = Map::new();
        let ctor = p
            .get("constructorParams")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let id = self.create_object(kind, ctor)?;
        let ice = self.wire_ice;
        if let Some(r) = self.rtc_mut(&id) {
            r.ice_mode = ice;
        }
        self.add_ref(s, &id);
        Ok(id)
    }

    /// Create an object of `kind` with constructor parameters `ctor`.
    pub(crate) fn create_object(
        &mut self,
        kind: Kind,
        ctor: &Map<String, Value>,
    ) -> Result<String, RpcError> {
        // A HubPort belongs to its hub, not to the pipeline (PROTOCOL.md "Hubs
        // and their ports"); its id still starts with the pipeline's.
        let (id, parent) = if kind == Kind::MediaPipeline {
            (format!("{}_kurento.MediaPipeline", self.uuid()), None)
        } else if kind == Kind::HubPort {
            let hub = ctor
                .get("hub")
                .and_then(Value::as_str)
                .ok_or_else(|| marshall("'hub' parameter should be a string"))?;
            if !self.obj(hub)?.kind.is_a("Hub") {
                return Err(marshall("'hub' parameter should be a Hub"));
            }
            let pipeline = self
                .pipeline_of(hub)
                .ok_or_else(|| marshall("'hub' parameter should be a Hub"))?;
            (
                format!("{pipeline}/{}_kurento.{}", self.uuid(), kind.name()),
                Some(hub.to_owned()),
            )
        } else {
            let pl = ctor
                .get("mediaPipeline")
                .and_then(Value::as_str)
                .ok_or_else(|| marshall("'mediaPipeline' parameter should be a string"))?;
            if self.obj(pl)?.kind != Kind::MediaPipeline {
                return Err(marshall(
                    "'mediaPipeline' parameter should be a MediaPipeline",
                ));
            }
            (
                format!("{pl}/{}_kurento.{}", self.uuid(), kind.name()),
                Some(pl.to_owned()),
            )
        };
        let mut obj = self.new_obj(id.clone(), kind, parent.clone());
        for key in ["uri", "command"] {
            if let Some(v) = ctor.get(key).and_then(Value::as_str) {
                obj.props.insert(key.into(), v.into());
            }
        }
        if let (Some(el), Some(hub)) = (obj.el.as_mut(), ctor.get("hub").and_then(Value::as_str)) {
            el.hub = Some(hub.to_owned());
        }
        if let Some(pl) = &parent {
            if let Some(p) = self.objects.get_mut(pl) {
                p.children.insert(id.clone());
            }
        } else {
            self.pipelines.insert(id.clone());
        }
        self.objects.insert(id.clone(), obj);
        self.raise(SERVER_MANAGER, "ObjectCreated", json!({ "object": id }));
        Ok(id)
    }

    /// Release `id` and, first, its children. Unknown ids are ignored.
    pub fn release(&mut self, id: &str) {
        if id == SERVER_MANAGER {
            return;
        }
        let Some(obj) = self.objects.get(id) else {
            return;
        };
        let children: Vec<String> = obj.children.iter().cloned().collect();
        let parent = obj.parent.clone();
        for c in children {
            self.release(&c);
        }
        self.detach_media(id);
        if let Some(origin) = self.rtc(id).map(|r| r.origin) {
            self.origins.remove(&origin);
        }
        if let Some(p) = parent.as_deref().and_then(|p| self.objects.get_mut(p)) {
            p.children.remove(id);
        }
        self.pipelines.remove(id);
        for s in self.sessions.values_mut() {
            s.refs.remove(id);
        }
        self.raise(SERVER_MANAGER, "ObjectDestroyed", json!({ "objectId": id }));
        self.objects.remove(id);
        self.timed.remove(id);
        self.dirty.remove(id);
    }
}

impl Engine {
    /// Move the clock forward (never backward).
    pub fn advance(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// Settle flows and take the events raised since the last call.
    pub fn take_events(&mut self) -> Vec<Delivery> {
        self.settle();
        std::mem::take(&mut self.out)
    }
}

impl Engine {
    /// Whether object `id` exists.
    pub fn truth_has(&self, id: &str) -> bool {
        self.objects.contains_key(id)
    }
}
