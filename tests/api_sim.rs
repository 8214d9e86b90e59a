//! The operator API (issue 6) against the simulator over real TCP: the
//! negotiation view of a cleanly negotiated endpoint and of one planted with
//! an offer that has no common codec (acceptance 1); the event history of a
//! peer that leaves, and a watch that records the element's KMS events and
//! leaves no reference behind (acceptance 2); targets, pipelines, elements
//! and DOT against ground truth. `api_openapi.rs` checks the OpenAPI file.

mod exporter_common;
mod sdp_offers;

use std::collections::BTreeSet;
use std::time::Duration;

use exporter_common::*;
use kurento_exporter::config::Config;
use kurento_exporter::kms::types::IceCandidate;
use kurento_exporter::kms::{Client, ConnectionConfig};
use kurento_exporter::sim::{self, Action, Scenario, SimConfig, SimHandle, Truth};
use sdp_offers::{browser_offer, TRICKLED};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "api-test-token-0123456789";

/// A simulator whose clock runs `speed` times faster than real time.
async fn sim_at(speed: f64) -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period: Duration::from_secs(3600),
        tick: Duration::from_millis(100),
        seed: 5,
        speed,
    })
    .await
    .expect("simulator starts")
}

fn api_config(sim: &SimHandle) -> Config {
    let mut c = config(&[("sim", sim.ws_url())], Duration::from_millis(300));
    c.reaper.api_token = Some(TOKEN.into());
    c.api.watch_max = Duration::from_secs(6);
    c.api.watch_default = Duration::from_secs(2);
    c.validate().expect("valid API test config");
    c
}

/// An id as a path segment.
fn enc(id: &str) -> String {
    id.replace('/', "%2F")
}

async fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path).await;
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

fn conference(room: &str, n: u32) -> Scenario {
    Scenario::new().at(
        0,
        Action::Conference {
            room: room.into(),
            participants: n,
            named: vec![],
        },
    )
}

/// The WebRtcEndpoint of `participant`.
fn endpoint_of(t: &Truth, participant: &str) -> String {
    t.objects
        .iter()
        .find(|o| {
            o.kind == "WebRtcEndpoint"
                && o.tags
                    .iter()
                    .any(|(k, v)| k == "participant" && v == participant)
        })
        .map(|o| o.id.clone())
        .expect("participant's endpoint")
}

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

async fn known(addr: std::net::SocketAddr, id: &str) {
    eventually(LIMIT, "element in the model", || async {
        match get(addr, &format!("/api/v1/elements/{}", enc(id))).await {
            (200, _) => Ok(()),
            (s, b) => Err(format!("{s} {b}")),
        }
    })
    .await;
}

fn labels(media: &Value) -> Vec<String> {
    media["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
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
    let local = app.get_local_session_descriptor(&clean).await.unwrap();
    let remote = app.get_remote_session_descriptor(&clean).await.unwrap();
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
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// The history entries of `element`, as (kind, detail) strings.
async fn history(addr: std::net::SocketAddr, element: &str) -> Vec<Value> {
    let (status, v) = get_json(addr, &format!("/api/v1/elements/{}/events", enc(element))).await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

fn position(events: &[Value], after: usize, want: impl Fn(&Value) -> bool) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .skip(after)
        .find(|(_, e)| want(e))
        .map(|(i, _)| i)
}

fn flow_out(flowing: bool) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["kind"] == "flow"
            && e["direction"] == "out"
            && e["media"] == "VIDEO"
            && e["flowing"] == flowing
    }
}

#[tokio::test]
async fn event_history_holds_a_leaving_peers_transitions_in_order() {
    let sim = sim_at(10.0).await;
    sim.run_scenario(conference("r1", 2)).await.unwrap();
    let d = daemon(api_config(&sim)).await;
    let addr = d.addr();
    let ep = endpoint_of(&sim.truth(), "p1");
    known(addr, &ep).await;
    eventually(LIMIT, "media flows out of p1's endpoint", || async {
        let h = history(addr, &ep).await;
        position(&h, 0, flow_out(true))
            .map(drop)
            .ok_or(format!("{h:?}"))
    })
    .await;
    sim.run_scenario(Scenario::new().at(
        0,
        Action::VanishPeer {
            room: "r1".into(),
            participant: "p1".into(),
            how: sim::Vanish::Crash,
        },
    ))
    .await
    .unwrap();
    let events = eventually(LIMIT, "flow stops, then media DISCONNECTED", || async {
        let h = history(addr, &ep).await;
        let on = position(&h, 0, flow_out(true)).ok_or("never flowed")?;
        let off = position(&h, on, flow_out(false)).ok_or(format!("still flowing: {h:?}"))?;
        position(&h, off, |e| {
            e["kind"] == "media_state" && e["state"] == "DISCONNECTED"
        })
        .ok_or(format!(
            "media not DISCONNECTED after the flow stopped: {h:?}"
        ))?;
        Ok(h)
    })
    .await;
    let at: Vec<u64> = events.iter().map(|e| e["at"].as_u64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "oldest first: {at:?}");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "media_state" && e["state"] == "CONNECTED"),
        "the connected state was observed first: {events:?}"
    );
    let (_, v) = get_json(
        addr,
        &format!("/api/v1/elements/{}/events?limit=2", enc(&ep)),
    )
    .await;
    assert_eq!(v["capacity"], 64);
    let last2 = v["events"].as_array().unwrap();
    let all = history(addr, &ep).await;
    assert_eq!(last2.as_slice(), &all[all.len() - 2..], "the newest 2");
    let (status, _) = get(
        addr,
        &format!("/api/v1/elements/{}/events?limit=x", enc(&ep)),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = get(addr, "/api/v1/elements/none/events").await;
    assert_eq!(status, 404);
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// Whether KMS session `session` still references anything.
fn holds_references(t: &Truth, session: &str) -> Option<String> {
    if let Some(s) = t
        .sessions
        .iter()
        .find(|s| s.id == session && s.references > 0)
    {
        return Some(format!("session holds {} references", s.references));
    }
    t.objects
        .iter()
        .find(|o| o.sessions.iter().any(|s| s == session))
        .map(|o| format!("{} referenced", o.id))
}

#[tokio::test]
async fn a_watch_records_kms_events_and_leaves_no_reference() {
    let sim = sim_at(10.0).await;
    sim.run_scenario(conference("r2", 2)).await.unwrap();
    let d = daemon(api_config(&sim)).await;
    let addr = d.addr();
    let truth = sim.truth();
    let (ep, other) = (endpoint_of(&truth, "p2"), endpoint_of(&truth, "p1"));
    known(addr, &ep).await;
    known(addr, &other).await;
    let path = format!("/api/v1/elements/{}/watch", enc(&ep));

    assert_eq!(post(addr, &path, None).await.0, 401);
    assert_eq!(post(addr, &path, Some("wrong")).await.0, 401);
    assert_eq!(get(addr, &path).await.0, 405);
    assert_eq!(
        post(addr, "/api/v1/elements/x%2Fy/watch", Some(TOKEN))
            .await
            .0,
        404
    );
    assert_eq!(
        post(addr, &format!("{path}?duration=soon"), Some(TOKEN))
            .await
            .0,
        400
    );

    let (status, body) = post(addr, &format!("{path}?duration=4s"), Some(TOKEN)).await;
    assert_eq!(status, 202, "{body}");
    let w: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(w["duration_ms"], 4000);
    let session = w["session"].as_str().expect("session id").to_owned();
    let subscribed: BTreeSet<&str> = w["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for e in [
        "MediaFlowOutStateChanged",
        "MediaStateChanged",
        "DtlsConnectionStateChange",
    ] {
        assert!(subscribed.contains(e), "{subscribed:?}");
    }
    let t = sim.truth();
    assert!(
        t.object(&ep).unwrap().sessions.contains(&session),
        "the subscription references the element while it runs"
    );
    assert_eq!(
        post(addr, &path, Some(TOKEN)).await.0,
        409,
        "one watch per element"
    );
    let (status, capped) = post(
        addr,
        &format!("/api/v1/elements/{}/watch?duration=1h", enc(&other)),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 202, "{capped}");
    let capped: Value = serde_json::from_str(&capped).unwrap();
    assert_eq!(capped["duration_ms"], 6000, "cut to api.watch_max");

    sim.run_scenario(Scenario::new().at(
        0,
        Action::VanishPeer {
            room: "r2".into(),
            participant: "p2".into(),
            how: sim::Vanish::Close,
        },
    ))
    .await
    .unwrap();
    let watched = |e: &Value, event: &str, key: &str, value: &str| {
        e["kind"] == "event" && e["event"] == event && e["fields"][key] == value
    };
    eventually(
        LIMIT,
        "the watch recorded the element's KMS events",
        || async {
            let h = history(addr, &ep).await;
            let stop = position(&h, 0, |e| {
                watched(e, "MediaFlowOutStateChanged", "state", "NOT_FLOWING")
            })
            .ok_or(format!("no flow event: {h:?}"))?;
            position(&h, 0, |e| {
                watched(e, "DtlsConnectionStateChange", "state", "CLOSED")
            })
            .ok_or(format!("no DTLS event: {h:?}"))?;
            let e = &h[stop];
            if e["fields"]["media"] != "AUDIO" && e["fields"]["media"] != "VIDEO" {
                return Err(format!("fields: {e}"));
            }
            Ok(())
        },
    )
    .await;
    let sim2 = sim.clone();
    let sessions = [session, capped["session"].as_str().unwrap().to_owned()];
    eventually(LIMIT, "both watches ended and hold nothing", || {
        let sim = sim2.clone();
        let sessions = sessions.clone();
        async move {
            let t = sim.truth();
            for s in &sessions {
                if let Some(why) = holds_references(&t, s) {
                    return Err(format!("{s}: {why}"));
                }
            }
            Ok(())
        }
    })
    .await;
    assert!(d.store().target("sim").read().elements.contains_key(&ep));
    // The slot is free again.
    let (status, _) = post(addr, &format!("{path}?duration=1s"), Some(TOKEN)).await;
    assert_eq!(status, 202);
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
        dot.contains("fillcolor=\"palegreen\""),
        "flowing nodes green: {dot}"
    );
    assert_eq!(dot.matches(" -> ").count(), {
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
