//! The synthetic media probe against the simulator over real TCP (issue 6,
//! acceptance 4): a run succeeds on a healthy simulator, fails in the `ice`
//! phase when the simulator fails ICE, and leaves no object behind either way
//! (simulator ground truth); the daemon's probe task exports its metrics,
//! releases leftovers of an earlier process at start-up, and releases the
//! run in progress at shutdown.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::time::Duration;

use exporter_common::*;
use kms_sim::{IceMode, SimHandle};
use kurento_exporter::kms::{Client, ConnectionConfig};
use kurento_exporter::own::{probe_once, release_leftovers, Ownership, Phase, ProbeConfig};
use kurento_exporter::policy::PolicyConfig;
use tokio_util::sync::CancellationToken;

fn probe_config() -> ProbeConfig {
    ProbeConfig {
        enabled: true,
        interval: Duration::from_millis(500),
        uri: "http://media.example/probe.webm".into(),
        timeout: Duration::from_secs(5),
        targets: vec![],
    }
}

fn me() -> Ownership {
    Ownership::new(PolicyConfig::default().owner_tag)
}

/// Media objects in the simulator (the ServerManager excluded).
fn objects(sim: &SimHandle) -> Vec<String> {
    sim.truth()
        .objects
        .into_iter()
        .filter(|o| o.kind != "ServerManager")
        .map(|o| o.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_succeeds_on_a_healthy_simulator_and_releases_everything() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let r = probe_once(
        ConnectionConfig::new(sim.ws_url()),
        &probe_config(),
        &me(),
        &CancellationToken::new(),
    )
    .await;
    assert!(r.success(), "{r:?}");
    let phases: Vec<Phase> = r.phases.iter().map(|p| p.0).collect();
    assert_eq!(
        phases,
        [
            Phase::Connect,
            Phase::Create,
            Phase::Negotiate,
            Phase::Ice,
            Phase::Media,
            Phase::Release
        ]
    );
    let pipeline = r.pipeline.clone().expect("a pipeline was created");
    assert!(r.leftover.is_none());
    assert_eq!(objects(&sim), Vec::<String>::new(), "nothing left behind");
    assert_eq!(sim.truth().releases_of(&pipeline).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_ice_fails_the_ice_phase_and_releases_everything() {
    let sim = simulator(Duration::from_secs(3600)).await;
    sim.set_wire_ice(IceMode::Fail);
    let r = probe_once(
        ConnectionConfig::new(sim.ws_url()),
        &probe_config(),
        &me(),
        &CancellationToken::new(),
    )
    .await;
    let (phase, why) = r.failed.clone().expect("the run fails");
    assert_eq!(phase, Phase::Ice, "{why}");
    assert!(why.contains("ICE failed"), "{why}");
    assert_eq!(objects(&sim), Vec::<String>::new());

    // ICE that never connects: the run times out in the same phase.
    sim.set_wire_ice(IceMode::Never);
    let cfg = ProbeConfig {
        timeout: Duration::from_millis(800),
        ..probe_config()
    };
    let r = probe_once(
        ConnectionConfig::new(sim.ws_url()),
        &cfg,
        &me(),
        &CancellationToken::new(),
    )
    .await;
    let (phase, why) = r.failed.clone().expect("the run times out");
    assert_eq!(phase, Phase::Ice, "{why}");
    assert_eq!(objects(&sim), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_leftovers_of_other_processes_are_released() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let app = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let limit = Duration::from_secs(2);
    let (old, current) = (me(), me());
    // The application's pipeline, with one element of an earlier process,
    // one of the current process and one of its own.
    let p = app.create_pipeline().await.unwrap();
    let leftover = app.create_element("PlayerEndpoint", &p).await.unwrap();
    old.tag(&app, &leftover, limit).await.unwrap();
    let mine = app.create_element("PlayerEndpoint", &p).await.unwrap();
    current.tag(&app, &mine, limit).await.unwrap();
    let theirs = app.create_element("PassThrough", &p).await.unwrap();
    // A whole pipeline of the earlier process.
    let owned = app.create_pipeline().await.unwrap();
    old.tag(&app, &owned, limit).await.unwrap();

    let sweeper = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let released = release_leftovers(&sweeper, &current, limit).await.unwrap();
    assert!(released
        .iter()
        .all(|l| l.instance.as_deref() == Some(old.instance.as_str()) && l.member.is_none()));
    let mut released: Vec<String> = released.into_iter().map(|l| l.object).collect();
    released.sort();
    let mut want = vec![leftover.clone(), owned.clone()];
    want.sort();
    assert_eq!(released, want);
    let t = sim.truth();
    assert!(t.contains(&p) && t.contains(&mine) && t.contains(&theirs));
    assert!(!t.contains(&leftover) && !t.contains(&owned));
    // The sweep's session holds no reference (it unref'd what it read).
    let session = sweeper.connection().session().unwrap();
    let refs = t
        .sessions
        .iter()
        .find(|s| s.id == session)
        .map(|s| s.references);
    assert_eq!(refs.unwrap_or(0), 0, "{:?}", t.sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_probes_exports_the_result_and_leaves_nothing() {
    let sim = simulator(Duration::from_secs(3600)).await;
    // A pipeline an earlier (crashed) daemon left behind.
    let crashed = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let stale = crashed.create_pipeline().await.unwrap();
    me().tag(&crashed, &stale, Duration::from_secs(2))
        .await
        .unwrap();
    crashed.shutdown();

    let mut cfg = config(&[("kms", sim.ws_url())], Duration::from_millis(300));
    cfg.probe = ProbeConfig {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        ..probe_config()
    };
    cfg.validate().unwrap();
    let d = daemon(cfg).await;
    let addr = d.addr();
    eventually(Duration::from_secs(10), "leftover released", || async {
        match sim.truth().contains(&stale) {
            false => Ok(()),
            true => Err("still there".to_string()),
        }
    })
    .await;
    eventually(Duration::from_secs(10), "probe success", || async {
        let page = scrape(addr).await;
        let ok = find(&page, "kurento_probe_success", &[("kms", "kms")]);
        let media = find(
            &page,
            "kurento_probe_duration_seconds",
            &[("kms", "kms"), ("phase", "media")],
        );
        let last = find(&page, "kurento_probe_last_run_timestamp_seconds", &[]);
        match (ok.first(), media.first(), last.first()) {
            (Some(s), Some(_), Some(l)) if s.1 == 1.0 && l.1 > 0.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    sim.set_wire_ice(IceMode::Fail);
    eventually(Duration::from_secs(10), "probe failure", || async {
        let page = scrape(addr).await;
        let ok = find(&page, "kurento_probe_success", &[("kms", "kms")]);
        let failed = find(
            &page,
            "kurento_probe_failures_total",
            &[("kms", "kms"), ("phase", "ice")],
        );
        match (ok.first(), failed.first()) {
            (Some(s), Some(f)) if s.1 == 0.0 && f.1 >= 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Shut down while a run holds objects (ICE never connects): released.
    sim.set_wire_ice(IceMode::Never);
    eventually(Duration::from_secs(10), "a run in progress", || async {
        match objects(&sim).is_empty() {
            false => Ok(()),
            true => Err("no probe objects yet".to_string()),
        }
    })
    .await;
    assert!(d.shutdown(Duration::from_secs(5)).await, "drained in time");
    let left: Vec<String> = sim
        .truth()
        .objects
        .into_iter()
        .filter(|o| o.kind != "ServerManager")
        .map(|o| format!("{} {:?}", o.id, o.tags))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
