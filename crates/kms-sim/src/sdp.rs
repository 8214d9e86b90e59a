//! SDP: the few things the simulator needs from a description (origin id,
//! media sections, direction, SSRCs, offered formats), taken from the shared
//! reader's parse ([`kms_proto::sdp`]), and the writing of
//! KMS-shaped offers and answers (see samples/browser/*-kms-answer.json):
//! an answer keeps the offer's payload types of the codecs KMS supports, and
//! rejects (port 0) a section that offers none of them.

use std::fmt::Write;

use kms_proto::sdp::{self, SessionDescription};
use kms_proto::types::MediaType;

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
    /// The `m=` line's formats with their `a=rtpmap`/`a=fmtp` (empty in
    /// descriptions the simulator generates itself).
    pub formats: Vec<Format>,
    /// Port 0: rejected by the answerer (or disabled by the offerer).
    pub rejected: bool,
}

/// One payload format of a section.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Format {
    pub pt: String,
    /// `opus/48000/2`; static payload types 0 and 8 get PCMU/PCMA.
    pub encoding: Option<String>,
    pub fmtp: Option<String>,
}

impl Format {
    fn name(&self) -> &str {
        self.encoding
            .as_deref()
            .and_then(|e| e.split('/').next())
            .unwrap_or("")
    }
}

/// The codecs KMS kept in its answer to a real browser (audio: opus, PCMU,
/// PCMA; video: VP8, H264 — samples/browser/close-kms-answer.json).
fn kms_supports(media: MediaType, name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    match media {
        MediaType::AUDIO => matches!(n.as_str(), "opus" | "pcmu" | "pcma"),
        MediaType::VIDEO => matches!(n.as_str(), "vp8" | "h264"),
        _ => false,
    }
}

impl Section {
    /// The offered formats KMS would answer with, in offer order.
    pub fn supported(&self) -> Vec<&Format> {
        self.formats
            .iter()
            .filter(|f| kms_supports(self.media, f.name()))
            .collect()
    }

    /// An offered audio/video section none of whose formats KMS supports:
    /// KMS answers it with port 0 (kms-elements' SDP agent disables a media
    /// with no supported format; RFC 3264 §6 rejection).
    pub fn no_supported_codec(&self) -> bool {
        matches!(self.media, MediaType::AUDIO | MediaType::VIDEO) && self.supported().is_empty()
    }
}

/// What the simulator reads from a description.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub origin: Option<u64>,
    pub sections: Vec<Section>,
}

/// Read a description through the shared reader ([`kms_proto::sdp::parse`]:
/// tolerant, CRLF or LF, never fails).
pub fn parse(text: &str) -> Parsed {
    Parsed::from(&kms_proto::sdp::parse(text))
}

impl From<&SessionDescription> for Parsed {
    fn from(d: &SessionDescription) -> Self {
        Parsed {
            origin: d.origin.as_ref().and_then(|o| o.session_id.parse().ok()),
            sections: d
                .media
                .iter()
                .enumerate()
                .map(|(i, m)| Section::read(i, m))
                .collect(),
        }
    }
}

impl Section {
    /// Section `index` of a remote description.
    fn read(index: usize, m: &sdp::Media) -> Section {
        let media = match m.kind.as_str() {
            "audio" => MediaType::AUDIO,
            "video" => MediaType::VIDEO,
            _ => MediaType::DATA,
        };
        Section {
            media,
            mid: m.mid.clone().unwrap_or_else(|| index.to_string()),
            sends: m.direction.sends(),
            receives: m.direction.receives(),
            rtx: m.formats.iter().any(|f| {
                f.rtpmap
                    .as_ref()
                    .is_some_and(|r| r.name.eq_ignore_ascii_case("rtx"))
            }),
            ssrc: m.ssrcs.iter().find_map(|s| s.parse().ok()),
            formats: m
                .formats
                .iter()
                .map(|f| Format {
                    pt: f.id.clone(),
                    encoding: encoding(f),
                    fmtp: f.fmtp.clone(),
                })
                .collect(),
            rejected: m.port == 0,
        }
    }
}

/// `opus/48000/2` as its `a=rtpmap` says; a static payload type without
/// one as KMS writes it (`PCMU/8000`: name and clock rate).
fn encoding(f: &sdp::Format) -> Option<String> {
    match &f.rtpmap {
        Some(r) => Some(r.label()),
        None => f.codec().map(|c| format!("{}/{}", c.name, c.clock_rate)),
    }
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

/// The codecs a section is written with: in an answer, the offer's supported
/// formats (their payload types and fmtp kept, as KMS does); otherwise KMS's
/// own list.
fn codecs_of(sec: &Section, answer: bool) -> Vec<Format> {
    let offered: Vec<Format> = sec.supported().into_iter().cloned().collect();
    if answer && !offered.is_empty() {
        return offered;
    }
    let own: &[(&str, &str)] = match sec.media {
        MediaType::AUDIO => &[
            ("111", "opus/48000/2"),
            ("0", "PCMU/8000"),
            ("8", "PCMA/8000"),
        ],
        _ => &[("96", "VP8/90000"), ("102", "H264/90000")],
    };
    own.iter()
        .map(|(pt, enc)| Format {
            pt: (*pt).to_owned(),
            encoding: Some((*enc).to_owned()),
            fmtp: None,
        })
        .collect()
}

/// Render a KMS-shaped description.
pub fn render(l: &Local<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "v=0\r\no=- {0} {0} IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n",
        l.origin
    );
    let mids: Vec<&str> = l
        .sections
        .iter()
        .filter(|(x, _)| !x.rejected)
        .map(|(x, _)| x.mid.as_str())
        .collect();
    let _ = write!(s, "a=group:BUNDLE {}\r\n", mids.join(" "));
    for (sec, ssrc) in &l.sections {
        let kind = if sec.media == MediaType::AUDIO {
            "audio"
        } else {
            "video"
        };
        if sec.rejected {
            // Port 0, the offer's format list kept (RFC 3264 §6), no codecs.
            let pts: Vec<&str> = sec.formats.iter().map(|f| f.pt.as_str()).collect();
            let _ = write!(
                s,
                "m={kind} 0 UDP/TLS/RTP/SAVPF {}\r\na=mid:{}\r\n",
                pts.join(" "),
                sec.mid
            );
            continue;
        }
        let codecs = codecs_of(sec, l.answer);
        let dir = match (sec.sends, sec.receives) {
            (true, true) => "sendrecv",
            (true, false) => "recvonly",
            (false, true) => "sendonly",
            (false, false) => "inactive",
        };
        let pts: Vec<&str> = codecs.iter().map(|f| f.pt.as_str()).collect();
        let _ = write!(s, "m={kind} 1 UDP/TLS/RTP/SAVPF {}\r\n", pts.join(" "));
        s.push_str("a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n");
        let _ = write!(
            s,
            "a={dir}\r\na=mid:{}\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
            sec.mid
        );
        for f in &codecs {
            let _ = write!(
                s,
                "a=rtpmap:{} {}\r\n",
                f.pt,
                f.encoding.as_deref().unwrap_or("")
            );
        }
        if sec.media == MediaType::VIDEO {
            for f in &codecs {
                for fb in ["goog-remb", "ccm fir", "nack", "nack pli"] {
                    let _ = write!(s, "a=rtcp-fb:{} {fb}\r\n", f.pt);
                }
            }
        }
        for f in &codecs {
            if let Some(fmtp) = &f.fmtp {
                let _ = write!(s, "a=fmtp:{} {fmtp}\r\n", f.pt);
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

    #[test]
    fn answer_keeps_offered_payload_types_and_rejects_unsupported_sections() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 109 9 0\r\na=mid:a\r\na=rtpmap:109 opus/48000/2\r\n\
a=fmtp:109 useinbandfec=1\r\na=rtpmap:9 G722/8000\r\nm=video 9 UDP/TLS/RTP/SAVPF 120 121\r\na=mid:v\r\n\
a=rtpmap:120 FOO/90000\r\na=rtpmap:121 rtx/90000\r\n";
        let mut p = parse(offer);
        let fmt = &p.sections[0].formats;
        assert_eq!(fmt[2].encoding.as_deref(), Some("PCMU/8000"), "static pt");
        assert_eq!(fmt[0].fmtp.as_deref(), Some("useinbandfec=1"));
        assert!(!p.sections[0].no_supported_codec());
        assert!(p.sections[1].no_supported_codec());
        for s in &mut p.sections {
            s.rejected |= s.no_supported_codec();
        }
        let out = render(&Local {
            origin: 1,
            ufrag: "ab",
            pwd: "cd",
            fingerprint: "00",
            cname: "c",
            sections: p.sections.into_iter().map(|s| (s, 7)).collect(),
            answer: true,
        });
        assert!(out.contains("a=group:BUNDLE a\r\n"), "{out}");
        assert!(
            out.contains("m=audio 1 UDP/TLS/RTP/SAVPF 109 0\r\n"),
            "{out}"
        );
        assert!(out.contains("a=rtpmap:109 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"));
        assert!(out.contains("a=fmtp:109 useinbandfec=1\r\n"));
        assert!(
            out.contains("m=video 0 UDP/TLS/RTP/SAVPF 120 121\r\na=mid:v\r\n"),
            "{out}"
        );
        let back = parse(&out);
        assert!(!back.sections[0].rejected && back.sections[1].rejected);
    }
}
