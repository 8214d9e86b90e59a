//! Timed media transitions: ICE/DTLS/connection/media state progression
//! once an endpoint is negotiated and gathering, the remote peer vanishing
//! (crash, close, released) with KMS's observed delays, and `Engine::tick`.

use serde_json::{json, Value};

use super::engine::Engine;
use super::webrtc::{IceMode, Peer};
use kms_proto::types::{
    kurento_value, ConnectionState, DtlsConnectionState, IceComponentState, MediaState, MediaType,
};

/// How a peer went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vanish {
    /// Browser killed: nothing on DTLS, flow stops after ~4 s.
    Crash,
    /// `RTCPeerConnection.close()`: DTLS CLOSED at once.
    Close,
    /// The peer endpoint was released (loopback).
    Released,
}

impl Vanish {
    pub(crate) fn flow_stop_ms(self) -> u64 {
        match self {
            Vanish::Released => 2_000,
            _ => 4_000,
        }
    }
    /// When an inbound stats entry disappears (samples/browser/*-vanished-timeline.json:
    /// the live video entry first, the zero-byte one with the media state, audio last).
    pub(crate) fn inbound_hide_ms(self, media: MediaType, phantom: bool) -> u64 {
        match (self, media, phantom) {
            (Vanish::Released, _, _) => 2_000,
            (_, MediaType::VIDEO, false) => 8_000,
            (Vanish::Crash, MediaType::AUDIO, _) => 27_000,
            _ => self.media_down_ms(),
        }
    }
    pub(crate) fn media_down_ms(self) -> u64 {
        match self {
            Vanish::Crash => 24_000,
            // samples/peer-vanished-timeline.json: A's ObjectDestroyed at
            // ...636885, B's MediaStateChanged DISCONNECTED at ...666110.
            Vanish::Released => 29_200,
            _ => 28_000,
        }
    }
}

impl Engine {
    /// The peer of `id` went away at `now`.
    pub fn vanish_peer(&mut self, id: &str, how: Vanish) {
        let now = self.now;
        let flows = self
            .objects
            .get(id)
            .and_then(|o| o.el.as_ref())
            .map(|e| e.flow_out)
            .unwrap_or_default();
        let Some(r) = self.rtc_mut(id) else {
            return;
        };
        if r.gone.is_some() {
            return;
        }
        r.gone = Some((now, how));
        r.blip = None;
        r.last_peer_sends = flows;
        let close = how == Vanish::Close && r.dtls.is_some_and(|d| d != DtlsConnectionState::NEW);
        if close {
            self.set_dtls(id, DtlsConnectionState::CLOSED, &[DEC, ENC]);
        }
        self.timed.insert(id.to_owned());
    }

    /// The endpoint `peer` of a loopback negotiation lost its partner.
    pub(crate) fn peer_released(&mut self, peer: &str) {
        self.vanish_peer(peer, Vanish::Released);
    }

    /// Advance timed transitions to `now`; returns the events raised.
    pub fn tick(&mut self, now: u64) -> Vec<super::engine::Delivery> {
        self.now = self.now.max(now);
        self.run_late_offers();
        let ids: Vec<String> = self.timed.iter().cloned().collect();
        for id in ids {
            if !self.step(&id) {
                self.timed.remove(&id);
            }
        }
        self.settle();
        std::mem::take(&mut self.out)
    }

    /// Run `id`'s pending transitions now, and keep it ticking if some remain.
    pub(crate) fn kick(&mut self, id: &str) {
        if self.step(id) {
            self.timed.insert(id.to_owned());
        } else {
            self.timed.remove(id);
        }
    }

    /// One timed step of `id`; false once nothing is pending.
    pub(crate) fn step(&mut self, id: &str) -> bool {
        if let Some(pending) = self.player_step(id) {
            return pending;
        }
        let now = self.now;
        let Some(r) = self.rtc(id) else {
            return false;
        };
        if let Some((at, how)) = r.gone {
            let media_state = r.media_state;
            let mut pending = false;
            let elapsed = now.saturating_sub(at);
            if elapsed >= how.flow_stop_ms() {
                self.mark_dirty(id);
            } else {
                pending = true;
            }
            let down = elapsed >= how.media_down_ms() && media_state == MediaState::CONNECTED;
            pending |= media_state == MediaState::CONNECTED && !down;
            if down {
                if let Some(r) = self.rtc_mut(id) {
                    r.media_state = MediaState::DISCONNECTED;
                }
            }
            if down {
                self.raise(
                    id,
                    "MediaStateChanged",
                    state_fields("CONNECTED", "DISCONNECTED"),
                );
            }
            return pending;
        }
        if r.blip.is_some() && r.connected() {
            return self.blip_step(id);
        }
        if !r.negotiated() || !r.gathered || r.connected() {
            return !r.connected();
        }
        let peer_ready = match &r.peer {
            Peer::None => false,
            Peer::Remote { .. } => true,
            Peer::Endpoint(o) => self.rtc(o).is_some_and(|p| p.gathered),
        };
        if !peer_ready {
            return true;
        }
        let components: usize = match (&r.peer, r.webrtc) {
            (_, false) => 0,
            (Peer::Endpoint(_), true) => 2,
            _ => 1,
        };
        let mode = r.ice_mode;
        let first = r.ice.first().copied();
        if components > 0 {
            match (mode, first) {
                (IceMode::Never, Some(IceComponentState::CONNECTING)) => return false,
                (IceMode::Fail, Some(IceComponentState::CONNECTING)) => {
                    self.set_ice(id, 1, IceComponentState::FAILED);
                    return false;
                }
                (IceMode::Never | IceMode::Fail, _) => {
                    self.set_ice(id, 1, IceComponentState::CONNECTING);
                    return true;
                }
                (IceMode::Normal, _) => {}
            }
            for c in 1..=components {
                let comp = c as u32;
                let (local, remote) = self.select_pair(id, comp);
                self.set_ice(id, c, IceComponentState::CONNECTING);
                self.set_ice(id, c, IceComponentState::CONNECTED);
                if let Some(r) = self.rtc_mut(id) {
                    r.pairs.retain(|p| p.0 != comp);
                    r.pairs.push((comp, local.clone(), remote.clone()));
                }
                let pair = kurento_value(
                    "IceCandidatePair",
                    json!({
                        "streamId": "1",
                        "componentId": comp,
                        "localCandidate": local,
                        "remoteCandidate": remote,
                    }),
                );
                self.raise(
                    id,
                    "NewCandidatePairSelected",
                    json!({ "candidatePair": pair }),
                );
                if c == 1 {
                    // The offerer already announced NEW at processAnswer.
                    if self.rtc(id).and_then(|r| r.dtls).is_none() {
                        self.set_dtls(id, DtlsConnectionState::NEW, &[ENC]);
                    }
                    self.set_dtls(id, DtlsConnectionState::CONNECTING, &[DEC, ENC]);
                }
                self.set_ice(id, c, IceComponentState::READY);
            }
        }
        if let Some(r) = self.rtc_mut(id) {
            r.conn_state = ConnectionState::CONNECTED;
            r.media_state = MediaState::CONNECTED;
        }
        self.raise(
            id,
            "ConnectionStateChanged",
            state_fields("DISCONNECTED", "CONNECTED"),
        );
        if components > 0 {
            self.set_dtls(id, DtlsConnectionState::CONNECTED, &[DEC, ENC]);
        }
        self.raise(
            id,
            "MediaStateChanged",
            state_fields("DISCONNECTED", "CONNECTED"),
        );
        self.mark_dirty(id);
        if let Some(p) = self
            .rtc(id)
            .and_then(|r| r.peer_endpoint().map(str::to_owned))
        {
            self.mark_dirty(&p);
            self.kick(&p);
        }
        false
    }

    /// DTLS of `id` moves to `st`, announced for each of `components`.
    pub(crate) fn set_dtls(&mut self, id: &str, st: DtlsConnectionState, components: &[&str]) {
        if let Some(r) = self.rtc_mut(id) {
            r.dtls = Some(st);
        }
        for c in components {
            self.raise(id, "DtlsConnectionStateChange", dtls_fields(st, c));
        }
    }

    pub(crate) fn set_ice(&mut self, id: &str, component: usize, st: IceComponentState) {
        if let Some(r) = self.rtc_mut(id) {
            if r.ice.len() < 2 {
                r.ice = vec![IceComponentState::GATHERING; 2];
            }
            r.ice[component - 1] = st;
        }
        self.raise(
            id,
            "IceComponentStateChanged",
            ice_fields(component as u32, st),
        );
    }
}

pub(crate) fn ice_fields(component: u32, st: IceComponentState) -> Value {
    json!({ "streamId": 1, "componentId": component, "state": st.as_str() })
}

/// The DTLS encoder and decoder components of the bundle, as KMS names them.
pub(crate) const ENC: &str = "[bundle/dtlssrtpenc]";
pub(crate) const DEC: &str = "[bundle/dtlssrtpdec]";

pub(crate) fn dtls_fields(st: DtlsConnectionState, component: &str) -> Value {
    json!({
        "streamId": "1",
        "componentId": component,
        "connectionId": "dtlssrtpenc1-dtlssrtpdec1-1-1",
        "state": st.as_str(),
    })
}

pub(crate) fn state_fields(old: &str, new: &str) -> Value {
    json!({ "oldState": old, "newState": new })
}
