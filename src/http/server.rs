//! The accept loop and the intake of each request, under `[http]`'s limits:
//!
//! ```text
//!   accept ─► error? pause (Backoff), one warning per interval (Throttle)
//!          ─► over http.max_connections? 503, close
//!          ─► connection task: TimedIo (write deadline), header deadline
//!   request ─► route? method? ─► token of a mutating route, before any body
//!          ─► body (routes other than GET/HEAD): declared size, size cap,
//!             read deadline ─► dispatch
//! ```
//!
//! A client that sends its body slowly without the token gets 401 at once
//! and its connection closes; one that never reads its response is dropped
//! after `write_timeout` without progress.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_LENGTH,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::throttle::Throttle;

use super::limits::{connection_cap, Backoff, Limits, TimedIo};
use super::reply::{json_error, not_allowed, not_allowed_text, Resp};
use super::routes::{self, ApiRoute, Route};
use super::state::AppState;
use super::{auth, dispatch, not_found, Head};

/// The answer to a connection over `http.max_connections`.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 36\r\nconnection: close\r\nretry-after: 1\r\n\r\ntoo many connections; retry shortly\n";

/// Serve `listener` until `cancel`, then finish open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    cancel: CancellationToken,
) {
    let cap = connection_cap(limits.max_connections);
    let slots = Arc::new(Semaphore::new(cap));
    let renders = Arc::new(Semaphore::new(limits.max_concurrent_renders.max(1)));
    let accept_errors = Throttle::default();
    let refused = Throttle::default();
    let mut backoff = Backoff::new(limits.accept_backoff_max);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((s, _)) => {
                backoff.succeeded();
                s
            }
            Err(e) => {
                let pause = backoff.failed();
                if let Some(count) = accept_errors.hit() {
                    tracing::warn!(error = %e, count, ?pause, "accept failed; pausing");
                }
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Never waits on this client: what fits in the socket buffer.
            let _ = stream.try_write(BUSY);
            if let Some(count) = refused.hit() {
                tracing::warn!(
                    count,
                    max_connections = cap,
                    "connection limit reached; answering 503"
                );
            }
            continue;
        };
        let state = state.clone();
        let cancel = cancel.clone();
        let renders = renders.clone();
        conns.spawn(async move {
            let _slot = slot;
            let svc = service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                let renders = renders.clone();
                async move { Ok::<_, Infallible>(intake(&state, &renders, limits, req).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192));
            let io = TokioIo::new(TimedIo::new(stream, limits.write_timeout));
            let conn = builder.serve_connection(io, svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
    state.watches.shutdown().await;
}

/// What a mutating route is called in its 401/403 (`auth::rejection`);
/// none for the routes anyone may call.
fn guarded(route: &Route) -> Option<&'static str> {
    match route {
        Route::Release(_) => Some("manual release"),
        Route::Api(ApiRoute::Watch(_)) => Some("watching"),
        Route::Api(ApiRoute::AttachPlayer(_) | ApiRoute::DetachPlayer(..)) => {
            Some("attaching players")
        }
        _ => None,
    }
}

/// `r`, and the connection closes after it (a body left unread).
fn closing(mut r: Resp) -> Resp {
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Read a request's body under the size cap and the read deadline.
async fn read_body(req: Request<Incoming>, limits: Limits) -> Result<Bytes, Resp> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        closing(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body over {} bytes (http.max_body_bytes)",
                limits.max_body_bytes
            ),
        ))
    };
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let read = Limited::new(req.into_body(), limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(closing(json_error(StatusCode::BAD_REQUEST, e))),
        Err(_) => Err(closing(json_error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "body not received within {:?} (http.body_read_timeout)",
                limits.body_read_timeout
            ),
        ))),
    }
}

/// Take one request: route, method, token, body (in that order), then
/// `dispatch`.
async fn intake(
    state: &AppState,
    renders: &Arc<Semaphore>,
    limits: Limits,
    req: Request<Incoming>,
) -> Resp {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let accept = header(ACCEPT);
    let auth = header(AUTHORIZATION);
    let gzip = crate::metrics::accepts_gzip(header(ACCEPT_ENCODING).as_deref());
    let uri = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let method = req.method().clone();
    let path = uri.split_once('?').map_or(uri.as_str(), |(p, _)| p);
    let Some((route, allow)) = routes::find(path) else {
        return not_found();
    };
    if !allow.permits(&method) {
        return match route {
            Route::Api(_) => not_allowed(allow.header()),
            _ => not_allowed_text(allow.header()),
        };
    }
    if let Some(r) = guarded(&route).and_then(|what| auth::rejection(state, auth.as_deref(), what))
    {
        return closing(r);
    }
    let body = if method == Method::GET || method == Method::HEAD {
        Bytes::new()
    } else {
        match read_body(req, limits).await {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let head = Head {
        uri: &uri,
        accept: accept.as_deref(),
        auth: auth.as_deref(),
        gzip,
    };
    dispatch(state, renders, head, route, &body).await
}
