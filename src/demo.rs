//! The demo: the built-in KMS simulator running a leaky conference scenario,
//! watched by a daemon set up to tell the whole story in about a minute and
//! a half: the shipped rules scaled down (`DEMO_SPEEDUP`) and made release
//! rules, the reaper enforcing on the simulator (ours, so safe), the audit
//! log in a temporary folder, and one log line when zombies are flagged and
//! one when the simulator sees them released (`narrate`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kms_sim::{Action, Scenario, Vanish};
use kms_sim::{SimConfig, SimError, SimHandle};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Target};
use crate::policy::{PolicyConfig, RuleAction};
use crate::reaper::{Board, Mode};

/// The shipped rules' durations are divided by this in the demo (5 min → 10 s).
pub const DEMO_SPEEDUP: u32 = 30;

/// The demo's scrape pace (the shipped default is 10 s).
const DEMO_SCRAPE: Duration = Duration::from_secs(2);

/// Name of the simulated target.
pub const DEMO_TARGET: &str = "demo";

/// Three rooms: one healthy, one where a participant's app forgets to
/// release a vanished peer, one forgotten entirely after its browsers close.
pub fn leaky_conference() -> Scenario {
    let conf = |room: &str, participants| Action::Conference {
        room: room.into(),
        participants,
        named: vec![],
    };
    Scenario::new()
        .at(0, conf("standup", 4))
        .at(0, conf("sales", 3))
        .at(0, conf("retro", 2))
        .at(
            10_000,
            Action::Forget {
                room: "sales".into(),
                participant: "p2".into(),
                how: Vanish::Crash,
            },
        )
        .at(
            15_000,
            Action::ForgetRoom {
                room: "retro".into(),
                how: Vanish::Close,
            },
        )
}

/// Start the simulator on `listen` (control API on `control`) and schedule
/// the leaky scenario in the background.
pub async fn start_simulator(
    listen: SocketAddr,
    control: SocketAddr,
) -> Result<SimHandle, SimError> {
    let sim = kms_sim::start(SimConfig {
        listen,
        control: Some(control),
        tick: Duration::from_millis(500),
        ..SimConfig::default()
    })
    .await?;
    let runner = sim.clone();
    tokio::spawn(async move {
        if let Err(e) = runner.run_scenario(leaky_conference()).await {
            tracing::error!(error = %e, "demo scenario failed");
        }
    });
    Ok(sim)
}

/// The shipped policy for the demo only: every duration divided by
/// `DEMO_SPEEDUP` (`policy.duration_scale`), every rule a release rule.
pub fn demo_policy(shipped: &PolicyConfig) -> PolicyConfig {
    let mut p = shipped.clone();
    p.duration_scale = 1.0 / f64::from(DEMO_SPEEDUP);
    for r in &mut p.rules {
        r.action = RuleAction::Release;
    }
    p
}

/// The folder of the demo's audit log (created by `demo_config`'s caller).
pub fn audit_dir() -> PathBuf {
    std::env::temp_dir().join(format!("kurento-exporter-demo-{}", std::process::id()))
}

/// `base` set up for the demo: the simulator at `kms_url` as the only
/// target, enforcing; the demo policy; a 2 s scrape; the audit log in `audit`.
pub fn demo_config(base: Config, kms_url: &str, audit: &Path) -> Config {
    let mut c = base;
    c.targets = vec![Target {
        name: DEMO_TARGET.into(),
        url: kms_url.into(),
        reaper_mode: Some(Mode::Enforce),
    }];
    c.policy = demo_policy(&PolicyConfig::default());
    c.scrape.interval = DEMO_SCRAPE;
    c.scrape.state_interval = c.scrape.state_interval.min(DEMO_SCRAPE * 5);
    c.scrape.settled_state_interval = c.scrape.settled_state_interval.min(DEMO_SCRAPE * 20);
    c.reaper.audit_log = Some(audit.join("audit.jsonl"));
    c
}

/// Log one line when new zombies are flagged (the reaper's board) and one
/// when the simulator receives releases from anyone but its own application
/// (its ledger), until `cancel`.
pub async fn narrate(board: Board, sim: SimHandle, cancel: CancellationToken) {
    let mut flagged: BTreeSet<String> = BTreeSet::new();
    let mut released = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now: BTreeSet<String> = board
            .targets()
            .into_iter()
            .flat_map(|t| t.zombies)
            .map(|z| format!("{} {}", z.element_type, z.object))
            .collect();
        let new: Vec<&String> = now.difference(&flagged).collect();
        if !new.is_empty() {
            tracing::info!(
                count = new.len(),
                objects = ?new,
                "demo: zombies flagged (see /api/v1/zombies and the console)"
            );
        }
        flagged.extend(now);
        let truth = sim.truth();
        let by_monitor: Vec<&kms_sim::ReleaseRecord> =
            truth.releases.iter().filter(|r| !r.by_app).collect();
        if by_monitor.len() > released {
            let objects: Vec<&str> = by_monitor[released..]
                .iter()
                .map(|r| r.object.as_str())
                .collect();
            tracing::info!(
                count = objects.len(),
                ?objects,
                "demo: zombies released by the reaper (the simulator's ledger at /truth)"
            );
            released = by_monitor.len();
        }
    }
}
