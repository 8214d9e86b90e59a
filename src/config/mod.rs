//! The daemon's configuration: typed, layered and validated before start-up.
//!
//! Layers, later wins: built-in defaults → TOML file (`--config`) → environment
//! (`KURENTO_EXPORTER__SECTION__KEY`) → command-line flags (`--kms`, `--listen`,
//! `--log.format`, `--log.level`, `--web.config.file`).
//! Unknown keys are rejected; `validate` checks every value and names the key
//! and the bad value of each problem it finds.

mod bounds;
mod validate;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::problem::Problem;

/// Prefix of environment overrides, e.g. `KURENTO_EXPORTER__SCRAPE__INTERVAL=5s`.
pub const ENV_PREFIX: &str = "KURENTO_EXPORTER";

/// Everything the daemon reads from its configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the HTTP server (`/metrics`, `/healthz`, `/readyz`, API).
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// How long a SIGTERM/SIGINT drain may take before the process exits.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub scrape: ScrapeConfig,
    pub readiness: ReadinessConfig,
    /// The KMS instances to watch.
    pub targets: Vec<Target>,
    /// Zombie rules and their safety settings (`[policy]`).
    pub policy: crate::policy::PolicyConfig,
    /// What the reaper may do, its limits and audit log (`[reaper]`).
    pub reaper: crate::reaper::ReaperConfig,
    /// The operator API's limits (`[api]`).
    pub api: ApiConfig,
    /// The synthetic media probe (`[probe]`, off by default).
    pub probe: crate::own::ProbeConfig,
    /// What `/metrics` holds beyond the lean default (`[metrics]`).
    pub metrics: crate::metrics::MetricsConfig,
    /// Several daemons sharing the targets through etcd (`[cluster]`, off
    /// by default).
    pub cluster: crate::cluster::ClusterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 9787)),
            shutdown_grace: Duration::from_secs(10),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            scrape: ScrapeConfig::default(),
            readiness: ReadinessConfig::default(),
            targets: Vec::new(),
            policy: crate::policy::PolicyConfig::default(),
            reaper: crate::reaper::ReaperConfig::default(),
            api: ApiConfig::default(),
            probe: crate::own::ProbeConfig::default(),
            metrics: crate::metrics::MetricsConfig::default(),
            cluster: crate::cluster::ClusterConfig::default(),
        }
    }
}

/// One KMS instance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The value of the `kms` label; unique.
    pub name: String,
    /// `ws://host:8888/kurento` or `wss://...`.
    pub url: String,
    /// The reaper's mode on this target; default `reaper.mode`.
    #[serde(default)]
    pub reaper_mode: Option<crate::reaper::Mode>,
}

impl Target {
    /// The reaper mode in force for this target.
    pub fn mode(&self, reaper: &crate::reaper::ReaperConfig) -> crate::reaper::Mode {
        self.reaper_mode.unwrap_or(reaper.mode)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// The levels a `log.level` directive may name.
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

impl LogConfig {
    /// Problems of `log.level`: comma-separated `LEVEL` or `TARGET=LEVEL`
    /// directives (a typo would otherwise read as a target name and log
    /// nothing).
    pub fn problems(&self) -> Vec<Problem> {
        let bad = |reason: &str| Problem {
            key: "log.level".into(),
            value: self.level.clone(),
            reason: reason.into(),
        };
        if self.level.trim().is_empty() {
            return vec![bad(
                "must name a level (trace, debug, info, warn, error, off)",
            )];
        }
        for directive in self.level.split(',').map(str::trim) {
            let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
            if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
                return vec![bad(&format!(
                    "{directive:?}: expected LEVEL or TARGET=LEVEL, LEVEL one of trace, debug, info, warn, error, off"
                ))];
            }
        }
        match tracing_subscriber::EnvFilter::builder().parse(&self.level) {
            Ok(_) => Vec::new(),
            Err(e) => vec![bad(&e.to_string())],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `kurento_exporter=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// Limits of the HTTP server (`[http]`): what one client may hold, so that
/// slow or hostile clients cannot starve `/metrics` or the process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Time allowed to read a request's header.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Largest request header accepted, in bytes.
    pub max_header_bytes: usize,
    /// Time allowed to read a request's body (read only after the token
    /// was checked, and only by the routes that take one).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Open connections at once; beyond, a connection gets a 503 and is
    /// closed (cut to the process's file-descriptor limit less a reserve).
    pub max_connections: usize,
    /// Longest time a response write may make no progress (a client that
    /// stops reading) before the connection is dropped.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Pages (`/metrics`, graph, zombies) rendered at once, off the async
    /// workers; more requests wait. `/healthz` and `/readyz` never wait.
    pub max_concurrent_renders: usize,
    /// Longest pause after failed `accept`s (e.g. out of file descriptors):
    /// the pause doubles from 5ms up to this.
    #[serde(with = "humantime_serde")]
    pub accept_backoff_max: Duration,
    /// TLS and basic auth of the endpoint: a file in exporter-toolkit's web
    /// config format (`crate::web`); none = plain HTTP, no basic auth.
    pub web_config_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            body_read_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            max_connections: 512,
            write_timeout: Duration::from_secs(30),
            max_concurrent_renders: 1,
            accept_backoff_max: Duration::from_secs(1),
            web_config_file: None,
        }
    }
}

/// How KMS is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeConfig {
    /// Period of the stats cycle.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Period of the slower re-read of states, connections and SDPs.
    #[serde(with = "humantime_serde")]
    pub state_interval: Duration,
    /// The same re-read for a settled element: an RTP endpoint receiving
    /// from its peer, or an element without a peer, in a pipeline whose
    /// membership did not change for `state_interval` (a value below
    /// `state_interval` counts as `state_interval`).
    #[serde(with = "humantime_serde")]
    pub settled_state_interval: Duration,
    /// KMS requests in flight per target.
    pub concurrency: usize,
    /// Timeout of one KMS request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// JSON-RPC keep-alive `ping` period.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// Time a keep-alive `ping` may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// Consecutive failed pings after which the connection is dropped (the
    /// target is then down) and redialled; after a failure the next ping
    /// goes at once. A hung KMS is down within about
    /// `keepalive_interval + keepalive_failures × keepalive_timeout`.
    pub keepalive_failures: u32,
    /// Longest pause between two reconnection attempts (the pause doubles
    /// from 100ms, with jitter, up to this).
    #[serde(with = "humantime_serde")]
    pub reconnect_backoff_max: Duration,
    /// Percentage of a cycle's KMS requests that may time out: beyond it
    /// the cycle is not a good sync (`kurento_up` 0, the last-sync time kept).
    pub max_timeout_percent: u32,
    /// A target disconnected, or whose syncs failed this many cycles in a
    /// row, exports no per-object series (elements, endpoints, RTP): its
    /// data is stale. `kurento_up`, the last-sync time and the counts stay.
    pub stale_series_cycles: u32,
    /// Most endpoints per target exported as series; beyond, series are dropped and counted.
    pub max_endpoints: usize,
    /// Element tags exported as labels of `kurento_element_info` (tag key = label name).
    pub tag_labels: Vec<String>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            interval: Duration::from_secs(10),
            state_interval: Duration::from_secs(120),
            settled_state_interval: Duration::from_secs(1800),
            concurrency: 64,
            request_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(2),
            keepalive_failures: 2,
            reconnect_backoff_max: Duration::from_secs(5),
            max_timeout_percent: 1,
            stale_series_cycles: 2,
            max_endpoints: 20_000,
            tag_labels: Vec::new(),
        }
    }
}

/// The one place attached players may play from by default.
pub const DEFAULT_PLAYER_DIR: &str = "file:///usr/share/kurento/";

/// Limits of the operator API (`/api/v1/...`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Longest watch (`POST /api/v1/elements/{id}/watch`); longer requests are cut to this.
    #[serde(with = "humantime_serde")]
    pub watch_max: Duration,
    /// Duration of a watch that names none.
    #[serde(with = "humantime_serde")]
    pub watch_default: Duration,
    /// Watches running at once, over every target.
    pub max_watches: usize,
    /// Time allowed to a live KMS read of the API (SDPs, GStreamer DOT).
    #[serde(with = "humantime_serde")]
    pub live_timeout: Duration,
    /// How long an attached player (`POST /api/v1/pipelines/{id}/attach-player`)
    /// lives unless deleted earlier.
    #[serde(with = "humantime_serde")]
    pub player_ttl: Duration,
    /// How long an attachment waits for media to flow into and out of its target.
    #[serde(with = "humantime_serde")]
    pub player_wait: Duration,
    /// Attached players at once, over every target.
    pub max_players: usize,
    /// Live KMS reads (SDPs, GStreamer DOT) running at once, per target;
    /// beyond, 429.
    pub live_max_concurrent: usize,
    /// Live KMS reads started per second, per target (as many in a burst);
    /// beyond, 429.
    pub live_reads_per_second: f64,
    /// What an attached player may play: a URI must start with one of these
    /// (scheme, host or directory, ending in `/`). Default: files under
    /// `/usr/share/kurento/` on the KMS host only; empty = no attachment.
    pub player_uri_prefixes: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            watch_max: Duration::from_secs(300),
            watch_default: Duration::from_secs(30),
            max_watches: 8,
            live_timeout: Duration::from_secs(5),
            player_ttl: Duration::from_secs(60),
            player_wait: Duration::from_secs(10),
            max_players: 4,
            live_max_concurrent: 2,
            live_reads_per_second: 5.0,
            player_uri_prefixes: vec![DEFAULT_PLAYER_DIR.into()],
        }
    }
}

/// Which targets `/readyz` waits for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessConfig {
    /// Target names that must have synced once; empty = all targets.
    pub targets: Vec<String>,
}

/// Settings given as command-line flags, applied over file and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--kms [NAME=]URL`, repeatable; replaces the file's targets when given.
    pub kms: Vec<String>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--log.format`.
    pub log_format: Option<LogFormat>,
    /// `--log.level`.
    pub log_level: Option<String>,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration:\n{}", crate::problem::render(.0))]
    Invalid(Vec<Problem>),
}

impl Config {
    /// Load from an optional file, the process environment and flags, then validate.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_with_env(file, std::env::vars().collect(), overrides)
    }

    /// As `load`, with the environment given explicitly (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("scrape.tag_labels")
                .with_list_parse_key("readiness.targets")
                .with_list_parse_key("api.player_uri_prefixes")
                .try_parsing(true)
                .source(Some(env)),
        );
        let mut cfg: Config = builder.build()?.try_deserialize()?;
        cfg.apply(overrides);
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(listen) = o.listen {
            self.listen = listen;
        }
        if let Some(f) = o.log_format {
            self.log.format = f;
        }
        if let Some(l) = &o.log_level {
            self.log.level.clone_from(l);
        }
        if let Some(w) = &o.web_config_file {
            self.http.web_config_file = Some(w.clone());
        }
        if !o.kms.is_empty() {
            self.targets = o.kms.iter().map(|k| target_from_flag(k)).collect();
        }
    }

    /// Every problem of this configuration, each naming its key and value.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// An `address:port` whose error names the value as written.
fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not an address:port (IPv4 or [IPv6], port 0 to 65535)"
        ))
    })
}

/// `--kms ws://host:port/kurento` (named `host:port`) or `--kms name=ws://...`.
fn target_from_flag(flag: &str) -> Target {
    match flag.split_once('=') {
        Some((name, url)) if !name.contains('/') && !name.contains(':') => Target {
            name: name.to_string(),
            url: url.to_string(),
            reaper_mode: None,
        },
        _ => {
            let authority = flag
                .split_once("://")
                .map_or(flag, |(_, rest)| rest)
                .split('/')
                .next()
                .unwrap_or(flag);
            Target {
                name: authority.to_string(),
                url: flag.to_string(),
                reaper_mode: None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
