//! The daemon killed with SIGKILL in the middle of a release batch and started
//! again (issue 4, acceptance 4): the audit log stays valid JSON lines with
//! no partial record, every leaked object is released in the end, and KMS
//! (the simulator's release ledger) never receives a second release for one.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_sim::{self as sim, Action, Scenario, SimConfig, Vanish};

const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");
const ROOMS: usize = 20;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_no_record_and_releases_nothing_twice() {
    let sim = rooms(5, ROOMS, 2).await;
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
interval = "300ms"
state_interval = "1s"
[[targets]]
name = "kms"
url = "{url}"
reaper_mode = "enforce"
[reaper]
audit_log = "{audit}"
release_spacing = "250ms"
releases_per_hour = 10000
[reaper.sessions]
file = "{sessions}"
refresh = "300ms"
[policy]
min_consecutive_cycles = 2
max_releases_per_cycle = 50
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
    let leaked: Vec<String> = sim
        .truth()
        .objects
        .iter()
        .filter(|o| o.zombie && o.parent.is_none())
        .map(|o| o.id.clone())
        .collect();
    assert_eq!(leaked.len(), ROOMS);

    let mut child = start(&config, &dir.join("first.log"));
    // Kill once a few releases of the batch went out, well before the last.
    let a = audit.clone();
    eventually(Duration::from_secs(40), "a release batch under way", || {
        let a = a.clone();
        async move {
            let lines = json_lines(&a);
            let (sent, done) = (count(&lines, "release"), count(&lines, "release_result"));
            if sent == ROOMS && (3..ROOMS - 3).contains(&done) {
                Ok(())
            } else {
                Err(format!("{sent} intents, {done} results"))
            }
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before = json_lines(&audit);
    let released_before = count(&before, "release_result");
    assert!(released_before < ROOMS, "killed mid-batch");
    let left = sim
        .truth()
        .objects
        .iter()
        .filter(|o| o.zombie && o.parent.is_none())
        .count();
    assert!(left > 0, "objects left for the second run");

    let mut child = start(&config, &dir.join("second.log"));
    eventually(
        Duration::from_secs(40),
        "every leaked pipeline released",
        || async {
            let n = sim.truth().objects.iter().filter(|o| o.zombie).count();
            if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} zombies left"))
            }
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let lines = json_lines(&audit);
    for l in &lines {
        assert!(
            l["time"].is_string() && l["event"].is_string() && l["object"].is_string(),
            "{l}"
        );
    }
    let t = sim.truth();
    let mut per_object: BTreeMap<&str, usize> = BTreeMap::new();
    for r in t.releases.iter().filter(|r| !r.by_app) {
        assert!(r.existed, "release of {} after it was gone", r.object);
        *per_object.entry(r.object.as_str()).or_default() += 1;
    }
    assert!(
        per_object.values().all(|n| *n == 1),
        "released twice: {per_object:?}"
    );
    assert_eq!(per_object.len(), ROOMS);
    for id in &leaked {
        assert!(per_object.contains_key(id.as_str()), "{id} never released");
    }
    // Every release KMS received is in the audit log, written before it was sent.
    let audited: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["event"] == "release")
        .map(|l| l["object"].as_str().unwrap())
        .collect();
    for id in per_object.keys() {
        assert!(
            audited.contains(id),
            "{id} released without an audit record"
        );
    }
    println!(
        "killed after {released_before} of {ROOMS} releases; {} audit lines, {} intents in all",
        lines.len(),
        count(&lines, "release")
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
