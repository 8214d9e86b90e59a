//! Issue 5, acceptance 1 and 2: the alerting pipeline end to end with real
//! servers on loopback. kms-sim runs a leaky scenario (rooms forgotten whole,
//! participants forgotten, a packet-loss/jitter/RTT episode, peers failing
//! ICE), the daemon watches it (plus a dead KMS target), a real Prometheus
//! scrapes the daemon (plus a dead exporter instance) with a copy of
//! alerts/kurento-exporter.yml whose `for:` durations are shortened
//! (thresholds unchanged), and a real Alertmanager runs deploy/alertmanager.yml
//! (routing and inhibitions unchanged, timers shortened, receivers pointed at
//! a webhook in the test).
//!
//! 1. With the reaper in dry-run the zombie alerts fire and reach the webhook;
//!    switched to enforce (config reload), the reaper releases the zombies
//!    (a few releases failing first: KMS does not answer them) and
//!    Alertmanager sends the resolved notifications.
//!    Then KMS answers media-state reads late for a while: the exporter
//!    counts request timeouts (its errors alert and panels).
//! 2. Every rule expression (as Prometheus loaded it) and every dashboard
//!    query (variables substituted) runs through the query API, parses, and
//!    returns data in this scenario, except the short EXPECTED_EMPTY list.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod alerts_support;
mod exporter_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alerts_support::exprs::{self, Query, Selection};
use alerts_support::scenario::*;
use alerts_support::*;
use exporter_common::*;
use kms_sim::Fault;
use kurento_exporter::reaper::Mode;

/// Every alert's `for:` in the test copy of the rules.
const FOR: &str = "2s";
const FOR_SECONDS: f64 = 2.0;
/// WebRtcEndpoints created and never negotiated, alongside the meetings.
const UNNEGOTIATED: usize = 5;

/// Long enough for a loaded 2-core machine; the usual run is much shorter.
const LIMIT: Duration = Duration::from_secs(90);

/// Queries with no data in this scenario, and why.
const EXPECTED_EMPTY: &[(&str, &str)] = &[
    (
        "alert KurentoExporterConfigReloadFailed (warning)",
        "no reload is refused in this scenario (tests/daemon_bin.rs refuses one and reads the gauge)",
    ),
    (
        "alert KurentoExporterAbsent (warning)",
        "absent(): has data only when Prometheus scrapes no exporter at all",
    ),
    (
        "alert KurentoReaperNotEnforcingWhileZombiesGrow (info)",
        "compares with `offset 30m`: this Prometheus holds a minute or two of history",
    ),
    (
        "alert KurentoExporterSyncSlow (warning)",
        "sync p95 above 5 s: syncs over loopback take milliseconds",
    ),
    (
        "alert KurentoExporterSyncStale (warning)",
        "a target up whose last sync is 2 minutes old: needs a stuck sync cycle",
    ),
    (
        "alert KurentoMediaNotFlowingWhileConnected (warning)",
        "the simulator has no lasting connected-but-silent endpoint: an interrupted or \
         vanished peer goes DISCONNECTED 22-30 simulated s (2-3 s here) after its flow stops",
    ),
    (
        "alert KurentoProbeFailing (critical)",
        "the synthetic probe is off by default: no kurento_probe_* series",
    ),
    (
        "alert KurentoProbeNotRunning (warning)",
        "the synthetic probe is off by default: no kurento_probe_* series",
    ),    (
        "kurento-overview.json #26 \"Members\" [B]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #29 \"Owner of each target\" [A]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #29 \"Owner of each target\" [B]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #28 \"etcd reachable and lease valid, per member\" [A]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #28 \"etcd reachable and lease valid, per member\" [B]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #30 \"etcd errors, lock refusals and ownership changes\" [A]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #30 \"etcd errors, lock refusals and ownership changes\" [B]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
    (
        "kurento-overview.json #30 \"etcd errors, lock refusals and ownership changes\" [C]",
        "no [cluster] in this scenario: no kurento_exporter_cluster_* series (tests/cluster_etcd.rs runs members)",
    ),
];

/// Removes the test's directory last (declared first, dropped last).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The index of the first alert notified after number `after` that is
/// `alert` of severity `severity` for KMS `kms`, with `status`.
fn notified(
    got: &[Notified],
    alert: &str,
    severity: &str,
    status: &str,
    after: usize,
) -> Option<usize> {
    got.iter().enumerate().skip(after).find_map(|(i, n)| {
        (n.label("alertname") == alert
            && n.label("kms") == "kms"
            && n.label("severity") == severity
            && n.status == status)
            .then_some(i)
    })
}

/// The zombie alerts of KMS `kms` and their receivers under
/// deploy/alertmanager.yml (severity routing).
const ZOMBIE_ALERTS: &[(&str, &str, &str)] = &[
    ("KurentoZombieEndpointsAccumulating", "critical", "pager"),
    ("KurentoZombiePipelinesAccumulating", "warning", "team-chat"),
];

/// Rules as Prometheus loaded them: (source name, query, health, error, for).
async fn loaded_rules(prom: std::net::SocketAddr) -> Vec<(String, String, String, String, f64)> {
    let data = api(prom, "/api/v1/rules").await.expect("rules API");
    let mut out = Vec::new();
    for g in data["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default();
            let source = match r["type"].as_str() {
                Some("alerting") => {
                    format!(
                        "alert {name} ({})",
                        r["labels"]["severity"].as_str().unwrap_or("")
                    )
                }
                _ => format!("record {name}"),
            };
            out.push((
                source,
                r["query"].as_str().unwrap_or_default().to_string(),
                r["health"].as_str().unwrap_or_default().to_string(),
                r["lastError"].as_str().unwrap_or_default().to_string(),
                r["duration"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    out
}

/// Run every query once: source -> Ok(number of samples) or the error.
async fn run_all(
    prom: std::net::SocketAddr,
    queries: &[Query],
) -> BTreeMap<String, Result<usize, String>> {
    let mut out = BTreeMap::new();
    for q in queries {
        out.insert(
            q.source.clone(),
            query(prom, &q.expr).await.map(|r| r.len()),
        );
    }
    out
}

/// Wait until `expr` returns data in Prometheus.
async fn until_data(prom: std::net::SocketAddr, what: &str, expr: &str) {
    eventually(LIMIT, what, || async {
        match query(prom, expr).await? {
            r if r.is_empty() => Err(format!("no data: {expr}")),
            _ => Ok(()),
        }
    })
    .await;
}

/// Failed reaper actions, counted from Prometheus' first sample: as many as
/// KurentoReaperReleasesFailing needs without increase()'s extrapolation
/// (which fades as the series grows).
const FAILED_ENOUGH: &str = r#"sum by (kms) (
  kurento_reaper_actions_total{outcome="failed"}
  - min_over_time(kurento_reaper_actions_total{outcome="failed"}[15m])) >= 3"#;

/// Exporter errors from Prometheus' first sample: more than
/// KurentoExporterErrors' 0.05/s over 10 minutes, without extrapolation.
const ERRORS_ENOUGH: &str = r#"sum by (kms, kind) (
  kurento_exporter_errors_total - min_over_time(kurento_exporter_errors_total[10m])) > 31"#;

/// The daemon's count of `kurento_reaper_actions_total` for `kms`.
async fn reaper_actions(d: std::net::SocketAddr, action: &str, outcome: &str) -> f64 {
    find(
        &scrape(d).await,
        "kurento_reaper_actions_total",
        &[("kms", "kms"), ("action", action), ("outcome", outcome)],
    )
    .iter()
    .map(|(_, v)| v)
    .sum()
}

/// The daemon's reaper counters and sync state of `kms`, for failure messages.
async fn reaper_summary(d: std::net::SocketAddr) -> String {
    let page = scrape(d).await;
    let mut out: Vec<String> = find(&page, "kurento_reaper_actions_total", &[("kms", "kms")])
        .iter()
        .map(|(s, v)| {
            format!(
                "{}/{}/{}={v}",
                s.label("rule"),
                s.label("action"),
                s.label("outcome")
            )
        })
        .collect();
    for name in ["kurento_up", "kurento_zombies", "kurento_reaper_mode"] {
        for (s, v) in find(&page, name, &[("kms", "kms")]) {
            out.push(format!("{name}{:?}={v}", s.labels));
        }
    }
    out.join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_alert_fires_and_resolves_and_every_query_runs() {
    let t0 = Instant::now();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = TempDir(temp_dir("kx-alerts-e2e"));
    let blackhole = Blackhole::start().await;
    let webhook = Webhook::start().await;
    // The simulated clock runs SPEED times faster than the real one: the
    // rooms open at once, so that their KMS creation times are not ahead of
    // the daemon's clock (rule min_age).
    let sim = start_sim().await;
    sim.run_scenario(start_meetings()).await.unwrap();
    let pipeline = sim
        .with_engine(|e, _| e.app_room_pipeline("lossy"))
        .expect("lossy pipeline");
    enable_latency_stats(&sim, &pipeline);
    let mut daemon = daemon(daemon_config(
        &sim.ws_url(),
        blackhole.addr,
        &dir.0,
        Mode::DryRun,
    ))
    .await;

    let shipped = std::fs::read_to_string(root().join("alerts/kurento-exporter.yml")).unwrap();
    let (rules, rewritten) = shorten_for(&shipped, FOR);
    let alerts = shipped
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    let records = shipped
        .lines()
        .filter(|l| l.trim_start().starts_with("- record:"))
        .count();
    assert_eq!(rewritten, alerts, "one `for:` line per alert");
    let am_shipped = std::fs::read_to_string(root().join("deploy/alertmanager.yml")).unwrap();
    let (am_cfg, urls) = alertmanager_config(&am_shipped, webhook.addr, "1s");
    assert_eq!(urls, 3, "a webhook URL per receiver");
    let mut am = start_alertmanager(&dir.0, &am_cfg);
    let targets = [daemon.addr(), blackhole.addr];
    let mut prom = start_prometheus(&dir.0, &targets, &rules, am.addr());
    am.ready("alertmanager").await;
    prom.ready("prometheus").await;
    let p = prom.addr();

    // Prometheus loaded every rule of the shipped file, with the short `for:`.
    let loaded = eventually(LIMIT, "every rule loaded", || async {
        let l = loaded_rules(p).await;
        if l.len() == alerts + records {
            Ok(l)
        } else {
            Err(format!("{} of {} rules", l.len(), alerts + records))
        }
    })
    .await;
    for (source, _, _, _, for_s) in &loaded {
        if source.starts_with("alert ") {
            assert_eq!(*for_s, FOR_SECONDS, "{source}: for");
        }
    }
    targets_scraped(p, targets.len()).await;

    // Every endpoint that can is seen flowing: all but the three failing ICE
    // (the lossy room's three and the firewalled room's reachable one).
    let flowing_wanted = LEAKED_ROOMS * LEAKED_SIZE as usize + KEPT_ROOMS * KEPT_SIZE as usize + 4;
    let d = daemon.addr();
    eventually(LIMIT, "endpoints flowing", || async move {
        let page = scrape(d).await;
        // Short ids: the element's type is on kurento_element_info only.
        let webrtc: std::collections::BTreeSet<&str> = find(
            &page,
            "kurento_element_info",
            &[("element_type", "WebRtcEndpoint")],
        )
        .iter()
        .map(|(s, _)| s.label("element"))
        .collect();
        let n = find(
            &page,
            "kurento_media_flowing",
            &[("direction", "out"), ("media", "VIDEO")],
        )
        .iter()
        .filter(|(s, v)| *v == 1.0 && webrtc.contains(s.label("element")))
        .count();
        if n >= flowing_wanted {
            Ok(())
        } else {
            Err(format!("{n} of {flowing_wanted}"))
        }
    })
    .await;
    println!(
        "[{:?}] servers up, {flowing_wanted} endpoints flowing",
        t0.elapsed()
    );

    // Endpoints an application created and never negotiated: KMS answers
    // their SDP getters 40202/40203, "no SDP yet", never an exporter error.
    let app = kurento_exporter::kms::Client::connect(kurento_exporter::kms::ConnectionConfig::new(
        sim.ws_url(),
    ))
    .await
    .expect("application client connects");
    let unnegotiated = app.create_pipeline().await.expect("pipeline");
    for _ in 0..UNNEGOTIATED {
        app.create_element("WebRtcEndpoint", &unnegotiated)
            .await
            .expect("endpoint");
    }

    // The leak: in dry-run the zombies stay and the alerts fire.
    sim.run_scenario(leak()).await.unwrap();
    let zombies =
        r#"count(count by (element) (kurento_zombie{kms="kms", element_type!="MediaPipeline"}))"#;
    eventually(LIMIT, "zombie alerts notified as firing", || async {
        let got = webhook.received();
        let n = query(p, zombies).await?;
        let missing: Vec<_> = ZOMBIE_ALERTS
            .iter()
            .filter(|(a, sev, _)| notified(&got, a, sev, "firing", 0).is_none())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "missing {missing:?}; zombie elements: {n:?}; reaper: {}",
                reaper_summary(d).await
            ))
        }
    })
    .await;
    let got = webhook.received();
    for (alert, severity, receiver) in ZOMBIE_ALERTS {
        let i = notified(&got, alert, severity, "firing", 0).unwrap();
        assert_eq!(got[i].receiver, *receiver, "{alert} routed by severity");
    }
    // The never-negotiated endpoints were read many times: no error counted,
    // and KurentoExporterErrors silent.
    let kms_errors = find(
        &scrape(d).await,
        "kurento_exporter_errors_total",
        &[("kms", "kms"), ("kind", "kms_error")],
    )
    .iter()
    .map(|(_, v)| *v)
    .sum::<f64>();
    assert_eq!(kms_errors, 0.0, "no SDP yet is not an error");
    assert!(
        notified(&got, "KurentoExporterErrors", "warning", "firing", 0).is_none(),
        "KurentoExporterErrors fired before any fault"
    );
    println!("[{:?}] zombie alerts firing at the webhook", t0.elapsed());

    // Acceptance 2, first pass: while zombies are there. The dashboards'
    // `pipeline` is the short id: the UUID part of the KMS id.
    let short_pipeline = pipeline
        .strip_suffix("_kurento.MediaPipeline")
        .expect("a KMS pipeline id");
    let sel = Selection {
        kms: "kms",
        pipeline: short_pipeline,
    };
    let (panels, variables) = exprs::dashboards(&root().join("grafana/dashboards"), &sel);
    let mut queries: Vec<Query> = loaded
        .iter()
        .map(|(source, expr, ..)| Query {
            source: source.clone(),
            expr: expr.clone(),
        })
        .collect();
    queries.extend(panels);
    for q in &queries {
        assert!(
            exprs::leftover_variable(&q.expr).is_none(),
            "{}: {}",
            q.source,
            q.expr
        );
    }
    let first = run_all(p, &queries).await;

    // Enforce, with KMS silent on `release` for a while: some releases fail.
    sim.inject(Fault::Silent {
        method: "release".into(),
    });
    let mut cfg = daemon.config().clone();
    cfg.targets[0].reaper_mode = Some(Mode::Enforce);
    daemon.reload(cfg);
    until_data(p, "failed releases", FAILED_ENOUGH).await;
    sim.clear_faults();
    println!(
        "[{:?}] enforcing; releases failed while KMS was silent",
        t0.elapsed()
    );
    // An operator asks to release a live endpoint: aborted, media flows
    // (an outcome neither ok nor failed, for the "Released" stat check).
    let live = sim
        .with_engine(|e, _| e.app_endpoint("lossy", "p1"))
        .expect("a live endpoint");
    let path = format!("/api/v1/objects/{}/release", live.replace('/', "%2F"));
    let (status, body) = post(daemon.addr(), &path, Some(API_TOKEN)).await;
    assert_eq!(status, 409, "{body}");
    // Twice, once Prometheus holds the first: increase() needs two samples.
    until_data(
        p,
        "an aborted release",
        r#"kurento_reaper_actions_total{outcome="aborted_flowing"}"#,
    )
    .await;
    let (status, body) = post(daemon.addr(), &path, Some(API_TOKEN)).await;
    assert_eq!(status, 409, "{body}");
    eventually(LIMIT, "every zombie released", || async {
        let left = sim.truth().objects.iter().filter(|o| o.zombie).count();
        if left == 0 {
            Ok(())
        } else {
            Err(format!(
                "{left} zombies left; reaper: {}",
                reaper_summary(d).await
            ))
        }
    })
    .await;
    // The leaked pipelines, the forgotten endpoints and hub ports, and the
    // three endpoints whose ICE failed (no media from their peers, media
    // DISCONNECTED: the peer-gone rule's dead calls, though the app keeps them)
    // with their three hub ports (whose only neighbour is then a zombie).
    // (The simulator forgets an object before the reaper books its answer.)
    let want = (LEAKED_ROOMS + 4 * KEPT_ROOMS + 3 + 3) as f64;
    eventually(LIMIT, "releases counted", || async move {
        match reaper_actions(d, "release", "ok").await {
            n if n == want => Ok(()),
            n => Err(format!("{n} releases ok, want {want}")),
        }
    })
    .await;
    eventually(LIMIT, "zombie alerts notified as resolved", || async {
        let got = webhook.received();
        let missing: Vec<_> = ZOMBIE_ALERTS
            .iter()
            .filter(|(a, sev, _)| {
                let fired = notified(&got, a, sev, "firing", 0).unwrap();
                notified(&got, a, sev, "resolved", fired + 1).is_none()
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("not resolved: {missing:?}"))
        }
    })
    .await;
    let got = webhook.received();
    for (alert, severity, receiver) in ZOMBIE_ALERTS {
        let fired = notified(&got, alert, severity, "firing", 0).unwrap();
        let i = notified(&got, alert, severity, "resolved", fired + 1).unwrap();
        assert_eq!(
            got[i].receiver, *receiver,
            "{alert} resolved at its receiver"
        );
    }
    println!("[{:?}] zombie alerts resolved at the webhook", t0.elapsed());

    // KMS answers media state reads late (after the request timeout): the
    // exporter counts timeouts, fast enough for the errors alert.
    sim.inject(Fault::Delay {
        method: "getMediaState".into(),
        delay: Duration::from_secs(3),
    });
    until_data(p, "exporter errors", ERRORS_ENOUGH).await;
    sim.clear_faults();
    println!("[{:?}] exporter errors counted", t0.elapsed());

    // Acceptance 2, second pass: after the releases and errors.
    let second = run_all(p, &queries).await;
    check_queries(&queries, &first, &second);
    released_stat_counts_releases(p, &queries).await;
    for v in &variables {
        let values = label_values(p, &v.selector, &v.label)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", v.source));
        assert!(
            !values.is_empty(),
            "{}: label_values({}, {}) is empty",
            v.source,
            v.selector,
            v.label
        );
    }
    for (source, _, health, error, _) in loaded_rules(p).await {
        assert_eq!(health, "ok", "{source}: {error}");
    }
    println!(
        "[{:?}] {} queries and {} variables checked",
        t0.elapsed(),
        queries.len(),
        variables.len()
    );

    daemon.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    drop((prom, am));
}

/// The "Released" stat counts the releases KMS answered (outcome ok), not
/// the attempts that ended otherwise (here: aborted while media flowed),
/// which Prometheus holds too (else the check would tell nothing).
async fn released_stat_counts_releases(prom: std::net::SocketAddr, queries: &[Query]) {
    let source = r#"kurento-zombies.json #3 "Released (range)" [A]"#;
    let stat = &queries
        .iter()
        .find(|q| q.source == source)
        .expect(source)
        .expr;
    let sel = r#"kurento_reaper_actions_total{kms="kms", action="release""#;
    let ok = format!(r#"sum(increase({sel}, outcome="ok"}}[1h]))"#);
    let other = format!(r#"sum(increase({sel}, outcome!~"ok|failed"}}[1h]))"#);
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // All three at one instant, once the other outcomes show.
    let values: Vec<f64> = eventually(LIMIT, "release outcomes in Prometheus", || async {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            .max(at);
        let mut values = Vec::new();
        for q in [stat, &ok, &other] {
            let r = query_at(prom, q, at).await?;
            let v = r
                .first()
                .and_then(|x| x["value"][1].as_str())
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("no data for {q}"))?;
            values.push(v);
        }
        if values[2] > 0.0 {
            Ok(values)
        } else {
            Err(format!("no other release outcome yet: {values:?}"))
        }
    })
    .await;
    assert!(
        values[2] > 0.0,
        "no other release outcome in Prometheus: {other}"
    );
    assert!(
        // (The ok series may start at its final value, when every release
        // fell between two scrapes: increase() then says 0 for both.)
        values[0] == values[1],
        "{source}: {} vs {} released ok ({} other outcomes)",
        values[0],
        values[1],
        values[2]
    );
}

/// Each query parsed both times, returned data at least once unless
/// expected empty, and the expected-empty ones returned none.
fn check_queries(
    queries: &[Query],
    first: &BTreeMap<String, Result<usize, String>>,
    second: &BTreeMap<String, Result<usize, String>>,
) {
    for (source, _) in EXPECTED_EMPTY {
        assert!(
            queries.iter().any(|q| q.source == *source),
            "expected-empty entry {source} names no query"
        );
    }
    let mut problems = Vec::new();
    for q in queries {
        let (a, b) = (&first[&q.source], &second[&q.source]);
        let n = match (a, b) {
            (Ok(a), Ok(b)) => (*a, *b),
            (Err(e), _) | (_, Err(e)) => {
                problems.push(format!("{}: does not run: {e}\n    {}", q.source, q.expr));
                continue;
            }
        };
        let empty = EXPECTED_EMPTY.iter().find(|(s, _)| *s == q.source);
        println!(
            "{:>4} {:>4}  {}{}",
            n.0,
            n.1,
            q.source,
            empty.map_or(String::new(), |(_, r)| format!("  (expected empty: {r})"))
        );
        match (n, empty) {
            ((0, 0), None) => problems.push(format!("{}: no data\n    {}", q.source, q.expr)),
            ((0, 0), Some(_)) | (_, None) => {}
            (_, Some(_)) => problems.push(format!(
                "{}: listed as expected empty but returns data",
                q.source
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} queries:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
