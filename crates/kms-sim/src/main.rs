//! `kms-sim`: the KMS simulator as a standalone server.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kms_sim::{self as sim, Scenario, SimConfig};

/// mimalloc: the scrape and the simulator allocate many small JSON values;
/// it cuts their CPU by about a third against glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Kurento Media Server simulator speaking KMS's JSON-RPC over WebSocket.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// WebSocket listen address (path /kurento).
    #[arg(long, default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    /// HTTP control server address (GET /truth, POST /fault, /restart, ...).
    #[arg(long)]
    control: Option<SocketAddr>,
    /// Garbage collector period in seconds (fractions allowed).
    #[arg(long, default_value_t = 240.0)]
    gc_period: f64,
    /// Media model tick in milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Scenario file (JSON, or TOML when it ends in .toml).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Seed for ids and scenarios.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated time speed factor.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        args.gc_period.is_finite() && args.gc_period > 0.0,
        "--gc-period must be a positive number of seconds, got {}",
        args.gc_period
    );
    let scenario = args
        .scenario
        .as_deref()
        .map(Scenario::from_file)
        .transpose()?;
    let cfg = SimConfig {
        listen: args.listen,
        control: args.control,
        gc_period: Duration::from_secs_f64(args.gc_period),
        tick: Duration::from_millis(args.tick_ms.max(1)),
        seed: args.seed,
        speed: args.speed,
    };
    let handle = sim::start(cfg).await?;
    tracing::info!(url = %handle.ws_url(), control = ?handle.control_url(), "kms-sim started");
    if let Some(s) = scenario {
        let h = handle.clone();
        tokio::spawn(async move {
            if let Err(e) = h.run_scenario(s).await {
                tracing::error!(error = %e, "scenario failed");
            }
        });
    }
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
