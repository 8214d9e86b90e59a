//! SDP negotiation inspection: owns the parsed view of a session description
//! (per media section: codecs, header extensions, bandwidth, ICE and DTLS
//! attributes, candidate counts) and the detection of negotiation problems
//! between a local and a remote description (no common codec, direction
//! mismatch, missing candidates, no DTLS fingerprint, only relay or only host
//! candidates).
//!
//! ```text
//!   getLocalSessionDescriptor ──┐
//!                               ├─► analyze(local, remote, offerer) ─► Negotiation
//!   getRemoteSessionDescriptor ─┘        (parse ×2, then checks)        { local, remote, problems }
//! ```
//!
//! Pure: no I/O, never panics on malformed input. The view is derived from
//! the shared SDP reader ([`kms_proto::sdp::parse`]), like the richer
//! sibling's compact [`super::sdp::SdpSummary`] the model keeps per endpoint.

mod analyze;
mod view;

use std::collections::BTreeMap;

pub use super::sdp::SdpDirection;
pub use analyze::{analyze, Negotiation, Offerer, Problem, ProblemKind, Severity, Side};
pub use kms_proto::sdp::{Bandwidth, Group, HeaderExtension, Origin, SetupRole};
pub use view::parse;

/// A DTLS fingerprint: only its hash algorithm is shown, never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    /// e.g. `sha-256`, lower-cased.
    pub algorithm: String,
}

/// One payload format of a media section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CodecView {
    pub payload_type: u8,
    /// As written (`opus`, `VP8`, `H264`); static payload types without an
    /// `a=rtpmap` get their RFC 3551 name.
    pub name: String,
    pub clock_rate: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmtp: Option<String>,
    /// `a=rtcp-fb` values (`nack`, `nack pli`, `goog-remb`...), `*` included.
    pub rtcp_fb: Vec<String>,
}

impl CodecView {
    /// Retransmission, redundancy, FEC, comfort noise and DTMF formats carry
    /// no media of their own: a section with only these has no usable codec.
    pub fn is_media_codec(&self) -> bool {
        !matches!(
            self.name.to_ascii_lowercase().as_str(),
            "rtx" | "red" | "ulpfec" | "flexfec-03" | "cn" | "telephone-event"
        )
    }

    /// `name/clock[/channels]`, the codec's identity across payload types.
    pub fn label(&self) -> String {
        match self.channels {
            Some(c) => format!("{}/{}/{c}", self.name, self.clock_rate),
            None => format!("{}/{}", self.name, self.clock_rate),
        }
    }
}

/// The `a=candidate` lines of a section, counted (addresses are not shown).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CandidateSummary {
    pub total: usize,
    /// `host`, `srflx`, `prflx`, `relay`.
    pub by_type: BTreeMap<String, usize>,
    /// `udp`, `tcp`.
    pub by_transport: BTreeMap<String, usize>,
    /// Address scope: `loopback`, `private`, `link_local`, `mdns`, `public`.
    pub by_scope: BTreeMap<String, usize>,
    /// `a=end-of-candidates` present.
    pub end_of_candidates: bool,
}

impl CandidateSummary {
    /// Candidates of type `t`.
    pub fn of_type(&self, t: &str) -> usize {
        self.by_type.get(t).copied().unwrap_or(0)
    }
}

/// One `m=` section; session-level attributes already applied where the
/// section lacks its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaView {
    /// `audio`, `video`, `application`...
    pub kind: String,
    /// 0 = rejected (unless `bundle_only`).
    pub port: u16,
    pub protocol: String,
    /// The format list of the `m=` line, as written.
    pub formats: Vec<String>,
    pub mid: Option<String>,
    /// Default `sendrecv`.
    pub direction: SdpDirection,
    pub codecs: Vec<CodecView>,
    pub header_extensions: Vec<HeaderExtension>,
    pub bandwidth: Vec<Bandwidth>,
    pub ice_ufrag: bool,
    pub ice_pwd: bool,
    /// `a=ice-options` tokens (`trickle`, `renomination`...).
    pub ice_options: Vec<String>,
    pub fingerprint: Option<Fingerprint>,
    pub setup: Option<SetupRole>,
    pub rtcp_mux: bool,
    pub bundle_only: bool,
    /// `a=crypto` present (SDES-SRTP).
    pub crypto: bool,
    pub candidates: CandidateSummary,
}

impl MediaView {
    /// Rejected (port 0) and not a `bundle-only` section.
    pub fn rejected(&self) -> bool {
        self.port == 0 && !self.bundle_only
    }

    /// Whether the section uses ICE (has ICE credentials).
    pub fn uses_ice(&self) -> bool {
        self.ice_ufrag || self.ice_pwd || self.candidates.total > 0
    }

    /// Whether DTLS-SRTP keys this section, so it needs a fingerprint:
    /// `UDP/TLS/...`, `TCP/TLS/...`, or `RTP/SAVP(F)` without SDES `a=crypto`
    /// (KMS writes `RTP/SAVPF` for DTLS in its own offers).
    pub fn needs_fingerprint(&self) -> bool {
        let p = self.protocol.to_ascii_uppercase();
        p.contains("/TLS/") || p.starts_with("DTLS/") || (p.contains("SAVP") && !self.crypto)
    }

    /// Codecs that carry media (see [`CodecView::is_media_codec`]).
    pub fn media_codecs(&self) -> impl Iterator<Item = &CodecView> {
        self.codecs.iter().filter(|c| c.is_media_codec())
    }

    /// The `mid`, or the section's index when it has none.
    pub fn mid_or(&self, index: usize) -> String {
        self.mid.clone().unwrap_or_else(|| index.to_string())
    }
}

/// A parsed session description.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    pub origin: Option<Origin>,
    pub session_name: Option<String>,
    pub ice_lite: bool,
    /// Session-level `a=ice-options`.
    pub ice_options: Vec<String>,
    /// Session-level fingerprint (also copied into sections lacking one).
    pub fingerprint: Option<Fingerprint>,
    /// Session-level setup role (also copied into sections lacking one).
    pub setup: Option<SetupRole>,
    pub groups: Vec<Group>,
    /// Session-level `b=` lines.
    pub bandwidth: Vec<Bandwidth>,
    pub media: Vec<MediaView>,
}

impl SessionView {
    /// Whether `mid` belongs to a BUNDLE group, and the other mids of it.
    pub fn bundle_of(&self, mid: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.semantics.eq_ignore_ascii_case("BUNDLE") && g.mids.iter().any(|m| m == mid))
    }

    /// Whether any section offers `a=setup:actpass` (the offerer's role).
    pub fn offers_actpass(&self) -> bool {
        self.setup == Some(SetupRole::ActPass)
            || self
                .media
                .iter()
                .any(|m| m.setup == Some(SetupRole::ActPass))
    }
}

#[cfg(test)]
mod tests;
