//! Typed `onEvent` notifications: the event names the client can subscribe
//! to (`EventType`), and `Event`, the decoded notification with its common
//! fields (`source`, `tags`, `timestampMillis`, which KMS sends as a string)
//! and the fields of each event type, per the kmd files and the captures.
//! An event whose type is unknown, or whose fields do not parse, is kept raw
//! as `EventKind::Unknown`.

use serde::Deserialize;
use serde_json::Value;

use super::lenient;
use super::types::{
    ConnectionState, DtlsConnectionState, IceCandidate, IceCandidatePair, IceComponentState,
    MediaFlowState, MediaState, MediaTranscodingState, MediaType, Tag, UriEndpointState,
};
use super::wire::EventValue;

macro_rules! event_types {
    ($($variant:ident),+ $(,)?) => {
        /// An event type the client can subscribe to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            /// Every event type, in kmd order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => stringify!($variant)),+ }
            }

            /// The event type of a wire name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $(stringify!($variant) => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types!(
    ObjectCreated,
    ObjectDestroyed,
    ElementConnected,
    ElementDisconnected,
    MediaFlowInStateChanged,
    MediaFlowOutStateChanged,
    MediaTranscodingStateChanged,
    IceComponentStateChanged,
    IceCandidateFound,
    IceGatheringDone,
    NewCandidatePairSelected,
    DtlsConnectionStateChange,
    MediaStateChanged,
    ConnectionStateChanged,
    MediaSessionStarted,
    MediaSessionTerminated,
    UriEndpointStateChanged,
    Error,
);

/// `ElementConnected` / `ElementDisconnected`: `source` (the common field)
/// linked to `sink` for one media type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElementLink {
    pub sink: String,
    pub media_type: MediaType,
    #[serde(default)]
    pub source_media_description: String,
    #[serde(default)]
    pub sink_media_description: String,
}

/// `MediaFlowIn/OutStateChanged`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFlowChange {
    pub state: MediaFlowState,
    pub media_type: MediaType,
    #[serde(default)]
    pub pad_name: String,
}

/// `MediaTranscodingStateChanged`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodingChange {
    pub state: MediaTranscodingState,
    pub media_type: MediaType,
    #[serde(default)]
    pub bin_name: String,
}

/// `IceComponentStateChanged` (`streamId` is a number here; kept as a string
/// to match `IceConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceComponentChange {
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub stream_id: String,
    #[serde(deserialize_with = "lenient::u64_any")]
    pub component_id: u64,
    pub state: IceComponentState,
}

/// `DtlsConnectionStateChange`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtlsChange {
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    pub stream_id: Option<String>,
    #[serde(deserialize_with = "lenient::string_or_number")]
    pub component_id: String,
    #[serde(default)]
    pub connection_id: String,
    pub state: DtlsConnectionState,
}

/// `MediaStateChanged` / `ConnectionStateChanged`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange<T> {
    pub old_state: T,
    pub new_state: T,
}

/// `Error`: `data.type` is the error kind (e.g. `INVALID_URI`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    #[serde(default)]
    pub description: String,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub error_code: Option<i64>,
    #[serde(rename = "type", default)]
    pub error_type: String,
}

/// What happened, with the event's own fields.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    ObjectCreated {
        object: String,
    },
    ObjectDestroyed {
        object_id: String,
    },
    ElementConnected(ElementLink),
    ElementDisconnected(ElementLink),
    MediaFlowInStateChanged(MediaFlowChange),
    MediaFlowOutStateChanged(MediaFlowChange),
    MediaTranscodingStateChanged(TranscodingChange),
    IceComponentStateChanged(IceComponentChange),
    IceCandidateFound {
        candidate: IceCandidate,
    },
    IceGatheringDone,
    NewCandidatePairSelected {
        candidate_pair: IceCandidatePair,
    },
    DtlsConnectionStateChange(DtlsChange),
    MediaStateChanged(StateChange<MediaState>),
    ConnectionStateChanged(StateChange<ConnectionState>),
    MediaSessionStarted,
    MediaSessionTerminated,
    UriEndpointStateChanged {
        state: UriEndpointState,
    },
    Error(ErrorInfo),
    /// An unknown event type, or a known one whose fields did not parse.
    Unknown {
        data: Value,
    },
}

/// One decoded `onEvent` notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The object the subscription is on (`params.value.object`).
    pub object: String,
    /// The event type name as sent (`params.value.type`).
    pub event_type: String,
    /// The object that raised the event (`data.source`).
    pub source: String,
    pub tags: Vec<Tag>,
    /// `data.timestampMillis` (sent as a string), if readable.
    pub timestamp_ms: Option<u64>,
    pub kind: EventKind,
}

#[derive(Deserialize)]
struct ObjectCreatedData {
    object: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectDestroyedData {
    object_id: String,
}

#[derive(Deserialize)]
struct CandidateData {
    candidate: IceCandidate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PairData {
    candidate_pair: IceCandidatePair,
}

#[derive(Deserialize)]
struct UriStateData {
    state: UriEndpointState,
}

fn fields<T: for<'de> Deserialize<'de>>(data: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(data)
}

fn kind_of(ty: EventType, data: &Value) -> Result<EventKind, serde_json::Error> {
    use EventKind as K;
    Ok(match ty {
        EventType::ObjectCreated => K::ObjectCreated {
            object: fields::<ObjectCreatedData>(data)?.object,
        },
        EventType::ObjectDestroyed => K::ObjectDestroyed {
            object_id: fields::<ObjectDestroyedData>(data)?.object_id,
        },
        EventType::ElementConnected => K::ElementConnected(fields(data)?),
        EventType::ElementDisconnected => K::ElementDisconnected(fields(data)?),
        EventType::MediaFlowInStateChanged => K::MediaFlowInStateChanged(fields(data)?),
        EventType::MediaFlowOutStateChanged => K::MediaFlowOutStateChanged(fields(data)?),
        EventType::MediaTranscodingStateChanged => K::MediaTranscodingStateChanged(fields(data)?),
        EventType::IceComponentStateChanged => K::IceComponentStateChanged(fields(data)?),
        EventType::IceCandidateFound => K::IceCandidateFound {
            candidate: fields::<CandidateData>(data)?.candidate,
        },
        EventType::IceGatheringDone => K::IceGatheringDone,
        EventType::NewCandidatePairSelected => K::NewCandidatePairSelected {
            candidate_pair: fields::<PairData>(data)?.candidate_pair,
        },
        EventType::DtlsConnectionStateChange => K::DtlsConnectionStateChange(fields(data)?),
        EventType::MediaStateChanged => K::MediaStateChanged(fields(data)?),
        EventType::ConnectionStateChanged => K::ConnectionStateChanged(fields(data)?),
        EventType::MediaSessionStarted => K::MediaSessionStarted,
        EventType::MediaSessionTerminated => K::MediaSessionTerminated,
        EventType::UriEndpointStateChanged => K::UriEndpointStateChanged {
            state: fields::<UriStateData>(data)?.state,
        },
        EventType::Error => K::Error(fields(data)?),
    })
}

impl Event {
    /// Decode a notification. Never fails: what cannot be typed is kept raw.
    /// The flag is false when a known event type had unreadable fields.
    pub fn from_wire(ev: EventValue) -> (Event, bool) {
        let data = ev.data;
        let source = data
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tags = data
            .get("tags")
            .and_then(|t| Vec::<Tag>::deserialize(t).ok())
            .unwrap_or_default();
        let timestamp_ms = data.get("timestampMillis").and_then(lenient::as_u64);
        let (kind, well_formed) = match EventType::from_name(&ev.event_type) {
            Some(ty) => match kind_of(ty, &data) {
                Ok(k) => (k, true),
                Err(_) => (EventKind::Unknown { data }, false),
            },
            None => (EventKind::Unknown { data }, true),
        };
        let event = Event {
            object: ev.object,
            event_type: ev.event_type,
            source,
            tags,
            timestamp_ms,
            kind,
        };
        (event, well_formed)
    }

    /// The typed event type, `None` for unknown ones.
    pub fn typed(&self) -> Option<EventType> {
        match self.kind {
            EventKind::Unknown { .. } => None,
            _ => EventType::from_name(&self.event_type),
        }
    }
}
