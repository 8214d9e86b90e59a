//! The scrape: one task per KMS target that keeps the target's model current.
//!
//! ```text
//!   connect ─► subscribe ServerManager ObjectCreated/Destroyed (the only
//!   │          subscription held for good)
//!   ├─► walk: getPipelines → getChildren (after every (re)connect)
//!   └─► every interval: plan(model, book, now) → reads (bounded concurrency)
//!          → model updates → flow derived from counters → states re-read
//!          for endpoints whose counters stopped → `unref` every pipeline
//!          touched, so the exporter's session keeps nothing alive.
//! ```
//!
//! Reading an object references it (and its pipeline) from the exporter's
//! session, which would keep abandoned objects alive against KMS's garbage
//! collector: each cycle ends by releasing those references.
//!
//! A cycle whose requests time out beyond `scrape.max_timeout_percent` is
//! not a good sync, and the client's keep-alive drops a hung KMS
//! (`health`).

mod apply;
mod convert;
mod health;
pub mod plan;
mod reads;
mod spec;
mod target;

pub use health::client_for;
pub use spec::TargetSpec;
pub use target::run_target;
