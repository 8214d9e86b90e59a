//! The protocol client's throughput over one WebSocket, and the simulator's
//! memory once populated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kurento_exporter::kms::Client;

use crate::measure::{mib, rss};
use crate::sim::spawn_sim;
use crate::topology::{populate, Topology};

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

pub async fn protocol_bench(quick: bool) {
    println!("## Protocol client against kms-sim (one WebSocket, `invoke getName`)\n");
    println!("| requests in flight | requests/s |");
    println!("| ---: | ---: |");
    let sim = spawn_sim().await;
    let client = Client::connect(crate::client_config(&sim.url, 256))
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
    let pid = Some(sim.pid());
    let base = rss(pid);
    let client = Client::connect(crate::client_config(&sim.url, 256))
        .await
        .expect("connect");
    let n = if quick { 1_000 } else { 10_000 };
    populate(&client, n, Topology::Ring).await;
    // Let media run for a few ticks so every stream has state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = rss(pid);
    println!(
        "| {n} | {:.1} MiB (idle {:.1} MiB) | {:.1} KiB |",
        mib(used as f64),
        mib(base as f64),
        (used.saturating_sub(base)) as f64 / 1024.0 / n as f64
    );
    client.shutdown();
}
