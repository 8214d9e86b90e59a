//! [`super::SessionView`] built from the shared SDP reader's
//! [`SessionDescription`]: codecs per payload type (static ones included),
//! the DTLS fingerprint's algorithm only, candidates counted by type,
//! transport and address scope.

use std::net::IpAddr;

use kms_proto::sdp::{self, Candidate, SessionDescription};

use super::{CandidateSummary, CodecView, Fingerprint, MediaView, SessionView};

/// Parse a session description. Never fails: what cannot be read is left out.
pub fn parse(text: &str) -> SessionView {
    SessionView::from(&sdp::parse(text))
}

impl From<&SessionDescription> for SessionView {
    fn from(d: &SessionDescription) -> Self {
        SessionView {
            origin: d.origin.clone(),
            session_name: d.session_name.clone(),
            ice_lite: d.ice_lite,
            ice_options: d.ice_options.clone(),
            fingerprint: d.fingerprint.as_ref().map(fingerprint),
            setup: d.setup,
            groups: d.groups.clone(),
            bandwidth: d.bandwidth.clone(),
            media: d.media.iter().map(MediaView::from).collect(),
        }
    }
}

impl From<&sdp::Media> for MediaView {
    fn from(m: &sdp::Media) -> Self {
        let non_empty = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        MediaView {
            kind: m.kind.clone(),
            port: m.port,
            protocol: m.protocol.clone(),
            formats: m.formats.iter().map(|f| f.id.clone()).collect(),
            mid: m.mid.clone(),
            direction: m.direction,
            codecs: m.formats.iter().filter_map(codec).collect(),
            header_extensions: m.header_extensions.clone(),
            bandwidth: m.bandwidth.clone(),
            ice_ufrag: non_empty(&m.ice_ufrag),
            ice_pwd: non_empty(&m.ice_pwd),
            ice_options: m.ice_options.clone(),
            fingerprint: m.fingerprint.as_ref().map(fingerprint),
            setup: m.setup,
            rtcp_mux: m.rtcp_mux,
            bundle_only: m.bundle_only,
            crypto: m.crypto,
            candidates: candidates(&m.candidates, m.end_of_candidates),
        }
    }
}

/// Only the hash algorithm, lower-cased: the value is never shown.
fn fingerprint(f: &sdp::Fingerprint) -> Fingerprint {
    Fingerprint {
        algorithm: f.algorithm.to_ascii_lowercase(),
    }
}

/// A format that is an RTP payload type with a known encoding.
fn codec(f: &sdp::Format) -> Option<CodecView> {
    let payload_type = f.payload_type?;
    let c = f.codec()?;
    Some(CodecView {
        payload_type,
        name: c.name,
        clock_rate: c.clock_rate,
        channels: c.channels,
        fmtp: f.fmtp.clone(),
        rtcp_fb: f.rtcp_fb.clone(),
    })
}

fn candidates(all: &[Candidate], end_of_candidates: bool) -> CandidateSummary {
    let mut c = CandidateSummary {
        end_of_candidates,
        ..CandidateSummary::default()
    };
    for cand in all {
        c.total += 1;
        *c.by_type.entry(cand.kind.to_ascii_lowercase()).or_default() += 1;
        *c.by_transport
            .entry(cand.transport.to_ascii_lowercase())
            .or_default() += 1;
        *c.by_scope
            .entry(scope(&cand.address).to_owned())
            .or_default() += 1;
    }
    c
}

/// Where a candidate address lives; documentation ranges count as public.
fn scope(addr: &str) -> &'static str {
    if addr.to_ascii_lowercase().ends_with(".local") {
        return "mdns";
    }
    match addr.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => "loopback",
        Ok(IpAddr::V4(v4))
            if v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) =>
        {
            "private"
        }
        Ok(IpAddr::V4(v4)) if v4.is_link_local() => "link_local",
        Ok(IpAddr::V6(v6)) if (v6.segments()[0] & 0xfe00) == 0xfc00 => "private",
        Ok(IpAddr::V6(v6)) if (v6.segments()[0] & 0xffc0) == 0xfe80 => "link_local",
        Ok(_) => "public",
        Err(_) => "unknown",
    }
}
