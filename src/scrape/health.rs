//! How a target's health is told: the client's keep-alive and reconnection
//! settings (`client_for`: a hung KMS fails its pings within
//! `keepalive_failures × keepalive_timeout` and the target goes down), and
//! whether a cycle's reads were answered well enough to be a good sync
//! (`answered`: stale data must not look live).

use crate::config::ScrapeConfig;
use crate::kms::{Client, ConnectionConfig};
use crate::metrics::ErrorKind;

use super::reads::Rpc;
use super::spec::TargetSpec;

/// The client of one target (one WebSocket, shared by the scrape and the reaper).
pub fn client_for(spec: &TargetSpec) -> Client {
    let mut cc = ConnectionConfig::new(spec.url.clone());
    cc.request_timeout = spec.scrape.request_timeout;
    cc.connect_timeout = spec.scrape.request_timeout;
    cc.max_in_flight = spec.scrape.concurrency;
    cc.ping_interval = spec.scrape.keepalive_interval;
    cc.ping_timeout = Some(spec.scrape.keepalive_timeout);
    cc.ping_failures_to_reconnect = spec.scrape.keepalive_failures;
    cc.backoff_max = spec.scrape.reconnect_backoff_max;
    Client::start(cc)
}

/// The scrape's requests to the target of `rpc` that timed out so far.
pub(super) fn timeouts(rpc: &Rpc) -> u64 {
    rpc.metrics.errors_so_far(&rpc.kms, ErrorKind::timeout)
}

/// Whether a cycle that sent `sent` requests, `timed_out` of which got no
/// answer, may count as a good sync (`scrape.max_timeout_percent`).
pub(super) fn answered(rpc: &Rpc, timed_out: u64, sent: u64, cfg: &ScrapeConfig) -> bool {
    if timed_out * 100 > u64::from(cfg.max_timeout_percent) * sent.max(1) {
        tracing::warn!(kms = %rpc.kms, timed_out, sent, "sync cycle failed: too many KMS requests timed out");
        return false;
    }
    true
}
