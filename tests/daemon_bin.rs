//! The `kurento-exporter` binary: `--check-config`, no target (exit 2),
//! SIGHUP reload (targets added live, an invalid file or one with no target
//! keeps the running configuration and says so on
//! `kurento_exporter_config_last_reload_successful`), SIGTERM drain.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::process::{Command, Stdio};
use std::time::Duration;

use exporter_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
const LIMIT: Duration = Duration::from_secs(20);

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kx-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config_text(listen: &str, targets: &[(&str, String)]) -> String {
    let mut s = format!("listen = \"{listen}\"\nshutdown_grace = \"3s\"\n[scrape]\ninterval = \"300ms\"\nstate_interval = \"1s\"\n");
    for (name, url) in targets {
        s.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    s
}

/// Runs the binary with `args` and no `KURENTO_EXPORTER*` variable set.
fn run_bare(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KURENTO_EXPORTER") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn no_target_exits_2_saying_how_to_give_one() {
    let dir = temp_dir();
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "listen = \"127.0.0.1:0\"\n").unwrap();
    let empty = empty.to_str().unwrap();
    for args in [
        vec![],
        vec!["--check-config"],
        vec!["--config", empty],
        vec!["--config", empty, "--check-config"],
    ] {
        let out = run_bare(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
        for hint in ["--kms", "config file", "demo", "simulator"] {
            assert!(err.contains(hint), "{args:?}: no {hint:?} in {err}");
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // A target given by flag is enough.
    let out = run_bare(&["--kms", "ws://127.0.0.1:1/kurento", "--check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kurento-exporter.toml");
    let ok = Command::new(BIN)
        .args(["--config", example, "--check-config"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = temp_dir();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[scrape]\nconcurrency = 0\n[[targets]]\nname = \"a\"\nurl = \"http://x/kurento\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", bad.to_str().unwrap(), "--check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scrape.concurrency = \"0\""), "{err}");
    assert!(
        err.contains("targets[0].url = \"http://x/kurento\""),
        "{err}"
    );

    std::fs::write(&bad, "[scrape]\nintervall = \"5s\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", bad.to_str().unwrap(), "--check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("intervall"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_drains() {
    let a = simulator(Duration::from_secs(240)).await;
    let b = simulator(Duration::from_secs(240)).await;
    let dir = temp_dir();
    let file = dir.join("k.toml");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(&file, config_text(&listen, &[("a", a.ws_url())])).unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["--config", file.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Collect the daemon's log lines.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let mut s = sink.lock().unwrap();
            s.push_str(&l);
            s.push('\n');
        }
    });
    let addr = listen.parse().unwrap();
    let pid = child.id().unwrap().to_string();
    let up = |target: &'static str, want: Option<f64>| async move {
        let (_, body) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
        let page = parse(&body);
        let got = find(&page, "kurento_up", &[("kms", target)])
            .first()
            .map(|(_, v)| *v);
        if got == want {
            Ok(())
        } else {
            Err(format!("kurento_up{{kms={target}}} = {got:?}"))
        }
    };
    let reload_ok = |want: f64| async move {
        let (_, body) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
        let page = parse(&body);
        let got = find(&page, "kurento_exporter_config_last_reload_successful", &[])
            .first()
            .map(|(_, v)| *v);
        (got == Some(want)).then_some(()).ok_or(format!(
            "kurento_exporter_config_last_reload_successful = {got:?}"
        ))
    };
    eventually(LIMIT, "a up", || up("a", Some(1.0))).await;
    eventually(LIMIT, "the start-up configuration applied", || {
        reload_ok(1.0)
    })
    .await;

    // SIGHUP with a second target: it is watched without a restart.
    std::fs::write(
        &file,
        config_text(&listen, &[("a", a.ws_url()), ("b", b.ws_url())]),
    )
    .unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    eventually(LIMIT, "b added by reload", || up("b", Some(1.0))).await;

    // An invalid file is refused: both targets stay.
    std::fs::write(&file, "[scrape]\ninterval = \"0s\"\n").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    eventually(LIMIT, "the bad reload is logged", || {
        let log = log.clone();
        async move {
            let text = log.lock().unwrap().clone();
            if text.contains("reload failed") && text.contains("scrape.interval") {
                Ok(())
            } else {
                Err("not logged yet".to_string())
            }
        }
    })
    .await;
    eventually(LIMIT, "still watching a after a bad reload", || {
        up("a", Some(1.0))
    })
    .await;
    eventually(LIMIT, "still watching b after a bad reload", || {
        up("b", Some(1.0))
    })
    .await;
    eventually(LIMIT, "the refused reload is a 0", || reload_ok(0.0)).await;

    // Removing b by reload drops its series.
    std::fs::write(&file, config_text(&listen, &[("a", a.ws_url())])).unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    eventually(LIMIT, "b removed by reload", || up("b", None)).await;
    eventually(LIMIT, "the good reload is a 1 again", || reload_ok(1.0)).await;

    // A reload to no target at all is refused: a stays watched.
    std::fs::write(&file, config_text(&listen, &[])).unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    eventually(LIMIT, "the empty reload is logged", || {
        let log = log.clone();
        async move {
            let text = log.lock().unwrap().clone();
            if text.contains("no KMS to watch") {
                Ok(())
            } else {
                Err("not logged yet".to_string())
            }
        }
    })
    .await;
    eventually(LIMIT, "still watching a after an empty reload", || {
        up("a", Some(1.0))
    })
    .await;

    // SIGTERM: drains and exits 0 within the grace time.
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within the grace time")
        .unwrap();
    assert!(status.success(), "{status:?}");
    a.shutdown().await;
    b.shutdown().await;
}
