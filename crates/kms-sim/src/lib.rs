//! The KMS simulator: a WebSocket server speaking KMS's JSON-RPC protocol
//! (`server`), over a pure state machine (`Engine`), with fault injection,
//! scenarios, ground truth and an HTTP control surface.
//!
//! ```text
//!  ws client ──► server (faults, sessions↔connections) ──► Engine::handle ──► response + events
//!  ticker ─────► Engine::tick (timed media transitions)     GC ──► Engine::gc
//!  SimHandle / control HTTP ──► truth, faults, restart, scenarios
//! ```
//!
//! Using it from a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), kms_sim::SimError> {
//! use std::time::Duration;
//! use kms_sim::{self as sim, Action, Fault, Scenario, SimConfig, Vanish};
//!
//! let sim = sim::start(SimConfig {
//!     listen: "127.0.0.1:0".parse().expect("address"),
//!     gc_period: Duration::from_millis(200),
//!     tick: Duration::from_millis(20),
//!     speed: 50.0, // simulated time runs 50x faster (0 = only advance_clock moves it)
//!     ..SimConfig::default()
//! })
//! .await?;
//! let url = sim.ws_url(); // ws://127.0.0.1:PORT/kurento
//! sim.run_scenario(
//!     Scenario::new()
//!         .at(0, Action::Conference { room: "r1".into(), participants: 3, named: vec![] })
//!         .at(5_000, Action::Forget { room: "r1".into(), participant: "p2".into(), how: Vanish::Crash }),
//! )
//! .await?;
//! sim.inject(Fault::Delay { method: "getStats".into(), delay: Duration::from_millis(300) });
//! let truth = sim.truth(); // every object, session, flow, state, zombie flag
//! assert_eq!(truth.counts.zombies, 2); // p2's endpoint and hub port
//! # let _ = url;
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Model notes: the simulated application (scenarios, `app`) runs rooms in
//! every Kurento application topology (`Topology`: one-to-one, one-to-many,
//! SFU, MCU, Dispatcher, DispatcherOneToMany, playback, recording,
//! loopback), built as the tutorials build them, every object tagged `room`
//! and `participant`, on its own session that never closes; it leaks by
//! forgetting objects, and the ground truth marks each object `zombie` with
//! a short `why`. `scenarios/` holds ready files (`matrix.json`: every
//! topology with every leak and never-a-zombie case, and its exact zombie
//! set in `expect_zombies`); `Scenario::play` runs one on an `Engine`
//! without a server. A `HubPort` belongs to its hub (`hub`: ownership,
//! dispatcher routing, and flow flags that do not tell liveness, as on KMS
//! 7.3.1). The SDP getters answer 40202/40203 before negotiation.
//! A `file://` player plays 60 s; a URI without a scheme or containing
//! `nonexistent`/`does-not-exist`/`missing` fails with four INVALID_URI
//! Error events. A connection dropped on a non-JSON frame leaks its session
//! (never collected), as KMS does. Timings of a vanished peer follow
//! `samples/peer-vanished-timeline.json` and `samples/browser/*`; a peer
//! whose network blips (`Action::Interrupt`) follows the crash timeline
//! until it recovers (`blip`; `Action::IceRestart` pauses media at once and
//! takes ICE component 1 back to CONNECTING). The truth carries a ledger of
//! every release request (`ledger`), the only way to see a double release.

mod app;
mod blip;
mod control;
mod engine;
mod events;
mod handle;
mod hub;
mod ice;
mod info;
mod invoke;
mod kinds;
mod ledger;
mod media;
mod methods;
mod player;
mod refs;
mod rpc;
mod scenario;
mod scenario_run;
mod sdp;
mod server;
mod stats;
mod timeline;
mod truth;
mod webrtc;

use std::net::SocketAddr;
use std::time::Duration;

pub use app::{Role, Topology};
pub use engine::{Delivery, Engine, Outcome};
pub use handle::{start, SimHandle};
pub use kinds::Kind;
pub use ledger::{ReleaseRecord, RELEASE_LEDGER_CAP};
pub use rpc::FrameReply;
pub use scenario::{Action, ExpectedZombie, Participant, Scenario, ScenarioError, Step};
pub use stats::Quality;
pub use timeline::Vanish;
pub use truth::{Counts, MediaTruth, ObjectTruth, SessionTruth, Truth};
pub use webrtc::IceMode;

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// WebSocket address; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
    /// Optional HTTP control server address.
    pub control: Option<SocketAddr>,
    /// KMS's `garbageCollectorPeriod`.
    pub gc_period: Duration,
    /// Period of the media model's clock tick.
    pub tick: Duration,
    /// Seed for ids, SSRCs and scenarios.
    pub seed: u64,
    /// Simulated time runs this many times faster than real time (1.0 =
    /// real, 0 = frozen: only `SimHandle::advance_clock` moves it).
    pub speed: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8888)),
            control: None,
            gc_period: Duration::from_secs(240),
            tick: Duration::from_secs(1),
            seed: 0,
            speed: 1.0,
        }
    }
}

/// A fault the server injects.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Delay responses to a JSON-RPC method or an invoke operation name.
    Delay {
        method: String,
        #[serde(with = "millis")]
        delay: Duration,
    },
    /// On a matching request, close the socket without answering (once).
    CloseOnRequest { method: String },
    /// Send `count` malformed frames before the next answer.
    Garbage { count: u32 },
    /// Never answer matching requests (they are not processed either).
    Silent { method: String },
}

impl Fault {
    /// Whether this fault targets a request with `method` / `operation`.
    pub fn matches(&self, method: Option<&str>, operation: Option<&str>) -> bool {
        let target = match self {
            Fault::Delay { method, .. }
            | Fault::CloseOnRequest { method }
            | Fault::Silent { method } => method,
            Fault::Garbage { .. } => return true,
        };
        method == Some(target.as_str()) || operation == Some(target.as_str())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("scenario: {0}")]
    Scenario(#[from] ScenarioError),
}
#[cfg(test)]
mod blip_tests;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod hub_tests;
#[cfg(test)]
mod ice_tests;
