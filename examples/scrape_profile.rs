//! Profiling aid: a daemon scraping a `kms-sim` (already running, URL in
//! argv[1]) populated with `n` endpoints (argv[2]), for `secs` seconds (argv[3]).
//! `perf record -p <pid>` it once it prints READY.
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kurento_exporter::config::{Config, Target};
use kurento_exporter::daemon::Daemon;
use kurento_exporter::kms::{Client, ConnectionConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::args().nth(1).expect("kms url");
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let secs: u64 = std::env::args()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let mut cc = ConnectionConfig::new(url.clone());
    cc.max_in_flight = 256;
    let app = Client::connect(cc).await.expect("connect");
    for _ in 0..n / 10 {
        let p = app.create_pipeline().await.unwrap();
        for _ in 0..10 {
            let e = app.create_element("WebRtcEndpoint", &p).await.unwrap();
            let offer = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/kurento/samples/browser/close-browser-offer.json"
            ))
            .unwrap();
            let offer: serde_json::Value = serde_json::from_str(&offer).unwrap();
            app.process_offer(&e, offer["sdp"].as_str().unwrap())
                .await
                .unwrap();
            app.gather_candidates(&e).await.unwrap();
        }
    }
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        targets: vec![Target {
            name: "p".into(),
            url,
            reaper_mode: None,
        }],
        ..Config::default()
    };
    cfg.scrape.interval = Duration::from_secs(1);
    cfg.scrape.state_interval = Duration::from_secs(12);
    let d = Daemon::start(cfg).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("READY {}", std::process::id());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (s, c) = d.metrics().exporter.sync_totals("p");
    println!("cycles {c} mean {:.3}s", s / c.max(1) as f64);
    d.shutdown(Duration::from_secs(2)).await;
}
