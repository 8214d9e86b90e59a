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
}
