//! Executes one planned read against KMS and turns the answers into model
//! updates and bookkeeping changes. Every request is timed and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::kms::types::MediaType;
use crate::kms::{Client, ClientError};
use crate::metrics::{ErrorKind, ExporterMetrics, Outcome};
use crate::model::{Direction, Element, EndpointChange, Millis, ObjectId, Pipeline, Update};

use super::convert;
use super::plan::Read;
use kms_proto::ids::{is_hub, is_hub_port, pipeline_of, type_of};

/// A client instrumented for one target.
pub struct Rpc {
    pub client: Client,
    pub kms: String,
    pub metrics: ExporterMetrics,
    /// Requests sent since the counter was last taken.
    sent: AtomicU64,
}

impl Rpc {
    pub fn new(client: Client, kms: String, metrics: ExporterMetrics) -> Self {
        Rpc {
            client,
            kms,
            metrics,
            sent: AtomicU64::new(0),
        }
    }

    /// Run one request, recording its outcome and duration.
    pub async fn call<T>(
        &self,
        method: &'static str,
        fut: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let res = fut.await;
        let outcome = match &res {
            Ok(_) => Outcome::ok,
            Err(ClientError::ObjectNotFound { .. }) => Outcome::not_found,
            Err(ClientError::Timeout { .. }) => Outcome::timeout,
            Err(ClientError::Disconnected | ClientError::Shutdown) => Outcome::disconnected,
            Err(ClientError::Kms { .. }) => Outcome::kms_error,
            Err(ClientError::Protocol(_)) => Outcome::protocol,
        };
        self.metrics
            .rpc(&self.kms, method, outcome, start.elapsed().as_secs_f64());
        match &res {
            Err(ClientError::Timeout { .. }) => self.metrics.error(&self.kms, ErrorKind::timeout),
            Err(ClientError::Protocol(_)) => self.metrics.error(&self.kms, ErrorKind::protocol),
            Err(e @ ClientError::Kms { .. }) => {
                tracing::debug!(kms = %self.kms, method, error = %e, "KMS answered an error");
                self.metrics.error(&self.kms, ErrorKind::kms_error)
            }
            _ => {}
        }
        res
    }

    /// Requests sent since the last call.
    pub fn take_sent(&self) -> u64 {
        self.sent.swap(0, Ordering::Relaxed)
    }
}

/// What one read produced.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub updates: Vec<Update>,
    /// Identity fields were read.
    pub identity_read: bool,
    /// States were read.
    pub states_read: bool,
    /// Both SDPs are now known.
    pub sdp_complete: bool,
    /// SSRC → media type learnt.
    pub ssrc_media: HashMap<String, MediaType>,
    /// The object no longer exists (40101).
    pub gone: Option<ObjectId>,
    /// The connection failed during the read.
    pub transport_error: bool,
}

impl ReadResult {
    /// Fold an error into the result; `Ok` values pass through.
    fn check<T>(&mut self, id: &str, r: Result<T, ClientError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(ClientError::ObjectNotFound { .. }) => {
                self.gone = Some(id.to_string());
                None
            }
            Err(ClientError::Disconnected | ClientError::Shutdown) => {
                self.transport_error = true;
                None
            }
            Err(_) => None,
        }
    }
}

/// Execute one read. `known_media` is the SSRC map learnt so far.
pub async fn execute(
    rpc: &Rpc,
    read: &Read,
    known_media: &HashMap<String, MediaType>,
    now: Millis,
) -> ReadResult {
    let mut out = ReadResult::default();
    match read {
        Read::PipelineIdentity(id) => pipeline_identity(rpc, id, now, &mut out).await,
        Read::Identity { id, endpoint } => {
            element_identity(rpc, id, now, &mut out).await;
            if *endpoint && out.gone.is_none() {
                let webrtc = type_of(id) == "WebRtcEndpoint";
                endpoint_states(rpc, id, webrtc, true, true, now, &mut out).await;
            }
            out.states_read = true;
        }
        Read::Stats(id) => stats(rpc, id, known_media, &mut out).await,
        Read::Flow {
            id,
            direction,
            media,
        } => {
            let c = &rpc.client;
            let r = match direction {
                Direction::In => {
                    rpc.call("isMediaFlowingIn", c.is_media_flowing_in(id, *media))
                        .await
                }
                Direction::Out => {
                    rpc.call("isMediaFlowingOut", c.is_media_flowing_out(id, *media))
                        .await
                }
            };
            if let Some(flowing) = out.check(id, r) {
                out.updates.push(Update::Flow {
                    element: id.clone(),
                    direction: *direction,
                    media: *media,
                    flowing,
                    at: now,
                });
            }
        }
        Read::States {
            id,
            endpoint,
            webrtc,
            sdp,
            full,
        } => {
            tags_and_sinks(rpc, id, &mut out).await;
            if *endpoint && out.gone.is_none() {
                endpoint_states(rpc, id, *webrtc, *sdp, *full, now, &mut out).await;
            }
            out.states_read = true;
        }
    }
    out
}

async fn pipeline_identity(rpc: &Rpc, id: &str, now: Millis, out: &mut ReadResult) {
    let c = &rpc.client;
    let (name, created, tags) = tokio::join!(
        rpc.call("getName", c.get_name(id)),
        rpc.call("getCreationTime", c.get_creation_time(id)),
        rpc.call("getTags", c.get_tags(id)),
    );
    let (Some(name), created, tags) = (
        out.check(id, name),
        out.check(id, created),
        out.check(id, tags),
    ) else {
        return;
    };
    out.updates.push(Update::Pipeline(Pipeline {
        id: id.to_string(),
        name,
        tags: convert::tags(tags.unwrap_or_default()),
        created: created.and_then(|c| u64::try_from(c).ok()),
        first_seen: now,
        rev: 0,
    }));
    out.identity_read = out.gone.is_none();
}

async fn element_identity(rpc: &Rpc, id: &str, now: Millis, out: &mut ReadResult) {
    let c = &rpc.client;
    // A hub port's parent is its hub (read once, with the identity).
    let hub = async {
        if is_hub_port(type_of(id)) {
            Some(rpc.call("getParent", c.get_parent(id)).await)
        } else {
            None
        }
    };
    let (name, created, tags, sinks, hub) = tokio::join!(
        rpc.call("getName", c.get_name(id)),
        rpc.call("getCreationTime", c.get_creation_time(id)),
        rpc.call("getTags", c.get_tags(id)),
        sinks(rpc, id),
        hub,
    );
    let name = out.check(id, name);
    let created = out.check(id, created);
    let tags = out.check(id, tags);
    let sinks = sinks.and_then(|r| out.check(id, r));
    let hub = hub
        .and_then(|r| out.check(id, r))
        .flatten()
        .filter(|h| is_hub(type_of(h)));
    if out.gone.is_some() {
        return;
    }
    out.updates.push(Update::Element(Box::new(Element {
        id: id.to_string(),
        pipeline: pipeline_of(id).to_string(),
        element_type: type_of(id).to_string(),
        name: name.unwrap_or_else(|| id.to_string()),
        tags: convert::tags(tags.unwrap_or_default()),
        created: created.and_then(|c| u64::try_from(c).ok()),
        first_seen: now,
        hub,
        ..Default::default()
    })));
    if let Some(sinks) = sinks {
        out.updates.push(Update::Sinks {
            source: id.to_string(),
            sinks: convert::sinks(sinks),
        });
    }
    out.identity_read = !out.transport_error;
}

/// `getSinkConnections`, for elements that have connections (not hubs).
async fn sinks(
    rpc: &Rpc,
    id: &str,
) -> Option<Result<Vec<crate::kms::types::ElementConnectionData>, ClientError>> {
    if is_hub(type_of(id)) {
        return None;
    }
    Some(
        rpc.call(
            "getSinkConnections",
            rpc.client.get_sink_connections(id, None),
        )
        .await,
    )
}

async fn tags_and_sinks(rpc: &Rpc, id: &str, out: &mut ReadResult) {
    let c = &rpc.client;
    let (tags, sinks) = tokio::join!(rpc.call("getTags", c.get_tags(id)), sinks(rpc, id));
    if let Some(tags) = out.check(id, tags) {
        out.updates.push(Update::Tags {
            object: id.to_string(),
            tags: convert::tags(tags),
        });
    }
    if let Some(sinks) = sinks.and_then(|r| out.check(id, r)) {
        out.updates.push(Update::Sinks {
            source: id.to_string(),
            sinks: convert::sinks(sinks),
        });
    }
}

async fn endpoint_states(
    rpc: &Rpc,
    id: &str,
    webrtc: bool,
    sdp: bool,
    connection: bool,
    now: Millis,
    out: &mut ReadResult,
) {
    let c = &rpc.client;
    // DTLS, like the connection state, is read at discovery and when counters
    // stop (a clean hang-up closes DTLS at once; flow stops within seconds).
    let ice = async {
        if webrtc {
            let dtls = async {
                if connection {
                    Some(
                        rpc.call("getDtlsConnectionState", c.get_dtls_connection_state(id))
                            .await,
                    )
                } else {
                    None
                }
            };
            Some(tokio::join!(
                rpc.call("getIceConnectionState", c.get_ice_connection_state(id)),
                dtls,
            ))
        } else {
            None
        }
    };
    let sdps = async {
        if sdp {
            let (l, r) = tokio::join!(
                rpc.call(
                    "getLocalSessionDescriptor",
                    c.get_local_session_descriptor(id)
                ),
                rpc.call(
                    "getRemoteSessionDescriptor",
                    c.get_remote_session_descriptor(id)
                ),
            );
            Some((l, r))
        } else {
            None
        }
    };
    let conn = async {
        if connection {
            Some(
                rpc.call("getConnectionState", c.get_connection_state(id))
                    .await,
            )
        } else {
            None
        }
    };
    let (media, conn, ice, sdps) = tokio::join!(
        rpc.call("getMediaState", c.get_media_state(id)),
        conn,
        ice,
        sdps,
    );
    let change = |out: &mut ReadResult, change| {
        out.updates.push(Update::Endpoint {
            element: id.to_string(),
            change,
            at: now,
        })
    };
    if let Some(s) = out.check(id, media) {
        change(out, EndpointChange::MediaState(s));
    }
    if let Some(Some(s)) = conn.map(|r| out.check(id, r)) {
        change(out, EndpointChange::ConnectionState(s));
    }
    if let Some((ice, dtls)) = ice {
        if let Some(all) = out.check(id, ice) {
            change(out, EndpointChange::IceAll(convert::ice(all)));
        }
        if let Some(state) = dtls.and_then(|r| out.check(id, r)).and_then(convert::dtls) {
            change(out, EndpointChange::Dtls(state));
        }
    }
    if let Some((l, r)) = sdps {
        // A never-negotiated endpoint has no descriptor yet (`None`: KMS's
        // "no SDP" answer, evidence for the policy); a failed read changes nothing.
        let l = out.check(id, l);
        let r = out.check(id, r);
        out.sdp_complete = matches!((&l, &r), (Some(Some(_)), Some(Some(_))));
        if let Some(l) = l {
            change(out, EndpointChange::LocalSdp(l));
        }
        if let Some(r) = r {
            change(out, EndpointChange::RemoteSdp(r));
        }
    }
}

async fn stats(
    rpc: &Rpc,
    id: &str,
    known_media: &HashMap<String, MediaType>,
    out: &mut ReadResult,
) {
    let c = &rpc.client;
    let read_at = crate::clock::now_millis();
    let r = rpc.call("getStats", c.get_stats(id, None)).await;
    let Some(map) = out.check(id, r) else { return };
    let Some(map) = map else {
        // Never negotiated: no streams yet.
        return;
    };
    let mut media = known_media.clone();
    if convert::ssrcs(&map).any(|s| !media.contains_key(s)) {
        // KMS stats carry no media kind: learn it once per new SSRC.
        for m in [MediaType::AUDIO, MediaType::VIDEO] {
            let r = rpc.call("getStats", c.get_stats(id, Some(m))).await;
            if let Some(Some(typed)) = out.check(id, r) {
                for s in convert::ssrcs(&typed) {
                    media.insert(s.to_string(), m);
                    out.ssrc_media.insert(s.to_string(), m);
                }
            }
        }
    }
    out.updates.push(Update::Stats {
        element: id.to_string(),
        sample: convert::sample(&map, &media, read_at),
    });
}
