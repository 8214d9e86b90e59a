//! What the bench measures from outside the code it measures: CPU time and
//! resident memory of a process (from /proc, through `procfs`), and
//! `/metrics` as a scraper sees it, over HTTP/1.1 to the daemon's listen
//! address (so the figures stay valid whatever the page's internals).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use procfs::process::Process;

/// The process `pid`, or this process when `None`.
fn process(pid: Option<i32>) -> Process {
    match pid {
        Some(pid) => Process::new(pid),
        None => Process::myself(),
    }
    .expect("/proc entry of the process")
}

/// CPU time (user + system, all threads) of a process, seconds.
pub fn cpu_seconds(pid: Option<i32>) -> f64 {
    let stat = process(pid).stat().expect("/proc/PID/stat");
    (stat.utime + stat.stime) as f64 / procfs::ticks_per_second().max(1) as f64
}

/// Resident memory of a process, bytes.
pub fn rss(pid: Option<i32>) -> u64 {
    let stat = process(pid).stat().expect("/proc/PID/stat");
    stat.rss.saturating_mul(procfs::page_size())
}

/// A CPU meter over a window: CPU seconds of a process since `start`.
pub struct CpuWindow {
    pid: Option<i32>,
    cpu: f64,
    at: Instant,
}

impl CpuWindow {
    pub fn start(pid: Option<i32>) -> Self {
        CpuWindow {
            pid,
            cpu: cpu_seconds(pid),
            at: Instant::now(),
        }
    }

    /// `(CPU seconds, wall seconds)` since the start.
    pub fn read(&self) -> (f64, f64) {
        (
            cpu_seconds(self.pid) - self.cpu,
            self.at.elapsed().as_secs_f64(),
        )
    }
}

/// The median of `xs` (mean of the two middle values for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len().is_multiple_of(2) {
        (xs[m - 1] + xs[m]) / 2.0
    } else {
        xs[m]
    }
}

/// One `/metrics` response as served.
pub struct Served {
    /// Body bytes on the wire (compressed when `encoding` says so).
    pub bytes: usize,
    /// The response's `Content-Encoding`, if any.
    pub encoding: Option<String>,
    /// From sending the request to the body's last byte.
    pub took: Duration,
}

/// `GET /metrics` on a fresh TCP connection to `addr`, with
/// `Accept-Encoding: gzip` when `gzip`; the body is read to its end and
/// counted, not decoded.
pub async fn get_metrics(addr: SocketAddr, gzip: bool) -> Served {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the daemon");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    let conn = tokio::spawn(conn);
    let mut req = Request::get("/metrics").header(HOST, addr.to_string());
    if gzip {
        req = req.header(ACCEPT_ENCODING, "gzip");
    }
    let req = req.body(Empty::<Bytes>::new()).expect("request");
    let started = Instant::now();
    let resp = sender.send_request(req).await.expect("response");
    assert!(resp.status().is_success(), "/metrics: {}", resp.status());
    let encoding = resp
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.expect("body").data_ref() {
            bytes += data.len();
        }
    }
    let took = started.elapsed();
    drop(sender);
    let _ = conn.await;
    Served {
        bytes,
        encoding,
        took,
    }
}

/// A count with thousands separators, as BENCHMARKS.md writes them.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// MiB, for tables.
pub fn mib(bytes: f64) -> f64 {
    bytes / 1_048_576.0
}
