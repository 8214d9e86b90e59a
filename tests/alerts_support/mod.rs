//! Servers of the alerting end-to-end test (tests/alerts_e2e.rs): a real
//! Prometheus and Alertmanager (Debian packages `prometheus`,
//! `prometheus-alertmanager`) run as child processes on ephemeral loopback
//! ports and killed on drop (also on panic); test copies of the shipped rules
//! and Alertmanager config (line-based rewrites, no YAML dependency); a
//! webhook receiver collecting Alertmanager's notifications; a blackhole TCP
//! server; the Prometheus HTTP API client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::exporter_common::eventually;

pub mod exprs;
pub mod scenario;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(prefix: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child process killed (and reaped) on drop, with its log file.
pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut start = text.len().saturating_sub(3000);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }

    /// Wait until `/-/ready` answers 200 (the process must stay alive).
    pub async fn ready(&mut self, what: &str) {
        let addr = self.addr();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{what} exited with {status}:\n{}", self.log_tail());
            }
            if let Ok((200, _)) = try_get(addr, "/-/ready").await {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{what} not ready within 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(program: &str, args: &[String], log: PathBuf, port: u16) -> Server {
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (Debian packages prometheus and prometheus-alertmanager: run scripts/test.sh)")
        });
    Server { child, port, log }
}

/// The Alertmanager binary: `prometheus-alertmanager` on Debian, else `alertmanager`.
fn alertmanager_bin() -> &'static str {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    if on_path("prometheus-alertmanager") {
        "prometheus-alertmanager"
    } else {
        "alertmanager"
    }
}

pub fn start_alertmanager(dir: &Path, config: &str) -> Server {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let args = vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.path={}", dir.join("am-data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".into(),
    ];
    spawn(
        alertmanager_bin(),
        &args,
        dir.join("alertmanager.log"),
        port,
    )
}

/// Prometheus scraping `targets` as job `kurento-exporter` every second,
/// evaluating `rules` every second and sending alerts to `alertmanager`.
pub fn start_prometheus(
    dir: &Path,
    targets: &[SocketAddr],
    rules: &str,
    alertmanager: SocketAddr,
) -> Server {
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    let list = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: ['{}']\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
             scrape_configs:\n  - job_name: kurento-exporter\n    static_configs:\n      - targets: [{list}]\n",
            dir.join("rules.yml").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let args = vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    spawn("prometheus", &args, dir.join("prometheus.log"), port)
}

/// alerts/kurento-exporter.yml with every alert's `for:` set to `for_`
/// (thresholds, windows and everything else unchanged). Line-based: a rule's
/// `for:` key is a line of its own. Returns the text and the lines rewritten.
pub fn shorten_for(rules: &str, for_: &str) -> (String, usize) {
    let mut n = 0;
    let text = rules
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            match l.trim_start().strip_prefix("for:") {
                Some(_) => {
                    n += 1;
                    format!("{}for: {for_}", &l[..indent])
                }
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text + "\n", n)
}

/// deploy/alertmanager.yml with its routing and inhibitions kept, the group
/// timers and resolve_timeout shortened to `timer`, and every receiver's
/// webhook URL pointed at `webhook/<receiver name>`. Line-based. Returns the
/// text and the number of URLs rewritten.
pub fn alertmanager_config(shipped: &str, webhook: SocketAddr, timer: &str) -> (String, usize) {
    let mut receiver = String::new();
    let mut urls = 0;
    let text = shipped
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if let Some(name) = t.strip_prefix("- name:") {
                receiver = name.trim().trim_matches('"').to_string();
            }
            for key in ["group_wait:", "group_interval:", "resolve_timeout:"] {
                if t.starts_with(key) {
                    return format!("{indent}{key} {timer}");
                }
            }
            for key in ["- url:", "url:"] {
                if t.starts_with(key) {
                    urls += 1;
                    return format!("{indent}{key} \"http://{webhook}/{receiver}\"");
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text + "\n", urls)
}

/// One alert of a webhook notification.
#[derive(Debug, Clone)]
pub struct Notified {
    /// The receiver (the webhook URL's path).
    pub receiver: String,
    pub status: String,
    pub labels: BTreeMap<String, String>,
}

impl Notified {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map_or("", String::as_str)
    }
}

/// An HTTP server collecting the alerts of every POSTed notification.
pub struct Webhook {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Notified>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, sink.clone()));
            }
        });
        Webhook { addr, got, task }
    }

    /// Every alert received so far, in order.
    pub fn received(&self) -> Vec<Notified> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve HTTP/1.1 requests on one connection (Alertmanager keeps it alive).
async fn serve(mut s: tokio::net::TcpStream, sink: Arc<Mutex<Vec<Notified>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let len: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..end + 4 + len).skip(end + 4).collect();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            let mut got = sink.lock().unwrap();
            for a in v["alerts"].as_array().into_iter().flatten() {
                let labels = a["labels"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                got.push(Notified {
                    receiver: path.trim_start_matches('/').to_string(),
                    status: a["status"].as_str().unwrap_or_default().to_string(),
                    labels,
                });
            }
        }
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if s.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// A TCP server that accepts connections and closes them at once: a dead
/// KMS and a dead exporter instance, without a port another process could
/// take over.
pub struct Blackhole {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Blackhole {
    pub async fn start() -> Blackhole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                drop(s);
            }
        });
        Blackhole { addr, task }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GET over HTTP/1.0 (no chunked bodies): (status, body).
pub async fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
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

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET a Prometheus API path; `Ok(data)` on `status: success`, else the
/// HTTP status and error text.
pub async fn api(prom: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let (status, body) = try_get(prom, path).await.map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
    if status == 200 && v["status"] == "success" {
        Ok(v["data"].clone())
    } else {
        Err(format!("{status}: {} {}", v["errorType"], v["error"]))
    }
}

/// An instant query: the result's samples (empty when it returns no data).
pub async fn query(prom: SocketAddr, q: &str) -> Result<Vec<serde_json::Value>, String> {
    instant(prom, &format!("/api/v1/query?query={}", encode(q))).await
}

/// An instant query at `time` (Unix seconds).
pub async fn query_at(
    prom: SocketAddr,
    q: &str,
    time: f64,
) -> Result<Vec<serde_json::Value>, String> {
    instant(
        prom,
        &format!("/api/v1/query?query={}&time={time:.3}", encode(q)),
    )
    .await
}

async fn instant(prom: SocketAddr, path: &str) -> Result<Vec<serde_json::Value>, String> {
    let data = api(prom, path).await?;
    match data["resultType"].as_str() {
        Some("vector") | Some("matrix") => {
            Ok(data["result"].as_array().cloned().unwrap_or_default())
        }
        // scalar or string: one value
        Some(_) => Ok(vec![data["result"].clone()]),
        None => Err(format!("no resultType: {data}")),
    }
}

/// Label values the way Grafana runs `label_values(selector, label)`.
pub async fn label_values(
    prom: SocketAddr,
    selector: &str,
    label: &str,
) -> Result<Vec<String>, String> {
    let data = api(
        prom,
        &format!("/api/v1/label/{label}/values?match[]={}", encode(selector)),
    )
    .await?;
    Ok(data
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// Wait until the scrape targets of Prometheus are all known (not `unknown`).
pub async fn targets_scraped(prom: SocketAddr, n: usize) {
    eventually(
        Duration::from_secs(60),
        "prometheus scraped every target",
        || async move {
            let data = api(prom, "/api/v1/targets").await?;
            let active = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let known = active.iter().filter(|t| t["health"] != "unknown").count();
            if active.len() == n && known == n {
                Ok(())
            } else {
                Err(format!(
                    "{known} of {} targets scraped, want {n}",
                    active.len()
                ))
            }
        },
    )
    .await
}
