//! The exporter against a populated simulator, side by side with the
//! kurento-client script, one table row per run: the exporter's cycle, its
//! KMS requests and CPU, the simulator's CPU, `/metrics` over HTTP (size,
//! gzip, served time) and the bench process's memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kurento_exporter::config::{Config, Target};
use kurento_exporter::daemon::Daemon;
use kurento_exporter::kms::Client;

use crate::kurento_client::{self, NodeRun};
use crate::measure::{self, count, get_metrics, median, mib, CpuWindow};
use crate::sim::spawn_sim;
use crate::topology::{populate, Topology};

/// `/metrics` requests per encoding.
const SERVES: usize = 10;

/// Cycles in one state interval (36 s / 3 s), skipped before measuring.
const WARM_CYCLES: usize = 12;

/// How long one run measures.
pub struct Plan {
    pub endpoints: usize,
    /// Exporter cycles measured after the first.
    pub cycles: usize,
    /// kurento-client cycles measured after its warm-up.
    pub node_cycles: usize,
    /// Window over which the idle simulator's CPU is read.
    pub idle: Duration,
}

pub fn print_header(topology: Topology) {
    println!(
        "\n## Exporter against kms-sim, {} (interval 3 s, state re-reads every 12 cycles; \
         steady cycles measured after the first {WARM_CYCLES})\n",
        topology.title()
    );
    println!(
        "| endpoints | elements | first cycle | steady cycle | KMS requests/endpoint/cycle \
         | exporter CPU/endpoint/cycle | exporter CPU/cycle | KMS CPU/cycle (exporter) \
         | kurento-client cycle | kurento-client requests/endpoint/cycle | kurento-client CPU/cycle \
         | KMS CPU/cycle (kurento-client) | kms-sim idle CPU | /metrics bytes/endpoint \
         | /metrics size | gzip size (ratio) | /metrics served | gzip served \
         | RSS between scrapes | RSS after {} /metrics |",
        2 * SERVES
    );
    println!("|{}", " ---: |".repeat(20));
}

/// The exporter's own counters for `kms`: requests per endpoint of the last
/// cycle and `(sum of seconds, count)` of its cycles.
fn exporter_counters(daemon: &Daemon, kms: &str) -> (f64, (f64, u64)) {
    let m = &daemon.metrics().exporter;
    (
        m.last_requests_per_endpoint(kms).unwrap_or(0.0),
        m.sync_totals(kms),
    )
}

struct Steady {
    elements: usize,
    first: f64,
    cycle: f64,
    requests: f64,
    max_requests: f64,
    /// Bench process CPU over the cycles, seconds.
    cpu: f64,
    /// Simulator CPU and wall time over the same window, seconds.
    kms_cpu: f64,
    window: f64,
}

async fn exporter_cycles(daemon: &Daemon, cycles: usize, sim_pid: i32) -> Steady {
    let target = daemon.store().target("bench");
    let wait_sync = |after: u64| {
        let target = target.clone();
        async move {
            loop {
                let at = target.read().health.last_sync_at.unwrap_or(0);
                if at > after {
                    return at;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    // First cycle: the walk and one-time reads of every object.
    let first_start = Instant::now();
    let mut last = wait_sync(0).await;
    let first = first_start.elapsed().as_secs_f64();
    // Then one state interval: every element's states are read once at the
    // short period while their flows are not yet known. Steady cycles come
    // after it.
    for _ in 0..WARM_CYCLES {
        last = wait_sync(last).await;
    }
    let mut totals = Vec::new();
    let mut requests = Vec::new();
    let me = CpuWindow::start(None);
    let kms = CpuWindow::start(Some(sim_pid));
    for _ in 0..cycles {
        last = wait_sync(last).await;
        let (req, total) = exporter_counters(daemon, "bench");
        requests.push(req);
        totals.push(total);
    }
    let (cpu, _) = me.read();
    let (kms_cpu, window) = kms.read();
    let (s0, c0) = totals.first().copied().unwrap_or((0.0, 0));
    let (s1, c1) = totals.last().copied().unwrap_or((0.0, 0));
    let elements = target.read().elements.len();
    Steady {
        elements,
        first,
        cycle: (s1 - s0) / (c1.saturating_sub(c0)).max(1) as f64,
        requests: requests.iter().sum::<f64>() / requests.len().max(1) as f64,
        max_requests: requests.iter().copied().fold(0.0, f64::max),
        cpu,
        kms_cpu,
        window,
    }
}

struct Page {
    bytes: usize,
    gzip_bytes: usize,
    gzip_encoding: Option<String>,
    served: f64,
    gzip_served: f64,
}

async fn metrics_over_http(daemon: &Daemon) -> Page {
    let addr = daemon.addr();
    let mut page = Page {
        bytes: 0,
        gzip_bytes: 0,
        gzip_encoding: None,
        served: 0.0,
        gzip_served: 0.0,
    };
    for gzip in [false, true] {
        let mut took = Vec::new();
        for _ in 0..SERVES {
            let s = get_metrics(addr, gzip).await;
            took.push(s.took.as_secs_f64());
            if gzip {
                page.gzip_bytes = s.bytes;
                page.gzip_encoding = s.encoding;
            } else {
                page.bytes = s.bytes;
            }
        }
        let m = median(took);
        if gzip {
            page.gzip_served = m;
        } else {
            page.served = m;
        }
    }
    page
}

fn daemon_config(url: &str) -> Config {
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        targets: vec![Target {
            name: "bench".into(),
            url: url.into(),
            reaper_mode: None,
        }],
        ..Config::default()
    };
    // The defaults' ratios on a shorter cycle: states re-read every 12
    // cycles, settled elements' every 180 (10 s / 120 s / 30 min).
    cfg.scrape.interval = Duration::from_secs(3);
    cfg.scrape.state_interval = Duration::from_secs(36);
    cfg.scrape.settled_state_interval = Duration::from_secs(540);
    cfg.scrape.request_timeout = Duration::from_secs(30);
    cfg
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1e3)
}

/// Populate a fresh simulator in `topology`, run the kurento-client script
/// (when `node` is ready) and then the exporter against it; print one row and
/// the ratios.
pub async fn run(topology: Topology, plan: &Plan, node: &Result<PathBuf, String>) {
    let n = plan.endpoints;
    let sim = spawn_sim().await;
    let app = Client::connect(crate::client_config(&sim.url, 256))
        .await
        .expect("connect");
    let t = Instant::now();
    populate(&app, n, topology).await;
    eprintln!(
        "{}: {n} endpoints populated in {:.1} s",
        topology.name(),
        t.elapsed().as_secs_f64()
    );
    // Let media run for a few ticks so every stream has state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = CpuWindow::start(Some(sim.pid()));
    tokio::time::sleep(plan.idle).await;
    let (idle_cpu, idle_wall) = idle.read();
    let idle_rate = idle_cpu / idle_wall;

    crate::costs::print(&app, sim.pid(), idle_rate).await;

    let node_run: Result<NodeRun, String> = match node {
        Ok(dir) => kurento_client::run(dir, &sim.url, plan.node_cycles, sim.pid()).await,
        Err(why) => Err(why.clone()),
    };
    if let Err(why) = &node_run {
        eprintln!("kurento-client run failed: {why}");
    }

    let daemon = Daemon::start(daemon_config(&sim.url))
        .await
        .expect("daemon");
    let steady = exporter_cycles(&daemon, plan.cycles, sim.pid()).await;
    let rss_steady = measure::rss(None);
    let page = metrics_over_http(&daemon).await;
    let rss_after = measure::rss(None);
    daemon.shutdown(Duration::from_secs(5)).await;
    app.shutdown();
    drop(sim);

    let cycles = plan.cycles.max(1) as f64;
    let exporter_cpu = steady.cpu / cycles;
    let exporter_kms = (steady.kms_cpu - idle_rate * steady.window) / cycles;
    let node_cols = match &node_run {
        Ok(r) => {
            let kms = (r.kms_cpu - idle_rate * r.kms_window) / r.cycles.max(1) as f64;
            format!(
                "{:.2} s | {:.2} | {} | {}",
                r.wall,
                r.requests / n as f64,
                ms(r.cpu),
                ms(kms)
            )
        }
        Err(_) => "— | — | — | —".into(),
    };
    let gzip = match &page.gzip_encoding {
        Some(e) => format!(
            "{:.2} MiB {e} ({:.1}×)",
            mib(page.gzip_bytes as f64),
            page.bytes as f64 / page.gzip_bytes.max(1) as f64
        ),
        None => format!("{:.2} MiB, not compressed", mib(page.gzip_bytes as f64)),
    };
    println!(
        "| {} | {} | {:.2} s | {:.2} s | {:.2} (max {:.2}) | {:.0} µs | {} | {} | {node_cols} | {:.1} ms/s \
         | {} B | {:.1} MiB | {gzip} | {} | {} | {:.1} MiB | {:.1} MiB |",
        count(n),
        count(steady.elements),
        steady.first,
        steady.cycle,
        steady.requests,
        steady.max_requests,
        exporter_cpu * 1e6 / n as f64,
        ms(exporter_cpu),
        ms(exporter_kms),
        idle_rate * 1e3,
        count(page.bytes / n.max(1)),
        mib(page.bytes as f64),
        ms(page.served),
        ms(page.gzip_served),
        mib(rss_steady as f64),
        mib(rss_after as f64),
    );
    match node_run {
        Ok(r) => {
            let node_kms = (r.kms_cpu - idle_rate * r.kms_window) / r.cycles.max(1) as f64;
            let less = |theirs: f64, ours: f64| {
                if ours > 0.0 {
                    format!("{:.1}x", theirs / ours)
                } else {
                    "n/a (within the idle noise)".to_string()
                }
            };
            println!(
                "\n{} endpoints, {}: exporter uses {} less client CPU, {} less KMS CPU per cycle than \
                 kurento-client (targets ≥20x, ≥4x); kurento-client: {} cycles of {} requests \
                 ({} elements × getStats + isMediaFlowingIn {}), {} in flight.",
                count(n),
                topology.name(),
                less(r.cpu, exporter_cpu),
                less(node_kms, exporter_kms),
                r.cycles,
                count(r.requests as usize),
                count(r.elements),
                kurento_client::MEDIA_TYPES,
                kurento_client::IN_FLIGHT,
            );
        }
        Err(why) => println!("\nkurento-client comparison skipped: {why}"),
    }
}
