//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, the Node Graph API
//! (`/api/health`, `/api/graph/*`), the reaper's API (`reaper_api`) and the
//! operator API (`api`: targets, pipelines, elements, their events,
//! negotiation, DOT, watches and player attachments; documented in `docs/openapi.yaml`).
//! Bounded header size and header read timeout; 405 with `Allow` on a wrong
//! method. `route` answers the model-only pages synchronously; `dispatch`
//! sends `/api/v1/...` to the async handlers (some read KMS live, with a
//! timeout, through the registered `Clients`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::PoisonError;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod api;
mod auth;
mod dot;
mod graph;
mod live;
mod lookup;
mod own_api;
mod reaper_api;
mod reply;
mod routes;
mod state;
mod views;

pub use reply::Resp;
pub use state::AppState;

use reply::{json_error, json_resp, not_allowed_text, text};
use routes::param;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
}

/// Answer one request (no I/O beyond reading shared state).
pub fn route(state: &AppState, method: &Method, uri: &str, accept: Option<&str>) -> Resp {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let allowed = matches!(
        path,
        "/metrics"
            | "/healthz"
            | "/readyz"
            | "/api/health"
            | "/api/graph/fields"
            | "/api/graph/data"
            | "/api/v1/zombies"
    );
    if !allowed {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        return not_allowed_text("GET, HEAD");
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
        "/healthz" | "/api/health" => text(StatusCode::OK, "ok\n"),
        "/api/graph/fields" => json_resp(&graph::fields()),
        "/api/graph/data" => json_resp(&graph::data(
            &state.store,
            param(query, "kms").as_deref(),
            param(query, "pipeline").as_deref(),
        )),
        "/api/v1/zombies" => reaper_api::zombies(state, param(query, "kms").as_deref()),
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
                let uri = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let auth = req
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let method = req.method().clone();
                let state = state.clone();
                async move {
                    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(_) => {
                            let r = json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
                            return Ok::<_, Infallible>(r);
                        }
                    };
                    let head = Head {
                        method: &method,
                        uri: &uri,
                        accept: accept.as_deref(),
                        auth: auth.as_deref(),
                    };
                    Ok::<_, Infallible>(dispatch(&state, head, &body).await)
                }
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
    state.watches.shutdown().await;
}

/// Largest request body read (the API's bodies are small JSON documents).
const MAX_BODY: usize = 64 * 1024;

/// What `dispatch` needs of a request besides its body.
struct Head<'a> {
    method: &'a Method,
    uri: &'a str,
    accept: Option<&'a str>,
    auth: Option<&'a str>,
}

/// Answer one request: the reaper's release, the operator API, or `route`.
async fn dispatch(state: &AppState, h: Head<'_>, body: &[u8]) -> Resp {
    let (path, query) = h.uri.split_once('?').unwrap_or((h.uri, ""));
    if let Some(object) = reaper_api::release_path(path) {
        return reaper_api::release(state, h.method, &object, h.auth).await;
    }
    if let Some(r) = api::parse(path) {
        return api::handle(state, h.method, r, query, h.auth, body).await;
    }
    route(state, h.method, h.uri, h.accept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use hyper::header::ALLOW;

    use crate::kms::Clients;
    use crate::metrics::Metrics;
    use crate::model::{Store, Update};
    use crate::own::{Players, Watches};
    use routes::decode;

    fn state() -> AppState {
        let store = Store::default();
        AppState {
            metrics: Arc::new(Metrics::new(store.clone(), vec![], 100)),
            store,
            readiness: Arc::default(),
            reaper: None,
            clients: Clients::default(),
            api: Arc::default(),
            watches: Watches::default(),
            players: Players::new(crate::own::Ownership::new(
                crate::policy::PolicyConfig::default().owner_tag,
            )),
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
    fn query_parameters_are_decoded() {
        assert_eq!(
            param("a=1&pipeline=x%2Fy+z", "pipeline").as_deref(),
            Some("x/y z")
        );
        assert_eq!(param("pipeline=", "pipeline"), None);
        assert_eq!(param("", "pipeline"), None);
        assert_eq!(decode("%zz%4"), "%zz%4");
        let s = state();
        let r = route(&s, &Method::GET, "/api/graph/data?pipeline=p", None);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(route(&s, &Method::GET, "/api/health", None).status(), 200);
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
