//! The compact summary of an offer or answer that the model keeps per
//! endpoint (media sections, directions, codecs, candidates, bandwidth,
//! ICE/DTLS attributes, SSRCs), derived from the shared SDP reader
//! ([`kms_proto::sdp::parse`]: tolerant, CRLF or LF, never fails).

use std::collections::BTreeMap;

use kms_proto::sdp::{self, SessionDescription};

/// `a=sendrecv` and friends.
pub use kms_proto::sdp::Direction as SdpDirection;

/// One `a=rtpmap`.
/// A value many endpoints hold the same, kept once (see Cargo.toml).
pub type Shared<T> = internment::ArcIntern<T>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Codec {
    pub payload_type: u8,
    pub name: String,
    pub clock_rate: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaSection {
    /// `audio`, `video`, `application`.
    pub kind: Shared<String>,
    pub port: u16,
    pub protocol: Shared<String>,
    pub mid: Option<String>,
    pub direction: SdpDirection,
    pub codecs: Shared<Vec<Codec>>,
    pub header_extensions: Shared<Vec<String>>,
    /// `b=AS:300` → `("AS", 300)`.
    pub bandwidth: Vec<(String, u64)>,
    pub ice_ufrag: bool,
    pub fingerprint: Option<Shared<String>>,
    pub setup: Option<String>,
    /// Candidate count by `(type, transport)`, e.g. `("host", "udp")`.
    pub candidates: BTreeMap<String, usize>,
    pub ssrcs: Vec<String>,
    pub rtcp_mux: bool,
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct SdpSummary {
    pub media: Vec<MediaSection>,
    /// `a=group:BUNDLE ...` present.
    pub bundle: bool,
}

impl SdpSummary {
    /// Read an SDP; unknown lines are ignored, malformed ones skipped.
    pub fn parse(text: &str) -> SdpSummary {
        SdpSummary::from(&sdp::parse(text))
    }

    /// Media kind (`audio`/`video`) of every SSRC announced.
    pub fn ssrc_kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.media
            .iter()
            .flat_map(|m| m.ssrcs.iter().map(move |s| (s.as_str(), m.kind.as_str())))
    }
}

impl From<&SessionDescription> for SdpSummary {
    fn from(d: &SessionDescription) -> Self {
        SdpSummary {
            media: d.media.iter().map(MediaSection::from).collect(),
            bundle: d.groups.iter().any(|g| g.semantics.starts_with("BUNDLE")),
        }
    }
}

impl From<&sdp::Media> for MediaSection {
    fn from(m: &sdp::Media) -> Self {
        let mut candidates = BTreeMap::new();
        for c in &m.candidates {
            let key = format!("{}/{}", c.kind, c.transport.to_ascii_lowercase());
            *candidates.entry(key).or_default() += 1;
        }
        MediaSection {
            kind: Shared::from_ref(m.kind.as_str()),
            port: m.port,
            protocol: Shared::from_ref(m.protocol.as_str()),
            mid: m.mid.clone(),
            direction: m.direction,
            // The formats with an `a=rtpmap`, in `m=` line order.
            codecs: Shared::new(
                m.formats
                    .iter()
                    .filter_map(|f| {
                        let r = f.rtpmap.as_ref()?;
                        Some(Codec {
                            payload_type: f.payload_type?,
                            name: r.name.clone(),
                            clock_rate: r.clock_rate,
                            channels: r.channels,
                        })
                    })
                    .collect(),
            ),
            header_extensions: Shared::new(
                m.header_extensions.iter().map(|h| h.uri.clone()).collect(),
            ),
            bandwidth: m
                .bandwidth
                .iter()
                .map(|b| (b.kind.clone(), b.value))
                .collect(),
            ice_ufrag: m.ice_ufrag.is_some(),
            fingerprint: m
                .fingerprint
                .as_ref()
                .map(|f| Shared::new(format!("{} {}", f.algorithm, f.value))),
            setup: m.setup.map(|s| s.as_str().to_owned()),
            candidates,
            ssrcs: m.ssrcs.clone(),
            rtcp_mux: m.rtcp_mux,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_answer() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kurento/samples/browser/close-kms-answer.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample present"))
                .expect("json");
        find_sdp(&v).expect("an SDP string in the sample")
    }

    fn find_sdp(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.starts_with("v=0") => Some(s.clone()),
            serde_json::Value::Object(m) => m.values().find_map(find_sdp),
            serde_json::Value::Array(a) => a.iter().find_map(find_sdp),
            _ => None,
        }
    }

    #[test]
    fn reads_kms_answer_to_a_browser() {
        let s = SdpSummary::parse(&sample_answer());
        assert!(s.bundle);
        let kinds: Vec<&str> = s.media.iter().map(|m| m.kind.as_str()).collect();
        assert!(
            kinds.contains(&"audio") && kinds.contains(&"video"),
            "{kinds:?}"
        );
        for m in &s.media {
            assert!(!m.codecs.is_empty(), "{m:?}");
            assert!(m.ice_ufrag, "{m:?}");
            assert!(m.fingerprint.is_some(), "{m:?}");
        }
    }

    #[test]
    fn reads_handwritten_offer() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=fingerprint:sha-256 AB:CD\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nb=AS:64\r\na=mid:0\r\na=recvonly\r\na=ice-ufrag:x\r\na=setup:actpass\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=candidate:1 1 UDP 2122 192.0.2.1 5000 typ host\r\na=candidate:2 1 TCP 1518 192.0.2.1 9 typ host tcptype active\r\n\
a=candidate:3 1 udp 100 198.51.100.1 6000 typ relay raddr 0.0.0.0 rport 0\r\na=ssrc:42 cname:x\r\na=ssrc:42 msid:y\r\n";
        let s = SdpSummary::parse(sdp);
        let m = &s.media[0];
        assert_eq!(m.kind.as_str(), "audio");
        assert_eq!(m.direction, SdpDirection::RecvOnly);
        assert_eq!(m.codecs.len(), 2);
        assert_eq!(m.codecs[0].channels, Some(2));
        assert_eq!(m.bandwidth, vec![("AS".to_string(), 64)]);
        assert_eq!(
            m.fingerprint.as_ref().map(|f| f.as_str()),
            Some("sha-256 AB:CD")
        );
        assert_eq!(m.setup.as_deref(), Some("actpass"));
        assert_eq!(m.candidates.get("host/udp"), Some(&1));
        assert_eq!(m.candidates.get("host/tcp"), Some(&1));
        assert_eq!(m.candidates.get("relay/udp"), Some(&1));
        assert_eq!(s.ssrc_kinds().collect::<Vec<_>>(), vec![("42", "audio")]);
        assert_eq!(m.header_extensions.len(), 1);
    }

    #[test]
    fn endpoints_share_the_lists_they_have_in_common() {
        let a = SdpSummary::parse(&sample_answer());
        let b = SdpSummary::parse(&sample_answer());
        let (ma, mb) = (&a.media[0], &b.media[0]);
        assert!(!ma.codecs.is_empty() && !ma.header_extensions.is_empty());
        // One allocation each, held by both (and freed with the last).
        assert!(std::ptr::eq(&*ma.codecs, &*mb.codecs));
        assert!(std::ptr::eq(&*ma.header_extensions, &*mb.header_extensions));
        assert!(std::ptr::eq(&*ma.kind, &*mb.kind));
        // Still shown as plain values.
        let json = serde_json::to_value(ma).unwrap();
        assert_eq!(json["kind"], ma.kind.as_str());
        assert_eq!(json["codecs"][0]["name"], ma.codecs[0].name.as_str());
        assert_eq!(
            json["header_extensions"][0],
            ma.header_extensions[0].as_str()
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "",
            "m=",
            "a=rtpmap:",
            "m=video x y\na=candidate:1",
            "=\n==\nb=AS:x",
        ] {
            let _ = SdpSummary::parse(s);
        }
    }
}
