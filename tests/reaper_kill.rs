//! The daemon killed with SIGKILL in the middle of release batches, 20
//! times, and started again (issue 14, defect 6): the audit log stays valid
//! JSON lines; every `intent` ends with a definite `result` or a
//! `reconciled` record; per object, the releases the log says took effect
//! (`result` ok, `reconciled` gone) are exactly those KMS received (the
//! simulator's release ledger); no leaked object is released twice.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_sim::{self as sim, Action, Fault, Scenario, SimConfig, Vanish};

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
const ROOMS: usize = 80;
const KILLS: usize = 20;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(config: &std::path::Path, log: &std::path::Path) -> Child {
    Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("daemon starts")
}

/// A simulator at 10× speed (seed `seed`) with `n` rooms of `size` participants.
async fn rooms(seed: u64, n: usize, size: u32) -> sim::SimHandle {
    let sim = sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period: Duration::from_secs(3600),
        tick: Duration::from_millis(200),
        seed,
        speed: 10.0,
    })
    .await
    .unwrap();
    let mut s = Scenario::new();
    for i in 0..n {
        let room = format!("r{i}");
        s = s.at(
            0,
            Action::Conference {
                room,
                participants: size,
                named: vec![],
            },
        );
    }
    sim.run_scenario(s).await.unwrap();
    sim
}

fn count(lines: &[serde_json::Value], event: &str) -> usize {
    lines.iter().filter(|l| l["event"] == event).count()
}

fn zombies(sim: &sim::SimHandle) -> usize {
    sim.truth()
        .objects
        .iter()
        .filter(|o| o.zombie && o.parent.is_none())
        .count()
}

/// Poll the audit log (every 5 ms, up to 30 s) until the lines after the
/// first `from` satisfy `done`.
async fn wait_audit(
    path: &Path,
    from: usize,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lines = complete_lines(path);
        if done(lines.get(from..).unwrap_or_default()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not seen within 30 s ({} new lines)",
            lines.len().saturating_sub(from)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every intent of the log, with its result and reconciled outcomes.
#[derive(Debug, Default)]
struct Release {
    object: String,
    results: Vec<String>,
    reconciled: Vec<String>,
}

fn releases(lines: &[serde_json::Value]) -> BTreeMap<String, Release> {
    let mut by_id: BTreeMap<String, Release> = BTreeMap::new();
    for l in lines {
        let event = l["event"].as_str().unwrap();
        assert!(
            !["release", "release_result"].contains(&event) && l["outcome"] != "sent",
            "an old-style line: {l}"
        );
        let Some(id) = l["id"].as_str() else {
            assert!(!["intent", "result", "reconciled"].contains(&event), "{l}");
            continue;
        };
        let outcome = l["outcome"].as_str().unwrap().to_string();
        match event {
            "intent" => {
                let r = by_id.entry(id.to_string()).or_default();
                assert!(r.object.is_empty(), "intent id {id} twice");
                r.object = l["object"].as_str().unwrap().to_string();
            }
            "result" => {
                let r = by_id
                    .get_mut(id)
                    .unwrap_or_else(|| panic!("result before intent: {l}"));
                r.results.push(outcome);
            }
            "reconciled" => {
                let r = by_id
                    .get_mut(id)
                    .unwrap_or_else(|| panic!("reconciled without intent: {l}"));
                r.reconciled.push(outcome);
            }
            _ => panic!("{l}"),
        }
    }
    by_id
}

/// Whether every intent has its definite outcome.
fn resolved(r: &Release) -> bool {
    let definite = r
        .results
        .iter()
        .any(|o| ["ok", "not_found", "failed"].contains(&o.as_str()));
    definite || !r.reconciled.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_mid_batch_and_the_audit_matches_the_release_ledger() {
    let sim = rooms(5, ROOMS, 1).await;
    let dir = std::env::temp_dir().join(format!("kx-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("audit.jsonl");
    let sessions = dir.join("rooms.json");
    std::fs::write(&sessions, "[]").unwrap();
    let port = free_port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
[scrape]
interval = "200ms"
state_interval = "1s"
[[targets]]
name = "kms"
url = "{url}"
reaper_mode = "enforce"
[reaper]
audit_log = "{audit}"
release_spacing = "60ms"
release_timeout = "400ms"
releases_per_hour = 100000
[reaper.sessions]
file = "{sessions}"
refresh = "200ms"
[policy]
min_consecutive_cycles = 1
max_releases_per_cycle = 100
[[policy.rules]]
name = "room-closed"
action = "release"
min_age = "1s"
match = {{ element_types = ["MediaPipeline"], tags = ["room"] }}
when = {{ session_gone = "room" }}
"#,
            url = sim.ws_url(),
            audit = audit.display(),
            sessions = sessions.display(),
        ),
    )
    .unwrap();
    // Every room is forgotten: its browsers vanish and the app no longer lists it.
    sim.with_engine(|e, _| {
        for i in 0..ROOMS {
            e.app_forget_room(&format!("r{i}"), Vanish::Close);
        }
    });
    let leaked: BTreeSet<String> = sim
        .truth()
        .objects
        .iter()
        .filter(|o| o.zombie && o.parent.is_none())
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(leaked.len(), ROOMS);

    let started = std::time::Instant::now();
    for i in 0..KILLS {
        let from = complete_lines(&audit).len();
        sim.clear_faults();
        // Four ways to die: right after the n-th intent of the run; while
        // KMS holds back the answer to a release it carried out; after a
        // release KMS ignored timed out (its outcome unknown).
        let mut child = start(&config, &dir.join(format!("run{i}.log")));
        match i % 4 {
            1 => {
                sim.inject(Fault::Delay {
                    method: "release".into(),
                    delay: Duration::from_millis(800),
                });
                wait_audit(&audit, from, "an intent", |l| count(l, "intent") >= 1).await;
            }
            2 => {
                sim.inject(Fault::Silent {
                    method: "release".into(),
                });
                wait_audit(&audit, from, "a timed-out release", |l| {
                    l.iter()
                        .any(|l| l["event"] == "result" && l["outcome"] == "timeout")
                })
                .await;
            }
            n => {
                let k = 1 + n + i % 3;
                wait_audit(&audit, from, "intents", |l| count(l, "intent") >= k).await;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(zombies(&sim) > 0, "kill {i}: objects left for the next run");
    }
    sim.clear_faults();
    let killed_in = started.elapsed();

    let mut child = start(&config, &dir.join("last.log"));
    let a = audit.clone();
    eventually(
        Duration::from_secs(30),
        "every leaked pipeline released and every intent resolved",
        || {
            let a = a.clone();
            let left = zombies(&sim);
            async move {
                let open = releases(&complete_lines(&a))
                    .values()
                    .filter(|r| !resolved(r))
                    .count();
                if left == 0 && open == 0 {
                    Ok(())
                } else {
                    Err(format!("{left} zombies, {open} intents unresolved"))
                }
            }
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let lines = complete_lines(&audit);
    let log = releases(&lines);
    let t = sim.truth();
    assert_eq!(t.releases_dropped, 0);
    // What KMS received, per object; what the log says took effect.
    let mut kms: BTreeMap<&str, usize> = BTreeMap::new();
    for r in t.releases.iter().filter(|r| !r.by_app) {
        assert!(r.existed, "release of {} after it was gone", r.object);
        *kms.entry(r.object.as_str()).or_default() += 1;
    }
    let mut claimed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (id, r) in &log {
        assert!(resolved(r), "intent {id} unresolved: {r:?}");
        assert!(
            r.results.len() <= 1 && r.reconciled.len() <= 1,
            "{id}: {r:?}"
        );
        if r.results.iter().any(|o| o == "timeout") {
            assert_eq!(r.reconciled.len(), 1, "a timeout is reconciled: {r:?}");
        }
        let took = r
            .results
            .iter()
            .chain(&r.reconciled)
            .filter(|o| *o == "ok" || *o == "gone");
        *claimed.entry(r.object.as_str()).or_default() += took.count();
        for o in r
            .results
            .iter()
            .map(|o| format!("result {o}"))
            .chain(r.reconciled.iter().map(|o| format!("reconciled {o}")))
        {
            *tally.entry(o).or_default() += 1;
        }
    }
    claimed.retain(|_, n| *n > 0);
    assert_eq!(claimed, kms, "the audit log against the release ledger");
    assert_eq!(
        kms.keys().copied().collect::<BTreeSet<_>>(),
        leaked.iter().map(String::as_str).collect(),
        "every leaked pipeline released, nothing else"
    );
    assert!(kms.values().all(|n| *n == 1), "released twice: {kms:?}");
    // Each way to die happened.
    for seen in [
        "result ok",
        "reconciled gone",
        "reconciled not_released",
        "result timeout",
    ] {
        assert!(tally.contains_key(seen), "no `{seen}` in {tally:?}");
    }
    println!(
        "{KILLS} kills in {killed_in:?}; {} audit lines, {} intents: {tally:?}",
        lines.len(),
        log.len()
    );
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGHUP reopens the audit log (rotation), and an unreadable application
/// session source is logged (issue 4, acceptance 5: visible in logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reopens_the_audit_log_and_a_dead_session_source_is_logged() {
    let sim = rooms(6, 2, 1).await;
    let dir = std::env::temp_dir().join(format!("kx-hup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let audit = dir.join("audit.jsonl");
    let dead = free_port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:{port}"
[scrape]
interval = "300ms"
state_interval = "1s"
[[targets]]
name = "kms"
url = "{url}"
[reaper]
audit_log = "{audit}"
[reaper.sessions]
url = "http://127.0.0.1:{dead}/sessions"
refresh = "300ms"
timeout = "300ms"
[[policy.rules]]
name = "peer-gone"
action = "flag"
min_age = "1s"
match = {{ element_types = ["WebRtcEndpoint"] }}
when = {{ no_flow = {{ direction = "out", for = "1s" }} }}
"#,
            port = free_port(),
            url = sim.ws_url(),
            audit = audit.display(),
        ),
    )
    .unwrap();
    let log = dir.join("daemon.log");
    let mut child = start(&config, &log);
    sim.with_engine(|e, _| e.app_forget("r0", "p1", Vanish::Crash));
    let a = audit.clone();
    eventually(Duration::from_secs(30), "first flag", || {
        let a = a.clone();
        async move {
            let n = count(&json_lines(&a), "flag");
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} flags"))
            }
        }
    })
    .await;
    std::fs::rename(&audit, dir.join("audit.jsonl.1")).unwrap();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.with_engine(|e, _| e.app_forget("r1", "p1", Vanish::Crash));
    let a = audit.clone();
    eventually(
        Duration::from_secs(30),
        "a flag in the reopened log",
        || {
            let a = a.clone();
            async move {
                let n = count(&json_lines(&a), "flag");
                if n == 1 {
                    Ok(())
                } else {
                    Err(format!("{n} flags in the new file"))
                }
            }
        },
    )
    .await;
    assert_eq!(
        count(&json_lines(&dir.join("audit.jsonl.1")), "flag"),
        1,
        "the old file kept its record"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("application session source unreadable"),
        "{text}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
