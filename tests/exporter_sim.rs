//! The exporter against the simulator over real WebSockets and real HTTP:
//! contract metrics equal the simulator's ground truth, released objects'
//! series vanish, the daemon never keeps objects alive, and targets are
//! independent.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::BTreeSet;
use std::time::Duration;

use exporter_common::*;
use kms_proto::ids::short_id;
use kms_sim::{Action, Scenario, Truth};
use kurento_exporter::kms::{Client, ConnectionConfig};

const LIMIT: Duration = Duration::from_secs(20);

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

fn webrtc(truth: &Truth) -> Vec<&kms_sim::ObjectTruth> {
    truth
        .objects
        .iter()
        .filter(|o| o.kind == "WebRtcEndpoint")
        .collect()
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Every contract series carries the value the simulator's ground truth has.
fn check_against_truth(page: &[(Series, f64)], truth: &Truth) -> Result<(), String> {
    let kms = [("kms", "sim")];
    let one = |name: &str, with: &[(&str, &str)]| -> Result<f64, String> {
        match find(page, name, with).as_slice() {
            [(_, v)] => Ok(*v),
            other => Err(format!("{name}{with:?}: {} series", other.len())),
        }
    };
    if one("kurento_up", &kms)? != 1.0 {
        return Err("kurento_up != 1".into());
    }
    let pipelines = truth.counts.pipelines as f64;
    if one("kurento_pipelines", &kms)? != pipelines {
        return Err(format!("pipelines != {pipelines}"));
    }
    let types: BTreeSet<&str> = truth
        .objects
        .iter()
        .filter(|o| o.parent.is_some())
        .map(|o| o.kind.as_str())
        .collect();
    for ty in types {
        let n = truth.objects.iter().filter(|o| o.kind == ty).count() as f64;
        let got = one("kurento_elements", &[("kms", "sim"), ("element_type", ty)])?;
        if got != n {
            return Err(format!("elements {ty}: {got} != {n}"));
        }
    }
    for o in truth.objects.iter().filter(|o| o.parent.is_some()) {
        let id = short_id(&o.id);
        let el = [("element", id)];
        let info = find(page, "kurento_element_info", &el);
        let room = o
            .tags
            .iter()
            .find(|(k, _)| k == "room")
            .map_or("", |(_, v)| v.as_str());
        match info.as_slice() {
            [(s, 1.0)]
                if s.label("element_type") == o.kind
                    && s.label("room") == room
                    && s.label("id") == o.id => {}
            other => return Err(format!("element_info of {}: {other:?}", o.id)),
        }
        // One series per (source, sink): media = the sorted set of media types.
        let mut sinks: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
        for (sink, media) in &o.sinks {
            sinks.entry(sink).or_default().insert(media);
        }
        let edges = find(page, "kurento_element_connection_info", &[("source", id)]);
        if edges.len() != sinks.len() {
            return Err(format!("edges of {}: {edges:?}, want {sinks:?}", o.id));
        }
        for (sink, media) in &sinks {
            let media = media.iter().copied().collect::<Vec<_>>().join(",");
            let edge = [
                ("source", id),
                ("sink", short_id(sink)),
                ("media", media.as_str()),
            ];
            if find(page, "kurento_element_connection_info", &edge).len() != 1 {
                return Err(format!("edge {} -> {sink} {media} missing", o.id));
            }
        }
    }
    for o in webrtc(truth) {
        let id = short_id(&o.id);
        for m in o.media.iter().filter(|m| m.media_type != "DATA") {
            for (dir, truth_flow) in [("in", m.flowing_in), ("out", m.flowing_out)] {
                let with = [
                    ("element", id),
                    ("media", m.media_type.as_str()),
                    ("direction", dir),
                ];
                let got = one("kurento_media_flowing", &with)?;
                if got != flag(truth_flow) {
                    return Err(format!(
                        "flow {} {} {dir}: {got} != {truth_flow}",
                        o.id, m.media_type
                    ));
                }
            }
            if m.recv_bps > 0.0 {
                let with = [("element", id), ("media", m.media_type.as_str())];
                let rx = find(page, "kurento_rtp_received_bytes_total", &with);
                if rx.is_empty() || rx.iter().any(|(_, v)| *v <= 0.0) {
                    return Err(format!(
                        "received bytes of {} {}: {rx:?}",
                        o.id, m.media_type
                    ));
                }
            }
        }
        if o.ice_states.first().map(String::as_str) == Some("READY") {
            let with = [("element", id), ("state", "READY")];
            if one("kurento_ice_connection_state", &with)? != 1.0 {
                return Err(format!("ICE of {} not READY", o.id));
            }
        }
        if let Some(ms) = &o.media_state {
            let got = one("kurento_media_connected", &[("element", id)])?;
            if got != flag(ms == "CONNECTED") {
                return Err(format!("media_connected of {}: {got} vs {ms}", o.id));
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_ground_truth_and_released_series_vanish() {
    let sim = simulator(Duration::from_secs(240)).await;
    sim.run_scenario(conference("r1", 3)).await.unwrap();
    let d = daemon(config(&[("sim", sim.ws_url())], Duration::from_millis(300))).await;
    let addr = d.addr();
    eventually(LIMIT, "ready", || async {
        match get(addr, "/readyz").await {
            (200, _) => Ok(()),
            (s, b) => Err(format!("{s} {b}")),
        }
    })
    .await;
    let sim2 = sim.clone();
    eventually(LIMIT, "metrics equal ground truth", || {
        let sim = sim2.clone();
        async move {
            let page = scrape(addr).await;
            check_against_truth(&page, &sim.truth())
        }
    })
    .await;

    // The model holds DTLS state and parsed SDPs of negotiated endpoints.
    let d_store = d.store().clone();
    eventually(LIMIT, "DTLS and SDP summaries in the model", || {
        let store = d_store.clone();
        async move {
            let t = store.target("sim");
            let m = t.read();
            for e in m
                .elements
                .values()
                .filter(|e| e.element_type == "WebRtcEndpoint")
            {
                let ep = e.endpoint.as_ref().ok_or("no endpoint state")?;
                match ep.dtls.map(|s| s.value) {
                    Some(kurento_exporter::kms::types::DtlsConnectionState::CONNECTED) => {}
                    other => return Err(format!("{}: DTLS {other:?}", e.id)),
                }
                let remote = ep.remote_sdp.as_ref().ok_or("no remote SDP summary")?;
                let kinds: Vec<&str> = remote.media.iter().map(|m| m.kind.as_str()).collect();
                if !(kinds.contains(&"audio") && kinds.contains(&"video")) {
                    return Err(format!("{}: media sections {kinds:?}", e.id));
                }
                if ep
                    .local_sdp
                    .as_ref()
                    .is_none_or(|s| s.media.iter().any(|m| m.codecs.is_empty()))
                {
                    return Err(format!("{}: local SDP summary without codecs", e.id));
                }
            }
            Ok(())
        }
    })
    .await;

    // The Node Graph API serves the same topology, with the declared fields.
    let (status, fields) = get(addr, "/api/graph/fields").await;
    assert_eq!(status, 200);
    let fields: serde_json::Value = serde_json::from_str(&fields).unwrap();
    let names = |k: &str| -> BTreeSet<String> {
        fields[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field_name"].as_str().unwrap().to_string())
            .collect()
    };
    let truth = sim.truth();
    let pipeline = truth
        .objects
        .iter()
        .find(|o| o.kind == "MediaPipeline")
        .unwrap();
    let (status, data) = get(addr, &format!("/api/graph/data?pipeline={}", pipeline.id)).await;
    assert_eq!(status, 200);
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    let nodes: BTreeSet<String> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let keys: BTreeSet<String> = n.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, names("nodes_fields"));
            n["id"].as_str().unwrap().to_string()
        })
        .collect();
    let children: BTreeSet<String> = truth
        .objects
        .iter()
        .filter(|o| {
            o.parent.as_deref() == Some(pipeline.id.as_str())
                || o.id.starts_with(&format!("{}/", pipeline.id))
        })
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(nodes, children);
    let edges: BTreeSet<(String, String, String)> = data["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let keys: BTreeSet<String> = e.as_object().unwrap().keys().cloned().collect();
            assert_eq!(keys, names("edges_fields"));
            // "VIDEO 1200 kb/s": the media type first (then its bitrate).
            let main = e["mainStat"].as_str().unwrap();
            (
                e["source"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
                main.split(' ').next().unwrap_or(main).to_string(),
            )
        })
        .collect();
    // Hub ports are linked to their hub.
    let (links, edges): (BTreeSet<_>, BTreeSet<_>) =
        edges.into_iter().partition(|(_, _, main)| main == "port");
    let truth_links: BTreeSet<(String, String, String)> = truth
        .objects
        .iter()
        .filter(|o| children.contains(&o.id) && o.kind == "HubPort")
        .filter_map(|o| Some((o.id.clone(), o.parent.clone()?, "port".to_string())))
        .collect();
    assert_eq!(links, truth_links);
    let truth_edges: BTreeSet<(String, String, String)> = truth
        .objects
        .iter()
        .filter(|o| children.contains(&o.id))
        .flat_map(|o| {
            o.sinks
                .iter()
                .map(move |(s, m)| (o.id.clone(), s.clone(), m.clone()))
        })
        .collect();
    assert_eq!(edges, truth_edges);

    // The application releases one participant: its series vanish.
    let before = webrtc(&sim.truth())
        .iter()
        .map(|o| o.id.clone())
        .collect::<BTreeSet<_>>();
    sim.run_scenario(Scenario::new().at(
        0,
        Action::Leave {
            room: "r1".into(),
            participant: "p2".into(),
        },
    ))
    .await
    .unwrap();
    let after = webrtc(&sim.truth())
        .iter()
        .map(|o| o.id.clone())
        .collect::<BTreeSet<_>>();
    let gone: Vec<String> = before.difference(&after).cloned().collect();
    assert_eq!(gone.len(), 1, "one endpoint released");
    eventually(LIMIT, "released endpoint's series gone", || async {
        let (_, body) = get(addr, "/metrics").await;
        if body.contains(&gone[0]) {
            Err("still exported".into())
        } else {
            Ok(())
        }
    })
    .await;
    let sim2 = sim.clone();
    eventually(LIMIT, "metrics equal ground truth after release", || {
        let sim = sim2.clone();
        async move { check_against_truth(&scrape(addr).await, &sim.truth()) }
    })
    .await;
    // An object gone between cycles is simply gone: no error storm, and the
    // requests per endpoint stay counted and bounded.
    let page = scrape(addr).await;
    let errors: Vec<_> = find(&page, "kurento_exporter_errors_total", &[("kms", "sim")])
        .into_iter()
        .filter(|(s, _)| matches!(s.label("kind"), "kms_error" | "protocol" | "sync_failed"))
        .collect();
    let failing: Vec<_> = find(
        &page,
        "kurento_exporter_rpc_requests_total",
        &[("outcome", "kms_error")],
    );
    assert!(errors.is_empty(), "{errors:?} {failing:?}");
    let per_endpoint = find(
        &page,
        "kurento_exporter_requests_per_endpoint",
        &[("kms", "sim")],
    );
    assert!(
        matches!(per_endpoint.as_slice(), [(_, v)] if *v > 0.0 && *v < 10.0),
        "{per_endpoint:?}"
    );
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// An application creates objects and disconnects; returns the GC round at
/// which its objects were gone.
async fn abandoned_objects_collected_at(sim: &kms_sim::SimHandle) -> u64 {
    let app = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let p = app.create_pipeline().await.unwrap();
    let e1 = app.create_element("WebRtcEndpoint", &p).await.unwrap();
    let e2 = app.create_element("PlayerEndpoint", &p).await.unwrap();
    let ids = [p, e1, e2];
    // Let the daemon (if any) read them for a few cycles.
    let start = sim.truth().gc_rounds;
    eventually(LIMIT, "objects seen for a GC round", || async {
        if sim.truth().gc_rounds > start {
            Ok(())
        } else {
            Err("no round yet".into())
        }
    })
    .await;
    app.shutdown();
    drop(app);
    eventually(LIMIT, "abandoned objects collected", || async {
        let t = sim.truth();
        if ids.iter().any(|id| t.contains(id)) {
            Err(format!("round {}", t.gc_rounds))
        } else {
            Ok(t.gc_rounds)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_never_extends_object_life() {
    let gc = Duration::from_millis(600);
    // Without the daemon.
    let sim = simulator(gc).await;
    let r0 = sim.truth().gc_rounds;
    let alone = abandoned_objects_collected_at(&sim).await - r0;
    sim.shutdown().await;

    // With the daemon reading everything every 100 ms.
    let sim = simulator(gc).await;
    let d = daemon(config(&[("sim", sim.ws_url())], Duration::from_millis(100))).await;
    let app_session = sim.with_engine(|e, _| e.app_session());
    let r0 = sim.truth().gc_rounds;
    let watched = abandoned_objects_collected_at(&sim).await - r0;
    assert!(
        watched <= alone,
        "with the daemon, objects were collected {watched} GC rounds after creation, without it {alone}"
    );

    // After a cycle, the daemon's session references no pipeline or element.
    let sim2 = sim.clone();
    let addr = d.addr();
    let mut checked = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    sim.run_scenario(conference("r9", 2)).await.unwrap();
    let mut last_sync = 0.0;
    while checked < 5 && tokio::time::Instant::now() < deadline {
        let page = scrape(addr).await;
        let sync = find(
            &page,
            "kurento_exporter_last_sync_timestamp_seconds",
            &[("kms", "sim")],
        )
        .first()
        .map_or(0.0, |(_, v)| *v);
        if sync > last_sync {
            last_sync = sync;
            let t = sim2.truth();
            let held: Vec<&str> = t
                .objects
                .iter()
                .filter(|o| o.parent.is_some() || o.kind == "MediaPipeline")
                .filter(|o| o.sessions.iter().any(|s| *s != app_session))
                .map(|o| o.id.as_str())
                .collect();
            // A cycle may have started since; then its reads hold references
            // until it ends: only count clean snapshots taken between cycles.
            if held.is_empty() {
                checked += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        checked >= 5,
        "between cycles the daemon held references (clean snapshots: {checked})"
    );
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_does_not_affect_the_others() {
    let sims = [
        simulator(Duration::from_secs(240)).await,
        simulator(Duration::from_secs(240)).await,
        simulator(Duration::from_secs(240)).await,
    ];
    for (i, s) in sims.iter().enumerate() {
        s.run_scenario(conference(&format!("room{i}"), 2))
            .await
            .unwrap();
    }
    let targets: Vec<(&str, String)> = vec![
        ("a", sims[0].ws_url()),
        ("b", sims[1].ws_url()),
        ("c", sims[2].ws_url()),
    ];
    let interval = Duration::from_millis(300);
    let d = daemon(config(&targets, interval)).await;
    let addr = d.addr();
    let up = |page: &[(Series, f64)], k: &str| {
        find(page, "kurento_up", &[("kms", k)])
            .first()
            .map(|(_, v)| *v)
    };
    let pipelines = |page: &[(Series, f64)], k: &str| {
        find(page, "kurento_pipelines", &[("kms", k)])
            .first()
            .map(|(_, v)| *v)
    };
    eventually(LIMIT, "all up", || async {
        let p = scrape(addr).await;
        match ["a", "b", "c"].map(|k| (up(&p, k), pipelines(&p, k))) {
            [(Some(1.0), Some(1.0)), (Some(1.0), Some(1.0)), (Some(1.0), Some(1.0))] => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Kill b: its up goes to 0 within about one cycle; a and c keep syncing.
    sims[1].pause_listener().await;
    let t0 = tokio::time::Instant::now();
    eventually(interval * 4, "b down", || async {
        let p = scrape(addr).await;
        if up(&p, "b") == Some(0.0) {
            Ok(())
        } else {
            Err(format!("{:?}", up(&p, "b")))
        }
    })
    .await;
    assert!(t0.elapsed() <= interval * 4);
    let synced = |page: &[(Series, f64)], k: &str| {
        find(
            page,
            "kurento_exporter_last_sync_timestamp_seconds",
            &[("kms", k)],
        )
        .first()
        .map_or(0.0, |(_, v)| *v)
    };
    let before = scrape(addr).await;
    eventually(LIMIT, "a and c keep syncing while b is down", || {
        let before = before.clone();
        async move {
            let p = scrape(addr).await;
            let ok = ["a", "c"].iter().all(|k| {
                up(&p, k) == Some(1.0)
                    && pipelines(&p, k) == Some(1.0)
                    && synced(&p, k) > synced(&before, k)
            });
            if ok {
                Ok(())
            } else {
                Err("a or c affected".into())
            }
        }
    })
    .await;

    // Failed dials to b are counted.
    eventually(LIMIT, "connect failures of b counted", || async {
        let p = scrape(addr).await;
        let n = find(
            &p,
            "kurento_exporter_errors_total",
            &[("kms", "b"), ("kind", "connect")],
        )
        .first()
        .map_or(0.0, |(_, v)| *v);
        if n >= 1.0 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;

    // Restart b: an empty KMS; then the app builds a new room there.
    sims[1].resume_listener().await.unwrap();
    sims[1].run_scenario(conference("again", 3)).await.unwrap();
    let sim_b = sims[1].clone();
    eventually(LIMIT, "b back with its inventory rebuilt", || {
        let sim = sim_b.clone();
        async move {
            let p = scrape(addr).await;
            let truth = sim.truth();
            let elements: f64 = find(&p, "kurento_elements", &[("kms", "b")])
                .iter()
                .map(|(_, v)| v)
                .sum();
            if up(&p, "b") == Some(1.0)
                && pipelines(&p, "b") == Some(truth.counts.pipelines as f64)
                && elements == truth.counts.elements as f64
            {
                Ok(())
            } else {
                Err(format!(
                    "up {:?} elements {elements} truth {:?}",
                    up(&p, "b"),
                    truth.counts
                ))
            }
        }
    })
    .await;
    d.shutdown(Duration::from_secs(5)).await;
    for s in sims {
        s.shutdown().await;
    }
}
