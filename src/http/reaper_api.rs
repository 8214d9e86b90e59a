//! The reaper's API: `GET /api/v1/zombies` (every current verdict with its
//! evidence, per target, and the session source's state) and
//! `POST /api/v1/objects/{id}/release` (bearer token; the reaper's checks).
//! Object ids contain `/`: send them percent-encoded (`%2F`), or raw.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::clock::now_millis;
use crate::reaper::{ManualError, Outcome};

use super::auth::rejection;
use super::reply::{json_resp, json_status, not_allowed_text, text, Resp};
use super::routes::decode;
use super::state::AppState;

const PREFIX: &str = "/api/v1/objects/";
const SUFFIX: &str = "/release";

/// The object id of a release path, percent-decoded.
pub(super) fn release_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    (!rest.is_empty()).then(|| decode(rest))
}

pub(super) fn zombies(state: &AppState, kms: Option<&str>) -> Resp {
    let Some(reaper) = &state.reaper else {
        return text(StatusCode::NOT_FOUND, "reaper not running\n");
    };
    let now = now_millis();
    let targets: Vec<_> = reaper
        .board()
        .targets()
        .into_iter()
        .filter(|t| kms.is_none_or(|k| k == t.kms))
        .collect();
    let sessions = reaper.session_status();
    let count: usize = targets.iter().map(|t| t.zombies.len()).sum();
    json_resp(&json!({
        "now": now,
        "count": count,
        "targets": targets,
        "session_source": {
            "configured": sessions.configured,
            "source": sessions.source,
            "up": sessions.up(now),
            "sessions": sessions.sessions,
            "last_ok": sessions.last_ok,
            "last_error": sessions.last_error,
        },
    }))
}

pub(super) async fn release(
    state: &AppState,
    method: &Method,
    object: &str,
    auth: Option<&str>,
) -> Resp {
    if method != Method::POST {
        return not_allowed_text("POST");
    }
    let Some(reaper) = &state.reaper else {
        return text(StatusCode::NOT_FOUND, "reaper not running\n");
    };
    if let Some(r) = rejection(state, auth, "manual release") {
        return r;
    }
    let (status, body) = match reaper.release_manually(object).await {
        Ok(report) => {
            let status = match report.outcome {
                Outcome::Ok => StatusCode::OK,
                Outcome::AbortedFlowing => StatusCode::CONFLICT,
                Outcome::Gone => StatusCode::NOT_FOUND,
                Outcome::Protected => StatusCode::FORBIDDEN,
                Outcome::Stale | Outcome::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
                Outcome::Failed => StatusCode::BAD_GATEWAY,
                Outcome::AuditFailed => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (
                status,
                json!({ "object": object, "outcome": report.outcome.as_str(), "detail": report.detail }),
            )
        }
        Err(e) => {
            let status = match &e {
                ManualError::NotFound(_) => StatusCode::NOT_FOUND,
                ManualError::Protected(_) => StatusCode::FORBIDDEN,
                ManualError::Busy(_) => StatusCode::CONFLICT,
                ManualError::RateLimited(_) | ManualError::QueueFull => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                ManualError::Stale(_) | ManualError::ShuttingDown => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            (status, json!({ "object": object, "error": e.to_string() }))
        }
    };
    tracing::info!(object = %object, status = status.as_u16(), "manual release request");
    json_status(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_paths() {
        assert_eq!(
            release_path(
                "/api/v1/objects/a_kurento.MediaPipeline%2Fb_kurento.WebRtcEndpoint/release"
            )
            .as_deref(),
            Some("a_kurento.MediaPipeline/b_kurento.WebRtcEndpoint")
        );
        assert_eq!(
            release_path("/api/v1/objects/p/e/release").as_deref(),
            Some("p/e")
        );
        assert_eq!(release_path("/api/v1/objects//release"), None);
        assert_eq!(release_path("/api/v1/objects/x"), None);
    }
}
