//! Benchmarks of the protocol client, the simulator and the exporter, against
//! `kms-sim` running as a separate process (this bench binary re-run with
//! `__kms-sim PORT`: the `kms-sim` library in a process of its own, so its
//! CPU and memory are measured apart from the exporter's). One command runs them all and
//! prints the tables of BENCHMARKS.md:
//!
//! ```sh
//! cargo bench --bench exporter            # everything
//! cargo bench --bench exporter -- quick   # 1,000 endpoints only, shorter runs
//! cargo bench --bench exporter -- policy  # the policy and reaper planning only
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use kurento_exporter::config::{Config, Target};
use kurento_exporter::daemon::Daemon;
use kurento_exporter::kms::{Client, ConnectionConfig};

/// mimalloc: the scrape and the simulator allocate many small JSON values;
/// it cuts their CPU by about a third against glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Sim {
    child: Child,
    url: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn spawn_sim() -> Sim {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("own path"))
        .args([SIM_CHILD, &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the simulator process");
    let url = format!("ws://127.0.0.1:{port}/kurento");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "kms-sim did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Sim { child, url }
}

/// Resident memory of a process, bytes.
fn rss(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) of this process, seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat: 12 and 13 after ')' + state.
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn client_config(url: &str, in_flight: usize) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(url);
    c.max_in_flight = in_flight.max(1);
    c.request_timeout = Duration::from_secs(30);
    c
}

/// Requests per second over one connection with `in_flight` requests outstanding.
async fn throughput(client: &Client, object: &str, in_flight: usize, run: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + run;
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let c = client.clone();
            let done = done.clone();
            let object = object.to_string();
            tokio::spawn(async move {
                while Instant::now() < stop {
                    c.get_name(&object).await.expect("getName");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    for w in workers {
        w.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// `n` WebRtcEndpoints, ten per pipeline, each negotiated with a browser offer
/// (a simulated peer sends to it) and connected in a ring inside its pipeline
/// (so media also flows into each endpoint and out to its peer).
async fn populate(client: &Client, n: usize) {
    let offer_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kurento/samples/browser/close-browser-offer.json"
    );
    let offer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(offer_file).expect("browser offer sample"))
            .expect("json");
    let offer = offer["sdp"].as_str().expect("sdp").to_string();
    let per = 10;
    let pipelines = n.div_ceil(per);
    stream::iter(0..pipelines)
        .map(|_| {
            let c = client.clone();
            let offer = offer.clone();
            async move {
                let p = c.create_pipeline().await.expect("pipeline");
                let mut eps = Vec::new();
                for _ in 0..per {
                    let e = c
                        .create_element("WebRtcEndpoint", &p)
                        .await
                        .expect("endpoint");
                    c.process_offer(&e, &offer).await.expect("processOffer");
                    c.gather_candidates(&e).await.expect("gatherCandidates");
                    eps.push(e);
                }
                for i in 0..eps.len() {
                    let next = &eps[(i + 1) % eps.len()];
                    c.connect_elements(&eps[i], next, None)
                        .await
                        .expect("connect");
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

async fn protocol_bench(quick: bool) {
    println!("## Protocol client against kms-sim (one WebSocket, `invoke getName`)\n");
    println!("| requests in flight | requests/s |");
    println!("| ---: | ---: |");
    let sim = spawn_sim().await;
    let client = Client::connect(client_config(&sim.url, 256))
        .await
        .expect("connect");
    let p = client.create_pipeline().await.expect("pipeline");
    let e = client
        .create_element("WebRtcEndpoint", &p)
        .await
        .expect("endpoint");
    let run = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    for in_flight in [1, 16, 256] {
        let rps = throughput(&client, &e, in_flight, run).await;
        println!("| {in_flight} | {rps:.0} |");
    }
    client.shutdown();
    drop(sim);

    println!("\n## Simulator memory\n");
    println!("| endpoints | kms-sim RSS | per endpoint |");
    println!("| ---: | ---: | ---: |");
    let sim = spawn_sim().await;
    let pid = sim.child.id().to_string();
    let base = rss(&pid);
    let client = Client::connect(client_config(&sim.url, 256))
        .await
        .expect("connect");
    let n = if quick { 1_000 } else { 10_000 };
    populate(&client, n).await;
    // Let media run for a few ticks so every stream has state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = rss(&pid);
    println!(
        "| {n} | {:.1} MiB (idle {:.1} MiB) | {:.1} KiB |",
        used as f64 / 1048576.0,
        base as f64 / 1048576.0,
        (used.saturating_sub(base)) as f64 / 1024.0 / n as f64
    );
    client.shutdown();
}

async fn scrape_bench(n: usize, cycles: usize) {
    let sim = spawn_sim().await;
    let app = Client::connect(client_config(&sim.url, 256))
        .await
        .expect("connect");
    populate(&app, n).await;
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        targets: vec![Target {
            name: "bench".into(),
            url: sim.url.clone(),
            reaper_mode: None,
        }],
        ..Config::default()
    };
    // The defaults' ratio (state re-reads every 12 cycles) on a shorter cycle.
    cfg.scrape.interval = Duration::from_secs(3);
    cfg.scrape.state_interval = Duration::from_secs(36);
    cfg.scrape.request_timeout = Duration::from_secs(30);
    let daemon = Daemon::start(cfg).await.expect("daemon");
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
    let first = first_start.elapsed();
    let mut durations = Vec::new();
    let mut requests = Vec::new();
    let cpu0 = cpu_seconds();
    for _ in 0..cycles {
        last = wait_sync(last).await;
        let m = &daemon.metrics().exporter;
        requests.push(m.last_requests_per_endpoint("bench").unwrap_or(0.0));
        durations.push(m.sync_totals("bench"));
    }
    let cpu = cpu_seconds() - cpu0;
    let (s0, c0) = durations.first().copied().unwrap_or((0.0, 0));
    let (s1, c1) = durations.last().copied().unwrap_or((0.0, 0));
    let cycle = (s1 - s0) / (c1.saturating_sub(c0)).max(1) as f64;
    let req = requests.iter().sum::<f64>() / requests.len().max(1) as f64;
    let max_req = requests.iter().cloned().fold(0.0, f64::max);
    let rss_model = rss("self");
    let renders = 5;
    let t = Instant::now();
    let mut size = 0;
    for _ in 0..renders {
        size = daemon.metrics().render(None).expect("render").1.len();
    }
    let render = t.elapsed() / renders;
    let elements = target.read().elements.len();
    let rss_after = rss("self");
    println!(
        "| {n} | {elements} | {:.2} s | {:.2} s | {req:.2} (max {max_req:.2}) | {:.0} µs | {:.1} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
        first.as_secs_f64(),
        cycle,
        cpu * 1e6 / (n as f64 * cycles as f64),
        render.as_secs_f64() * 1e3,
        size as f64 / 1048576.0,
        rss_model as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
    );
    daemon.shutdown(Duration::from_secs(5)).await;
    app.shutdown();
}

/// A model of `n` WebRtcEndpoints (4 per pipeline, plus a HubPort each), a
/// third of them with a vanished peer, as the scrape would have built it.
fn policy_model(n: usize, now: u64) -> kurento_exporter::model::TargetModel {
    use kurento_exporter::kms::types::{MediaState, MediaType};
    use kurento_exporter::model::{
        Direction, Element, EndpointChange, Pipeline, TargetModel, Update,
    };
    let mut m = TargetModel::new("bench");
    m.apply(Update::Connected(true));
    let t0 = now - 3_600_000;
    for p in 0..n / 4 {
        let pid = format!("{p:08}-0000-0000-0000-000000000000_kurento.MediaPipeline");
        m.apply(Update::Pipeline(Pipeline {
            id: pid.clone(),
            name: format!("room-{p}"),
            first_seen: t0,
            ..Default::default()
        }));
        for e in 0..4 {
            for ty in ["WebRtcEndpoint", "HubPort"] {
                let id = format!("{pid}/{p:08}-{e:04}-0000-0000-000000000000_kurento.{ty}");
                m.apply(Update::Element(Box::new(Element {
                    id: id.clone(),
                    pipeline: pid.clone(),
                    element_type: ty.into(),
                    name: id.clone(),
                    first_seen: t0,
                    ..Default::default()
                })));
                let gone = (p * 4 + e) % 3 == 0;
                for media in [MediaType::AUDIO, MediaType::VIDEO] {
                    for (dir, flowing) in [(Direction::In, true), (Direction::Out, !gone)] {
                        m.apply(Update::Flow {
                            element: id.clone(),
                            direction: dir,
                            media,
                            flowing: true,
                            at: t0,
                        });
                        m.apply(Update::Flow {
                            element: id.clone(),
                            direction: dir,
                            media,
                            flowing,
                            at: now - 600_000,
                        });
                    }
                }
                if ty == "WebRtcEndpoint" {
                    let state = if gone {
                        MediaState::DISCONNECTED
                    } else {
                        MediaState::CONNECTED
                    };
                    m.apply(Update::Endpoint {
                        element: id.clone(),
                        change: EndpointChange::RemoteSdp(Some("v=0\r\n".into())),
                        at: t0,
                    });
                    m.apply(Update::Endpoint {
                        element: id,
                        change: EndpointChange::MediaState(state),
                        at: now - 590_000,
                    });
                }
            }
        }
    }
    m.apply(Update::Synced { ok: true, at: now });
    m
}

/// Time of one judgement (policy `decide` + reaper `Ledger::plan`) per model size.
fn policy_bench() {
    use kurento_exporter::policy::{decide, History, Policy, PolicyConfig, SessionView};
    use kurento_exporter::reaper::{Freshness, Ledger, Mode};
    println!("\n## Policy judgement (default rules + a release rule, enforce planning)\n");
    println!("| endpoints | elements | verdicts | decide | plan | decide per element |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut cfg = PolicyConfig::default();
    let release: PolicyConfig = toml::from_str(
        r#"
[[rules]]
name = "gone"
action = "release"
min_age = "5m"
match = { element_types = ["WebRtcEndpoint"] }
when = { all = [ { no_flow = { direction = "out", for = "5m" } }, { media_disconnected = "5m" } ] }
"#,
    )
    .expect("rule");
    cfg.rules.extend(release.rules);
    let policy = Policy::new(&cfg).expect("policy");
    let now = 1_800_000_000_000u64;
    for n in [1_000usize, 10_000, 20_000] {
        let m = policy_model(n, now);
        let history = History::new();
        let runs = 5;
        let started = Instant::now();
        let mut d = decide(&m, &policy, &history, &SessionView::Unknown, now);
        for _ in 1..runs {
            d = decide(&m, &policy, &history, &SessionView::Unknown, now);
        }
        let per = started.elapsed() / runs;
        let mut ledger = Ledger::new("bench", Mode::Enforce, 100_000, now);
        let started = Instant::now();
        let plan = ledger.plan(&d, Freshness::Fresh, now, |_| true);
        let plan_t = started.elapsed();
        assert!(!plan.records.is_empty());
        println!(
            "| {n} | {} | {} | {:.1} ms | {:.1} ms | {:.2} µs |",
            m.elements.len(),
            d.verdicts.len(),
            per.as_secs_f64() * 1e3,
            plan_t.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e6 / m.elements.len() as f64
        );
    }
}

/// First argument that makes this binary the simulator process.
const SIM_CHILD: &str = "__kms-sim";

/// The simulator process: `kms-sim` on 127.0.0.1:`port`, media tick 1 s,
/// until killed.
fn sim_child(port: &str) {
    let port: u16 = port.parse().expect("port");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let _sim = kms_sim::start(kms_sim::SimConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            tick: Duration::from_millis(1000),
            ..kms_sim::SimConfig::default()
        })
        .await
        .expect("kms-sim starts");
        std::future::pending::<()>().await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SIM_CHILD) {
        return sim_child(args.get(2).map_or("0", String::as_str));
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` / `cargo test --benches` probes.
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    if args.iter().any(|a| a == "policy") {
        policy_bench();
        return;
    }
    let only_scrape = args.iter().any(|a| a == "scrape");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if !only_scrape {
            protocol_bench(quick).await;
        }
        println!("\n## Exporter against kms-sim (interval 3 s, state re-reads every 12 cycles)\n");
        println!("| endpoints | elements | first cycle | steady cycle | KMS requests/endpoint/cycle | exporter CPU/endpoint/cycle | /metrics render | /metrics size | RSS before /metrics | RSS after 5 renders |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        scrape_bench(1_000, if quick { 3 } else { 14 }).await;
        if !quick {
            scrape_bench(10_000, 14).await;
        }
    });
}
