//! The closed set of JSON-RPC methods and `invoke` operations the client may
//! send. Anything not listed here cannot be sent: there is no generic property
//! walk, no `getIceTcp` (it aborts KMS 7.3) and no `closeSession` with
//! `release: true` (it would release every object the session ever touched).

/// A JSON-RPC method of the KMS protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Create,
    Describe,
    Invoke,
    Subscribe,
    Unsubscribe,
    Release,
    Ref,
    Unref,
    Ping,
    Connect,
    /// Always sent with `release: false` (see module docs).
    CloseSession,
}

impl Method {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Create => "create",
            Method::Describe => "describe",
            Method::Invoke => "invoke",
            Method::Subscribe => "subscribe",
            Method::Unsubscribe => "unsubscribe",
            Method::Release => "release",
            Method::Ref => "ref",
            Method::Unref => "unref",
            Method::Ping => "ping",
            Method::Connect => "connect",
            Method::CloseSession => "closeSession",
        }
    }
}

macro_rules! operations {
    ($($(#[$m:meta])* $variant:ident => $wire:literal),+ $(,)?) => {
        /// An `invoke` operation the client knows (getters and a few actions).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $($(#[$m])* $variant),+ }

        impl Operation {
            /// Every operation the client can send.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The wire name, exactly as KMS expects it.
            pub fn as_str(self) -> &'static str {
                match self { $(Operation::$variant => $wire),+ }
            }
        }
    };
}

operations! {
    // ServerManager
    GetInfo => "getInfo",
    GetPipelines => "getPipelines",
    GetSessions => "getSessions",
    GetUsedCpu => "getUsedCpu",
    GetUsedMemory => "getUsedMemory",
    GetCpuCount => "getCpuCount",
    // MediaObject
    GetChildren => "getChildren",
    GetName => "getName",
    GetTags => "getTags",
    GetCreationTime => "getCreationTime",
    GetParent => "getParent",
    GetMediaPipeline => "getMediaPipeline",
    // MediaElement / MediaPipeline
    GetSourceConnections => "getSourceConnections",
    GetSinkConnections => "getSinkConnections",
    GetStats => "getStats",
    IsMediaFlowingIn => "isMediaFlowingIn",
    IsMediaFlowingOut => "isMediaFlowingOut",
    GetGstreamerDot => "getGstreamerDot",
    GetLatencyStats => "getLatencyStats",
    // BaseRtpEndpoint
    GetMediaState => "getMediaState",
    GetConnectionState => "getConnectionState",
    // WebRtcEndpoint (capital ICE in the pairs getter, as KMS names it)
    GetIceConnectionState => "getIceConnectionState",
    GetIceCandidatePairs => "getICECandidatePairs",
    GetDtlsConnectionState => "getDtlsConnectionState",
    // SdpEndpoint
    GetLocalSessionDescriptor => "getLocalSessionDescriptor",
    GetRemoteSessionDescriptor => "getRemoteSessionDescriptor",
    // Actions (operator API)
    Connect => "connect",
    Play => "play",
    SetLatencyStats => "setLatencyStats",
    AddTag => "addTag",
    ProcessOffer => "processOffer",
    GenerateOffer => "generateOffer",
    ProcessAnswer => "processAnswer",
    GatherCandidates => "gatherCandidates",
    AddIceCandidate => "addIceCandidate",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_names_forbidden_operations() {
        for op in Operation::ALL {
            let name = op.as_str();
            assert!(!name.eq_ignore_ascii_case("getIceTcp"), "{name}");
            assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
        }
        assert_eq!(
            Operation::GetIceCandidatePairs.as_str(),
            "getICECandidatePairs"
        );
        assert_eq!(Method::CloseSession.as_str(), "closeSession");
    }
}
