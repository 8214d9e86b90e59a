//! The operator API (issue 6) against the simulator over real TCP: the
//! negotiation view of a cleanly negotiated endpoint and of one planted with
//! an offer that has no common codec (acceptance 1); targets, pipelines,
//! elements and DOT against ground truth. `api_events_sim.rs` covers the
//! event history and watches, `api_openapi.rs` the OpenAPI file.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod api_common;
mod exporter_common;
mod sdp_offers;

use std::collections::BTreeSet;
use std::time::Duration;

use api_common::*;
use exporter_common::*;
use kms_sim::Fault;
use kurento_exporter::kms::types::IceCandidate;
use kurento_exporter::kms::{Client, ConnectionConfig};
use sdp_offers::{browser_offer, TRICKLED};

/// processOffer, gathering and trickled candidates, as an application does.
async fn negotiate(app: &Client, pipeline: &str, offer: &str) -> String {
    let ep = app
        .create_element("WebRtcEndpoint", pipeline)
        .await
        .unwrap();
    app.process_offer(&ep, offer).await.unwrap();
    app.gather_candidates(&ep).await.unwrap();
    for cand in TRICKLED {
        let cand = IceCandidate {
            candidate: cand.to_owned(),
            sdp_mid: "0".into(),
            sdp_m_line_index: 0,
        };
        app.add_ice_candidate(&ep, &cand).await.unwrap();
    }
    ep
}

#[tokio::test]
async fn negotiation_returns_both_sdps_parsed_and_the_planted_problem() {
    let sim = sim_at(1.0).await;
    let d = daemon(api_config(&sim)).await;
    let addr = d.addr();
    let app = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let pipeline = app.create_pipeline().await.unwrap();
    let clean = negotiate(&app, &pipeline, &browser_offer("VP8")).await;
    let planted = negotiate(&app, &pipeline, &browser_offer("FOO")).await;
    known(addr, &clean).await;
    known(addr, &planted).await;

    let (status, n) = get_json(
        addr,
        &format!("/api/v1/elements/{}/negotiation", enc(&clean)),
    )
    .await;
    assert_eq!(status, 200, "{n}");
    let local = app
        .get_local_session_descriptor(&clean)
        .await
        .unwrap()
        .expect("local SDP");
    let remote = app
        .get_remote_session_descriptor(&clean)
        .await
        .unwrap()
        .expect("remote SDP");
    // Without the token, the ICE credentials are redacted (issue 14, 7).
    assert_eq!(n["credentials_redacted"], true);
    for (shown, real) in [(&n["local_sdp"], &local), (&n["remote_sdp"], &remote)] {
        let shown = shown.as_str().unwrap();
        assert_eq!(shown.lines().count(), real.lines().count());
        for (s, r) in shown.lines().zip(real.lines()) {
            if r.starts_with("a=ice-ufrag:") || r.starts_with("a=ice-pwd:") {
                let (key, _) = r.split_once(':').unwrap();
                assert_eq!(s, format!("{key}:<redacted>"));
            } else {
                assert_eq!(s, r);
            }
        }
        assert!(real.contains("a=ice-pwd:"), "the real SDP has credentials");
    }
    // With it, the SDPs as KMS holds them.
    let path = format!("/api/v1/elements/{}/negotiation", enc(&clean));
    let (status, n) = get_json_as(addr, &path, TOKEN).await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(n["credentials_redacted"], false);
    assert_eq!(n["local_sdp"], local.as_str(), "as KMS holds it");
    assert_eq!(n["remote_sdp"], remote.as_str());
    assert_eq!(n["kms"], "sim");
    assert_eq!(n["offerer"], "remote", "inferred from a=setup:actpass");
    assert_eq!(n["problems"], serde_json::json!([]), "{n}");
    let (l, r) = (&n["local"], &n["remote"]);
    assert_eq!(l["groups"][0]["mids"], serde_json::json!(["0", "1"]));
    assert_eq!(l["media"][0]["kind"], "audio");
    assert_eq!(labels(&l["media"][0]), ["opus", "PCMU", "PCMA"]);
    assert_eq!(l["media"][0]["setup"], "active");
    assert_eq!(l["media"][0]["candidates"]["by_type"]["host"], 6);
    assert_eq!(labels(&l["media"][1]), ["VP8"]);
    assert_eq!(l["media"][1]["codecs"][0]["payload_type"], 96);
    assert_eq!(r["media"][0]["setup"], "actpass");
    assert_eq!(r["media"][0]["ice_options"], serde_json::json!(["trickle"]));
    assert_eq!(r["media"][0]["candidates"]["total"], 2);
    assert_eq!(r["media"][0]["candidates"]["by_type"]["srflx"], 1);

    let (status, n) = get_json(addr, &format!("/api/v1/elements/{planted}/negotiation")).await;
    assert_eq!(status, 200, "raw ids work too: {n}");
    let kinds: Vec<&str> = n["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["no_common_codec"], "{n}");
    let p = &n["problems"][0];
    assert_eq!((&p["mid"], &p["media"]), (&"1".into(), &"video".into()));
    assert_eq!(p["offered"], serde_json::json!(["FOO/90000"]));
    assert!(p["message"].as_str().unwrap().contains("FOO/90000"));
    assert_eq!(
        n["local"]["media"][1]["port"], 0,
        "KMS rejected the section"
    );

    // Unknown ids, wrong methods, elements without SDP.
    let (status, e) = get_json(addr, "/api/v1/elements/nope%2Fx/negotiation").await;
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("nope/x"));
    let (status, _) = post(
        addr,
        &format!("/api/v1/elements/{}/negotiation", enc(&clean)),
        None,
    )
    .await;
    assert_eq!(status, 405);
    let pass = app.create_element("PassThrough", &pipeline).await.unwrap();
    known(addr, &pass).await;
    let (status, _) = get(
        addr,
        &format!("/api/v1/elements/{}/negotiation", enc(&pass)),
    )
    .await;
    assert_eq!(status, 400, "a PassThrough has no SDP");

    // KMS does not answer: 504, and the API still answers afterwards.
    sim.inject(Fault::Silent {
        method: "getLocalSessionDescriptor".into(),
    });
    let (status, e) = get_json(
        addr,
        &format!("/api/v1/elements/{}/negotiation", enc(&clean)),
    )
    .await;
    assert_eq!(status, 504, "{e}");
    assert!(e["error"].is_string());
    sim.clear_faults();
    let (status, _) = get(
        addr,
        &format!("/api/v1/elements/{}/negotiation", enc(&clean)),
    )
    .await;
    assert_eq!(status, 200);
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn targets_pipelines_elements_and_dot_match_ground_truth() {
    let sim = sim_at(1.0).await;
    sim.run_scenario(conference("r3", 3)).await.unwrap();
    let d = daemon(api_config(&sim)).await;
    let addr = d.addr();
    let truth = sim.truth();
    let pipeline = truth
        .objects
        .iter()
        .find(|o| o.kind == "MediaPipeline")
        .unwrap()
        .id
        .clone();
    let children: BTreeSet<String> = truth
        .objects
        .iter()
        .filter(|o| o.id.starts_with(&format!("{pipeline}/")))
        .map(|o| o.id.clone())
        .collect();
    let sinks: BTreeSet<(String, String, String)> = truth
        .objects
        .iter()
        .filter(|o| children.contains(&o.id))
        .flat_map(|o| {
            o.sinks
                .iter()
                .map(|(s, m)| (o.id.clone(), s.clone(), m.clone()))
        })
        .collect();
    let detail = eventually(LIMIT, "pipeline detail equals ground truth", || async {
        let (status, p) = get_json(addr, &format!("/api/v1/pipelines/{pipeline}")).await;
        if status != 200 {
            return Err(format!("{status} {p}"));
        }
        let ids: BTreeSet<String> = p["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        let edges: BTreeSet<(String, String, String)> = p["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap().to_owned();
                (s("source"), s("sink"), s("media"))
            })
            .collect();
        let stats = p["elements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "WebRtcEndpoint")
            .all(|e| {
                e["stats"]["inbound"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            });
        if ids == children && edges == sinks && stats {
            Ok(p)
        } else {
            Err(format!(
                "{ids:?} vs {children:?}; {edges:?} vs {sinks:?}; stats {stats}"
            ))
        }
    })
    .await;
    assert_eq!(detail["kms"], "sim");
    assert_eq!(detail["tags"]["room"], "r3");
    assert!(detail["zombies"].is_array());

    let (status, t) = get_json(addr, "/api/v1/targets").await;
    assert_eq!(status, 200);
    let target = &t["targets"][0];
    assert_eq!(target["name"], "sim");
    assert_eq!(target["connected"], true);
    assert_eq!(target["pipelines"], 1);
    assert_eq!(target["elements"], children.len());
    assert!(target["server"]["version"].is_string());

    let (_, list) = get_json(addr, "/api/v1/pipelines?kms=sim").await;
    let list = list["pipelines"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], pipeline.as_str());
    assert_eq!(list[0]["elements"], children.len());
    let (_, none) = get_json(addr, "/api/v1/pipelines?kms=other").await;
    assert_eq!(none["pipelines"], serde_json::json!([]));

    let ep = endpoint_of(&truth, "p1");
    let e = eventually(LIMIT, "p1's endpoint flows", || async {
        let (status, e) = get_json(addr, &format!("/api/v1/elements/{}", enc(&ep))).await;
        let flowing = e["flow"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["flowing"] == true));
        if status == 200 && flowing {
            Ok(e)
        } else {
            Err(format!("{status} {e}"))
        }
    })
    .await;
    assert_eq!(e["type"], "WebRtcEndpoint");
    assert_eq!(e["pipeline"], pipeline.as_str());
    assert_eq!(e["tags"]["participant"], "p1");
    assert!(e["flow"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["flowing"] == true));
    assert!(e["endpoint"]["media_state"]["value"].is_string());
    let (status, raw) = get_json(addr, &format!("/api/v1/elements/{ep}")).await;
    assert_eq!((status, &raw["id"]), (200, &e["id"]), "raw id");

    let (status, dot) = get(addr, &format!("/api/v1/pipelines/{pipeline}/dot")).await;
    assert_eq!(status, 200);
    assert!(dot.starts_with(&format!("digraph \"{pipeline}\"")), "{dot}");
    for c in &children {
        assert!(dot.contains(&format!("\"{c}\" [label=")), "{c} in {dot}");
    }
    assert!(
        dot.contains("fillcolor=\"#73bf69\""),
        "flowing nodes green: {dot}"
    );
    // Connections (labelled with their media); hub ports are also linked to their hub.
    let connections = dot
        .lines()
        .filter(|l| l.contains(" -> ") && l.contains("[label="))
        .count();
    assert_eq!(connections, {
        let pairs: BTreeSet<(&String, &String)> = sinks.iter().map(|(a, b, _)| (a, b)).collect();
        pairs.len()
    });
    let (status, gst) = get(
        addr,
        &format!("/api/v1/pipelines/{pipeline}/dot?gstreamer=1"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        gst.starts_with("digraph pipeline {"),
        "KMS's own graph: {gst}"
    );

    for path in [
        "/api/v1/pipelines/nope_kurento.MediaPipeline",
        "/api/v1/pipelines/nope_kurento.MediaPipeline/dot",
        "/api/v1/pipelines/nope_kurento.MediaPipeline/dot?gstreamer=1",
        "/api/v1/elements/nope",
    ] {
        let (status, body) = get_json(addr, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    for path in ["/api/v1/targets", "/api/v1/pipelines"] {
        assert_eq!(post(addr, path, Some(TOKEN)).await.0, 405, "{path}");
    }
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}
