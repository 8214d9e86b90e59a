//! The daemon's signals: SIGTERM and SIGINT drain (a second one exits at
//! once), SIGHUP reloads (an invalid configuration keeps the running one);
//! in a cluster, every change of the member list rebalances the targets.

use crate::config::{Config, ConfigError};

use super::{now_seconds, Daemon};

/// Run until SIGTERM or SIGINT (drain within `shutdown_grace`; a second
/// signal exits at once); SIGHUP reloads through `reload`, keeping the old
/// configuration when the new one is invalid.
pub async fn run_until_signal(
    mut daemon: Daemon,
    mut reload: impl FnMut() -> Result<Config, ConfigError>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut cluster = daemon.cluster_changes();
    loop {
        tokio::select! {
            Ok(()) = async { match cluster.as_mut() {
                Some(c) => c.changed().await,
                None => std::future::pending().await,
            } } => daemon.rebalance(),
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match reload() {
                Ok(cfg) => daemon.reload(cfg),
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; keeping the running configuration");
                    daemon.metrics().exporter.config_reloaded(false, now_seconds());
                    // Log rotation relies on SIGHUP whatever the configuration says.
                    daemon.reaper().reopen_audit();
                }
            },
        }
    }
    let grace = daemon.config().shutdown_grace;
    tracing::info!(?grace, "shutting down");
    tokio::select! {
        drained = daemon.shutdown(grace) => {
            if !drained {
                tracing::warn!("grace time over; exiting");
            }
        }
        _ = term.recv() => tracing::warn!("second signal; exiting at once"),
        _ = int.recv() => tracing::warn!("second signal; exiting at once"),
    }
    Ok(())
}
