//! Chaos reproductions of issue 14 (defects 1 and 2) against the daemon
//! binary and the simulator, each bounded in time:
//! - 300 clients sending a release's body at 1 byte/s, the daemon under a
//!   256 file-descriptor limit (`prlimit`): `/metrics` keeps answering, the
//!   log is not flooded, the accept loop does not spin;
//! - 40 clients that ask for `/metrics` and never read: `/healthz` answers
//!   within 100 ms throughout, RSS stays under twice its idle value plus one
//!   page (they share the pre-rendered page), and their connections are
//!   dropped after `http.write_timeout`;
//! - 200 gzip requests a second for 30 s against a 2,000-endpoint page, as
//!   Prometheus asks: at least 195 answered a second, p99 under 250 ms, RSS
//!   bounded; uncompressed at 20 a second, p99 under 500 ms;
//! - 300 unauthenticated GETs of a pipeline's GStreamer DOT at once
//!   (defect 7): a few reach KMS (`api.live_*` per target), the rest get
//!   429, and those that reached KMS are counted in the RPC metrics;
//! - body limits: the token is checked before any body is read; a body too
//!   large is refused from its declared length; a slow one after
//!   `http.body_read_timeout`; over `http.max_connections`, 503.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exporter_common::*;
use kms_sim::{Action, Scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "chaos-test-token-0123456789";

/// The cases measure time and load: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn temp_dir() -> std::path::PathBuf {
    temp_dir_named("kx-chaos")
}

fn start(config: &std::path::Path, log: &std::path::Path, nofile: Option<u32>) -> Child {
    start_binary(config, log, nofile)
}

/// `/proc/<pid>/stat`: user + system CPU time.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // Fields 14 and 15 of stat(5), counted after the command name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz: u64 = String::from_utf8(
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    Duration::from_millis(ticks * 1000 / hz)
}

/// `/proc/<pid>/status`: resident memory in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Open file descriptors of `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn config_text(port: u16, url: &str, extra: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
[scrape]
interval = "1s"
state_interval = "3s"
[reaper]
api_token = "{TOKEN}"
[[targets]]
name = "kms"
url = "{url}"
{extra}"#
    )
}

/// A simulator with `rooms` conferences of `size`.
async fn sim_with(rooms: usize, size: u32) -> kms_sim::SimHandle {
    let sim = simulator(Duration::from_secs(3600)).await;
    let mut s = Scenario::new();
    for i in 0..rooms {
        s = s.at(
            0,
            Action::Conference {
                room: format!("r{i}"),
                participants: size,
                named: vec![],
            },
        );
    }
    sim.run_scenario(s).await.unwrap();
    sim
}

async fn up(addr: std::net::SocketAddr) {
    eventually(Duration::from_secs(20), "kurento_up 1", || async move {
        let (_, body) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
        match find(&parse(&body), "kurento_up", &[("kms", "kms")]).first() {
            Some((_, v)) if *v == 1.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// One slow client: sends a release's header with `Content-Length: 60000`,
/// then one byte a second; starts again when the server answers or closes.
/// Counts the answers it got (401 expected).
async fn slow_body(addr: std::net::SocketAddr, until: Instant, answered: Arc<AtomicUsize>) {
    let head =
        "POST /api/v1/objects/x/release HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n";
    while Instant::now() < until {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if s.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut buf = [0u8; 512];
        while Instant::now() < until {
            tokio::select! {
                r = s.read(&mut buf) => {
                    if matches!(r, Ok(n) if n > 0) && buf.starts_with(b"HTTP/1.1 401") {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if s.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            }
        }
        // A slow client is slow to come back too.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_under_a_256_fd_limit_neither_starve_metrics_nor_flood_the_log() {
    let _serial = SERIAL.lock().await;
    let sim = sim_with(4, 2).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    std::fs::write(&config, config_text(port, &sim.ws_url(), "")).unwrap();
    let log = dir.join("daemon.log");
    let mut child = start(&config, &log, Some(256));
    let pid = child.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    up(addr).await;
    let lines_before = std::fs::read_to_string(&log).unwrap().lines().count();

    let cpu0 = cpu_time(pid);
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(12);
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..300)
        .map(|_| tokio::spawn(slow_body(addr, until, answered.clone())))
        .collect();
    // Let every client connect, then ask for the metrics ten times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut ok = 0;
    let mut took = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(1), try_get(addr, "/metrics")).await;
        took.push(start.elapsed());
        if matches!(&r, Ok(Ok((200, body))) if body.contains("kurento_up")) {
            ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for c in clients {
        c.await.unwrap();
    }
    let cpu = cpu_time(pid) - cpu0;
    let wall = t0.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    let new_lines = text.lines().count() - lines_before;
    println!(
        "/metrics {ok}/10 within 1 s ({took:?}); {} answers 401 to slow clients; {new_lines} log lines; CPU {cpu:?} in {wall:?}",
        answered.load(Ordering::Relaxed)
    );
    assert!(ok >= 9, "/metrics answered {ok} of 10 within 1 s: {took:?}");
    assert!(new_lines < 100, "log flood: {new_lines} lines");
    assert!(cpu < wall / 2, "a busy loop: {cpu:?} of CPU in {wall:?}");
    assert!(
        answered.load(Ordering::Relaxed) >= 300,
        "the token is checked before the body: 401 at once"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_do_not_stall_healthz_and_are_dropped() {
    let _serial = SERIAL.lock().await;
    let sim = sim_with(40, 4).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    let extra = "[http]\nwrite_timeout = \"3s\"\n";
    std::fs::write(&config, config_text(port, &sim.ws_url(), extra)).unwrap();
    let log = dir.join("daemon.log");
    let mut child = start(&config, &log, None);
    let pid = child.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    up(addr).await;
    let (_, page) = get(addr, "/metrics").await;
    let idle_rss = rss(pid);
    let idle_fds = fds(pid);
    let mut base = Duration::ZERO;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let start = Instant::now();
        get(addr, "/healthz").await;
        base = base.max(start.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("healthz idle worst {base:?}");

    // 40 clients ask for the page with a tiny receive window and never read.
    let mut stalled = Vec::new();
    for _ in 0..40 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let mut s = sock.connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        stalled.push(s);
    }
    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    let mut peak = 0;
    while t0.elapsed() < Duration::from_secs(5) {
        let start = Instant::now();
        let (status, _) = get(addr, "/healthz").await;
        let took = start.elapsed();
        assert_eq!(status, 200);
        worst = worst.max(took);
        peak = peak.max(rss(pid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "page {} bytes; RSS idle {} MB, peak {} MB; /healthz worst {worst:?}",
        page.len(),
        idle_rss >> 20,
        peak >> 20
    );
    // One shared page: the stalled clients hold references to its buffers,
    // not copies (issue 14: RSS < 2 × idle + one page).
    assert!(
        peak < 2 * idle_rss + page.len() as u64,
        "RSS peak {peak} with 40 stalled clients; idle {idle_rss}, page {}",
        page.len()
    );
    // The bound of the issue, above the noise this shared machine showed
    // before the clients came (renders waiting on /healthz would be seconds).
    assert!(
        worst < Duration::from_millis(100) + base,
        "/healthz took {worst:?} (idle worst {base:?})"
    );
    // The stalled connections are dropped after write_timeout.
    eventually(
        Duration::from_secs(15),
        "stalled connections dropped",
        || async {
            let n = fds(pid);
            if n <= idle_fds + 2 {
                Ok(())
            } else {
                Err(format!("{n} fds open, {idle_fds} when idle"))
            }
        },
    )
    .await;
    drop(stalled);
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends `head` then nothing more; returns the status line's code.
async fn status_of(addr: std::net::SocketAddr, head: &str, limit: Duration) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(limit, s.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_in_size_and_time_and_connections_in_number() {
    let _serial = SERIAL.lock().await;
    let sim = sim_with(1, 2).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    let extra = "[http]\nbody_read_timeout = \"1s\"\nmax_body_bytes = 4096\nmax_connections = 16\n";
    std::fs::write(&config, config_text(port, &sim.ws_url(), extra)).unwrap();
    let mut child = start(&config, &dir.join("daemon.log"), None);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    up(addr).await;
    let attach = "POST /api/v1/pipelines/p/attach-player HTTP/1.1\r\nHost: t\r\n";
    // Without the token: 401 before the (never sent) body.
    let head = format!("{attach}Content-Length: 1000\r\n\r\n");
    assert_eq!(
        status_of(addr, &head, Duration::from_millis(500)).await,
        401
    );
    // With it: a declared 10 MB body is refused at once.
    let auth = format!("Authorization: bearer {TOKEN}\r\n");
    let head = format!("{attach}{auth}Content-Length: 10000000\r\n\r\n");
    assert_eq!(
        status_of(addr, &head, Duration::from_millis(500)).await,
        413
    );
    // A body that never comes: 408 after body_read_timeout.
    let head = format!("{attach}{auth}Content-Length: 100\r\n\r\n{{");
    let start = Instant::now();
    assert_eq!(status_of(addr, &head, Duration::from_secs(5)).await, 408);
    assert!(start.elapsed() >= Duration::from_secs(1));
    // Over max_connections (16): 503, and served again once they go.
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let busy = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    eventually(Duration::from_secs(5), "503 over the cap", || async {
        match status_of(addr, busy, Duration::from_secs(1)).await {
            503 => Ok(()),
            s => Err(format!("{s}")),
        }
    })
    .await;
    drop(held);
    eventually(Duration::from_secs(5), "served again", || async {
        match try_get(addr, "/healthz").await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reads_are_limited_per_target_and_counted() {
    let _serial = SERIAL.lock().await;
    let sim = sim_with(1, 2).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    let extra = "[api]\nlive_max_concurrent = 2\nlive_reads_per_second = 5\n";
    std::fs::write(&config, config_text(port, &sim.ws_url(), extra)).unwrap();
    let mut child = start(&config, &dir.join("daemon.log"), None);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    up(addr).await;
    let pipeline = sim
        .truth()
        .objects
        .iter()
        .find(|o| o.parent.is_none())
        .unwrap()
        .id
        .clone();
    let path = format!("/api/v1/pipelines/{pipeline}/dot?gstreamer=1");
    let t0 = Instant::now();
    let answers = futures_util::future::join_all((0..300).map(|_| {
        let path = path.clone();
        async move { try_get(addr, &path).await.map(|(s, _)| s).unwrap_or(0) }
    }))
    .await;
    let took = t0.elapsed();
    let ok = answers.iter().filter(|s| **s == 200).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    println!("300 DOT reads in {took:?}: {ok} read KMS, {limited} got 429");
    assert_eq!(ok + limited, 300, "{answers:?}");
    // A burst of 5, then 5 a second.
    let bound = 5 + (took.as_secs_f64() * 5.0).ceil() as usize;
    assert!(
        (1..=bound).contains(&ok),
        "{ok} reads reached KMS (bound {bound})"
    );
    // The page's own counters are at most a second old (one shared page).
    eventually(Duration::from_secs(5), "every KMS read counted", || async {
        let page = parse(&get(addr, "/metrics").await.1);
        let counted: f64 = find(
            &page,
            "kurento_exporter_rpc_requests_total",
            &[("kms", "kms"), ("method", "getGstreamerDot")],
        )
        .iter()
        .map(|(_, v)| v)
        .sum();
        if counted as usize == ok {
            Ok(())
        } else {
            Err(format!("{counted} counted, {ok} reads"))
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// One keep-alive client: takes a ticket, GETs `/metrics` (gzip or not) and
/// reads the whole answer; records request-to-last-byte times.
async fn metrics_client(
    addr: std::net::SocketAddr,
    gzip: bool,
    tickets: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<()>>>,
    times: Arc<std::sync::Mutex<Vec<Duration>>>,
) {
    let request = if gzip {
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
    } else {
        "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
    };
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if tickets.lock().await.recv().await.is_none() {
            return;
        }
        let start = Instant::now();
        conn.write_all(request.as_bytes()).await.unwrap();
        // Header, then exactly Content-Length bytes.
        let mut head = Vec::new();
        let body_start = loop {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert_eq!(text.contains("content-encoding: gzip"), gzip, "{text}");
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .expect("a Content-Length");
        let mut left = len - (head.len() - body_start);
        while left > 0 {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-body");
            left -= n;
        }
        times.lock().unwrap().push(start.elapsed());
    }
}

/// `rate` requests a second for `run` over `clients` connections; returns
/// the request-to-last-byte times of those answered within the run.
async fn load(
    addr: std::net::SocketAddr,
    gzip: bool,
    rate: u32,
    run: Duration,
    clients: usize,
) -> Vec<Duration> {
    let (tx, rx) = tokio::sync::mpsc::channel(10_000);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(metrics_client(addr, gzip, rx.clone(), times.clone())))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let t0 = Instant::now();
    while t0.elapsed() < run {
        tick.tick().await;
        tx.send(()).await.unwrap();
    }
    drop(tx);
    let done = times.lock().unwrap().clone();
    for w in workers {
        w.abort();
    }
    done
}

fn p99(times: &mut [Duration]) -> Duration {
    times.sort();
    times[(times.len() * 99 / 100).min(times.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_gzip_scrapes_a_second_share_one_page() {
    let _serial = SERIAL.lock().await;
    // 500 rooms of 4: 2,000 WebRtcEndpoints (and their hub ports).
    let sim = sim_with(500, 4).await;
    let dir = temp_dir();
    let port = free_port();
    let config = dir.join("k.toml");
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\n[scrape]\ninterval = \"5s\"\n[[targets]]\nname = \"kms\"\nurl = \"{}\"\n",
        sim.ws_url()
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.join("daemon.log");
    let mut child = start(&config, &log, None);
    let pid = child.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    up(addr).await;
    let endpoints = |body: &str| {
        find(
            &parse(body),
            "kurento_element_info",
            &[("element_type", "WebRtcEndpoint")],
        )
        .len()
    };
    eventually(
        Duration::from_secs(60),
        "2,000 endpoints on the page",
        || async move {
            let (_, body) = get(addr, "/metrics").await;
            match endpoints(&body) {
                2000 => Ok(()),
                n => Err(format!("{n} endpoints")),
            }
        },
    )
    .await;
    let (_, page) = get(addr, "/metrics").await;
    let idle_rss = rss(pid);

    let run = Duration::from_secs(30);
    let mut gz = load(addr, true, 200, run, 16).await;
    let peak = rss(pid);
    let per_second = gz.len() as f64 / run.as_secs_f64();
    let gz_p99 = p99(&mut gz);
    let mut plain = load(addr, false, 20, Duration::from_secs(10), 4).await;
    let plain_p99 = p99(&mut plain);
    println!(
        "page {} bytes; gzip: {per_second:.1}/s, p99 {gz_p99:?}; plain: {} in 10 s, p99 {plain_p99:?}; RSS idle {} MB, peak {} MB",
        page.len(),
        plain.len(),
        idle_rss >> 20,
        peak >> 20
    );
    assert!(per_second >= 195.0, "{per_second:.1} gzip answers a second");
    assert!(gz_p99 < Duration::from_millis(250), "gzip p99 {gz_p99:?}");
    assert!(
        plain_p99 < Duration::from_millis(500),
        "plain p99 {plain_p99:?}"
    );
    assert!(
        peak < 2 * idle_rss + page.len() as u64,
        "RSS peak {peak} under load; idle {idle_rss}, page {}",
        page.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
