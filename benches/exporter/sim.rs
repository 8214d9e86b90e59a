//! The simulator as a process of its own: this bench binary re-run with
//! `__kms-sim PORT`, so the simulator's CPU and memory are measured apart
//! from the exporter's.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// First argument that makes this binary the simulator process.
pub const SIM_CHILD: &str = "__kms-sim";

/// A running simulator child, killed on drop.
pub struct Sim {
    child: Child,
    pub url: String,
}

impl Sim {
    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start the simulator child and wait until it accepts connections.
pub async fn spawn_sim() -> Sim {
    let port = free_port();
    let child = Command::new(std::env::current_exe().expect("own path"))
        .args([SIM_CHILD, &port.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the simulator process");
    let url = format!("ws://127.0.0.1:{port}/kurento");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "kms-sim did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Sim { child, url }
}

/// The simulator process: `kms-sim` on 127.0.0.1:`port`, media tick 1 s,
/// until killed.
pub fn sim_child(port: &str) {
    let port: u16 = port.parse().expect("port");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let _sim = kms_sim::start(kms_sim::SimConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            tick: Duration::from_millis(1000),
            ..kms_sim::SimConfig::default()
        })
        .await
        .expect("kms-sim starts");
        std::future::pending::<()>().await;
    });
}
