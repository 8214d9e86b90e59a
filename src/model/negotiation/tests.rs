//! Negotiation view tests: real SDPs from samples/ (as fixtures), each planted
//! problem alone, session-level inheritance, CRLF/LF, and garbage input.

use proptest::prelude::*;

use super::*;

/// Chromium's offer to KMS (samples/browser/close-browser-offer.json): trickle, no candidates.
const CHROME_OFFER: &str = include_str!("../../../tests/fixtures/sdp/chrome-offer.sdp");
/// KMS's answer to it (samples/browser/close-kms-answer.json).
const KMS_ANSWER_TO_CHROME: &str =
    include_str!("../../../tests/fixtures/sdp/kms-answer-to-chrome.sdp");
/// KMS endpoint A's generated offer, after gathering (kurento-client-results.json A.local).
const KMS_OFFER: &str = include_str!("../../../tests/fixtures/sdp/kms-offer.sdp");
/// The answer A received from endpoint B (A.remote).
const KMS_ANSWER: &str = include_str!("../../../tests/fixtures/sdp/kms-answer.sdp");

fn kinds(n: &Negotiation) -> Vec<&'static str> {
    n.problems.iter().map(Problem::name).collect()
}

/// Apply `f` to the text of media section `index` only (0-based).
fn in_section(sdp: &str, index: usize, f: impl Fn(&str) -> String) -> String {
    let mut parts: Vec<String> = sdp.split("\r\nm=").map(str::to_owned).collect();
    parts[index + 1] = f(&parts[index + 1]);
    parts.join("\r\nm=")
}

fn strip(sdp: &str, prefix: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with(prefix))
        .collect()
}

#[test]
fn parses_chrome_offer() {
    let v = parse(CHROME_OFFER);
    let o = v.origin.as_ref().unwrap();
    assert_eq!(o.session_id, "2727208085124138352");
    assert_eq!(o.address, "127.0.0.1");
    assert_eq!(
        v.groups,
        vec![Group {
            semantics: "BUNDLE".into(),
            mids: vec!["0".into(), "1".into()]
        }]
    );
    assert!(!v.ice_lite);
    assert_eq!(v.media.len(), 2);
    let (a, vid) = (&v.media[0], &v.media[1]);
    assert_eq!(
        (a.kind.as_str(), a.port, a.mid.as_deref()),
        ("audio", 9, Some("0"))
    );
    assert_eq!(a.protocol, "UDP/TLS/RTP/SAVPF");
    assert_eq!(a.direction, SdpDirection::SendRecv);
    let names: Vec<String> = a.codecs.iter().map(CodecView::label).collect();
    assert_eq!(
        names,
        [
            "opus/48000/2",
            "red/48000/2",
            "G722/8000",
            "PCMU/8000",
            "PCMA/8000",
            "CN/8000",
            "telephone-event/48000",
            "telephone-event/8000"
        ]
    );
    let opus = &a.codecs[0];
    assert_eq!(opus.payload_type, 111);
    assert_eq!(opus.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    assert_eq!(opus.rtcp_fb, ["transport-cc"]);
    assert_eq!(a.header_extensions.len(), 4);
    assert_eq!(
        a.header_extensions[0],
        HeaderExtension {
            id: 1,
            uri: "urn:ietf:params:rtp-hdrext:ssrc-audio-level".into(),
            direction: None
        }
    );
    assert!(a.ice_ufrag && a.ice_pwd && a.rtcp_mux);
    assert_eq!(a.ice_options, ["trickle"]);
    assert_eq!(a.fingerprint.as_ref().unwrap().algorithm, "sha-256");
    assert_eq!(a.setup, Some(SetupRole::ActPass));
    assert_eq!(a.candidates.total, 0);
    assert_eq!(vid.formats.len(), 23);
    assert_eq!(vid.codecs.len(), 23);
    let vp8 = &vid.codecs[0];
    assert_eq!((vp8.name.as_str(), vp8.clock_rate), ("VP8", 90000));
    assert_eq!(vp8.rtcp_fb.len(), 5);
    assert_eq!(vid.media_codecs().count(), 10, "rtx/red/ulpfec excluded");
    assert_eq!(vid.header_extensions.len(), 11);
}

#[test]
fn parses_kms_offer_with_candidates() {
    let v = parse(KMS_OFFER);
    assert_eq!(v.session_name.as_deref(), Some("Kurento Media Server"));
    let a = &v.media[0];
    assert_eq!((a.port, a.protocol.as_str()), (53585, "RTP/SAVPF"));
    assert_eq!(a.mid.as_deref(), Some("audio0"));
    assert_eq!(a.setup, Some(SetupRole::ActPass));
    let c = &a.candidates;
    assert_eq!(c.total, 18);
    assert_eq!(c.of_type("host"), 18);
    assert_eq!(c.by_transport.get("udp"), Some(&6));
    assert_eq!(c.by_transport.get("tcp"), Some(&12));
    assert_eq!(
        c.by_scope.get("public"),
        Some(&6),
        "192.0.2.2 (documentation range)"
    );
    assert_eq!(c.by_scope.get("private"), Some(&6), "fd00::2");
    assert_eq!(c.by_scope.get("link_local"), Some(&6), "fe80::");
    assert!(!c.end_of_candidates);
    assert!(a.needs_fingerprint());
}

#[test]
fn crlf_and_lf_read_the_same() {
    for sdp in [CHROME_OFFER, KMS_ANSWER_TO_CHROME, KMS_OFFER, KMS_ANSWER] {
        assert_eq!(parse(sdp), parse(&sdp.replace("\r\n", "\n")));
    }
}

#[test]
fn session_level_attributes_apply_where_sections_lack_them() {
    let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nb=AS:2000\r\na=ice-lite\r\na=sendonly\r\n\
a=fingerprint:SHA-1 AB:CD\r\na=setup:passive\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=ice-options:trickle\r\n\
m=audio 5000 RTP/AVP 0 96\r\nb=TIAS:64000\r\na=rtpmap:96 opus/48000/2\r\na=rtcp-fb:* nack\r\n\
a=extmap:3/recvonly urn:x\r\na=candidate:1 1 udp 1 203.0.113.9 5000 typ srflx raddr 10.0.0.1 rport 1\r\n\
a=end-of-candidates\r\n\
m=video 5002 UDP/TLS/RTP/SAVPF 97\r\na=recvonly\r\na=setup:active\r\na=fingerprint:sha-256 00:11\r\n";
    let v = parse(sdp);
    assert!(v.ice_lite);
    assert_eq!(v.bandwidth[0].kind, "AS");
    assert!(!v.media[1].candidates.end_of_candidates);
    let eoc = parse(&sdp.replace("a=ice-lite\r\n", "a=end-of-candidates\r\n"));
    assert!(eoc.media.iter().all(|m| m.candidates.end_of_candidates));
    let (a, b) = (&v.media[0], &v.media[1]);
    assert_eq!(a.direction, SdpDirection::SendOnly);
    assert_eq!(a.fingerprint.as_ref().unwrap().algorithm, "sha-1");
    assert_eq!(a.setup, Some(SetupRole::Passive));
    assert!(a.ice_ufrag && a.ice_pwd);
    assert_eq!(a.ice_options, ["trickle"]);
    assert_eq!(
        a.bandwidth,
        [Bandwidth {
            kind: "TIAS".into(),
            value: 64000
        }]
    );
    assert_eq!(
        a.codecs[0].name, "PCMU",
        "static payload type without rtpmap"
    );
    assert_eq!(a.codecs[1].rtcp_fb, ["nack"]);
    assert_eq!(
        a.header_extensions[0].direction,
        Some(SdpDirection::RecvOnly)
    );
    assert_eq!(a.candidates.of_type("srflx"), 1);
    assert!(a.candidates.end_of_candidates);
    assert!(!a.needs_fingerprint(), "RTP/AVP");
    assert_eq!(b.direction, SdpDirection::RecvOnly);
    assert_eq!(b.setup, Some(SetupRole::Active));
    assert_eq!(b.fingerprint.as_ref().unwrap().algorithm, "sha-256");
    assert!(b.codecs.is_empty(), "97 has no rtpmap and is not static");
}

#[test]
fn negotiated_kms_pair_has_no_problems() {
    let n = analyze(Some(KMS_OFFER), Some(KMS_ANSWER), Offerer::Unknown);
    assert_eq!(n.offerer, Offerer::Local, "inferred from a=setup:actpass");
    assert_eq!(n.problems, []);
    let r = n.remote.as_ref().unwrap();
    assert_eq!(r.media[1].codecs.len(), 2);
    assert_eq!(r.media[1].setup, Some(SetupRole::Active));
    assert_eq!(r.media[1].candidates.total, 18);
}

#[test]
fn chrome_pair_without_trickled_candidates_misses_candidates_on_both_sides() {
    let n = analyze(
        Some(KMS_ANSWER_TO_CHROME),
        Some(CHROME_OFFER),
        Offerer::Unknown,
    );
    assert_eq!(n.offerer, Offerer::Remote);
    assert_eq!(kinds(&n), ["missing_candidates"; 4]);
    for p in &n.problems {
        match &p.kind {
            ProblemKind::MissingCandidates { trickle, side, .. } => {
                assert_eq!(*trickle, *side == Side::Remote, "{p:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // With the candidates the peers trickled, nothing is left.
    let cand = "a=candidate:1 1 udp 2122194687 192.168.1.20 35520 typ host\r\n\
a=candidate:2 1 udp 1686052607 203.0.113.7 35520 typ srflx raddr 192.168.1.20 rport 35520\r\n";
    let offer = format!("{CHROME_OFFER}{cand}");
    let answer = format!(
        "{KMS_ANSWER_TO_CHROME}a=candidate:1 1 UDP 2015363327 192.0.2.2 17629 typ host\r\n"
    );
    let n = analyze(Some(&answer), Some(&offer), Offerer::Remote);
    assert_eq!(
        n.problems,
        [],
        "bundled: candidates of the last section count for all"
    );
}

#[test]
fn each_planted_problem_is_reported_alone() {
    type Plant = fn() -> (String, String);
    let table: [(&str, Plant, &[&str], Option<Side>); 8] = [
        (
            "answer shares no video codec",
            || {
                let a = in_section(KMS_ANSWER, 1, |s| {
                    s.replace("VP8/90000", "FOO/90000")
                        .replace("H264/90000", "BAR/90000")
                });
                (KMS_OFFER.into(), a)
            },
            &["no_common_codec"],
            None,
        ),
        (
            "answer rejects video with port 0",
            || {
                let a = KMS_ANSWER.replace("m=video 1 ", "m=video 0 ");
                (KMS_OFFER.into(), a)
            },
            &["no_common_codec"],
            None,
        ),
        (
            "both sendonly on audio",
            || {
                let o = in_section(KMS_OFFER, 0, |s| s.replace("a=sendrecv", "a=sendonly"));
                let a = in_section(KMS_ANSWER, 0, |s| s.replace("a=sendrecv", "a=sendonly"));
                (o, a)
            },
            &["direction_mismatch"],
            None,
        ),
        (
            "offer recvonly answered recvonly",
            || {
                let o = in_section(KMS_OFFER, 1, |s| s.replace("a=sendrecv", "a=recvonly"));
                let a = in_section(KMS_ANSWER, 1, |s| s.replace("a=sendrecv", "a=recvonly"));
                (o, a)
            },
            &["direction_mismatch"],
            None,
        ),
        (
            "remote without candidates",
            || (KMS_OFFER.into(), strip(KMS_ANSWER, "a=candidate")),
            &["missing_candidates", "missing_candidates"],
            Some(Side::Remote),
        ),
        (
            "local without fingerprint",
            || (strip(KMS_OFFER, "a=fingerprint"), KMS_ANSWER.into()),
            &["no_dtls_fingerprint", "no_dtls_fingerprint"],
            Some(Side::Local),
        ),
        (
            "remote relay only",
            || {
                (
                    KMS_OFFER.into(),
                    KMS_ANSWER.replace("typ host", "typ relay"),
                )
            },
            &["only_relay_candidates", "only_relay_candidates"],
            Some(Side::Remote),
        ),
        (
            "remote host only, private addresses",
            || {
                (
                    KMS_OFFER.into(),
                    KMS_ANSWER.replace("192.0.2.2", "10.1.2.3"),
                )
            },
            &["only_host_candidates", "only_host_candidates"],
            Some(Side::Remote),
        ),
    ];
    for (what, plant, expected, side) in table {
        let (local, remote) = plant();
        let n = analyze(Some(&local), Some(&remote), Offerer::Local);
        assert_eq!(kinds(&n), expected, "{what}: {:#?}", n.problems);
        for p in &n.problems {
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json["kind"], p.name(), "{what}");
            assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
            if let Some(side) = side {
                assert_eq!(json["side"], serde_json::to_value(side).unwrap(), "{what}");
            }
        }
    }
}

#[test]
fn no_common_codec_serializes_with_its_facts() {
    let a = in_section(KMS_ANSWER, 1, |s| {
        s.replace("VP8/90000", "FOO/90000")
            .replace("H264/90000", "BAR/90000")
    });
    let n = analyze(Some(KMS_OFFER), Some(&a), Offerer::Local);
    let json = serde_json::to_value(&n.problems[0]).unwrap();
    assert_eq!(json["kind"], "no_common_codec");
    assert_eq!(json["mid"], "video0");
    assert_eq!(json["media"], "video");
    assert_eq!(json["severity"], "error");
    assert_eq!(json["rejected"], false);
    assert_eq!(
        json["offered"],
        serde_json::json!(["VP8/90000", "H264/90000"])
    );
    assert_eq!(
        json["answered"],
        serde_json::json!(["FOO/90000", "BAR/90000"])
    );
    let whole = serde_json::to_value(&n).unwrap();
    assert_eq!(whole["offerer"], "local");
    assert_eq!(whole["local"]["media"][0]["kind"], "audio");
}

#[test]
fn rejected_offer_section_and_bundle_only_are_not_problems() {
    // The offerer disabled video itself: nothing to complain about.
    let o = KMS_OFFER.replace("m=video 53585 ", "m=video 0 ");
    let a = KMS_ANSWER.replace("m=video 1 ", "m=video 0 ");
    assert_eq!(analyze(Some(&o), Some(&a), Offerer::Local).problems, []);
    let b = in_section(KMS_ANSWER, 1, |s| {
        s.replacen("video 1 ", "video 0 ", 1) + "a=bundle-only\r\n"
    });
    assert!(parse(&b).media[1].bundle_only);
    assert_eq!(
        analyze(Some(KMS_OFFER), Some(&b), Offerer::Local).problems,
        []
    );
}

#[test]
fn one_side_or_none_and_unknown_offerer() {
    let n = analyze(Some(KMS_OFFER), None, Offerer::Unknown);
    assert_eq!(n.offerer, Offerer::Local);
    assert!(n.remote.is_none());
    assert_eq!(n.problems, []);
    let n = analyze(Some(""), Some("  "), Offerer::Unknown);
    assert!(n.local.is_none() && n.remote.is_none());
    assert_eq!(n.offerer, Offerer::Unknown);
    // No actpass anywhere: unknown, and no direction check.
    let o = KMS_OFFER
        .replace("a=setup:actpass", "a=setup:passive")
        .replace("a=sendrecv", "a=sendonly");
    let a = KMS_ANSWER.replace("a=sendrecv", "a=sendonly");
    let n = analyze(Some(&o), Some(&a), Offerer::Unknown);
    assert_eq!(n.offerer, Offerer::Unknown);
    assert_eq!(n.problems, []);
}

/// Lines of the real samples, to build near-valid garbage from.
fn sample_lines() -> Vec<&'static str> {
    [CHROME_OFFER, KMS_OFFER]
        .iter()
        .flat_map(|s| s.lines())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*", t in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(&s);
        let _ = analyze(Some(&s), Some(&String::from_utf8_lossy(&t)), Offerer::Unknown);
    }

    #[test]
    fn mangled_sample_lines_never_panic(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..80, "[ :/=0-9a-z\\r]{0,12}"), 0..60),
        offerer in prop::sample::select(vec![Offerer::Local, Offerer::Remote, Offerer::Unknown]),
    ) {
        let lines = sample_lines();
        let mut text = String::new();
        for (i, cut, junk) in picks {
            let l = lines[i.index(lines.len())];
            let cut = l.char_indices().map(|(k, _)| k).find(|k| *k >= cut.min(l.len())).unwrap_or(l.len());
            text.push_str(&l[..cut]);
            text.push_str(&junk);
            text.push_str("\r\n");
        }
        let n = analyze(Some(&text), Some(KMS_ANSWER), offerer);
        prop_assert!(serde_json::to_string(&n).is_ok());
    }
}
