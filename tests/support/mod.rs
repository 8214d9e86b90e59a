//! Shared helpers for the integration tests: run the `kms-sim` binary on a
//! free local port and wait until it accepts connections.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `kms-sim` process, killed when dropped.
pub struct SimProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl SimProcess {
    /// The WebSocket URL clients use, KMS style.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/kurento", self.addr)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Start the simulator binary with `extra` arguments and wait (deadline 20 s)
/// until its port accepts TCP connections. Panics with the reason otherwise.
pub fn spawn_sim(extra: &[&str]) -> SimProcess {
    let bin = env!("CARGO_BIN_EXE_kms-sim");
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut child = Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return SimProcess { child, addr };
            }
            if let Ok(Some(status)) = child.try_wait() {
                last_err = format!("kms-sim exited early with {status} (listen {addr})");
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                last_err = format!("kms-sim did not listen on {addr} within 20 s");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{last_err}");
}

/// `../shared/kurento/samples` next to the repository checkout.
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/kurento/samples")
}
