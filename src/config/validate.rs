//! Semantic checks of a parsed `Config`: each problem names the key, the bad
//! value and what would be accepted.

use std::collections::HashSet;
use std::time::Duration;

use super::Config;
use crate::problem::{Problem, Problems};

/// Labels the exporter sets itself or Prometheus attaches: a tag label may not reuse them.
const RESERVED_LABELS: &[&str] = &[
    "kms",
    "pipeline",
    "element",
    "element_type",
    "name",
    "media",
    "direction",
    "state",
    "source",
    "sink",
    "rule",
    "instance",
    "job",
    "le",
    "quantile",
];

pub(super) fn problems(cfg: &Config) -> Vec<Problem> {
    let mut c = Problems::default();
    let s = &cfg.scrape;
    c.positive("scrape.interval", s.interval);
    c.positive("scrape.request_timeout", s.request_timeout);
    c.positive("scrape.keepalive_interval", s.keepalive_interval);
    c.positive("scrape.keepalive_timeout", s.keepalive_timeout);
    c.positive("scrape.reconnect_backoff_max", s.reconnect_backoff_max);
    if !(1..=10).contains(&s.keepalive_failures) {
        c.fail(
            "scrape.keepalive_failures",
            s.keepalive_failures,
            "must be between 1 and 10",
        );
    }
    if !(1..=1000).contains(&s.stale_series_cycles) {
        c.fail(
            "scrape.stale_series_cycles",
            s.stale_series_cycles,
            "must be between 1 and 1000",
        );
    }
    if !(1..=9).contains(&cfg.metrics.gzip_level) {
        c.fail(
            "metrics.gzip_level",
            cfg.metrics.gzip_level,
            "must be between 1 and 9",
        );
    }
    if s.max_timeout_percent > 100 {
        c.fail(
            "scrape.max_timeout_percent",
            s.max_timeout_percent,
            "must be between 0 and 100",
        );
    }
    c.positive("shutdown_grace", cfg.shutdown_grace);
    c.positive("http.header_read_timeout", cfg.http.header_read_timeout);
    c.positive("http.body_read_timeout", cfg.http.body_read_timeout);
    c.positive("http.write_timeout", cfg.http.write_timeout);
    c.positive("http.accept_backoff_max", cfg.http.accept_backoff_max);
    c.range(
        "http.max_body_bytes",
        cfg.http.max_body_bytes,
        1024,
        16 << 20,
    );
    c.range("http.max_connections", cfg.http.max_connections, 8, 65_536);
    c.range(
        "http.max_concurrent_renders",
        cfg.http.max_concurrent_renders,
        1,
        64,
    );
    if let Some(path) = &cfg.http.web_config_file {
        // Read and built as the server will (certificate, key, hashes).
        if let Err(e) = crate::web::Web::load(Some(path)) {
            c.fail("http.web_config_file", path.display(), e.to_string());
        }
    }
    if s.state_interval < s.interval {
        c.fail(
            "scrape.state_interval",
            humantime::format_duration(s.state_interval),
            "must be at least scrape.interval",
        );
    }
    c.range("scrape.concurrency", s.concurrency, 1, 4096);
    c.range("scrape.max_endpoints", s.max_endpoints, 1, 1_000_000);
    c.range(
        "http.max_header_bytes",
        cfg.http.max_header_bytes,
        1024,
        1 << 20,
    );
    let mut labels = HashSet::new();
    for (i, label) in s.tag_labels.iter().enumerate() {
        let key = format!("scrape.tag_labels[{i}]");
        if !is_label_name(label) {
            c.fail(
                key,
                label,
                "not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
            );
        } else if RESERVED_LABELS.contains(&label.as_str()) {
            c.fail(
                key,
                label,
                "clashes with a label the exporter or Prometheus sets",
            );
        } else if !labels.insert(label) {
            c.fail(key, label, "listed twice");
        }
    }
    let mut names = HashSet::new();
    for (i, t) in cfg.targets.iter().enumerate() {
        if t.name.is_empty() || t.name.chars().any(|ch| ch.is_control()) {
            c.fail(
                format!("targets[{i}].name"),
                &t.name,
                "must be a non-empty printable string",
            );
        } else if !names.insert(t.name.as_str()) {
            c.fail(
                format!("targets[{i}].name"),
                &t.name,
                "another target has this name",
            );
        }
        if let Err(why) = check_ws_url(&t.url) {
            c.fail(format!("targets[{i}].url"), &t.url, why);
        }
    }
    for (i, r) in cfg.readiness.targets.iter().enumerate() {
        if !names.contains(r.as_str()) {
            c.fail(
                format!("readiness.targets[{i}]"),
                r,
                "names no configured target",
            );
        }
    }
    let api = &cfg.api;
    c.positive("api.watch_max", api.watch_max);
    c.positive("api.watch_default", api.watch_default);
    c.positive("api.live_timeout", api.live_timeout);
    if api.watch_max > Duration::from_secs(3600) {
        c.fail(
            "api.watch_max",
            humantime::format_duration(api.watch_max),
            "must be at most 1h (a watch keeps the element referenced)",
        );
    }
    if api.watch_default > api.watch_max {
        c.fail(
            "api.watch_default",
            humantime::format_duration(api.watch_default),
            "must be at most api.watch_max",
        );
    }
    c.range("api.max_watches", api.max_watches, 1, 256);
    c.positive("api.player_ttl", api.player_ttl);
    c.positive("api.player_wait", api.player_wait);
    if api.player_ttl > Duration::from_secs(3600) {
        c.fail(
            "api.player_ttl",
            humantime::format_duration(api.player_ttl),
            "must be at most 1h (an attached player keeps its pipeline referenced)",
        );
    }
    c.range("api.max_players", api.max_players, 1, 64);
    c.range("api.live_max_concurrent", api.live_max_concurrent, 1, 64);
    if !(api.live_reads_per_second > 0.0 && api.live_reads_per_second <= 1000.0) {
        c.fail(
            "api.live_reads_per_second",
            api.live_reads_per_second,
            "must be greater than 0 and at most 1000",
        );
    }
    for (i, p) in api.player_uri_prefixes.iter().enumerate() {
        let key = format!("api.player_uri_prefixes[{i}]");
        let scheme_ok = ["file:///", "http://", "https://", "rtsp://"]
            .iter()
            .any(|s| p.starts_with(s));
        if !scheme_ok {
            c.fail(
                key,
                p,
                "must start with file:///, http://, https:// or rtsp://",
            );
        } else if !p.ends_with('/') {
            c.fail(
                key,
                p,
                "must end with / (a directory or a whole host, not a name prefix)",
            );
        } else if p.split('/').any(|s| s == "." || s == "..")
            || p.contains('%')
            || p.chars().any(|ch| ch.is_whitespace() || ch.is_control())
        {
            c.fail(
                key,
                p,
                "no dot segments, percent escapes, whitespace or control characters",
            );
        }
    }
    let target_names: Vec<&str> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
    for (key, value, reason) in cfg.probe.problems(&target_names) {
        c.fail(key, value, &reason);
    }
    c.extend(cfg.log.problems());
    c.extend(cfg.cluster.problems());
    c.extend(cfg.policy.problems());
    let modes: Vec<(String, crate::reaper::Mode)> = cfg
        .targets
        .iter()
        .map(|t| (t.name.clone(), t.mode(&cfg.reaper)))
        .collect();
    c.extend(cfg.reaper.problems(&modes));
    super::bounds::check(cfg, &mut c);
    c.into_vec()
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && !s.starts_with("__")
}

fn check_ws_url(url: &str) -> Result<(), &'static str> {
    let uri: tokio_tungstenite::tungstenite::http::Uri = url
        .parse()
        .map_err(|_| "not a URL (expected ws://host:port/kurento or wss://...)")?;
    match uri.scheme_str() {
        Some("ws") | Some("wss") => {}
        _ => return Err("scheme must be ws or wss"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("URL has no host");
    }
    // The port as written: `Uri` accepts any digits there.
    if let Some(p) = uri.authority().and_then(|a| port_of(a.as_str())) {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err("port must be a number between 1 and 65535"),
        }
    }
    Ok(())
}

/// The port part of an authority (`user@host:port`, `[v6]:port`), if any.
fn port_of(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    after_host.strip_prefix(':')
}
