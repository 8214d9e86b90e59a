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
