//! SDP: reads the few things the simulator needs from a remote description
//! (origin id, media sections, direction, SSRCs) and writes KMS-shaped
//! offers and answers (see samples/browser/*-kms-answer.json).

use std::fmt::Write;

use crate::kms::types::MediaType;

/// One `m=` section of a description.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub media: MediaType,
    pub mid: String,
    /// The remote side sends on this section (sendrecv/sendonly).
    pub sends: bool,
    /// The remote side receives (sendrecv/recvonly).
    pub receives: bool,
    /// The section offers RTX retransmission (`rtx/90000`), as browsers do.
    pub rtx: bool,
    /// The first SSRC the remote side announces for the section.
    pub ssrc: Option<u32>,
}

/// What the simulator reads from a description.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub origin: Option<u64>,
    pub sections: Vec<Section>,
}

/// Parse leniently; unknown lines are ignored.
pub fn parse(sdp: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in sdp.lines().map(str::trim) {
        if let Some(o) = line.strip_prefix("o=") {
            p.origin = o.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        } else if let Some(m) = line.strip_prefix("m=") {
            let media = match m.split_whitespace().next() {
                Some("audio") => MediaType::AUDIO,
                Some("video") => MediaType::VIDEO,
                _ => MediaType::DATA,
            };
            p.sections.push(Section {
                media,
                mid: p.sections.len().to_string(),
                sends: true,
                receives: true,
                rtx: false,
                ssrc: None,
            });
        } else if let Some(s) = p.sections.last_mut() {
            match line {
                "a=sendonly" => (s.sends, s.receives) = (true, false),
                "a=recvonly" => (s.sends, s.receives) = (false, true),
                "a=inactive" => (s.sends, s.receives) = (false, false),
                "a=sendrecv" => (s.sends, s.receives) = (true, true),
                _ => {
                    if let Some(mid) = line.strip_prefix("a=mid:") {
                        s.mid = mid.to_owned();
                    }
                    s.rtx |= line.starts_with("a=rtpmap:") && line.contains(" rtx/");
                    if s.ssrc.is_none() {
                        s.ssrc = line
                            .strip_prefix("a=ssrc:")
                            .and_then(|r| r.split_whitespace().next())
                            .and_then(|n| n.parse().ok());
                    }
                }
            }
        }
    }
    p
}

/// Parameters of a description the simulator writes.
#[derive(Debug, Clone)]
pub struct Local<'a> {
    pub origin: u64,
    pub ufrag: &'a str,
    pub pwd: &'a str,
    pub fingerprint: &'a str,
    pub cname: &'a str,
    /// (section, our SSRC for it)
    pub sections: Vec<(Section, u32)>,
    pub answer: bool,
}

/// Render a KMS-shaped description.
pub fn render(l: &Local<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "v=0\r\no=- {0} {0} IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n",
        l.origin
    );
    let mids: Vec<&str> = l.sections.iter().map(|(x, _)| x.mid.as_str()).collect();
    let _ = write!(s, "a=group:BUNDLE {}\r\n", mids.join(" "));
    for (sec, ssrc) in &l.sections {
        let (kind, pts, maps): (&str, &str, &[&str]) = match sec.media {
            MediaType::AUDIO => (
                "audio",
                "111 0 8",
                &["111 opus/48000/2", "0 PCMU/8000", "8 PCMA/8000"],
            ),
            _ => ("video", "96 102", &["96 VP8/90000", "102 H264/90000"]),
        };
        let dir = match (sec.sends, sec.receives) {
            (true, true) => "sendrecv",
            (true, false) => "recvonly",
            (false, true) => "sendonly",
            (false, false) => "inactive",
        };
        let _ = write!(s, "m={kind} 1 UDP/TLS/RTP/SAVPF {pts}\r\n");
        s.push_str("a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n");
        let _ = write!(
            s,
            "a={dir}\r\na=mid:{}\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
            sec.mid
        );
        for m in maps {
            let _ = write!(s, "a=rtpmap:{m}\r\n");
        }
        if sec.media == MediaType::VIDEO {
            for fb in ["goog-remb", "ccm fir", "nack", "nack pli"] {
                let _ = write!(s, "a=rtcp-fb:96 {fb}\r\n");
            }
        }
        let setup = if l.answer { "active" } else { "actpass" };
        let _ = write!(s, "a=setup:{setup}\r\na=rtcp-mux\r\n");
        let _ = write!(s, "a=ssrc:{ssrc} cname:{}\r\n", l.cname);
        let _ = write!(
            s,
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=fingerprint:sha-256 {}\r\n",
            l.ufrag, l.pwd, l.fingerprint
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_browser_offer_and_round_trips_own_output() {
        let offer = "v=0\r\no=- 7200601213163865841 2 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n";
        let p = parse(offer);
        assert_eq!(p.origin, Some(7200601213163865841));
        assert_eq!(p.sections.len(), 2);
        assert!(p.sections[0].sends && p.sections[0].receives);
        assert!(!p.sections[1].sends && p.sections[1].receives);
        assert!(!p.sections[1].rtx);
        let v = parse("m=video 9 X 96\r\na=ssrc-group:FID 11 12\r\na=ssrc:11 cname:x\r\n");
        assert_eq!(v.sections[0].ssrc, Some(11));
        assert!(parse("m=video 9 X 96 97\r\na=rtpmap:97 rtx/90000\r\n").sections[0].rtx);
        let out = render(&Local {
            origin: 42,
            ufrag: "ab",
            pwd: "cd",
            fingerprint: "00",
            cname: "user@host",
            sections: p.sections.iter().cloned().map(|s| (s, 7)).collect(),
            answer: true,
        });
        assert!(out.contains("a=group:BUNDLE 0 1\r\n"));
        assert!(out.contains("a=sendonly\r\n"));
        let back = parse(&out);
        assert_eq!(back.origin, Some(42));
        assert_eq!(back.sections.len(), 2);
    }
}
