//! The leaky scenario of the alerting end-to-end test (tests/alerts_e2e.rs):
//! the simulated application's rooms (leaked whole, ended with forgotten
//! participants, a bad network, peers failing ICE), the session source it
//! publishes, the daemon's config (release rules scaled to the test) and the
//! simulator.

use std::path::Path;
use std::time::Duration;

use kms_sim::{
    self as sim, Action, IceMode, Participant, Quality, Scenario, SimConfig, SimHandle, Vanish,
};
use kurento_exporter::config::Config;
use kurento_exporter::reaper::{Mode, SessionSourceConfig};

/// Simulated time runs this much faster than real time.
pub const SPEED: f64 = 10.0;
/// The daemon's scrape cycle.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// Rooms the application forgets whole: zombie pipelines (> 5).
pub const LEAKED_ROOMS: usize = 8;
pub const LEAKED_SIZE: u32 = 4;
/// Rooms whose meeting ends with one participant leaving properly and two
/// forgotten, the application keeping the pipeline (and listing the room):
/// the forgotten endpoints and their hub ports are zombie elements, with
/// those of the leaked rooms more than 100 (the critical tier).
pub const KEPT_ROOMS: usize = 12;
pub const KEPT_SIZE: u32 = 3;

/// Release rules for the leaks (those of tests/reaper_sim.rs).
pub use crate::exporter_common::LEAK_POLICY as POLICY;

pub fn leaked(i: usize) -> String {
    format!("leaked-{i}")
}

pub fn kept(i: usize) -> String {
    format!("kept-{i}")
}

pub fn conference(
    s: Scenario,
    room: String,
    participants: u32,
    named: Vec<Participant>,
) -> Scenario {
    s.at(
        0,
        Action::Conference {
            room,
            participants,
            named,
        },
    )
}

/// Every room opens: leaked and kept rooms, a room with a bad network and a
/// room where three peers cannot reach KMS (ICE fails) and one can.
pub fn start_meetings() -> Scenario {
    let mut s = Scenario::new();
    for i in 0..LEAKED_ROOMS {
        s = conference(s, leaked(i), LEAKED_SIZE, vec![]);
    }
    for i in 0..KEPT_ROOMS {
        s = conference(s, kept(i), KEPT_SIZE, vec![]);
    }
    s = conference(s, "lossy".into(), 3, vec![]);
    let failing = (1..=3)
        .map(|i| Participant {
            name: format!("f{i}"),
            ice: IceMode::Fail,
        })
        .collect();
    conference(s, "firewalled".into(), 1, failing)
}

/// The leak, and a loss/jitter/RTT episode above the alert thresholds.
pub fn leak() -> Scenario {
    let mut s = Scenario::new();
    for i in 0..LEAKED_ROOMS {
        let how = Vanish::Crash;
        s = s.at(
            0,
            Action::ForgetRoom {
                room: leaked(i),
                how,
            },
        );
    }
    for i in 0..KEPT_ROOMS {
        for p in ["p1", "p2"] {
            let (room, participant, how) = (kept(i), p.to_string(), Vanish::Crash);
            s = s.at(
                0,
                Action::Forget {
                    room,
                    participant,
                    how,
                },
            );
        }
        let (room, participant) = (kept(i), "p3".to_string());
        s = s.at(0, Action::Leave { room, participant });
    }
    let quality = Quality {
        loss: 0.12,
        jitter: 0.05,
        rtt: 0.45,
        bitrate_scale: 0.8,
    };
    s.at(
        0,
        Action::Quality {
            room: "lossy".into(),
            participant: None,
            quality,
        },
    )
}

/// The rooms the application still holds (its session source).
pub fn live_rooms() -> Vec<String> {
    (0..KEPT_ROOMS)
        .map(kept)
        .chain(["lossy".to_string(), "firewalled".to_string()])
        .collect()
}

/// Bearer token of the daemon's mutating API calls.
pub const API_TOKEN: &str = "alerts-e2e-token-0123456789";

pub fn daemon_config(kms: &str, dead_kms: std::net::SocketAddr, dir: &Path, mode: Mode) -> Config {
    let dead = format!("ws://{dead_kms}/kurento");
    let mut c =
        crate::exporter_common::config(&[("kms", kms.to_string()), ("down", dead)], INTERVAL);
    c.targets[0].reaper_mode = Some(mode);
    let sessions = dir.join("rooms.json");
    std::fs::write(&sessions, serde_json::to_string(&live_rooms()).unwrap()).unwrap();
    c.reaper.sessions = Some(SessionSourceConfig {
        url: None,
        file: Some(sessions),
        refresh: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        max_age: None,
    });
    c.scrape.state_interval = Duration::from_secs(1);
    // The pipeline dashboard's latency panel reads this opt-in family.
    c.metrics = toml::from_str("families = [\"e2e_latency\"]").expect("[metrics] parses");
    c.policy = toml::from_str(POLICY).expect("policy parses");
    c.reaper.mode = Mode::Observe;
    c.reaper.audit_log = Some(dir.join("audit.jsonl"));
    c.reaper.releases_per_hour = 100_000;
    c.reaper.release_spacing = Duration::from_millis(5);
    c.reaper.release_timeout = Duration::from_secs(1);
    c.reaper.api_token = Some(API_TOKEN.into());
    c.validate().expect("valid test config");
    c
}

/// What an application does to get end-to-end latency stats:
/// `MediaPipeline.setLatencyStats(true)`.
pub fn enable_latency_stats(sim: &SimHandle, pipeline: &str) {
    let request = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "invoke",
        "params": {
            "object": pipeline,
            "operation": "setLatencyStats",
            "operationParams": { "latencyStats": true }
        }
    });
    match sim.with_engine(|e, now| e.handle_value(None, request, now)) {
        sim::FrameReply::Reply(o) => {
            let v = o.response.to_value();
            assert!(v.get("error").is_none(), "setLatencyStats: {v}");
        }
        _ => panic!("setLatencyStats: connection closed"),
    }
}

pub async fn start_sim() -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period: Duration::from_secs(3600),
        tick: Duration::from_millis(200),
        seed: 5,
        speed: SPEED,
    })
    .await
    .expect("simulator starts")
}
