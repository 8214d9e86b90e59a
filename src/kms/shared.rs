//! The state one KMS connection's handle (`connection`) and its socket task
//! (`supervisor`) share: settings, request ids and pending requests matched
//! out of order, the in-flight limit, per-request timeouts, the KMS session
//! id, the subscription registry, the connection-state watch, the notice
//! channel and the wire counters. Both sides import it; it imports neither.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::{timeout_at, Instant};

use super::error::ClientError;
use super::events::{Event, EventType};
use super::ops::Method;
use super::reply::Reply;
use super::wire::{self, Frame, Id, Request, Response};
use crate::throttle::Throttle;
use kms_proto::reply::{peek_result, result_parts, RawResult};

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
    /// Time a keep-alive `ping` may take before it counts as failed (none:
    /// `request_timeout`).
    pub ping_timeout: Option<Duration>,
    /// Consecutive failed pings after which the socket is dropped and
    /// redialled (after a failure the next ping goes at once).
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
            ping_timeout: None,
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

/// The rate limits of the warnings about what KMS sends (a broken or
/// hostile peer must not write one line per frame): see `throttle`.
#[derive(Debug, Default)]
pub(super) struct Noise {
    pub garbage: Throttle,
    pub malformed_events: Throttle,
    pub foreign_ids: Throttle,
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
    tx: oneshot::Sender<Result<Reply, ClientError>>,
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
    pub(super) permits: Semaphore,
    /// (object, event) → KMS subscription id.
    pub subs: Mutex<HashMap<(String, EventType), String>>,
    pub counters: Counters,
    /// One warning per interval for each kind of bad frame, with a count.
    pub noise: Noise,
}

pub(super) fn bump(c: &AtomicU64) {
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
            noise: Noise::default(),
        }
    }

    /// Send `method` on `link` and wait for its result as a tree (no
    /// in-flight slot).
    pub async fn call_on(
        &self,
        link: &Link,
        method: Method,
        params: Map<String, Value>,
        deadline: Instant,
    ) -> Result<Value, ClientError> {
        self.reply_on(link, method, params, deadline)
            .await?
            .into_tree()
    }

    /// Send `method` on `link` and wait for its result as received (no
    /// in-flight slot).
    pub async fn reply_on(
        &self,
        link: &Link,
        method: Method,
        mut params: Map<String, Value>,
        deadline: Instant,
    ) -> Result<Reply, ClientError> {
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

    /// Requests waiting for their response.
    #[cfg(test)]
    pub fn pending_count(&self) -> usize {
        lock(&self.pending).len()
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
        if let Some(r) = peek_result(text) {
            return self.on_result(r, generation);
        }
        match wire::decode(text) {
            Ok(Frame::Response(r)) => self.on_response(r, generation),
            Ok(Frame::Event(ev)) => {
                bump(&self.counters.events);
                let (event, well_formed) = Event::from_wire(ev);
                if !well_formed {
                    bump(&self.counters.malformed_events);
                    if let Some(count) = self.noise.malformed_events.hit() {
                        tracing::warn!(url = %self.cfg.url, event_type = %event.event_type, count,
                            "events with unreadable fields (count since the last such line)");
                    }
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
                if let Some(count) = self.noise.garbage.hit() {
                    tracing::warn!(url = %self.cfg.url, error = %e, count,
                        "ignoring unreadable frames (count since the last such line)");
                }
            }
        }
    }

    /// A plain successful response, its result left as text.
    fn on_result(&self, r: RawResult<'_>, generation: u64) {
        let Some(p) = lock(&self.pending).remove(&r.id) else {
            bump(&self.counters.unknown_ids);
            tracing::debug!(id = r.id, "response to no pending request");
            return;
        };
        let parts = result_parts(r.result);
        if p.generation == generation {
            if let Some(s) = &parts.session_id {
                self.note_session(s);
            }
        }
        let _ = p.tx.send(Ok(Reply::Text {
            result: r.result.to_owned(),
            value: parts.value.map(Cow::into_owned),
        }));
    }

    fn note_session(&self, s: &str) {
        let mut cur = lock(&self.session);
        if cur.as_deref() != Some(s) {
            *cur = Some(s.to_owned());
        }
    }

    fn on_response(&self, r: Response, generation: u64) {
        let Some(Id::Num(id)) = r.id else {
            bump(&self.counters.unknown_ids);
            if let Some(count) = self.noise.foreign_ids.hit() {
                tracing::warn!(url = %self.cfg.url, id = ?r.id, outcome = ?r.outcome, count,
                    "responses without a request id of ours (count since the last such line)");
            }
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
                        self.note_session(s);
                    }
                }
                Ok(Reply::Tree(result))
            }
            Err(e) => Err(ClientError::from_rpc(e, p.object.as_deref())),
        };
        let _ = p.tx.send(outcome);
    }
}
