//! The operator API's live KMS reads: an endpoint's local and remote session
//! descriptions (`GET /api/v1/elements/{id}/negotiation`, with the parsed
//! view and the problems `model::negotiation::analyze` finds) and KMS's own
//! GStreamer graph of a pipeline (`GET /api/v1/pipelines/{id}/dot?gstreamer=1`).
//!
//! Each read passes the target's gate (`gate`: concurrency and rate, 429
//! beyond), goes through the target's shared client (`Clients`) within
//! `api.live_timeout`, each request counted in
//! `kurento_exporter_rpc_requests_total`, then `unref`s the pipeline: reading an object
//! references it and its pipeline from the exporter's session, which would
//! keep an abandoned pipeline alive (PROTOCOL.md, "Sessions, references").
//! KMS errors answer 502, timeouts 504, an object KMS no longer knows 404.
//! The SDPs' ICE credentials (`a=ice-ufrag`, `a=ice-pwd`) are redacted
//! unless the request carries the API token.

use std::future::Future;
use std::time::{Duration, Instant};

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::kms::call::{within, CallError};
use crate::kms::{Client, ClientError};
use crate::metrics::Outcome;
use crate::model::negotiation::{analyze, Offerer};

use super::gate::Refused;
use super::reply::{graphviz, json_error, json_resp, Resp};
use super::state::AppState;

/// What stands in for a credential the request may not see.
pub const REDACTED: &str = "<redacted>";

/// `sdp` with the values of `a=ice-ufrag` and `a=ice-pwd` (the ICE
/// credentials of the session) replaced by `REDACTED`; line endings kept.
pub fn redact_sdp(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\r', '\n']);
            let end = &line[body.len()..];
            let lower = body.trim_start().to_ascii_lowercase();
            match ["a=ice-ufrag:", "a=ice-pwd:"]
                .iter()
                .find(|p| lower.starts_with(*p))
            {
                Some(p) => format!("{p}{REDACTED}{end}"),
                None => line.to_string(),
            }
        })
        .collect()
}

/// The outcome label of a KMS request, for `kurento_exporter_rpc_requests_total`.
fn outcome<T>(r: &Result<T, ClientError>) -> Outcome {
    match r {
        Ok(_) => Outcome::ok,
        Err(ClientError::ObjectNotFound { .. }) => Outcome::not_found,
        Err(ClientError::Timeout { .. }) => Outcome::timeout,
        Err(ClientError::Disconnected | ClientError::Shutdown) => Outcome::disconnected,
        Err(ClientError::Kms { .. }) => Outcome::kms_error,
        Err(ClientError::Protocol(_)) => Outcome::protocol,
    }
}

/// One KMS request of a live read, within `limit`, counted in the RPC
/// metrics of `target` like the scrape's.
async fn counted<T>(
    state: &AppState,
    target: &str,
    method: &'static str,
    limit: Duration,
    request: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let start = Instant::now();
    let r = match tokio::time::timeout(limit, request).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Timeout {
            method: method.into(),
            timeout_ms: limit.as_millis() as u64,
        }),
    };
    state
        .metrics
        .exporter
        .rpc(target, method, outcome(&r), start.elapsed().as_secs_f64());
    r
}

/// Let one live read of `target` through its gate (`api.live_*`), run
/// `read` on the target's shared client within the live timeout, then drop
/// the session's reference to `pipeline` whatever happened.
async fn gated_read<T, F, Fut>(
    state: &AppState,
    target: &str,
    pipeline: &str,
    read: F,
) -> Result<T, Resp>
where
    F: FnOnce(Client, Duration) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let api = state.api_config();
    let _permit = match state.live.enter(
        target,
        api.live_max_concurrent,
        api.live_reads_per_second,
        Instant::now(),
    ) {
        Ok(p) => p,
        Err(why) => return Err(refused(target, why)),
    };
    let client = state
        .clients
        .call(target)
        .map_err(|e: CallError| -> Resp { e.into() })?;
    let limit = api.live_timeout;
    let result = within(limit, read(client.clone(), limit)).await;
    let unref = counted(state, target, "unref", limit, client.unref(pipeline));
    let _ = unref.await;
    result.map_err(Resp::from)
}

fn refused(target: &str, why: Refused) -> Resp {
    let what = match why {
        Refused::Busy => "api.live_max_concurrent live reads of this target are running",
        Refused::Rate => "api.live_reads_per_second reached for this target",
    };
    let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, format!("{target}: {what}"));
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn non_empty(sdp: &str) -> Option<&str> {
    (!sdp.trim().is_empty()).then_some(sdp)
}

/// Both session descriptions of `element`, as KMS holds them, analyzed;
/// their ICE credentials redacted unless `reveal` (the request carries the
/// API token).
pub(super) async fn negotiation(
    state: &AppState,
    target: &str,
    element: &str,
    pipeline: &str,
    reveal: bool,
) -> Resp {
    let read = |c: Client, limit: Duration| async move {
        let (local, remote) = tokio::join!(
            counted(
                state,
                target,
                "getLocalSessionDescriptor",
                limit,
                c.get_local_session_descriptor(element)
            ),
            counted(
                state,
                target,
                "getRemoteSessionDescriptor",
                limit,
                c.get_remote_session_descriptor(element)
            ),
        );
        Ok((local?.unwrap_or_default(), remote?.unwrap_or_default()))
    };
    let (local, remote) = match gated_read(state, target, pipeline, read).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let n = analyze(non_empty(&local), non_empty(&remote), Offerer::Unknown);
    let shown =
        |sdp: &str| non_empty(sdp).map(|s| if reveal { s.to_string() } else { redact_sdp(s) });
    let mut body = json!({
        "kms": target,
        "element": element,
        "local_sdp": shown(&local),
        "remote_sdp": shown(&remote),
        "credentials_redacted": !reveal,
    });
    if let (Value::Object(out), Ok(Value::Object(parsed))) = (&mut body, serde_json::to_value(&n)) {
        out.extend(parsed);
    }
    json_resp(&body)
}

/// KMS's `getGstreamerDot` of `pipeline`.
pub(super) async fn gstreamer_dot(state: &AppState, target: &str, pipeline: &str) -> Resp {
    let read = |c: Client, limit: Duration| async move {
        counted(
            state,
            target,
            "getGstreamerDot",
            limit,
            c.get_gstreamer_dot(pipeline),
        )
        .await
    };
    match gated_read(state, target, pipeline, read).await {
        Ok(dot) => graphviz(dot),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_credentials_are_redacted_and_nothing_else() {
        let sdp = "v=0\r\na=ice-ufrag:abcd\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=ice-pwd:s3cretpassword1234567890\r\na=fingerprint:sha-256 AA:BB\r\nA=ICE-PWD:x\n";
        let r = redact_sdp(sdp);
        assert!(
            !r.contains("abcd") && !r.contains("s3cret") && !r.contains(":x\n"),
            "{r}"
        );
        assert_eq!(r.matches(REDACTED).count(), 3);
        assert!(r.contains("a=fingerprint:sha-256 AA:BB\r\n"));
        assert_eq!(r.lines().count(), sdp.lines().count());
        assert!(r.starts_with("v=0\r\na=ice-ufrag:<redacted>\r\n"), "{r}");
        assert_eq!(redact_sdp(""), "");
    }
}
