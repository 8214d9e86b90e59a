//! One multiplexed JSON-RPC connection to one KMS: request ids, pending
//! requests matched out of order, the in-flight limit, per-request timeouts,
//! the KMS session id, the subscription registry, the connection-state watch
//! and the notice channel (events and "reconnected"). The socket itself, the
//! handshake and reconnection live in `supervisor`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::{timeout_at, Instant};

use super::error::ClientError;
use super::events::{Event, EventType};
use super::ops::Method;
use super::supervisor;
use super::wire::{self, Frame, Id, Request, Response};

/// How to reach and talk to one KMS.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `ws://host:8888/kurento` or `wss://...`.
    pub url: String,
    /// Time for one request, waiting for a free in-flight slot included.
    pub request_timeout: Duration,
    /// Time for the WebSocket handshake plus the session handshake.
    pub connect_timeout: Duration,
    /// Requests in flight at once (callers beyond it wait).
    pub max_in_flight: usize,
    /// Keep-alive `ping` period, also sent to KMS as `interval`.
    pub ping_interval: Duration,
    /// Consecutive failed pings after which the socket is dropped and redialled.
    pub ping_failures_to_reconnect: u32,
    /// First reconnection delay; doubles per failed attempt, with jitter.
    pub backoff_initial: Duration,
    /// Largest reconnection delay.
    pub backoff_max: Duration,
    /// Notices buffered per subscriber; a slower one loses the oldest.
    pub event_buffer: usize,
}

impl ConnectionConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectionConfig {
            url: url.into(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 64,
            ping_interval: Duration::from_secs(5),
            ping_failures_to_reconnect: 3,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            event_buffer: 4096,
        }
    }
}

/// Whether the client is connected, and with which KMS session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Socket up and session established; `generation` counts sockets (1 = first).
    Connected { session: String, generation: u64 },
    /// No usable socket: requests fail at once with `Disconnected`.
    Disconnected,
}

/// What a notice subscriber receives, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// An `onEvent` notification.
    Event(Event),
    /// The socket was re-established after a drop: re-sync what events may
    /// have been missed.
    Reconnected(Reconnected),
}

/// Details of a re-established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnected {
    pub generation: u64,
    pub session: String,
    /// KMS accepted the old session (its subscriptions lived on).
    pub same_session: bool,
    /// Subscriptions made again on a new session.
    pub resubscribed: usize,
    /// Subscriptions dropped because their object is gone.
    pub lost: Vec<(String, EventType)>,
}

/// Counters of oddities seen on the wire (never fatal).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub garbage_frames: AtomicU64,
    pub binary_frames: AtomicU64,
    pub unknown_ids: AtomicU64,
    pub unexpected_frames: AtomicU64,
    pub malformed_events: AtomicU64,
    pub events: AtomicU64,
    pub reconnects: AtomicU64,
    pub timeouts: AtomicU64,
    pub connect_failures: AtomicU64,
}

/// A snapshot of the wire counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Frames that were not JSON-RPC.
    pub garbage_frames: u64,
    /// Binary frames (decoded as text when they are UTF-8).
    pub binary_frames: u64,
    /// Responses whose id matched no pending request (late or bogus).
    pub unknown_ids: u64,
    /// Requests or non-event notifications from the server.
    pub unexpected_frames: u64,
    /// Events of a known type whose fields did not parse.
    pub malformed_events: u64,
    pub events: u64,
    /// Sockets established after the first.
    pub reconnects: u64,
    pub timeouts: u64,
    /// Failed attempts to dial KMS or establish the session.
    pub connect_failures: u64,
}

/// A request waiting for its response.
struct Pending {
    generation: u64,
    object: Option<String>,
    tx: oneshot::Sender<Result<Value, ClientError>>,
}

/// The writer of one socket.
#[derive(Clone)]
pub(super) struct Link {
    pub generation: u64,
    pub tx: mpsc::UnboundedSender<String>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the handle and the supervisor task.
pub(super) struct Shared {
    pub cfg: ConnectionConfig,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    pub link: Mutex<Option<Link>>,
    pub session: Mutex<Option<String>>,
    pub state: watch::Sender<ConnState>,
    pub notices: broadcast::Sender<Notice>,
    permits: Semaphore,
    /// (object, event) → KMS subscription id.
    pub subs: Mutex<HashMap<(String, EventType), String>>,
    pub counters: Counters,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Shared {
    pub fn new(cfg: ConnectionConfig) -> Shared {
        let (state, _) = watch::channel(ConnState::Disconnected);
        let (notices, _) = broadcast::channel(cfg.event_buffer.max(1));
        Shared {
            permits: Semaphore::new(cfg.max_in_flight.max(1)),
            cfg,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            link: Mutex::new(None),
            session: Mutex::new(None),
            state,
            notices,
            subs: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    /// Send `method` on `link` and wait for its response (no in-flight slot).
    pub async fn call_on(
        &self,
        link: &Link,
        method: Method,
        mut params: Map<String, Value>,
        deadline: Instant,
    ) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if method != Method::Connect && !params.contains_key("sessionId") {
            if let Some(s) = lock(&self.session).clone() {
                params.insert("sessionId".into(), Value::String(s));
            }
        }
        let object = params
            .get("object")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let label = match params.get("operation").and_then(Value::as_str) {
            Some(op) => format!("{} {op}", method.as_str()),
            None => method.as_str().to_owned(),
        };
        let text = serde_json::to_string(&Request::new(id, method.as_str(), params))
            .map_err(|e| ClientError::Protocol(format!("cannot encode request: {e}")))?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id,
            Pending {
                generation: link.generation,
                object,
                tx,
            },
        );
        if link.tx.send(text).is_err() {
            lock(&self.pending).remove(&id);
            return Err(ClientError::Disconnected);
        }
        match timeout_at(deadline, rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => {
                lock(&self.pending).remove(&id);
                bump(&self.counters.timeouts);
                tracing::debug!(id, method = %label, "request timed out");
                Err(ClientError::Timeout {
                    method: label,
                    timeout_ms: self.cfg.request_timeout.as_millis() as u64,
                })
            }
        }
    }

    /// Fail every request sent on socket `generation` with `Disconnected`.
    pub fn fail_pending(&self, generation: u64) {
        let mut pending = lock(&self.pending);
        let ids: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.generation == generation)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = pending.remove(&id) {
                let _ = p.tx.send(Err(ClientError::Disconnected));
            }
        }
    }

    /// Handle one received text frame from socket `generation`.
    pub fn on_text(&self, text: &str, generation: u64) {
        match wire::decode(text) {
            Ok(Frame::Response(r)) => self.on_response(r, generation),
            Ok(Frame::Event(ev)) => {
                bump(&self.counters.events);
                let (event, well_formed) = Event::from_wire(ev);
                if !well_formed {
                    bump(&self.counters.malformed_events);
                    tracing::warn!(event_type = %event.event_type, "event with unreadable fields");
                }
                // No receiver is fine; a lagging one loses the oldest notices.
                let _ = self.notices.send(Notice::Event(event));
            }
            Ok(Frame::Request(_)) | Ok(Frame::Notification { .. }) => {
                bump(&self.counters.unexpected_frames);
                tracing::debug!("ignoring a request/notification from KMS");
            }
            Err(e) => {
                bump(&self.counters.garbage_frames);
                tracing::warn!(error = %e, "ignoring an unreadable frame");
            }
        }
    }

    fn on_response(&self, r: Response, generation: u64) {
        let Some(Id::Num(id)) = r.id else {
            bump(&self.counters.unknown_ids);
            tracing::warn!(id = ?r.id, outcome = ?r.outcome, "response without a request id of ours");
            return;
        };
        let Some(p) = lock(&self.pending).remove(&id) else {
            bump(&self.counters.unknown_ids);
            tracing::debug!(id, "response to no pending request");
            return;
        };
        let outcome = match r.outcome {
            Ok(result) => {
                if p.generation == generation {
                    if let Some(s) = result.get("sessionId").and_then(Value::as_str) {
                        let mut cur = lock(&self.session);
                        if cur.as_deref() != Some(s) {
                            *cur = Some(s.to_owned());
                        }
                    }
                }
                Ok(result)
            }
            Err(e) => Err(ClientError::from_rpc(e, p.object.as_deref())),
        };
        let _ = p.tx.send(outcome);
    }
}

/// Shuts the supervisor down when the last handle is dropped.
struct ShutdownOnDrop(watch::Sender<bool>);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// A cloneable handle on one KMS connection.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    stop: Arc<ShutdownOnDrop>,
}

impl Connection {
    /// Start connecting in the background (needs a tokio runtime). Requests
    /// fail with `Disconnected` until the state is `Connected`.
    pub fn start(cfg: ConnectionConfig) -> Connection {
        let shared = Arc::new(Shared::new(cfg));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(supervisor::run(shared.clone(), stop_rx));
        Connection {
            shared,
            stop: Arc::new(ShutdownOnDrop(stop_tx)),
        }
    }

    /// Send one request and wait for its result (`result` member, whole).
    pub(super) async fn call(
        &self,
        method: Method,
        params: Map<String, Value>,
    ) -> Result<Value, ClientError> {
        let deadline = Instant::now() + self.shared.cfg.request_timeout;
        let permit = timeout_at(deadline, self.shared.permits.acquire()).await;
        let _permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(ClientError::Shutdown),
            Err(_) => {
                bump(&self.shared.counters.timeouts);
                return Err(ClientError::Timeout {
                    method: method.as_str().into(),
                    timeout_ms: self.shared.cfg.request_timeout.as_millis() as u64,
                });
            }
        };
        let link = lock(&self.shared.link)
            .clone()
            .ok_or(ClientError::Disconnected)?;
        self.shared.call_on(&link, method, params, deadline).await
    }

    /// Subscribe to `event` on `object`, keeping it in the registry so it is
    /// made again on a new session. Returns the KMS subscription id.
    pub(super) async fn subscribe(
        &self,
        object: &str,
        event: EventType,
    ) -> Result<String, ClientError> {
        let key = (object.to_owned(), event);
        if let Some(id) = lock(&self.shared.subs).get(&key) {
            return Ok(id.clone());
        }
        let mut p = Map::new();
        p.insert("object".into(), object.into());
        p.insert("type".into(), event.as_str().into());
        let r = self.call(Method::Subscribe, p).await?;
        let id = r
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::Protocol(format!("subscribe answered {r}")))?
            .to_owned();
        let existing = {
            let mut subs = lock(&self.shared.subs);
            match subs.get(&key) {
                Some(existing) => Some(existing.clone()),
                None => {
                    subs.insert(key, id.clone());
                    None
                }
            }
        };
        match existing {
            // A concurrent call subscribed first: drop the duplicate.
            Some(existing) => {
                let mut p = Map::new();
                p.insert("object".into(), object.into());
                p.insert("subscription".into(), id.into());
                let _ = self.call(Method::Unsubscribe, p).await;
                Ok(existing)
            }
            None => Ok(id),
        }
    }

    /// Drop a registered subscription (and tell KMS).
    pub(super) async fn unsubscribe(
        &self,
        object: &str,
        event: EventType,
    ) -> Result<(), ClientError> {
        let Some(id) = lock(&self.shared.subs).remove(&(object.to_owned(), event)) else {
            return Ok(());
        };
        let mut p = Map::new();
        p.insert("object".into(), object.into());
        p.insert("subscription".into(), id.into());
        self.call(Method::Unsubscribe, p).await.map(drop)
    }

    /// Forget every registered subscription on `object` (KMS dropped them).
    pub(super) fn forget_subscriptions(&self, object: &str) {
        lock(&self.shared.subs).retain(|(o, _), _| o != object);
    }

    /// The registered subscriptions.
    pub fn subscriptions(&self) -> Vec<(String, EventType)> {
        let mut v: Vec<_> = lock(&self.shared.subs).keys().cloned().collect();
        v.sort();
        v
    }

    /// Watch the connection state.
    pub fn state(&self) -> watch::Receiver<ConnState> {
        self.shared.state.subscribe()
    }

    /// Receive events and "reconnected" notices from now on.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.shared.notices.subscribe()
    }

    /// The configuration this connection runs with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.shared.cfg
    }

    /// The current KMS session id, if any.
    pub fn session(&self) -> Option<String> {
        lock(&self.shared.session).clone()
    }

    /// Wait until connected, at most `limit`; returns (session, generation).
    pub async fn wait_connected(&self, limit: Duration) -> Result<(String, u64), ClientError> {
        let mut rx = self.state();
        let r = tokio::time::timeout(
            limit,
            rx.wait_for(|s| matches!(s, ConnState::Connected { .. })),
        )
        .await;
        match r {
            Ok(Ok(s)) => match &*s {
                ConnState::Connected {
                    session,
                    generation,
                } => Ok((session.clone(), *generation)),
                ConnState::Disconnected => Err(ClientError::Disconnected),
            },
            Ok(Err(_)) => Err(ClientError::Shutdown),
            Err(_) => Err(ClientError::Timeout {
                method: "connect".into(),
                timeout_ms: limit.as_millis() as u64,
            }),
        }
    }

    /// A snapshot of the wire counters.
    pub fn counters(&self) -> WireCounters {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WireCounters {
            garbage_frames: g(&c.garbage_frames),
            binary_frames: g(&c.binary_frames),
            unknown_ids: g(&c.unknown_ids),
            unexpected_frames: g(&c.unexpected_frames),
            malformed_events: g(&c.malformed_events),
            events: g(&c.events),
            reconnects: g(&c.reconnects),
            timeouts: g(&c.timeouts),
            connect_failures: g(&c.connect_failures),
        }
    }

    /// Close the socket and stop reconnecting. In-flight requests fail with
    /// `Disconnected`, later ones with `Disconnected`.
    pub fn shutdown(&self) {
        let _ = self.stop.0.send(true);
    }
}

#[cfg(test)]
mod tests;
