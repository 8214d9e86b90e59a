//! RTP/WebRTC endpoint state: SDP negotiation (offers, answers, loopback
//! between two simulator endpoints), the simulated remote peer, candidate
//! gathering, and whether the peer currently sends media.

use serde_json::{json, Value};

use super::blip::Blip;
use super::engine::{marshall, Engine, RpcResult};
use super::ice;
use super::media::midx;
use super::sdp::{self, Section};
use super::stats::{Counter, Quality};
use super::timeline::{ice_fields, Vanish, ENC};
use kms_proto::types::{
    kurento_value, ConnectionState, DtlsConnectionState, IceComponentState, MediaState, MediaType,
};

/// The remote side of an RTP endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    None,
    /// A browser-like peer outside the simulator; `sends` per AUDIO/VIDEO.
    Remote {
        sends: [bool; 2],
    },
    /// Another simulator endpoint (loopback negotiation).
    Endpoint(String),
}

/// How ICE behaves for an endpoint (scenario-controlled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceMode {
    #[default]
    Normal,
    /// Stays CONNECTING forever.
    Never,
    /// CONNECTING then FAILED.
    Fail,
}

/// One negotiated media stream (one SSRC each way).
#[derive(Debug, Clone)]
pub struct Stream {
    pub media: MediaType,
    pub remote_sends: bool,
    pub in_ssrc: u32,
    pub in_id: String,
    pub out_ssrc: u32,
    pub out_id: String,
    pub inbound: Counter,
    pub outbound: Counter,
    /// Browser peers offering RTX: KMS also lists a zero-byte inbound entry
    /// with the video SSRC (samples/browser/*-live-snapshot.json).
    pub phantom_id: Option<String>,
}

/// State of a BaseRtpEndpoint.
#[derive(Debug, Clone)]
pub struct Rtc {
    pub webrtc: bool,
    pub local_sdp: Option<String>,
    pub remote_sdp: Option<String>,
    pub origin: u64,
    pub peer: Peer,
    pub streams: Vec<Stream>,
    pub gathered: bool,
    /// Candidates this endpoint announced (`IceCandidateFound`), in order.
    pub local_candidates: Vec<String>,
    /// Candidates received with `addIceCandidate`, in order, without repeats.
    pub remote_candidates: Vec<String>,
    /// Selected pairs: (component, local candidate, remote candidate).
    pub pairs: Vec<(u32, String, String)>,
    pub ice_mode: IceMode,
    /// Per component (1, 2); empty until gathering starts.
    pub ice: Vec<IceComponentState>,
    pub dtls: Option<DtlsConnectionState>,
    pub media_state: MediaState,
    pub conn_state: ConnectionState,
    pub quality: Quality,
    pub gone: Option<(u64, Vanish)>,
    /// The remote peer's network is (or was) interrupted: see `blip`.
    pub blip: Option<Blip>,
    /// What the peer sent when it vanished (used during the grace period).
    pub last_peer_sends: [bool; 2],
}

impl Rtc {
    pub fn new(webrtc: bool) -> Self {
        Rtc {
            webrtc,
            local_sdp: None,
            remote_sdp: None,
            origin: 0,
            peer: Peer::None,
            streams: Vec::new(),
            gathered: false,
            local_candidates: Vec::new(),
            remote_candidates: Vec::new(),
            pairs: Vec::new(),
            ice_mode: IceMode::Normal,
            ice: Vec::new(),
            dtls: None,
            media_state: MediaState::DISCONNECTED,
            conn_state: ConnectionState::DISCONNECTED,
            quality: Quality::default(),
            gone: None,
            blip: None,
            last_peer_sends: [false; 2],
        }
    }

    pub fn peer_endpoint(&self) -> Option<&str> {
        match &self.peer {
            Peer::Endpoint(e) => Some(e),
            _ => None,
        }
    }

    pub fn negotiated(&self) -> bool {
        self.local_sdp.is_some() && self.remote_sdp.is_some()
    }

    /// Whether ICE reached READY/CONNECTED (or, for RTP, the session is up).
    pub fn connected(&self) -> bool {
        self.conn_state == ConnectionState::CONNECTED
    }

    /// Bring byte counters in line with the current flow flags.
    pub fn sync_counters(&mut self, flow_in: [bool; 2], flow_out: [bool; 2], now: u64) {
        let connected = self.connected();
        let q = self.quality;
        for s in &mut self.streams {
            if let Some(m) = midx(s.media) {
                s.inbound.set(flow_out[m], q, now);
                s.outbound.set(flow_in[m] && connected, q, now);
            }
        }
    }
}

impl Engine {
    /// The local description of `id` as KMS reports it: with the gathered candidates.
    pub(crate) fn local_descriptor(&self, id: &str) -> Option<String> {
        let r = self.rtc(id)?;
        Some(ice::with_candidates(
            r.local_sdp.as_deref()?,
            &r.local_candidates,
        ))
    }

    /// The remote description of `id`: with the candidates the peer added.
    pub(crate) fn remote_descriptor(&self, id: &str) -> Option<String> {
        let r = self.rtc(id)?;
        Some(ice::with_candidates(
            r.remote_sdp.as_deref()?,
            &r.remote_candidates,
        ))
    }

    pub(crate) fn rtc(&self, id: &str) -> Option<&Rtc> {
        self.objects.get(id)?.el.as_ref()?.rtc.as_deref()
    }

    pub(crate) fn rtc_mut(&mut self, id: &str) -> Option<&mut Rtc> {
        self.objects.get_mut(id)?.el.as_mut()?.rtc.as_deref_mut()
    }

    /// Whether the peer of `r` currently sends media type `m` into it.
    pub(crate) fn peer_sends(&self, r: &Rtc, m: usize) -> bool {
        if !r.connected() {
            return false;
        }
        if let Some((at, how)) = r.gone {
            return self.now < at + how.flow_stop_ms() && r.last_peer_sends[m];
        }
        if r.blip.is_some_and(|b| b.cuts_media(self.now)) {
            return false;
        }
        match &r.peer {
            Peer::None => false,
            Peer::Remote { sends } => sends[m],
            Peer::Endpoint(o) => self
                .objects
                .get(o)
                .and_then(|x| x.el.as_ref())
                .is_some_and(|e| e.flow_in[m] && e.rtc.as_ref().is_some_and(|p| p.connected())),
        }
    }

    fn new_streams(&mut self, sections: &[Section], peer: &Peer) -> Vec<Stream> {
        let browser = matches!(peer, Peer::Remote { .. });
        let mut out = Vec::new();
        // A rejected section (port 0) carries no stream: no media, no stats.
        for s in sections
            .iter()
            .filter(|s| midx(s.media).is_some() && !s.rejected)
        {
            let random: u32 = rand::Rng::gen(&mut self.rng);
            // Inbound stats carry the SSRC the remote side announced.
            let in_ssrc = s.ssrc.unwrap_or(random);
            let out_ssrc = rand::Rng::gen(&mut self.rng);
            out.push(Stream {
                media: s.media,
                remote_sends: s.sends,
                in_ssrc,
                in_id: self.uuid(),
                out_ssrc,
                out_id: self.uuid(),
                inbound: Counter::new(s.media),
                outbound: Counter::new(s.media),
                // Seen with a real browser's offer (RTX on video): KMS listed a
                // second, zero-byte inbound entry with the video SSRC.
                phantom_id: (browser && s.media == MediaType::VIDEO && s.rtx).then(|| self.uuid()),
            });
        }
        out
    }

    fn local_description(&mut self, id: &str, sections: Vec<Section>, answer: bool) -> String {
        let origin: u32 = rand::Rng::gen(&mut self.rng);
        let ssrcs: Vec<u32> = match self.rtc(id) {
            Some(r) if !r.streams.is_empty() => r.streams.iter().map(|s| s.out_ssrc).collect(),
            _ => sections
                .iter()
                .map(|_| rand::Rng::gen(&mut self.rng))
                .collect(),
        };
        let ufrag = &self.uuid()[..4];
        let pwd = self.uuid().replace('-', "")[..22].to_owned();
        let cname = format!("user{origin}@host-{}", &self.uuid()[..8]);
        let text = sdp::render(&sdp::Local {
            origin: u64::from(origin),
            ufrag,
            pwd: &pwd,
            fingerprint: "A7:A8:93:26:E6:E2:03:F4:89:38:CC:D4:0D:23:74:4F:E1:91:4F:AB:67:DB:07:CB:A2:D5:B0:30:B7:63:C4:43",
            cname: &cname,
            sections: sections.into_iter().zip(ssrcs.into_iter().chain(std::iter::repeat(1))).collect(),
            answer,
        });
        if let Some(r) = self.rtc_mut(id) {
            r.origin = u64::from(origin);
        }
        self.origins.insert(u64::from(origin), id.to_owned());
        text
    }

    /// The simulator endpoint whose local description has origin `origin`.
    fn endpoint_by_origin(&self, origin: Option<u64>, not: &str) -> Option<String> {
        self.origins
            .get(&origin?)
            .filter(|id| id.as_str() != not && self.objects.contains_key(id.as_str()))
            .cloned()
    }

    pub(crate) fn generate_offer(&mut self, id: &str) -> RpcResult {
        let sections = [MediaType::AUDIO, MediaType::VIDEO]
            .iter()
            .enumerate()
            .map(|(i, m)| Section {
                media: *m,
                mid: i.to_string(),
                sends: true,
                receives: true,
                rtx: false,
                ssrc: None,
                formats: Vec::new(),
                rejected: false,
            })
            .collect();
        let sdp = self.local_description(id, sections, false);
        if let Some(r) = self.rtc_mut(id) {
            r.local_sdp = Some(sdp.clone());
        }
        Ok(Value::from(sdp))
    }

    pub(crate) fn process_offer(&mut self, id: &str, offer: &str) -> RpcResult {
        let mut parsed = sdp::parse(offer);
        if parsed.sections.is_empty() {
            return Err(sdp_error("Error processing offer"));
        }
        // No codec KMS supports: the section is answered with port 0.
        for s in &mut parsed.sections {
            s.rejected |= s.no_supported_codec();
        }
        let peer = self.peer_from(&parsed, id);
        let streams = self.new_streams(&parsed.sections, &peer);
        if let Some(r) = self.rtc_mut(id) {
            r.streams = streams;
        }
        let answer = self.local_description(id, parsed.sections.clone(), true);
        if let Some(r) = self.rtc_mut(id) {
            r.remote_sdp = Some(offer.to_owned());
            r.local_sdp = Some(answer.clone());
            r.peer = peer.clone();
        }
        self.after_negotiation(id, &peer);
        Ok(Value::from(answer))
    }

    pub(crate) fn process_answer(&mut self, id: &str, answer: &str) -> RpcResult {
        let parsed = sdp::parse(answer);
        let local = self.rtc(id).and_then(|r| r.local_sdp.clone());
        let Some(local) = local else {
            return Err(sdp_error("Local description not set"));
        };
        let peer = self.peer_from(&parsed, id);
        let mut streams = self.new_streams(&parsed.sections, &peer);
        // Our SSRCs were announced in the offer: send with those.
        let ours = sdp::parse(&local);
        let announced = ours
            .sections
            .iter()
            .zip(&parsed.sections)
            .filter(|(o, a)| midx(o.media).is_some() && !a.rejected)
            .map(|(o, _)| o);
        for (st, sec) in streams.iter_mut().zip(announced) {
            if let Some(ssrc) = sec.ssrc {
                st.out_ssrc = ssrc;
            }
        }
        if let Some(r) = self.rtc_mut(id) {
            r.streams = streams;
            r.remote_sdp = Some(answer.to_owned());
            r.peer = peer.clone();
        }
        // KMS announces the offerer's DTLS encoder at once (samples/wire.jsonl #52).
        if self.rtc(id).is_some_and(|r| r.webrtc && r.dtls.is_none()) {
            self.set_dtls(id, DtlsConnectionState::NEW, &[ENC]);
        }
        self.after_negotiation(id, &peer);
        Ok(Value::from(local))
    }

    fn peer_from(&self, parsed: &sdp::Parsed, id: &str) -> Peer {
        match self.endpoint_by_origin(parsed.origin, id) {
            Some(e) => Peer::Endpoint(e),
            None => {
                let mut sends = [false; 2];
                for s in parsed.sections.iter().filter(|s| !s.rejected) {
                    if let Some(m) = midx(s.media) {
                        sends[m] |= s.sends;
                    }
                }
                Peer::Remote { sends }
            }
        }
    }

    fn after_negotiation(&mut self, id: &str, peer: &Peer) {
        let webrtc = self.rtc(id).is_some_and(|r| r.webrtc);
        if let Peer::Endpoint(other) = peer {
            let me = id.to_owned();
            if let Some(r) = self.rtc_mut(other) {
                if r.peer == Peer::None || matches!(r.peer, Peer::Remote { .. }) {
                    r.peer = Peer::Endpoint(me);
                }
            }
        }
        if !webrtc {
            // Plain RTP: no ICE, the session comes up at once.
            if let Some(r) = self.rtc_mut(id) {
                r.gathered = true;
            }
        }
        // KMS starts the media session as soon as SDP negotiation completes,
        // before any ICE gathering (samples/wire.jsonl after #51/#52).
        self.raise(id, "MediaSessionStarted", json!({}));
        self.kick(id);
    }

    pub(crate) fn gather_candidates(&mut self, id: &str) -> RpcResult {
        let Some(r) = self.rtc_mut(id) else {
            return Ok(Value::Null);
        };
        if r.gathered {
            return Ok(Value::Null);
        }
        r.gathered = true;
        r.ice = vec![IceComponentState::GATHERING; 2];
        for c in 1..=2 {
            self.raise(
                id,
                "IceComponentStateChanged",
                ice_fields(c, IceComponentState::GATHERING),
            );
        }
        let mids: Vec<String> = self
            .rtc(id)
            .and_then(|r| r.local_sdp.as_deref())
            .map(|l| sdp::parse(l).sections.into_iter().map(|s| s.mid).collect())
            .filter(|m: &Vec<String>| !m.is_empty())
            .unwrap_or_else(|| vec!["0".into(), "1".into()]);
        let mut found = Vec::new();
        for c in 1..=2u32 {
            let ports = [0u16; 2].map(|_| 20000 + rand::Rng::gen::<u16>(&mut self.rng) % 40000);
            found.extend(ice::host_candidates(c, ports));
        }
        if let Some(r) = self.rtc_mut(id) {
            r.local_candidates = found.clone();
        }
        for text in &found {
            for (i, mid) in mids.iter().enumerate() {
                let cand = kurento_value(
                    "IceCandidate",
                    json!({ "candidate": text, "sdpMid": mid, "sdpMLineIndex": i }),
                );
                self.raise(id, "IceCandidateFound", json!({ "candidate": cand }));
            }
        }
        self.raise(id, "IceGatheringDone", json!({}));
        self.kick(id);
        Ok(Value::Null)
    }

    pub(crate) fn add_ice_candidate(&mut self, id: &str, cand: Option<&Value>) -> RpcResult {
        if cand
            .and_then(|c| c.get("candidate"))
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(marshall("'candidate' parameter should be a IceCandidate"));
        }
        let text = cand
            .and_then(|c| c.get("candidate"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .trim_start_matches("a=")
            .to_owned();
        if let Some(r) = self.rtc_mut(id) {
            if !text.is_empty() && !r.remote_candidates.contains(&text) {
                r.remote_candidates.push(text);
            }
        }
        Ok(Value::Null)
    }
}

fn sdp_error(msg: &str) -> kms_proto::wire::RpcError {
    kms_proto::wire::RpcError::kms(40208, "SDP_END_POINT_PROCESS_OFFER_ERROR", msg)
}
