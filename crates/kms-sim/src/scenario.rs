//! Scenarios: timed application behaviour and faults (conferences, leaks,
//! vanishing peers, network blips, ICE failures, loss/jitter episodes, slow
//! responses, dropped connections, KMS restarts), from JSON or built in Rust, run on
//! the simulated application's session. Deterministic under the seed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::server::Shared;
use super::stats::Quality;
use super::timeline::Vanish;
use super::webrtc::IceMode;
use super::{Fault, SimError};

/// A participant of a conference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub name: String,
    #[serde(default)]
    pub ice: IceMode,
}

/// One thing that happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A conference with `participants` named `p1..pN` (or the given names).
    Conference {
        room: String,
        #[serde(default)]
        participants: u32,
        #[serde(default)]
        named: Vec<Participant>,
    },
    Join {
        room: String,
        participant: String,
        #[serde(default)]
        ice: IceMode,
    },
    /// Leaves properly (objects released).
    Leave {
        room: String,
        participant: String,
    },
    /// The app forgets the participant's objects; its browser vanishes.
    Forget {
        room: String,
        participant: String,
        #[serde(default = "crash")]
        how: Vanish,
    },
    /// The app forgets a whole room (zombie pipeline); all browsers vanish.
    ForgetRoom {
        room: String,
        #[serde(default = "crash")]
        how: Vanish,
    },
    /// The room ends properly (pipeline released).
    EndRoom {
        room: String,
    },
    /// A participant's browser vanishes; the app keeps the objects.
    VanishPeer {
        room: String,
        participant: String,
        #[serde(default = "crash")]
        how: Vanish,
    },
    /// A participant's browser loses its network for `for_ms` simulated ms
    /// and recovers (the app keeps the objects; see `blip`).
    Interrupt {
        room: String,
        participant: String,
        for_ms: u64,
    },
    /// Loss/jitter/RTT episode for one participant or the whole room.
    Quality {
        room: String,
        #[serde(default)]
        participant: Option<String>,
        quality: Quality,
    },
    Fault {
        fault: Fault,
    },
    ClearFaults,
    /// Close every client WebSocket (the app's internal session stays).
    DropConnections,
    /// KMS restart: everything gone.
    Restart,
}

fn crash() -> Vanish {
    Vanish::Crash
}

/// An action at a time offset (simulated milliseconds from the start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default)]
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: Action,
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Errors loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid scenario {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("invalid scenario {path}: {source}")]
    ParseToml {
        path: String,
        source: toml::de::Error,
    },
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
}

impl Scenario {
    pub fn new() -> Self {
        Scenario::default()
    }

    /// Add `action` at `at_ms` (builder style).
    pub fn at(mut self, at_ms: u64, action: Action) -> Self {
        self.steps.push(Step { at_ms, action });
        self
    }

    /// Load a scenario file: TOML when it ends in `.toml`, JSON otherwise.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: p.clone(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            return toml::from_str(&text)
                .map_err(|source| ScenarioError::ParseToml { path: p, source });
        }
        serde_json::from_str(&text).map_err(|source| ScenarioError::Parse { path: p, source })
    }
}

/// Apply one action to the simulator.
pub(crate) fn apply(shared: &Shared, step: usize, action: &Action) -> Result<(), ScenarioError> {
    let fail = |e: kms_proto::wire::RpcError| ScenarioError::Step {
        step,
        message: e.message,
    };
    match action {
        Action::Fault { fault } => shared.inject(fault.clone()),
        Action::ClearFaults => shared.clear_faults(),
        Action::DropConnections => shared.kill_all(),
        Action::Restart => shared.reset(),
        _ => {
            return shared.with_engine(|e, now| {
                e.advance(now);
                let r = match action {
                    Action::Conference {
                        room,
                        participants,
                        named,
                    } => {
                        let mut people: Vec<Participant> = named.clone();
                        people.extend((1..=*participants).map(|i| Participant {
                            name: format!("p{i}"),
                            ice: IceMode::Normal,
                        }));
                        e.app_open_room(room)
                            .and_then(|_| {
                                people
                                    .iter()
                                    .try_for_each(|p| e.app_join(room, &p.name, p.ice).map(drop))
                            })
                            .map_err(fail)
                    }
                    Action::Join {
                        room,
                        participant,
                        ice,
                    } => e.app_join(room, participant, *ice).map(drop).map_err(fail),
                    Action::Leave { room, participant } => {
                        e.app_leave(room, participant);
                        Ok(())
                    }
                    Action::Forget {
                        room,
                        participant,
                        how,
                    } => {
                        e.app_forget(room, participant, *how);
                        Ok(())
                    }
                    Action::ForgetRoom { room, how } => {
                        e.app_forget_room(room, *how);
                        Ok(())
                    }
                    Action::EndRoom { room } => {
                        e.app_end_room(room);
                        Ok(())
                    }
                    Action::VanishPeer {
                        room,
                        participant,
                        how,
                    } => {
                        if let Some(ep) = e.app_endpoint(room, participant) {
                            e.vanish_peer(&ep, *how);
                        }
                        Ok(())
                    }
                    Action::Interrupt {
                        room,
                        participant,
                        for_ms,
                    } => {
                        e.app_interrupt(room, participant, *for_ms);
                        Ok(())
                    }
                    Action::Quality {
                        room,
                        participant,
                        quality,
                    } => {
                        e.app_quality(room, participant.as_deref(), *quality);
                        Ok(())
                    }
                    _ => Ok(()),
                };
                (r, e.take_events())
            })
        }
    }
    Ok(())
}

/// Run `scenario`, waiting (in real time scaled by `speed`) for each step.
pub(crate) async fn run(shared: &Shared, scenario: Scenario) -> Result<(), SimError> {
    let mut steps = scenario.steps;
    steps.sort_by_key(|s| s.at_ms);
    let start = tokio::time::Instant::now();
    let speed = if shared.cfg.speed > 0.0 {
        shared.cfg.speed
    } else {
        1.0
    };
    for (i, step) in steps.iter().enumerate() {
        let due = start + Duration::from_secs_f64(step.at_ms as f64 / 1000.0 / speed);
        tokio::time::sleep_until(due).await;
        apply(shared, i, &step.action)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_scenarios() {
        let s: Scenario = serde_json::from_str(
            r#"{"steps":[
                {"at_ms":0,"action":"conference","room":"r1","participants":3},
                {"at_ms":1000,"action":"forget","room":"r1","participant":"p2","how":"close"},
                {"at_ms":2000,"action":"quality","room":"r1","quality":{"loss":0.1,"jitter":0.03,"rtt":0.2,"bitrate_scale":1.0}},
                {"at_ms":3000,"action":"fault","fault":{"kind":"delay","method":"getStats","delay":500}},
                {"at_ms":4000,"action":"restart"},
                {"at_ms":5000,"action":"interrupt","room":"r1","participant":"p1","for_ms":8000}
            ]}"#,
        )
        .unwrap();
        assert_eq!(s.steps.len(), 6);
        assert_eq!(
            s.steps[5].action,
            Action::Interrupt {
                room: "r1".into(),
                participant: "p1".into(),
                for_ms: 8_000
            }
        );
        assert_eq!(
            s.steps[1].action,
            Action::Forget {
                room: "r1".into(),
                participant: "p2".into(),
                how: Vanish::Close
            }
        );
        assert!(serde_json::from_str::<Scenario>(r#"{"steps":[{"action":"nope"}]}"#).is_err());
    }

    #[test]
    fn parses_toml_scenarios() {
        let s: Scenario = toml::from_str(
            r#"
            [[steps]]
            at_ms = 0
            action = "conference"
            room = "r1"
            participants = 2

            [[steps]]
            at_ms = 1000
            action = "join"
            room = "r1"
            participant = "late"
            ice = "fail"

            [[steps]]
            at_ms = 2000
            action = "fault"
            fault = { kind = "close_on_request", method = "getStats" }
            "#,
        )
        .unwrap();
        assert_eq!(s.steps.len(), 3);
        assert_eq!(
            s.steps[1].action,
            Action::Join {
                room: "r1".into(),
                participant: "late".into(),
                ice: IceMode::Fail
            }
        );
    }
}
