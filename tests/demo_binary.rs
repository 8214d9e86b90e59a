//! `kurento-exporter demo` as a newcomer runs it, the built binary on free
//! loopback ports: it prints the console URL first; within 90 s of start
//! `/api/v1/zombies` lists exactly the simulator's ground-truth zombies;
//! within 150 s the simulator's release ledger shows each of them released
//! and nothing live touched; its output carries no terminal escape code
//! (also checked on its own, in a few seconds).
//! Also `--help` shows the defaults and the environment prefix.
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use exporter_common::get;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");

/// Kills the demo when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `http://ADDR/...` of a printed line → ADDR.
fn addr_of(line: &str) -> SocketAddr {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

async fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The simulator's zombies now: id → type.
fn truth_zombies(truth: &Value) -> BTreeMap<String, String> {
    truth["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["zombie"] == true)
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The objects `/api/v1/zombies` lists (any rule).
fn flagged(zombies: &Value) -> BTreeSet<String> {
    zombies["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["zombies"].as_array().unwrap().iter())
        .map(|z| z["object"].as_str().unwrap().to_owned())
        .collect()
}

/// `ids` with their types, for messages.
fn typed(ids: &BTreeSet<String>, types: &BTreeMap<String, String>) -> Vec<String> {
    ids.iter()
        .map(|id| format!("{} {id}", types.get(id).map_or("?", String::as_str)))
        .collect()
}

/// The demo as started by a newcomer, on free loopback ports, not on a
/// terminal, with no colour or log setting of the caller's.
struct Demo {
    run: Running,
    /// Its first stdout lines (the banner).
    printed: Vec<String>,
    /// Later stdout lines.
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
    /// The console's and the simulator's control addresses.
    http: SocketAddr,
    control: SocketAddr,
}

impl Demo {
    fn start() -> Demo {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("KURENTO_EXPORTER") || k == "NO_COLOR" || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--sim-listen",
                "127.0.0.1:0",
                "--sim-control",
                "127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut run = Running(child);
        let (tx, lines) = mpsc::channel::<String>();
        let out = run.0.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut err = run.0.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        });
        let mut printed = Vec::new();
        while printed.len() < 6 {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the demo prints its URLs at start");
            printed.push(line);
        }
        let urls: Vec<&String> = printed.iter().filter(|l| l.contains("://")).collect();
        assert!(
            urls[0].contains("console") && urls[0].trim_end().ends_with('/'),
            "the console URL comes first: {printed:#?}"
        );
        assert!(urls[1].contains("/api/v1/zombies"), "{printed:#?}");
        assert!(urls[2].contains("/metrics"), "{printed:#?}");
        assert!(urls[3].contains("/truth"), "{printed:#?}");
        let http = addr_of(urls[0]);
        let control = addr_of(urls[3]);
        assert!(http.ip().is_loopback() && control.ip().is_loopback());
        Demo {
            run,
            printed,
            lines,
            stderr,
            http,
            control,
        }
    }

    /// Stop it; everything it wrote.
    fn stop(self) -> (String, String) {
        drop(self.run);
        let mut out = self.printed.join("\n");
        for l in self.lines.try_iter() {
            out.push('\n');
            out.push_str(&l);
        }
        let err = String::from_utf8(self.stderr.join().unwrap()).unwrap();
        (out, err)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_the_console_first_and_no_escape_code_when_piped() {
    let demo = Demo::start();
    let (http, control) = (demo.http, demo.control);
    exporter_common::eventually(
        Duration::from_secs(30),
        "the demo's target synced",
        || async {
            let v = json(http, "/api/v1/targets").await;
            (v["targets"][0]["synced_once"] == true)
                .then_some(())
                .ok_or(format!("{v}"))
        },
    )
    .await;
    let (status, page) = get(http, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<td class=\"up\">up</td>"), "{page}");
    let truth = json(control, "/truth").await;
    assert!(truth["counts"]["pipelines"].as_u64() >= Some(3), "{truth}");
    let (out, err) = demo.stop();
    let all = format!("{out}\n{err}");
    assert!(
        !all.contains('\u{1b}'),
        "escape codes in the output of a demo not on a terminal:\n{all}"
    );
    assert!(err.contains(" INFO "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_flags_then_releases_exactly_the_simulators_zombies() {
    let started = Instant::now();
    let demo = Demo::start();
    let (http, control) = (demo.http, demo.control);

    // Within 90 s: the exporter lists exactly the simulator's zombies. The
    // reaper enforces, so a zombie may be released (and leave both lists)
    // before a later one is flagged: compare everything listed so far with
    // everything the simulator called a zombie so far, and never list a live
    // object.
    let mut types = BTreeMap::new();
    let mut seen_listed = BTreeSet::new();
    let zombies_at = loop {
        let truth = json(control, "/truth").await;
        let zombies = json(http, "/api/v1/zombies").await;
        types.extend(truth_zombies(&truth));
        let seen_truth: BTreeSet<String> = types.keys().cloned().collect();
        let listed = flagged(&zombies);
        let wrong: BTreeSet<String> = listed.difference(&seen_truth).cloned().collect();
        assert!(
            wrong.is_empty(),
            "live objects listed as zombies: {wrong:#?}"
        );
        seen_listed.extend(listed);
        if !seen_truth.is_empty() && seen_listed == seen_truth {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "within 90 s /api/v1/zombies should list exactly the simulator's zombies\n\
             simulator's zombies so far: {:#?}\nlisted by the exporter so far: {:#?}\nmissed: {:#?}",
            typed(&seen_truth, &types),
            typed(&seen_listed, &types),
            typed(&seen_truth.difference(&seen_listed).cloned().collect(), &types),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("zombies listed exactly after {zombies_at:?}");
    let zombie_ids: BTreeSet<String> = types.keys().cloned().collect();

    // Within 150 s: each released (its release request, or its pipeline's,
    // is in the ledger) and no live object was.
    loop {
        let truth = json(control, "/truth").await;
        let by_monitor: Vec<&Value> = truth["releases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["by_app"] != true)
            .collect();
        let released: BTreeSet<&str> = by_monitor
            .iter()
            .map(|r| r["object"].as_str().unwrap())
            .collect();
        let live: Vec<&&str> = released
            .iter()
            .filter(|id| !zombie_ids.contains(**id))
            .collect();
        assert!(live.is_empty(), "live objects released: {live:?}");
        let missing: Vec<&String> = zombie_ids
            .iter()
            .filter(|id| {
                let pipeline = id.split('/').next().unwrap();
                !released.contains(id.as_str()) && !released.contains(pipeline)
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "within 150 s every zombie should be released; not yet: {missing:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("zombies released after {:?}", started.elapsed());

    // The console answers at the printed URL.
    let (status, page) = get(http, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Targets</h1>"), "{page}");

    let (out, stderr) = demo.stop();
    let all = format!("{out}\n{stderr}");
    assert!(
        !all.contains('\u{1b}'),
        "escape codes in the output of a demo not on a terminal:\n{all}"
    );
    assert!(stderr.contains("demo: zombies flagged"), "{stderr}");
    assert!(stderr.contains("demo: zombies released"), "{stderr}");
}

#[test]
fn help_shows_defaults_and_the_environment_prefix() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for want in [
        "9787",
        "KURENTO_EXPORTER__",
        "--log.format",
        "--log.level",
        "[default: info]",
        "NO_COLOR",
    ] {
        assert!(help.contains(want), "--help lacks {want:?}:\n{help}");
    }
    let out = Command::new(BIN)
        .args([
            "--log.level",
            "lots",
            "--check-config",
            "--kms",
            "ws://127.0.0.1:1/kurento",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("log.level") && err.contains("lots"),
        "{err}"
    );
}
