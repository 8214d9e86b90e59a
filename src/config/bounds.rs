//! Upper bounds of every duration of the configuration, by kind
//! (`problem::MAX_TIMEOUT`, `MAX_PERIOD`, `MAX_AGE`): a value such as `500y`
//! is refused with its key instead of overflowing a timer or holding a
//! state for ever. Zero and ordering checks stay with each section.

use std::time::Duration;

use super::Config;
use crate::problem::{Problems, MAX_AGE, MAX_PERIOD, MAX_TIMEOUT};

pub(super) fn check(cfg: &Config, c: &mut Problems) {
    let timeouts: Vec<(String, Duration)> = [
        ("shutdown_grace", cfg.shutdown_grace),
        ("http.header_read_timeout", cfg.http.header_read_timeout),
        ("http.body_read_timeout", cfg.http.body_read_timeout),
        ("http.write_timeout", cfg.http.write_timeout),
        ("http.accept_backoff_max", cfg.http.accept_backoff_max),
        ("scrape.request_timeout", cfg.scrape.request_timeout),
        ("scrape.keepalive_timeout", cfg.scrape.keepalive_timeout),
        ("api.live_timeout", cfg.api.live_timeout),
        ("api.player_wait", cfg.api.player_wait),
        ("reaper.release_timeout", cfg.reaper.release_timeout),
        ("probe.timeout", cfg.probe.timeout),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_string(), d))
    .chain(
        cfg.reaper
            .sessions
            .iter()
            .map(|s| ("reaper.sessions.timeout".to_string(), s.timeout)),
    )
    .collect();
    let periods: Vec<(String, Duration)> = [
        ("scrape.interval", cfg.scrape.interval),
        ("scrape.state_interval", cfg.scrape.state_interval),
        (
            "scrape.settled_state_interval",
            cfg.scrape.settled_state_interval,
        ),
        ("scrape.keepalive_interval", cfg.scrape.keepalive_interval),
        (
            "scrape.reconnect_backoff_max",
            cfg.scrape.reconnect_backoff_max,
        ),
        ("reaper.release_spacing", cfg.reaper.release_spacing),
        ("probe.interval", cfg.probe.interval),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_string(), d))
    .chain(
        cfg.reaper
            .sessions
            .iter()
            .map(|s| ("reaper.sessions.refresh".to_string(), s.refresh)),
    )
    .collect();
    let mut ages: Vec<(String, Duration)> = Vec::new();
    if let Some(g) = cfg.policy.flow_grace {
        ages.push(("policy.flow_grace".into(), g));
    }
    for (i, r) in cfg.policy.rules.iter().enumerate() {
        ages.push((format!("policy.rules[{i}].min_age"), r.min_age));
        ages.push((format!("policy.rules[{i}].when"), r.when.longest()));
    }
    if let Some(a) = cfg.reaper.sessions.as_ref().and_then(|s| s.max_age) {
        ages.push(("reaper.sessions.max_age".into(), a));
    }
    for (list, max, kind) in [
        (timeouts, MAX_TIMEOUT, "timeout"),
        (periods, MAX_PERIOD, "period"),
        (ages, MAX_AGE, "age"),
    ] {
        for (key, d) in list {
            c.at_most(key, d, max, kind);
        }
    }
}
