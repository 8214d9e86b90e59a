//! `start` and `SimHandle`: the Rust control surface of a running simulator
//! (URLs, faults, restart, listener pause, ground truth, scenarios, shutdown).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::server::{accept_loop, Shared};
use super::{Fault, Scenario, SimConfig, SimError, Truth};

/// A running simulator. Cloning gives another handle to the same simulator.
#[derive(Debug, Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    addr: SocketAddr,
    control: Option<SocketAddr>,
    tasks: Arc<Mutex<Tasks>>,
}

#[derive(Debug, Default)]
struct Tasks {
    accept: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })
}

/// Start a simulator.
pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
    let listener = bind(cfg.listen).await?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let shared = Arc::new(Shared::new(cfg.clone()));
    let mut tasks = Tasks {
        accept: Some(tokio::spawn(accept_loop(shared.clone(), listener))),
        background: Vec::new(),
    };
    let s = shared.clone();
    tasks.background.push(tokio::spawn(async move {
        let mut iv = tokio::time::interval(s.cfg.tick.max(std::time::Duration::from_millis(1)));
        loop {
            iv.tick().await;
            s.with_engine(|e, now| ((), e.tick(now)));
        }
    }));
    let s = shared.clone();
    tasks.background.push(tokio::spawn(async move {
        let period = s.cfg.gc_period.max(std::time::Duration::from_millis(1));
        let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            iv.tick().await;
            s.with_engine(|e, now| ((), e.gc(now)));
        }
    }));
    let mut control = None;
    if let Some(c) = cfg.control {
        let l = bind(c).await?;
        control = Some(
            l.local_addr()
                .map_err(|source| SimError::Bind { addr: c, source })?,
        );
        tasks
            .background
            .push(tokio::spawn(super::control::serve(shared.clone(), l)));
    }
    tracing::info!(%addr, "kms-sim listening");
    Ok(SimHandle {
        shared,
        addr,
        control,
        tasks: Arc::new(Mutex::new(tasks)),
    })
}

impl SimHandle {
    /// `ws://ADDR/kurento`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/kurento", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` of the control server, when enabled.
    pub fn control_url(&self) -> Option<String> {
        self.control.map(|a| format!("http://{a}"))
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// How ICE behaves for every WebRtcEndpoint created over the wire from
    /// now on (`IceMode::Fail`: CONNECTING then FAILED). Kept until changed
    /// or the simulator restarts.
    pub fn set_wire_ice(&self, mode: super::IceMode) {
        self.shared.with_engine(|e, _| {
            e.wire_ice = mode;
            ((), Vec::new())
        });
    }

    /// KMS restart: sockets closed, objects and sessions gone, new serverId.
    pub async fn restart(&self) {
        self.shared.reset();
        tokio::task::yield_now().await;
    }

    /// KMS killed: sockets closed and the port refuses connections.
    pub async fn pause_listener(&self) {
        let accept = self.lock_tasks().accept.take();
        if let Some(t) = accept {
            t.abort();
            let _ = t.await;
        }
        self.shared.kill_all();
    }

    /// KMS back on the same port, empty (like a restart).
    pub async fn resume_listener(&self) -> Result<(), SimError> {
        if self.lock_tasks().accept.is_some() {
            return Ok(());
        }
        let listener = bind(self.addr).await?;
        self.shared.reset();
        self.lock_tasks().accept = Some(tokio::spawn(accept_loop(self.shared.clone(), listener)));
        Ok(())
    }

    /// A snapshot of everything in the simulator.
    pub fn truth(&self) -> Truth {
        self.shared.read_engine(|e| e.truth())
    }

    /// Apply a scenario; returns once its last step ran.
    pub async fn run_scenario(&self, scenario: Scenario) -> Result<(), SimError> {
        super::scenario_run::run(&self.shared, scenario).await
    }

    /// Run a closure on the engine (advanced tests and scenarios).
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut super::Engine, u64) -> R) -> R {
        self.shared.with_engine(|e, now| {
            e.advance(now);
            let r = f(e, now);
            (r, e.take_events())
        })
    }

    /// Move the simulated clock forward by `by` (in ticks of at most the
    /// configured tick), running the media model at each step. With
    /// `SimConfig::speed` 0 the clock moves only this way: deterministic tests.
    pub fn advance_clock(&self, by: std::time::Duration) {
        let step = (self.shared.cfg.tick.as_millis() as u64).max(1);
        let mut left = by.as_millis() as u64;
        while left > 0 {
            let d = left.min(step);
            left -= d;
            self.shared.advance_clock(d);
            self.shared.with_engine(|e, now| ((), e.tick(now)));
        }
    }

    /// Milliseconds of simulated time since the simulator started.
    pub fn elapsed_ms(&self) -> u64 {
        self.shared.now().saturating_sub(self.shared.wall_start())
    }

    /// Stop everything.
    pub async fn shutdown(self) {
        let tasks = std::mem::take(&mut *self.lock_tasks());
        for t in tasks.accept.into_iter().chain(tasks.background) {
            t.abort();
            let _ = t.await;
        }
        self.shared.kill_all();
    }

    fn lock_tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}
