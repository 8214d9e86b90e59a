//! TLS and basic auth of the HTTP endpoint (`http.web_config_file`), with
//! real clients against the daemon binary watching the simulator: a CA and
//! a server certificate made by the `openssl` command, a bcrypt hash made
//! by the `bcrypt` crate (cost 4: fast), then
//! - curl over TLS trusting that CA: the right credentials get `/metrics`;
//!   a wrong password, none, or a bearer token instead get 401 with the
//!   Basic challenge; plain HTTP gets a plain 400 and no page; curl
//!   without the CA refuses the server; the API token rides in
//!   `X-Api-Token` beside the basic credentials;
//! - a real Prometheus scraping over https with `tls_config.ca_file` and
//!   `basic_auth`: `up` is 1 and `kurento_up` is read back through its API;
//! - a client saying nothing, or stalling in its handshake, is dropped
//!   after `http.header_read_timeout`;
//! - SIGHUP re-reads the web config: a new password applies at once, on a
//!   connection opened before too; an invalid file is refused, logged with
//!   its key, the reload gauge goes to 0 and the running config stays;
//! - `--check-config --web.config.file` loads the file and names each
//!   problem's key and value;
//! - client certificates (`RequireAndVerifyClientCert`): curl without one
//!   is refused in the handshake, with one signed by the CA gets the page.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;
mod web_tls_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use web_tls_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_prometheus_over_tls_with_basic_auth_and_reload() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let dir = temp_dir_named("kx-web-tls");
    certificates(&dir);
    let web = dir.join("web.yml");
    std::fs::write(&web, web_config("prometheus", "s3cret", "")).unwrap();
    let port = free_port();
    let daemon = start_daemon(&dir, port, &sim.ws_url(), &web);
    let base = format!("https://127.0.0.1:{port}");
    let ca = dir.join("ca.crt").display().to_string();
    let page = eventually(LIMIT, "/metrics over TLS with basic auth", || {
        metrics_page(&base, &ca, "prometheus:s3cret")
    })
    .await;
    assert!(page.contains("# TYPE kurento_up gauge"), "{page}");
    assert!(
        log_of(&dir).contains("tls=true basic_auth=true"),
        "{}",
        log_of(&dir)
    );

    // Wrong password, no credentials, a bearer token instead: 401 + challenge.
    let metrics = format!("{base}/metrics");
    let bearer = format!("Authorization: Bearer {TOKEN}");
    for args in [
        vec!["-u", "prometheus:wrong", metrics.as_str()],
        vec!["-u", "nobody:s3cret", metrics.as_str()],
        vec![metrics.as_str()],
        vec!["-H", bearer.as_str(), metrics.as_str()],
        vec![&base],
    ] {
        let mut all = vec!["--cacert", ca.as_str()];
        all.extend(args.iter().copied());
        let r = curl(&all).await;
        assert_eq!(r.status, 401, "{args:?}: {r:?}");
        let challenge = "www-authenticate: Basic realm=\"kurento-exporter\"";
        assert!(
            r.head.to_lowercase().contains(&challenge.to_lowercase()),
            "{r:?}"
        );
        assert!(!r.body.contains("kurento_up"), "{r:?}");
    }
    // Plain HTTP to the TLS port: a plain 400, no page.
    let r = curl(&[
        "-u",
        "prometheus:s3cret",
        &format!("http://127.0.0.1:{port}/metrics"),
    ])
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("HTTP request to an HTTPS server"), "{r:?}");
    // A client that does not trust the CA refuses the server.
    let r = curl(&["-u", "prometheus:s3cret", &metrics]).await;
    assert_eq!(r.status, 0, "{r:?}");
    assert!(r.error.contains("certificate"), "{r:?}");
    // A client that says nothing, or starts a handshake and stalls, is
    // dropped after http.header_read_timeout (1s here).
    for first in [&b""[..], &[0x16, 0x03, 0x01][..]] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(first).await.unwrap();
        let start = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(LIMIT, s.read(&mut buf))
            .await
            .expect("closed by the server");
        assert!(matches!(read, Ok(0) | Err(_)), "{first:?}: {read:?}");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(900), "{first:?}: {took:?}");
    }
    // The API token beside basic credentials: X-Api-Token.
    let release = format!("{base}/api/v1/objects/nope/release");
    let token = |t: &str| format!("X-Api-Token: {t}");
    let (right, wrong) = (token(TOKEN), token("not-it"));
    let post = |header: &str| {
        let args = [ca.as_str(), header, release.as_str()];
        curl_owned(vec![
            "--cacert".into(),
            args[0].into(),
            "-u".into(),
            "prometheus:s3cret".into(),
            "-X".into(),
            "POST".into(),
            "-H".into(),
            args[1].into(),
            args[2].into(),
        ])
    };
    let r = post(&wrong).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("API token"), "{r:?}");
    let r = post(&right).await;
    assert!(r.status != 401 && r.status != 403, "{r:?}");

    // A real Prometheus scrapes over https with basic auth.
    let prom = start_prometheus(
        &dir,
        &format!("127.0.0.1:{port}"),
        &dir.join("ca.crt"),
        "s3cret",
    );
    eventually(LIMIT, "Prometheus scrapes over TLS: up == 1", || async {
        let got = prometheus_query(prom.port, r#"up{job="kx-tls"} == 1"#).await?;
        (got.len() == 1).then_some(()).ok_or(format!("{got:?}"))
    })
    .await;
    let up = eventually(LIMIT, "kurento_up through Prometheus", || async {
        let got = prometheus_query(prom.port, r#"kurento_up{job="kx-tls"}"#).await?;
        got.into_iter().next().ok_or("no sample yet".to_string())
    })
    .await;
    assert_eq!(
        (up.0["kms"].as_str(), up.1.as_str()),
        (Some("sim"), "1"),
        "{up:?}"
    );
    drop(prom);

    // SIGHUP: a new password applies, on a connection opened before too;
    // the old one no longer does.
    let mut open = tls_connect(&dir.join("ca.crt"), port).await;
    assert_eq!(
        get_on(&mut open, "/healthz", "prometheus:s3cret").await,
        200
    );
    std::fs::write(&web, web_config("prometheus", "n3w", "")).unwrap();
    daemon.signal("-HUP");
    eventually(LIMIT, "the new password after reload", || {
        metrics_page(&base, &ca, "prometheus:n3w")
    })
    .await;
    let r = curl(&["--cacert", &ca, "-u", "prometheus:s3cret", &metrics]).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(get_on(&mut open, "/healthz", "prometheus:n3w").await, 200);
    assert_eq!(
        get_on(&mut open, "/healthz", "prometheus:s3cret").await,
        401
    );
    drop(open);
    // An invalid web config is refused, named, and the running one stays.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plain-text\n").unwrap();
    daemon.signal("-HUP");
    eventually(LIMIT, "the refused reload is logged and a 0", || async {
        let log = log_of(&dir);
        if !(log.contains("reload failed") && log.contains("basic_auth_users.prometheus")) {
            return Err(format!("not logged yet: {log}"));
        }
        let page = metrics_page(&base, &ca, "prometheus:n3w").await?;
        let ok = find(
            &parse(&page),
            "kurento_exporter_config_last_reload_successful",
            &[],
        )
        .first()
        .map(|(_, v)| *v);
        (ok == Some(0.0))
            .then_some(())
            .ok_or(format!("reload gauge {ok:?}"))
    })
    .await;

    let status = daemon.stop().await;
    assert!(status.success(), "{status:?}");
    sim.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_when_configured() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let dir = temp_dir_named("kx-web-mtls");
    certificates(&dir);
    let web = dir.join("web.yml");
    let mtls = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
                min_version: TLS13\n";
    std::fs::write(&web, web_config("prometheus", "s3cret", mtls)).unwrap();
    let port = free_port();
    let daemon = start_daemon(&dir, port, &sim.ws_url(), &web);
    let base = format!("https://127.0.0.1:{port}");
    let ca = dir.join("ca.crt").display().to_string();
    let path = |f: &str| dir.join(f).display().to_string();
    let (cert, key) = (path("client.crt"), path("client.key"));
    eventually(LIMIT, "/metrics with a client certificate", || async {
        let r = curl(&[
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "-u",
            "prometheus:s3cret",
            &format!("{base}/metrics"),
        ])
        .await;
        (r.status == 200 && r.body.contains("kurento_up"))
            .then_some(())
            .ok_or(format!("{r:?}"))
    })
    .await;
    // Without a client certificate: no HTTP answer at all.
    let r = curl(&[
        "--cacert",
        &ca,
        "-u",
        "prometheus:s3cret",
        &format!("{base}/metrics"),
    ])
    .await;
    assert_eq!(r.status, 0, "{r:?}");
    assert!(!r.error.is_empty(), "{r:?}");
    // TLS 1.2 is refused when min_version is TLS13.
    let r = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--tls-max",
        "1.2",
        "-u",
        "prometheus:s3cret",
        &format!("{base}/metrics"),
    ])
    .await;
    assert_eq!(r.status, 0, "{r:?}");
    let status = daemon.stop().await;
    assert!(status.success(), "{status:?}");
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--check-config` loads the web config named by `--web.config.file`:
/// exit 0 when usable, otherwise 1 with the key and value on stderr.
#[test]
fn check_config_loads_the_web_config() {
    const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
    let dir = temp_dir_named("kx-web-check");
    certificates(&dir);
    let (config, web) = (dir.join("k.toml"), dir.join("web.yml"));
    std::fs::write(
        &config,
        "[[targets]]\nname = \"a\"\nurl = \"ws://127.0.0.1:8888/kurento\"\n",
    )
    .unwrap();
    let check = |text: &str| {
        std::fs::write(&web, text).unwrap();
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("KURENTO_EXPORTER") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .arg("--config")
            .arg(&config)
            .arg("--web.config.file")
            .arg(&web)
            .arg("--check-config")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = check(&web_config("prometheus", "s3cret", ""));
    assert!(ok && text.contains("web config"), "{text}");
    let missing = dir.join("missing.key").display().to_string();
    for (file, want) in [
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n",
            vec![
                "http.web_config_file",
                "tls_server_config.key_file",
                &missing,
            ],
        ),
        (
            "tls_server_config:\n  certfile: server.crt\n",
            vec!["http.web_config_file", "unknown field `certfile`"],
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n",
            vec!["basic_auth_users.alice = \"hunter2\"", "not a bcrypt hash"],
        ),
    ] {
        let (ok, text) = check(file);
        assert!(!ok, "{file}: {text}");
        for w in want {
            assert!(text.contains(w), "{file}: {w:?} not in {text}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
