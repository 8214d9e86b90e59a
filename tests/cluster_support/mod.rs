//! What the cluster tests share: a real etcd (Debian's `etcd-server`) on
//! loopback, stopped and resumed with SIGSTOP/SIGCONT for outages; the
//! members' views read from their `/api/v1/targets`; the audit lines.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::exporter_common::{free_port, try_get};

/// etcd on loopback, killed (and its data removed) on drop.
pub struct Etcd {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Etcd {
    /// Start etcd in a new directory under `parent`; waits (60 s at most)
    /// until it answers `/health`.
    pub async fn start(parent: &Path) -> Etcd {
        let dir = parent.join("etcd");
        let (port, peer) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args([
                "--name",
                "test",
                "--data-dir",
                dir.to_str().unwrap(),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("test={peer_url}"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(parent.join("etcd.log")).unwrap())
            .spawn()
            .expect("etcd starts (Debian package etcd-server; scripts/test.sh installs it)");
        let e = Etcd { child, port, dir };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, body)) = try_get(addr, "/health").await {
                if body.contains("true") {
                    return e;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "etcd not healthy in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) -> std::io::Result<()> {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()?
            .success();
        assert!(ok, "kill {sig} etcd");
        Ok(())
    }

    /// The outage: etcd stops answering (the process is stopped).
    pub fn pause(&self) {
        self.signal("-STOP").unwrap();
    }

    pub fn resume(&self) -> std::io::Result<()> {
        self.signal("-CONT")
    }
}

/// One member's view, from its `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub member: String,
    pub revision: i64,
    pub members: BTreeSet<String>,
    pub etcd_up: bool,
    pub lease_valid: bool,
    /// Target → owner per this member's view.
    pub owner: BTreeMap<String, Option<String>>,
    /// The targets this member watches.
    pub owned: BTreeSet<String>,
    /// Of those, the ones synced and last synced fine.
    pub synced: BTreeSet<String>,
}

/// The view of the member at `addr`; `None` when it does not answer.
pub async fn view(addr: SocketAddr) -> Option<View> {
    let (status, body) =
        tokio::time::timeout(Duration::from_secs(2), try_get(addr, "/api/v1/targets"))
            .await
            .ok()?
            .ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let c = &v["cluster"];
    let strings = |x: &serde_json::Value| -> BTreeSet<String> {
        x.as_array()
            .unwrap_or(&vec![])
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let targets = c["targets"].as_array()?;
    Some(View {
        member: c["member"].as_str()?.to_string(),
        revision: c["revision"].as_i64()?,
        members: strings(&c["members"]),
        etcd_up: c["etcd_up"].as_bool()?,
        lease_valid: c["lease_valid"].as_bool()?,
        owner: targets
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap_or("").to_string(),
                    t["owner"].as_str().map(str::to_string),
                )
            })
            .collect(),
        owned: targets
            .iter()
            .filter(|t| t["owned"] == true)
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect(),
        synced: v["targets"]
            .as_array()?
            .iter()
            .filter(|t| t["synced_once"] == true && t["last_sync_ok"] == true)
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect(),
    })
}
