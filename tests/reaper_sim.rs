//! The reaper against the simulator (issue 4, acceptance 2, 3, 5, 6): a leaky
//! application in enforce and dry-run mode, checked against the simulator's
//! ground truth and release ledger; the application-session source down; the
//! manual release API.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use exporter_common::*;
use kms_sim::{self as sim, Action, Scenario, SimHandle, Truth, Vanish};
use kurento_exporter::config::Config;
use kurento_exporter::daemon::Daemon;
use kurento_exporter::reaper::{Mode, SessionSourceConfig};

/// Simulated time runs this much faster than real time.
const SPEED: f64 = 10.0;
const INTERVAL: Duration = Duration::from_millis(500);
const ENDED: usize = 50;
const LIVE: usize = 20;
const PER_ROOM: u32 = 4;
const TOKEN: &str = "test-token-0123456789";

async fn simulator() -> SimHandle {
    fast_simulator(SPEED, 11).await
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kx-reaper-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Release rules for the leak scenario, with durations scaled to the test.
const POLICY: &str = LEAK_POLICY;

/// The time KMS and the rules need to call a leaked endpoint a zombie: media
/// DISCONNECTED 22–30 simulated s after the peer left, seen at the next state
/// read, held 1 s, then a candidate for the rule's 2 s.
fn grace() -> Duration {
    Duration::from_secs_f64(30.0 / SPEED)
        + Duration::from_secs(1)
        + Duration::from_secs(1)
        + Duration::from_secs(2)
}

/// The rooms the application still holds (published to the reaper): the
/// live ones and the ended rooms whose pipeline it kept.
fn live_rooms() -> Vec<String> {
    (0..LIVE)
        .map(live)
        .chain((0..ENDED).filter(|i| !room_leaked(*i)).map(ended))
        .collect()
}

fn config(url: &str, mode: Mode, audit: &std::path::Path) -> Config {
    let mut c = exporter_common::config(&[("kms", url.to_string())], INTERVAL);
    let sessions = audit.with_file_name("rooms.json");
    std::fs::write(&sessions, serde_json::to_string(&live_rooms()).unwrap()).unwrap();
    c.reaper.sessions = Some(SessionSourceConfig {
        url: None,
        file: Some(sessions),
        refresh: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        max_age: None,
    });
    c.scrape.state_interval = Duration::from_secs(1);
    c.policy = toml::from_str(POLICY).expect("policy parses");
    c.reaper.mode = mode;
    c.reaper.audit_log = Some(audit.to_path_buf());
    c.reaper.releases_per_hour = 100_000;
    c.reaper.release_spacing = Duration::from_millis(5);
    c.reaper.api_token = Some(TOKEN.into());
    c.validate().expect("valid reaper test config");
    c
}

fn ended(i: usize) -> String {
    format!("ended-{i}")
}

fn live(i: usize) -> String {
    format!("live-{i}")
}

/// Meetings start: 50 that will end, 20 that stay.
fn start_meetings() -> Scenario {
    let mut s = Scenario::new();
    for i in 0..ENDED {
        s = s.at(
            0,
            Action::Conference {
                room: ended(i),
                participants: PER_ROOM,
                named: vec![],
            },
        );
    }
    for i in 0..LIVE {
        s = s.at(
            0,
            Action::Conference {
                room: live(i),
                participants: 3,
                named: vec![],
            },
        );
    }
    s
}

/// Whether participant `p` (1-based) of ended room `i` is forgotten: 30% of
/// the endpoints. The application keeps these rooms' pipelines (and lists
/// them as live), so the pipeline stays while its forgotten endpoints go.
fn forgotten(i: usize, p: u32) -> bool {
    (i * PER_ROOM as usize + p as usize) % 10 < 3
}

/// 20% of the ended meetings leak their whole pipeline (the application
/// forgets the room: it is no longer among its live sessions).
fn room_leaked(i: usize) -> bool {
    i.is_multiple_of(5)
}

/// The 50 meetings end (leaking), while some live peers blip and recover.
fn end_meetings() -> Scenario {
    let mut s = Scenario::new();
    for i in 0..ENDED {
        if room_leaked(i) {
            s = s.at(
                0,
                Action::ForgetRoom {
                    room: ended(i),
                    how: Vanish::Crash,
                },
            );
            continue;
        }
        for p in 1..=PER_ROOM {
            let participant = format!("p{p}");
            let room = ended(i);
            s = s.at(
                0,
                if forgotten(i, p) {
                    Action::Forget {
                        room,
                        participant,
                        how: Vanish::Crash,
                    }
                } else {
                    Action::Leave { room, participant }
                },
            );
        }
    }
    // A brief network loss, recovered well within the rules' durations.
    for i in 0..LIVE / 4 {
        s = s.at(
            0,
            Action::Interrupt {
                room: live(i),
                participant: "p1".into(),
                for_ms: 8_000,
            },
        );
    }
    s
}

/// What must be released directly: leaked pipelines (their children go with
/// them), and forgotten endpoints and hub ports of rooms whose pipeline the
/// app kept.
fn expected_releases(t: &Truth) -> BTreeSet<String> {
    let zombies: BTreeSet<&str> = t
        .objects
        .iter()
        .filter(|o| o.zombie)
        .map(|o| o.id.as_str())
        .collect();
    t.objects
        .iter()
        .filter(|o| o.zombie)
        .filter(|o| match &o.parent {
            None => true,
            Some(p) => !zombies.contains(p.as_str()) && o.kind != "Composite",
        })
        .map(|o| o.id.clone())
        .collect()
}

struct Run {
    sim: SimHandle,
    daemon: Daemon,
    audit: PathBuf,
    /// Truth right after the meetings ended.
    after_end: Truth,
    ended_at: Instant,
    dir: PathBuf,
}

/// The two 270-endpoint scenarios run one at a time (2-core CI machines).
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn leak(mode: Mode) -> Run {
    let sim = simulator().await;
    let dir = temp_dir();
    let audit = dir.join("audit.jsonl");
    let daemon = daemon(config(&sim.ws_url(), mode, &audit)).await;
    sim.run_scenario(start_meetings()).await.unwrap();
    let addr = daemon.addr();
    let endpoints = (ENDED * PER_ROOM as usize + LIVE * 3) as f64;
    // Every endpoint seen flowing before the meetings end.
    eventually(Duration::from_secs(30), "all endpoints flowing", || async {
        let page = scrape(addr).await;
        // Series name elements by short id: their type is on kurento_element_info.
        let webrtc: BTreeSet<&str> = page
            .iter()
            .filter(|(s, _)| {
                s.name == "kurento_element_info" && s.label("element_type") == "WebRtcEndpoint"
            })
            .map(|(s, _)| s.label("element"))
            .collect();
        let flowing = page
            .iter()
            .filter(|(s, v)| {
                s.name == "kurento_media_flowing" && s.label("direction") == "out" && *v == 1.0
            })
            .map(|(s, _)| s.label("element"))
            .filter(|e| webrtc.contains(e))
            .collect::<BTreeSet<_>>()
            .len() as f64;
        if flowing >= endpoints {
            Ok(())
        } else {
            Err(format!("{flowing} of {endpoints}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ended_at = Instant::now();
    sim.run_scenario(end_meetings()).await.unwrap();
    let after_end = sim.truth();
    Run {
        sim,
        daemon,
        audit,
        after_end,
        ended_at,
        dir,
    }
}

/// The value of the first series matching.
fn value(page: &[(Series, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    find(page, name, labels).first().map(|(_, v)| *v)
}

fn records<'a>(lines: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

fn objects(lines: &[&serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["object"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Releases not sent by the simulated application itself.
fn foreign_releases(t: &Truth) -> Vec<&sim::ReleaseRecord> {
    t.releases.iter().filter(|r| !r.by_app).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_releases_every_leak_and_nothing_live() {
    let _heavy = HEAVY.lock().await;
    let run = leak(Mode::Enforce).await;
    let expected = expected_releases(&run.after_end);
    let leaked: BTreeSet<String> = run
        .after_end
        .objects
        .iter()
        .filter(|o| o.zombie)
        .map(|o| o.id.clone())
        .collect();
    let live: BTreeSet<String> = run
        .after_end
        .objects
        .iter()
        .filter(|o| !o.zombie)
        .map(|o| o.id.clone())
        .collect();
    let forgotten = (0..ENDED)
        .filter(|i| !room_leaked(*i))
        .flat_map(|i| (1..=PER_ROOM).filter(move |p| forgotten(i, *p)))
        .count();
    assert_eq!(
        expected.len(),
        ENDED / 5 + 2 * forgotten,
        "leaked pipelines + endpoints and ports"
    );
    let cycles = 2 * INTERVAL;
    // Plus the actuator: spacing and a flow re-read and release round trip per object.
    let bound = grace() + cycles + Duration::from_millis(30) * expected.len() as u32;
    let sim = &run.sim;
    eventually(
        bound + Duration::from_secs(20),
        "every leaked object released",
        || async {
            let t = sim.truth();
            let left: Vec<&str> = t
                .objects
                .iter()
                .filter(|o| o.zombie)
                .map(|o| o.id.as_str())
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{} left, e.g. {}", left.len(), left[0]))
            }
        },
    )
    .await;
    let took = run.ended_at.elapsed();
    println!("all {} leaked objects ({} releases) gone {took:?} after the meetings ended (bound {bound:?})", leaked.len(), expected.len());
    assert!(
        took <= bound,
        "released within grace + 2 cycles: took {took:?}, bound {bound:?}"
    );
    // A few more cycles: nothing else happens.
    tokio::time::sleep(4 * INTERVAL).await;
    let t = sim.truth();
    for id in &live {
        assert!(t.contains(id), "live object {id} was released");
    }
    // Each release names a leaked object, once, while it existed; every
    // leaked object went, itself or with its released pipeline.
    let foreign = foreign_releases(&t);
    let mut seen = BTreeSet::new();
    for r in &foreign {
        assert!(
            leaked.contains(&r.object),
            "released {} which was not leaked",
            r.object
        );
        assert!(r.existed, "release of an object already gone: {}", r.object);
        assert!(
            seen.insert(r.object.clone()),
            "released twice: {}",
            r.object
        );
    }
    assert_eq!(
        seen, expected,
        "released = leaked pipelines + forgotten endpoints and ports (the dry-run set)"
    );
    let parent = |id: &str| run.after_end.object(id).and_then(|o| o.parent.clone());
    for id in &leaked {
        let mut cur = Some(id.clone());
        let mut covered = false;
        while let Some(c) = cur {
            covered |= seen.contains(&c);
            cur = parent(&c);
        }
        assert!(
            covered,
            "{id} was neither released nor inside a released object"
        );
    }
    let lines = json_lines(&run.audit);
    let released = records(&lines, "intent");
    let mut by_object = objects(&released);
    by_object.sort();
    let unique: BTreeSet<String> = by_object.iter().cloned().collect();
    assert_eq!(
        by_object.len(),
        unique.len(),
        "one release record per object"
    );
    assert_eq!(
        unique, seen,
        "audit release records = releases KMS received"
    );
    for r in &released {
        assert_eq!(r["mode"], "enforce");
        assert!(
            r["evidence"]["age_ms"].is_u64() && r["rule"].is_string() && r["time"].is_string(),
            "{r}"
        );
    }
    let results = records(&lines, "result");
    assert!(
        results.iter().all(|r| r["outcome"] == "ok"),
        "every release answered ok"
    );
    assert_eq!(results.len(), seen.len());
    let page = scrape(run.daemon.addr()).await;
    let ok: f64 = page
        .iter()
        .filter(|(s, _)| {
            s.name == "kurento_reaper_actions_total"
                && s.label("action") == "release"
                && s.label("outcome") == "ok"
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(ok as usize, seen.len());
    assert!(
        value(
            &page,
            "kurento_reaper_mode",
            &[("kms", "kms"), ("mode", "enforce")]
        ) == Some(1.0)
    );
    assert!(
        !page.iter().any(|(s, _)| s.name == "kurento_zombie"),
        "no zombie series left"
    );
    run.daemon.shutdown(Duration::from_secs(5)).await;
    run.sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&run.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_releases_nothing_and_records_the_same_set() {
    let _heavy = HEAVY.lock().await;
    let run = leak(Mode::DryRun).await;
    let expected = expected_releases(&run.after_end);
    let audit = run.audit.clone();
    let bound = grace() + 2 * INTERVAL;
    eventually(
        bound + Duration::from_secs(20),
        "every leak recorded as would-release",
        || {
            let audit = audit.clone();
            let expected = expected.clone();
            async move {
                let lines = json_lines(&audit);
                let would: BTreeSet<String> = objects(&records(&lines, "would_release"))
                    .into_iter()
                    .collect();
                if would == expected {
                    Ok(())
                } else {
                    Err(format!("{} of {}", would.len(), expected.len()))
                }
            }
        },
    )
    .await;
    tokio::time::sleep(4 * INTERVAL).await;
    let t = run.sim.truth();
    assert!(
        foreign_releases(&t).is_empty(),
        "dry-run released something"
    );
    for o in &run.after_end.objects {
        assert!(t.contains(&o.id), "{} vanished in dry-run", o.id);
    }
    let lines = json_lines(&run.audit);
    assert!(records(&lines, "intent").is_empty());
    let would = records(&lines, "would_release");
    assert_eq!(would.len(), expected.len(), "once per object");
    assert!(would.iter().all(|r| r["mode"] == "dry-run"));
    let page = scrape(run.daemon.addr()).await;
    let counted: f64 = page
        .iter()
        .filter(|(s, _)| {
            s.name == "kurento_reaper_actions_total" && s.label("action") == "would_release"
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counted as usize, expected.len());
    // The zombies API lists them with evidence.
    let (status, body) = get(run.daemon.addr(), "/api/v1/zombies").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed: BTreeSet<String> = v["targets"][0]["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["status"] == "release")
        .map(|z| z["object"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(v["targets"][0]["mode"], "dry-run");
    run.daemon.shutdown(Duration::from_secs(5)).await;
    run.sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&run.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_session_source_releases_nothing_and_says_so() {
    let sim = simulator().await;
    let dir = temp_dir();
    let audit = dir.join("audit.jsonl");
    let mut cfg = config(&sim.ws_url(), Mode::Enforce, &audit);
    cfg.policy = toml::from_str(
        r#"
min_consecutive_cycles = 2
[[rules]]
name = "room-closed"
action = "release"
min_age = "1s"
match = { element_types = ["WebRtcEndpoint"], tags = ["room"] }
when = { session_gone = "room" }
"#,
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cfg.reaper.sessions = Some(SessionSourceConfig {
        url: Some(format!("http://127.0.0.1:{port}/sessions")),
        file: None,
        refresh: Duration::from_millis(300),
        timeout: Duration::from_millis(300),
        max_age: None,
    });
    cfg.validate().unwrap();
    let d = daemon(cfg).await;
    sim.run_scenario(Scenario::new().at(
        0,
        Action::Conference {
            room: "r1".into(),
            participants: 2,
            named: vec![],
        },
    ))
    .await
    .unwrap();
    let addr = d.addr();
    eventually(Duration::from_secs(20), "source reported down", || async {
        let page = scrape(addr).await;
        match value(&page, "kurento_reaper_session_source_up", &[]) {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Several cycles well past min_age: every endpoint's session is unknown.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t = sim.truth();
    assert!(
        foreign_releases(&t).is_empty(),
        "released on an unreadable session source"
    );
    let (_, body) = get(addr, "/api/v1/zombies").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["count"], 0);
    assert_eq!(v["session_source"]["up"], false);
    assert!(
        v["session_source"]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("connect"),
        "{body}"
    );
    // The application publishes its sessions: r1 is live, nothing goes.
    let file = dir.join("sessions.json");
    std::fs::write(&file, r#"["r1"]"#).unwrap();
    let mut cfg = d.config().clone();
    cfg.reaper.sessions = Some(SessionSourceConfig {
        url: None,
        file: Some(file.clone()),
        refresh: Duration::from_millis(300),
        timeout: Duration::from_millis(300),
        max_age: None,
    });
    let mut d = d;
    d.reload(cfg);
    eventually(Duration::from_secs(10), "source up", || async {
        match value(&scrape(addr).await, "kurento_reaper_session_source_up", &[]) {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(foreign_releases(&sim.truth()).is_empty(), "r1 is live");
    // The room closes in the application, its browsers gone: its endpoints go.
    std::fs::write(&file, "[]").unwrap();
    sim.with_engine(|e, _| {
        e.app_forget("r1", "p1", Vanish::Close);
        e.app_forget("r1", "p2", Vanish::Close);
    });
    eventually(
        Duration::from_secs(20),
        "room r1 endpoints released",
        || async {
            let n = foreign_releases(&sim.truth()).len();
            if n == 2 {
                Ok(())
            } else {
                Err(format!("{n} released"))
            }
        },
    )
    .await;
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn release_path(id: &str) -> String {
    format!("/api/v1/objects/{}/release", id.replace('/', "%2F"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_release_api_checks_token_shield_and_existence() {
    let sim = simulator().await;
    let dir = temp_dir();
    let audit = dir.join("audit.jsonl");
    sim.run_scenario(
        Scenario::new()
            .at(
                0,
                Action::Conference {
                    room: "r1".into(),
                    participants: 2,
                    named: vec![],
                },
            )
            .at(
                0,
                Action::Conference {
                    room: "r2".into(),
                    participants: 3,
                    named: vec![],
                },
            )
            .at(
                0,
                Action::Conference {
                    room: "r3".into(),
                    participants: 1,
                    named: vec![],
                },
            ),
    )
    .await
    .unwrap();
    // r1 ends, its app forgetting p2's objects (no media anywhere in r1);
    // r2 stays live; r3's pipeline carries the protect tag.
    // In r2, p3 is forgotten while p1 and p2 talk on: its endpoint is still
    // fed (flow in) but its peer is gone.
    let (ep_live, ep_gone, ep_fed, protected) = sim.with_engine(|e, _| {
        let live = e.app_endpoint("r2", "p1").unwrap();
        let gone = e.app_endpoint("r1", "p2").unwrap();
        let fed = e.app_endpoint("r2", "p3").unwrap();
        let p3 = e.app_room_pipeline("r3").unwrap();
        e.tag(&p3, "kurento-exporter.protect", "true");
        e.app_forget("r1", "p2", Vanish::Crash);
        e.app_leave("r1", "p1");
        e.app_forget("r2", "p3", Vanish::Crash);
        (live, gone, fed, p3)
    });
    // Observe mode: only the operator releases.
    let mut cfg = config(&sim.ws_url(), Mode::Observe, &audit);
    cfg.policy = toml::from_str(POLICY).unwrap();
    let d = daemon(cfg).await;
    let addr = d.addr();
    eventually(
        Duration::from_secs(30),
        "the forgotten endpoint is a zombie",
        || async {
            let (_, body) = get(addr, "/api/v1/zombies").await;
            if body.contains(&ep_gone) && body.contains("webrtc-peer-gone") {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    let path = release_path(&ep_gone);
    assert_eq!(post(addr, &path, None).await.0, 401, "no token");
    assert_eq!(
        post(addr, &path, Some("wrong-token-0123456789")).await.0,
        401,
        "wrong token"
    );
    assert_eq!(
        post(
            addr,
            &release_path("nope_kurento.MediaPipeline"),
            Some(TOKEN)
        )
        .await
        .0,
        404
    );
    let (status, body) = post(addr, &release_path(&protected), Some(TOKEN)).await;
    assert_eq!(status, 403, "{body}");
    assert!(sim.truth().contains(&protected));
    // A live endpoint: media flows at the re-read, nothing released.
    let (status, body) = post(addr, &release_path(&ep_live), Some(TOKEN)).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("aborted_flowing"), "{body}");
    assert!(sim.truth().contains(&ep_live));
    let (status, body) = post(addr, &path, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!sim.truth().contains(&ep_gone));
    // Fed by a meeting that goes on, its peer gone (media DISCONNECTED): released.
    eventually(
        Duration::from_secs(30),
        "the fed endpoint is a zombie",
        || async {
            let (_, body) = get(addr, "/api/v1/zombies").await;
            if body.contains(&ep_fed) {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    let fed = sim.truth().object(&ep_fed).unwrap().clone();
    assert!(fed.media.iter().any(|m| m.flowing_in), "still fed: {fed:?}");
    let (status, body) = post(addr, &release_path(&ep_fed), Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!sim.truth().contains(&ep_fed));
    let lines = json_lines(&audit);
    let manual: Vec<_> = lines.iter().filter(|l| l["origin"] == "manual").collect();
    assert!(manual
        .iter()
        .any(|l| l["event"] == "intent" && l["object"] == ep_gone.as_str()));
    assert!(manual
        .iter()
        .any(|l| l["event"] == "release_aborted" && l["object"] == ep_live.as_str()));
    // GET on the release route is refused; a daemon without a token refuses all.
    assert_eq!(get(addr, &path).await.0, 405);
    d.shutdown(Duration::from_secs(5)).await;
    let mut cfg = config(&sim.ws_url(), Mode::Observe, &audit);
    cfg.reaper.api_token = None;
    let d = daemon(cfg).await;
    assert_eq!(
        post(d.addr(), &release_path(&ep_live), Some(TOKEN)).await.0,
        403
    );
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
