//! The simulated application: an internal session that stays open and runs
//! conferences (pipeline + Composite, one WebRtcEndpoint + HubPort per
//! participant with a simulated browser peer, tagged `room`/`participant`),
//! and can forget endpoints or whole rooms (zombies).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::engine::Engine;
use super::kinds::Kind;
use super::stats::Quality;
use super::timeline::Vanish;
use super::webrtc::IceMode;
use kms_proto::wire::RpcError;

/// A conference run by the simulated application.
#[derive(Debug, Clone, Default)]
pub struct Room {
    pub pipeline: String,
    pub hub: String,
    /// participant → (endpoint, hub port)
    pub participants: BTreeMap<String, (String, String)>,
}

fn ctor(key: &str, id: &str) -> Map<String, Value> {
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

    fn app_create(&mut self, kind: Kind, ctor: &Map<String, Value>) -> Result<String, RpcError> {
        let s = self.app_session();
        let id = self.create_object(kind, ctor)?;
        self.add_ref(&s, &id);
        Ok(id)
    }

    /// Add a tag to an object (as the application would with `addTag`).
    pub fn tag(&mut self, id: &str, key: &str, value: &str) {
        if let Some(o) = self.objects.get_mut(id) {
            o.tags.push((key.to_owned(), value.to_owned()));
        }
    }

    /// Open room `room` (idempotent); returns its pipeline.
    pub fn app_open_room(&mut self, room: &str) -> Result<String, RpcError> {
        if let Some(r) = self.rooms.get(room) {
            return Ok(r.pipeline.clone());
        }
        let pipeline = self.app_create(Kind::MediaPipeline, &Map::new())?;
        self.tag(&pipeline, "room", room);
        if let Some(o) = self.objects.get_mut(&pipeline) {
            o.name = Some(format!("room-{room}"));
        }
        let hub = self.app_create(Kind::Composite, &ctor("mediaPipeline", &pipeline))?;
        self.rooms.insert(
            room.to_owned(),
            Room {
                pipeline: pipeline.clone(),
                hub,
                participants: BTreeMap::new(),
            },
        );
        Ok(pipeline)
    }

    /// A browser-like SDP offer (audio + video, sendrecv).
    pub fn browser_offer(&mut self) -> String {
        let origin: u64 = rand::Rng::gen::<u64>(&mut self.rng) >> 2;
        let ufrag = &self.uuid()[..4];
        format!(
            "v=0\r\no=- {origin} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
a=ice-pwd:3HXaX/51p+fvjRovyJ24EBgT\r\na=ice-options:trickle\r\na=setup:actpass\r\na=mid:0\r\na=sendrecv\r\n\
a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
a=ice-pwd:3HXaX/51p+fvjRovyJ24EBgT\r\na=ice-options:trickle\r\na=setup:actpass\r\na=mid:1\r\na=sendrecv\r\n\
a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
        )
    }

    /// `participant` joins `room` with a browser peer; returns the endpoint.
    pub fn app_join(
        &mut self,
        room: &str,
        participant: &str,
        ice: IceMode,
    ) -> Result<String, RpcError> {
        self.app_open_room(room)?;
        let (pipeline, hub) = match self.rooms.get(room) {
            Some(r) => (r.pipeline.clone(), r.hub.clone()),
            None => return Err(RpcError::not_found(room)),
        };
        let ep = self.app_create(Kind::WebRtcEndpoint, &ctor("mediaPipeline", &pipeline))?;
        let port = self.app_create(Kind::HubPort, &ctor("hub", &hub))?;
        for id in [&ep, &port] {
            self.tag(id, "room", room);
            self.tag(id, "participant", participant);
        }
        if let Some(r) = self.rtc_mut(&ep) {
            r.ice_mode = ice;
        }
        self.link_all(&ep, &port);
        self.link_all(&port, &ep);
        let offer = self.browser_offer();
        self.process_offer(&ep, &offer)?;
        self.gather_candidates(&ep)?;
        let cand = json!({"candidate": "candidate:1 1 UDP 2122260223 198.51.100.7 40001 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
        self.add_ice_candidate(&ep, Some(&cand))?;
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants
                .insert(participant.to_owned(), (ep.clone(), port));
        }
        Ok(ep)
    }

    fn link_all(&mut self, src: &str, sink: &str) {
        for m in kms_proto::types::MediaType::ALL {
            self.link(src, sink, *m);
        }
    }

    fn participant(&self, room: &str, participant: &str) -> Option<(String, String)> {
        self.rooms.get(room)?.participants.get(participant).cloned()
    }

    /// `participant` leaves properly: its objects are released.
    pub fn app_leave(&mut self, room: &str, participant: &str) {
        if let Some((ep, port)) = self.participant(room, participant) {
            self.app_release(&ep);
            self.app_release(&port);
        }
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants.remove(participant);
        }
    }

    /// The participant's browser goes away and the app forgets its objects.
    pub fn app_forget(&mut self, room: &str, participant: &str, how: Vanish) {
        if let Some((ep, port)) = self.participant(room, participant) {
            self.vanish_peer(&ep, how);
            for id in [&ep, &port] {
                if let Some(o) = self.objects.get_mut(id) {
                    o.zombie = true;
                }
            }
        }
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants.remove(participant);
        }
    }

    /// Every browser of the room leaves; the app forgets the whole pipeline.
    pub fn app_forget_room(&mut self, room: &str, how: Vanish) {
        let Some(r) = self.rooms.remove(room) else {
            return;
        };
        for (ep, _) in r.participants.values() {
            self.vanish_peer(ep, how);
        }
        // the pipeline, its elements and hubs, and the hubs' ports
        let mut ids = vec![r.pipeline.clone()];
        ids.extend(self.elements_of(&r.pipeline));
        for id in ids {
            if let Some(o) = self.objects.get_mut(&id) {
                o.zombie = true;
            }
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
                .map(|(_, (ep, _))| ep.clone())
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

    /// The endpoint of a participant, if in the room.
    pub fn app_endpoint(&self, room: &str, participant: &str) -> Option<String> {
        self.participant(room, participant).map(|(ep, _)| ep)
    }

    /// The pipeline of a room.
    pub fn app_room_pipeline(&self, room: &str) -> Option<String> {
        self.rooms.get(room).map(|r| r.pipeline.clone())
    }
}
