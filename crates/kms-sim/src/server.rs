//! The WebSocket side: accepts connections, binds them to sessions, feeds
//! frames to the engine, delivers responses and events, injects faults,
//! and kills sockets on restart. All I/O of the simulator lives here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::engine::{Delivery, Engine};
use super::rpc::{method_of, FrameReply};
use super::{Fault, SimConfig};

/// Most frames written before one flush.
const WRITE_BATCH: usize = 256;

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Out {
    Frame(Message),
    /// Drop the TCP connection without a close handshake.
    Kill,
}

#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    session: Option<String>,
}

/// State shared by the server tasks and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: SimConfig,
    engine: Mutex<Engine>,
    conns: Mutex<HashMap<u64, Conn>>,
    faults: Mutex<Vec<Fault>>,
    next_conn: AtomicU64,
    generation: AtomicU64,
    wall_start: u64,
    start: Instant,
    /// Manual clock advances (ms), added to the scaled real time.
    offset: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(cfg: SimConfig) -> Self {
        let wall_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Shared {
            engine: Mutex::new(Engine::new(cfg.seed, wall_start)),
            cfg,
            conns: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
            generation: AtomicU64::new(0),
            wall_start,
            start: Instant::now(),
            offset: AtomicU64::new(0),
        }
    }

    /// The simulated clock, epoch milliseconds.
    pub fn now(&self) -> u64 {
        let elapsed = self.start.elapsed().as_secs_f64() * 1000.0 * self.cfg.speed.max(0.0);
        self.wall_start + elapsed as u64 + self.offset.load(Ordering::SeqCst)
    }

    pub fn wall_start(&self) -> u64 {
        self.wall_start
    }

    /// Move the simulated clock forward by `ms`.
    pub fn advance_clock(&self, ms: u64) {
        self.offset.fetch_add(ms, Ordering::SeqCst);
    }

    /// Run `f` on the engine at the current time and deliver what it raised.
    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Engine, u64) -> (R, Vec<Delivery>)) -> R {
        let now = self.now();
        let (r, events) = {
            let mut e = lock(&self.engine);
            f(&mut e, now)
        };
        self.deliver(events);
        r
    }

    pub fn read_engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&lock(&self.engine))
    }

    pub fn deliver(&self, events: Vec<Delivery>) {
        if events.is_empty() {
            return;
        }
        let conns = lock(&self.conns);
        for d in events {
            let text = d.frame.to_string();
            for c in conns
                .values()
                .filter(|c| c.session.as_deref() == Some(d.session.as_str()))
            {
                let _ = c.tx.send(Out::Frame(Message::Text(text.clone())));
            }
        }
    }

    pub fn inject(&self, f: Fault) {
        lock(&self.faults).push(f);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Kill every connection, and start over with an empty KMS.
    pub fn reset(&self) {
        let conns: Vec<Conn> = lock(&self.conns).drain().map(|(_, c)| c).collect();
        for c in conns {
            let _ = c.tx.send(Out::Kill);
        }
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.now();
        let mut e = lock(&self.engine);
        let ledger = e.take_ledger();
        *e = Engine::new(self.cfg.seed.wrapping_add(g), now);
        e.restore_ledger(ledger);
    }

    pub fn kill_all(&self) {
        let conns: Vec<Conn> = lock(&self.conns).drain().map(|(_, c)| c).collect();
        for c in conns {
            let _ = c.tx.send(Out::Kill);
        }
    }

    /// The first fault matching a request, with one-shot faults consumed.
    fn take_fault(&self, v: &Value) -> Vec<Fault> {
        let (m, op) = method_of(v);
        let mut faults = lock(&self.faults);
        let hit: Vec<Fault> = faults
            .iter()
            .filter(|f| f.matches(m, op))
            .cloned()
            .collect();
        faults.retain(|f| {
            !matches!(f, Fault::CloseOnRequest { .. } | Fault::Garbage { .. }) || !f.matches(m, op)
        });
        hit
    }
}

/// Accept connections until the task is aborted.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "connection");
                tokio::spawn(serve(shared.clone(), stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&shared.conns).insert(
        id,
        Conn {
            tx: tx.clone(),
            session: None,
        },
    );
    let mut leaked = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(m)) => {
                    // Write every queued frame, then flush once.
                    let mut res = ws.feed(m).await;
                    let mut kill = false;
                    let mut batch = 1;
                    while res.is_ok() && batch < WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(Out::Frame(m)) => res = ws.feed(m).await,
                            Ok(Out::Kill) => {
                                kill = true;
                                break;
                            }
                            Err(_) => break,
                        }
                        batch += 1;
                    }
                    if res.is_ok() {
                        res = ws.flush().await;
                    }
                    if res.is_err() || kill {
                        break;
                    }
                }
                Some(Out::Kill) | None => break,
            },
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                match on_frame(&shared, id, &tx, &text) {
                    Flow::Continue => {}
                    Flow::Drop { leak } => {
                        leaked = leak;
                        break;
                    }
                }
            }
        }
    }
    let session = lock(&shared.conns).remove(&id).and_then(|c| c.session);
    if let Some(s) = session {
        lock(&shared.engine).detach(&s, leaked);
    }
    drop(ws);
}

enum Flow {
    Continue,
    Drop { leak: bool },
}

fn on_frame(shared: &Arc<Shared>, conn: u64, tx: &mpsc::UnboundedSender<Out>, text: &str) -> Flow {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        tracing::debug!(conn, "not JSON: dropping the connection");
        return Flow::Drop { leak: true };
    };
    let mut delay = None;
    let mut garbage = 0;
    for f in shared.take_fault(&v) {
        match f {
            Fault::CloseOnRequest { .. } => return Flow::Drop { leak: false },
            Fault::Silent { .. } => return Flow::Continue,
            Fault::Delay { delay: d, .. } => delay = Some(d),
            Fault::Garbage { count } => garbage += count,
        }
    }
    let conn_session = lock(&shared.conns)
        .get(&conn)
        .and_then(|c| c.session.clone());
    let now = shared.now();
    let reply = lock(&shared.engine).handle_value(conn_session.as_deref(), v, now);
    let FrameReply::Reply(outcome) = reply else {
        return Flow::Drop { leak: true };
    };
    if outcome.session != conn_session {
        if let Some(new) = &outcome.session {
            {
                let mut e = lock(&shared.engine);
                if let Some(old) = &conn_session {
                    e.detach(old, false);
                }
                e.attach(new);
            }
            if let Some(c) = lock(&shared.conns).get_mut(&conn) {
                c.session = Some(new.clone());
            }
        }
    }
    for i in 0..garbage {
        let _ = tx.send(Out::Frame(garbage_frame(i)));
    }
    let text = outcome.response.to_value().to_string();
    match delay {
        Some(d) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let _ = tx.send(Out::Frame(Message::Text(text)));
            });
        }
        None => {
            let _ = tx.send(Out::Frame(Message::Text(text)));
        }
    }
    shared.deliver(outcome.events);
    Flow::Continue
}

/// The `i`-th malformed frame of a Garbage fault.
fn garbage_frame(i: u32) -> Message {
    match i % 4 {
        0 => Message::Text("this is not json {".into()),
        1 => Message::Text(r#"{"id":987654321,"jsonrpc":"2.0","result":{"value":"stray"}}"#.into()),
        2 => Message::Text(r#"{"id":987654322,"jsonrpc":"2.0"}"#.into()),
        _ => Message::Binary(vec![0xde, 0xad, 0xbe, 0xef]),
    }
}
