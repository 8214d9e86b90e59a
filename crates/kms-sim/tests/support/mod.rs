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
    /// The HTTP control address, when started with [`spawn_sim_with_control`].
    pub control: Option<SocketAddr>,
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
/// `KMS_SIM_BIN` names another simulator binary to test (default: this
/// crate's `kms-sim`).
pub fn spawn_sim(extra: &[&str]) -> SimProcess {
    spawn(extra, false)
}

/// Like [`spawn_sim`], with the simulator's HTTP control server (`--control`)
/// on another free port.
pub fn spawn_sim_with_control(extra: &[&str]) -> SimProcess {
    spawn(extra, true)
}

fn spawn(extra: &[&str], with_control: bool) -> SimProcess {
    let own = env!("CARGO_BIN_EXE_kms-sim");
    let bin_env = std::env::var("KMS_SIM_BIN").ok().filter(|b| !b.is_empty());
    let bin = bin_env.as_deref().unwrap_or(own);
    let mut last_err = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let control = with_control.then(|| SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())));
        let mut cmd = Command::new(bin);
        cmd.arg("--listen").arg(addr.to_string());
        if let Some(c) = control {
            cmd.arg("--control").arg(c.to_string());
        }
        let mut child = cmd
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up =
                |a: &SocketAddr| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok();
            if up(&addr) && control.as_ref().is_none_or(up) {
                return SimProcess {
                    child,
                    addr,
                    control,
                };
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

/// `tests/fixtures/kurento/samples` of the repository (copies of the captures; see its README).
pub fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kurento/samples")
}
