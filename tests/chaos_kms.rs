//! Chaos reproductions of issue 14 on the KMS side, against the daemon
//! binary and the simulator, each bounded in time:
//! - 16,588 garbage frames from KMS (defect 8): a handful of warning lines,
//!   not one per frame, and the target stays up;
//! - `getStats` silent (defect 3): the cycles whose reads time out are not
//!   good syncs: `kurento_up` 0 within one interval + request timeout, the
//!   last-sync time frozen; back to 1 once KMS answers again;
//! - KMS stopped with SIGSTOP (defect 4): `kurento_up` 0 within 10 s with the
//!   default keep-alive settings and no per-object series meanwhile; 1 again,
//!   with them, within one interval of SIGCONT.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_sim::{Action, Fault, Scenario};

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");

/// The cases measure the daemon's log and timing: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn temp_dir() -> std::path::PathBuf {
    temp_dir_named("kx-chaos-kms")
}

fn start(config: &std::path::Path, log: &std::path::Path) -> Child {
    start_binary(config, log, None)
}

/// The value of `name{kms="kms"}` on the page at `addr`.
async fn value_of(addr: std::net::SocketAddr, name: &str) -> Result<f64, String> {
    let (_, body) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
    find(&parse(&body), name, &[("kms", "kms")])
        .first()
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("no {name}"))
}

/// Wait (up to 20 s) until the target completed two more good syncs than
/// at the call.
async fn two_more_syncs(addr: std::net::SocketAddr) {
    let name = "kurento_exporter_last_sync_timestamp_seconds";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut last = value_of(addr, name).await.unwrap_or(0.0);
    let mut advanced = 0;
    while advanced < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "two more syncs: {advanced} within 20 s"
        );
        if let Ok(v) = value_of(addr, name).await {
            if v > last {
                last = v;
                advanced += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_make_a_few_lines_not_one_per_frame() {
    let _serial = SERIAL.lock().await;
    let sim = simulator(Duration::from_secs(3600)).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[scrape]\ninterval = \"500ms\"\nstate_interval = \"1s\"\n\
             [[targets]]\nname = \"kms\"\nurl = \"{}\"\n",
            sim.ws_url()
        ),
    )
    .unwrap();
    let log = dir.join("daemon.log");
    let mut child = start(&config, &log);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually(Duration::from_secs(20), "up", || async {
        let v = value_of(addr, "kurento_up").await?;
        if v == 1.0 {
            Ok(())
        } else {
            Err(format!("kurento_up {v}"))
        }
    })
    .await;
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    sim.inject(Fault::Garbage { count: 16_588 });
    two_more_syncs(addr).await;
    assert_eq!(value_of(addr, "kurento_up").await, Ok(1.0));
    let text = std::fs::read_to_string(&log).unwrap();
    let new: Vec<&str> = text.lines().skip(before).collect();
    let about = new
        .iter()
        .filter(|l| l.contains("unreadable frames"))
        .count();
    println!(
        "16588 garbage frames: {} new log lines, {about} about them",
        new.len()
    );
    assert!((1..=3).contains(&about), "{about} lines: {new:?}");
    assert!(new.len() < 20, "{} lines", new.len());
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Poll `kurento_up` (every 50 ms) until it is `want`; the time it took.
async fn until_up_is(addr: std::net::SocketAddr, want: f64, limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    loop {
        if value_of(addr, "kurento_up").await == Ok(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "kurento_up not {want} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_get_stats_is_not_a_good_sync() {
    let _serial = SERIAL.lock().await;
    let sim = simulator(Duration::from_secs(3600)).await;
    sim.run_scenario(Scenario::new().at(
        0,
        Action::Conference {
            room: "r".into(),
            participants: 3,
            named: vec![],
        },
    ))
    .await
    .unwrap();
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[scrape]\ninterval = \"1s\"\nstate_interval = \"3s\"\n\
             request_timeout = \"1s\"\n[[targets]]\nname = \"kms\"\nurl = \"{}\"\n",
            sim.ws_url()
        ),
    )
    .unwrap();
    let mut child = start(&config, &dir.join("daemon.log"));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    until_up_is(addr, 1.0, Duration::from_secs(20)).await;
    two_more_syncs(addr).await;
    sim.inject(Fault::Silent {
        method: "getStats".into(),
    });
    // One interval for the next cycle, one request timeout for its reads.
    let down = until_up_is(addr, 0.0, Duration::from_millis(2000 + 1500)).await;
    let frozen = value_of(addr, "kurento_exporter_last_sync_timestamp_seconds")
        .await
        .unwrap();
    // Cycles go on failing while KMS stays silent: nothing looks live.
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        assert_eq!(value_of(addr, "kurento_up").await, Ok(0.0));
        assert_eq!(
            value_of(addr, "kurento_exporter_last_sync_timestamp_seconds").await,
            Ok(frozen)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sim.clear_faults();
    let back = until_up_is(addr, 1.0, Duration::from_millis(2000 + 1500)).await;
    println!("getStats silent: kurento_up 0 after {down:?}; 1 again {back:?} after KMS answered");
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_kms_is_down_within_ten_seconds_with_defaults() {
    let _serial = SERIAL.lock().await;
    let dir = temp_dir();
    // The built-in demo simulator, in a process of its own to stop.
    let (sim_port, control, demo_http) = (free_port(), free_port(), free_port());
    let mut kms = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{demo_http}"),
            "demo",
            "--sim-listen",
            &format!("127.0.0.1:{sim_port}"),
            "--sim-control",
            &format!("127.0.0.1:{control}"),
        ])
        .env_remove("KURENTO_EXPORTER_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = free_port();
    let config = dir.join("k.toml");
    // Default scrape settings (interval 10 s, keep-alive 2 s / 2 s × 2).
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n[[targets]]\nname = \"kms\"\nurl = \"ws://127.0.0.1:{sim_port}/kurento\"\n"
        ),
    )
    .unwrap();
    let mut child = start(&config, &dir.join("daemon.log"));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    until_up_is(addr, 1.0, Duration::from_secs(30)).await;
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &kms.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    let elements = |body: &str| find(&parse(body), "kurento_element_info", &[("kms", "kms")]).len();
    eventually(Duration::from_secs(30), "per-object series", || async {
        let (_, body) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
        match elements(&body) {
            0 => Err("no kurento_element_info yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    signal("-STOP");
    let down = until_up_is(addr, 0.0, Duration::from_secs(10)).await;
    // Down: no stale per-object series; the target's own series stay.
    let (_, body) = get(addr, "/metrics").await;
    assert_eq!(elements(&body), 0, "per-object series of a dead target");
    assert!(body.contains("kurento_exporter_last_sync_timestamp_seconds{kms=\"kms\"}"));
    signal("-CONT");
    // Redialled within reconnect_backoff_max (5 s), synced at the first cycle.
    let back = until_up_is(addr, 1.0, Duration::from_secs(10 + 5)).await;
    let (_, body) = get(addr, "/metrics").await;
    assert!(elements(&body) > 0, "per-object series back");
    println!("SIGSTOP: kurento_up 0 after {down:?}; 1 again {back:?} after SIGCONT");
    child.kill().unwrap();
    child.wait().unwrap();
    kms.kill().unwrap();
    kms.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
