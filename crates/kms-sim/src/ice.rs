//! ICE candidates of an RTP endpoint: the host candidates it gathers (shaped
//! like KMS's: per component a UDP, a TCP active and a TCP passive one),
//! the remote candidates it received, the choice of the selected pair (the
//! highest-priority UDP candidate of each side, as KMS picked in
//! samples/wire.jsonl), and the `a=candidate:` lines KMS adds to its session
//! descriptors once candidates are known.

use std::fmt::Write;

use kms_proto::sdp::{self, Candidate};

use super::engine::Engine;
use super::webrtc::Peer;

/// Address of the simulated host (documentation range, as in the samples).
const HOST: &str = "192.0.2.2";

/// KMS-shaped host candidates of `component` (1 or 2), ports from `ports`.
pub fn host_candidates(component: u32, ports: [u16; 2]) -> Vec<String> {
    let c = component;
    vec![
        format!(
            "candidate:1 {c} UDP {} {HOST} {} typ host",
            2_015_363_328 - c,
            ports[0]
        ),
        format!(
            "candidate:2 {c} TCP {} {HOST} 9 typ host tcptype active",
            1_015_021_824 - c
        ),
        format!(
            "candidate:3 {c} TCP {} {HOST} {} typ host tcptype passive",
            1_010_827_520 - c,
            ports[1]
        ),
    ]
}

/// The fields of a candidate line that ICE cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub component: u32,
    pub udp: bool,
    pub priority: u64,
}

/// Read `candidate:F C T P ADDR PORT typ X ...` (also with an `a=` prefix)
/// through the shared reader ([`Candidate::parse`]).
pub fn parse(candidate: &str) -> Option<Parsed> {
    let c = Candidate::parse(candidate)?;
    Some(Parsed {
        component: c.component_id()?,
        udp: c.is_udp(),
        priority: c.priority_value()?,
    })
}

/// KMS's rendering of a candidate in a pair: transport upper-cased, browser
/// extensions (`generation`, `ufrag`, `network-id`, ...) dropped. A string
/// that is not a candidate comes back trimmed.
pub fn normalize(candidate: &str) -> String {
    let Some(c) = Candidate::parse(candidate) else {
        return candidate.trim().trim_start_matches("a=").to_owned();
    };
    let mut out = format!(
        "candidate:{} {} {} {} {} {} typ {}",
        c.foundation,
        c.component,
        c.transport.to_ascii_uppercase(),
        c.priority,
        c.address,
        c.port,
        c.kind
    );
    for (name, value) in &c.extensions {
        if matches!(name.as_str(), "raddr" | "rport" | "tcptype") {
            out.push(' ');
            out.push_str(name);
            if !value.is_empty() {
                out.push(' ');
                out.push_str(value);
            }
        }
    }
    out
}

/// The highest-priority UDP candidate of `component` among `cands`.
pub fn best(cands: &[String], component: u32) -> Option<&String> {
    cands
        .iter()
        .filter_map(|c| parse(c).map(|p| (c, p)))
        .filter(|(_, p)| p.component == component && p.udp)
        .max_by_key(|(_, p)| p.priority)
        .map(|(c, _)| c)
}

/// The `a=candidate:` lines of a description, as candidate strings (the
/// shared reader keeps every attribute in order).
pub fn from_sdp(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let d = sdp::parse(text);
    for a in d.all_attributes().filter(|a| a.name == "candidate") {
        let c = format!("candidate:{}", a.value);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `sdp` with `a=candidate:` lines for `cands` at the end of every media
/// section (KMS lists every bundled candidate in each section).
pub fn with_candidates(sdp: &str, cands: &[String]) -> String {
    if cands.is_empty() {
        return sdp.to_owned();
    }
    let mut block = String::new();
    for c in cands {
        let _ = write!(block, "a={c}\r\n");
    }
    let mut out = String::with_capacity(sdp.len() + block.len() * 2);
    let mut in_media = false;
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") && in_media {
            out.push_str(&block);
        }
        in_media |= line.starts_with("m=");
        out.push_str(line);
    }
    if in_media {
        if !out.ends_with('\n') {
            out.push_str("\r\n");
        }
        out.push_str(&block);
    }
    out
}

impl Engine {
    /// The pair ICE selects for `component` of `id`: its best own candidate
    /// and the best one of its peer (received with `addIceCandidate`; else
    /// what a loopback peer announced, or a browser listed in its SDP).
    pub(crate) fn select_pair(&self, id: &str, component: u32) -> (String, String) {
        let Some(r) = self.rtc(id) else {
            return (String::new(), String::new());
        };
        let local = best(&r.local_candidates, component)
            .cloned()
            .unwrap_or_else(|| host_candidates(component, [30000, 30001]).remove(0));
        let peer_announced = match &r.peer {
            Peer::Endpoint(o) => self
                .rtc(o)
                .map(|p| p.local_candidates.clone())
                .unwrap_or_default(),
            _ => r.remote_sdp.as_deref().map(from_sdp).unwrap_or_default(),
        };
        let remote = best(&r.remote_candidates, component)
            .or_else(|| best(&peer_announced, component))
            .map(|c| normalize(c))
            .unwrap_or_else(|| {
                format!(
                    "candidate:1 {component} UDP {} 198.51.100.7 {} typ host",
                    2_015_363_328 - component,
                    40_000 + component
                )
            });
        (local, remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_the_best_udp_candidate() {
        let cands = vec![
            "candidate:1 1 UDP 2015363327 192.0.2.2 15566 typ host".to_owned(),
            "candidate:3 1 TCP 2115363327 192.0.2.2 53585 typ host tcptype passive".to_owned(),
            "candidate:7 1 UDP 2015363839 fe80::fc:ff:fe00:1 44661 typ host".to_owned(),
            "candidate:7 2 UDP 2015363838 fe80::fc:ff:fe00:1 35212 typ host".to_owned(),
        ];
        assert_eq!(best(&cands, 1), Some(&cands[2]));
        assert_eq!(best(&cands, 2), Some(&cands[3]));
        assert_eq!(best(&cands, 3), None);
        assert_eq!(parse("nonsense"), None);
        let host = host_candidates(2, [1000, 2000]);
        assert_eq!(
            host[0],
            "candidate:1 2 UDP 2015363326 192.0.2.2 1000 typ host"
        );
        assert_eq!(best(&host, 2), Some(&host[0]));
    }

    #[test]
    fn normalizes_browser_candidates_like_kms() {
        assert_eq!(
            normalize("candidate:877301065 1 udp 2122265343 fd00::2 36863 typ host generation 0 ufrag 2/7k network-id 2"),
            "candidate:877301065 1 UDP 2122265343 fd00::2 36863 typ host"
        );
        assert_eq!(
            normalize("candidate:3 1 tcp 1 192.0.2.2 9 typ host tcptype active generation 0"),
            "candidate:3 1 TCP 1 192.0.2.2 9 typ host tcptype active"
        );
    }

    #[test]
    fn adds_candidate_lines_to_every_media_section() {
        let sdp = "v=0\r\nm=audio 1 X 0\r\na=mid:0\r\nm=video 1 X 96\r\na=mid:1\r\n";
        let c = vec!["candidate:1 1 UDP 1 192.0.2.2 5 typ host".to_owned()];
        let out = with_candidates(sdp, &c);
        assert_eq!(
            out,
            "v=0\r\nm=audio 1 X 0\r\na=mid:0\r\na=candidate:1 1 UDP 1 192.0.2.2 5 typ host\r\n\
             m=video 1 X 96\r\na=mid:1\r\na=candidate:1 1 UDP 1 192.0.2.2 5 typ host\r\n"
        );
        assert_eq!(from_sdp(&out), c);
        assert_eq!(with_candidates(sdp, &[]), sdp);
    }
}
