//! SDP (RFC 8866) as KMS and browsers write it, read once for everyone: the
//! exporter's per-endpoint summary, its negotiation analysis and the
//! simulator all derive their views from the [`SessionDescription`] that
//! [`parse`] returns.
//!
//! The reader is tolerant: it never fails, takes CRLF or LF, skips unknown
//! and malformed lines, keeps every `a=` line in order ([`Attribute`]),
//! groups `a=rtpmap`/`a=fmtp`/`a=rtcp-fb` per payload format of the `m=`
//! line ([`Format`]), and applies session-level attributes (direction, DTLS
//! fingerprint and setup role, ICE credentials and options,
//! end-of-candidates) to the media sections that lack their own. Writing
//! SDP is not here: the simulator writes its KMS-shaped descriptions itself.
//!
//! ```
//! use kms_proto::sdp::{self, Direction};
//! let d = sdp::parse("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=recvonly\r\n");
//! let audio = &d.media[0];
//! assert_eq!(audio.direction, Direction::RecvOnly);
//! let labels: Vec<String> = audio.formats.iter().filter_map(|f| f.codec()).map(|c| c.label()).collect();
//! assert_eq!(labels, ["opus/48000/2", "PCMU/8000/1"]);
//! ```

mod candidate;
mod read;
#[cfg(test)]
mod tests;

pub use candidate::Candidate;
pub use read::parse;

/// `a=sendrecv` and friends, from the writer's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name (`sendrecv`...) as a direction.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The writer sends media (`sendrecv`, `sendonly`).
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// The writer receives media (`sendrecv`, `recvonly`).
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// `a=setup:` (RFC 4145 / RFC 5763).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetupRole {
    ActPass,
    Active,
    Passive,
    HoldConn,
}

impl SetupRole {
    /// Case-insensitive; an unknown role is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.to_ascii_lowercase().as_str() {
            "actpass" => SetupRole::ActPass,
            "active" => SetupRole::Active,
            "passive" => SetupRole::Passive,
            "holdconn" => SetupRole::HoldConn,
            _ => return None,
        })
    }

    /// The attribute value, lower-case.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupRole::ActPass => "actpass",
            SetupRole::Active => "active",
            SetupRole::Passive => "passive",
            SetupRole::HoldConn => "holdconn",
        }
    }
}

/// The `o=` line (network and address types left out).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub address: String,
}

/// `a=group:BUNDLE 0 1` → `{semantics: "BUNDLE", mids: ["0", "1"]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    pub semantics: String,
    pub mids: Vec<String>,
}

/// One `b=` line: `b=AS:300` → `{kind: "AS", value: 300}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bandwidth {
    pub kind: String,
    pub value: u64,
}

/// `a=fingerprint:sha-256 AB:CD:...`; read only when both parts are there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// As written (`sha-256`, `SHA-1`).
    pub algorithm: String,
    pub value: String,
}

/// One `a=extmap`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeaderExtension {
    pub id: u16,
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

/// An encoding: what `a=rtpmap` says of a payload type, or what RFC 3551
/// assigns to a static one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// As written (`opus`, `VP8`, `H264`).
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
}

impl RtpMap {
    /// `name/clock[/channels]`, the codec's identity across payload types.
    pub fn label(&self) -> String {
        match self.channels {
            Some(c) => format!("{}/{}/{c}", self.name, self.clock_rate),
            None => format!("{}/{}", self.name, self.clock_rate),
        }
    }

    /// Static payload types of RFC 3551 that may appear without `a=rtpmap`.
    pub fn of_static(payload_type: u8) -> Option<RtpMap> {
        let (name, clock_rate, channels) = match payload_type {
            0 => ("PCMU", 8000, Some(1)),
            3 => ("GSM", 8000, Some(1)),
            4 => ("G723", 8000, Some(1)),
            8 => ("PCMA", 8000, Some(1)),
            9 => ("G722", 8000, Some(1)),
            13 => ("CN", 8000, Some(1)),
            18 => ("G729", 8000, Some(1)),
            26 => ("JPEG", 90000, None),
            31 => ("H261", 90000, None),
            34 => ("H263", 90000, None),
            _ => return None,
        };
        Some(RtpMap {
            name: name.to_owned(),
            clock_rate,
            channels,
        })
    }
}

/// One payload format of an `m=` line with the attributes that refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// As written on the `m=` line (`111`, `webrtc-datachannel`).
    pub id: String,
    /// The id as an RTP payload type, when it is one.
    pub payload_type: Option<u8>,
    /// Its `a=rtpmap` (the first one, when repeated).
    pub rtpmap: Option<RtpMap>,
    /// Its `a=fmtp` parameters (the first one, when repeated).
    pub fmtp: Option<String>,
    /// `a=rtcp-fb` values (`nack`, `nack pli`, `goog-remb`...), `*` included.
    pub rtcp_fb: Vec<String>,
}

impl Format {
    /// The encoding: its `a=rtpmap`, else the RFC 3551 static assignment.
    pub fn codec(&self) -> Option<RtpMap> {
        self.rtpmap
            .clone()
            .or_else(|| self.payload_type.and_then(RtpMap::of_static))
    }
}

/// One `a=` line: `a=mid:0` → `{name: "mid", value: "0"}`; a flag such as
/// `a=rtcp-mux` has an empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

/// One `m=` section; session-level attributes already applied where the
/// section lacks its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `application`...
    pub kind: String,
    /// 0 = rejected or disabled (`9/2` keeps `9`; unreadable is 0).
    pub port: u16,
    pub protocol: String,
    /// The `m=` line's formats in order, with their attributes.
    pub formats: Vec<Format>,
    /// Every `a=` line of the section, in order.
    pub attributes: Vec<Attribute>,
    pub bandwidth: Vec<Bandwidth>,
    pub mid: Option<String>,
    /// The section's, else the session's, else `sendrecv`.
    pub direction: Direction,
    pub header_extensions: Vec<HeaderExtension>,
    /// The section's `a=ice-ufrag`; the session's when the section has
    /// none or an empty one.
    pub ice_ufrag: Option<String>,
    /// The section's `a=ice-pwd`; the session's when the section has none
    /// or an empty one.
    pub ice_pwd: Option<String>,
    /// `a=ice-options` tokens (`trickle`...); the session's when none.
    pub ice_options: Vec<String>,
    pub fingerprint: Option<Fingerprint>,
    pub setup: Option<SetupRole>,
    pub rtcp_mux: bool,
    pub bundle_only: bool,
    /// `a=crypto` present (SDES-SRTP).
    pub crypto: bool,
    /// The `a=candidate` lines that could be read.
    pub candidates: Vec<Candidate>,
    /// `a=end-of-candidates` in the section or the session.
    pub end_of_candidates: bool,
    /// SSRC ids of `a=ssrc` lines, first appearance order, no repeats.
    pub ssrcs: Vec<String>,
}

/// A parsed session description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Option<Origin>,
    pub session_name: Option<String>,
    /// Session-level `b=` lines.
    pub bandwidth: Vec<Bandwidth>,
    /// Every session-level `a=` line, in order.
    pub attributes: Vec<Attribute>,
    pub ice_lite: bool,
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    pub ice_options: Vec<String>,
    pub fingerprint: Option<Fingerprint>,
    pub setup: Option<SetupRole>,
    pub direction: Option<Direction>,
    pub groups: Vec<Group>,
    pub end_of_candidates: bool,
    pub media: Vec<Media>,
}

impl SessionDescription {
    /// Every `a=` line, session-level first, then each section's in order.
    pub fn all_attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes
            .iter()
            .chain(self.media.iter().flat_map(|m| m.attributes.iter()))
    }
}
