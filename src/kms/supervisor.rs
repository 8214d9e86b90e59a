//! The task that owns the WebSocket of one connection: dials (with
//! exponential backoff and jitter), runs the session handshake (`connect` with
//! the old session, a new session on 40007, registry subscriptions made again
//! on a new session), pumps frames both ways, sends keep-alive pings, and on a
//! drop fails the in-flight requests with `Disconnected` and starts over.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::error::ClientError;
use super::ops::Method;
use super::shared::{lock, ConnState, Link, Notice, Reconnected, Shared};
use super::wire::code;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Delay before reconnection attempt `attempt` (1-based): doubling from
/// `initial` up to `max`, then a random point in its upper half.
pub(super) fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(max);
    let half = full / 2;
    half + full
        .saturating_sub(half)
        .mul_f64(rand::thread_rng().gen::<f64>())
}

/// Sleep, unless shut down first (then false).
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stopped(stop) => false,
    }
}

fn failed(shared: &Shared) {
    shared
        .counters
        .connect_failures
        .fetch_add(1, Ordering::Relaxed);
}

/// Resolve once shut down (or once the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Run until shut down.
pub(super) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut generation = 0u64;
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            break;
        }
        if attempt > 0 {
            let d = backoff(shared.cfg.backoff_initial, shared.cfg.backoff_max, attempt);
            if !pause(d, &mut stop).await {
                break;
            }
        }
        attempt = attempt.saturating_add(1);
        let deadline = Instant::now() + shared.cfg.connect_timeout;
        let dial = tokio::select! {
            r = tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(shared.cfg.url.as_str())) => r,
            _ = stopped(&mut stop) => break,
        };
        let ws = match dial {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                failed(&shared);
                tracing::warn!(url = %shared.cfg.url, error = %e, attempt, "cannot reach KMS");
                continue;
            }
            Err(_) => {
                failed(&shared);
                tracing::warn!(url = %shared.cfg.url, attempt, "KMS WebSocket handshake timed out");
                continue;
            }
        };
        generation += 1;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let link = Link { generation, tx };
        let kill = Arc::new(Notify::new());
        let mut pump = tokio::spawn(pump(shared.clone(), ws, rx, generation, kill.clone()));

        let handshake = tokio::select! {
            r = handshake(&shared, &link, deadline) => Some(r),
            _ = &mut pump => None,
            _ = stopped(&mut stop) => {
                drop(link);
                let _ = pump.await;
                shared.fail_pending(generation);
                break;
            }
        };
        let outcome = match handshake {
            Some(Ok(o)) => o,
            Some(Err(e)) => {
                failed(&shared);
                tracing::warn!(url = %shared.cfg.url, error = %e, "KMS session handshake failed");
                kill.notify_one();
                drop(link);
                let _ = pump.await;
                shared.fail_pending(generation);
                continue;
            }
            None => {
                failed(&shared);
                shared.fail_pending(generation);
                continue;
            }
        };
        attempt = 0;
        *lock(&shared.link) = Some(link.clone());
        shared.state.send_replace(ConnState::Connected {
            session: outcome.session.clone(),
            generation,
        });
        tracing::info!(url = %shared.cfg.url, session = %outcome.session, generation, "connected to KMS");
        if generation > 1 {
            shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            let _ = shared.notices.send(Notice::Reconnected(Reconnected {
                generation,
                session: outcome.session,
                same_session: outcome.same_session,
                resubscribed: outcome.resubscribed,
                lost: outcome.lost,
            }));
        }
        let keepalive = tokio::spawn(keepalive(shared.clone(), link, kill.clone()));
        let stopped = tokio::select! {
            _ = &mut pump => false,
            _ = stopped(&mut stop) => true,
        };
        keepalive.abort();
        *lock(&shared.link) = None;
        shared.state.send_replace(ConnState::Disconnected);
        if stopped {
            kill.notify_one();
            let _ = pump.await;
        }
        shared.fail_pending(generation);
        if stopped {
            break;
        }
        tracing::warn!(url = %shared.cfg.url, generation, "KMS connection lost; reconnecting");
    }
    shared.state.send_replace(ConnState::Disconnected);
}

/// What the session handshake established.
struct Outcome {
    session: String,
    same_session: bool,
    resubscribed: usize,
    lost: Vec<(String, super::events::EventType)>,
}

fn session_of(result: &Value) -> Result<String, ClientError> {
    result
        .get("sessionId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Protocol(format!("connect answered {result}")))
}

async fn handshake(
    shared: &Shared,
    link: &Link,
    deadline: Instant,
) -> Result<Outcome, ClientError> {
    let old = lock(&shared.session).clone();
    let mut same_session = false;
    let session = match old {
        Some(old) => {
            let mut p = Map::new();
            p.insert("sessionId".into(), Value::String(old.clone()));
            match shared.call_on(link, Method::Connect, p, deadline).await {
                Ok(r) => {
                    same_session = true;
                    session_of(&r).unwrap_or(old)
                }
                Err(ClientError::Kms { code, .. }) if code == code::INVALID_SESSION => {
                    tracing::info!(old = %old, "KMS forgot our session; starting a new one");
                    new_session(shared, link, deadline).await?
                }
                Err(e) => return Err(e),
            }
        }
        None => new_session(shared, link, deadline).await?,
    };
    *lock(&shared.session) = Some(session.clone());
    let mut p = Map::new();
    p.insert("interval".into(), ping_interval_ms(shared).into());
    shared.call_on(link, Method::Ping, p, deadline).await?;

    let mut resubscribed = 0;
    let mut lost = Vec::new();
    if !same_session {
        let subs: Vec<_> = lock(&shared.subs).keys().cloned().collect();
        for (object, event) in subs {
            let mut p = Map::new();
            p.insert("object".into(), object.clone().into());
            p.insert("type".into(), event.as_str().into());
            match shared.call_on(link, Method::Subscribe, p, deadline).await {
                Ok(r) => {
                    if let Some(id) = r.get("value").and_then(Value::as_str) {
                        lock(&shared.subs).insert((object, event), id.to_owned());
                        resubscribed += 1;
                    }
                }
                Err(ClientError::ObjectNotFound { .. }) => {
                    lock(&shared.subs).remove(&(object.clone(), event));
                    lost.push((object, event));
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::warn!(%object, event = event.as_str(), error = %e, "re-subscribe failed")
                }
            }
        }
    }
    Ok(Outcome {
        session,
        same_session,
        resubscribed,
        lost,
    })
}

async fn new_session(
    shared: &Shared,
    link: &Link,
    deadline: Instant,
) -> Result<String, ClientError> {
    *lock(&shared.session) = None;
    let r = shared
        .call_on(link, Method::Connect, Map::new(), deadline)
        .await?;
    session_of(&r)
}

fn ping_interval_ms(shared: &Shared) -> u64 {
    shared.cfg.ping_interval.as_millis().min(u64::MAX as u128) as u64
}

/// Ping every `ping_interval` (each within `ping_timeout`); drop the socket
/// after too many consecutive failures.
async fn keepalive(shared: Arc<Shared>, link: Link, kill: Arc<Notify>) {
    let period = shared.cfg.ping_interval.max(Duration::from_millis(10));
    let mut failures = 0u32;
    loop {
        // After a failure, ask again at once: a hung KMS is noticed after
        // `ping_failures_to_reconnect` timeouts, not as many periods.
        if failures == 0 {
            tokio::time::sleep(period).await;
        }
        let mut p = Map::new();
        p.insert("interval".into(), ping_interval_ms(&shared).into());
        let deadline = Instant::now()
            + shared
                .cfg
                .ping_timeout
                .unwrap_or(shared.cfg.request_timeout);
        match shared.call_on(&link, Method::Ping, p, deadline).await {
            Ok(_) => failures = 0,
            Err(ClientError::Disconnected) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "keep-alive ping failed");
                if failures >= shared.cfg.ping_failures_to_reconnect.max(1) {
                    kill.notify_one();
                    return;
                }
            }
        }
    }
}

/// Most frames written before one flush.
const WRITE_BATCH: usize = 256;

/// Move frames between the socket and the link until either side ends.
async fn pump(
    shared: Arc<Shared>,
    ws: Socket,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    generation: u64,
    kill: Arc<Notify>,
) {
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => {
                    // Write every queued request, then flush once: one
                    // syscall for a burst instead of one per frame.
                    let mut res = sink.feed(Message::Text(text)).await;
                    let mut batch = 1;
                    while res.is_ok() && batch < WRITE_BATCH {
                        let Ok(next) = rx.try_recv() else { break };
                        res = sink.feed(Message::Text(next)).await;
                        batch += 1;
                    }
                    if res.is_ok() {
                        res = sink.flush().await;
                    }
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "send failed");
                        break;
                    }
                }
                None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => shared.on_text(&t, generation),
                Some(Ok(Message::Binary(b))) => {
                    shared.counters.binary_frames.fetch_add(1, Ordering::Relaxed);
                    match std::str::from_utf8(&b) {
                        Ok(t) => shared.on_text(t, generation),
                        Err(_) => {
                            shared.counters.garbage_frames.fetch_add(1, Ordering::Relaxed);
                            if let Some(count) = shared.noise.garbage.hit() {
                                tracing::warn!(url = %shared.cfg.url, len = b.len(), count,
                                    "ignoring unreadable frames (a non-UTF-8 binary one; count since the last such line)");
                            }
                        }
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    tracing::debug!(?frame, "KMS closed the WebSocket");
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket error");
                    break;
                }
                None => break,
            },
            _ = kill.notified() => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(5);
        for attempt in 1..40 {
            let full = (i * 2u32.pow((attempt - 1).min(20))).min(m);
            let d = backoff(i, m, attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?} vs {full:?}");
        }
    }
}
