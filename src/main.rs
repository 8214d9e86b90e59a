//! The `kurento-exporter` binary: flags, logging, then the library's daemon.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kurento_exporter::config::{Config, ConfigError, LogFormat, Overrides, Problem};
use kurento_exporter::daemon::{run_until_signal, Daemon};

/// mimalloc: the scrape and the simulator allocate many small JSON values;
/// it cuts their CPU by about a third against glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prometheus exporter and zombie reaper for Kurento Media Server.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "KURENTO_EXPORTER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// A KMS to watch, `ws://host:8888/kurento` or `name=ws://...`; repeatable.
    /// Replaces the file's targets.
    #[arg(long = "kms", value_name = "[NAME=]URL", global = true)]
    kms: Vec<String>,
    /// HTTP address for /metrics, /healthz, /readyz and the API.
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Validate the configuration and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run against the built-in KMS simulator with a leaky conference scenario.
    #[cfg(feature = "demo")]
    Demo {
        /// Where the simulated KMS listens.
        #[arg(long, default_value = "127.0.0.1:8888")]
        sim_listen: SocketAddr,
        /// The simulator's control API (ground truth, faults).
        #[arg(long, default_value = "127.0.0.1:8889")]
        sim_control: SocketAddr,
    },
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// What a daemon with nothing to watch says before it exits with status 2.
const NO_TARGET: &str = "no KMS to watch: give targets with --kms ws://HOST:8888/kurento (repeatable) or in the config file's [[targets]] (--config FILE), or run `kurento-exporter demo` for the built-in simulator";

/// Exit status of a daemon started with no target.
const NO_TARGET_STATUS: i32 = 2;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let overrides = Overrides {
        kms: cli.kms.clone(),
        listen: cli.listen,
    };
    let demo = demo_addrs(&cli.command);
    let load = |overrides: &Overrides| Config::load(cli.config.as_deref(), overrides);
    let cfg = load(&overrides)?;
    if cfg.targets.is_empty() && demo.is_none() {
        eprintln!("{NO_TARGET}");
        std::process::exit(NO_TARGET_STATUS);
    }
    if cli.check_config {
        println!(
            "configuration is valid: {} target(s), listen {}",
            cfg.targets.len(),
            cfg.listen
        );
        return Ok(());
    }
    init_logging(&cfg);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cfg, demo, cli.config, overrides))
}

/// The simulator's addresses when the `demo` subcommand was given.
fn demo_addrs(command: &Option<Command>) -> Option<(SocketAddr, SocketAddr)> {
    match command {
        #[cfg(feature = "demo")]
        Some(Command::Demo {
            sim_listen,
            sim_control,
        }) => Some((*sim_listen, *sim_control)),
        _ => None,
    }
}

/// Run the daemon until a signal; with `demo`, against the built-in
/// simulator started first.
async fn run(
    cfg: Config,
    demo: Option<(SocketAddr, SocketAddr)>,
    file: Option<PathBuf>,
    overrides: Overrides,
) -> anyhow::Result<()> {
    #[cfg(feature = "demo")]
    let (cfg, _sim) = match demo {
        Some((sim_listen, sim_control)) => {
            let sim = kurento_exporter::demo::start_simulator(sim_listen, sim_control).await?;
            let cfg = Config {
                targets: vec![kurento_exporter::config::Target {
                    name: "demo".into(),
                    url: sim.ws_url(),
                    reaper_mode: None,
                }],
                ..cfg
            };
            (cfg, Some(sim))
        }
        None => (cfg, None),
    };
    let daemon = Daemon::start(cfg.clone()).await?;
    if let Some((_, sim_control)) = demo {
        println!(
            "kurento-exporter demo: metrics http://{0}/metrics  ready http://{0}/readyz  simulated KMS {1}  simulator ground truth http://{2}/truth",
            daemon.addr(),
            cfg.targets[0].url,
            sim_control
        );
    }
    run_until_signal(daemon, move || {
        let mut c = Config::load(file.as_deref(), &overrides)?;
        if demo.is_some() {
            c.targets.clone_from(&cfg.targets);
        } else if c.targets.is_empty() {
            return Err(ConfigError::Invalid(vec![Problem {
                key: "targets".into(),
                value: "[]".into(),
                reason: NO_TARGET.into(),
            }]));
        }
        Ok(c)
    })
    .await
    .context("installing signal handlers")
}
