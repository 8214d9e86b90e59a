//! The `kurento-exporter` binary: flags, logging, then the library's daemon.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
#[cfg(feature = "demo")]
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kurento_exporter::config::{Config, ConfigError, LogFormat, Overrides, Problem};
use kurento_exporter::daemon::{run_until_signal, Daemon};

/// mimalloc: the scrape and the simulator allocate many small JSON values;
/// it cuts their CPU by about a third against glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `--help` says after the flags.
const AFTER_HELP: &str = "\
Configuration layers, later wins: built-in defaults, the --config file, the
environment, then these flags. Every key of the file can be set in the
environment as KURENTO_EXPORTER__SECTION__KEY, for example
KURENTO_EXPORTER__SCRAPE__INTERVAL=5s or KURENTO_EXPORTER__LOG__LEVEL=debug
(RUST_LOG, when set, replaces log.level). Every key with its default:
deploy/kurento-exporter.toml.

Logs go to stderr, coloured only on a terminal and never when NO_COLOR is set.
The console is served at / on the listen address.";

/// Prometheus exporter, zombie reaper and console for Kurento Media Server.
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "KURENTO_EXPORTER_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// A KMS to watch, `ws://host:8888/kurento` or `name=ws://...`; repeatable.
    /// Replaces the file's targets.
    #[arg(long = "kms", value_name = "[NAME=]URL", global = true)]
    kms: Vec<String>,
    /// HTTP address of the console, /metrics, /healthz, /readyz and the API
    /// [default: 0.0.0.0:9787; demo: 127.0.0.1:9787]
    #[arg(long, value_name = "ADDR", global = true)]
    listen: Option<SocketAddr>,
    /// Log format [default: human]
    #[arg(long = "log.format", value_enum, value_name = "FORMAT", global = true)]
    log_format: Option<LogFormat>,
    /// Log filter: LEVEL or TARGET=LEVEL, comma-separated; LEVEL is trace,
    /// debug, info, warn, error or off [default: info]
    #[arg(long = "log.level", value_name = "FILTER", global = true)]
    log_level: Option<String>,
    /// Web config file (TLS and basic auth, in Prometheus exporter-toolkit's
    /// format); sets http.web_config_file
    #[arg(long = "web.config.file", value_name = "FILE", global = true)]
    web_config_file: Option<PathBuf>,
    /// Validate the configuration (with the web config file's certificate,
    /// key and hashes) and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run against the built-in KMS simulator with a leaky conference
    /// scenario: zombies flagged and released in about a minute and a half.
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

/// Colours on stderr: only on a terminal, never with `NO_COLOR` set to
/// anything non-empty (no-color.org).
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours())
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
        log_format: cli.log_format,
        log_level: cli.log_level.clone(),
        web_config_file: cli.web_config_file.clone(),
    };
    let demo = demo_addrs(&cli.command);
    let load = |overrides: &Overrides| Config::load(cli.config.as_deref(), overrides);
    let cfg = load(&overrides)?;
    if cfg.targets.is_empty() && demo.is_none() {
        eprintln!("{NO_TARGET}");
        std::process::exit(NO_TARGET_STATUS);
    }
    if cli.check_config {
        let web = cfg
            .http
            .web_config_file
            .as_ref()
            .map_or(String::new(), |f| format!(", web config {}", f.display()));
        println!(
            "configuration is valid: {} target(s), listen {}{web}",
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

/// `addr` as a browser can open it (an unspecified address as loopback).
#[cfg(feature = "demo")]
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
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
    if let Some((sim_listen, sim_control)) = demo {
        return run_demo(cfg, sim_listen, sim_control, file, overrides).await;
    }
    let _ = demo;
    let daemon = Daemon::start(cfg).await?;
    run_until_signal(daemon, move || {
        let c = Config::load(file.as_deref(), &overrides)?;
        if c.targets.is_empty() {
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

/// The demo: simulator, demo configuration, daemon, narration.
#[cfg(feature = "demo")]
async fn run_demo(
    cfg: Config,
    sim_listen: SocketAddr,
    sim_control: SocketAddr,
    file: Option<PathBuf>,
    overrides: Overrides,
) -> anyhow::Result<()> {
    use kurento_exporter::demo;
    let sim = demo::start_simulator(sim_listen, sim_control).await?;
    let audit = demo::audit_dir();
    std::fs::create_dir_all(&audit)
        .with_context(|| format!("creating the demo's audit folder {}", audit.display()))?;
    let url = sim.ws_url();
    let loopback = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        Config::default().listen.port(),
    );
    let setup = move |c: Config| {
        let mut c = demo::demo_config(c, &url, &audit);
        if c.listen == Config::default().listen {
            c.listen = loopback;
        }
        c.validate().map(|()| c).map_err(ConfigError::Invalid)
    };
    let cfg = setup(cfg)?;
    let daemon = Daemon::start(cfg.clone()).await?;
    let http = reachable(daemon.addr());
    let control = sim
        .control_url()
        .unwrap_or_else(|| format!("http://{sim_control}"));
    println!("kurento-exporter demo: a simulated KMS with a leaky conference");
    let scheme = if daemon.serves_tls() { "https" } else { "http" };
    println!("  console        {scheme}://{http}/");
    println!("  zombies        {scheme}://{http}/api/v1/zombies");
    println!("  metrics        {scheme}://{http}/metrics");
    println!(
        "  ground truth   {control}/truth  (the simulator's objects, zombies and release ledger)"
    );
    println!("  simulated KMS  {}", sim.ws_url());
    println!(
        "Rules are the shipped ones scaled down {}x and set to release, for this demo only; the reaper \
         enforces on the simulator. Zombies are flagged within about a minute and released soon after. \
         Audit log: {}. Ctrl-C stops.",
        demo::DEMO_SPEEDUP,
        cfg.reaper
            .audit_log
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string())
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let narrator = tokio::spawn(demo::narrate(
        daemon.reaper().board().clone(),
        sim.clone(),
        stop.clone(),
    ));
    let result = run_until_signal(daemon, move || {
        setup(Config::load(file.as_deref(), &overrides)?)
    })
    .await
    .context("installing signal handlers");
    stop.cancel();
    let _ = narrator.await;
    sim.shutdown().await;
    result
}
