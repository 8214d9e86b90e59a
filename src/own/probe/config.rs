//! The `[probe]` settings: whether and where the probe runs, how often, what
//! its player plays, how long a run may take; and their problems.

use std::time::Duration;

use serde::Deserialize;

use crate::own::player::playable;

/// The `[probe]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Run the probe at all (off by default: it creates media objects).
    pub enabled: bool,
    /// Period between two runs on a target.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Media the probe's PlayerEndpoint plays (`file://`, `http://`, `rtsp://`).
    pub uri: String,
    /// Longest run, from connecting to media flowing at the second endpoint.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Targets probed; empty = every target.
    pub targets: Vec<String>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            enabled: false,
            interval: Duration::from_secs(300),
            uri: "file:///usr/share/kurento/probe.webm".into(),
            timeout: Duration::from_secs(30),
            targets: Vec::new(),
        }
    }
}

impl ProbeConfig {
    /// Whether `target` is probed.
    pub fn probes(&self, target: &str) -> bool {
        self.enabled && (self.targets.is_empty() || self.targets.iter().any(|t| t == target))
    }

    /// Problems of these settings: (key, value, reason).
    pub fn problems(&self, target_names: &[&str]) -> Vec<(String, String, String)> {
        let mut v = Vec::new();
        let mut fail = |k: &str, val: String, why: &str| v.push((k.into(), val, why.into()));
        if self.interval < Duration::from_millis(100) {
            fail(
                "probe.interval",
                humantime::format_duration(self.interval).to_string(),
                "must be at least 100ms",
            );
        }
        if self.timeout.is_zero() || self.timeout > self.interval {
            fail(
                "probe.timeout",
                humantime::format_duration(self.timeout).to_string(),
                "must be greater than zero and at most probe.interval",
            );
        }
        if !playable(&self.uri) {
            fail(
                "probe.uri",
                self.uri.clone(),
                "must be a file://, http(s):// or rtsp:// URI",
            );
        }
        for (i, t) in self.targets.iter().enumerate() {
            if !target_names.contains(&t.as_str()) {
                fail(
                    &format!("probe.targets[{i}]"),
                    t.clone(),
                    "names no configured target",
                );
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_valid() {
        let c = ProbeConfig::default();
        assert!(!c.enabled && !c.probes("a"));
        assert!(c.problems(&["a"]).is_empty());
    }

    #[test]
    fn problems_name_their_keys() {
        let c = ProbeConfig {
            enabled: true,
            interval: Duration::from_millis(10),
            uri: "nope".into(),
            timeout: Duration::ZERO,
            targets: vec!["b".into()],
        };
        let keys: Vec<String> = c.problems(&["a"]).into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "probe.interval",
                "probe.timeout",
                "probe.uri",
                "probe.targets[0]"
            ]
        );
        let on = ProbeConfig {
            enabled: true,
            targets: vec!["a".into()],
            ..ProbeConfig::default()
        };
        assert!(on.probes("a") && !on.probes("b"));
    }
}
