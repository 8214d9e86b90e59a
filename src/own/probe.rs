//! The synthetic media probe: the `[probe]` settings (`config`), and one run,
//! why a phase fails (`ProbeError`) and the per-target task (`runner`): every interval a
//! pipeline with a PlayerEndpoint feeding one of two WebRtcEndpoints
//! negotiated with each other, timed phase by phase, then released. Its
//! objects carry the daemon's tags (`own::tags`) and live on a KMS session of
//! its own (`own::session`); the per-target task also runs the start-up sweep
//! (`own::sweep`). The metrics it records are `metrics::ProbeMetrics`.

mod config;
mod runner;

pub use config::ProbeConfig;
pub use runner::{probe_once, run_target, Phase, ProbeError, ProbeReport, ProbeTask};
