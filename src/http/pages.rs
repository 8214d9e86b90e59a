//! The model-only pages, answered synchronously from shared state: the
//! metrics, liveness (`/healthz`, `/api/health`), readiness (`/readyz`: every
//! wanted target synced once), the Node Graph API (`graph`), the reaper's
//! zombies (`reaper_api`) and the console's pages (`console`).

use std::sync::PoisonError;

use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Response, StatusCode};

use super::reply::{json_resp, text, Body, Resp};
use super::routes::{param, Page};
use super::state::AppState;
use super::{console, graph, reaper_api};

/// Answer `page` (query string `query`, `Accept` header `accept`; `gzip`
/// when `Accept-Encoding` allows it: `/metrics` then answers gzipped).
pub(super) fn answer(
    state: &AppState,
    page: Page,
    query: &str,
    accept: Option<&str>,
    gzip: bool,
) -> Resp {
    match page {
        Page::Metrics => match state.metrics.serve(accept, gzip) {
            Ok(served) => {
                let mut r = Response::new(Body::chunks(served.body));
                let h = r.headers_mut();
                h.insert(CONTENT_TYPE, HeaderValue::from_static(served.content_type));
                h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
                if served.gzip {
                    h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
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
        Page::Console(page) => console::answer(state, &page, query),
    }
}

fn readiness(state: &AppState) -> Resp {
    let wanted = state
        .readiness
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let targets = state.store.targets();
    let cluster = state
        .cluster
        .as_ref()
        .map(|c| (c.status(), c.lease_valid()));
    let detail = match &cluster {
        Some((s, _)) if !s.etcd_up && s.known => format!(
            "cluster: etcd unreachable since {} ({}): exporting the targets owned then, not releasing\n",
            crate::reaper::rfc3339(s.etcd_since),
            s.last_error.as_deref().unwrap_or("no answer")
        ),
        Some((s, false)) if s.known => {
            "cluster: lease not renewed in time: not releasing\n".to_string()
        }
        Some((s, _)) => format!(
            "cluster: member {} of {} ({} targets here)\n",
            s.member,
            s.members.len(),
            targets.len()
        ),
        None => String::new(),
    };
    if let Some((s, _)) = &cluster {
        if !s.known {
            let why = s.last_error.as_deref().unwrap_or("connecting");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("waiting for the cluster's member list from etcd ({why})\n"),
            );
        }
        if targets.is_empty() {
            return text(
                StatusCode::OK,
                format!("ready: this member owns no target\n{detail}"),
            );
        }
    }
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
        text(StatusCode::OK, format!("ready\n{detail}"))
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "waiting for first sync of: {}\n{detail}",
                waiting.join(", ")
            ),
        )
    }
}
