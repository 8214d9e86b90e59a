//! The operator API's routes under `/api/v1` (the reaper's own two live in
//! `reaper_api`), once `routes` matched the path (ids decoded) and checked
//! the method: finds the object in the model (404 JSON when unknown) and
//! hands over to `views` (model reads), `dot`, `live` (KMS reads) or
//! `own_api` (watches, players).
//!
//! ```text
//!   GET  /api/v1/targets
//!   GET  /api/v1/pipelines?kms=          GET /api/v1/pipelines/{id}
//!   GET  /api/v1/pipelines/{id}/dot[?gstreamer=1]
//!   GET  /api/v1/elements/{id}           GET /api/v1/elements/{id}/events[?limit=N]
//!   GET  /api/v1/elements/{id}/negotiation
//!   POST /api/v1/elements/{id}/watch[?duration=30s]   (bearer token)
//!   POST   /api/v1/pipelines/{id}/attach-player           (bearer token, JSON body)
//!   DELETE /api/v1/pipelines/{id}/attach-player/{player}  (bearer token)
//! ```

use hyper::StatusCode;

use crate::model::TargetModel;

use super::lookup;
use super::reply::{graphviz, json_error, json_resp, unknown, Resp};
use super::routes::{param, ApiRoute};
use super::state::AppState;
use super::{dot, live, own_api, views};

/// Answer one operator API request.
pub(super) async fn handle(
    state: &AppState,
    route: ApiRoute,
    query: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Resp {
    let kms = param(query, "kms");
    let kms = kms.as_deref();
    match route {
        ApiRoute::Targets => json_resp(&views::targets(state)),
        ApiRoute::Pipelines => json_resp(&views::pipelines(state, kms)),
        ApiRoute::Pipeline(id) => with_pipeline(state, kms, &id, |m| {
            json_resp(&views::pipeline(state, m, &id))
        }),
        ApiRoute::PipelineDot(id) => {
            if param(query, "gstreamer").is_some_and(|v| v != "0" && v != "false") {
                let Some(t) = lookup::pipeline(&state.store, kms, &id) else {
                    return unknown("pipeline", &id);
                };
                let name = t.read().name.clone();
                return live::gstreamer_dot(state, &name, &id).await;
            }
            with_pipeline(state, kms, &id, |m| {
                match dot::render(m, &id, &views::verdicts(state, &m.name)) {
                    Some(dot) => graphviz(dot),
                    None => unknown("pipeline", &id),
                }
            })
        }
        ApiRoute::Element(id) => with_element(state, kms, &id, |m| {
            json_resp(&views::element(state, m, &id))
        }),
        ApiRoute::Events(id) => {
            let limit = match param(query, "limit").map(|l| l.parse::<usize>()) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    return json_error(StatusCode::BAD_REQUEST, "limit must be a whole number")
                }
            };
            with_element(state, kms, &id, |m| {
                json_resp(&views::events(m, &id, limit))
            })
        }
        ApiRoute::Negotiation(id) => {
            let found = lookup::element_facts(&state.store, kms, &id);
            let Some((target, pipeline, element_type)) = found else {
                return unknown("element", &id);
            };
            if !matches!(element_type.as_str(), "WebRtcEndpoint" | "RtpEndpoint") {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!("a {element_type} has no session descriptions"),
                );
            }
            let reveal = super::auth::authorized(state, auth);
            live::negotiation(state, &target, &id, &pipeline, reveal).await
        }
        ApiRoute::Watch(id) => own_api::watch(state, kms, &id, query, auth).await,
        ApiRoute::AttachPlayer(id) => own_api::attach(state, kms, &id, body, auth).await,
        ApiRoute::DetachPlayer(id, player) => own_api::detach(state, &id, &player, auth).await,
    }
}

fn with_pipeline(
    state: &AppState,
    kms: Option<&str>,
    id: &str,
    f: impl FnOnce(&TargetModel) -> Resp,
) -> Resp {
    match lookup::pipeline(&state.store, kms, id) {
        Some(t) => f(&t.read()),
        None => unknown("pipeline", id),
    }
}

fn with_element(
    state: &AppState,
    kms: Option<&str>,
    id: &str,
    f: impl FnOnce(&TargetModel) -> Resp,
) -> Resp {
    match lookup::element(&state.store, kms, id) {
        Some(t) => f(&t.read()),
        None => unknown("element", id),
    }
}
