//! A real Prometheus (Debian package `prometheus`) scrapes the daemon, which
//! watches the simulator; PromQL through Prometheus' HTTP API finds the dead
//! endpoint and the live ones (Prometheus asks for gzip: the page it reads is
//! the gzipped one). `promtool check metrics` accepts the default page and
//! the full-detail one (`[metrics] families = ["all"], detail = "stream"`).
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_proto::ids::short_id;
use kms_sim::{Action, Scenario, SimConfig, Vanish};

const LIMIT: Duration = Duration::from_secs(60);

fn start_prometheus(target: std::net::SocketAddr) -> Prometheus {
    start_prometheus_with(
        &std::env::temp_dir(),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kurento-exporter\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
}

/// Elements returned by an instant query.
async fn query(port: u16, q: &str) -> Result<Vec<String>, String> {
    Ok(prometheus_query(port, q)
        .await?
        .iter()
        .filter_map(|(labels, _)| labels["element"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_and_promql_finds_dead_and_live_endpoints() {
    let sim = kms_sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tick: Duration::from_millis(100),
        speed: 5.0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.run_scenario(
        Scenario::new()
            .at(
                0,
                Action::Conference {
                    room: "r".into(),
                    participants: 3,
                    named: vec![],
                },
            )
            .at(
                1_000,
                Action::VanishPeer {
                    room: "r".into(),
                    participant: "p3".into(),
                    how: Vanish::Crash,
                },
            ),
    )
    .await
    .unwrap();
    let d = daemon(config(&[("sim", sim.ws_url())], Duration::from_millis(500))).await;
    let addr = d.addr();
    promtool_accepts(addr, "default page").await;
    let mut full = config(&[("sim", sim.ws_url())], Duration::from_millis(500));
    full.metrics = toml::from_str("families = [\"all\"]\ndetail = \"stream\"").unwrap();
    let f = daemon(full).await;
    let page = promtool_accepts(f.addr(), "full-detail page").await;
    for family in [
        "kurento_rtp_received_packets_total{",
        "kurento_rtp_nacks_total{",
        "kurento_rtp_remb_bytes_per_second{",
        "ssrc=\"",
    ] {
        assert!(page.contains(family), "{family} missing from the full page");
    }
    f.shutdown(Duration::from_secs(5)).await;

    let truth = sim.truth();
    let dead: Vec<String> = truth
        .objects
        .iter()
        .filter(|o| o.kind == "WebRtcEndpoint" && o.peer_present == Some(false))
        .map(|o| short_id(&o.id).to_string())
        .collect();
    let live: Vec<String> = truth
        .objects
        .iter()
        .filter(|o| o.kind == "WebRtcEndpoint" && o.peer_present == Some(true))
        .map(|o| short_id(&o.id).to_string())
        .collect();
    assert_eq!((dead.len(), live.len()), (1, 2), "{truth:?}");

    let prom = start_prometheus(addr);
    let dead_q = r#"kurento_media_flowing{direction="out",media="VIDEO"} == 0"#;
    eventually(LIMIT, "PromQL finds the dead endpoint", || async {
        let got = query(prom.port, dead_q).await?;
        if got == dead {
            Ok(())
        } else {
            Err(format!("{got:?} != {dead:?}"))
        }
    })
    .await;
    let live_q =
        r#"sum by (element) (rate(kurento_rtp_received_bytes_total{media="VIDEO"}[1m])) > 0"#;
    eventually(LIMIT, "PromQL finds the live endpoints", || async {
        let mut got = query(prom.port, live_q).await?;
        got.sort();
        let mut want = live.clone();
        want.sort();
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?} != {want:?}"))
        }
    })
    .await;
    let up = query(prom.port, r#"up{job="kurento-exporter"} == 1"#)
        .await
        .unwrap();
    assert!(up.is_empty(), "up has no element label: {up:?}");
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// Wait until the page at `addr` is populated, check it with `promtool check
/// metrics` (no error, no lint warning) and return it.
async fn promtool_accepts(addr: std::net::SocketAddr, what: &str) -> String {
    let page = eventually(LIMIT, what, || async {
        let (_, body) = get(addr, "/metrics").await;
        if body.contains("kurento_rtp_receive_bitrate_bytes_per_second{")
            && body.contains("kurento_ice_connection_state{")
        {
            Ok(body)
        } else {
            Err("not populated yet".into())
        }
    })
    .await;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics, {what}:\n{report}"
    );
    page
}
