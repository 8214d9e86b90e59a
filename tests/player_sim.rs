//! Player attachments against the simulator over real TCP (issue 6,
//! acceptance 3): media flows into and out of the target, the player is gone
//! after the TTL or on DELETE, and a daemon killed (SIGKILL) while a player
//! is attached releases it when started again.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_common::*;
use kms_sim::SimHandle;
use kurento_exporter::kms::{Client, ConnectionConfig};
use serde_json::{json, Value};

const TOKEN: &str = "s3cret-token-for-tests";
const BIN: &str = env!("CARGO_BIN_EXE_kurento-exporter");

/// One request with an optional token and JSON body; (status, parsed body).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut headers = vec!["Content-Type: application/json".to_string()];
    headers.extend(token.map(bearer));
    let (status, body) = request(addr, method, path, &headers, &body.to_string())
        .await
        .expect("HTTP request");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn enc(id: &str) -> String {
    id.replace('/', "%2F")
}

/// An application pipeline with a PassThrough, on a session kept open.
async fn app(sim: &SimHandle) -> (Client, String, String) {
    let app = Client::connect(ConnectionConfig::new(sim.ws_url()))
        .await
        .unwrap();
    let p = app.create_pipeline().await.unwrap();
    let e = app.create_element("PassThrough", &p).await.unwrap();
    (app, p, e)
}

async fn known(addr: SocketAddr, pipeline: &str) {
    let path = format!("/api/v1/pipelines/{}", enc(pipeline));
    eventually(Duration::from_secs(15), "pipeline in the model", || async {
        match try_get(addr, &path).await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

async fn gone(sim: &SimHandle, id: &str, limit: Duration) {
    eventually(limit, "player released", || async {
        match sim.truth().contains(id) {
            false => Ok(()),
            true => Err(format!("{id} still there")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_through_the_target_and_the_player_goes_after_ttl_or_delete() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let (_app, p, e) = app(&sim).await;
    let mut cfg = config(&[("kms", sim.ws_url())], Duration::from_millis(300));
    cfg.reaper.api_token = Some(TOKEN.into());
    cfg.api.player_ttl = Duration::from_secs(2);
    cfg.validate().unwrap();
    let d = daemon(cfg).await;
    let addr = d.addr();
    known(addr, &p).await;
    let path = format!("/api/v1/pipelines/{}/attach-player", enc(&p));
    let body = json!({ "uri": "file:///usr/share/kurento/clip.webm", "element": e });

    let (status, _) = call(addr, "POST", &path, None, &body).await;
    assert_eq!(status, 401);
    let bad = json!({ "uri": "clip.webm", "element": e });
    assert_eq!(call(addr, "POST", &path, Some(TOKEN), &bad).await.0, 400);
    // Only what api.player_uri_prefixes allows (default: files under
    // /usr/share/kurento/): no fetch of an arbitrary URL, no way out.
    for uri in [
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "file:///usr/share/kurento/../../../etc/passwd",
        "file:///usr/share/kurento/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let (status, r) = call(
            addr,
            "POST",
            &path,
            Some(TOKEN),
            &json!({ "uri": uri, "element": e }),
        )
        .await;
        assert_eq!(status, 400, "{uri}: {r}");
        assert!(r["error"].as_str().unwrap().contains("uri"), "{r}");
    }
    let elsewhere = json!({ "uri": "file:///usr/share/kurento/x.webm", "element": "other/e" });
    assert_eq!(
        call(addr, "POST", &path, Some(TOKEN), &elsewhere).await.0,
        400
    );

    let (status, r) = call(addr, "POST", &path, Some(TOKEN), &body).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["flowing_in"], true, "{r}");
    assert_eq!(r["flowing_out"], true, "{r}");
    assert_eq!(r["kms"], "kms");
    assert!(r.get("stats_before").is_some() && r.get("stats_after").is_some());
    let player = r["player"].as_str().unwrap().to_owned();
    let t = sim.truth();
    let o = t.object(&player).expect("the player exists");
    assert_eq!(o.kind, "PlayerEndpoint");
    assert!(o
        .tags
        .iter()
        .any(|(k, v)| k == "kurento-exporter.owner" && v == "kurento-exporter"));
    assert!(o.sinks.iter().any(|(s, _)| s == &e), "{:?}", o.sinks);
    gone(&sim, &player, Duration::from_secs(10)).await;
    assert_eq!(sim.truth().releases_of(&player).count(), 1);

    // Another one, deleted before its TTL.
    let (status, r) = call(addr, "POST", &path, Some(TOKEN), &body).await;
    assert_eq!(status, 201, "{r}");
    let player = r["player"].as_str().unwrap().to_owned();
    let del = format!("{path}/{}", enc(&player));
    assert_eq!(call(addr, "DELETE", &del, None, &Value::Null).await.0, 401);
    let (status, r) = call(addr, "DELETE", &del, Some(TOKEN), &Value::Null).await;
    assert_eq!((status, &r["released"]), (200, &json!(true)), "{r}");
    assert!(!sim.truth().contains(&player));
    assert_eq!(
        call(addr, "DELETE", &del, Some(TOKEN), &Value::Null)
            .await
            .0,
        404
    );
    // The application's objects are untouched.
    let t = sim.truth();
    assert!(t.contains(&p) && t.contains(&e));
    assert!(d.shutdown(Duration::from_secs(5)).await);
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_attachment_releases_the_player_at_start_up() {
    let sim = simulator(Duration::from_secs(3600)).await;
    let (_app, p, e) = app(&sim).await;
    let dir = std::env::temp_dir().join(format!("kx-player-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "{addr}"
[scrape]
interval = "300ms"
state_interval = "1s"
[api]
player_ttl = "1h"
player_uri_prefixes = ["rtsp://camera.example/"]
[reaper]
api_token = "{TOKEN}"
[[targets]]
name = "kms"
url = "{url}"
"#,
            url = sim.ws_url(),
        ),
    )
    .unwrap();
    let mut first = start(&config, &dir.join("first.log"));
    known(addr, &p).await;
    let path = format!("/api/v1/pipelines/{}/attach-player", enc(&p));
    let body = json!({ "uri": "rtsp://camera.example/live", "element": e });
    let (status, r) = call(addr, "POST", &path, Some(TOKEN), &body).await;
    assert_eq!(status, 201, "{r}");
    let player = r["player"].as_str().unwrap().to_owned();
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed: no cleanup ran, the player is still there.
    assert!(sim.truth().contains(&player));
    assert_eq!(sim.truth().releases_of(&player).count(), 0);

    let mut second = start(&config, &dir.join("second.log"));
    gone(&sim, &player, Duration::from_secs(15)).await;
    let t = sim.truth();
    assert_eq!(t.releases_of(&player).count(), 1);
    assert!(
        t.contains(&p) && t.contains(&e),
        "the application's objects stay"
    );
    second.kill().unwrap();
    second.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
