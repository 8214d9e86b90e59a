//! The `[cluster]` section: where etcd is, the cluster's name (the prefix of
//! its keys), this member's id and the lease timings; checked before start,
//! each problem naming its key and value. Off when `endpoints` is empty: a
//! single daemon then behaves as if there were no cluster at all.

use std::time::Duration;

use serde::Deserialize;

use crate::problem::{Problem, Problems, MAX_PERIOD, MAX_TIMEOUT};

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// etcd client URLs (`http://host:2379`); empty: no cluster.
    pub endpoints: Vec<String>,
    /// The cluster's name: every key lives under `/<name>/`.
    pub name: String,
    /// This member's id; empty: the host name (a StatefulSet pod's name).
    pub member: String,
    /// Lifetime of the member's lease: a member that stops renewing it is
    /// gone after this long, and its targets move.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How often the lease is renewed.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// A member that has not renewed its lease for this long stops
    /// releasing (shorter than `lease_ttl`, so it stops before another
    /// member can take the target's lock).
    #[serde(with = "humantime_serde")]
    pub renew_deadline: Duration,
    /// Longest wait for one etcd request (and for a connection).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A member missing from the member list stays "alive" for the sweep of
    /// leftovers this long (a member re-registering after an etcd outage
    /// must not lose its probe and players).
    #[serde(with = "humantime_serde")]
    pub departed_grace: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            endpoints: Vec::new(),
            name: "kurento-exporter".into(),
            member: String::new(),
            lease_ttl: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(2),
            renew_deadline: Duration::from_secs(6),
            request_timeout: Duration::from_secs(2),
            departed_grace: Duration::from_secs(30),
        }
    }
}

/// Characters of a cluster name or a member id: they go into etcd keys,
/// KMS tags and label values.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
}

impl ClusterConfig {
    /// Whether the daemon runs as a member of a cluster.
    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// This member's id: `member`, else the host name.
    pub fn member_id(&self) -> String {
        if self.member.is_empty() {
            host_name().unwrap_or_default()
        } else {
            self.member.clone()
        }
    }

    /// The problems of the section (none when the cluster is off).
    pub fn problems(&self) -> Vec<Problem> {
        let mut c = Problems::default();
        if !self.enabled() {
            return c.into_vec();
        }
        if !cfg!(feature = "cluster") {
            c.fail(
                "cluster.endpoints",
                self.endpoints.join(","),
                "this build has no cluster support (build with `--features cluster`)",
            );
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let ok = e
                .strip_prefix("http://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
            if !ok {
                c.fail(
                    format!("cluster.endpoints[{i}]"),
                    e,
                    "must be http://host:port (etcd's client URL, no path; TLS is not supported)",
                );
            }
        }
        if !is_id(&self.name) {
            c.fail(
                "cluster.name",
                &self.name,
                "must be 1 to 63 letters, digits, '-', '_' or '.'",
            );
        }
        let member = self.member_id();
        if !is_id(&member) {
            let key = if self.member.is_empty() {
                "cluster.member (the host name)"
            } else {
                "cluster.member"
            };
            c.fail(
                key,
                &member,
                "must be 1 to 63 letters, digits, '-', '_' or '.'",
            );
        }
        let secs = |d: Duration| humantime::format_duration(d).to_string();
        if self.lease_ttl < Duration::from_secs(2) || self.lease_ttl.subsec_nanos() != 0 {
            c.fail(
                "cluster.lease_ttl",
                secs(self.lease_ttl),
                "must be whole seconds, at least 2s (etcd leases count seconds)",
            );
        }
        c.at_most("cluster.lease_ttl", self.lease_ttl, MAX_PERIOD, "period");
        c.positive("cluster.keepalive_interval", self.keepalive_interval);
        if self.keepalive_interval * 2 > self.renew_deadline {
            c.fail(
                "cluster.keepalive_interval",
                secs(self.keepalive_interval),
                format!(
                    "must be at most half of cluster.renew_deadline ({}), so a lost renewal is retried in time",
                    secs(self.renew_deadline)
                ),
            );
        }
        if self.renew_deadline >= self.lease_ttl {
            c.fail(
                "cluster.renew_deadline",
                secs(self.renew_deadline),
                format!(
                    "must be shorter than cluster.lease_ttl ({}): a member stops releasing before its lease can expire",
                    secs(self.lease_ttl)
                ),
            );
        }
        c.positive("cluster.request_timeout", self.request_timeout);
        c.at_most(
            "cluster.request_timeout",
            self.request_timeout,
            MAX_TIMEOUT,
            "timeout",
        );
        c.at_most(
            "cluster.departed_grace",
            self.departed_grace,
            MAX_PERIOD,
            "period",
        );
        c.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> ClusterConfig {
        ClusterConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            member: "m-0".into(),
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn off_by_default_and_without_problems() {
        let c = ClusterConfig::default();
        assert!(!c.enabled());
        assert!(c.problems().is_empty());
    }

    #[test]
    fn the_defaults_are_valid_when_on() {
        let problems = on().problems();
        if cfg!(feature = "cluster") {
            assert!(problems.is_empty(), "{problems:?}");
        } else {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].key, "cluster.endpoints");
        }
    }

    #[test]
    fn problems_name_their_keys_and_values() {
        let c = ClusterConfig {
            endpoints: vec!["etcd:2379".into(), "http://a:1/x".into()],
            name: "a/b".into(),
            member: "has space".into(),
            lease_ttl: Duration::from_millis(1500),
            keepalive_interval: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(9),
            request_timeout: Duration::ZERO,
            departed_grace: Duration::from_secs(10),
        };
        let p = c.problems();
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "cluster.endpoints[0]",
            "cluster.endpoints[1]",
            "cluster.name",
            "cluster.member",
            "cluster.lease_ttl",
            "cluster.renew_deadline",
            "cluster.request_timeout",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let ttl = p
            .iter()
            .find(|p| p.key == "cluster.lease_ttl")
            .map(|p| p.value.clone());
        assert_eq!(ttl.as_deref(), Some("1s 500ms"));
        let bad = ClusterConfig {
            keepalive_interval: Duration::from_secs(4),
            ..on()
        };
        assert!(bad
            .problems()
            .iter()
            .any(|p| p.key == "cluster.keepalive_interval" && p.value == "4s"));
    }
}
