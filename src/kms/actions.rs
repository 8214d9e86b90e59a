//! The few state-changing `invoke` operations the operator API may perform
//! (`Action`), sent through `Client::invoke_void`, plus a typed method per
//! action. Nothing else can be invoked: see `ops`.

use serde_json::{Map, Value};

use super::client::{decode, decode_sdp, params, Client};
use super::error::ClientError;
use super::ops::Operation;
use super::types::{IceCandidate, KurentoValue, MediaType};

type Result<T> = std::result::Result<T, ClientError>;

/// A state-changing operation on a media object.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `MediaElement.connect` to `sink` (all media types when `None`).
    Connect {
        sink: String,
        media_type: Option<MediaType>,
    },
    /// `PlayerEndpoint.play`.
    Play,
    /// `MediaPipeline.setLatencyStats`.
    SetLatencyStats(bool),
    /// `MediaObject.addTag`.
    AddTag { key: String, value: String },
    /// `SdpEndpoint.processOffer` (answers the SDP answer).
    ProcessOffer(String),
    /// `SdpEndpoint.generateOffer` (answers the SDP offer).
    GenerateOffer,
    /// `SdpEndpoint.processAnswer` (answers the local SDP).
    ProcessAnswer(String),
    /// `WebRtcEndpoint.gatherCandidates`.
    GatherCandidates,
    /// `WebRtcEndpoint.addIceCandidate`.
    AddIceCandidate(IceCandidate),
}

impl Action {
    /// The operation and its parameters.
    pub fn operation(&self) -> (Operation, Map<String, Value>) {
        match self {
            Action::Connect { sink, media_type } => {
                let mut p = Client::media_params(*media_type);
                p.insert("sink".into(), sink.as_str().into());
                (Operation::Connect, p)
            }
            Action::Play => (Operation::Play, Map::new()),
            Action::SetLatencyStats(on) => (
                Operation::SetLatencyStats,
                params([("latencyStats", (*on).into())]),
            ),
            Action::AddTag { key, value } => (
                Operation::AddTag,
                params([
                    ("key", key.as_str().into()),
                    ("value", value.as_str().into()),
                ]),
            ),
            Action::ProcessOffer(offer) => (
                Operation::ProcessOffer,
                params([("offer", offer.as_str().into())]),
            ),
            Action::GenerateOffer => (Operation::GenerateOffer, Map::new()),
            Action::ProcessAnswer(answer) => (
                Operation::ProcessAnswer,
                params([("answer", answer.as_str().into())]),
            ),
            Action::GatherCandidates => (Operation::GatherCandidates, Map::new()),
            Action::AddIceCandidate(c) => (
                Operation::AddIceCandidate,
                params([("candidate", c.to_wire())]),
            ),
        }
    }
}

impl Client {
    /// Perform `action` on `object`; returns the operation's `value`
    /// (`null` for void operations, an SDP string for the offer/answer ones).
    pub async fn invoke_void(&self, object: &str, action: &Action) -> Result<Value> {
        let (op, p) = action.operation();
        self.invoke_op(object, op, Some(p)).await
    }

    /// `connect` `source` to `sink` (all media types when `None`).
    pub async fn connect_elements(
        &self,
        source: &str,
        sink: &str,
        media_type: Option<MediaType>,
    ) -> Result<()> {
        let a = Action::Connect {
            sink: sink.into(),
            media_type,
        };
        self.invoke_void(source, &a).await.map(drop)
    }

    /// `play` a PlayerEndpoint.
    pub async fn play(&self, player: &str) -> Result<()> {
        self.invoke_void(player, &Action::Play).await.map(drop)
    }

    /// `setLatencyStats` on a pipeline (enables `endpoint`/`element` stats).
    pub async fn set_latency_stats(&self, pipeline: &str, enabled: bool) -> Result<()> {
        let a = Action::SetLatencyStats(enabled);
        self.invoke_void(pipeline, &a).await.map(drop)
    }

    /// `addTag`.
    pub async fn add_tag(&self, object: &str, key: &str, value: &str) -> Result<()> {
        let a = Action::AddTag {
            key: key.into(),
            value: value.into(),
        };
        self.invoke_void(object, &a).await.map(drop)
    }

    /// `processOffer`: returns the SDP answer.
    pub async fn process_offer(&self, endpoint: &str, offer: &str) -> Result<String> {
        let a = Action::ProcessOffer(offer.into());
        decode("processOffer", self.invoke_void(endpoint, &a).await?)
    }

    /// `generateOffer`: returns the SDP offer.
    pub async fn generate_offer(&self, endpoint: &str) -> Result<String> {
        let v = self.invoke_void(endpoint, &Action::GenerateOffer).await?;
        decode("generateOffer", v)
    }

    /// `processAnswer`: returns the local SDP.
    pub async fn process_answer(&self, endpoint: &str, answer: &str) -> Result<String> {
        let a = Action::ProcessAnswer(answer.into());
        decode_sdp("processAnswer", self.invoke_void(endpoint, &a).await?)
    }

    /// `gatherCandidates` on a WebRtcEndpoint.
    pub async fn gather_candidates(&self, endpoint: &str) -> Result<()> {
        let a = Action::GatherCandidates;
        self.invoke_void(endpoint, &a).await.map(drop)
    }

    /// `addIceCandidate` from the remote peer.
    pub async fn add_ice_candidate(&self, endpoint: &str, candidate: &IceCandidate) -> Result<()> {
        let a = Action::AddIceCandidate(candidate.clone());
        self.invoke_void(endpoint, &a).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_to_their_operations() {
        let (op, p) = Action::Connect {
            sink: "s".into(),
            media_type: Some(MediaType::VIDEO),
        }
        .operation();
        assert_eq!(op.as_str(), "connect");
        assert_eq!(p["sink"], "s");
        assert_eq!(p["mediaType"], "VIDEO");
        let c = IceCandidate {
            candidate: "candidate:1 1 UDP 1 10.0.0.1 9 typ host".into(),
            sdp_mid: "0".into(),
            sdp_m_line_index: 0,
        };
        let (op, p) = Action::AddIceCandidate(c).operation();
        assert_eq!(op.as_str(), "addIceCandidate");
        assert_eq!(p["candidate"]["__type__"], "IceCandidate");
        assert_eq!(p["candidate"]["sdpMLineIndex"], 0);
        let (op, p) = Action::SetLatencyStats(true).operation();
        assert_eq!(
            (op.as_str(), &p["latencyStats"]),
            ("setLatencyStats", &Value::Bool(true))
        );
    }
}
