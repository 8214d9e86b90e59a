//! The simulated application: an internal session that stays open and runs
//! rooms in every Kurento application topology (`Topology`), each object
//! tagged `room` (and `participant` where there is one), with a simulated
//! browser per participant; it can leave properly, or forget objects
//! (leaks: the ground truth marks them zombie, with why).
//!
//! Submodules: `topology` builds the rooms and their members the way the
//! Kurento tutorials do; `cases` holds the verbs of the leaks and
//! never-a-zombie cases beyond join/leave/forget (idle endpoints, late
//! offers, empty pipelines, mute, pause, ICE restarts, tags).
//!
//! What the application loses when a participant's browser goes and it
//! forgets the participant (`app_forget`): the objects it created for that
//! participant (`Member`): its browser-facing endpoint, its hub port, its
//! player or recorder, and in an SFU its own receiving endpoints. Objects
//! it holds for other participants stay held (an SFU's receiving endpoints
//! of the others for the forgotten publisher: live, their browsers live).
//! In the single-user topologies (playback, recording, loopback) the
//! pipeline belongs to its user: forgetting the last user forgets the
//! pipeline too.

mod cases;
mod topology;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::engine::Engine;
use super::kinds::Kind;
use super::stats::Quality;
use super::timeline::Vanish;
use kms_proto::wire::RpcError;

pub use topology::{Role, Topology};

/// A room run by the simulated application.
#[derive(Debug, Clone)]
pub struct Room {
    pub topology: Topology,
    pub pipeline: String,
    /// Composite, Dispatcher or DispatcherOneToMany (hub topologies).
    pub hub: Option<String>,
    /// The members the application holds, by participant name.
    pub participants: BTreeMap<String, Member>,
    /// Join order (the first is the presenter/source where there is one).
    pub order: Vec<String>,
    /// Playback: what the players play.
    pub uri: String,
    /// Why the room's own objects (pipeline, hub) are live, when told.
    pub note: Option<String>,
}

/// The objects the application created for one participant.
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub role: Role,
    /// The endpoint facing the participant's browser (an SFU's publisher).
    pub endpoint: String,
    /// Hub topologies: the participant's port.
    pub port: Option<String>,
    /// SFU: this participant's receiving endpoints, by publisher.
    pub receivers: BTreeMap<String, String>,
    /// Playback: the player; recording: the recorder.
    pub media: Option<String>,
    /// Why the participant's objects are live (set by the cases' verbs).
    pub note: Option<String>,
}

impl Member {
    /// Every object the application created for this participant.
    pub fn objects(&self) -> Vec<String> {
        let mut v = vec![self.endpoint.clone()];
        v.extend(self.port.iter().cloned());
        v.extend(self.media.iter().cloned());
        v.extend(self.receivers.values().cloned());
        v
    }

    /// The endpoints facing the participant's browser.
    pub fn browser_endpoints(&self) -> Vec<String> {
        let mut v = vec![self.endpoint.clone()];
        v.extend(self.receivers.values().cloned());
        v
    }
}

pub(crate) fn ctor(key: &str, id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), id.into());
    m
}

impl Engine {
    /// The application's session (created and attached on first use).
    pub fn app_session(&mut self) -> String {
        if let Some(s) = &self.app {
            return s.clone();
        }
        let s = self.uuid();
        self.attach(&s);
        self.app = Some(s.clone());
        s
    }

    pub(crate) fn app_create(
        &mut self,
        kind: Kind,
        ctor: &Map<String, Value>,
    ) -> Result<String, RpcError> {
        let s = self.app_session();
        let id = self.create_object(kind, ctor)?;
        self.add_ref(&s, &id);
        Ok(id)
    }

    /// Add a tag to an object (as the application would with `addTag`).
    pub fn tag(&mut self, id: &str, key: &str, value: &str) {
        if let Some(o) = self.objects.get_mut(id) {
            o.tags.retain(|(k, _)| k != key);
            o.tags.push((key.to_owned(), value.to_owned()));
        }
    }

    /// Mark `id` as forgotten by the application (a zombie), with why.
    pub(crate) fn mark_zombie(&mut self, id: &str, why: &str) {
        if let Some(o) = self.objects.get_mut(id) {
            o.zombie = true;
            o.why = Some(why.to_owned());
        }
    }

    /// Say why a live object is live (zombies keep their why).
    pub(crate) fn mark_live(&mut self, id: &str, why: &str) {
        if let Some(o) = self.objects.get_mut(id).filter(|o| !o.zombie) {
            o.why = Some(why.to_owned());
        }
    }

    /// Open an MCU room `room` (idempotent); returns its pipeline.
    pub fn app_open_room(&mut self, room: &str) -> Result<String, RpcError> {
        self.app_open(room, Topology::Mcu)
    }

    /// `participant` joins `room` with a browser peer; returns its endpoint.
    /// A room that does not exist yet is opened as an MCU room.
    pub fn app_join(
        &mut self,
        room: &str,
        participant: &str,
        ice: super::webrtc::IceMode,
    ) -> Result<String, RpcError> {
        self.app_join_with(room, participant, ice, 0)
    }

    pub(crate) fn member(&self, room: &str, participant: &str) -> Option<Member> {
        self.rooms.get(room)?.participants.get(participant).cloned()
    }

    /// `participant` leaves properly: the application releases what it
    /// created for it (and, in an SFU, the others' receivers of it).
    pub fn app_leave(&mut self, room: &str, participant: &str) {
        let Some(m) = self.member(room, participant) else {
            return;
        };
        let mut release = m.objects();
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants.remove(participant);
            r.order.retain(|p| p != participant);
            for other in r.participants.values_mut() {
                release.extend(other.receivers.remove(participant));
            }
        }
        for id in release {
            self.app_release(&id);
        }
        self.close_if_single_user(room, None);
        self.refresh_room(room);
    }

    /// The participant's browser goes away (`how`) and the application
    /// forgets the objects it created for it: zombies.
    pub fn app_forget(&mut self, room: &str, participant: &str, how: Vanish) {
        let Some(m) = self.member(room, participant) else {
            return;
        };
        for ep in m.browser_endpoints() {
            self.vanish_peer(&ep, how);
        }
        let why = match how {
            Vanish::Crash => "forgotten after browser crash",
            Vanish::Close => "forgotten after browser close",
            Vanish::Released => "forgotten after its peer was released",
        };
        for id in m.objects() {
            self.mark_zombie(&id, why);
        }
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants.remove(participant);
            r.order.retain(|p| p != participant);
        }
        self.close_if_single_user(room, Some(why));
        self.refresh_room(room);
    }

    /// A single-user room left without users: released (`forgot` None) or
    /// forgotten with its user.
    fn close_if_single_user(&mut self, room: &str, forgot: Option<&str>) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        if !r.topology.single_user() || !r.participants.is_empty() {
            return;
        }
        let pipeline = r.pipeline.clone();
        self.rooms.remove(room);
        match forgot {
            None => self.app_release(&pipeline),
            Some(why) => {
                for id in self.subtree_ids(&pipeline) {
                    self.mark_zombie(&id, &format!("pipeline of a user {why}"));
                }
            }
        }
    }

    /// `id` and everything below it (hubs' ports included).
    pub(crate) fn subtree_ids(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut i = 0;
        while i < out.len() {
            if let Some(o) = self.objects.get(&out[i]) {
                out.extend(o.children.iter().cloned());
            }
            i += 1;
        }
        out
    }

    /// Every browser of the room leaves; the app forgets the whole pipeline.
    pub fn app_forget_room(&mut self, room: &str, how: Vanish) {
        let Some(r) = self.rooms.remove(room) else {
            return;
        };
        for m in r.participants.values() {
            for ep in m.browser_endpoints() {
                self.vanish_peer(&ep, how);
            }
        }
        for id in self.subtree_ids(&r.pipeline) {
            self.mark_zombie(&id, "room forgotten");
        }
    }

    /// The room ends properly: its pipeline is released.
    pub fn app_end_room(&mut self, room: &str) {
        if let Some(r) = self.rooms.remove(room) {
            self.app_release(&r.pipeline);
        }
    }

    /// Set the link quality of a participant (or everybody in the room).
    pub fn app_quality(&mut self, room: &str, participant: Option<&str>, q: Quality) {
        let eps: Vec<String> = match self.rooms.get(room) {
            Some(r) => r
                .participants
                .iter()
                .filter(|(p, _)| participant.is_none_or(|x| x == p.as_str()))
                .map(|(_, m)| m.endpoint.clone())
                .collect(),
            None => return,
        };
        for ep in eps {
            self.set_quality(&ep, q);
        }
    }

    /// Set the link quality of an endpoint.
    pub fn set_quality(&mut self, id: &str, q: Quality) {
        let now = self.now;
        let flows = self
            .objects
            .get(id)
            .and_then(|o| o.el.as_ref())
            .map(|e| (e.flow_in, e.flow_out));
        if let (Some(r), Some((fin, fout))) = (self.rtc_mut(id), flows) {
            r.quality = q;
            r.sync_counters(fin, fout, now);
        }
    }

    /// The browser-facing endpoint of a participant (an SFU's publisher).
    pub fn app_endpoint(&self, room: &str, participant: &str) -> Option<String> {
        self.member(room, participant).map(|m| m.endpoint)
    }

    /// The pipeline of a room.
    pub fn app_room_pipeline(&self, room: &str) -> Option<String> {
        self.rooms.get(room).map(|r| r.pipeline.clone())
    }

    /// Rewrite the why of the room's live objects after a change.
    pub(crate) fn refresh_room(&mut self, room: &str) {
        let Some(r) = self.rooms.get(room).cloned() else {
            return;
        };
        let alone = r.participants.len() == 1 && !r.topology.single_user();
        let room_why = r.note.as_deref().unwrap_or("room held by the application");
        for id in self.subtree_ids(&r.pipeline) {
            self.mark_live(&id, room_why);
        }
        for m in r.participants.values() {
            let default = match (m.role, r.topology) {
                (Role::Viewer, _) => "viewer: browser alive",
                (Role::Presenter, _) if r.participants.len() == 1 => "presenter alone",
                (Role::Presenter, _) => "presenter: browser alive",
                (_, Topology::Playback) => "playing to a live viewer",
                (_, Topology::Recording) => "recording a live call",
                (_, Topology::Loopback) => "loopback of a live browser",
                _ if alone => "participant alone in the room",
                _ => "participant: browser alive",
            };
            let why = m.note.as_deref().unwrap_or(default);
            for id in m.objects() {
                self.mark_live(&id, why);
            }
        }
    }
}
