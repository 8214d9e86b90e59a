//! Scenarios: timed application behaviour and faults (conferences, leaks,
//! vanishing peers, network blips, ICE failures, loss/jitter episodes, slow
//! responses, dropped connections, KMS restarts), from JSON or built in Rust:
//! the data; `scenario_run` plays them on the simulated application's
//! session. Deterministic under the seed.

use serde::{Deserialize, Serialize};

use super::app::Topology;
use super::stats::Quality;
use super::timeline::Vanish;
use super::webrtc::IceMode;
use super::Fault;

/// A participant of a conference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub name: String,
    #[serde(default)]
    pub ice: IceMode,
}

/// One thing that happens. Rooms: `room` (any `Topology`), `conference`
/// (an MCU room). Participants: `join`, `leave` (released), `forget` (browser
/// gone and objects forgotten: zombies), `vanish_peer` (browser gone, app
/// holds: live), `interrupt` (network blip), `quality`, `mute`, `pause`,
/// `ice_restart`, `idle_endpoint`. Rooms again: `forget_room`, `end_room`,
/// `forget_empty_pipeline`, `tag`. Server: `fault`, `clear_faults`,
/// `drop_connections`, `restart`.
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
    /// A room of `topology` with `participants` named `p1..pN` (default: 2
    /// for one_to_one, 1 for playback/recording/loopback, 3 otherwise) or
    /// the given names, in join order (one_to_many: the first presents).
    /// `uri`: what playback rooms play; `offer_delay_ms`: the browsers'
    /// offers come that much later (endpoints mid-negotiation until then).
    Room {
        room: String,
        #[serde(default)]
        topology: Topology,
        #[serde(default)]
        participants: Option<u32>,
        #[serde(default)]
        named: Vec<Participant>,
        #[serde(default)]
        uri: Option<String>,
        #[serde(default)]
        offer_delay_ms: u64,
    },
    /// Joins per the room's topology (a new room is an MCU room).
    Join {
        room: String,
        participant: String,
        #[serde(default)]
        ice: IceMode,
        #[serde(default)]
        offer_delay_ms: u64,
    },
    /// The app creates an endpoint for `participant` and never negotiates
    /// it; `forget` (default true): and forgets it (zombie).
    IdleEndpoint {
        room: String,
        participant: String,
        #[serde(default = "yes")]
        forget: bool,
    },
    /// The app releases every element of the room and forgets the pipeline.
    ForgetEmptyPipeline {
        room: String,
    },
    /// The participant's browser stops (`muted`, default) or resumes sending audio.
    Mute {
        room: String,
        participant: String,
        #[serde(default = "yes")]
        muted: bool,
    },
    /// Pause (`paused`, default) or resume a playback participant's player.
    Pause {
        room: String,
        participant: String,
        #[serde(default = "yes")]
        paused: bool,
    },
    /// The participant's browser restarts ICE; media pauses `for_ms`.
    IceRestart {
        room: String,
        participant: String,
        #[serde(default = "ice_restart_ms")]
        for_ms: u64,
    },
    /// Tag a participant's objects, or the whole room's, with `key`=`value`.
    Tag {
        room: String,
        #[serde(default)]
        participant: Option<String>,
        key: String,
        value: String,
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

fn yes() -> bool {
    true
}

fn ice_restart_ms() -> u64 {
    2_000
}

/// An action at a time offset (simulated milliseconds from the start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(default)]
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: Action,
}

/// A scenario. `about` and `expect_zombies` are what the author intends:
/// the ground truth must end with exactly those zombies (checked by the
/// crate's scenario test; an exporter test may read them too).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_zombies: Vec<ExpectedZombie>,
}

/// A zombie a scenario intends, by its tags and type: `count` objects of
/// `type` tagged `room` (and `participant`, or none when absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedZombie {
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "one")]
    pub count: usize,
}

fn one() -> usize {
    1
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
                ice: IceMode::Fail,
                offer_delay_ms: 0,
            }
        );
    }
}
