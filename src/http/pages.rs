//! The model-only pages, answered synchronously from shared state: the
//! metrics, liveness (`/healthz`, `/api/health`), readiness (`/readyz`: every
//! wanted target synced once), the Node Graph API (`graph`) and the reaper's
//! zombies (`reaper_api`).

use std::sync::PoisonError;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;

use super::reply::{json_resp, text, Resp};
use super::routes::{param, Page};
use super::state::AppState;
use super::{graph, reaper_api};

/// Answer `page` (query string `query`, `Accept` header `accept`).
pub(super) fn answer(state: &AppState, page: Page, query: &str, accept: Option<&str>) -> Resp {
    match page {
        Page::Metrics => match state.metrics.render(accept) {
            Ok((ct, body)) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                r
            }
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"),
        },
        Page::Health => text(StatusCode::OK, "ok\n"),
        Page::GraphFields => json_resp(&graph::fields()),
        Page::GraphData => json_resp(&graph::data(
            &state.store,
            param(query, "kms").as_deref(),
            param(query, "pipeline").as_deref(),
            &|kms| super::views::verdicts(state, kms),
        )),
        Page::Zombies => reaper_api::zombies(state, param(query, "kms").as_deref()),
        Page::Readiness => readiness(state),
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
