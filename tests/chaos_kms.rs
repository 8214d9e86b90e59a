//! Chaos reproductions of issue 14 on the KMS side, against the daemon
//! binary and the simulator, each bounded in time:
//! - 16,588 garbage frames from KMS (defect 8): a handful of warning lines,
//!   not one per frame, and the target stays up.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_sim::Fault;

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");

/// The cases measure the daemon's log and timing: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kx-chaos-kms-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(config: &std::path::Path, log: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("daemon starts")
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
