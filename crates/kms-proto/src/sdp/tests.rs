//! The shared SDP reader: every SDP of the repository's fixtures (KMS's and
//! Chromium's, CRLF and LF), per-format grouping, session-level defaults,
//! candidates, and tolerance of garbage.

use std::path::{Path, PathBuf};

use super::*;

/// `tests/fixtures` of the repository.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn sdp_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if s.starts_with("v=0") => out.push(s.clone()),
        serde_json::Value::Object(m) => m.values().for_each(|x| sdp_strings(x, out)),
        serde_json::Value::Array(a) => a.iter().for_each(|x| sdp_strings(x, out)),
        _ => {}
    }
}

/// Files below `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `(where, sdp)`: the `.sdp` files, and every SDP string inside the JSON
/// and JSON-lines captures of samples/.
fn every_fixture_sdp() -> Vec<(String, String)> {
    let mut all = Vec::new();
    for p in files(&fixtures().join("sdp")) {
        if p.extension().is_some_and(|e| e == "sdp") {
            all.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    for p in files(&fixtures().join("kurento/samples")) {
        let text = std::fs::read_to_string(&p).unwrap();
        let docs: Vec<serde_json::Value> = match p.extension().and_then(|e| e.to_str()) {
            Some("json") => vec![serde_json::from_str(&text).unwrap()],
            Some("jsonl") => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            _ => continue,
        };
        let mut found = Vec::new();
        docs.iter().for_each(|d| sdp_strings(d, &mut found));
        for (i, s) in found.into_iter().enumerate() {
            all.push((format!("{}#{i}", p.display()), s));
        }
    }
    all
}

fn lines_starting<'a>(sdp: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    sdp.lines()
        .map(str::trim)
        .filter(move |l| l.starts_with(prefix))
}

#[test]
fn parses_every_sdp_of_the_fixtures() {
    let all = every_fixture_sdp();
    let named = |part: &str| all.iter().filter(|(w, _)| w.contains(part)).count();
    assert_eq!(named(".sdp"), 4, "tests/fixtures/sdp");
    for f in [
        "close-browser-offer.json",
        "close-kms-answer.json",
        "crash-browser-offer.json",
        "crash-kms-answer.json",
    ] {
        assert_eq!(named(f), 1, "{f}");
    }
    assert_eq!(named("kurento-client-results.json"), 4, "A/B local/remote");
    for (what, sdp) in &all {
        let d = parse(sdp);
        assert_eq!(d, parse(&sdp.replace("\r\n", "\n")), "{what}: CRLF = LF");
        assert!(d.origin.is_some(), "{what}");
        assert_eq!(d.media.len(), lines_starting(sdp, "m=").count(), "{what}");
        assert_eq!(
            d.all_attributes().count(),
            lines_starting(sdp, "a=").count(),
            "{what}: every a= line kept"
        );
        let rtpmaps = d.media.iter().flat_map(|m| &m.formats);
        assert_eq!(
            rtpmaps.filter(|f| f.rtpmap.is_some()).count(),
            lines_starting(sdp, "a=rtpmap:").count(),
            "{what}: every rtpmap read and attached to its format"
        );
        assert_eq!(
            d.media.iter().map(|m| m.candidates.len()).sum::<usize>(),
            lines_starting(sdp, "a=candidate:").count(),
            "{what}: every candidate read"
        );
        for m in &d.media {
            assert!(matches!(m.kind.as_str(), "audio" | "video"), "{what}");
            assert!(m.formats.iter().all(|f| f.payload_type.is_some()));
            if m.port != 0 {
                assert!(m.formats.iter().any(|f| f.codec().is_some()), "{what}");
                assert!(m.ice_ufrag.is_some() && m.ice_pwd.is_some(), "{what}");
                assert!(m.fingerprint.is_some() && m.setup.is_some(), "{what}");
                assert!(m.mid.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn groups_attributes_per_format_in_m_line_order() {
    let d = parse(
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97 96 0 98\r\na=rtcp-fb:* nack\r\n\
         a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=fmtp:97 apt=96\r\n\
         a=rtpmap:97 rtx/90000\r\na=rtpmap:96 H264/90000\r\na=rtpmap:55 unlisted/1\r\n",
    );
    let f = &d.media[0].formats;
    let ids: Vec<&str> = f.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["97", "96", "0", "98"]);
    assert_eq!(f[0].rtpmap.as_ref().unwrap().label(), "rtx/90000");
    assert_eq!(f[0].fmtp.as_deref(), Some("apt=96"));
    assert_eq!(
        f[1].rtpmap.as_ref().unwrap().name,
        "VP8",
        "first rtpmap wins"
    );
    assert_eq!(f[1].rtcp_fb, ["nack", "goog-remb"]);
    assert_eq!(f[2].rtpmap, None);
    assert_eq!(f[2].codec().unwrap().label(), "PCMU/8000/1", "static");
    assert_eq!(f[3].codec(), None);
    assert_eq!(d.media[0].attributes.len(), 7);
    assert_eq!(d.media[0].attributes[0].name, "rtcp-fb");
    assert_eq!(d.media[0].attributes[0].value, "* nack");
}

#[test]
fn session_level_defaults_apply_where_sections_lack_them() {
    let d = parse(
        "v=0\no=- 1 2 IN IP4 0.0.0.0\ns=-\na=sendonly\na=ice-ufrag:u\na=ice-pwd:p\n\
         a=fingerprint:SHA-1 AB:CD\na=setup:passive\na=ice-options:trickle\na=end-of-candidates\n\
         m=audio 5000/2 RTP/AVP 0\na=ice-ufrag:\n\
         m=video 5002 RTP/AVP 96\na=recvonly\na=setup:active\na=ice-pwd:q\na=fingerprint:sha-256\n",
    );
    let (a, v) = (&d.media[0], &d.media[1]);
    assert_eq!(a.port, 5000);
    assert_eq!(
        (a.direction, v.direction),
        (Direction::SendOnly, Direction::RecvOnly)
    );
    assert_eq!(a.ice_ufrag.as_deref(), Some("u"), "empty gives way");
    assert_eq!(v.ice_pwd.as_deref(), Some("q"));
    assert_eq!(a.setup, Some(SetupRole::Passive));
    assert_eq!(v.setup, Some(SetupRole::Active));
    assert_eq!(a.fingerprint.as_ref().unwrap().algorithm, "SHA-1");
    assert_eq!(
        v.fingerprint.as_ref().unwrap().value,
        "AB:CD",
        "a fingerprint without a value is not read"
    );
    assert_eq!(v.ice_options, ["trickle"]);
    assert!(a.end_of_candidates && v.end_of_candidates);
    assert_eq!(d.attributes.len(), 7);
}

#[test]
fn reads_candidates_as_lines_and_as_trickled_strings() {
    let c = Candidate::parse(
        "a=candidate:3 1 tcp 1518 192.0.2.1 9 typ host tcptype active generation 0 lone",
    )
    .unwrap();
    assert_eq!(
        (c.component_id(), c.priority_value()),
        (Some(1), Some(1518))
    );
    assert!(!c.is_udp());
    assert_eq!((c.address.as_str(), c.kind.as_str()), ("192.0.2.1", "host"));
    assert_eq!(c.extension("tcptype"), Some("active"));
    assert_eq!(c.extension("lone"), Some(""));
    assert_eq!(
        Candidate::parse("candidate:1 1 UDP 5 198.51.100.1 6 TYP relay raddr 0.0.0.0 rport 0")
            .map(|c| c.kind),
        Some("relay".into())
    );
    for bad in [
        "nonsense",
        "candidate:1 1 UDP 5",
        "1 1 UDP 5 a 6 typ host",
        "candidate:1 1 udp 1 a 2 x host",
    ] {
        assert_eq!(Candidate::parse(bad), None, "{bad}");
    }
}

#[test]
fn skips_what_it_cannot_read_and_keeps_the_rest() {
    let d = parse(
        "garbage\r\n=\r\nb=AS:x\r\no=short\r\nm=\r\nm=audio x RTP/AVP 111\r\na=rtpmap:111\r\n\
         a=rtpmap:111 /48000\r\na=rtpmap:111 opus/fast\r\na=extmap:x urn:y\r\na=candidate:1\r\n\
         a=setup:sideways\r\na=sendonly\r\n",
    );
    assert_eq!(d.origin, None);
    assert!(d.bandwidth.is_empty());
    assert_eq!(d.media.len(), 2);
    let m = &d.media[1];
    assert_eq!((m.kind.as_str(), m.port), ("audio", 0));
    assert_eq!(m.formats[0].codec(), None);
    assert!(m.header_extensions.is_empty() && m.candidates.is_empty());
    assert_eq!(m.setup, None);
    assert_eq!(m.direction, Direction::SendOnly);
    let odd = [
        "\n\n",
        "m",
        "a=ssrc:",
        "m=audio 1\na=rtcp-fb:",
        "o=\ns=\nt=x",
        "\u{fffd}=\r\r\n",
    ];
    for s in odd {
        let _ = parse(s);
    }
}
