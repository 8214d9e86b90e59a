//! Three cluster members (feature `cluster`), each owning one simulator of
//! 10,000 endpoints (ring), coordinated by a real etcd; side by side in the
//! same run, one daemon watching the same three simulators alone. Each
//! daemon is this bench binary re-run with `__member CONFIG` (its CPU and
//! memory apart); printed: per daemon, endpoints owned, CPU per endpoint and
//! cycle, `/metrics` size, RSS.
//!
//! ```sh
//! cargo bench --bench exporter --features cluster -- cluster [quick]
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kurento_exporter::cluster::rendezvous::owner;
use kurento_exporter::config::{Config, Overrides};
use kurento_exporter::daemon::{run_until_signal, Daemon};
use kurento_exporter::kms::Client;

use crate::measure::{count, get_metrics, mib, rss, CpuWindow};
use crate::sim::{free_port, spawn_sim, Sim};
use crate::topology::{populate, Topology};

/// First argument that makes this binary a daemon process.
pub const MEMBER_CHILD: &str = "__member";

/// The scrape interval (the single-daemon tables' 3 s).
const INTERVAL: Duration = Duration::from_secs(3);

/// A daemon process: the configuration at `path`, until killed.
pub fn member_child(path: &str) {
    let rt = crate::runtime();
    rt.block_on(async {
        let load = || Config::load(Some(Path::new(path)), &Overrides::default());
        let d = Daemon::start(load().expect("config"))
            .await
            .expect("daemon starts");
        // The daemon's own loop: it follows the member list (rebalance).
        run_until_signal(d, load).await.expect("signals");
    });
}

struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// etcd on loopback, once it accepts connections (its ports taken before
/// anything else picks a free one).
async fn start_etcd(dir: &Path) -> Option<Proc> {
    let (port, peer) = (free_port(), free_port());
    let client = format!("http://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{peer}");
    let child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(dir.join("etcd"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &format!("bench={peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let etcd = Proc {
        child,
        addr: ([127, 0, 0, 1], port).into(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(etcd.addr).await.is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(etcd)
}

fn config_text(
    port: u16,
    targets: &[(String, String)],
    cluster: Option<(&str, SocketAddr)>,
) -> String {
    let mut s = format!(
        "listen = \"127.0.0.1:{port}\"\n[scrape]\ninterval = \"3s\"\nstate_interval = \"36s\"\n\
         settled_state_interval = \"540s\"\nrequest_timeout = \"30s\"\n"
    );
    for (name, url) in targets {
        s.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    if let Some((member, etcd)) = cluster {
        s.push_str(&format!(
            "[cluster]\nendpoints = [\"http://{etcd}\"]\nname = \"bench\"\nmember = \"{member}\"\n"
        ));
    }
    s
}

fn start_daemon(dir: &Path, name: &str, text: &str, port: u16) -> Proc {
    let path: PathBuf = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("config written");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .arg(MEMBER_CHILD)
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the daemon process");
    Proc {
        child,
        addr: ([127, 0, 0, 1], port).into(),
    }
}

/// The targets `addr` watches, synced.
async fn synced(addr: SocketAddr) -> BTreeSet<String> {
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await
    else {
        return BTreeSet::new();
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = "GET /api/v1/targets HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return BTreeSet::new();
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map_or("", |b| b.1);
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["targets"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| t["synced_once"] == true)
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One row: a daemon's share, CPU per endpoint and cycle over `cycles`
/// cycles after a state interval, `/metrics` and RSS.
struct Row {
    who: String,
    endpoints: usize,
    cpu_us: f64,
    page: usize,
    gzip: usize,
    rss: u64,
}

async fn measure(procs: &[(String, &Proc, usize)], cycles: u32) -> Vec<Row> {
    // One state interval (12 cycles) first, as the single-daemon tables.
    tokio::time::sleep(INTERVAL * 12).await;
    let windows: Vec<CpuWindow> = procs
        .iter()
        .map(|(_, p, _)| CpuWindow::start(Some(p.child.id() as i32)))
        .collect();
    tokio::time::sleep(INTERVAL * cycles).await;
    let mut rows = Vec::new();
    for ((who, p, endpoints), w) in procs.iter().zip(windows) {
        let (cpu, wall) = w.read();
        let per_cycle = cpu / (wall / INTERVAL.as_secs_f64());
        let page = get_metrics(p.addr, false).await.bytes;
        let gzip = get_metrics(p.addr, true).await.bytes;
        rows.push(Row {
            who: who.clone(),
            endpoints: *endpoints,
            cpu_us: per_cycle / (*endpoints).max(1) as f64 * 1e6,
            page,
            gzip,
            rss: rss(Some(p.child.id() as i32)),
        });
    }
    rows
}

async fn wait_synced(procs: &[&Proc], want: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut n = 0;
        for p in procs {
            n += synced(p.addr).await.len();
        }
        if n >= want {
            return;
        }
        assert!(Instant::now() < deadline, "daemons not synced in 10 min");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The cluster table.
pub async fn run(endpoints: usize, cycles: u32) {
    let dir = std::env::temp_dir().join(format!("kx-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let Some(etcd) = start_etcd(&dir).await else {
        println!("\ncluster bench skipped: no `etcd` on PATH (Debian package etcd-server)");
        return;
    };
    let members: BTreeSet<String> = ["m0", "m1", "m2"].map(String::from).into();
    let mut sims: Vec<Sim> = Vec::new();
    for _ in 0..3 {
        let sim = spawn_sim().await;
        let app = Client::connect(crate::client_config(&sim.url, 256))
            .await
            .expect("connect");
        populate(&app, endpoints, Topology::Ring).await;
        sims.push(sim);
    }
    // Target names such that member i owns simulator i (rendezvous).
    let mut targets = Vec::new();
    for (i, sim) in sims.iter().enumerate() {
        let want = format!("m{i}");
        let name = (0..)
            .map(|j| format!("kms-{j}"))
            .find(|n| owner(n, &members) == Some(want.as_str()))
            .expect("a name");
        targets.push((name, sim.url.clone()));
    }
    println!(
        "\n## Cluster: three members × {} endpoints (ring) against one daemon watching the same three \
         simulators (interval 3 s; {cycles} cycles measured after one state interval)\n",
        count(endpoints)
    );
    println!("| daemon | endpoints | CPU/endpoint/cycle | /metrics size | bytes/endpoint | gzip size | RSS |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let rows = {
        let port = free_port();
        let alone = start_daemon(&dir, "alone", &config_text(port, &targets, None), port);
        wait_synced(&[&alone], 3).await;
        measure(
            &[("one daemon, 3 KMS".into(), &alone, 3 * endpoints)],
            cycles,
        )
        .await
    };
    print_rows(&rows);
    let procs: Vec<Proc> = members
        .iter()
        .map(|m| {
            let port = free_port();
            let text = config_text(port, &targets, Some((m, etcd.addr)));
            start_daemon(&dir, m, &text, port)
        })
        .collect();
    wait_synced(&procs.iter().collect::<Vec<_>>(), 3).await;
    let shares: Vec<(String, &Proc, usize)> = members
        .iter()
        .zip(&procs)
        .map(|(m, p)| (format!("member {m}"), p, endpoints))
        .collect();
    let rows = measure(&shares, cycles).await;
    print_rows(&rows);
    drop(procs);
    drop(etcd);
    let _ = std::fs::remove_dir_all(&dir);
}

fn print_rows(rows: &[Row]) {
    for r in rows {
        println!(
            "| {} | {} | {:.1} µs | {:.2} MiB | {} B | {:.2} MiB | {:.0} MiB |",
            r.who,
            count(r.endpoints),
            r.cpu_us,
            mib(r.page as f64),
            r.page / r.endpoints.max(1),
            mib(r.gzip as f64),
            mib(r.rss as f64),
        );
    }
}
