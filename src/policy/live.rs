//! The liveness rule, in one place: which flow and media state show that an
//! element carries a live call. The policy applies it to the model (flow
//! seen now or within the grace), the reaper's last look before a release
//! to what KMS answers now; both call [`liveness`].
//!
//! - a hub (Composite, Dispatcher, ...) carries no media of its own, and
//!   KMS's flow flags on a hub port do not tell liveness (a live port may
//!   report video-in false, a dead participant's port keeps audio-out true:
//!   PROTOCOL.md, hubs and their ports): both are judged by their neighbours;
//! - a WebRtcEndpoint or RtpEndpoint is live while media arrives from its
//!   peer (flow `out`), or while the pipeline feeds it (flow `in`) and its
//!   media state is not DISCONNECTED: a receive-only participant is live, but
//!   an endpoint whose peer vanished, still fed by a meeting that goes on, is
//!   not (PROTOCOL.md: flow direction, when a peer vanishes);
//! - any other element is live while media flows either way.

use kms_proto::ids::{is_hub, is_hub_port, is_rtp_endpoint};

/// What an element's flow says about a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// No live call.
    Idle,
    /// A live call: media arrives from the peer, or flows through.
    Live,
    /// An RTP endpoint the pipeline feeds: live unless its media state is
    /// DISCONNECTED (the peer is gone).
    FedUnlessDisconnected,
}

impl Liveness {
    /// The verdict once the media state is known (`disconnected`: it is
    /// DISCONNECTED). Only `FedUnlessDisconnected` depends on it.
    pub fn resolve(self, disconnected: bool) -> bool {
        match self {
            Liveness::Idle => false,
            Liveness::Live => true,
            Liveness::FedUnlessDisconnected => !disconnected,
        }
    }
}

/// The liveness rule for an element of type `element_type` with media
/// flowing in (`flowing_in`: the pipeline feeds it) and out (`flowing_out`:
/// for an endpoint, media arrives from its peer).
pub fn liveness(element_type: &str, flowing_in: bool, flowing_out: bool) -> Liveness {
    if is_hub(element_type) || is_hub_port(element_type) {
        return Liveness::Idle;
    }
    if is_rtp_endpoint(element_type) {
        return match (flowing_in, flowing_out) {
            (_, true) => Liveness::Live,
            (true, false) => Liveness::FedUnlessDisconnected,
            (false, false) => Liveness::Idle,
        };
    }
    if flowing_in || flowing_out {
        Liveness::Live
    } else {
        Liveness::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_by_type_and_flow() {
        use Liveness::*;
        let table = [
            ("WebRtcEndpoint", false, false, Idle),
            ("WebRtcEndpoint", false, true, Live),
            ("WebRtcEndpoint", true, true, Live),
            ("WebRtcEndpoint", true, false, FedUnlessDisconnected),
            ("RtpEndpoint", true, false, FedUnlessDisconnected),
            ("PlayerEndpoint", false, true, Live),
            ("RecorderEndpoint", true, false, Live),
            ("HubPort", true, false, Idle),
            ("HubPort", false, true, Idle),
            ("Composite", true, true, Idle),
            ("Dispatcher", true, true, Idle),
        ];
        for (ty, fin, fout, want) in table {
            assert_eq!(liveness(ty, fin, fout), want, "{ty} in={fin} out={fout}");
        }
        assert!(FedUnlessDisconnected.resolve(false));
        assert!(!FedUnlessDisconnected.resolve(true));
        assert!(Live.resolve(true));
        assert!(!Idle.resolve(false));
    }
}
