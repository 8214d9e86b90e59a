//! Shared helpers of the client tests against the simulator: a simulator on
//! an ephemeral port, a client config with short timeouts, and waits with
//! deadlines (no fixed sleeps).
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use kms_sim::{self as sim, SimConfig, SimHandle};
use kurento_exporter::kms::{Client, ConnState, ConnectionConfig, Notice};
use tokio::sync::broadcast;
use tokio::time::timeout;

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn start_sim() -> SimHandle {
    let cfg = SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    sim::start(cfg).await.expect("simulator starts")
}

pub fn config(sim: &SimHandle) -> ConnectionConfig {
    let mut cfg = ConnectionConfig::new(sim.ws_url());
    cfg.request_timeout = Duration::from_secs(3);
    cfg.connect_timeout = Duration::from_secs(3);
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(300);
    cfg
}

pub async fn connect(cfg: ConnectionConfig) -> Client {
    Client::connect(cfg).await.expect("client connects")
}

/// Await `fut`, failing the test after `WAIT`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Wait for a connected state of at least `generation`.
pub async fn connected_gen(client: &Client, generation: u64) -> (String, u64) {
    let mut rx = client.state();
    let s = within("reconnection", async {
        rx.wait_for(|s| matches!(s, ConnState::Connected { generation: g, .. } if *g >= generation))
            .await
            .expect("state watch open")
            .clone()
    })
    .await;
    match s {
        ConnState::Connected {
            session,
            generation,
        } => (session, generation),
        ConnState::Disconnected => unreachable!(),
    }
}

/// The next notice matching `pred`, skipping others.
pub async fn next_notice(
    rx: &mut broadcast::Receiver<Notice>,
    what: &str,
    pred: impl Fn(&Notice) -> bool,
) -> Notice {
    within(what, async {
        loop {
            match rx.recv().await {
                Ok(n) if pred(&n) => return n,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("notices closed"),
            }
        }
    })
    .await
}

/// Poll `f` until it yields `Some`, failing the test after `WAIT`.
pub async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(t) = f().await {
                return t;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}
