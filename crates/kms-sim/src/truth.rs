//! Ground truth: a serializable snapshot of everything inside the simulated
//! KMS (objects, sessions, media, states, the release ledger), for tests and
//! the control API.

use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::ledger::ReleaseRecord;
use super::media::FLOW_TYPES;

/// Per media type (AUDIO, VIDEO) facts of an element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaTruth {
    pub media_type: String,
    pub flowing_in: bool,
    pub flowing_out: bool,
    /// True bitrate the element sends to its peer (bits/s).
    pub send_bps: f64,
    /// True bitrate the element receives from its peer (bits/s).
    pub recv_bps: f64,
}

/// One object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectTruth {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub parent: Option<String>,
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub creation_time: u64,
    pub sessions: Vec<String>,
    /// The application forgot the object (a leak the exporter must find).
    pub zombie: bool,
    /// Why the object is or is not a zombie, in a few words (e.g. "forgotten
    /// after browser crash", "room forgotten", "viewer: browser alive",
    /// "paused player"); "created by a client" for objects created over the
    /// wire, which the simulator cannot judge.
    #[serde(default)]
    pub why: String,
    pub media: Vec<MediaTruth>,
    pub media_state: Option<String>,
    pub connection_state: Option<String>,
    pub ice_states: Vec<String>,
    /// The remote peer is (still) there.
    pub peer_present: Option<bool>,
    /// The remote peer's network is interrupted right now (`Action::Interrupt`):
    /// the peer is still present, its media stops after ~4 s.
    #[serde(default)]
    pub interrupted: bool,
    /// Outgoing connections: `(sink id, media type)`.
    #[serde(default)]
    pub sinks: Vec<(String, String)>,
}

/// One session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTruth {
    pub id: String,
    pub connected: bool,
    pub references: usize,
}

/// Counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Counts {
    pub pipelines: usize,
    pub elements: usize,
    pub webrtc_endpoints: usize,
    pub zombies: usize,
    pub sessions: usize,
}

/// The simulator's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub server_id: String,
    pub now_ms: u64,
    /// Garbage-collector rounds run so far.
    pub gc_rounds: u64,
    pub objects: Vec<ObjectTruth>,
    pub sessions: Vec<SessionTruth>,
    pub counts: Counts,
    /// Every release request received, oldest first, and the simulated
    /// application's own releases (`by_app`): see `ledger`. The last
    /// `RELEASE_LEDGER_CAP`; kept across simulated restarts.
    #[serde(default)]
    pub releases: Vec<ReleaseRecord>,
    /// Older release records dropped to keep the ledger bounded.
    #[serde(default)]
    pub releases_dropped: u64,
}

impl Truth {
    pub fn object(&self, id: &str) -> Option<&ObjectTruth> {
        self.objects.iter().find(|o| o.id == id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.object(id).is_some()
    }

    /// The zombies grouped by their `room` and `participant` tags and type,
    /// sorted: the shape of `Scenario::expect_zombies`.
    pub fn zombies_by_tags(&self) -> Vec<super::scenario::ExpectedZombie> {
        let mut groups: std::collections::BTreeMap<(String, Option<String>, String), usize> =
            Default::default();
        for o in self.objects.iter().filter(|o| o.zombie) {
            let tag = |k: &str| o.tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.clone());
            let key = (
                tag("room").unwrap_or_default(),
                tag("participant"),
                o.kind.clone(),
            );
            *groups.entry(key).or_default() += 1;
        }
        groups
            .into_iter()
            .map(
                |((room, participant, kind), count)| super::scenario::ExpectedZombie {
                    room,
                    participant,
                    kind,
                    count,
                },
            )
            .collect()
    }

    /// The release requests that named `id`, oldest first.
    pub fn releases_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a ReleaseRecord> {
        self.releases.iter().filter(move |r| r.object == id)
    }
}

impl Engine {
    fn why_of(&self, o: &super::engine::Obj) -> String {
        if let Some(w) = &o.why {
            return w.clone();
        }
        if o.kind == super::kinds::Kind::ServerManager {
            return "the server manager: never released".into();
        }
        let held = self
            .app
            .as_ref()
            .and_then(|a| self.sessions.get(a))
            .is_some_and(|s| s.refs.contains(&o.id));
        match (o.zombie, held) {
            (true, _) => "forgotten by the application",
            (false, true) => "held by the application",
            (false, false) => "created by a client",
        }
        .into()
    }

    /// Snapshot the ground truth.
    pub fn truth(&self) -> Truth {
        let mut objects: Vec<ObjectTruth> = self
            .objects
            .values()
            .map(|o| {
                let sessions = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.refs.contains(&o.id))
                    .map(|(k, _)| k.clone())
                    .collect();
                let rtc = o.el.as_ref().and_then(|e| e.rtc.as_ref());
                let media = o
                    .el
                    .as_ref()
                    .map(|e| {
                        FLOW_TYPES
                            .iter()
                            .enumerate()
                            .map(|(i, m)| {
                                let s = rtc.and_then(|r| r.streams.iter().find(|s| s.media == *m));
                                MediaTruth {
                                    media_type: m.as_str().into(),
                                    flowing_in: e.flow_in[i],
                                    flowing_out: e.flow_out[i],
                                    send_bps: s.map_or(0.0, |s| s.outbound.rate()),
                                    recv_bps: s.map_or(0.0, |s| s.inbound.rate()),
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ObjectTruth {
                    id: o.id.clone(),
                    kind: o.kind.name().into(),
                    parent: o.parent.clone(),
                    name: o.name.clone().unwrap_or_else(|| o.id.clone()),
                    tags: o.tags.clone(),
                    creation_time: o.created,
                    sessions,
                    zombie: o.zombie,
                    why: self.why_of(o),
                    media,
                    media_state: rtc.map(|r| r.media_state.as_str().into()),
                    connection_state: rtc.map(|r| r.conn_state.as_str().into()),
                    ice_states: rtc
                        .map(|r| r.ice.iter().map(|s| s.as_str().into()).collect())
                        .unwrap_or_default(),
                    peer_present: rtc
                        .map(|r| r.gone.is_none() && r.peer != super::webrtc::Peer::None),
                    interrupted: rtc
                        .and_then(|r| r.blip)
                        .is_some_and(|b| self.now >= b.from && self.now < b.until),
                    sinks: o
                        .el
                        .as_ref()
                        .map(|e| {
                            e.sinks
                                .iter()
                                .map(|l| (l.peer.clone(), l.media.as_str().to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        let sessions: Vec<SessionTruth> = self
            .sessions
            .iter()
            .map(|(id, s)| SessionTruth {
                id: id.clone(),
                connected: s.conns > 0,
                references: s.refs.len(),
            })
            .collect();
        let counts = Counts {
            pipelines: self.pipelines.len(),
            elements: objects.iter().filter(|o| o.parent.is_some()).count(),
            webrtc_endpoints: objects
                .iter()
                .filter(|o| o.kind == "WebRtcEndpoint")
                .count(),
            zombies: objects.iter().filter(|o| o.zombie).count(),
            sessions: sessions.len(),
        };
        Truth {
            server_id: self.server_id.clone(),
            now_ms: self.now,
            gc_rounds: self.gc_rounds,
            objects,
            sessions,
            counts,
            releases: self.ledger.records().cloned().collect(),
            releases_dropped: self.ledger.dropped(),
        }
    }
}
