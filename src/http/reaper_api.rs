//! The reaper's API: `GET /api/v1/zombies` (every current verdict with its
//! evidence, per target, and the session source's state) and
//! `POST /api/v1/objects/{id}/release` (bearer token; the reaper's checks).
//! Object ids contain `/`: send them percent-encoded (`%2F`), or raw.

use hyper::StatusCode;
use serde_json::json;

use crate::clock::now_millis;
use crate::reaper::{ManualError, Outcome};

use super::auth::rejection;
use super::reply::{json_resp, json_status, text, Resp};
use super::state::AppState;

/// `GET /api/v1/zombies`.
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

/// `POST /api/v1/objects/{id}/release`.
pub(super) async fn release(state: &AppState, object: &str, auth: Option<&str>) -> Resp {
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
                Outcome::Stale | Outcome::Cancelled | Outcome::NoLock => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
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
