//! The states an element carries, each with the time it took its value:
//! media flow per direction and media type, and an endpoint's ICE, DTLS,
//! media and connection states and SDPs, with the changes a refresh makes.

use std::collections::BTreeMap;

use crate::kms::types::{
    ConnectionState, DtlsConnectionState, IceComponentState, MediaState, MediaType,
};

use super::sdp::SdpSummary;
use super::Millis;

/// A value and the time it took that value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since<T> {
    pub value: T,
    pub since: Millis,
}

impl<T: PartialEq + Copy> Since<T> {
    /// Update, keeping `since` when the value did not change.
    fn set(slot: &mut Option<Since<T>>, value: T, at: Millis) {
        match slot {
            Some(s) if s.value == value => {}
            _ => *slot = Some(Since { value, since: at }),
        }
    }
}

/// KMS's flow direction: `In` enters the element from the pipeline, `Out`
/// leaves it into the pipeline (for a WebRtcEndpoint: received from its peer).
/// Serialized as `"in"` / `"out"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Media flow per direction and media type, each with the time it last changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    states: BTreeMap<(Direction, MediaType), Since<bool>>,
    /// Latest time media was known to flow, per direction.
    last_seen: BTreeMap<Direction, Millis>,
}

impl Flow {
    pub fn set(&mut self, direction: Direction, media: MediaType, flowing: bool, at: Millis) {
        let mut slot = self.states.get(&(direction, media)).copied();
        let was_flowing = slot.is_some_and(|s| s.value);
        if flowing || was_flowing {
            let seen = self.last_seen.entry(direction).or_insert(at);
            *seen = (*seen).max(at);
        }
        Since::set(&mut slot, flowing, at);
        if let Some(s) = slot {
            self.states.insert((direction, media), s);
        }
    }

    /// When `direction` was first measured, if it never flowed since: the
    /// earliest start of its current (not flowing) states.
    pub fn first_measured(&self, direction: Direction) -> Option<Millis> {
        self.states
            .iter()
            .filter(|((d, _), _)| *d == direction)
            .map(|(_, s)| s.since)
            .min()
    }

    pub fn get(&self, direction: Direction, media: MediaType) -> Option<Since<bool>> {
        self.states.get(&(direction, media)).copied()
    }

    /// Every known `(direction, media, state)`.
    pub fn iter(&self) -> impl Iterator<Item = (Direction, MediaType, Since<bool>)> + '_ {
        self.states.iter().map(|(&(d, m), &s)| (d, m, s))
    }

    /// Some media flows in `direction` now.
    pub fn any(&self, direction: Direction) -> bool {
        self.iter().any(|(d, _, s)| d == direction && s.value)
    }

    /// The last time media was seen flowing in `direction`: `now` while it
    /// flows, else when it stopped; `None` if it never flowed.
    pub fn last_flowing(&self, direction: Direction, now: Millis) -> Option<Millis> {
        if self.any(direction) {
            Some(now)
        } else {
            self.last_seen.get(&direction).copied()
        }
    }
}

/// A change to an endpoint's negotiated state.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointChange {
    MediaState(MediaState),
    ConnectionState(ConnectionState),
    /// One ICE component of one stream.
    Ice {
        stream: String,
        component: u32,
        state: IceComponentState,
    },
    /// The full ICE picture (`getIceConnectionState`): replaces the components.
    IceAll(Vec<(String, u32, IceComponentState)>),
    Dtls(DtlsConnectionState),
    LocalSdp(Option<String>),
    RemoteSdp(Option<String>),
    MediaSessionStarted,
    MediaSessionTerminated,
}

/// States of an SDP/RTP endpoint (WebRtcEndpoint, RtpEndpoint).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointState {
    pub media_state: Option<Since<MediaState>>,
    pub connection_state: Option<Since<ConnectionState>>,
    pub ice: BTreeMap<(String, u32), Since<IceComponentState>>,
    pub dtls: Option<Since<DtlsConnectionState>>,
    /// The local and remote SDPs, parsed (media sections, directions,
    /// codecs, candidates, bandwidth); `None` until KMS has one. The text
    /// itself is not kept (several KiB per endpoint): the operator API reads
    /// it from KMS when asked.
    pub local_sdp: Option<SdpSummary>,
    pub remote_sdp: Option<SdpSummary>,
    /// Since when KMS has answered that it holds no remote SDP (never
    /// negotiated: error 40203 or an empty answer); `None` once it has one,
    /// or before the first answer.
    pub no_remote_sdp: Option<Millis>,
    pub session_started: Option<Millis>,
    pub session_terminated: Option<Millis>,
}

impl EndpointState {
    pub fn apply(&mut self, change: EndpointChange, at: Millis) {
        match change {
            EndpointChange::MediaState(s) => Since::set(&mut self.media_state, s, at),
            EndpointChange::ConnectionState(s) => Since::set(&mut self.connection_state, s, at),
            EndpointChange::Ice {
                stream,
                component,
                state,
            } => {
                let mut slot = self.ice.get(&(stream.clone(), component)).copied();
                Since::set(&mut slot, state, at);
                if let Some(s) = slot {
                    self.ice.insert((stream, component), s);
                }
            }
            EndpointChange::IceAll(all) => {
                let mut next = BTreeMap::new();
                for (stream, component, state) in all {
                    let key = (stream, component);
                    let mut slot = self.ice.get(&key).copied();
                    Since::set(&mut slot, state, at);
                    if let Some(s) = slot {
                        next.insert(key, s);
                    }
                }
                self.ice = next;
            }
            EndpointChange::Dtls(s) => Since::set(&mut self.dtls, s, at),
            EndpointChange::LocalSdp(s) => self.local_sdp = summary(s.as_deref()),
            EndpointChange::RemoteSdp(s) => {
                self.remote_sdp = summary(s.as_deref());
                self.no_remote_sdp = match self.remote_sdp {
                    Some(_) => None,
                    None => Some(self.no_remote_sdp.unwrap_or(at)),
                };
            }
            EndpointChange::MediaSessionStarted => {
                self.session_started.get_or_insert(at);
                self.session_terminated = None;
            }
            EndpointChange::MediaSessionTerminated => {
                self.session_terminated.get_or_insert(at);
            }
        }
    }

    /// The connection-level ICE state: the best state of component 1 over the
    /// streams (with BUNDLE, component 2 stays GATHERING in healthy calls).
    pub fn ice_state(&self) -> Option<IceComponentState> {
        let primary = self
            .ice
            .iter()
            .filter(|((_, c), _)| *c == 1)
            .map(|(_, s)| s.value);
        primary.max_by_key(|s| ice_rank(*s))
    }
}

/// The parsed view of an SDP; an empty descriptor is no descriptor.
fn summary(sdp: Option<&str>) -> Option<SdpSummary> {
    sdp.filter(|s| !s.trim().is_empty()).map(SdpSummary::parse)
}

/// How far along ICE is: FAILED lowest, READY highest.
fn ice_rank(s: IceComponentState) -> u8 {
    match s {
        IceComponentState::FAILED => 0,
        IceComponentState::DISCONNECTED => 1,
        IceComponentState::GATHERING => 2,
        IceComponentState::CONNECTING => 3,
        IceComponentState::CONNECTED => 4,
        IceComponentState::READY => 5,
    }
}
