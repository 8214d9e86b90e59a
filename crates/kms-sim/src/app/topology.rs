//! How the simulated application builds each Kurento application topology,
//! as the Kurento tutorials and real applications do, and how a browser
//! peer negotiates with an endpoint (an SDP offer, ICE candidates; a
//! receive-only browser sends nothing).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ctor, Member, Room};
use crate::engine::Engine;
use crate::kinds::Kind;
use crate::webrtc::IceMode;
use kms_proto::types::MediaType;
use kms_proto::wire::RpcError;

/// An application topology (`"topology"` of the scenario action `room`).
///
/// | value | pipeline holds | per participant |
/// | --- | --- | --- |
/// | `one_to_one` | two WebRtcEndpoints connected both ways | one endpoint (at most two participants) |
/// | `one_to_many` | a presenter endpoint feeding every viewer endpoint | the first participant presents (browser send-only), the others view (browser receive-only: their endpoints get media in from the presenter and send it out to the browser only) |
/// | `sfu` | per participant a publisher and, for every other participant, a receiving endpoint fed by that participant's publisher | publisher (browser sends) + receivers (browser receives) |
/// | `mcu` (alias `conference`) | a Composite | an endpoint + a HubPort, connected both ways |
/// | `dispatcher` | a Dispatcher | an endpoint + a HubPort; every port receives the first participant's port (`Dispatcher.connect`), the first receives the second's |
/// | `dispatcher_one_to_many` | a DispatcherOneToMany | an endpoint + a HubPort; the first participant's port is the source (`setSource`) |
/// | `playback` | per participant a PlayerEndpoint -> WebRtcEndpoint (playing; browser receive-only) | player + endpoint |
/// | `recording` | per participant a WebRtcEndpoint -> RecorderEndpoint (recording) and looped back to the browser | endpoint + recorder |
/// | `loopback` | an endpoint connected to itself | one endpoint |
///
/// Playback, recording and loopback pipelines belong to their user (one
/// participant by default): forgetting the last user forgets the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    OneToOne,
    OneToMany,
    Sfu,
    #[default]
    #[serde(alias = "conference")]
    Mcu,
    Dispatcher,
    DispatcherOneToMany,
    Playback,
    Recording,
    Loopback,
}

impl Topology {
    /// The pipeline belongs to its user.
    pub fn single_user(self) -> bool {
        matches!(
            self,
            Topology::Playback | Topology::Recording | Topology::Loopback
        )
    }

    fn hub(self) -> Option<Kind> {
        match self {
            Topology::Mcu => Some(Kind::Composite),
            Topology::Dispatcher => Some(Kind::Dispatcher),
            Topology::DispatcherOneToMany => Some(Kind::DispatcherOneToMany),
            _ => None,
        }
    }
}

/// What a participant does in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends and receives.
    #[default]
    Peer,
    /// One-to-many: sends only.
    Presenter,
    /// One-to-many: receives only.
    Viewer,
}

/// What a playback room plays unless told: a stream that never ends.
pub const DEFAULT_URI: &str = "http://media.example.org/sintel.webm";

/// The candidate every simulated browser sends.
fn browser_candidate() -> serde_json::Value {
    json!({"candidate": "candidate:1 1 UDP 2122260223 198.51.100.7 40001 typ host",
           "sdpMid": "0", "sdpMLineIndex": 0})
}

impl Engine {
    /// Open room `room` with `topology` (idempotent); returns its pipeline.
    pub fn app_open(&mut self, room: &str, topology: Topology) -> Result<String, RpcError> {
        self.app_open_uri(room, topology, None)
    }

    /// `app_open` with the URI players play (playback rooms).
    pub fn app_open_uri(
        &mut self,
        room: &str,
        topology: Topology,
        uri: Option<&str>,
    ) -> Result<String, RpcError> {
        if let Some(r) = self.rooms.get(room) {
            return Ok(r.pipeline.clone());
        }
        let pipeline = self.app_create(Kind::MediaPipeline, &Default::default())?;
        self.tag(&pipeline, "room", room);
        if let Some(o) = self.objects.get_mut(&pipeline) {
            o.name = Some(format!("room-{room}"));
        }
        let hub = match topology.hub() {
            Some(k) => {
                let h = self.app_create(k, &ctor("mediaPipeline", &pipeline))?;
                self.tag(&h, "room", room);
                Some(h)
            }
            None => None,
        };
        self.rooms.insert(
            room.to_owned(),
            Room {
                topology,
                pipeline: pipeline.clone(),
                hub,
                participants: Default::default(),
                order: Vec::new(),
                uri: uri.unwrap_or(DEFAULT_URI).to_owned(),
                note: None,
            },
        );
        self.refresh_room(room);
        Ok(pipeline)
    }

    /// A browser-like SDP offer, audio + video, sending and/or receiving.
    pub fn browser_offer_dir(&mut self, sends: bool, receives: bool) -> String {
        let dir = match (sends, receives) {
            (true, true) => "sendrecv",
            (true, false) => "sendonly",
            (false, true) => "recvonly",
            (false, false) => "inactive",
        };
        let origin: u64 = rand::Rng::gen::<u64>(&mut self.rng) >> 2;
        let ufrag = &self.uuid()[..4];
        format!(
            "v=0\r\no=- {origin} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
a=ice-pwd:3HXaX/51p+fvjRovyJ24EBgT\r\na=ice-options:trickle\r\na=setup:actpass\r\na=mid:0\r\na={dir}\r\n\
a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\n\
a=ice-pwd:3HXaX/51p+fvjRovyJ24EBgT\r\na=ice-options:trickle\r\na=setup:actpass\r\na=mid:1\r\na={dir}\r\n\
a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
        )
    }

    /// A browser-like SDP offer (audio + video, sendrecv).
    pub fn browser_offer(&mut self) -> String {
        self.browser_offer_dir(true, true)
    }

    /// The browser of `ep` negotiates: an offer whose direction is `dir`
    /// (the browser sends, receives), gathering, a candidate. With
    /// `delay_ms` > 0 the offer arrives that much later (the endpoint stays
    /// mid-negotiation until then).
    pub(crate) fn browser_negotiates(
        &mut self,
        ep: &str,
        ice: IceMode,
        dir: (bool, bool),
        delay_ms: u64,
    ) -> Result<(), RpcError> {
        if let Some(r) = self.rtc_mut(ep) {
            r.ice_mode = ice;
        }
        if delay_ms > 0 {
            self.late_offers
                .push((self.now + delay_ms, ep.to_owned(), dir));
            return Ok(());
        }
        let offer = self.browser_offer_dir(dir.0, dir.1);
        self.process_offer(ep, &offer)?;
        self.gather_candidates(ep)?;
        self.add_ice_candidate(ep, Some(&browser_candidate()))?;
        Ok(())
    }

    /// Late offers that are due now (see `browser_negotiates`).
    pub(crate) fn run_late_offers(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.late_offers)
            .into_iter()
            .partition(|o| o.0 <= now);
        self.late_offers = later;
        for (_, ep, dir) in due {
            if self.objects.contains_key(&ep) {
                let ice = self.rtc(&ep).map(|r| r.ice_mode).unwrap_or_default();
                // a failure leaves the endpoint unnegotiated, as a lost offer would
                let _ = self.browser_negotiates(&ep, ice, dir, 0);
                self.note_negotiated(&ep);
            }
        }
    }

    fn link_all(&mut self, src: &str, sink: &str) {
        for m in MediaType::ALL {
            self.link(src, sink, *m);
        }
    }

    fn tagged_endpoint(
        &mut self,
        room: &str,
        pipeline: &str,
        owner: &str,
    ) -> Result<String, RpcError> {
        let ep = self.app_create(Kind::WebRtcEndpoint, &ctor("mediaPipeline", pipeline))?;
        self.tag(&ep, "room", room);
        self.tag(&ep, "participant", owner);
        Ok(ep)
    }

    /// `participant` joins `room` (opened as MCU if new) per its topology;
    /// the browser's offer comes `offer_delay_ms` later. Returns the
    /// participant's browser-facing endpoint.
    pub fn app_join_with(
        &mut self,
        room: &str,
        participant: &str,
        ice: IceMode,
        offer_delay_ms: u64,
    ) -> Result<String, RpcError> {
        self.app_open_room_if_new(room)?;
        let Some(r) = self.rooms.get(room).cloned() else {
            return Err(RpcError::not_found(room));
        };
        if let Some(m) = r.participants.get(participant) {
            return Ok(m.endpoint.clone());
        }
        let pl = r.pipeline.clone();
        let first = r.order.first().cloned();
        let presenter = r
            .participants
            .values()
            .find(|m| m.role == Role::Presenter)
            .map(|m| m.endpoint.clone());
        // one-to-many: whoever joins while nobody presents presents
        let role = match (r.topology, &presenter) {
            (Topology::OneToMany, None) => Role::Presenter,
            (Topology::OneToMany, Some(_)) => Role::Viewer,
            _ => Role::Peer,
        };
        let ep = self.tagged_endpoint(room, &pl, participant)?;
        let mut m = Member {
            role,
            endpoint: ep.clone(),
            ..Member::default()
        };
        // (sends, receives): a presenter and an SFU publisher only send,
        // viewers and playback browsers only receive
        let dir = match (role, r.topology) {
            (Role::Viewer, _) | (_, Topology::Playback) => (false, true),
            (Role::Presenter, _) | (_, Topology::Sfu) => (true, false),
            _ => (true, true),
        };
        match r.topology {
            Topology::OneToOne => {
                if let Some(other) = first.as_ref().and_then(|f| r.participants.get(f)) {
                    self.link_all(&other.endpoint, &ep);
                    self.link_all(&ep, &other.endpoint);
                }
            }
            Topology::OneToMany => match &presenter {
                Some(p) => self.link_all(p, &ep),
                // a new presenter feeds the viewers already there
                None => {
                    for v in r.participants.values() {
                        self.link_all(&ep, &v.endpoint);
                    }
                }
            },
            Topology::Sfu => {
                for (name, other) in &r.participants {
                    // mine: receives `other`'s publisher; theirs: receives mine
                    let mine = self.tagged_endpoint(room, &pl, participant)?;
                    self.link_all(&other.endpoint, &mine);
                    self.browser_negotiates(&mine, ice, (false, true), offer_delay_ms)?;
                    m.receivers.insert(name.clone(), mine);
                    let theirs = self.tagged_endpoint(room, &pl, name)?;
                    self.link_all(&ep, &theirs);
                    self.browser_negotiates(&theirs, IceMode::Normal, (false, true), 0)?;
                    if let Some(o) = self
                        .rooms
                        .get_mut(room)
                        .and_then(|r| r.participants.get_mut(name))
                    {
                        o.receivers.insert(participant.to_owned(), theirs);
                    }
                }
            }
            Topology::Mcu | Topology::Dispatcher | Topology::DispatcherOneToMany => {
                let hub = r.hub.clone().unwrap_or_default();
                let port = self.app_create(Kind::HubPort, &ctor("hub", &hub))?;
                self.tag(&port, "room", room);
                self.tag(&port, "participant", participant);
                self.link_all(&ep, &port);
                self.link_all(&port, &ep);
                let first_port = first
                    .as_ref()
                    .and_then(|f| r.participants.get(f))
                    .and_then(|f| f.port.clone());
                match (r.topology, first_port) {
                    (Topology::Dispatcher, Some(fp)) => {
                        self.app_invoke(&hub, "connect", json!({"source": fp, "sink": port}));
                        if r.order.len() == 1 {
                            self.app_invoke(&hub, "connect", json!({"source": port, "sink": fp}));
                        }
                    }
                    (Topology::DispatcherOneToMany, None) => {
                        self.app_invoke(&hub, "setSource", json!({ "source": port }));
                    }
                    _ => {}
                }
                m.port = Some(port);
            }
            Topology::Playback => {
                let mut c = ctor("mediaPipeline", &pl);
                c.insert("uri".into(), r.uri.clone().into());
                let player = self.app_create(Kind::PlayerEndpoint, &c)?;
                self.tag(&player, "room", room);
                self.tag(&player, "participant", participant);
                self.link_all(&player, &ep);
                self.play(&player);
                m.media = Some(player);
            }
            Topology::Recording => {
                let mut c = ctor("mediaPipeline", &pl);
                c.insert(
                    "uri".into(),
                    format!("file:///tmp/recordings/{room}-{participant}.webm").into(),
                );
                let rec = self.app_create(Kind::RecorderEndpoint, &c)?;
                self.tag(&rec, "room", room);
                self.tag(&rec, "participant", participant);
                self.link_all(&ep, &rec);
                self.link_all(&ep, &ep);
                self.app_invoke(&rec, "record", json!({}));
                m.media = Some(rec);
            }
            Topology::Loopback => self.link_all(&ep, &ep),
        }
        self.browser_negotiates(&ep, ice, dir, offer_delay_ms)?;
        if offer_delay_ms > 0 {
            m.note = Some("mid-negotiation: the offer is late".into());
        }
        if let Some(r) = self.rooms.get_mut(room) {
            r.participants.insert(participant.to_owned(), m);
            r.order.push(participant.to_owned());
        }
        self.refresh_room(room);
        Ok(ep)
    }

    fn app_open_room_if_new(&mut self, room: &str) -> Result<(), RpcError> {
        if !self.rooms.contains_key(room) {
            self.app_open(room, Topology::Mcu)?;
        }
        Ok(())
    }

    /// An operation the application invokes on one of its objects.
    pub(crate) fn app_invoke(&mut self, id: &str, op: &str, args: serde_json::Value) {
        let s = self.app_session();
        let args = args.as_object().cloned().unwrap_or_default();
        // the application's own calls on its own objects do not fail
        let _ = self.invoke(&s, id, op, &args);
    }
}
