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
