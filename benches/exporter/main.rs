//! Benchmarks of the protocol client, the simulator and the exporter, against
//! `kms-sim` running as a separate process (this bench binary re-run with
//! `__kms-sim PORT`, see `sim.rs`), side by side with a monitoring loop
//! written with the official kurento-client (`benches/kurento-client/`, run
//! with Node.js when present). One command runs them all and prints the
//! tables of BENCHMARKS.md (progress goes to stderr):
//!
//! ```sh
//! cargo bench --bench exporter            # everything, 10,000 endpoints
//! cargo bench --bench exporter -- quick   # 1,000 endpoints, shorter runs
//! cargo bench --bench exporter -- scrape  # the exporter tables only
//! cargo bench --bench exporter -- policy  # the policy and reaper planning only
//! ```
//!
//! `ring` or `mcu` restricts the exporter tables to one topology. With the
//! `cluster` feature, `cluster` runs the three-member table only
//! (`cargo bench --bench exporter --features cluster -- cluster`).
//! `/metrics` is measured only over HTTP against the daemon's listen port.

#[cfg(feature = "cluster")]
mod cluster;
mod costs;
mod kurento_client;
mod measure;
mod policy;
mod protocol;
mod scrape;
mod sim;
mod topology;

use std::time::Duration;

use kurento_exporter::kms::ConnectionConfig;

use topology::Topology;

/// mimalloc: the scrape and the simulator allocate many small JSON values;
/// it cuts their CPU by about a third against glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The protocol client's settings used by the bench's own connections.
pub fn client_config(url: &str, in_flight: usize) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(url);
    c.max_in_flight = in_flight.max(1);
    c.request_timeout = Duration::from_secs(30);
    c
}

/// The runtime of the bench and of its daemon children: two workers, as on
/// the CI machine.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(sim::SIM_CHILD) {
        return sim::sim_child(args.get(2).map_or("0", String::as_str));
    }
    #[cfg(feature = "cluster")]
    if args.get(1).map(String::as_str) == Some(cluster::MEMBER_CHILD) {
        return cluster::member_child(args.get(2).map_or("", String::as_str));
    }
    let has = |word: &str| args.iter().any(|a| a == word);
    if has("--list") {
        // `cargo bench -- --list` / `cargo test --benches` probes.
        return;
    }
    if has("policy") {
        policy::policy_bench();
        return;
    }
    let quick = has("quick");
    let topologies: Vec<Topology> = match (has("ring"), has("mcu")) {
        (true, false) => vec![Topology::Ring],
        (false, true) => vec![Topology::Mcu],
        _ => vec![Topology::Ring, Topology::Mcu],
    };
    let plan = if quick {
        scrape::Plan {
            endpoints: 1_000,
            cycles: 12,
            node_cycles: 3,
            idle: Duration::from_secs(3),
        }
    } else {
        scrape::Plan {
            endpoints: 10_000,
            cycles: 14,
            node_cycles: 5,
            idle: Duration::from_secs(6),
        }
    };
    let rt = runtime();
    rt.block_on(async {
        #[cfg(feature = "cluster")]
        if has("cluster") {
            let (n, cycles) = if quick { (1_000, 3) } else { (10_000, 5) };
            return cluster::run(n, cycles).await;
        }
        if !has("scrape") {
            protocol::protocol_bench(quick).await;
        }
        let node = kurento_client::prepare().await;
        if let Err(why) = &node {
            println!("\nkurento-client comparison skipped: {why}");
        }
        for topology in topologies {
            scrape::print_header(topology);
            scrape::run(topology, &plan, &node).await;
        }
        println!(
            "\nKMS CPU is the simulator process's CPU over the measured cycles less its idle rate \
             (media ticks alone, the `kms-sim idle CPU` column); kms-sim keeps no request counter, \
             so requests are counted by the exporter (`kurento_exporter_requests_per_endpoint`) \
             and by the script."
        );
    });
}
