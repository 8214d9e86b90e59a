//! The negotiation view against the simulator over real TCP/WebSocket: a
//! WebRtcEndpoint negotiated with a browser-like offer reads back both SDPs
//! with a correct parsed view and no problems; one negotiated with an offer
//! whose video has no codec KMS supports reports `no_common_codec`.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod client_support;
mod sdp_offers;

use client_support::*;
use kurento_exporter::kms::types::IceCandidate;
use kurento_exporter::kms::Client;
use kurento_exporter::model::negotiation::{
    analyze, Negotiation, Offerer, ProblemKind, SdpDirection, SetupRole,
};
use sdp_offers::{browser_offer, TRICKLED};

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
    let local = c
        .get_local_session_descriptor(&ep)
        .await
        .unwrap()
        .expect("local SDP");
    let remote = c
        .get_remote_session_descriptor(&ep)
        .await
        .unwrap()
        .expect("remote SDP");
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
