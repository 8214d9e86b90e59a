//! The operator API's event history and watches (issue 6, acceptance 2)
//! against the simulator over real TCP: the history holds the flow and state
//! transitions of a peer that leaves, in order, and the zombie verdict that
//! follows; a watch records the element's own KMS events in the same ring and
//! leaves no reference behind when it ends (the simulator's ground truth:
//! `ObjectTruth.sessions`, `SessionTruth.references`).
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod api_common;
mod exporter_common;

use std::collections::BTreeSet;
use std::time::Duration;

use api_common::*;
use exporter_common::*;
use kms_sim::{self as sim, Action, Scenario, Truth};
use serde_json::Value;

/// Flags an endpoint whose peer is gone, quickly (simulated time runs 10×).
const POLICY: &str = r#"
min_consecutive_cycles = 1

[[rules]]
name = "peer-gone"
action = "flag"
min_age = "1s"
match = { element_types = ["WebRtcEndpoint"] }
when = { all = [ { no_flow = { direction = "out", for = "1s" } }, { media_disconnected = "1s" } ] }
"#;

#[tokio::test]
async fn event_history_holds_a_leaving_peers_transitions_in_order() {
    let sim = sim_at(10.0).await;
    sim.run_scenario(conference("r1", 2)).await.unwrap();
    let mut cfg = api_config(&sim);
    cfg.policy = toml::from_str(POLICY).expect("policy parses");
    cfg.validate().expect("valid policy");
    let d = daemon(cfg).await;
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
        let up = position(&h, 0, |e| {
            e["kind"] == "media_state" && e["state"] == "CONNECTED"
        })
        .ok_or("media never CONNECTED")?;
        let on = position(&h, 0, flow_out(true)).ok_or("never flowed")?;
        let off = position(&h, on.max(up), flow_out(false)).ok_or(format!(
            "flow did not stop after flowing and CONNECTED: {h:?}"
        ))?;
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
    // The verdict that follows, on the element and on its pipeline.
    let verdict = eventually(LIMIT, "the element is flagged", || async {
        let (_, e) = get_json(addr, &format!("/api/v1/elements/{}", enc(&ep))).await;
        match e["zombies"].as_array().and_then(|z| z.first()) {
            Some(z) => Ok(z.clone()),
            None => Err(format!("no verdict: {e}")),
        }
    })
    .await;
    assert_eq!(verdict["rule"], "peer-gone");
    assert_eq!(verdict["status"], "flagged");
    let pipeline = verdict["pipeline"].as_str().unwrap();
    let (_, p) = get_json(addr, &format!("/api/v1/pipelines/{pipeline}")).await;
    let flagged: Vec<&str> = p["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["object"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, [ep.as_str()], "{p}");
    let (_, list) = get_json(addr, "/api/v1/pipelines").await;
    assert_eq!(list["pipelines"][0]["zombies"], 1);
    let (_, t) = get_json(addr, "/api/v1/targets").await;
    assert_eq!(t["targets"][0]["zombies"], 1);
    assert_eq!(t["targets"][0]["reaper_mode"], "observe");
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
