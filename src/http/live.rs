//! The operator API's live KMS reads: an endpoint's local and remote session
//! descriptions (`GET /api/v1/elements/{id}/negotiation`, with the parsed
//! view and the problems `model::negotiation::analyze` finds) and KMS's own
//! GStreamer graph of a pipeline (`GET /api/v1/pipelines/{id}/dot?gstreamer=1`).
//!
//! Each read goes through the target's shared client (`Clients`) within
//! `api.live_timeout`, then `unref`s the pipeline: reading an object
//! references it and its pipeline from the exporter's session, which would
//! keep an abandoned pipeline alive (PROTOCOL.md, "Sessions, references").
//! KMS errors answer 502, timeouts 504, an object KMS no longer knows 404.

use std::future::Future;

use serde_json::{json, Value};

use crate::kms::call::{self, CallError};
use crate::kms::{Client, ClientError};
use crate::model::negotiation::{analyze, Offerer};

use super::reply::{graphviz, json_resp, Resp};
use super::state::AppState;

/// Run `read` on the shared client of `target` within the live timeout, then
/// drop the session's reference to `pipeline` whatever happened.
async fn read_then_unref<T, F, Fut>(
    state: &AppState,
    target: &str,
    pipeline: &str,
    read: F,
) -> Result<T, CallError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let client = state.clients.call(target)?;
    let limit = state.api_config().live_timeout;
    call::read_then_unref(&client, pipeline, limit, read).await
}

fn non_empty(sdp: &str) -> Option<&str> {
    (!sdp.trim().is_empty()).then_some(sdp)
}

/// Both session descriptions of `element`, as KMS holds them, analyzed.
pub(super) async fn negotiation(
    state: &AppState,
    target: &str,
    element: &str,
    pipeline: &str,
) -> Resp {
    let read = |c: Client| async move {
        let local = c.get_local_session_descriptor(element).await?;
        let remote = c.get_remote_session_descriptor(element).await?;
        Ok((local.unwrap_or_default(), remote.unwrap_or_default()))
    };
    let (local, remote) = match read_then_unref(state, target, pipeline, read).await {
        Ok(v) => v,
        Err(e) => return e.into(),
    };
    let n = analyze(non_empty(&local), non_empty(&remote), Offerer::Unknown);
    let mut body = json!({
        "kms": target,
        "element": element,
        "local_sdp": non_empty(&local),
        "remote_sdp": non_empty(&remote),
    });
    if let (Value::Object(out), Ok(Value::Object(parsed))) = (&mut body, serde_json::to_value(&n)) {
        out.extend(parsed);
    }
    json_resp(&body)
}

/// KMS's `getGstreamerDot` of `pipeline`.
pub(super) async fn gstreamer_dot(state: &AppState, target: &str, pipeline: &str) -> Resp {
    let read = |c: Client| async move { c.get_gstreamer_dot(pipeline).await };
    match read_then_unref(state, target, pipeline, read).await {
        Ok(dot) => graphviz(dot),
        Err(e) => e.into(),
    }
}
