//! Zombie verdicts in every application topology (issue 11): the simulator
//! runs its scenarios (every topology × every leak and never-a-zombie case,
//! and the demo's own), the daemon runs the shipped default rules scaled
//! down by configuration only (`policy.duration_scale`). The set flagged
//! equals the ground truth's zombie set exactly and stays so; in enforce
//! mode exactly those objects go and nothing live; a daemon started after
//! the rooms exist finds the same set.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exporter_common::*;
use kms_sim::{Scenario, SimHandle};
use kurento_exporter::config::Config;
use kurento_exporter::daemon::Daemon;
use kurento_exporter::policy::{PolicyConfig, RuleAction};
use kurento_exporter::reaper::Mode;

/// Simulated time runs this much faster than real time.
const SPEED: f64 = 10.0;
const INTERVAL: Duration = Duration::from_millis(500);
/// The shipped durations × 0.01: 5 min → 3 s, 1 min → 0.6 s, 30 s → 0.3 s.
const SCALE: f64 = 0.01;
/// Long enough for a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(60);

async fn simulator() -> SimHandle {
    fast_simulator(SPEED, 5).await
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kx-topologies-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped default policy, scaled; every rule releasing when `release`.
fn config(url: &str, mode: Mode, release: bool, audit: &Path) -> Config {
    let mut c = exporter_common::config(&[("kms", url.to_string())], INTERVAL);
    c.scrape.state_interval = Duration::from_secs(1);
    c.policy = PolicyConfig {
        duration_scale: SCALE,
        ..PolicyConfig::default()
    };
    if release {
        for r in &mut c.policy.rules {
            r.action = RuleAction::Release;
        }
    }
    c.reaper.mode = mode;
    c.reaper.audit_log = Some(audit.to_path_buf());
    c.reaper.releases_per_hour = 100_000;
    c.reaper.release_spacing = Duration::from_millis(5);
    c.validate().expect("valid test config");
    c
}

/// The ground truth's zombies, and every other object (live).
fn truth_sets(s: &SimHandle) -> (BTreeSet<String>, BTreeSet<String>) {
    let t = s.truth();
    let (z, l): (Vec<_>, Vec<_>) = t.objects.iter().partition(|o| o.zombie);
    (
        z.into_iter().map(|o| o.id.clone()).collect(),
        l.into_iter().map(|o| o.id.clone()).collect(),
    )
}

/// What `GET /api/v1/zombies` lists.
async fn flagged(d: &Daemon) -> BTreeSet<String> {
    let (status, body) = get(d.addr(), "/api/v1/zombies").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["zombies"].as_array().cloned().unwrap_or_default())
        .filter_map(|z| z["object"].as_str().map(str::to_string))
        .collect()
}

/// Names an object for a failure message: type, room and participant tags.
fn describe(s: &SimHandle, ids: &BTreeSet<String>) -> Vec<String> {
    let t = s.truth();
    ids.iter()
        .map(|id| match t.object(id) {
            Some(o) => {
                let tag = |k: &str| {
                    o.tags
                        .iter()
                        .find(|(key, _)| key == k)
                        .map_or("-", |(_, v)| v.as_str())
                        .to_string()
                };
                format!(
                    "{} {}/{} ({})",
                    o.kind,
                    tag("room"),
                    tag("participant"),
                    &id[..8.min(id.len())]
                )
            }
            None => format!("gone {id}"),
        })
        .collect()
}

/// Wait until the flagged set equals the ground truth's zombie set, then
/// check that it stays so for three more cycles.
async fn flags_match_truth(s: &SimHandle, d: &Daemon, what: &str) -> BTreeSet<String> {
    let zombies = eventually(LIMIT, what, || async {
        let (want, _) = truth_sets(s);
        let got = flagged(d).await;
        if !want.is_empty() && got == want {
            Ok(want)
        } else {
            let missed: BTreeSet<String> = want.difference(&got).cloned().collect();
            let wrong: BTreeSet<String> = got.difference(&want).cloned().collect();
            Err(format!(
                "{} of {} zombies flagged; missed {:?}; flagged live {:?}",
                got.intersection(&want).count(),
                want.len(),
                describe(s, &missed),
                describe(s, &wrong)
            ))
        }
    })
    .await;
    for _ in 0..3 {
        cycles(d, 1).await;
        let got = flagged(d).await;
        assert_eq!(
            got,
            zombies,
            "{what}: the set changed: {:?}",
            describe(s, &got)
        );
    }
    zombies
}

/// A derived verdict carries its chain, in the API and on `kurento_zombie`:
/// a dead participant's hub port follows from its endpoint.
async fn chains_are_shown(s: &SimHandle, d: &Daemon) {
    let t = s.truth();
    let (_, body) = get(d.addr(), "/api/v1/zombies").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let verdicts: Vec<&serde_json::Value> = v["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["zombies"].as_array().into_iter().flatten())
        .collect();
    let ports: Vec<&&serde_json::Value> = verdicts
        .iter()
        .filter(|z| z["element_type"] == "HubPort")
        .collect();
    assert!(!ports.is_empty(), "a hub port among the zombies");
    let page = scrape(d.addr()).await;
    for z in ports {
        let port = z["object"].as_str().unwrap();
        let because = &z["evidence"]["because"];
        let endpoint = because["zombies"][0]
            .as_str()
            .expect("the chain names a zombie");
        assert_eq!(
            because["reason"],
            format!("its only neighbour is zombie {endpoint}"),
            "{z}"
        );
        assert_eq!(
            t.object(endpoint).map(|o| o.kind.as_str()),
            Some("WebRtcEndpoint")
        );
        assert_eq!(because["rests_on"][0], endpoint);
        let series = find(
            &page,
            "kurento_zombie",
            &[("element", kms_proto::ids::short_id(port))],
        );
        assert_eq!(series.len(), 1, "{port}");
        assert_eq!(
            series[0].0.label("because"),
            format!("its only neighbour is zombie {endpoint}")
        );
    }
}

/// Wait for `n` more sync cycles of the daemon.
async fn cycles(d: &Daemon, n: u64) {
    let start = syncs(d).await;
    eventually(LIMIT, "sync cycles", || async {
        let now = syncs(d).await;
        if now >= start + n as f64 {
            Ok(())
        } else {
            Err(format!("{now} syncs"))
        }
    })
    .await;
}

async fn syncs(d: &Daemon) -> f64 {
    find(
        &scrape(d.addr()).await,
        "kurento_exporter_sync_duration_seconds_count",
        &[],
    )
    .iter()
    .map(|(_, v)| v)
    .sum()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Observe mode: a daemon running from the start and one started after the
/// scenario ran both flag exactly the ground truth's zombies.
async fn observe(scenario: Scenario, what: &str) {
    let s = simulator().await;
    let dir = temp_dir();
    let cfg = |name: &str| config(&s.ws_url(), Mode::Observe, false, &dir.join(name));
    let early = Daemon::start(cfg("early.jsonl"))
        .await
        .expect("daemon starts");
    cycles(&early, 1).await;
    s.run_scenario(scenario).await.unwrap();
    let late = Daemon::start(cfg("late.jsonl"))
        .await
        .expect("daemon starts");
    let zombies = flags_match_truth(&s, &early, &format!("{what}, from the start")).await;
    chains_are_shown(&s, &early).await;
    let again = flags_match_truth(&s, &late, &format!("{what}, started late")).await;
    assert_eq!(zombies, again);
    println!("{what}: {} zombies flagged, exactly", zombies.len());
    early.shutdown(Duration::from_secs(5)).await;
    late.shutdown(Duration::from_secs(5)).await;
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Enforce mode, every shipped rule releasing: exactly the zombies go, each
/// released once (or with its pipeline), nothing live.
async fn enforce(scenario: Scenario, what: &str) {
    let s = simulator().await;
    let dir = temp_dir();
    let d = Daemon::start(config(
        &s.ws_url(),
        Mode::Enforce,
        true,
        &dir.join("audit.jsonl"),
    ))
    .await
    .expect("daemon starts");
    s.run_scenario(scenario).await.unwrap();
    let (zombies, live) = truth_sets(&s);
    assert!(!zombies.is_empty(), "{what}: the scenario leaks");
    eventually(LIMIT, &format!("{what}: every zombie released"), || async {
        let t = s.truth();
        let left: BTreeSet<String> = zombies.iter().filter(|z| t.contains(z)).cloned().collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left: {:?}", describe(&s, &left)))
        }
    })
    .await;
    cycles(&d, 3).await;
    let t = s.truth();
    let mut released = BTreeSet::new();
    for r in t.releases.iter().filter(|r| !r.by_app) {
        assert!(
            zombies.contains(&r.object),
            "{what}: released a live object {}",
            r.object
        );
        assert!(
            released.insert(r.object.clone()),
            "{what}: released twice {}",
            r.object
        );
    }
    let gone: Vec<&String> = live.iter().filter(|o| !t.contains(o)).collect();
    // The application itself may end rooms; nothing live went by our hand.
    for g in gone {
        assert!(
            t.releases_of(g).all(|r| r.by_app)
                || t.releases
                    .iter()
                    .any(|r| r.by_app && g.starts_with(r.object.as_str())),
            "{what}: live object {g} gone"
        );
    }
    println!(
        "{what}: {} zombies released by {} requests",
        zombies.len(),
        released.len()
    );
    d.shutdown(Duration::from_secs(5)).await;
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_eight_of_eight() {
    observe(kurento_exporter::demo::leaky_conference(), "demo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_released_exactly() {
    enforce(kurento_exporter::demo::leaky_conference(), "demo").await;
}

fn matrix() -> Scenario {
    let path = root().join("crates/kms-sim/scenarios/matrix.json");
    Scenario::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_topology_flagged_exactly() {
    observe(matrix(), "matrix").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_topology_released_exactly() {
    enforce(matrix(), "matrix").await;
}
