//! Three daemons (the binary), six simulators and a real etcd (issue 15):
//! leaks in every simulator, enforce mode, ten kill -9 of a member (and its
//! restart) and a 30 s etcd outage. Sampled every 200 ms: every target owned
//! by exactly one member (among members acting on the same member
//! list), each member owning what rendezvous hashing gives it;
//! `kurento_up` of every target on the union of the members' pages. At the
//! end, from the simulators' release ledgers and the members' audit logs:
//! every leaked pipeline released exactly once, nothing live released, every
//! release sent under the target's lock, lock revisions growing per target.
#![cfg(all(feature = "demo", feature = "cluster"))]

mod cluster_support;
mod exporter_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::{view, Etcd, View};
use exporter_common::*;
use kms_sim::{self as sim, Action, Scenario, SimConfig, Vanish};

const SIMS: usize = 6;
const ROOMS: usize = 16;
const MEMBERS: usize = 3;
const KILLS: usize = 10;
const TTL: Duration = Duration::from_secs(2);
/// The scrape interval. A dead member's targets are resynced within TTL +
/// one interval: its lease expires at most TTL after the kill (etcd 3.4
/// revokes expired leases on a 500 ms tick), then the new owner connects
/// and syncs at once (0.1-0.4 s in a debug build here).
const INTERVAL: Duration = Duration::from_millis(1500);
const TOKEN: &str = "cluster-test-token";

async fn rooms(seed: u64) -> sim::SimHandle {
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
    for i in 0..ROOMS {
        s = s.at(
            0,
            Action::Conference {
                room: format!("r{i}"),
                participants: 1,
                named: vec![],
            },
        );
    }
    sim.run_scenario(s).await.unwrap();
    sim
}

struct Member {
    name: String,
    addr: SocketAddr,
    config: PathBuf,
    audit: PathBuf,
    child: Option<std::process::Child>,
    runs: usize,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Member {
    fn start(&mut self, dir: &Path) {
        let log = dir.join(format!("{}-{}.log", self.name, self.runs));
        self.runs += 1;
        self.child = Some(start_binary(&self.config, &log, None));
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

fn config(
    member: &str,
    port: u16,
    sims: &[sim::SimHandle],
    etcd: &str,
    audit: &Path,
    sessions: &Path,
) -> String {
    let mut targets = String::new();
    for (i, s) in sims.iter().enumerate() {
        targets.push_str(&format!(
            "[[targets]]\nname = \"k{i}\"\nurl = \"{}\"\nreaper_mode = \"enforce\"\n",
            s.ws_url()
        ));
    }
    format!(
        r#"listen = "127.0.0.1:{port}"
{targets}
[scrape]
interval = "{interval}ms"
state_interval = "3s"
[api]
player_ttl = "1h"
[reaper]
api_token = "{TOKEN}"
audit_log = "{audit}"
release_spacing = "20ms"
release_timeout = "1s"
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
[probe]
enabled = true
interval = "1s"
uri = "http://media.example/probe.webm"
timeout = "1s"
[cluster]
endpoints = ["{etcd}"]
name = "test"
member = "{member}"
lease_ttl = "{ttl}s"
keepalive_interval = "400ms"
renew_deadline = "1500ms"
request_timeout = "1s"
departed_grace = "3s"
"#,
        interval = INTERVAL.as_millis(),
        audit = audit.display(),
        sessions = sessions.display(),
        ttl = TTL.as_secs(),
    )
}

/// One sample: each member's view (none: not answering) and the targets
/// with `kurento_up` on some member's page.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    views: Vec<Option<View>>,
    up: BTreeSet<String>,
}

async fn sample(addrs: &[SocketAddr]) -> Sample {
    let at = Instant::now();
    let mut views = Vec::new();
    let mut up = BTreeSet::new();
    for a in addrs {
        views.push(view(*a).await);
        if let Ok(Ok((200, page))) =
            tokio::time::timeout(Duration::from_secs(2), try_get(*a, "/metrics")).await
        {
            for l in page.lines().filter(|l| l.starts_with("kurento_up{")) {
                if let Some(k) = l.split("kms=\"").nth(1).and_then(|r| r.split('"').next()) {
                    up.insert(k.to_string());
                }
            }
        }
    }
    Sample { at, views, up }
}

/// The members acting on a membership: registered in their own view.
fn acting(s: &Sample) -> Vec<&View> {
    s.views
        .iter()
        .flatten()
        .filter(|v| v.members.contains(&v.member))
        .collect()
}

/// Whether the acting members act on one member list (and one owner map).
fn consistent(s: &Sample) -> Option<&View> {
    let a = acting(s);
    let first = *a.first()?;
    a.iter()
        .all(|v| v.members == first.members && v.owner == first.owner)
        .then_some(first)
}

/// The checks of one sample; returns the targets claimed twice.
fn check_sample(s: &Sample, targets: &[String]) -> BTreeSet<String> {
    for v in s.views.iter().flatten() {
        if !v.members.contains(&v.member) {
            assert!(
                v.owned.is_empty(),
                "{} owns {:?} unregistered",
                v.member,
                v.owned
            );
            continue;
        }
        let mine: BTreeSet<String> = v
            .owner
            .iter()
            .filter(|(_, o)| o.as_deref() == Some(v.member.as_str()))
            .map(|(t, _)| t.clone())
            .collect();
        assert_eq!(v.owned, mine, "{} runs what rendezvous gives it", v.member);
    }
    let mut twice = BTreeSet::new();
    for t in targets {
        let claims = acting(s).iter().filter(|v| v.owned.contains(t)).count();
        if claims > 1 {
            twice.insert(t.clone());
        }
    }
    if let Some(v) = consistent(s) {
        let answering: BTreeSet<&str> = acting(s).iter().map(|v| v.member.as_str()).collect();
        for t in targets {
            let claims = acting(s).iter().filter(|v| v.owned.contains(t)).count();
            let owner = v.owner[t].as_deref().expect("an owner");
            let expect = usize::from(answering.contains(owner));
            assert_eq!(
                claims, expect,
                "{t} at revision {}: {claims} owners",
                v.revision
            );
        }
    }
    twice
}

/// The owner map once all members act on one member list and have synced
/// every target they own.
async fn converged(
    samples: &Arc<Mutex<Vec<Sample>>>,
    members: usize,
    what: &str,
) -> BTreeMap<String, Option<String>> {
    let samples = samples.clone();
    eventually(Duration::from_secs(40), what, || {
        let last = samples.lock().unwrap().last().cloned();
        async move {
            let s = last.ok_or("no sample yet")?;
            let v = consistent(&s).ok_or("members on different member lists")?;
            let registered = acting(&s).len();
            let unsynced: Vec<&String> = acting(&s)
                .iter()
                .flat_map(|v| v.owned.difference(&v.synced))
                .collect();
            if !unsynced.is_empty() {
                return Err(format!("{unsynced:?} owned, not synced yet"));
            }
            if registered == members && v.members.len() == members {
                Ok(v.owner.clone())
            } else {
                Err(format!(
                    "{registered} members acting, {} in the list",
                    v.members.len()
                ))
            }
        }
    })
    .await
}

fn leak(sims: &[sim::SimHandle], live: &mut BTreeSet<String>, room: usize, sessions: &Path) {
    let r = format!("r{room}");
    for s in sims {
        s.with_engine(|e, _| e.app_forget_room(&r, Vanish::Close));
    }
    live.remove(&r);
    std::fs::write(sessions, serde_json::to_string(live).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_six_kms_through_kills_and_an_etcd_outage() {
    let dir = temp_dir_named("kx-cluster");
    let etcd = Etcd::start(&dir).await;
    let mut sims = Vec::new();
    for i in 0..SIMS {
        sims.push(rooms(100 + i as u64).await);
    }
    let targets: Vec<String> = (0..SIMS).map(|i| format!("k{i}")).collect();
    // Each simulator's room pipelines: id → room.
    let room_pipelines: Vec<BTreeMap<String, String>> = sims
        .iter()
        .map(|s| {
            s.truth()
                .objects
                .iter()
                .filter(|o| o.parent.is_none())
                .filter_map(|o| {
                    let room = o.tags.iter().find(|(k, _)| k == "room")?;
                    Some((o.id.clone(), room.1.clone()))
                })
                .collect()
        })
        .collect();
    assert!(room_pipelines.iter().all(|r| r.len() == ROOMS));
    // Each simulator's live room r15: its pipeline and endpoint.
    let live_room: Vec<(String, String)> = sims
        .iter()
        .zip(&room_pipelines)
        .map(|(s, rooms)| {
            let p = rooms.iter().find(|(_, r)| *r == "r15").unwrap().0.clone();
            let t = s.truth();
            let e = t
                .objects
                .iter()
                .find(|o| o.parent.as_deref() == Some(p.as_str()) && o.kind == "WebRtcEndpoint")
                .unwrap()
                .id
                .clone();
            (p, e)
        })
        .collect();
    let sessions = dir.join("rooms.json");
    let mut live: BTreeSet<String> = (0..ROOMS).map(|i| format!("r{i}")).collect();
    std::fs::write(&sessions, serde_json::to_string(&live).unwrap()).unwrap();
    let mut members: Vec<Member> = (0..MEMBERS)
        .map(|i| {
            let port = free_port();
            let name = format!("m{i}");
            let audit = dir.join(format!("audit-{name}.jsonl"));
            let config = dir.join(format!("{name}.toml"));
            std::fs::write(
                &config,
                config_text(&name, port, &sims, &etcd, &audit, &sessions),
            )
            .unwrap();
            Member {
                name,
                addr: ([127, 0, 0, 1], port).into(),
                config,
                audit,
                child: None,
                runs: 0,
            }
        })
        .collect();
    for m in &mut members {
        m.start(&dir);
    }
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.addr).collect();
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let (samples, addrs) = (samples.clone(), addrs.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let s = sample(&addrs).await;
                samples.lock().unwrap().push(s);
            }
        })
    };
    let full = converged(&samples, MEMBERS, "three members acting").await;
    let owners: BTreeSet<&str> = full.values().flatten().map(String::as_str).collect();
    assert!(
        owners.len() >= 2,
        "six targets spread over the members: {full:?}"
    );
    leak(&sims, &mut live, 0, &sessions);
    leak(&sims, &mut live, 1, &sessions);

    let mut failovers = Vec::new();
    // Attached players and their members.
    let mut players: BTreeMap<String, String> = BTreeMap::new();
    // (member, killed at, acting again by), epoch ms.
    let mut dead: Vec<(String, u64, u64)> = Vec::new();
    let started = Instant::now();
    for i in 0..KILLS {
        let before = converged(&samples, MEMBERS, "all members back").await;
        assert_eq!(before, full, "kill {i}: the same members, the same owners");
        let victim = i % MEMBERS;
        let name = members[victim].name.clone();
        let theirs: Vec<String> = before
            .iter()
            .filter(|(_, o)| o.as_deref() == Some(name.as_str()))
            .map(|(t, _)| t.clone())
            .collect();
        // The victim attaches a player on each of its targets (to the live
        // room r15): its own objects, left behind by the kill.
        for t in &theirs {
            let k: usize = t[1..].parse().unwrap();
            let (p, e) = &live_room[k];
            let path = format!("/api/v1/pipelines/{}/attach-player", p.replace('/', "%2F"));
            let body =
                serde_json::json!({ "uri": "file:///usr/share/kurento/clip.webm", "element": e });
            let headers = ["Content-Type: application/json".to_string(), bearer(TOKEN)];
            let (status, r) = request(
                members[victim].addr,
                "POST",
                &path,
                &headers,
                &body.to_string(),
            )
            .await
            .unwrap();
            assert_eq!(status, 201, "attach-player on {t}: {r}");
            let r: serde_json::Value = serde_json::from_str(&r).unwrap();
            players.insert(r["player"].as_str().unwrap().to_string(), name.clone());
        }
        leak(&sims, &mut live, 2 + i, &sessions);
        members[victim].kill();
        let killed = Instant::now();
        let killed_ms = epoch_ms();
        // Its targets, synced by the others.
        // Polled directly (every 50 ms), not from the 200 ms samples.
        let (t, n) = (theirs.clone(), name.clone());
        let moved = eventually(
            Duration::from_secs(30),
            "the victim's targets resynced",
            || {
                let (t, n, addrs) = (t.clone(), n.clone(), addrs.clone());
                async move {
                    let at = Instant::now();
                    let mut views = Vec::new();
                    for a in &addrs {
                        views.push(view(*a).await);
                    }
                    let s = Sample {
                        at,
                        views,
                        up: BTreeSet::new(),
                    };
                    let others: Vec<&View> =
                        s.views.iter().flatten().filter(|v| v.member != n).collect();
                    let missing: Vec<&String> = t
                        .iter()
                        .filter(|t| !others.iter().any(|v| v.synced.contains(*t)))
                        .collect();
                    if missing.is_empty() {
                        Ok(s)
                    } else {
                        Err(format!("{missing:?} not synced elsewhere"))
                    }
                }
            },
        )
        .await;
        failovers.push(moved.at.saturating_duration_since(killed));
        // Only the victim's targets moved.
        let v = consistent(&moved).expect("the survivors agree");
        for (t, o) in &v.owner {
            if !theirs.contains(t) {
                assert_eq!(o, &before[t], "kill {i}: {t} moved though its owner lives");
            }
        }
        if i % 2 == 1 {
            // Dead past its grace: the others sweep its probe's leftovers.
            let audits: Vec<PathBuf> = members.iter().map(|m| m.audit.clone()).collect();
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline
                && !audits.iter().flat_map(|a| complete_lines(a)).any(|l| {
                    l["event"] == "leftover_released"
                        && l["creator"] == name.as_str()
                        && l["time_ms"].as_u64() > Some(killed_ms)
                })
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        members[victim].start(&dir);
        converged(&samples, MEMBERS, "the victim back").await;
        dead.push((name, killed_ms, epoch_ms()));
    }
    let after_kills = converged(&samples, MEMBERS, "all members back after the kills").await;
    assert_eq!(after_kills, full, "rebalanced to the same owners");
    let kills_took = started.elapsed();

    // The etcd outage: members keep exporting what they own, release nothing.
    etcd.pause();
    let paused_ms = epoch_ms();
    leak(&sims, &mut live, 12, &sessions);
    leak(&sims, &mut live, 13, &sessions);
    // Every member says so: /readyz stays 200 with the reason, the metric is 0.
    for m in &members {
        let addr = m.addr;
        eventually(
            Duration::from_secs(15),
            "the outage reported",
            || async move {
                let (status, text) = try_get(addr, "/readyz").await.map_err(|e| e.to_string())?;
                let (_, page) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
                let down = page
                    .lines()
                    .any(|l| l == "kurento_exporter_cluster_etcd_up 0.0");
                if status == 200 && text.contains("etcd unreachable") && down {
                    Ok(())
                } else {
                    Err(format!("{status} {text:?}, etcd_up 0 on the page: {down}"))
                }
            },
        )
        .await;
    }
    let outage = Duration::from_secs(30)
        .saturating_sub(Duration::from_millis(epoch_ms().saturating_sub(paused_ms)));
    tokio::time::sleep(outage).await; // the outage's length, not a wait
    let resumed_ms = epoch_ms();
    etcd.resume().unwrap();
    // Back: every member reaches etcd again (the metric 1), then all act together.
    for m in &members {
        let addr = m.addr;
        eventually(
            Duration::from_secs(30),
            "etcd_up back to 1",
            || async move {
                let (_, page) = try_get(addr, "/metrics").await.map_err(|e| e.to_string())?;
                if page
                    .lines()
                    .any(|l| l == "kurento_exporter_cluster_etcd_up 1.0")
                {
                    Ok(())
                } else {
                    Err("etcd_up not 1".to_string())
                }
            },
        )
        .await;
    }
    converged(&samples, MEMBERS, "all members back after the outage").await;

    // Every leaked pipeline released.
    let ss: Vec<&sim::SimHandle> = sims.iter().collect();
    eventually(
        Duration::from_secs(60),
        "every leaked pipeline released",
        || {
            let left: usize = ss
                .iter()
                .map(|s| {
                    s.truth()
                        .objects
                        .iter()
                        .filter(|o| o.zombie && o.parent.is_none())
                        .count()
                })
                .sum();
            async move {
                if left == 0 {
                    Ok(())
                } else {
                    Err(format!("{left} zombies left"))
                }
            }
        },
    )
    .await;
    sampler.abort();
    for m in &mut members {
        m.kill();
    }

    // Ownership, sampled every 200 ms.
    let samples = samples.lock().unwrap().clone();
    let mut doubled_before = BTreeSet::new();
    let mut inconsistent = 0;
    for s in &samples {
        let twice = check_sample(s, &targets);
        let again: Vec<&String> = twice.intersection(&doubled_before).collect();
        assert!(
            again.is_empty(),
            "{again:?} owned twice in two samples in a row"
        );
        doubled_before = twice;
        inconsistent += usize::from(consistent(s).is_none());
    }
    // kurento_up never gone from the union longer than TTL + one interval (+ slack).
    let mut worst = Duration::ZERO;
    for t in &targets {
        let mut since: Option<Instant> = None;
        for s in samples.iter().filter(|s| s.at > started) {
            match (s.up.contains(t), since) {
                (false, None) => since = Some(s.at),
                (true, Some(from)) => {
                    worst = worst.max(s.at - from);
                    since = None;
                }
                _ => {}
            }
        }
    }
    let bound = TTL + INTERVAL;
    assert!(
        worst <= bound,
        "kurento_up missing for {worst:?} (bound {bound:?})"
    );
    let slowest = failovers.iter().max().copied().unwrap_or_default();
    assert!(
        slowest <= bound,
        "failover took {slowest:?} (bound {bound:?}): {failovers:?}"
    );

    // The releases: the ledgers, the audit logs.
    let leaked_rooms: BTreeSet<String> = (0..14).map(|i| format!("r{i}")).collect();
    let mut released: BTreeMap<String, usize> = BTreeMap::new();
    let mut own_releases = 0;
    for (s, rooms) in sims.iter().zip(&room_pipelines) {
        let t = s.truth();
        assert_eq!(t.releases_dropped, 0);
        for r in t.releases.iter().filter(|r| !r.by_app) {
            assert!(r.existed, "release of {} after it was gone", r.object);
            match rooms.get(&r.object) {
                Some(room) => {
                    assert!(leaked_rooms.contains(room), "live room {room} released");
                    *released.entry(r.object.clone()).or_default() += 1;
                }
                None => own_releases += 1,
            }
        }
        for o in t.objects.iter().filter(|o| o.parent.is_none()) {
            assert!(!o.zombie, "{} left", o.id);
        }
    }
    assert!(
        released.values().all(|n| *n == 1),
        "released twice: {released:?}"
    );
    assert_eq!(
        released.len(),
        SIMS * leaked_rooms.len(),
        "every leaked pipeline"
    );
    // Probe leftovers: swept by another member only when their creator was dead.
    let mut swept_from_dead = 0;
    for m in &members {
        for l in complete_lines(&m.audit)
            .iter()
            .filter(|l| l["event"] == "leftover_released")
        {
            let at = l["time_ms"].as_u64().unwrap();
            let creator = l["creator"]
                .as_str()
                .expect("a member tag on every probe object");
            if creator == m.name {
                continue; // its own earlier process
            }
            assert!(
                dead.iter()
                    .any(|(d, from, to)| d == creator && (*from..=*to).contains(&at)),
                "{} swept {} of live member {creator}: {l}",
                m.name,
                l["object"]
            );
            swept_from_dead += 1;
        }
    }
    assert!(
        swept_from_dead > 0,
        "no dead member's leftover was swept by another"
    );
    // Every attached player: released once, by a sweep, as its member's.
    let swept: BTreeMap<String, String> = members
        .iter()
        .flat_map(|m| complete_lines(&m.audit))
        .filter(|l| l["event"] == "leftover_released")
        .map(|l| {
            (
                l["object"].as_str().unwrap().to_string(),
                l["creator"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (player, member) in &players {
        let n: usize = sims
            .iter()
            .map(|s| s.truth().releases_of(player).count())
            .sum();
        assert_eq!(n, 1, "player {player} of {member} released {n} times");
        assert_eq!(
            swept.get(player),
            Some(member),
            "player {player} swept as {member}'s"
        );
    }
    let mut by_target: BTreeMap<String, Vec<(u64, i64, String)>> = BTreeMap::new();
    let mut intents = 0;
    for m in &members {
        for l in complete_lines(&m.audit) {
            if l["event"] != "intent" {
                continue;
            }
            intents += 1;
            let member = l["member"]
                .as_str()
                .unwrap_or_else(|| panic!("no lock on {l}"));
            assert_eq!(member, m.name, "{l}");
            let rev = l["lock_revision"].as_i64().expect("a lock revision");
            let at = l["time_ms"].as_u64().unwrap();
            // Nothing sent while etcd was away (after the renewal deadline).
            assert!(
                !(paused_ms + 1500..resumed_ms).contains(&at),
                "a release sent during the etcd outage: {l}"
            );
            by_target
                .entry(l["target"].as_str().unwrap().to_string())
                .or_default()
                .push((at, rev, member.to_string()));
        }
    }
    for (t, mut v) in by_target.clone() {
        v.sort();
        for w in v.windows(2) {
            assert!(w[0].1 <= w[1].1, "{t}: lock revision went back: {w:?}");
            if w[0].2 != w[1].2 {
                assert!(
                    w[0].1 < w[1].1,
                    "{t}: two members under one lock revision: {w:?}"
                );
            }
        }
    }
    assert!(
        intents >= released.len(),
        "{intents} intents for {} releases",
        released.len()
    );
    println!(
        "{KILLS} kills in {kills_took:?}; failovers {failovers:?}; kurento_up gap at most {worst:?}; \
         {} samples, {inconsistent} between member lists; {} releases, {intents} intents; \
         {own_releases} releases of the members' own objects, {} players, {swept_from_dead} leftovers of dead members swept",
        samples.len(),
        released.len(),
        players.len()
    );
    for s in sims {
        s.shutdown().await;
    }
    drop(etcd);
    let _ = std::fs::remove_dir_all(&dir);
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn config_text(
    member: &str,
    port: u16,
    sims: &[sim::SimHandle],
    etcd: &Etcd,
    audit: &Path,
    sessions: &Path,
) -> String {
    config(member, port, sims, &etcd.url(), audit, sessions)
}
