//! What a KMS object id says by itself: the pipeline an element belongs to,
//! the object's type, and whether that type is a hub. KMS ids have the forms
//! `<uuid>_kurento.MediaPipeline` and `<pipeline id>/<uuid>_kurento.<Type>`.

/// The pipeline part of an object id (`<pipeline>/<element>`), or the id
/// itself (a pipeline, or an id of another form).
pub fn pipeline_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(p, _)| p)
}

/// The short type of an object from its id (`..._kurento.WebRtcEndpoint` →
/// `WebRtcEndpoint`); ids of other forms answer their last part.
pub fn type_of(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    last.rsplit_once("_kurento.")
        .map(|(_, t)| t)
        .or_else(|| last.rsplit_once('.').map(|(_, t)| t))
        .unwrap_or(last)
}

/// The short id of an object: the UUID part of its last segment
/// (`<pipeline>/<uuid>_kurento.WebRtcEndpoint` → `<uuid>`); ids of other
/// forms answer their last segment.
pub fn short_id(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    last.split_once("_kurento.").map_or(last, |(uuid, _)| uuid)
}

/// Whether a type is a Hub (Composite, Dispatcher, ...): a MediaObject with
/// ports, not a MediaElement; it carries no media of its own.
pub fn is_hub(element_type: &str) -> bool {
    matches!(
        element_type,
        "Composite" | "Dispatcher" | "DispatcherOneToMany" | "Mixer" | "AlphaBlending"
    )
}

/// A hub's port (`HubPort`): it belongs to its hub, not to the pipeline.
pub fn is_hub_port(element_type: &str) -> bool {
    element_type == "HubPort"
}

/// Whether a type is an RTP endpoint (WebRtcEndpoint, RtpEndpoint): an
/// endpoint with a remote peer, RTP statistics and a media state.
pub fn is_rtp_endpoint(element_type: &str) -> bool {
    matches!(element_type, "WebRtcEndpoint" | "RtpEndpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "11_kurento.MediaPipeline";

    #[test]
    fn ids_tell_pipeline_and_type() {
        let e = format!("{P}/22_kurento.WebRtcEndpoint");
        assert_eq!(type_of(&e), "WebRtcEndpoint");
        assert_eq!(type_of(P), "MediaPipeline");
        assert_eq!(pipeline_of(&e), P);
        assert_eq!(pipeline_of(P), P);
        assert_eq!(type_of("manager_ServerManager"), "manager_ServerManager");
    }

    #[test]
    fn short_ids_are_the_uuid_part() {
        let e = format!("{P}/22_kurento.WebRtcEndpoint");
        assert_eq!(short_id(&e), "22");
        assert_eq!(short_id(P), "11");
        assert_eq!(short_id("manager_ServerManager"), "manager_ServerManager");
        assert_eq!(short_id("a/b"), "b");
    }

    #[test]
    fn hubs_are_the_kmd_hub_types() {
        for t in [
            "Composite",
            "Dispatcher",
            "DispatcherOneToMany",
            "Mixer",
            "AlphaBlending",
        ] {
            assert!(is_hub(t), "{t}");
        }
        for t in [
            "HubPort",
            "WebRtcEndpoint",
            "MediaPipeline",
            "PlayerEndpoint",
        ] {
            assert!(!is_hub(t), "{t}");
        }
    }
}
