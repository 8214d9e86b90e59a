//! The scenario files under `crates/kms-sim/scenarios/`: every file parses,
//! every file's intended zombie set (`expect_zombies`) is exactly the ground
//! truth's after a run on the engine, the matrix's never-a-zombie cases look
//! as KMS would show them, and the `kms-sim` binary runs the matrix.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use kms_sim::{Engine, ObjectTruth, Scenario, Truth};

const T0: u64 = 1_795_562_784_000;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "toml"))
        .collect();
    v.sort();
    v
}

/// Run `file` on a fresh engine until `end_ms` of simulated time.
fn run(file: &str, end_ms: u64) -> Truth {
    let s = Scenario::from_file(&dir().join(file)).expect("scenario");
    let mut e = Engine::new(3, T0);
    s.play(&mut e, T0, 250, end_ms).expect("scenario runs");
    e.truth()
}

fn tag<'a>(o: &'a ObjectTruth, key: &str) -> Option<&'a str> {
    o.tags
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The objects of `room` (and `participant`, `""` for none) of type `kind`.
fn find<'a>(t: &'a Truth, room: &str, participant: &str, kind: &str) -> Vec<&'a ObjectTruth> {
    t.objects
        .iter()
        .filter(|o| {
            tag(o, "room") == Some(room)
                && tag(o, "participant").unwrap_or("") == participant
                && o.kind == kind
        })
        .collect()
}

fn flowing(o: &ObjectTruth, media: &str) -> (bool, bool) {
    let m = o
        .media
        .iter()
        .find(|m| m.media_type == media)
        .expect("media");
    (m.flowing_in, m.flowing_out)
}

#[test]
fn every_scenario_file_parses_and_ends_with_its_intended_zombies() {
    let files = files();
    assert!(files.len() >= 10, "matrix + one file per topology");
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("name");
        let s = Scenario::from_file(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!s.steps.is_empty(), "{name}: no step");
        assert!(!s.expect_zombies.is_empty(), "{name}: no intended zombie");
        let t = run(name, 40_000);
        let mut want = s.expect_zombies.clone();
        want.sort();
        assert_eq!(
            t.zombies_by_tags(),
            want,
            "{name}: the ground truth's zombies"
        );
        for o in &t.objects {
            assert!(!o.why.is_empty(), "{name}: {} has no why", o.id);
        }
    }
}

#[test]
fn matrix_never_a_zombie_cases_look_as_on_kms() {
    let t = run("matrix.json", 40_000);
    let one = |room: &str, p: &str, kind: &str| -> ObjectTruth {
        let v = find(&t, room, p, kind);
        assert_eq!(v.len(), 1, "{room}/{p}/{kind}: {v:?}");
        v[0].clone()
    };
    let live = |o: &ObjectTruth, why: &str| {
        assert!(!o.zombie, "{} is live", o.id);
        assert!(
            o.why.contains(why),
            "{}: why {:?}, want {why:?}",
            o.id,
            o.why
        );
    };
    // a receive-only viewer: media in from the presenter, out to its browser only
    let viewer = one("o2m-live", "p2", "WebRtcEndpoint");
    live(&viewer, "viewer: browser alive");
    assert_eq!(flowing(&viewer, "VIDEO"), (true, false));
    assert_eq!(viewer.connection_state.as_deref(), Some("CONNECTED"));
    // the presenter gone: viewers stay live, connected, receive nothing
    for p in ["p2", "p3"] {
        let v = one("o2m-presenter-gone", p, "WebRtcEndpoint");
        live(&v, "viewer");
        assert_eq!(v.peer_present, Some(true));
        assert_eq!(flowing(&v, "VIDEO"), (false, false));
    }
    // SFU: the others' receivers of the forgotten publisher stay held
    let recv = find(&t, "sfu-leak", "p1", "WebRtcEndpoint");
    assert_eq!(
        recv.len(),
        3,
        "p1's publisher and its receivers of p2 and p3"
    );
    assert!(recv
        .iter()
        .all(|o| !o.zombie && o.peer_present == Some(true)));
    // alone, muted, paused, recording, looping back
    live(&one("mcu-alone", "p1", "WebRtcEndpoint"), "alone");
    let muted = find(&t, "sfu-muted", "p1", "WebRtcEndpoint");
    let publisher = muted
        .iter()
        .find(|o| o.sinks.iter().any(|(_, m)| m == "VIDEO"))
        .expect("p1's publisher feeds p2's receiver");
    live(publisher, "muted");
    assert!(!flowing(publisher, "AUDIO").1, "no voice");
    assert!(flowing(publisher, "VIDEO").1, "video keeps flowing");
    live(
        &one("playback-paused", "p1", "PlayerEndpoint"),
        "paused player",
    );
    assert_eq!(
        flowing(&one("playback-paused", "p1", "WebRtcEndpoint"), "VIDEO"),
        (false, false)
    );
    let rec = one("recording-live", "p1", "RecorderEndpoint");
    live(&rec, "recording a live call");
    assert!(flowing(&rec, "VIDEO").0, "the recorder receives");
    live(&one("loopback-live", "p1", "WebRtcEndpoint"), "loopback");
    // a late offer: negotiated by now (mid-negotiation before that)
    let late = one("mcu-late", "late", "WebRtcEndpoint");
    assert!(!late.zombie && late.connection_state.as_deref() == Some("CONNECTED"));
    // tagged (protected) room whose browser vanished: held, live
    let prot = one("mcu-protected", "p2", "WebRtcEndpoint");
    assert!(!prot.zombie && prot.peer_present == Some(false));
    assert!(prot
        .tags
        .contains(&("kurento-exporter.protect".into(), "true".into())));
    // hub port flags do not tell liveness
    let port = one("mcu-leak", "p1", "HubPort");
    assert!(!flowing(&port, "VIDEO").0, "a live port: no VIDEO in");
    let dead = one("mcu-leak", "p3", "HubPort");
    assert!(dead.zombie && flowing(&dead, "AUDIO") == (false, true));
    // every room whose case is live has no zombie
    for o in &t.objects {
        let room = tag(o, "room").unwrap_or("");
        let live_room = !room.ends_with("-leak")
            && !room.ends_with("-forgotten")
            && !room.ends_with("-gone")
            && !["mcu-idle", "empty-pipeline"].contains(&room);
        if live_room {
            assert!(!o.zombie, "{room}: {} ({}) is live", o.id, o.why);
        }
    }
}

#[test]
fn matrix_transient_cases_while_they_happen() {
    // 6.5 s: the ICE restart is under way, the late offer not in yet
    let t = run("matrix.json", 6_500);
    let eps = find(&t, "sfu-ice-restart", "p1", "WebRtcEndpoint");
    let publisher = eps
        .iter()
        .find(|o| o.ice_states.first().map(String::as_str) == Some("CONNECTING"))
        .expect("p1's publisher restarts ICE");
    assert!(!publisher.zombie && !flowing(publisher, "VIDEO").1);
    let late = find(&t, "mcu-late", "late", "WebRtcEndpoint");
    assert_eq!(late.len(), 1);
    assert!(late[0].why.contains("mid-negotiation") && !late[0].zombie);
    assert_eq!(late[0].connection_state.as_deref(), Some("DISCONNECTED"));
    // 12 s: the blip still on (until 14 s), the restart over
    let t = run("matrix.json", 12_000);
    let blip = &find(&t, "mcu-blip", "p2", "WebRtcEndpoint")[0];
    assert!(blip.interrupted && !blip.zombie);
    let eps = find(&t, "sfu-ice-restart", "p1", "WebRtcEndpoint");
    assert!(eps
        .iter()
        .all(|o| o.ice_states.first().map(String::as_str) == Some("READY")));
}

#[test]
fn leaving_releases_and_ending_releases_everything() {
    use kms_sim::{Action, Topology};
    let s = Scenario::new()
        .at(
            0,
            Action::Room {
                room: "g".into(),
                topology: Topology::Sfu,
                participants: Some(3),
                named: vec![],
                uri: None,
                offer_delay_ms: 0,
            },
        )
        .at(
            3_000,
            Action::Leave {
                room: "g".into(),
                participant: "p2".into(),
            },
        );
    let mut e = Engine::new(5, T0);
    s.play(&mut e, T0, 250, 5_000).expect("runs");
    let t = e.truth();
    assert!(
        find(&t, "g", "p2", "WebRtcEndpoint").is_empty(),
        "p2's objects released"
    );
    for p in ["p1", "p3"] {
        assert_eq!(
            find(&t, "g", p, "WebRtcEndpoint").len(),
            2,
            "{p}'s receiver of p2 released with it"
        );
    }
    assert_eq!(t.counts.zombies, 0);
    assert!(t.releases.iter().filter(|r| r.by_app).count() == 5);
    let end = Scenario::new().at(0, Action::EndRoom { room: "g".into() });
    let now = e.now();
    end.play(&mut e, now, 250, 0).expect("runs");
    assert_eq!(e.truth().counts.pipelines, 0);
}

#[test]
fn a_new_presenter_feeds_the_viewers_left() {
    let s: Scenario = serde_json::from_str(
        r#"{"steps": [
            {"at_ms": 0, "action": "room", "room": "w", "topology": "one_to_many"},
            {"at_ms": 3000, "action": "forget", "room": "w", "participant": "p1"},
            {"at_ms": 10000, "action": "join", "room": "w", "participant": "next"}
        ]}"#,
    )
    .expect("scenario");
    let mut e = Engine::new(9, T0);
    s.play(&mut e, T0, 250, 14_000).expect("runs");
    let t = e.truth();
    let next = &find(&t, "w", "next", "WebRtcEndpoint")[0];
    assert!(next.why.contains("presenter"), "{}", next.why);
    assert_eq!(
        flowing(next, "VIDEO"),
        (false, true),
        "the new presenter sends"
    );
    for p in ["p2", "p3"] {
        let v = &find(&t, "w", p, "WebRtcEndpoint")[0];
        assert_eq!(flowing(v, "VIDEO"), (true, false), "{p} receives again");
    }
}

#[tokio::test]
async fn the_binary_runs_the_matrix() {
    let path = dir().join("matrix.json");
    let path = path.to_str().expect("utf-8 path");
    let sim =
        support::spawn_sim_with_control(&["--scenario", path, "--speed", "20", "--tick-ms", "50"]);
    let control = sim.control.expect("control address");
    let want = {
        let mut w = Scenario::from_file(&dir().join("matrix.json"))
            .expect("matrix")
            .expect_zombies;
        w.sort();
        w
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let t = truth(control).await;
        if t.zombies_by_tags() == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary's ground truth never reached the intended zombies: {:?}",
            t.zombies_by_tags()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn truth(addr: std::net::SocketAddr) -> Truth {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("control");
    let req = format!("GET /truth HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    serde_json::from_str(body).expect("truth JSON")
}
