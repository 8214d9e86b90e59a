//! Shared helpers of the exporter's integration tests: a daemon and a
//! simulator on ephemeral loopback ports, a tiny HTTP client, a metrics-page
//! parser and condition waits with deadlines (no fixed sleeps).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use kms_sim::{self as sim, SimConfig, SimHandle};
use kurento_exporter::config::{Config, Target};
use kurento_exporter::daemon::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A simulator on an ephemeral port with a fast clock.
pub async fn simulator(gc_period: Duration) -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period,
        tick: Duration::from_millis(100),
        seed: 7,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// A simulator on an ephemeral port whose clock runs `speed` times faster
/// than the real one (no garbage collection within a test).
pub async fn fast_simulator(speed: f64, seed: u64) -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period: Duration::from_secs(3600),
        tick: Duration::from_millis(100),
        seed,
        speed,
    })
    .await
    .expect("simulator starts")
}

/// A daemon config for `targets` with short cycles.
pub fn config(targets: &[(&str, String)], interval: Duration) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        targets: targets
            .iter()
            .map(|(n, u)| Target {
                name: n.to_string(),
                url: u.clone(),
                reaper_mode: None,
            })
            .collect(),
        ..Config::default()
    };
    c.scrape.interval = interval;
    c.scrape.state_interval = interval * 3;
    c.scrape.request_timeout = Duration::from_secs(2);
    c.scrape.keepalive_interval = Duration::from_millis(500);
    c.scrape.tag_labels = vec!["room".into()];
    c.validate().expect("valid test config");
    c
}

pub async fn daemon(cfg: Config) -> Daemon {
    Daemon::start(cfg).await.expect("daemon starts")
}

/// GET `path`; returns (status, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_get(addr, path).await.expect("HTTP GET")
}

/// GET `path`, or the I/O error (e.g. server not listening yet).
pub async fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, &[], "").await
}

/// One HTTP/1.1 request with `headers` (`Name: value`) and `body` (a
/// Content-Length is added when it is not empty); (status, body), or the I/O
/// error.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// The `Authorization` header of a bearer token.
pub fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// One series: name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl Series {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map_or("", String::as_str)
    }
}

/// Parse a Prometheus text page (the exporter's own output: no escapes in
/// label values besides what KMS ids contain).
pub fn parse(page: &str) -> Vec<(Series, f64)> {
    let mut out = Vec::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((k, v)) = rest.split_once("=\"") {
            let end = v.find('"').expect("closing quote");
            map.insert(k.trim_start_matches(',').to_string(), v[..end].to_string());
            rest = &v[end + 1..];
        }
        out.push((
            Series {
                name: name.to_string(),
                labels: map,
            },
            value.parse().expect("number"),
        ));
    }
    out
}

/// The series of `name` whose labels include `with`.
pub fn find<'a>(
    page: &'a [(Series, f64)],
    name: &str,
    with: &[(&str, &str)],
) -> Vec<&'a (Series, f64)> {
    page.iter()
        .filter(|(s, _)| s.name == name && with.iter().all(|(k, v)| s.label(k) == *v))
        .collect()
}

pub async fn scrape(addr: SocketAddr) -> Vec<(Series, f64)> {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// Poll `check` until it returns `Ok`, or fail with its last error after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not true within {limit:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// POST `path` with an optional bearer token and an empty body; returns (status, body).
pub async fn post(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let headers: Vec<String> = token.map(bearer).into_iter().collect();
    request(addr, "POST", path, &headers, "")
        .await
        .expect("HTTP POST")
}

/// The complete lines of a JSON-lines file being written (an audit log whose
/// writer may be killed mid-line: the partial last line is left out, the
/// next start cuts it); each must be valid JSON.
pub fn complete_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let end = text.rfind('\n').map_or(0, |i| i + 1);
    text[..end]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Every line of a JSON-lines file, parsed (panics on a partial or invalid line).
pub fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last line in {}",
        path.display()
    );
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{} line {}: {e}: {l}", path.display(), i + 1))
        })
        .collect()
}

/// Release rules of the leak scenarios (tests/reaper_sim.rs, tests/alerts_e2e.rs),
/// durations scaled to a simulator at 10× speed and 500 ms cycles: endpoints
/// whose peer is gone, hub ports whose endpoint is a zombie (or gone), rooms
/// the application no longer lists.
pub const LEAK_POLICY: &str = r#"
min_consecutive_cycles = 2
max_releases_per_cycle = 500

[[rules]]
name = "webrtc-peer-gone"
action = "release"
min_age = "3s"
match = { element_types = ["WebRtcEndpoint"] }
when = { all = [ { no_flow = { direction = "out", for = "2s" } }, { media_disconnected = "1s" } ] }

[[rules]]
name = "port-of-zombie"
action = "release"
min_age = "3s"
match = { element_types = ["HubPort"] }
when = { neighbours_zombie = "1s" }

[[rules]]
name = "room-closed"
action = "release"
min_age = "3s"
match = { element_types = ["MediaPipeline"], tags = ["room"] }
when = { session_gone = "room" }
"#;

/// A free TCP port on loopback (for a daemon started as a process).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory under the system's temporary one.
pub fn temp_dir_named(prefix: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The daemon binary on `config`, its stderr in `log`, under an open-files
/// limit of `nofile` when given (`prlimit`).
pub fn start_binary(
    config: &std::path::Path,
    log: &std::path::Path,
    nofile: Option<u32>,
) -> std::process::Child {
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg("--").arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["--config", config.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("daemon starts")
}

/// A real Prometheus (Debian package `prometheus`) on a free loopback port,
/// killed on drop; its data directory is removed with it.
pub struct Prometheus {
    child: std::process::Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Start Prometheus with `config` (its YAML) in a new directory under `parent`.
pub fn start_prometheus_with(parent: &std::path::Path, config: &str) -> Prometheus {
    use std::process::{Command, Stdio};
    let dir = parent.join(format!("prometheus-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus) must be installed: run scripts/test.sh");
    Prometheus { child, port, dir }
}

/// The samples of an instant PromQL query against the Prometheus on `port`,
/// as (labels, value).
pub async fn prometheus_query(
    port: u16,
    q: &str,
) -> Result<Vec<(serde_json::Value, String)>, String> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (status, body) = try_get(addr, &format!("/api/v1/query?query={q}"))
        .await
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let result = v["data"]["result"].as_array().ok_or("no result")?;
    Ok(result
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().unwrap_or_default().to_string();
            (r["metric"].clone(), value)
        })
        .collect())
}
