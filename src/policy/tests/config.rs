//! The `[policy]` section: parsing through the real config loader, the
//! shipped example, and validation errors naming key and value.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, ConfigError, Overrides, Problem};

use super::*;

const TARGET: &str = "[[targets]]\nname = \"kms-1\"\nurl = \"ws://127.0.0.1:8888/kurento\"\n";

fn load(text: &str) -> Result<Config, ConfigError> {
    let dir: PathBuf = std::env::temp_dir().join(format!("kx-policy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(format!("{TARGET}{text}").as_bytes())
        .unwrap();
    let cfg = Config::load_with_env(Some(&path), HashMap::new(), &Overrides::default());
    let _ = std::fs::remove_dir_all(&dir);
    cfg
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn default_is_valid_and_used_when_the_section_is_absent() {
    assert!(PolicyConfig::default().problems().is_empty());
    let cfg = load("").unwrap();
    assert_eq!(cfg.policy, PolicyConfig::default());
}

#[test]
fn shipped_example_spells_out_the_default_policy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kurento-exporter.toml");
    let cfg = Config::load_with_env(Some(&path), HashMap::new(), &Overrides::default()).unwrap();
    assert_eq!(cfg.policy, PolicyConfig::default());
}

#[test]
fn full_rule_syntax_parses_and_compiles() {
    let cfg = load(
        r#"
[policy]
min_consecutive_cycles = 4
max_releases_per_cycle = 2
flow_grace = "2m"
protect_tag = { key = "keep", value = "yes" }

[[policy.rules]]
name = "left-room"
action = "release"
min_age = "10m"
match = { element_types = ["WebRtcEndpoint", "RtpEndpoint"], tags = ["room", "env=prod", "!debug"], pipeline_name = "^meeting-", targets = ["kms-1"] }
when = { all = [
  { session_gone = "room" },
  { any = [ { no_flow = { direction = "both", for = "3m" } }, { dtls_closed = "30s" }, { session_terminated = "30s" } ] },
  { ice_state = { states = ["FAILED", "DISCONNECTED"], for = "1m" } },
  { ice_never_connected = "2m" },
  { no_connections = "5m" },
  { min_age = "10m" },
] }

[[policy.rules]]
name = "stale-pipeline"
action = "release"
min_age = "15m"
match = { element_types = ["MediaPipeline"] }
when = { any = [ { pipeline_empty = "10m" }, { pipeline_all_zombie = "10m" } ] }
"#,
    )
    .unwrap();
    let p = Policy::new(&cfg.policy).unwrap();
    assert_eq!(p.min_consecutive_cycles, 4);
    assert_eq!(p.flow_grace, Some(120_000));
    assert_eq!(p.protect_tag.key, "keep");
    assert_eq!(p.owner_tag, PolicyConfig::default().owner_tag);
    assert_eq!(p.rules.len(), 2);
    let r = &p.rules[0];
    assert_eq!(r.longest, 10 * MIN);
    assert_eq!(
        r.matcher.tags,
        vec![
            TagSelector::Exists("room".into()),
            TagSelector::Equals("env".into(), "prod".into()),
            TagSelector::Absent("debug".into()),
        ]
    );
    assert!(p.rules[1].on_pipelines() && !r.on_pipelines());
    assert_eq!(
        cfg.policy.rules[1].when,
        ConditionConfig::Any(vec![
            ConditionConfig::PipelineEmpty(Duration::from_secs(600)),
            ConditionConfig::PipelineAllZombie(Duration::from_secs(600)),
        ])
    );
}

fn rule_toml(name: &str, extra: &str) -> String {
    format!(
        "[[policy.rules]]\nname = \"{name}\"\naction = \"flag\"\nmin_age = \"1m\"\n{extra}\nwhen = {{ min_age = \"1m\" }}\n"
    )
}

#[test]
fn every_problem_names_key_and_value() {
    let text = format!(
        "[policy]\nmin_consecutive_cycles = 0\nflow_grace = \"0s\"\n{}{}{}{}",
        rule_toml("a", ""),
        rule_toml("a", ""),
        rule_toml("b", "match = { pipeline_name = \"([\", tags = [\"=x\"] }"),
        "[[policy.rules]]\nname = \"c\"\naction = \"release\"\nmin_age = \"0s\"\nwhen = { all = [ { pipeline_empty = \"5m\" }, { any = [] }, { no_flow = { direction = \"in\", for = \"0s\" } } ] }\n",
    );
    let got: Vec<(String, String)> = problems(&text)
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect();
    let want = [
        ("policy.min_consecutive_cycles", "0"),
        ("policy.flow_grace", "0s"),
        ("policy.rules[1].name", "a"),
        ("policy.rules[2].match.tags[0]", "=x"),
        ("policy.rules[2].match.pipeline_name", "(["),
        ("policy.rules[3].min_age", "0s"),
        ("policy.rules[3].when.all[0]", "pipeline_empty"),
        ("policy.rules[3].when.all[1].any", "[]"),
        ("policy.rules[3].when.all[2].no_flow.for", "0s"),
    ];
    for (k, v) in want {
        assert!(
            got.contains(&(k.to_string(), v.to_string())),
            "missing {k} = {v:?} in {got:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
    let msg = ConfigError::Invalid(problems(&text)).to_string();
    assert!(
        msg.contains("policy.rules[2].match.pipeline_name = \"([\": invalid regex"),
        "{msg}"
    );
}

#[test]
fn element_conditions_are_refused_in_pipeline_rules() {
    let p = problems(
        "[[policy.rules]]\nname = \"p\"\naction = \"flag\"\nmin_age = \"1m\"\nmatch = { element_types = [\"MediaPipeline\", \"WebRtcEndpoint\"] }\nwhen = { media_disconnected = \"1m\" }\n",
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "policy.rules[0].match.element_types[1]",
            "policy.rules[0].when"
        ]
    );
}

#[test]
fn unknown_keys_actions_and_conditions_are_rejected() {
    for (text, word) in [
        ("[policy]\nmax_release = 3\n", "max_release"),
        (&rule_toml("x", "colour = \"red\""), "colour"),
        (
            "[[policy.rules]]\nname = \"x\"\naction = \"nuke\"\nmin_age = \"1m\"\nwhen = { min_age = \"1m\" }\n",
            "nuke",
        ),
        (
            "[[policy.rules]]\nname = \"x\"\naction = \"flag\"\nmin_age = \"1m\"\nwhen = { cpu_high = \"1m\" }\n",
            "cpu_high",
        ),
        (
            "[[policy.rules]]\nname = \"x\"\naction = \"flag\"\nmin_age = \"soon\"\nwhen = { min_age = \"1m\" }\n",
            "soon",
        ),
    ] {
        match load(text) {
            Err(e @ ConfigError::Load(_)) => {
                let msg = e.to_string();
                assert!(msg.contains(word), "{word}: {msg}");
            }
            other => panic!("{word}: expected a load error, got {other:?}"),
        }
    }
}

#[test]
fn tag_selectors_parse() {
    assert_eq!(
        TagSelector::parse("a=b=c"),
        Ok(TagSelector::Equals("a".into(), "b=c".into()))
    );
    assert_eq!(
        TagSelector::parse("a="),
        Ok(TagSelector::Equals("a".into(), String::new()))
    );
    for bad in ["", "!", "=v", "!a=b"] {
        assert!(TagSelector::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn shipped_release_example_is_valid_once_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kurento-exporter.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("# [[policy.rules]]").expect("release example");
    let example: String = text[start..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = load(&example).unwrap();
    let p = Policy::new(&cfg.policy).unwrap();
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.rules[0].action, RuleAction::Release);
    assert_eq!(p.rules[0].longest, 2 * MIN);
}

#[test]
fn environment_overrides_policy_settings() {
    let dir = std::env::temp_dir().join(format!("kx-policy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, TARGET).unwrap();
    let env = [
        ("KURENTO_EXPORTER__POLICY__MIN_CONSECUTIVE_CYCLES", "5"),
        ("KURENTO_EXPORTER__POLICY__FLOW_GRACE", "90s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cfg = Config::load_with_env(Some(&path), env, &Overrides::default()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(cfg.policy.min_consecutive_cycles, 5);
    assert_eq!(cfg.policy.flow_grace, Some(Duration::from_secs(90)));
    assert_eq!(cfg.policy.rules, PolicyConfig::default().rules);
}

#[test]
fn an_empty_rule_list_disables_the_policy() {
    let cfg = load("[policy]\nrules = []\n").unwrap();
    assert!(cfg.policy.rules.is_empty());
    assert_eq!(cfg.policy.min_consecutive_cycles, 2);
}
