//! The `kms-sim` binary: starts, logs its URL, serves the protocol.

mod sim_support;

use serde_json::json;
use sim_support::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_kms_protocol() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--gc-period",
            "0.5",
            "--tick-ms",
            "50",
            "--seed",
            "3",
        ])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kms-sim starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(sim_support::WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(i) = line.find("ws://") {
                return line[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
                    .collect::<String>();
            }
        }
        panic!("no URL logged");
    })
    .await
    .expect("URL logged in time");
    let mut c = Client::connect(&url).await;
    let r = c.ok("ping", json!({"interval": 5000})).await;
    assert_eq!(r, json!({"value": "pong"}));
    let p = c.pipeline().await;
    assert_eq!(
        c.invoke("manager_ServerManager", "getPipelines", json!({}))
            .await,
        json!([p])
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn binary_runs_a_scenario_file_visible_on_the_control_api() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim_scenario.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kms-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--scenario",
            scenario,
            "--seed",
            "9",
        ])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kms-sim starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let control = tokio::time::timeout(sim_support::WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(i) = line.find("http://") {
                return line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect::<String>();
            }
        }
        panic!("no control URL logged");
    })
    .await
    .expect("control URL logged in time");
    let truth = tokio::time::timeout(sim_support::WAIT, async {
        loop {
            let t = get_truth(&control).await;
            if t["counts"]["webrtc_endpoints"] == 7 {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("scenario applied");
    assert_eq!(truth["counts"]["pipelines"], 2);
    let firewalled = truth["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t[1] == "firewalled")
                && o["type"] == "WebRtcEndpoint"
        })
        .expect("firewalled participant");
    assert_eq!(firewalled["ice_states"][0], "CONNECTING");
    assert_eq!(firewalled["media_state"], "DISCONNECTED");
    child.kill().await.unwrap();
}

async fn get_truth(addr: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /truth HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap()
}
