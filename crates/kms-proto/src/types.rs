//! Kurento enums and complex values from the kmd files, with KMS's exact
//! spelling. Complex values on the wire carry `__module__`/`__type__`
//! wrappers; deserialization ignores them, `kurento_value` adds them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Wrap `fields` as a kurento complex value of type `ty`.
pub fn kurento_value(ty: &str, fields: Value) -> Value {
    let mut m = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("__module__".into(), "kurento".into());
    m.insert("__type__".into(), ty.into());
    Value::Object(m)
}

macro_rules! kms_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in kmd order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $(stringify!($variant) => Ok($name::$variant),)+ _ => Err(()) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kms_enum!(
    /// `MediaType`.
    MediaType { AUDIO, DATA, VIDEO }
);
kms_enum!(
    /// `MediaFlowState` of MediaFlowIn/OutStateChanged.
    MediaFlowState { FLOWING, NOT_FLOWING }
);
kms_enum!(
    /// `MediaState` of a BaseRtpEndpoint.
    MediaState { DISCONNECTED, CONNECTED }
);
kms_enum!(
    /// `ConnectionState` of a BaseRtpEndpoint.
    ConnectionState { DISCONNECTED, CONNECTED }
);
kms_enum!(
    /// `IceComponentState`.
    IceComponentState { DISCONNECTED, GATHERING, CONNECTING, CONNECTED, READY, FAILED }
);
kms_enum!(
    /// `DtlsConnectionState`.
    DtlsConnectionState { NEW, CLOSED, FAILED, CONNECTING, CONNECTED }
);
kms_enum!(
    /// `MediaTranscodingState`.
    MediaTranscodingState { TRANSCODING, NOT_TRANSCODING }
);
kms_enum!(
    /// `UriEndpointState`.
    UriEndpointState { STOP, START, PAUSE }
);

/// A complex value that travels with `__module__`/`__type__` wrappers.
pub trait KurentoValue: Serialize {
    /// The kmd type name (`__type__`).
    const TYPE: &'static str;

    /// The wire form, wrappers included.
    fn to_wire(&self) -> Value {
        kurento_value(
            Self::TYPE,
            serde_json::to_value(self).unwrap_or(Value::Null),
        )
    }
}

/// `Tag`: a key/value label on a media object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl KurentoValue for Tag {
    const TYPE: &'static str = "Tag";
}

/// `ElementConnectionData`: one media-type link between two elements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElementConnectionData {
    pub source: String,
    pub sink: String,
    #[serde(rename = "type")]
    pub media_type: MediaType,
    #[serde(default)]
    pub source_description: String,
    #[serde(default)]
    pub sink_description: String,
}

impl KurentoValue for ElementConnectionData {
    const TYPE: &'static str = "ElementConnectionData";
}

/// `IceConnection`: the state of one ICE component (`getIceConnectionState`).
/// `streamId` is a string in getters and a number in events: kept as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceConnection {
    #[serde(deserialize_with = "crate::lenient::string_or_number")]
    pub stream_id: String,
    #[serde(deserialize_with = "crate::lenient::u64_any")]
    pub component_id: u64,
    pub state: IceComponentState,
}

impl KurentoValue for IceConnection {
    const TYPE: &'static str = "IceConnection";
}

/// `IceCandidate`, as in `IceCandidateFound` and `addIceCandidate`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: String,
    #[serde(rename = "sdpMLineIndex", deserialize_with = "crate::lenient::u64_any")]
    pub sdp_m_line_index: u64,
}

impl KurentoValue for IceCandidate {
    const TYPE: &'static str = "IceCandidate";
}

/// `IceCandidatePair`: the selected pair of one component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidatePair {
    #[serde(deserialize_with = "crate::lenient::string_or_number")]
    pub stream_id: String,
    #[serde(deserialize_with = "crate::lenient::u64_any")]
    pub component_id: u64,
    pub local_candidate: String,
    pub remote_candidate: String,
}

impl KurentoValue for IceCandidatePair {
    const TYPE: &'static str = "IceCandidatePair";
}

/// `DtlsConnection`: the DTLS state of one component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtlsConnection {
    #[serde(deserialize_with = "crate::lenient::string_or_number")]
    pub stream_id: String,
    #[serde(deserialize_with = "crate::lenient::string_or_number")]
    pub component_id: String,
    pub connection_id: String,
    pub state: DtlsConnectionState,
}

impl KurentoValue for DtlsConnection {
    const TYPE: &'static str = "DtlsConnection";
}

/// `ModuleInfo`: one module loaded by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInfo {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub generation_time: String,
    #[serde(default)]
    pub factories: Vec<String>,
}

impl KurentoValue for ModuleInfo {
    const TYPE: &'static str = "ModuleInfo";
}

/// `ServerInfo` (`ServerManager.getInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub version: String,
    #[serde(default)]
    pub modules: Vec<ModuleInfo>,
    /// `KMS` or `KCS`.
    #[serde(rename = "type", default)]
    pub server_type: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl KurentoValue for ServerInfo {
    const TYPE: &'static str = "ServerInfo";
}

/// The result of `describe`: the object's type and its ancestors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDescription {
    /// Short type name, e.g. `WebRtcEndpoint`.
    #[serde(rename = "type")]
    pub object_type: String,
    /// e.g. `kurento.WebRtcEndpoint`.
    #[serde(default)]
    pub qualified_type: String,
    /// Qualified names of the ancestors, nearest first.
    #[serde(default)]
    pub hierarchy: Vec<String>,
}

impl ObjectDescription {
    /// Whether the object is `ty` or inherits from it (`ty` short, e.g. `BaseRtpEndpoint`).
    pub fn is_a(&self, ty: &str) -> bool {
        self.object_type == ty
            || self
                .hierarchy
                .iter()
                .any(|h| h.rsplit('.').next() == Some(ty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_wire_spelling() {
        for s in IceComponentState::ALL {
            let j = serde_json::to_value(s).unwrap();
            assert_eq!(j, Value::from(s.as_str()));
            assert_eq!(s.as_str().parse::<IceComponentState>(), Ok(*s));
        }
        assert_eq!("NOT_FLOWING".parse(), Ok(MediaFlowState::NOT_FLOWING));
        assert!("flowing".parse::<MediaFlowState>().is_err());
    }

    #[test]
    fn wraps_complex_values() {
        let v = kurento_value("Tag", serde_json::json!({"key":"room","value":"r1"}));
        assert_eq!(v["__module__"], "kurento");
        assert_eq!(v["__type__"], "Tag");
        assert_eq!(v["key"], "room");
    }

    #[test]
    fn complex_values_from_samples() {
        let pair: IceCandidatePair = serde_json::from_value(serde_json::json!({
            "__module__": "kurento", "__type__": "IceCandidatePair", "componentId": 1,
            "localCandidate": "l", "remoteCandidate": "r", "streamId": "1"
        }))
        .unwrap();
        assert_eq!(pair.stream_id, "1");
        assert_eq!(pair.component_id, 1);
        let ice: IceConnection = serde_json::from_value(
            serde_json::json!({"componentId": 2, "state": "READY", "streamId": 1}),
        )
        .unwrap();
        assert_eq!(ice.stream_id, "1");
        assert_eq!(ice.state, IceComponentState::READY);
        let tag = Tag {
            key: "k".into(),
            value: "v".into(),
        };
        assert_eq!(tag.to_wire()["__type__"], "Tag");
        let d = ObjectDescription {
            object_type: "WebRtcEndpoint".into(),
            qualified_type: "kurento.WebRtcEndpoint".into(),
            hierarchy: vec![
                "kurento.BaseRtpEndpoint".into(),
                "kurento.MediaElement".into(),
            ],
        };
        assert!(d.is_a("BaseRtpEndpoint") && d.is_a("WebRtcEndpoint") && !d.is_a("MediaPipeline"));
    }
}
