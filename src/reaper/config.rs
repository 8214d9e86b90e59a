//! The `[reaper]` section: what the reaper may do per target (mode), its rate
//! limits, the audit log, the manual-release token and the application-session
//! source; validated with the key and the bad value in every problem.
//!
//! ```toml
//! [reaper]
//! mode = "observe"            # observe | dry-run | enforce (per target: targets[].reaper_mode)
//! audit_log = "/var/lib/kurento-exporter/audit.jsonl"
//! max_stale_cycles = 3
//! releases_per_hour = 120
//! release_spacing = "1s"
//! release_timeout = "10s"
//! queue_capacity = 256
//! api_token_file = "/etc/kurento-exporter/token"
//! [reaper.sessions]
//! url = "http://app.internal:8080/live-sessions"   # or file = "/run/app/sessions.json"
//! refresh = "30s"
//! timeout = "5s"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problem::{Problem, Problems};

/// What the reaper does with release decisions on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
pub enum Mode {
    /// Flag only (metric, log, API, audit).
    #[default]
    #[serde(rename = "observe")]
    Observe,
    /// Log, audit and count what would be released; release nothing.
    #[serde(rename = "dry-run")]
    DryRun,
    /// Release, under every safety check.
    #[serde(rename = "enforce")]
    Enforce,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Observe, Mode::DryRun, Mode::Enforce];

    /// The configuration spelling, also the `mode` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }
}

/// Everything under `[reaper]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReaperConfig {
    /// Mode of every target that sets no `reaper_mode` of its own.
    pub mode: Mode,
    /// JSON-lines audit trail; required when any target enforces or dry-runs.
    pub audit_log: Option<PathBuf>,
    /// No action while the target's last sync failed or is older than this
    /// many scrape intervals.
    pub max_stale_cycles: u32,
    /// Token bucket per target: releases per hour (also the burst size).
    pub releases_per_hour: u32,
    /// Least time between two releases on a target.
    #[serde(with = "humantime_serde")]
    pub release_spacing: Duration,
    /// Time allowed for the flow re-read plus the release of one object.
    #[serde(with = "humantime_serde")]
    pub release_timeout: Duration,
    /// Releases waiting for the actuator, all targets together.
    pub queue_capacity: usize,
    /// Bearer token of `POST /api/v1/objects/{id}/release` (and other
    /// mutating API calls); none = those calls are disabled.
    pub api_token: Option<String>,
    /// File holding the token (first line), instead of `api_token`.
    pub api_token_file: Option<PathBuf>,
    /// Where the application publishes its live session ids.
    pub sessions: Option<SessionSourceConfig>,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        ReaperConfig {
            mode: Mode::Observe,
            audit_log: None,
            max_stale_cycles: 3,
            releases_per_hour: 120,
            release_spacing: Duration::from_secs(1),
            release_timeout: Duration::from_secs(10),
            queue_capacity: 256,
            api_token: None,
            api_token_file: None,
            sessions: None,
        }
    }
}

/// The application's list of live session ids: a JSON array of strings (or
/// `{"sessions": [...]}`), read from a URL or a file, refreshed periodically.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSourceConfig {
    /// `http://host:port/path` (plain HTTP/1.1).
    pub url: Option<String>,
    pub file: Option<PathBuf>,
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// A read older than this is treated as unknown (default: 3 × refresh).
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

fn default_refresh() -> Duration {
    Duration::from_secs(30)
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl SessionSourceConfig {
    pub fn max_age(&self) -> Duration {
        self.max_age.unwrap_or(self.refresh * 3)
    }
}

/// Shortest accepted API token.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why `t` cannot serve as a bearer token: too short, or holding
/// whitespace (which a request header can never carry back intact).
fn token_problem(t: &str) -> Result<(), &'static str> {
    if t.chars().any(char::is_whitespace) {
        return Err("must not contain spaces, tabs or line breaks (it could never match)");
    }
    if t.chars().count() < MIN_TOKEN_CHARS {
        return Err("must be at least 16 characters");
    }
    if t.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err("must be printable ASCII (an HTTP header cannot carry more)");
    }
    Ok(())
}

/// A token as shown in an error: its length, never its characters.
fn redacted(t: &str) -> String {
    format!("<redacted, {} characters>", t.chars().count())
}

impl ReaperConfig {
    /// The bearer token, read from `api_token` or `api_token_file`.
    pub fn token(&self) -> Result<Option<String>, std::io::Error> {
        if let Some(t) = &self.api_token {
            return Ok(Some(t.clone()));
        }
        match &self.api_token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)?;
                let line = text.lines().next().unwrap_or("").trim().to_string();
                Ok((!line.is_empty()).then_some(line))
            }
            None => Ok(None),
        }
    }

    /// Problems of this section; `modes` are the effective modes of the targets.
    pub fn problems(&self, modes: &[(String, Mode)]) -> Vec<Problem> {
        let mut out = Problems::default();
        let mut fail = |key: &str, value: String, reason: &str| out.fail(key, value, reason);
        let acting: Vec<&str> = modes
            .iter()
            .filter(|(_, m)| *m != Mode::Observe)
            .map(|(n, _)| n.as_str())
            .collect();
        if self.audit_log.is_none() && !acting.is_empty() {
            fail(
                "reaper.audit_log",
                String::new(),
                &format!(
                    "must be set when a target is in dry-run or enforce mode (targets: {})",
                    acting.join(", ")
                ),
            );
        }
        if let Some(p) = &self.audit_log {
            if p.as_os_str().is_empty() || p.is_dir() {
                fail(
                    "reaper.audit_log",
                    p.display().to_string(),
                    "must be a file path",
                );
            }
        }
        if self.max_stale_cycles == 0 {
            fail("reaper.max_stale_cycles", "0".into(), "must be at least 1");
        }
        if self.releases_per_hour == 0 {
            fail(
                "reaper.releases_per_hour",
                "0".into(),
                "must be at least 1 (use mode = \"observe\" to release nothing)",
            );
        }
        if self.release_timeout.is_zero() {
            fail(
                "reaper.release_timeout",
                "0s".into(),
                "must be greater than zero",
            );
        }
        if !(1..=100_000).contains(&self.queue_capacity) {
            fail(
                "reaper.queue_capacity",
                self.queue_capacity.to_string(),
                "must be between 1 and 100000",
            );
        }
        if self.api_token.is_some() && self.api_token_file.is_some() {
            fail(
                "reaper.api_token_file",
                self.api_token_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                "set either api_token or api_token_file, not both",
            );
        }
        if let Some(t) = &self.api_token {
            if let Err(why) = token_problem(t) {
                // The token itself is never printed.
                fail("reaper.api_token", redacted(t), why);
            }
        }
        if let Some(p) = &self.api_token_file {
            match self.token() {
                Ok(Some(t)) => {
                    if let Err(why) = token_problem(&t) {
                        fail(
                            "reaper.api_token_file",
                            p.display().to_string(),
                            &format!("first line: {why}"),
                        );
                    }
                }
                Ok(None) => fail(
                    "reaper.api_token_file",
                    p.display().to_string(),
                    "first line must hold a token of at least 16 characters",
                ),
                Err(e) => fail(
                    "reaper.api_token_file",
                    p.display().to_string(),
                    &format!("cannot be read: {e}"),
                ),
            }
        }
        if let Some(s) = &self.sessions {
            match (&s.url, &s.file) {
                (None, None) | (Some(_), Some(_)) => fail(
                    "reaper.sessions",
                    String::new(),
                    "set exactly one of url or file",
                ),
                (Some(u), None) if !u.starts_with("http://") => {
                    fail("reaper.sessions.url", u.clone(), "must be an http:// URL")
                }
                _ => {}
            }
            if s.refresh.is_zero() {
                fail(
                    "reaper.sessions.refresh",
                    "0s".into(),
                    "must be greater than zero",
                );
            }
            if s.timeout.is_zero() {
                fail(
                    "reaper.sessions.timeout",
                    "0s".into(),
                    "must be greater than zero",
                );
            }
        }
        out.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: Vec<Problem>) -> Vec<String> {
        p.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn defaults_are_valid_and_observe() {
        let c = ReaperConfig::default();
        assert_eq!(c.mode, Mode::Observe);
        assert!(c.problems(&[("kms".into(), Mode::Observe)]).is_empty());
    }

    #[test]
    fn acting_modes_need_an_audit_log() {
        let c = ReaperConfig::default();
        let p = c.problems(&[("kms-1".into(), Mode::Enforce)]);
        assert_eq!(keys(p.clone()), vec!["reaper.audit_log"]);
        assert!(p[0].reason.contains("kms-1"), "{p:?}");
    }

    #[test]
    fn each_bad_value_is_named() {
        let c = ReaperConfig {
            max_stale_cycles: 0,
            releases_per_hour: 0,
            release_timeout: Duration::ZERO,
            queue_capacity: 0,
            api_token: Some("short".into()),
            sessions: Some(SessionSourceConfig {
                url: Some("https://x".into()),
                file: None,
                refresh: Duration::ZERO,
                timeout: Duration::from_secs(1),
                max_age: None,
            }),
            ..ReaperConfig::default()
        };
        assert_eq!(
            keys(c.problems(&[])),
            vec![
                "reaper.max_stale_cycles",
                "reaper.releases_per_hour",
                "reaper.release_timeout",
                "reaper.queue_capacity",
                "reaper.api_token",
                "reaper.sessions.url",
                "reaper.sessions.refresh",
            ]
        );
    }

    #[test]
    fn mode_spelling() {
        #[derive(Deserialize)]
        struct W {
            m: Mode,
        }
        let w: W = toml::from_str("m = \"dry-run\"").unwrap();
        assert_eq!(w.m, Mode::DryRun);
        assert!(toml::from_str::<W>("m = \"dry_run\"").is_err());
        assert_eq!(Mode::DryRun.as_str(), "dry-run");
    }
}
