//! Static knowledge from the kmd files: which object types the simulator can
//! create, their class hierarchy, the events each raises, the module each
//! belongs to, and the simple properties (with defaults) each class carries.

use serde_json::{json, Value};

/// A type of media object the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ServerManager,
    MediaPipeline,
    WebRtcEndpoint,
    RtpEndpoint,
    PlayerEndpoint,
    RecorderEndpoint,
    HttpPostEndpoint,
    PassThrough,
    HubPort,
    Composite,
    Dispatcher,
    DispatcherOneToMany,
    AlphaBlending,
    Mixer,
    FaceOverlayFilter,
    GStreamerFilter,
    ImageOverlayFilter,
    ZBarFilter,
}

const RTP: &[&str] = &[
    "BaseRtpEndpoint",
    "SdpEndpoint",
    "SessionEndpoint",
    "Endpoint",
    "MediaElement",
    "MediaObject",
];
const URI: &[&str] = &["UriEndpoint", "Endpoint", "MediaElement", "MediaObject"];
const HUB: &[&str] = &["Hub", "MediaObject"];
const FILTER: &[&str] = &["Filter", "MediaElement", "MediaObject"];

impl Kind {
    /// Every creatable type (not the ServerManager).
    pub const CREATABLE: &'static [Kind] = &[
        Kind::MediaPipeline,
        Kind::WebRtcEndpoint,
        Kind::RtpEndpoint,
        Kind::PlayerEndpoint,
        Kind::RecorderEndpoint,
        Kind::HttpPostEndpoint,
        Kind::PassThrough,
        Kind::HubPort,
        Kind::Composite,
        Kind::Dispatcher,
        Kind::DispatcherOneToMany,
        Kind::AlphaBlending,
        Kind::Mixer,
        Kind::FaceOverlayFilter,
        Kind::GStreamerFilter,
        Kind::ImageOverlayFilter,
        Kind::ZBarFilter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::ServerManager => "ServerManager",
            Kind::MediaPipeline => "MediaPipeline",
            Kind::WebRtcEndpoint => "WebRtcEndpoint",
            Kind::RtpEndpoint => "RtpEndpoint",
            Kind::PlayerEndpoint => "PlayerEndpoint",
            Kind::RecorderEndpoint => "RecorderEndpoint",
            Kind::HttpPostEndpoint => "HttpPostEndpoint",
            Kind::PassThrough => "PassThrough",
            Kind::HubPort => "HubPort",
            Kind::Composite => "Composite",
            Kind::Dispatcher => "Dispatcher",
            Kind::DispatcherOneToMany => "DispatcherOneToMany",
            Kind::AlphaBlending => "AlphaBlending",
            Kind::Mixer => "Mixer",
            Kind::FaceOverlayFilter => "FaceOverlayFilter",
            Kind::GStreamerFilter => "GStreamerFilter",
            Kind::ImageOverlayFilter => "ImageOverlayFilter",
            Kind::ZBarFilter => "ZBarFilter",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::CREATABLE
            .iter()
            .copied()
            .chain(std::iter::once(Kind::ServerManager))
            .find(|k| k.name() == s)
    }

    /// Parent classes, nearest first, without the `kurento.` prefix.
    pub fn hierarchy(self) -> &'static [&'static str] {
        match self {
            Kind::ServerManager | Kind::MediaPipeline => &["MediaObject"],
            Kind::WebRtcEndpoint | Kind::RtpEndpoint => RTP,
            Kind::PlayerEndpoint | Kind::RecorderEndpoint => URI,
            Kind::HttpPostEndpoint => &[
                "HttpEndpoint",
                "SessionEndpoint",
                "Endpoint",
                "MediaElement",
                "MediaObject",
            ],
            Kind::PassThrough | Kind::HubPort => &["MediaElement", "MediaObject"],
            Kind::Composite
            | Kind::Dispatcher
            | Kind::DispatcherOneToMany
            | Kind::AlphaBlending
            | Kind::Mixer => HUB,
            Kind::FaceOverlayFilter
            | Kind::GStreamerFilter
            | Kind::ImageOverlayFilter
            | Kind::ZBarFilter => FILTER,
        }
    }

    /// Whether the type is, or derives from, class `class`.
    pub fn is_a(self, class: &str) -> bool {
        self.name() == class || self.hierarchy().contains(&class)
    }

    pub fn is_element(self) -> bool {
        self.is_a("MediaElement")
    }

    pub fn is_rtp(self) -> bool {
        self.is_a("BaseRtpEndpoint")
    }

    /// The kmd module that defines the type.
    pub fn module(self) -> &'static str {
        match self {
            Kind::ServerManager | Kind::MediaPipeline | Kind::PassThrough | Kind::HubPort => "core",
            Kind::FaceOverlayFilter
            | Kind::GStreamerFilter
            | Kind::ImageOverlayFilter
            | Kind::ZBarFilter => "filters",
            _ => "elements",
        }
    }

    /// Whether objects of this type raise event `event` (per kmd).
    pub fn has_event(self, event: &str) -> bool {
        std::iter::once(self.name())
            .chain(self.hierarchy().iter().copied())
            .any(|class| class_events(class).contains(&event))
    }
}

fn class_events(class: &str) -> &'static [&'static str] {
    match class {
        "MediaObject" => &["Error"],
        "ServerManager" => &["ObjectCreated", "ObjectDestroyed"],
        "MediaElement" => &[
            "ElementConnected",
            "ElementDisconnected",
            "MediaFlowOutStateChanged",
            "MediaFlowInStateChanged",
            "MediaTranscodingStateChanged",
        ],
        "SessionEndpoint" => &["MediaSessionTerminated", "MediaSessionStarted"],
        "BaseRtpEndpoint" => &["MediaStateChanged", "ConnectionStateChanged"],
        "WebRtcEndpoint" => &[
            "IceCandidateFound",
            "IceGatheringDone",
            "IceComponentStateChanged",
            "DtlsConnectionStateChange",
            "DataChannelOpened",
            "DataChannelClosed",
            "NewCandidatePairSelected",
        ],
        "UriEndpoint" => &["UriEndpointStateChanged"],
        "PlayerEndpoint" | "HttpPostEndpoint" => &["EndOfStream"],
        "RecorderEndpoint" => &["Recording", "Paused", "Stopped"],
        "RtpEndpoint" => &["OnKeySoftLimit"],
        "ZBarFilter" => &["CodeFound"],
        _ => &[],
    }
}

/// Simple properties of a class: (name, default, writable). Read with
/// `get<Name>`, written with `set<Name>`.
fn class_props(class: &str) -> &'static [(&'static str, PropDefault, bool)] {
    use PropDefault::*;
    match class {
        "ServerManager" => &[("metadata", Str(""), false)],
        "MediaElement" => &[
            ("encoderBitrate", Int(0), true),
            ("minEncoderBitrate", Int(0), true),
            ("maxEncoderBitrate", Int(0), true),
        ],
        "SdpEndpoint" => &[
            ("maxAudioRecvBandwidth", Int(0), true),
            ("maxVideoRecvBandwidth", Int(0), true),
        ],
        "BaseRtpEndpoint" => &[
            ("minVideoRecvBandwidth", Int(0), true),
            ("minVideoSendBandwidth", Int(100), true),
            ("maxVideoSendBandwidth", Int(500), true),
            ("mtu", Int(1200), true),
            ("rembParams", Remb, true),
        ],
        "WebRtcEndpoint" => &[
            ("networkInterfaces", Str(""), true),
            ("iceTcp", Bool(true), true),
            ("stunServerAddress", Str(""), true),
            ("stunServerPort", Int(3478), true),
            ("turnUrl", Str(""), true),
            ("externalIPv4", Str(""), true),
            ("externalIPv6", Str(""), true),
        ],
        "UriEndpoint" => &[("uri", Str(""), true)],
        "PlayerEndpoint" => &[("position", Int(0), true), ("videoInfo", VideoInfo, false)],
        "GStreamerFilter" => &[("command", Str(""), false)],
        _ => &[],
    }
}

/// A property default, const-constructible.
#[derive(Debug, Clone, Copy)]
pub enum PropDefault {
    Str(&'static str),
    Int(i64),
    Bool(bool),
    Remb,
    VideoInfo,
}

impl PropDefault {
    pub fn value(self) -> Value {
        match self {
            PropDefault::Str(s) => Value::from(s),
            PropDefault::Int(n) => Value::from(n),
            PropDefault::Bool(b) => Value::from(b),
            PropDefault::Remb => kms_proto::types::kurento_value(
                "RembParams",
                json!({"packetsRecvIntervalTop": 200, "exponentialFactor": 0.04,
                       "linealFactorMin": 100000, "linealFactorGrade": 1.0,
                       "decrementFactor": 0.5, "thresholdFactor": 0.8, "upLosses": 12,
                       "rembOnConnect": 300000}),
            ),
            PropDefault::VideoInfo => kms_proto::types::kurento_value(
                "VideoInfo",
                json!({"isSeekable": true, "seekableInit": 0, "seekableEnd": 0, "duration": 0}),
            ),
        }
    }
}

/// Find simple property `name` (first letter lower-cased) for `kind`.
pub fn find_prop(kind: Kind, name: &str) -> Option<(PropDefault, bool)> {
    std::iter::once(kind.name())
        .chain(kind.hierarchy().iter().copied())
        .flat_map(|c| class_props(c).iter())
        .find(|(n, _, _)| *n == name)
        .map(|(_, d, w)| (*d, *w))
}

/// `getFoo` → `foo`; also `getICECandidatePairs` → `ICECandidatePairs`.
pub fn prop_name(accessor_rest: &str) -> String {
    let mut c = accessor_rest.chars();
    match c.next() {
        Some(f)
            if accessor_rest
                .chars()
                .nth(1)
                .is_some_and(|s| s.is_lowercase()) =>
        {
            f.to_lowercase().chain(c).collect()
        }
        Some(f) => std::iter::once(f).chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_and_events_follow_kmd() {
        assert_eq!(Kind::WebRtcEndpoint.hierarchy()[0], "BaseRtpEndpoint");
        assert!(Kind::WebRtcEndpoint.has_event("MediaFlowInStateChanged"));
        assert!(Kind::WebRtcEndpoint.has_event("IceCandidateFound"));
        assert!(Kind::WebRtcEndpoint.has_event("Error"));
        assert!(!Kind::MediaPipeline.has_event("MediaFlowInStateChanged"));
        assert!(Kind::ServerManager.has_event("ObjectCreated"));
        assert!(!Kind::PlayerEndpoint.has_event("IceCandidateFound"));
        assert_eq!(Kind::from_name("HubPort"), Some(Kind::HubPort));
        assert_eq!(Kind::from_name("NoSuchType"), None);
    }

    #[test]
    fn props_resolve_through_hierarchy() {
        assert!(find_prop(Kind::WebRtcEndpoint, "mtu").is_some());
        assert!(find_prop(Kind::WebRtcEndpoint, "iceTcp").is_some());
        assert!(find_prop(Kind::RtpEndpoint, "iceTcp").is_none());
        assert_eq!(prop_name("Name"), "name");
        assert_eq!(prop_name("ICECandidatePairs"), "ICECandidatePairs");
        assert_eq!(prop_name("IceTcp"), "iceTcp");
    }
}
