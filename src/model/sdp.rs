//! A tolerant SDP reader: the summary of an offer or answer that monitoring
//! and negotiation inspection need (media sections, directions, codecs,
//! candidates, bandwidth, ICE/DTLS attributes, SSRCs).

use std::collections::BTreeMap;

/// `a=sendrecv` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SdpDirection {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl SdpDirection {
    fn parse(attr: &str) -> Option<Self> {
        Some(match attr {
            "sendrecv" => SdpDirection::SendRecv,
            "sendonly" => SdpDirection::SendOnly,
            "recvonly" => SdpDirection::RecvOnly,
            "inactive" => SdpDirection::Inactive,
            _ => return None,
        })
    }
}

/// One `a=rtpmap`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    pub kind: String,
    pub port: u16,
    pub protocol: String,
    pub mid: Option<String>,
    pub direction: SdpDirection,
    pub codecs: Vec<Codec>,
    pub header_extensions: Vec<String>,
    /// `b=AS:300` → `("AS", 300)`.
    pub bandwidth: Vec<(String, u64)>,
    pub ice_ufrag: bool,
    pub fingerprint: Option<String>,
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
        let mut out = SdpSummary::default();
        let mut session_dir = SdpDirection::SendRecv;
        let mut session_fp: Option<String> = None;
        let mut session_setup: Option<String> = None;
        let mut session_ufrag = false;
        for line in text.lines().map(str::trim) {
            let Some((kind, value)) = line.split_once('=') else {
                continue;
            };
            if kind == "m" {
                out.media.push(parse_m_line(value, session_dir));
                continue;
            }
            let cur = out.media.last_mut();
            match (kind, cur) {
                ("a", None) => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    match name {
                        "group" if arg.starts_with("BUNDLE") => out.bundle = true,
                        "fingerprint" => session_fp = Some(arg.to_string()),
                        "setup" => session_setup = Some(arg.to_string()),
                        "ice-ufrag" => session_ufrag = true,
                        _ => {
                            if let Some(d) = SdpDirection::parse(name) {
                                session_dir = d;
                            }
                        }
                    }
                }
                ("a", Some(m)) => apply_media_attr(m, value),
                ("b", Some(m)) => {
                    if let Some((t, v)) = value.split_once(':') {
                        if let Ok(v) = v.trim().parse() {
                            m.bandwidth.push((t.to_string(), v));
                        }
                    }
                }
                _ => {}
            }
        }
        for m in &mut out.media {
            m.ice_ufrag |= session_ufrag;
            if m.fingerprint.is_none() {
                m.fingerprint.clone_from(&session_fp);
            }
            if m.setup.is_none() {
                m.setup.clone_from(&session_setup);
            }
        }
        out
    }

    /// Media kind (`audio`/`video`) of every SSRC announced.
    pub fn ssrc_kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.media
            .iter()
            .flat_map(|m| m.ssrcs.iter().map(move |s| (s.as_str(), m.kind.as_str())))
    }
}

fn parse_m_line(value: &str, dir: SdpDirection) -> MediaSection {
    let mut parts = value.split_whitespace();
    let kind = parts.next().unwrap_or("").to_string();
    let port = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let protocol = parts.next().unwrap_or("").to_string();
    MediaSection {
        kind,
        port,
        protocol,
        mid: None,
        direction: dir,
        codecs: Vec::new(),
        header_extensions: Vec::new(),
        bandwidth: Vec::new(),
        ice_ufrag: false,
        fingerprint: None,
        setup: None,
        candidates: BTreeMap::new(),
        ssrcs: Vec::new(),
        rtcp_mux: false,
    }
}

fn apply_media_attr(m: &mut MediaSection, value: &str) {
    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "mid" => m.mid = Some(arg.to_string()),
        "rtpmap" => {
            if let Some(c) = parse_rtpmap(arg) {
                m.codecs.push(c);
            }
        }
        "extmap" => {
            if let Some(uri) = arg.split_whitespace().nth(1) {
                m.header_extensions.push(uri.to_string());
            }
        }
        "ice-ufrag" => m.ice_ufrag = true,
        "fingerprint" => m.fingerprint = Some(arg.to_string()),
        "setup" => m.setup = Some(arg.to_string()),
        "rtcp-mux" => m.rtcp_mux = true,
        "candidate" => {
            let f: Vec<&str> = arg.split_whitespace().collect();
            // foundation component transport priority addr port "typ" type ...
            if f.len() >= 8 && f[6] == "typ" {
                let key = format!("{}/{}", f[7], f[2].to_ascii_lowercase());
                *m.candidates.entry(key).or_default() += 1;
            }
        }
        "ssrc" => {
            if let Some(id) = arg.split_whitespace().next() {
                if !m.ssrcs.iter().any(|s| s == id) {
                    m.ssrcs.push(id.to_string());
                }
            }
        }
        _ => {
            if let Some(d) = SdpDirection::parse(name) {
                m.direction = d;
            }
        }
    }
}

fn parse_rtpmap(arg: &str) -> Option<Codec> {
    let (pt, rest) = arg.split_once(' ')?;
    let mut enc = rest.trim().split('/');
    let name = enc.next()?.to_string();
    let clock_rate = enc.next()?.parse().ok()?;
    let channels = enc.next().and_then(|c| c.parse().ok());
    Some(Codec {
        payload_type: pt.parse().ok()?,
        name,
        clock_rate,
        channels,
    })
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
        assert_eq!(m.kind, "audio");
        assert_eq!(m.direction, SdpDirection::RecvOnly);
        assert_eq!(m.codecs.len(), 2);
        assert_eq!(m.codecs[0].channels, Some(2));
        assert_eq!(m.bandwidth, vec![("AS".to_string(), 64)]);
        assert_eq!(m.fingerprint.as_deref(), Some("sha-256 AB:CD"));
        assert_eq!(m.setup.as_deref(), Some("actpass"));
        assert_eq!(m.candidates.get("host/udp"), Some(&1));
        assert_eq!(m.candidates.get("host/tcp"), Some(&1));
        assert_eq!(m.candidates.get("relay/udp"), Some(&1));
        assert_eq!(s.ssrc_kinds().collect::<Vec<_>>(), vec![("42", "audio")]);
        assert_eq!(m.header_extensions.len(), 1);
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
