//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, the Node Graph API
//! (`/api/health`, `/api/graph/*`), the reaper's API (`reaper_api`) and the
//! operator API (`api`: targets, pipelines, elements, their events,
//! negotiation, DOT; `own_api`: watches and player attachments, made by
//! `own`; documented in `docs/openapi.yaml`). What one client may hold is
//! bounded (`server`, `limits`: `[http]`).
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

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

mod api;
mod auth;
mod console;
mod dot;
mod gate;
mod graph;
mod limits;
mod live;
mod lookup;
mod own_api;
mod pages;
mod paint;
mod reaper_api;
mod reply;
mod routes;
mod server;
mod state;
mod tls;
mod views;

pub use limits::Limits;
pub use reply::Resp;
pub use server::serve;
pub use state::AppState;

use reply::{not_allowed_text, text};
use routes::{Page, Route};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Answer one request for a model-only page (no I/O beyond reading shared
/// state); any other path is not found here.
pub fn route(state: &AppState, method: &Method, uri: &str, accept: Option<&str>) -> Resp {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    match routes::find(path) {
        Some((Route::Page(_), allow)) if !allow.permits(method) => not_allowed_text(allow.header()),
        Some((Route::Page(page), _)) => pages::answer(state, page, query, accept, false),
        _ => not_found(),
    }
}

fn not_found() -> Resp {
    text(StatusCode::NOT_FOUND, "not found\n")
}

/// Bind `addr` (then `serve` it).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// What `dispatch` needs of a request besides its body.
struct Head<'a> {
    uri: &'a str,
    accept: Option<&'a str>,
    auth: Option<&'a str>,
    /// `Accept-Encoding` allows gzip.
    gzip: bool,
}

/// Answer one request whose route and method `server::intake` checked:
/// the page (rendered off the async workers, at most
/// `http.max_concurrent_renders` at once; `/healthz` and `/readyz` inline,
/// never waiting), the reaper's release or the operator API.
async fn dispatch(
    state: &AppState,
    renders: &Arc<Semaphore>,
    h: Head<'_>,
    route: Route,
    body: &[u8],
) -> Resp {
    let (_, query) = h.uri.split_once('?').unwrap_or((h.uri, ""));
    match route {
        Route::Page(page @ (Page::Health | Page::Readiness)) => {
            pages::answer(state, page, query, h.accept, false)
        }
        Route::Page(page) => {
            // Waits for a render slot, never holding an async worker.
            let Ok(slot) = renders.clone().acquire_owned().await else {
                return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
            };
            let (state, query) = (state.clone(), query.to_owned());
            let accept = h.accept.map(str::to_owned);
            let gzip = h.gzip;
            let render = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                pages::answer(&state, page, &query, accept.as_deref(), gzip)
            });
            render
                .await
                .unwrap_or_else(|_| text(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"))
        }
        Route::Release(object) => reaper_api::release(state, &object, h.auth).await,
        Route::Api(r) => api::handle(state, r, query, h.auth, body).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hyper::header::{ALLOW, CONTENT_TYPE};

    use crate::model::Update;
    use routes::{decode, param};

    fn state() -> AppState {
        AppState::bare()
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
