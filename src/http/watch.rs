//! Watches: `POST /api/v1/elements/{id}/watch?duration=30s` (bearer token)
//! subscribes to the element's own KMS events for a while and records each
//! one in the element's history ring (`Update::Event`), then unsubscribes,
//! `unref`s the pipeline and closes its session.
//!
//! ```text
//!   start: token, element known, duration ≤ api.watch_max, a free slot
//!     → own KMS session (a new connection with the target's settings)
//!     → subscribe the element's event types ─► 202 {session, events, until}
//!   task: notices of that session ─► Update::Event into the model
//!     until the deadline, shutdown, or the connection drops
//!   end: unsubscribe each, unref the pipeline, closeSession{release:false}
//! ```
//!
//! Why a session of its own: the scrape `unref`s every pipeline it read at
//! the end of each cycle on the shared session, and an `unref` also drops
//! that session's subscriptions there (PROTOCOL.md, "Sessions, references");
//! a subscription on the shared session would not outlive one cycle. A
//! subscription references the element and its pipeline, so a watch keeps
//! them alive until it ends: hence the cap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_millis;
use crate::kms::call::{within, CallError};
use crate::kms::events::{EventKind, EventType};
use crate::kms::{Client, ClientError, Notice};
use crate::model::{SharedTarget, Update};

use super::{json_error, json_status, param, AppState, Resp};

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("duration: {0}")]
    BadDuration(String),
    #[error("{0} is already watched")]
    Busy(String),
    #[error("{0} watches are running (api.max_watches)")]
    Full(usize),
    #[error(transparent)]
    Call(#[from] CallError),
}

impl WatchError {
    fn status(&self) -> StatusCode {
        match self {
            WatchError::BadDuration(_) => StatusCode::BAD_REQUEST,
            WatchError::Busy(_) => StatusCode::CONFLICT,
            WatchError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
            WatchError::Call(e) => super::call_status(e),
        }
    }
}

/// The running watches (one per element at most); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Watches {
    active: Arc<Mutex<BTreeSet<String>>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Watches {
    /// Take the slot of `element`.
    fn reserve(&self, element: &str, max: usize) -> Result<Slot, WatchError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.contains(element) {
            return Err(WatchError::Busy(element.to_owned()));
        }
        if active.len() >= max {
            return Err(WatchError::Full(active.len()));
        }
        active.insert(element.to_owned());
        Ok(Slot {
            watches: self.clone(),
            element: element.to_owned(),
        })
    }

    /// Elements watched now.
    pub fn active(&self) -> Vec<String> {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        active.iter().cloned().collect()
    }

    /// End every watch (each cleans up) and wait for them.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// A reserved watch slot, freed when dropped.
struct Slot {
    watches: Watches,
    element: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut active = self
            .watches
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        active.remove(&self.element);
    }
}

/// The event types worth watching on an element of type `ty`.
pub fn event_types(ty: &str) -> Vec<EventType> {
    use EventType as E;
    let mut v = vec![
        E::MediaFlowInStateChanged,
        E::MediaFlowOutStateChanged,
        E::MediaTranscodingStateChanged,
        E::ElementConnected,
        E::ElementDisconnected,
        E::Error,
    ];
    if matches!(ty, "WebRtcEndpoint" | "RtpEndpoint") {
        v.extend([
            E::MediaStateChanged,
            E::ConnectionStateChanged,
            E::MediaSessionStarted,
            E::MediaSessionTerminated,
        ]);
    }
    if ty == "WebRtcEndpoint" {
        v.extend([
            E::IceComponentStateChanged,
            E::IceGatheringDone,
            E::NewCandidatePairSelected,
            E::DtlsConnectionStateChange,
        ]);
    }
    if matches!(
        ty,
        "PlayerEndpoint" | "RecorderEndpoint" | "HttpPostEndpoint"
    ) {
        v.push(E::UriEndpointStateChanged);
    }
    v
}

/// An event's own fields, as text (candidate addresses left out).
pub fn fields(kind: &EventKind) -> BTreeMap<String, String> {
    let pairs: Vec<(&str, String)> = match kind {
        EventKind::MediaFlowInStateChanged(f) | EventKind::MediaFlowOutStateChanged(f) => vec![
            ("state", format!("{:?}", f.state)),
            ("media", format!("{:?}", f.media_type)),
            ("pad", f.pad_name.clone()),
        ],
        EventKind::MediaTranscodingStateChanged(t) => vec![
            ("state", format!("{:?}", t.state)),
            ("media", format!("{:?}", t.media_type)),
        ],
        EventKind::ElementConnected(l) | EventKind::ElementDisconnected(l) => vec![
            ("sink", l.sink.clone()),
            ("media", format!("{:?}", l.media_type)),
        ],
        EventKind::IceComponentStateChanged(i) => vec![
            ("stream", i.stream_id.clone()),
            ("component", i.component_id.to_string()),
            ("state", format!("{:?}", i.state)),
        ],
        EventKind::NewCandidatePairSelected { candidate_pair: p } => vec![
            ("stream", p.stream_id.clone()),
            ("component", p.component_id.to_string()),
        ],
        EventKind::DtlsConnectionStateChange(d) => vec![
            ("component", d.component_id.clone()),
            ("state", format!("{:?}", d.state)),
        ],
        EventKind::MediaStateChanged(s) => vec![
            ("old", format!("{:?}", s.old_state)),
            ("new", format!("{:?}", s.new_state)),
        ],
        EventKind::ConnectionStateChanged(s) => vec![
            ("old", format!("{:?}", s.old_state)),
            ("new", format!("{:?}", s.new_state)),
        ],
        EventKind::UriEndpointStateChanged { state } => vec![("state", format!("{state:?}"))],
        EventKind::Error(e) => vec![
            ("type", e.error_type.clone()),
            (
                "code",
                e.error_code.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("description", e.description.clone()),
        ],
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Parse `?duration=` (humantime) and cut it to `max`.
fn duration(query: &str, default: Duration, max: Duration) -> Result<Duration, WatchError> {
    let d = match param(query, "duration") {
        None => default,
        Some(text) => humantime::parse_duration(&text)
            .map_err(|e| WatchError::BadDuration(format!("{text:?}: {e}")))?,
    };
    if d.is_zero() {
        return Err(WatchError::BadDuration("must be greater than zero".into()));
    }
    Ok(d.min(max))
}

/// Handle `POST /api/v1/elements/{id}/watch`.
pub(super) async fn start(
    state: &AppState,
    kms: Option<&str>,
    element: &str,
    query: &str,
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = super::reaper_api::rejection(state, auth, "watching") {
        return r;
    }
    let Some((target, pipeline, ty)) = super::api::element_facts(state, kms, element) else {
        return super::api::unknown("element", element);
    };
    match begin(state, &target, element, &pipeline, &ty, query).await {
        Ok(body) => json_status(StatusCode::ACCEPTED, &body),
        Err(e) => json_error(e.status(), &e),
    }
}

async fn begin(
    state: &AppState,
    target: &str,
    element: &str,
    pipeline: &str,
    ty: &str,
    query: &str,
) -> Result<serde_json::Value, WatchError> {
    let api = state.api_config();
    let limit = api.live_timeout;
    let length = duration(query, api.watch_default, api.watch_max)?;
    let slot = state.watches.reserve(element, api.max_watches)?;
    let shared = state.clients.call(target)?;
    let mut cfg = shared.connection().config().clone();
    cfg.connect_timeout = limit;
    let client = within(limit, Client::connect(cfg)).await?;
    let notices = client.notices();
    let session = client.connection().session();
    let mut subscribed = Vec::new();
    for ev in event_types(ty) {
        match within(limit, client.subscribe(element, ev)).await {
            Ok(_) => subscribed.push(ev),
            // Not an event of this type (40106): skip it.
            Err(CallError::Kms(ClientError::Kms { code: 40106, .. })) => {}
            Err(e) => {
                end(&client, element, pipeline, &subscribed, limit).await;
                return Err(e.into());
            }
        }
    }
    let now = now_millis();
    let until = now + length.as_millis() as u64;
    let names: Vec<&str> = subscribed.iter().map(|e| e.as_str()).collect();
    let body = json!({
        "kms": target,
        "element": element,
        "pipeline": pipeline,
        "session": session,
        "events": names,
        "duration_ms": length.as_millis() as u64,
        "until": until,
    });
    let run = Run {
        client,
        notices,
        model: state.store.target(target),
        element: element.to_owned(),
        pipeline: pipeline.to_owned(),
        subscribed,
        limit,
        cancel: state.watches.cancel.child_token(),
        _slot: slot,
    };
    tracing::info!(kms = %target, element = %element, ?length, "watch started");
    state.watches.tasks.spawn(run.run(length));
    Ok(body)
}

/// A started watch.
struct Run {
    client: Client,
    notices: tokio::sync::broadcast::Receiver<Notice>,
    model: SharedTarget,
    element: String,
    pipeline: String,
    subscribed: Vec<EventType>,
    limit: Duration,
    cancel: CancellationToken,
    _slot: Slot,
}

impl Run {
    async fn run(mut self, length: Duration) {
        let deadline = tokio::time::sleep(length);
        tokio::pin!(deadline);
        let mut recorded = 0usize;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = self.cancel.cancelled() => break,
                n = self.notices.recv() => match n {
                    Ok(Notice::Event(ev)) if ev.object == self.element => {
                        recorded += 1;
                        self.model.write().apply(Update::Event {
                            element: self.element.clone(),
                            fields: fields(&ev.kind),
                            event: ev.event_type,
                            at: now_millis(),
                        });
                    }
                    Ok(Notice::Event(_)) | Err(RecvError::Lagged(_)) => {}
                    // A new session: the old one's subscriptions are gone with it.
                    Ok(Notice::Reconnected(_)) | Err(RecvError::Closed) => break,
                },
            }
        }
        end(
            &self.client,
            &self.element,
            &self.pipeline,
            &self.subscribed,
            self.limit,
        )
        .await;
        tracing::info!(element = %self.element, recorded, "watch ended");
    }
}

/// Unsubscribe, unref the pipeline, close the session; errors only logged.
async fn end(client: &Client, element: &str, pipeline: &str, subs: &[EventType], limit: Duration) {
    for ev in subs {
        let _ = tokio::time::timeout(limit, client.unsubscribe(element, *ev)).await;
    }
    if let Ok(Err(e)) = tokio::time::timeout(limit, client.unref(pipeline)).await {
        tracing::debug!(pipeline = %pipeline, error = %e, "watch unref");
    }
    let _ = tokio::time::timeout(limit, client.close_session()).await;
    client.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_parsed_and_capped() {
        let (def, max) = (Duration::from_secs(30), Duration::from_secs(300));
        assert_eq!(duration("", def, max).unwrap(), def);
        assert_eq!(
            duration("duration=2s", def, max).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(duration("duration=1h", def, max).unwrap(), max);
        assert!(matches!(
            duration("duration=soon", def, max),
            Err(WatchError::BadDuration(_))
        ));
        assert!(duration("duration=0s", def, max).is_err());
    }

    #[test]
    fn slots_are_exclusive_and_bounded() {
        let w = Watches::default();
        let a = w.reserve("a", 2).unwrap();
        assert!(matches!(w.reserve("a", 2), Err(WatchError::Busy(_))));
        let _b = w.reserve("b", 2).unwrap();
        assert!(matches!(w.reserve("c", 2), Err(WatchError::Full(2))));
        drop(a);
        assert_eq!(w.active(), vec!["b".to_string()]);
        assert!(w.reserve("a", 2).is_ok());
    }

    #[test]
    fn event_types_follow_the_element_type() {
        let w = event_types("WebRtcEndpoint");
        assert!(w.contains(&EventType::DtlsConnectionStateChange));
        assert!(w.contains(&EventType::MediaStateChanged));
        assert!(!w.contains(&EventType::IceCandidateFound), "noise");
        let p = event_types("PlayerEndpoint");
        assert!(p.contains(&EventType::UriEndpointStateChanged));
        assert!(!p.contains(&EventType::MediaStateChanged));
    }
}
