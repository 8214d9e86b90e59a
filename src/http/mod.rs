//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, the Node Graph API
//! (`/api/health`, `/api/graph/*`), the reaper's API (`reaper_api`) and the
//! operator API (`api`: targets, pipelines, elements, their events,
//! negotiation, DOT; `own_api`: watches and player attachments, made by
//! `own`; documented in `docs/openapi.yaml`). Bounded header size and header
//! read timeout.
//!
//! ```text
//!   request ─► routes::find (the one table) ─► 404 text │ 405 + Allow │ route
//!     Page ─► pages (model, metrics, readiness, graph, zombies)
//!     Release ─► reaper_api ─► reaper
//!     Api ─► api ─► views │ dot │ live (kms::call on the shared client) │ own_api ─► own
//! ```
//!
//! Files import one another in one direction only (leaves: `reply`,
//! `state`, `routes`, `lookup`, `auth`); `http` calls `own`, never the
//! reverse. `route` answers the model-only pages synchronously; `dispatch`
//! answers everything.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::ACCEPT;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod api;
mod auth;
mod console;
mod dot;
mod graph;
mod live;
mod lookup;
mod own_api;
mod pages;
mod paint;
mod reaper_api;
mod reply;
mod routes;
mod state;
mod views;

pub use reply::Resp;
pub use state::AppState;

use reply::{json_error, not_allowed, not_allowed_text, text};
use routes::Route;

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

/// Answer one request for a model-only page (no I/O beyond reading shared
/// state); any other path is not found here.
pub fn route(state: &AppState, method: &Method, uri: &str, accept: Option<&str>) -> Resp {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    match routes::find(path) {
        Some((Route::Page(_), allow)) if !allow.permits(method) => not_allowed_text(allow.header()),
        Some((Route::Page(page), _)) => pages::answer(state, page, query, accept),
        _ => not_found(),
    }
}

fn not_found() -> Resp {
    text(StatusCode::NOT_FOUND, "not found\n")
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

/// Answer one request: its route in the table (404 when none), the method
/// checked (405 with `Allow`: a JSON body for the operator API, text for the
/// rest), then the page, the reaper's release or the operator API.
async fn dispatch(state: &AppState, h: Head<'_>, body: &[u8]) -> Resp {
    let (path, query) = h.uri.split_once('?').unwrap_or((h.uri, ""));
    let Some((route, allow)) = routes::find(path) else {
        return not_found();
    };
    if !allow.permits(h.method) {
        return match route {
            Route::Api(_) => not_allowed(allow.header()),
            _ => not_allowed_text(allow.header()),
        };
    }
    match route {
        Route::Page(page) => pages::answer(state, page, query, h.accept),
        Route::Release(object) => reaper_api::release(state, &object, h.auth).await,
        Route::Api(r) => api::handle(state, r, query, h.auth, body).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use hyper::header::{ALLOW, CONTENT_TYPE};

    use crate::kms::Clients;
    use crate::metrics::Metrics;
    use crate::model::{Store, Update};
    use crate::own::{Players, Watches};
    use routes::{decode, param};

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
            scrape_interval: Arc::default(),
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
