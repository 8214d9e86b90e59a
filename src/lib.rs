//! kurento-exporter: watches Kurento Media Server (KMS), models what lives
//! inside it, exports that model to Prometheus, and flags (optionally
//! releases) zombie media objects.
//!
//! ```text
//!   KMS (JSON-RPC/WebSocket)          kms-sim (same protocol, for tests/demo)
//!        │  events + timed walks             ▲
//!        ▼                                   │
//!   kms::Client ──► scrape ──► model ──► metrics (Collector, at scrape time) ──► /metrics
//!                                │
//!                                ├──► reaper: judge = policy::decide(model, policy, history, sessions, now)
//!                                │      ──► ledger (mode, limits) ──► audit log ──► actuator ──► kms::Client.release
//!                                └──► http: /api/v1 (model views, zombies; live SDP/DOT reads, watch,
//!                                       attach-player, manual release)
//!   probe: per target, own KMS session: synthetic pipeline, phases timed ──► kurento_probe_* ; start-up
//!          release of objects a previous daemon created (owner + instance tags)
//! ```
//!
//! `kms` owns the wire protocol and the client; `sim` owns the simulator.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod http;
pub mod kms;
pub mod metrics;
pub mod model;
pub mod own;
pub mod policy;
pub mod problem;
pub mod reaper;
pub mod scrape;
