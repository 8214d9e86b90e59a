//! Tests of loading, layering and validating the configuration.

use super::*;
use std::io::Write;

fn load_toml(text: &str, env: &[(&str, &str)], o: &Overrides) -> Result<Config, ConfigError> {
    let mut f = tempfile();
    f.1.write_all(text.as_bytes()).unwrap();
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(Some(&f.0), env, o)
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("kx-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    let f = std::fs::File::create(&path).unwrap();
    (path, f)
}

const ONE_TARGET: &str = "[[targets]]\nname = \"a\"\nurl = \"ws://127.0.0.1:8888/kurento\"\n";

fn problems_of(err: ConfigError) -> Vec<Problem> {
    match err {
        ConfigError::Invalid(p) => p,
        other => panic!("expected validation problems, got {other}"),
    }
}

#[test]
fn shipped_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kurento-exporter.toml");
    let cfg = Config::load_with_env(Some(&path), HashMap::new(), &Overrides::default()).unwrap();
    assert_eq!(cfg.targets.len(), 1);
    assert_eq!(cfg.scrape.tag_labels, vec!["room".to_string()]);
    assert_eq!(cfg.scrape.interval, Duration::from_secs(10));
}

#[test]
fn unknown_key_is_named() {
    let err = load_toml(
        &format!("{ONE_TARGET}[scrape]\nintervall = \"5s\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Load(_)), "{msg}");
    assert!(msg.contains("intervall"), "{msg}");
}

#[test]
fn bad_type_names_key() {
    let err = load_toml(
        &format!("{ONE_TARGET}[scrape]\nconcurrency = \"many\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("concurrency") && msg.contains("many"), "{msg}");
}

#[test]
fn every_problem_names_key_and_value() {
    let text = r#"
[scrape]
interval = "0s"
state_interval = "5s"
concurrency = 0
tag_labels = ["room", "kms", "9x", "room"]

[readiness]
targets = ["nope"]

[[targets]]
name = "a"
url = "http://127.0.0.1:8888/kurento"

[[targets]]
name = "a"
url = "ws://127.0.0.1:8888/kurento"
"#;
    let p = problems_of(load_toml(text, &[], &Overrides::default()).unwrap_err());
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("scrape.interval", "0s"),
            ("scrape.concurrency", "0"),
            ("scrape.tag_labels[1]", "kms"),
            ("scrape.tag_labels[2]", "9x"),
            ("scrape.tag_labels[3]", "room"),
            ("targets[0].url", "http://127.0.0.1:8888/kurento"),
            ("targets[1].name", "a"),
            ("readiness.targets[0]", "nope"),
        ]
    );
    let rendered = ConfigError::Invalid(p).to_string();
    assert!(
        rendered.contains(
            "targets[0].url = \"http://127.0.0.1:8888/kurento\": scheme must be ws or wss"
        ),
        "{rendered}"
    );
}

#[test]
fn environment_overrides_file_and_flags_override_both() {
    let env = [
        ("KURENTO_EXPORTER__SCRAPE__INTERVAL", "3s"),
        ("KURENTO_EXPORTER__SCRAPE__TAG_LABELS", "room,tenant"),
        ("KURENTO_EXPORTER__LOG__FORMAT", "json"),
        ("UNRELATED", "x"),
    ];
    let o = Overrides {
        kms: vec![
            "ws://10.0.0.1:8888/kurento".into(),
            "b=wss://kms-b:8433/kurento".into(),
        ],
        listen: Some("127.0.0.1:1234".parse().unwrap()),
        ..Overrides::default()
    };
    let cfg = load_toml(
        &format!("{ONE_TARGET}[scrape]\ninterval = \"20s\"\n"),
        &env,
        &o,
    )
    .unwrap();
    assert_eq!(cfg.scrape.interval, Duration::from_secs(3));
    assert_eq!(
        cfg.scrape.tag_labels,
        vec!["room".to_string(), "tenant".to_string()]
    );
    assert_eq!(cfg.log.format, LogFormat::Json);
    assert_eq!(cfg.listen, "127.0.0.1:1234".parse().unwrap());
    assert_eq!(
        cfg.targets,
        vec![
            Target {
                name: "10.0.0.1:8888".into(),
                url: "ws://10.0.0.1:8888/kurento".into(),
                reaper_mode: None,
            },
            Target {
                name: "b".into(),
                url: "wss://kms-b:8433/kurento".into(),
                reaper_mode: None,
            },
        ]
    );
}

#[test]
fn environment_bad_value_is_named() {
    let err = load_toml(
        ONE_TARGET,
        &[("KURENTO_EXPORTER__SCRAPE__REQUEST_TIMEOUT", "soon")],
        &Overrides::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("soon") && msg.contains("request_timeout"),
        "{msg}"
    );
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load_with_env(
        Some(Path::new("/nonexistent/k.toml")),
        HashMap::new(),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/k.toml"), "{err}");
}

#[test]
fn api_limits_are_checked_and_named() {
    let text =
        format!("{ONE_TARGET}[api]\nwatch_max = \"2h\"\nwatch_default = \"3h\"\nmax_watches = 0\n");
    let p = problems_of(load_toml(&text, &[], &Overrides::default()).unwrap_err());
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("api.watch_max", "2h"),
            ("api.watch_default", "3h"),
            ("api.max_watches", "0"),
        ]
    );
    let cfg = load_toml(
        &format!("{ONE_TARGET}[api]\nwatch_max = \"1m\"\nwatch_default = \"10s\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(cfg.api.watch_max, Duration::from_secs(60));
    assert_eq!(cfg.api.max_watches, 8);
}

#[test]
fn player_and_probe_settings_are_checked_and_named() {
    let text = format!(
        "{ONE_TARGET}[api]\nplayer_ttl = \"2h\"\nmax_players = 0\n\
         [probe]\nenabled = true\ninterval = \"10s\"\ntimeout = \"1m\"\nuri = \"clip.webm\"\ntargets = [\"nope\"]\n"
    );
    let p = problems_of(load_toml(&text, &[], &Overrides::default()).unwrap_err());
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "api.player_ttl",
            "api.max_players",
            "probe.timeout",
            "probe.uri",
            "probe.targets[0]"
        ]
    );
    let cfg = load_toml(ONE_TARGET, &[], &Overrides::default()).unwrap();
    assert_eq!(cfg.api.player_ttl, Duration::from_secs(60));
    assert!(!cfg.probe.enabled, "the probe is off by default");
    let env = [("KURENTO_EXPORTER__PROBE__ENABLED", "true")];
    let cfg = load_toml(ONE_TARGET, &env, &Overrides::default()).unwrap();
    assert!(cfg.probe.enabled && cfg.probe.probes("a"));
}

#[test]
fn log_level_typos_are_refused_naming_key_and_value() {
    for level in ["lots", "kurento_exporter=verbose", "info,", ""] {
        let text = format!("{ONE_TARGET}[log]\nlevel = \"{level}\"\n");
        let p = problems_of(load_toml(&text, &[], &Overrides::default()).unwrap_err());
        assert_eq!(p.len(), 1, "{level}: {p:?}");
        assert_eq!(
            (p[0].key.as_str(), p[0].value.as_str()),
            ("log.level", level)
        );
    }
    let o = Overrides {
        log_level: Some("warn,kurento_exporter::reaper=debug".into()),
        log_format: Some(LogFormat::Json),
        ..Overrides::default()
    };
    let cfg = load_toml(ONE_TARGET, &[], &o).unwrap();
    assert_eq!(cfg.log.level, "warn,kurento_exporter::reaper=debug");
    assert_eq!(cfg.log.format, LogFormat::Json);
}

/// Issue 14, defect 5: each bad setting is refused, naming its key and value.
#[test]
fn bad_configurations_are_refused_with_key_and_value() {
    let dir = std::env::temp_dir().join(format!("kx-token-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let spaced = dir.join("spaced");
    std::fs::write(&spaced, "abcdefgh ijklmnopqrst\n").unwrap();
    let short = dir.join("short");
    std::fs::write(&short, "abc\n").unwrap();
    let target = |url: &str| format!("[[targets]]\nname = \"a\"\nurl = \"{url}\"\n");
    let rule = |min_age: &str, no_flow: &str| {
        format!(
            "[[policy.rules]]\nname = \"r\"\naction = \"flag\"\nmin_age = \"{min_age}\"\n\
             when = {{ no_flow = {{ direction = \"out\", for = \"{no_flow}\" }} }}\n"
        )
    };
    let audit = "audit_log = \"/tmp/kx-audit.jsonl\"\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            target("ws://kms:99999/kurento"),
            "targets[0].url",
            "ws://kms:99999/kurento",
        ),
        (
            target("ws://kms:0/kurento"),
            "targets[0].url",
            "ws://kms:0/kurento",
        ),
        (
            target("wss://[::1]:65536/kurento"),
            "targets[0].url",
            "wss://[::1]:65536/kurento",
        ),
        (
            target("ws://kms:/kurento"),
            "targets[0].url",
            "ws://kms:/kurento",
        ),
        (
            format!("{ONE_TARGET}[scrape]\ninterval = \"500years\"\n"),
            "scrape.interval",
            "500years",
        ),
        (
            format!("{ONE_TARGET}[scrape]\nstate_interval = \"30days\"\n"),
            "scrape.state_interval",
            "30days",
        ),
        (
            format!("{ONE_TARGET}[scrape]\nrequest_timeout = \"1h\"\n"),
            "scrape.request_timeout",
            "1h",
        ),
        (
            format!("{ONE_TARGET}[scrape]\nkeepalive_interval = \"2days\"\n"),
            "scrape.keepalive_interval",
            "2days",
        ),
        (
            format!("{ONE_TARGET}[http]\nheader_read_timeout = \"30m\"\n"),
            "http.header_read_timeout",
            "30m",
        ),
        (
            format!("shutdown_grace = \"1h\"\n{ONE_TARGET}"),
            "shutdown_grace",
            "1h",
        ),
        (
            format!("{ONE_TARGET}[api]\nlive_timeout = \"11m\"\n"),
            "api.live_timeout",
            "11m",
        ),
        (
            format!("{ONE_TARGET}[api]\nplayer_wait = \"1h\"\n"),
            "api.player_wait",
            "1h",
        ),
        (
            format!("{ONE_TARGET}[reaper]\nrelease_timeout = \"20m\"\n"),
            "reaper.release_timeout",
            "20m",
        ),
        (
            format!("{ONE_TARGET}[reaper]\nrelease_spacing = \"2days\"\n"),
            "reaper.release_spacing",
            "2days",
        ),
        (
            format!("{ONE_TARGET}[reaper.sessions]\nfile = \"/tmp/s.json\"\nrefresh = \"3days\"\n"),
            "reaper.sessions.refresh",
            "3days",
        ),
        (
            format!("{ONE_TARGET}[reaper.sessions]\nfile = \"/tmp/s.json\"\ntimeout = \"1h\"\n"),
            "reaper.sessions.timeout",
            "1h",
        ),
        (
            format!(
                "{ONE_TARGET}[reaper.sessions]\nfile = \"/tmp/s.json\"\nmax_age = \"2years\"\n"
            ),
            "reaper.sessions.max_age",
            "2years",
        ),
        (
            format!("{ONE_TARGET}{}", rule("500years", "1m")),
            "policy.rules[0].min_age",
            "500years",
        ),
        (
            format!("{ONE_TARGET}{}", rule("1m", "2years")),
            "policy.rules[0].when",
            "2years",
        ),
        (
            format!("{ONE_TARGET}[policy]\nflow_grace = \"2years\"\n"),
            "policy.flow_grace",
            "2years",
        ),
        (
            format!("{ONE_TARGET}[probe]\ninterval = \"7days\"\n"),
            "probe.interval",
            "7days",
        ),
        (
            format!("{ONE_TARGET}[reaper]\n{audit}api_token = \"  padded-token-1234  \"\n"),
            "reaper.api_token",
            "<redacted, 21 characters>",
        ),
        (
            format!("{ONE_TARGET}[reaper]\napi_token = \"abcdefgh\\tijklmnopq\"\n"),
            "reaper.api_token",
            "<redacted, 18 characters>",
        ),
        (
            format!("{ONE_TARGET}[reaper]\napi_token = \"short-token\"\n"),
            "reaper.api_token",
            "<redacted, 11 characters>",
        ),
        (
            format!(
                "{ONE_TARGET}[reaper]\napi_token_file = \"{}\"\n",
                spaced.display()
            ),
            "reaper.api_token_file",
            spaced.to_str().unwrap(),
        ),
        (
            format!(
                "{ONE_TARGET}[reaper]\napi_token_file = \"{}\"\n",
                short.display()
            ),
            "reaper.api_token_file",
            short.to_str().unwrap(),
        ),
    ];
    let prefixes = |p: &str| format!("{ONE_TARGET}[api]\nplayer_uri_prefixes = [\"{p}\"]\n");
    let mut cases = cases;
    for p in [
        "ftp://media/",
        "file:///srv/media",
        "file:///srv/../etc/",
        "http://h/a%2e%2e/",
    ] {
        cases.push((prefixes(p), "api.player_uri_prefixes[0]", p));
    }
    assert!(cases.len() >= 20);
    for (text, key, value) in &cases {
        let p = match load_toml(text, &[], &Overrides::default()) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("{key}: expected a validation problem, got {other:?}\n{text}"),
        };
        assert!(
            p.iter().any(|p| p.key == *key && p.value == *value),
            "{key} = {value:?} not named: {p:?}"
        );
        let rendered = ConfigError::Invalid(p).to_string();
        assert!(
            rendered.contains(key) && rendered.contains(value),
            "{rendered}"
        );
        assert!(
            !rendered.contains("padded-token") && !rendered.contains("ijklmnopq"),
            "a token is never printed: {rendered}"
        );
    }
    // The bounds themselves are accepted.
    let ok = format!(
        "shutdown_grace = \"10m\"\n{ONE_TARGET}[scrape]\ninterval = \"1day\"\nstate_interval = \"1day\"\n\
         request_timeout = \"10m\"\n[reaper]\napi_token = \"0123456789abcdef\"\n{}",
        rule("365days", "365days")
    );
    let cfg = load_toml(&ok, &[], &Overrides::default()).unwrap();
    assert_eq!(cfg.scrape.interval, Duration::from_secs(86_400));
    for url in [
        "ws://kms:8888/kurento",
        "wss://[::1]:8433/kurento",
        "ws://u:p@kms:1/k",
        "ws://kms/kurento",
    ] {
        load_toml(&target(url), &[], &Overrides::default())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_web_config_file_is_checked_and_the_flag_overrides_it() {
    let dir = std::env::temp_dir().join(format!("kx-cfg-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let web = dir.join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  u: not-a-hash\n").unwrap();
    let text = format!("{ONE_TARGET}[http]\nweb_config_file = \"/nonexistent/web.yml\"\n");
    let p = problems_of(load_toml(&text, &[], &Overrides::default()).unwrap_err());
    assert_eq!(p[0].key, "http.web_config_file");
    assert_eq!(p[0].value, "/nonexistent/web.yml");
    assert!(p[0].reason.contains("cannot read"), "{p:?}");
    // --web.config.file wins over the file; its problems name the web key.
    let o = Overrides {
        web_config_file: Some(web.clone()),
        ..Overrides::default()
    };
    let p = problems_of(load_toml(&text, &[], &o).unwrap_err());
    assert_eq!(p[0].value, web.display().to_string());
    assert!(
        p[0].reason
            .starts_with("basic_auth_users.u = \"not-a-hash\""),
        "{p:?}"
    );
    std::fs::write(&web, "").unwrap();
    let cfg = load_toml(&text, &[], &o).unwrap();
    assert_eq!(cfg.http.web_config_file, Some(web));
    std::fs::remove_dir_all(&dir).unwrap();
}
