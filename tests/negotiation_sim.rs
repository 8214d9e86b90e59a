//! The negotiation view against the simulator over real TCP/WebSocket: a
//! WebRtcEndpoint negotiated with a browser-like offer reads back both SDPs
//! with a correct parsed view and no problems; one negotiated with an offer
//! whose video has no codec KMS supports reports `no_common_codec`.

mod client_support;

use client_support::*;
use kurento_exporter::kms::types::IceCandidate;
use kurento_exporter::kms::Client;
use kurento_exporter::model::negotiation::{
    analyze, Negotiation, Offerer, ProblemKind, SdpDirection, SetupRole,
};

/// A Chromium-shaped offer (trickle ICE: no candidates in the SDP).
fn browser_offer(video_codec: &str) -> String {
    format!(
        "v=0\r\no=- 2727208085124138352 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\na=msid-semantic: WMS s1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 0 8 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:2/7k\r\na=ice-pwd:fBkq0D4316SsP6EIlwJ7XtB4\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 AE:DB:82:56:C2:F9:6B:B5:D0:71:44:81:79:64:33:F9:BC:C4:58:8F:6B:E7:95:C0:86:62:B2:26:F7:F1:E1:8D\r\n\
a=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\n\
a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:126 telephone-event/8000\r\na=ssrc:2276511753 cname:fRZQgTgFRgSTLCAP\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:2/7k\r\na=ice-pwd:fBkq0D4316SsP6EIlwJ7XtB4\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 AE:DB:82:56:C2:F9:6B:B5:D0:71:44:81:79:64:33:F9:BC:C4:58:8F:6B:E7:95:C0:86:62:B2:26:F7:F1:E1:8D\r\n\
a=setup:actpass\r\na=mid:1\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 {video_codec}/90000\r\na=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 2341619818 1741116077\r\na=ssrc:2341619818 cname:fRZQgTgFRgSTLCAP\r\n"
    )
}

/// What a browser behind NAT trickles: a private host and a server-reflexive candidate.
const TRICKLED: [&str; 2] = [
    "candidate:859365881 1 udp 2122194687 192.168.1.20 35520 typ host generation 0 ufrag 2/7k network-id 1",
    "candidate:1467250027 1 udp 1686052607 203.0.113.7 35520 typ srflx raddr 192.168.1.20 rport 35520 generation 0",
];

/// processOffer, gathering and trickled remote candidates, then both
/// descriptors as KMS holds them, analyzed.
async fn negotiate(c: &Client, pipeline: &str, offer: &str) -> (String, String, Negotiation) {
    let ep = c.create_element("WebRtcEndpoint", pipeline).await.unwrap();
    let answer = c.process_offer(&ep, offer).await.unwrap();
    c.gather_candidates(&ep).await.unwrap();
    for cand in TRICKLED {
        let cand = IceCandidate {
            candidate: cand.to_owned(),
            sdp_mid: "0".into(),
            sdp_m_line_index: 0,
        };
        c.add_ice_candidate(&ep, &cand).await.unwrap();
    }
    let local = c.get_local_session_descriptor(&ep).await.unwrap();
    let remote = c.get_remote_session_descriptor(&ep).await.unwrap();
    assert!(local.starts_with(answer.lines().next().unwrap()), "{local}");
    let n = analyze(Some(&local), Some(&remote), Offerer::Remote);
    (local, remote, n)
}

#[tokio::test]
async fn negotiated_endpoint_reads_back_a_clean_parsed_view() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let pipeline = c.create_pipeline().await.unwrap();
    let offer = browser_offer("VP8");
    let (local, remote, n) = within("negotiation", negotiate(&c, &pipeline, &offer)).await;

    let without_candidates: String = remote
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:"))
        .collect();
    assert_eq!(
        without_candidates, offer,
        "remote = the offer, plus trickled candidates"
    );
    assert_eq!(n.problems, [], "{:#?}", n.problems);
    assert_eq!(
        analyze(Some(&local), Some(&remote), Offerer::Unknown).offerer,
        Offerer::Remote,
        "inferred from the offer's a=setup:actpass"
    );
    let (l, r) = (n.local.as_ref().unwrap(), n.remote.as_ref().unwrap());
    assert_eq!(l.media.len(), 2);
    assert_eq!(l.groups[0].mids, ["0", "1"]);
    let la = &l.media[0];
    assert_eq!((la.kind.as_str(), la.mid.as_deref()), ("audio", Some("0")));
    let names: Vec<String> = la.codecs.iter().map(|c| c.label()).collect();
    assert_eq!(names, ["opus/48000/2", "PCMU/8000", "PCMA/8000"]);
    assert_eq!(la.codecs[0].payload_type, 111);
    assert_eq!(la.setup, Some(SetupRole::Active));
    assert_eq!(la.direction, SdpDirection::SendRecv);
    assert!(la.ice_ufrag && la.ice_pwd && la.rtcp_mux);
    assert_eq!(la.fingerprint.as_ref().unwrap().algorithm, "sha-256");
    assert_eq!(la.candidates.of_type("host"), 6, "3 per component");
    assert_eq!(la.candidates.by_transport.get("udp"), Some(&2));
    assert_eq!(la.candidates.by_transport.get("tcp"), Some(&4));
    let lv = &l.media[1];
    assert_eq!(lv.port, 1);
    assert_eq!(lv.codecs.len(), 1);
    assert_eq!(
        (lv.codecs[0].payload_type, lv.codecs[0].name.as_str()),
        (96, "VP8")
    );
    assert!(lv.codecs[0].rtcp_fb.iter().any(|f| f == "nack pli"));

    let ra = &r.media[0];
    assert_eq!(ra.setup, Some(SetupRole::ActPass));
    assert_eq!(ra.ice_options, ["trickle"]);
    assert_eq!(ra.codecs.len(), 5);
    assert_eq!(ra.header_extensions[0].id, 1);
    assert_eq!(ra.candidates.total, 2);
    assert_eq!(ra.candidates.of_type("srflx"), 1);
    assert_eq!(
        r.media[1].media_codecs().count(),
        1,
        "rtx is not a media codec"
    );

    let json = serde_json::to_value(&n).unwrap();
    assert_eq!(json["problems"], serde_json::json!([]));
    assert_eq!(json["local"]["media"][1]["codecs"][0]["name"], "VP8");
    c.release(&pipeline).await.unwrap();
}

#[tokio::test]
async fn offer_without_a_common_codec_reports_it() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let pipeline = c.create_pipeline().await.unwrap();
    let offer = browser_offer("FOO");
    let (local, _, n) = within("negotiation", negotiate(&c, &pipeline, &offer)).await;

    assert!(
        local.contains("m=video 0 "),
        "KMS rejects the section: {local}"
    );
    let names: Vec<&str> = n.problems.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["no_common_codec"], "{:#?}", n.problems);
    match &n.problems[0].kind {
        ProblemKind::NoCommonCodec {
            mid,
            media,
            offered,
            answered,
            rejected,
        } => {
            assert_eq!((mid.as_str(), media.as_str()), ("1", "video"));
            assert_eq!(offered, &["FOO/90000"]);
            assert!(answered.is_empty());
            assert!(rejected);
        }
        other => panic!("{other:?}"),
    }
    let json = serde_json::to_value(&n.problems[0]).unwrap();
    assert_eq!(json["kind"], "no_common_codec");
    assert_eq!(json["mid"], "1");
    assert_eq!(json["media"], "video");
    assert!(json["message"].as_str().unwrap().contains("FOO/90000"));
    // Audio was still negotiated normally.
    let l = n.local.as_ref().unwrap();
    assert_eq!(l.media[0].codecs.len(), 3);
    c.release(&pipeline).await.unwrap();
    assert!(c.get_pipelines().await.unwrap().is_empty());
}
