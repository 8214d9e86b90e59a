//! `kurento-exporter --check-config` refuses each bad setting of issue 14
//! (defect 5) with its key and value on stderr, and a non-zero exit status:
//! ports out of range, durations beyond their kind's bound, an API token
//! with whitespace or too short, no target.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
const TARGET: &str = "[[targets]]\nname = \"a\"\nurl = \"ws://127.0.0.1:8888/kurento\"\n";

/// Runs `--check-config` on `text` with no `KURENTO_EXPORTER*` variable set.
fn check(text: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("kx-check-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KURENTO_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--config", file.to_str().unwrap(), "--check-config"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    out
}

#[test]
fn each_bad_setting_is_refused_naming_key_and_value() {
    let cases = [
        (
            "[[targets]]\nname = \"a\"\nurl = \"ws://kms:99999/kurento\"\n".to_string(),
            vec![
                "targets[0].url",
                "ws://kms:99999/kurento",
                "between 1 and 65535",
            ],
        ),
        (
            format!("listen = \"0.0.0.0:99999\"\n{TARGET}"),
            vec!["listen", "0.0.0.0:99999"],
        ),
        (
            format!("{TARGET}[scrape]\ninterval = \"500years\"\n"),
            vec!["scrape.interval = \"500years\"", "at most 1day"],
        ),
        (
            format!("{TARGET}[scrape]\nrequest_timeout = \"1day\"\n"),
            vec!["scrape.request_timeout = \"1day\"", "at most 10m"],
        ),
        (
            format!("{TARGET}[reaper]\nrelease_spacing = \"500years\"\n"),
            vec!["reaper.release_spacing = \"500years\""],
        ),
        (
            format!("{TARGET}[reaper]\napi_token = \" a-token-long-enough \"\n"),
            vec!["reaper.api_token = \"<redacted, 21 characters>\"", "spaces"],
        ),
        (
            format!("{TARGET}[reaper]\napi_token = \"2short\"\n"),
            vec!["reaper.api_token", "at least 16 characters"],
        ),
        (
            format!("{TARGET}[metrics]\nfamilies = [\"packetz\"]\n"),
            vec!["metrics.families", "packetz"],
        ),
        (
            format!("{TARGET}[metrics]\ndetail = \"ssrc\"\n"),
            vec!["metrics.detail", "ssrc"],
        ),
        (
            format!("{TARGET}[metrics]\ngzip_level = 12\n"),
            vec!["metrics.gzip_level", "12", "between 1 and 9"],
        ),
        (
            format!("{TARGET}[cluster]\nendpoints = [\"etcd:2379\"]\nmember = \"m 1\"\n"),
            vec!["cluster.endpoints[0] = \"etcd:2379\"", "cluster.member = \"m 1\""],
        ),
        (
            format!("{TARGET}[cluster]\nendpoints = [\"http://etcd:2379\"]\nmember = \"m1\"\nlease_ttl = \"5s\"\nrenew_deadline = \"5s\"\n"),
            vec!["cluster.renew_deadline = \"5s\"", "shorter than cluster.lease_ttl"],
        ),
    ];
    for (text, wanted) in &cases {
        let out = check(text);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{text}");
        for w in wanted {
            assert!(err.contains(w), "{w:?} not in:\n{err}");
        }
        assert!(!err.contains("a-token-long-enough"), "token printed: {err}");
    }
    // No target at all: exit 2, naming where targets go.
    let out = check("listen = \"127.0.0.1:0\"\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[[targets]]"));
    // The same settings within bounds pass.
    let ok = check(&format!(
        "{TARGET}[scrape]\ninterval = \"1day\"\nstate_interval = \"1day\"\n[reaper]\napi_token = \"0123456789abcdef\"\n"
    ));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
