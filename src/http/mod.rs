//! The HTTP server: `/metrics`, `/healthz`, `/readyz` (and the operator API
//! as it grows). Bounded header size and header read timeout; 405 on a wrong
//! method. Handlers only read the model and render: no KMS I/O here.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::model::Store;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    /// Targets `/readyz` waits for; empty = every target.
    pub readiness: Arc<RwLock<Vec<String>>>,
}

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
}

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answer one request (no I/O beyond reading shared state).
pub fn route(state: &AppState, method: &Method, path: &str, accept: Option<&str>) -> Resp {
    let path = path.split('?').next().unwrap_or(path);
    let allowed = matches!(path, "/metrics" | "/healthz" | "/readyz");
    if !allowed {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => match state.metrics.render(accept) {
            Ok((ct, body)) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                r
            }
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"),
        },
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => readiness(state),
    }
}

fn readiness(state: &AppState) -> Resp {
    let wanted = state
        .readiness
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let targets = state.store.targets();
    let mut waiting = Vec::new();
    for t in &targets {
        let m = t.read();
        if (wanted.is_empty() || wanted.contains(&m.name)) && !m.health.synced_once {
            waiting.push(m.name.clone());
        }
    }
    if targets.is_empty() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "no targets\n");
    }
    if waiting.is_empty() {
        text(StatusCode::OK, "ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for first sync of: {}\n", waiting.join(", ")),
        )
    }
}

/// Bind `addr`; serve until `cancel`, then finish open requests.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    cancel: CancellationToken,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        let cancel = cancel.clone();
        conns.spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let accept = req
                    .headers()
                    .get(ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let r = route(&state, req.method(), req.uri().path(), accept.as_deref());
                async move { Ok::<_, Infallible>(r) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192));
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Update;

    fn state() -> AppState {
        let store = Store::default();
        AppState {
            metrics: Arc::new(Metrics::new(store.clone(), vec![], 100)),
            store,
            readiness: Arc::default(),
        }
    }

    #[test]
    fn routes_and_methods() {
        let s = state();
        assert_eq!(route(&s, &Method::GET, "/healthz", None).status(), 200);
        assert_eq!(route(&s, &Method::GET, "/nope", None).status(), 404);
        let r = route(&s, &Method::POST, "/metrics", None);
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[ALLOW], "GET, HEAD");
        let r = route(
            &s,
            &Method::GET,
            "/metrics?x=1",
            Some("application/openmetrics-text"),
        );
        assert_eq!(r.status(), 200);
        assert!(r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
    }

    #[test]
    fn ready_only_after_first_sync_of_wanted_targets() {
        let s = state();
        assert_eq!(route(&s, &Method::GET, "/readyz", None).status(), 503);
        s.store.target("a");
        s.store.target("b");
        assert_eq!(route(&s, &Method::GET, "/readyz", None).status(), 503);
        s.store
            .target("a")
            .write()
            .apply(Update::Synced { ok: true, at: 1 });
        assert_eq!(route(&s, &Method::GET, "/readyz", None).status(), 503);
        *s.readiness.write().unwrap() = vec!["a".into()];
        assert_eq!(route(&s, &Method::GET, "/readyz", None).status(), 200);
    }
}
