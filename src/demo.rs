//! The demo: the built-in KMS simulator running a leaky conference scenario,
//! so the exporter can be tried with no KMS at all.

use std::net::SocketAddr;
use std::time::Duration;

use kms_sim::{Action, Scenario, Vanish};
use kms_sim::{SimConfig, SimError, SimHandle};

/// Three rooms: one healthy, one where a participant's app forgets to
/// release a vanished peer, one forgotten entirely after its browsers crash.
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
            20_000,
            Action::Forget {
                room: "sales".into(),
                participant: "p2".into(),
                how: Vanish::Crash,
            },
        )
        .at(
            30_000,
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
