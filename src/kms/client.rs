//! The typed KMS API: one method per JSON-RPC method or named `invoke`
//! operation the exporter needs (monitoring reads, cleanup, a few operator
//! actions), each decoding its result into a typed value. Only operations in
//! `ops::Operation` can be sent.
//!
//! Beware KMS's reference counting: `describe`, `invoke` and `subscribe` on
//! an object reference it (and its pipeline) from this client's session, which
//! keeps an abandoned object alive for as long as the session lives. A monitor
//! must `unref` what it has read (that also drops its subscriptions there).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};

use super::connection::{ConnState, Connection, ConnectionConfig, Notice, WireCounters};
use super::error::ClientError;
use super::events::EventType;
use super::ops::{Method, Operation};
use super::stats::StatsMap;
use super::types::{
    ConnectionState, DtlsConnection, ElementConnectionData, IceCandidatePair, IceConnection,
    MediaState, MediaType, ObjectDescription, ServerInfo, Tag,
};
use super::wire::{code, SERVER_MANAGER};

type Result<T> = std::result::Result<T, ClientError>;

/// A client of one KMS. Cheap to clone; the connection closes when the last
/// clone is dropped (or on `shutdown`).
#[derive(Clone)]
pub struct Client {
    conn: Connection,
}

pub(super) fn params<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(super) fn decode<T: DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| ClientError::Protocol(format!("{what}: {e}")))
}

/// The `value` member of a result (`null` when absent, as for void operations).
/// The params of an `invoke` of `op` on `object`.
fn invoke_params(
    object: &str,
    op: Operation,
    op_params: Option<Map<String, Value>>,
) -> Map<String, Value> {
    let mut p = params([("object", object.into()), ("operation", op.as_str().into())]);
    if let Some(op_params) = op_params {
        p.insert("operationParams".into(), Value::Object(op_params));
    }
    p
}

fn value_of(mut result: Value) -> Value {
    result
        .get_mut("value")
        .map(Value::take)
        .unwrap_or(Value::Null)
}

impl Client {
    /// Start connecting in the background; see `Connection::start`.
    pub fn start(cfg: ConnectionConfig) -> Client {
        Client {
            conn: Connection::start(cfg),
        }
    }

    /// Start and wait for the first connection (at most `connect_timeout`).
    pub async fn connect(cfg: ConnectionConfig) -> Result<Client> {
        let limit = cfg.connect_timeout;
        let c = Client::start(cfg);
        c.conn.wait_connected(limit).await?;
        Ok(c)
    }

    /// The underlying connection (state, notices, counters).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Watch the connection state.
    pub fn state(&self) -> watch::Receiver<ConnState> {
        self.conn.state()
    }

    /// Events and "reconnected" notices, from now on.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.conn.notices()
    }

    /// Wait until connected, at most `limit`; returns (session, generation).
    pub async fn wait_connected(&self, limit: Duration) -> Result<(String, u64)> {
        self.conn.wait_connected(limit).await
    }

    /// Wire oddities seen so far.
    pub fn counters(&self) -> WireCounters {
        self.conn.counters()
    }

    /// Send an `invoke` (crate-internal: only `Operation`s can be named).
    pub(super) async fn invoke_op(
        &self,
        object: &str,
        op: Operation,
        op_params: Option<Map<String, Value>>,
    ) -> Result<Value> {
        self.invoke(object, op, op_params).await
    }

    /// Close the socket and stop reconnecting.
    pub fn shutdown(&self) {
        self.conn.shutdown()
    }

    async fn invoke(
        &self,
        object: &str,
        op: Operation,
        op_params: Option<Map<String, Value>>,
    ) -> Result<Value> {
        let p = invoke_params(object, op, op_params);
        self.conn.call(Method::Invoke, p).await.map(value_of)
    }

    async fn get<T: DeserializeOwned>(&self, object: &str, op: Operation) -> Result<T> {
        decode(op.as_str(), self.invoke(object, op, None).await?)
    }

    async fn get_with<T: DeserializeOwned>(
        &self,
        object: &str,
        op: Operation,
        op_params: Map<String, Value>,
    ) -> Result<T> {
        decode(op.as_str(), self.invoke(object, op, Some(op_params)).await?)
    }

    async fn object_call(&self, method: Method, object: &str) -> Result<Value> {
        self.conn
            .call(method, params([("object", object.into())]))
            .await
    }

    // ---- generic methods ----

    /// `create`: a new object of `object_type`; returns its id.
    pub async fn create(
        &self,
        object_type: &str,
        constructor_params: Map<String, Value>,
        properties: Map<String, Value>,
    ) -> Result<String> {
        let p = params([
            ("type", object_type.into()),
            ("constructorParams", Value::Object(constructor_params)),
            ("properties", Value::Object(properties)),
        ]);
        decode("create", value_of(self.conn.call(Method::Create, p).await?))
    }

    /// `create` a `MediaPipeline`.
    pub async fn create_pipeline(&self) -> Result<String> {
        self.create("MediaPipeline", Map::new(), Map::new()).await
    }

    /// `create` an element of `element_type` in `pipeline`.
    pub async fn create_element(&self, element_type: &str, pipeline: &str) -> Result<String> {
        let cp = params([("mediaPipeline", pipeline.into())]);
        self.create(element_type, cp, Map::new()).await
    }

    /// `describe`: type and hierarchy (adds a session reference, see PROTOCOL).
    pub async fn describe(&self, object: &str) -> Result<ObjectDescription> {
        decode(
            "describe",
            self.object_call(Method::Describe, object).await?,
        )
    }

    /// `release`: destroy the object (success for unknown ids too).
    pub async fn release(&self, object: &str) -> Result<()> {
        self.object_call(Method::Release, object).await?;
        self.conn.forget_subscriptions(object);
        Ok(())
    }

    /// `ref`: hold a session reference on the object.
    pub async fn ref_(&self, object: &str) -> Result<()> {
        self.object_call(Method::Ref, object).await.map(drop)
    }

    /// `unref`: drop this session's reference (and subscriptions) on the object
    /// and its children, so KMS may collect it.
    pub async fn unref(&self, object: &str) -> Result<()> {
        self.object_call(Method::Unref, object).await?;
        self.conn.forget_subscriptions(object);
        Ok(())
    }

    /// `subscribe` (kept in the registry and made again on a new session).
    pub async fn subscribe(&self, object: &str, event: EventType) -> Result<String> {
        self.conn.subscribe(object, event).await
    }

    /// `unsubscribe` a registered subscription.
    pub async fn unsubscribe(&self, object: &str, event: EventType) -> Result<()> {
        self.conn.unsubscribe(object, event).await
    }

    /// The registered subscriptions.
    pub fn subscriptions(&self) -> Vec<(String, EventType)> {
        self.conn.subscriptions()
    }

    /// `ping` with the configured interval.
    pub async fn ping(&self) -> Result<()> {
        let ms = self.conn.config().ping_interval.as_millis() as u64;
        let r = self
            .conn
            .call(Method::Ping, params([("interval", ms.into())]))
            .await?;
        match r.get("value").and_then(Value::as_str) {
            Some("pong") => Ok(()),
            _ => Err(ClientError::Protocol(format!("ping answered {r}"))),
        }
    }

    /// `closeSession` with `release: false`: drop every reference and
    /// subscription of this session; objects no other session references are
    /// then released by KMS, as after `unref`. `release: true` (release
    /// everything the session ever touched) is never sent.
    pub async fn close_session(&self) -> Result<()> {
        let p = params([("release", Value::Bool(false))]);
        self.conn.call(Method::CloseSession, p).await?;
        for (object, _) in self.conn.subscriptions() {
            self.conn.forget_subscriptions(&object);
        }
        Ok(())
    }

    // ---- ServerManager ----

    /// `getInfo`: version and modules.
    pub async fn get_info(&self) -> Result<ServerInfo> {
        self.get(SERVER_MANAGER, Operation::GetInfo).await
    }

    /// `getPipelines`: every pipeline of every session (adds no reference).
    pub async fn get_pipelines(&self) -> Result<Vec<String>> {
        self.get(SERVER_MANAGER, Operation::GetPipelines).await
    }

    /// `getSessions`, without KMS's padding of empty strings.
    pub async fn get_sessions(&self) -> Result<Vec<String>> {
        let v: Vec<String> = self.get(SERVER_MANAGER, Operation::GetSessions).await?;
        Ok(v.into_iter().filter(|s| !s.is_empty()).collect())
    }

    /// `getUsedCpu` over `interval_ms`, in percent.
    pub async fn get_used_cpu(&self, interval_ms: u32) -> Result<f64> {
        let p = params([("interval", interval_ms.into())]);
        self.get_with(SERVER_MANAGER, Operation::GetUsedCpu, p)
            .await
    }

    /// `getUsedMemory`, in KiB.
    pub async fn get_used_memory(&self) -> Result<u64> {
        self.get(SERVER_MANAGER, Operation::GetUsedMemory).await
    }

    /// `getCpuCount`.
    pub async fn get_cpu_count(&self) -> Result<u32> {
        self.get(SERVER_MANAGER, Operation::GetCpuCount).await
    }

    // ---- MediaObject ----

    /// `getChildren`: ids of the object's children.
    pub async fn get_children(&self, object: &str) -> Result<Vec<String>> {
        self.get(object, Operation::GetChildren).await
    }

    /// `getName` (defaults to the id).
    pub async fn get_name(&self, object: &str) -> Result<String> {
        self.get(object, Operation::GetName).await
    }

    /// `getTags`.
    pub async fn get_tags(&self, object: &str) -> Result<Vec<Tag>> {
        self.get(object, Operation::GetTags).await
    }

    /// `getCreationTime`, seconds since the epoch.
    pub async fn get_creation_time(&self, object: &str) -> Result<i64> {
        self.get(object, Operation::GetCreationTime).await
    }

    /// `getParent` (`None` for a pipeline).
    pub async fn get_parent(&self, object: &str) -> Result<Option<String>> {
        self.get(object, Operation::GetParent).await
    }

    /// `getMediaPipeline` (a pipeline's is itself).
    pub async fn get_media_pipeline(&self, object: &str) -> Result<String> {
        self.get(object, Operation::GetMediaPipeline).await
    }

    // ---- MediaElement ----

    pub(super) fn media_params(media_type: Option<MediaType>) -> Map<String, Value> {
        match media_type {
            Some(t) => params([("mediaType", t.as_str().into())]),
            None => Map::new(),
        }
    }

    /// `getSourceConnections`: links feeding this element.
    pub async fn get_source_connections(
        &self,
        element: &str,
        media_type: Option<MediaType>,
    ) -> Result<Vec<ElementConnectionData>> {
        let p = Self::media_params(media_type);
        self.get_with(element, Operation::GetSourceConnections, p)
            .await
    }

    /// `getSinkConnections`: links this element feeds.
    pub async fn get_sink_connections(
        &self,
        element: &str,
        media_type: Option<MediaType>,
    ) -> Result<Vec<ElementConnectionData>> {
        let p = Self::media_params(media_type);
        self.get_with(element, Operation::GetSinkConnections, p)
            .await
    }

    /// `getStats`: `None` when KMS answers `null` (nothing negotiated yet).
    pub async fn get_stats(
        &self,
        element: &str,
        media_type: Option<MediaType>,
    ) -> Result<Option<StatsMap>> {
        let p = invoke_params(
            element,
            Operation::GetStats,
            Some(Self::media_params(media_type)),
        );
        // Read straight from the answer's text: no JSON tree per answer.
        self.conn.reply(Method::Invoke, p).await?.into_stats()
    }

    /// `isMediaFlowingIn`: media entering the element from the pipeline.
    pub async fn is_media_flowing_in(&self, element: &str, media_type: MediaType) -> Result<bool> {
        let p = Self::media_params(Some(media_type));
        self.get_with(element, Operation::IsMediaFlowingIn, p).await
    }

    /// `isMediaFlowingOut`: media leaving the element into the pipeline (for
    /// a WebRtcEndpoint: what its remote peer sends).
    pub async fn is_media_flowing_out(&self, element: &str, media_type: MediaType) -> Result<bool> {
        let p = Self::media_params(Some(media_type));
        self.get_with(element, Operation::IsMediaFlowingOut, p)
            .await
    }

    /// `getGstreamerDot` of an element or pipeline.
    pub async fn get_gstreamer_dot(&self, object: &str) -> Result<String> {
        self.get(object, Operation::GetGstreamerDot).await
    }

    /// `getLatencyStats` of a pipeline.
    pub async fn get_latency_stats(&self, pipeline: &str) -> Result<bool> {
        self.get(pipeline, Operation::GetLatencyStats).await
    }

    // ---- BaseRtpEndpoint / WebRtcEndpoint / SdpEndpoint ----

    /// `getMediaState`.
    pub async fn get_media_state(&self, endpoint: &str) -> Result<MediaState> {
        self.get(endpoint, Operation::GetMediaState).await
    }

    /// `getConnectionState`.
    pub async fn get_connection_state(&self, endpoint: &str) -> Result<ConnectionState> {
        self.get(endpoint, Operation::GetConnectionState).await
    }

    /// `getIceConnectionState`: one entry per ICE component (`[]` before ICE).
    pub async fn get_ice_connection_state(&self, endpoint: &str) -> Result<Vec<IceConnection>> {
        self.get(endpoint, Operation::GetIceConnectionState).await
    }

    /// `getDtlsConnectionState`: one entry per DTLS component.
    pub async fn get_dtls_connection_state(&self, endpoint: &str) -> Result<Vec<DtlsConnection>> {
        self.get(endpoint, Operation::GetDtlsConnectionState).await
    }

    /// `getICECandidatePairs`: the selected pair of each component.
    pub async fn get_ice_candidate_pairs(&self, endpoint: &str) -> Result<Vec<IceCandidatePair>> {
        self.get(endpoint, Operation::GetIceCandidatePairs).await
    }

    /// `getLocalSessionDescriptor`; `None` before one was generated (KMS
    /// answers 40202, an expected answer, not a failure).
    pub async fn get_local_session_descriptor(&self, endpoint: &str) -> Result<Option<String>> {
        let r = self
            .invoke(endpoint, Operation::GetLocalSessionDescriptor, None)
            .await;
        sdp_or_none(
            "getLocalSessionDescriptor",
            r,
            code::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
        )
    }

    /// `getRemoteSessionDescriptor`; `None` before a remote one was processed
    /// (KMS answers 40203).
    pub async fn get_remote_session_descriptor(&self, endpoint: &str) -> Result<Option<String>> {
        let r = self
            .invoke(endpoint, Operation::GetRemoteSessionDescriptor, None)
            .await;
        sdp_or_none(
            "getRemoteSessionDescriptor",
            r,
            code::SDP_END_POINT_NO_REMOTE_SDP_ERROR,
        )
    }
}

/// A session description, or `None` when there is none yet: KMS's "no SDP"
/// error `none_code`, `null` or an empty string.
fn sdp_or_none(what: &str, r: Result<Value>, none_code: i64) -> Result<Option<String>> {
    match r {
        Err(ClientError::Kms { code, .. }) if code == none_code => Ok(None),
        Err(e) => Err(e),
        Ok(v) => Ok(Some(decode_sdp(what, v)?).filter(|s| !s.trim().is_empty())),
    }
}

/// An SDP string; `null` (no description yet) reads as empty.
pub(super) fn decode_sdp(what: &str, v: Value) -> Result<String> {
    match v {
        Value::Null => Ok(String::new()),
        v => decode(what, v),
    }
}
