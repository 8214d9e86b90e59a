//! Per-element event history: a bounded ring of the state transitions the
//! daemon observed for one element (media flow, ICE components, DTLS, media
//! and connection states, media session start/end), oldest first, each with
//! the time it was observed.
//!
//! ```text
//!   Update::Flow / Update::Endpoint ──► TargetModel::apply
//!       value differs from the model's ──► History::push (drops the oldest past the cap)
//!   Update::Event (a watch's KMS event) ──► History::push, always
//! ```
//!
//! A transition is recorded when the observed value differs from what the
//! model held, the first value ever observed included (unknown → known);
//! re-applying the same value records nothing. The ring lives in the
//! element, so it goes when the element goes. It costs nothing until the
//! first transition (an empty `VecDeque` does not allocate). It serializes
//! as the JSON list `GET /api/v1/elements/{id}/events` will serve:
//! `[{"at": 1700000000000, "kind": "flow", "direction": "out", "media":
//! "VIDEO", "flowing": false}, ...]`.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::state::{Direction, EndpointChange, EndpointState};
use super::Millis;
use crate::kms::types::{
    ConnectionState, DtlsConnectionState, IceComponentState, MediaState, MediaType,
};

/// Entries kept per element unless `TargetModel::set_history_len` says otherwise.
pub const DEFAULT_HISTORY_LEN: usize = 64;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransitionKind {
    /// `MediaFlowIn/OutStateChanged` or a polled `isMediaFlowingIn/Out`.
    Flow {
        direction: Direction,
        media: MediaType,
        flowing: bool,
    },
    /// One ICE component of one stream.
    Ice {
        stream: String,
        component: u32,
        state: IceComponentState,
    },
    Dtls {
        state: DtlsConnectionState,
    },
    MediaState {
        state: MediaState,
    },
    ConnectionState {
        state: ConnectionState,
    },
    /// `MediaSessionStarted` (first one, or again after a termination).
    SessionStarted,
    /// `MediaSessionTerminated`.
    SessionTerminated,
    /// A KMS event received by a watch (`POST /api/v1/elements/{id}/watch`),
    /// recorded as received: its type name and its own fields as text.
    Event {
        event: String,
        fields: BTreeMap<String, String>,
    },
}

/// One observed transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When it was observed.
    pub at: Millis,
    #[serde(flatten)]
    pub kind: TransitionKind,
}

/// The bounded ring of an element's transitions, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct History {
    ring: VecDeque<Transition>,
}

impl History {
    /// Append, dropping the oldest entries beyond `cap` (0 keeps nothing).
    pub(super) fn push(&mut self, t: Transition, cap: usize) {
        if cap == 0 {
            return;
        }
        while self.ring.len() >= cap {
            self.ring.pop_front();
        }
        self.ring.push_back(t);
    }

    /// Keep only the newest `cap` entries.
    pub(super) fn truncate(&mut self, cap: usize) {
        let excess = self.ring.len().saturating_sub(cap);
        self.ring.drain(..excess);
        if self.ring.is_empty() {
            self.ring = VecDeque::new();
        }
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Transition> + '_ {
        self.ring.iter()
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

/// The transitions `change` makes on an endpoint whose state is `state`.
pub(super) fn endpoint_transitions(
    state: Option<&EndpointState>,
    change: &EndpointChange,
) -> Vec<TransitionKind> {
    let ice_changed = |stream: &str, component: u32, new: IceComponentState| {
        state
            .and_then(|s| s.ice.get(&(stream.to_owned(), component)))
            .is_none_or(|old| old.value != new)
    };
    let ice = |stream: &str, component: u32, new: IceComponentState| TransitionKind::Ice {
        stream: stream.to_owned(),
        component,
        state: new,
    };
    match change {
        EndpointChange::MediaState(new) => {
            let old = state.and_then(|s| s.media_state).map(|s| s.value);
            (old != Some(*new))
                .then_some(TransitionKind::MediaState { state: *new })
                .into_iter()
                .collect()
        }
        EndpointChange::ConnectionState(new) => {
            let old = state.and_then(|s| s.connection_state).map(|s| s.value);
            (old != Some(*new))
                .then_some(TransitionKind::ConnectionState { state: *new })
                .into_iter()
                .collect()
        }
        EndpointChange::Dtls(new) => {
            let old = state.and_then(|s| s.dtls).map(|s| s.value);
            (old != Some(*new))
                .then_some(TransitionKind::Dtls { state: *new })
                .into_iter()
                .collect()
        }
        EndpointChange::Ice {
            stream,
            component,
            state: new,
        } => ice_changed(stream, *component, *new)
            .then(|| ice(stream, *component, *new))
            .into_iter()
            .collect(),
        EndpointChange::IceAll(all) => all
            .iter()
            .filter(|(stream, component, new)| ice_changed(stream, *component, *new))
            .map(|(stream, component, new)| ice(stream, *component, *new))
            .collect(),
        EndpointChange::MediaSessionStarted => {
            let running = state
                .is_some_and(|s| s.session_started.is_some() && s.session_terminated.is_none());
            (!running)
                .then_some(TransitionKind::SessionStarted)
                .into_iter()
                .collect()
        }
        EndpointChange::MediaSessionTerminated => {
            let ended = state.is_some_and(|s| s.session_terminated.is_some());
            (!ended)
                .then_some(TransitionKind::SessionTerminated)
                .into_iter()
                .collect()
        }
        EndpointChange::LocalSdp(_) | EndpointChange::RemoteSdp(_) => Vec::new(),
    }
}

/// The transition a flow observation makes, if any.
pub(super) fn flow_transition(
    old: Option<bool>,
    direction: Direction,
    media: MediaType,
    flowing: bool,
) -> Option<TransitionKind> {
    (old != Some(flowing)).then_some(TransitionKind::Flow {
        direction,
        media,
        flowing,
    })
}
