//! The operator API's routes under `/api/v1` (the reaper's own two live in
//! `reaper_api`): parses the path (object ids percent-encoded, `%2F`, or
//! raw), checks the method (405 with `Allow`), finds the object in the model
//! (404 JSON when unknown) and hands over to `views` (model reads), `dot`,
//! `live` (KMS reads) or `own_api` (watches, players).
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

use hyper::{Method, StatusCode};

use crate::model::TargetModel;

use super::lookup;
use super::reply::{graphviz, json_error, json_resp, not_allowed, unknown, Resp};
use super::routes::{decode, param};
use super::state::AppState;
use super::{dot, live, own_api, views};

const PIPELINES: &str = "/api/v1/pipelines";
const ELEMENTS: &str = "/api/v1/elements/";
const ATTACH: &str = "/attach-player";

/// One operator API route, ids decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ApiRoute {
    Targets,
    Pipelines,
    Pipeline(String),
    PipelineDot(String),
    Element(String),
    Events(String),
    Negotiation(String),
    Watch(String),
    AttachPlayer(String),
    /// (pipeline, player)
    DetachPlayer(String, String),
}

impl ApiRoute {
    fn allow(&self) -> &'static str {
        match self {
            ApiRoute::Watch(_) | ApiRoute::AttachPlayer(_) => "POST",
            ApiRoute::DetachPlayer(..) => "DELETE",
            _ => "GET, HEAD",
        }
    }
}

/// Builds a route from its decoded id.
type Make = fn(String) -> ApiRoute;

/// The id before `suffix` (or the whole rest without one), decoded.
fn id_of(rest: &str) -> Option<String> {
    (!rest.is_empty() && !rest.starts_with('/')).then(|| decode(rest))
}

/// The route of `path`, if it is one of the operator API's.
pub(super) fn parse(path: &str) -> Option<ApiRoute> {
    if path == "/api/v1/targets" {
        return Some(ApiRoute::Targets);
    }
    if path == PIPELINES {
        return Some(ApiRoute::Pipelines);
    }
    if let Some(rest) = path
        .strip_prefix(PIPELINES)
        .and_then(|r| r.strip_prefix('/'))
    {
        if let Some(id) = rest.strip_suffix(ATTACH) {
            return id_of(id).map(ApiRoute::AttachPlayer);
        }
        if let Some((id, player)) = rest.split_once(&format!("{ATTACH}/")) {
            return match (id_of(id), id_of(player)) {
                (Some(id), Some(player)) => Some(ApiRoute::DetachPlayer(id, player)),
                _ => None,
            };
        }
        return match rest.strip_suffix("/dot") {
            Some(id) => id_of(id).map(ApiRoute::PipelineDot),
            None => id_of(rest).map(ApiRoute::Pipeline),
        };
    }
    let rest = path.strip_prefix(ELEMENTS)?;
    let suffixed: [(&str, Make); 3] = [
        ("/events", ApiRoute::Events),
        ("/negotiation", ApiRoute::Negotiation),
        ("/watch", ApiRoute::Watch),
    ];
    for (suffix, make) in suffixed {
        if let Some(id) = rest.strip_suffix(suffix) {
            return id_of(id).map(make);
        }
    }
    id_of(rest).map(ApiRoute::Element)
}

/// Answer one operator API request.
pub(super) async fn handle(
    state: &AppState,
    method: &Method,
    route: ApiRoute,
    query: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Resp {
    let allow = route.allow();
    let ok = match allow {
        "POST" => method == Method::POST,
        "DELETE" => method == Method::DELETE,
        _ => method == Method::GET || method == Method::HEAD,
    };
    if !ok {
        return not_allowed(allow);
    }
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
            with_pipeline(state, kms, &id, |m| match dot::render(m, &id) {
                Some(dot) => graphviz(dot),
                None => unknown("pipeline", &id),
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
            live::negotiation(state, &target, &id, &pipeline).await
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

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "p_kurento.MediaPipeline/e_kurento.WebRtcEndpoint";

    #[test]
    fn paths_parse_with_encoded_or_raw_ids() {
        let enc = "p_kurento.MediaPipeline%2Fe_kurento.WebRtcEndpoint";
        for id in [enc, E] {
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}")),
                Some(ApiRoute::Element(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/events")),
                Some(ApiRoute::Events(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/negotiation")),
                Some(ApiRoute::Negotiation(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/watch")),
                Some(ApiRoute::Watch(E.into()))
            );
        }
        assert_eq!(parse("/api/v1/targets"), Some(ApiRoute::Targets));
        assert_eq!(parse("/api/v1/pipelines"), Some(ApiRoute::Pipelines));
        assert_eq!(
            parse("/api/v1/pipelines/p_kurento.MediaPipeline/dot"),
            Some(ApiRoute::PipelineDot("p_kurento.MediaPipeline".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p"),
            Some(ApiRoute::Pipeline("p".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player"),
            Some(ApiRoute::AttachPlayer("p".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player/p%2Fx_kurento.PlayerEndpoint"),
            Some(ApiRoute::DetachPlayer(
                "p".into(),
                "p/x_kurento.PlayerEndpoint".into()
            ))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player/p/x"),
            Some(ApiRoute::DetachPlayer("p".into(), "p/x".into()))
        );
        assert_eq!(parse("/api/v1/pipelines/p/attach-player/"), None);
        assert_eq!(parse("/api/v1/pipelines/"), None);
        assert_eq!(parse("/api/v1/elements/"), None);
        assert_eq!(parse("/api/v1/elements//events"), None);
        assert_eq!(parse("/api/v1/zombies"), None);
        assert_eq!(parse("/api/v1/objects/x/release"), None);
    }
}
