//! The accept loop and the intake of each request, under `[http]`'s limits:
//!
//! ```text
//!   accept ─► error? pause (Backoff), one warning per interval (Throttle)
//!          ─► over http.max_connections? 503, close
//!          ─► connection task: TLS handshake (web config; `tls`), TimedIo
//!             (write deadline), header deadline
//!   request ─► basic credentials (web config's users; 401 otherwise)
//!          ─► route? method? ─► token of a mutating route, before any body
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
    HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONNECTION, CONTENT_LENGTH,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::throttle::Throttle;
use crate::web::{Shared, Users};

use super::limits::{connection_cap, Backoff, Limits, TimedIo};
use super::reply::{json_error, not_allowed, not_allowed_text, Resp};
use super::routes::{self, ApiRoute, Route};
use super::state::AppState;
use super::{auth, dispatch, not_found, Head};

/// The header of the API token (`auth::presented`).
const X_API_TOKEN: HeaderName = HeaderName::from_static("x-api-token");

/// The answer to a connection over `http.max_connections`.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 36\r\nconnection: close\r\nretry-after: 1\r\n\r\ntoo many connections; retry shortly\n";

/// Serve `listener` until `cancel`, then finish open requests; each new
/// connection under the web config then in force (`web`: TLS, basic auth).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    web: Shared,
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
        let conn = Conn {
            state: state.clone(),
            renders: renders.clone(),
            limits,
            web: web.clone(),
            cancel: cancel.clone(),
        };
        let tls = web.current().tls.clone();
        conns.spawn(async move {
            let _slot = slot;
            match tls {
                None => conn.serve(TimedIo::new(stream, limits.write_timeout)).await,
                Some(tls) => {
                    let accepted = tokio::select! {
                        s = super::tls::accept(tls, stream, limits) => s,
                        _ = conn.cancel.cancelled() => None,
                    };
                    if let Some(s) = accepted {
                        conn.serve(s).await;
                    }
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    while conns.join_next().await.is_some() {}
    state.watches.shutdown().await;
}

/// What one connection's task holds.
struct Conn {
    state: AppState,
    renders: Arc<Semaphore>,
    limits: Limits,
    /// The web config: its users are read at each request (a reload
    /// applies to open connections too), its TLS at the accept.
    web: Shared,
    cancel: CancellationToken,
}

impl Conn {
    /// Serve HTTP/1.1 on `io` (plain or TLS) until it closes, or finish its
    /// request and close on `cancel`.
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            state,
            renders,
            limits,
            web,
            cancel,
        } = self;
        let svc = service_fn(move |req: Request<Incoming>| {
            let state = state.clone();
            let renders = renders.clone();
            let users = web.current().users.clone();
            async move {
                Ok::<_, Infallible>(intake(&state, &renders, limits, users.as_deref(), req).await)
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let conn = builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = cancel.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
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

/// Take one request: basic credentials (when the web config names users),
/// route, method, token, body (in that order), then `dispatch`.
async fn intake(
    state: &AppState,
    renders: &Arc<Semaphore>,
    limits: Limits,
    users: Option<&Users>,
    req: Request<Incoming>,
) -> Resp {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let accept = header(ACCEPT);
    let authorization = header(AUTHORIZATION);
    if let Some(users) = users {
        if !users.admits(authorization.as_deref()).await {
            return closing(auth::basic_required());
        }
    }
    let api_token = header(X_API_TOKEN);
    let token = auth::presented(authorization.as_deref(), api_token.as_deref());
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
    if let Some(r) = guarded(&route).and_then(|what| auth::rejection(state, token, what)) {
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
        auth: token,
        gzip,
    };
    dispatch(state, renders, head, route, &body).await
}
