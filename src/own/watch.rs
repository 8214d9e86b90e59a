//! Watches: a subscription to an element's own KMS events for a while, on a
//! KMS session of its own (`session`), recording each event in the element's
//! history ring (`Update::Event`); then it unsubscribes, `unref`s the
//! pipeline and closes its session. One watch per element, at most
//! `api.max_watches` at once; the operator API's
//! `POST /api/v1/elements/{id}/watch` (`http::own_api`) starts them.
//!
//! ```text
//!   start: element not watched, a free slot (api.max_watches)
//!     → own KMS session (a new connection with the target's settings)
//!     → subscribe the element's event types ─► WatchStarted {session, events, until}
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

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_millis;
use crate::kms::call::{within, CallError};
use crate::kms::events::{EventKind, EventType};
use crate::kms::{Client, ClientError, Clients, Notice};
use crate::model::{SharedTarget, Store, Update};

use super::session;

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

/// The element a watch is about, as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Its target.
    pub kms: String,
    pub element: String,
    pub pipeline: String,
    /// Its type (`WebRtcEndpoint`...): which events are worth watching.
    pub element_type: String,
}

/// The limits of watches (`[api]`).
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// Time allowed to each KMS call (`api.live_timeout`).
    pub call: Duration,
    /// Watches at once (`api.max_watches`).
    pub max: usize,
}

/// A watch that started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchStarted {
    pub kms: String,
    pub element: String,
    pub pipeline: String,
    /// The watch's own KMS session.
    pub session: Option<String>,
    /// The event types subscribed.
    pub events: Vec<&'static str>,
    pub duration_ms: u64,
    /// When it ends (ms since the epoch).
    pub until: u64,
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

    /// Watch `what` for `length` (already cut to `api.watch_max`): take its
    /// slot, open a session on the KMS of `what.kms` (whose client `clients`
    /// holds), subscribe its event types, and record its events into its
    /// target's model in `store` until the end.
    pub async fn start(
        &self,
        clients: &Clients,
        store: &Store,
        what: &Watched,
        length: Duration,
        limits: WatchLimits,
    ) -> Result<WatchStarted, WatchError> {
        let limit = limits.call;
        let (element, pipeline) = (what.element.as_str(), what.pipeline.as_str());
        let slot = self.reserve(element, limits.max)?;
        let client = session::beside(&clients.call(&what.kms)?, limit).await?;
        let notices = client.notices();
        let session = client.connection().session();
        let mut subscribed = Vec::new();
        for ev in event_types(&what.element_type) {
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
        let started = WatchStarted {
            kms: what.kms.clone(),
            element: element.to_owned(),
            pipeline: pipeline.to_owned(),
            session,
            events: subscribed.iter().map(|e| e.as_str()).collect(),
            duration_ms: length.as_millis() as u64,
            until: now_millis() + length.as_millis() as u64,
        };
        let run = Run {
            client,
            notices,
            model: store.target(&what.kms),
            element: element.to_owned(),
            pipeline: pipeline.to_owned(),
            subscribed,
            limit,
            cancel: self.cancel.child_token(),
            _slot: slot,
        };
        tracing::info!(kms = %what.kms, element = %element, ?length, "watch started");
        self.tasks.spawn(run.run(length));
        Ok(started)
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
        let _ = within(limit, client.unsubscribe(element, *ev)).await;
    }
    if let Err(e) = within(limit, client.unref(pipeline)).await {
        tracing::debug!(pipeline = %pipeline, error = %e, "watch unref");
    }
    session::close(client, limit).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
