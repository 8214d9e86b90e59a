//! The handle of one multiplexed JSON-RPC connection to one KMS: sends
//! requests within the in-flight limit and their timeouts, subscribes,
//! watches the connection state and hands out notices (events and
//! "reconnected"). The state it shares with the socket task lives in
//! `shared`; the socket itself, the handshake and reconnection in
//! `supervisor`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};
use tokio::time::{timeout_at, Instant};

use super::error::ClientError;
use super::events::EventType;
use super::ops::Method;
use super::reply::Reply;
use super::shared::{bump, lock, Shared};
pub use super::shared::{ConnState, ConnectionConfig, Notice, Reconnected, WireCounters};
use super::supervisor;

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
        self.reply(method, params).await?.into_tree()
    }

    /// Send one request and wait for its result as received.
    pub(super) async fn reply(
        &self,
        method: Method,
        params: Map<String, Value>,
    ) -> Result<Reply, ClientError> {
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
        self.shared.reply_on(&link, method, params, deadline).await
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
