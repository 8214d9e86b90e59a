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
//!                                └──► http: routes (one table) ──► /api/v1 (model views, zombies; live SDP/DOT
//!                                       reads through kms::call, manual release) ──► own (watch, attach-player)
//!   own: what the daemon itself creates or subscribes to, each on a KMS session of its own, tagged
//!        (owner + instance tags): players (TTL), watches (events ──► model), the synthetic probe
//!        (phases timed ──► kurento_probe_*), the start-up sweep of a previous daemon's leftovers
//! ```
//!
//! `kms` owns the client (the protocol is data in the `kms-proto` crate,
//! re-exported), and `kms::call` the one error of a call with a deadline;
//! `clock` is the one wall clock, `problem` the one configuration error; the
//! simulator is the `kms-sim` crate, used only by the `demo` feature (and the
//! tests and bench that run it). Imports go one way (`http` ──► `own` ──►
//! `kms`, `model`; `reaper` ──► `policy` ──► `model`; `metrics` reads the
//! model and takes other parts' collectors): `docs/architecture.md` lists
//! which part may import which, and `tests/architecture.rs` checks it.
#![forbid(unsafe_code)]

pub mod clock;
pub mod cluster;
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
pub mod throttle;
pub mod web;
