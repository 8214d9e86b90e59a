//! The side-by-side run: `benches/kurento-client/monitor.mjs`, the monitoring
//! loop a user would write with the official kurento-client (npm, pinned in
//! that directory's package-lock.json), against the same simulator. Node.js
//! and npm are needed; without them the comparison is skipped with a line
//! saying so. `npm ci --ignore-scripts` runs once when node_modules is missing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::measure::CpuWindow;

/// Requests kept in flight by the script.
pub const IN_FLIGHT: usize = 64;

/// Media types asked per element with `isMediaFlowingIn`.
pub const MEDIA_TYPES: &str = "AUDIO,VIDEO";

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/kurento-client")
}

async fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Node.js and the script's dependencies, installed if missing; `Err` says
/// why the comparison cannot run.
pub async fn prepare() -> Result<PathBuf, String> {
    if !runs("node").await {
        return Err(
            "`node` not found: install Node.js >= 18 to compare with kurento-client".into(),
        );
    }
    let dir = script_dir();
    if dir.join("node_modules/kurento-client").is_dir() {
        return Ok(dir);
    }
    if !runs("npm").await {
        return Err("`npm` not found: install npm to fetch kurento-client".into());
    }
    eprintln!(
        "installing kurento-client: npm ci --ignore-scripts in {}",
        dir.display()
    );
    let ok = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success());
    if ok {
        Ok(dir)
    } else {
        Err(format!(
            "`npm ci --ignore-scripts` failed in {}",
            dir.display()
        ))
    }
}

/// One line of the script's report.
#[derive(Deserialize)]
struct Line {
    event: String,
    #[serde(default)]
    wall_ms: f64,
    #[serde(default)]
    cpu_user_us: f64,
    #[serde(default)]
    cpu_system_us: f64,
    #[serde(default)]
    requests: f64,
    #[serde(default)]
    elements: usize,
}

/// Means over the measured cycles of one run of the script.
pub struct NodeRun {
    pub cycles: usize,
    /// Wall time of a cycle, seconds.
    pub wall: f64,
    /// The node process's CPU per cycle, seconds (its own `process.cpuUsage`).
    pub cpu: f64,
    /// Requests per cycle.
    pub requests: f64,
    /// Elements read per cycle (those with `getStats`).
    pub elements: usize,
    /// The simulator's CPU over the measured cycles, seconds, and the wall
    /// time of that window.
    pub kms_cpu: f64,
    pub kms_window: f64,
}

/// Run `cycles` measured cycles (after one warm-up) against `url`; the
/// simulator `sim_pid`'s CPU is read over the measured cycles.
pub async fn run(dir: &Path, url: &str, cycles: usize, sim_pid: i32) -> Result<NodeRun, String> {
    let mut child = Command::new("node")
        .arg("monitor.mjs")
        .args([
            url,
            &cycles.to_string(),
            &IN_FLIGHT.to_string(),
            MEDIA_TYPES,
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut window = None;
    let mut measured: Vec<Line> = Vec::new();
    let mut kms = (0.0, 0.0);
    let read = async {
        while let Some(text) = lines.next_line().await.map_err(|e| e.to_string())? {
            let Ok(line) = serde_json::from_str::<Line>(&text) else {
                continue;
            };
            match line.event.as_str() {
                "warm" => {
                    eprintln!("kurento-client warm-up cycle: {:.2} s", line.wall_ms / 1e3);
                    window = Some(CpuWindow::start(Some(sim_pid)));
                }
                "cycle" => measured.push(line),
                "done" => {
                    kms = window.as_ref().map_or((0.0, 0.0), CpuWindow::read);
                    return Ok(());
                }
                _ => {}
            }
        }
        Err("the script ended before its report".to_string())
    };
    // A minute per cycle is ten times what 10,000 endpoints take.
    let limit = Duration::from_secs(60 * (cycles as u64 + 2));
    tokio::time::timeout(limit, read)
        .await
        .map_err(|_| format!("the script ran over {} s", limit.as_secs()))??;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .map_err(|_| "the script did not exit".to_string())?
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the script exited with {status}"));
    }
    let k = measured.len().max(1) as f64;
    Ok(NodeRun {
        cycles: measured.len(),
        wall: measured.iter().map(|l| l.wall_ms).sum::<f64>() / k / 1e3,
        cpu: measured
            .iter()
            .map(|l| l.cpu_user_us + l.cpu_system_us)
            .sum::<f64>()
            / k
            / 1e6,
        requests: measured.iter().map(|l| l.requests).sum::<f64>() / k,
        elements: measured.last().map_or(0, |l| l.elements),
        kms_cpu: kms.0,
        kms_window: kms.1,
    })
}
