//! The operator API's routes to the daemon's own objects (`own`): parse the
//! request, call `own`, format the answer.
//!
//! ```text
//!   POST   /api/v1/elements/{id}/watch[?duration=30s]       (bearer token) ─► Watches::start   202
//!   POST   /api/v1/pipelines/{id}/attach-player              (bearer token, JSON body)
//!                                                           ─► Players::attach  201
//!   DELETE /api/v1/pipelines/{id}/attach-player/{player}     (bearer token) ─► Players::detach  200
//! ```
//!
//! Failures: 400 bad body or duration, 404 unknown object or player, 409 the
//! element is already watched, 429 no free slot, and a failed KMS call's
//! status (`reply::call_status`).

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use crate::own::{Attachment, PlayerError, PlayerLimits, WatchError, WatchLimits, Watched};

use super::auth::rejection;
use super::lookup;
use super::reply::{call_status, json_error, json_of, json_status, unknown, Resp};
use super::routes::param;
use super::state::AppState;

fn player_status(e: &PlayerError) -> StatusCode {
    match e {
        PlayerError::BadBody(_) | PlayerError::NotInPipeline(..) => StatusCode::BAD_REQUEST,
        PlayerError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
        PlayerError::Unknown(_) => StatusCode::NOT_FOUND,
        PlayerError::Call(e) => call_status(e),
    }
}

fn watch_status(e: &WatchError) -> StatusCode {
    match e {
        WatchError::BadDuration(_) => StatusCode::BAD_REQUEST,
        WatchError::Busy(_) => StatusCode::CONFLICT,
        WatchError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
        WatchError::Call(e) => call_status(e),
    }
}

/// The attachment a request body asks for: `{"uri": "...", "element": "..."}`,
/// a URI under one of `prefixes` (`own::player::allowed`).
fn parse_body(body: &[u8], prefixes: &[String]) -> Result<Attachment, PlayerError> {
    let b: Attachment =
        serde_json::from_slice(body).map_err(|e| PlayerError::BadBody(e.to_string()))?;
    crate::own::player::allowed(&b.uri, prefixes).map_err(PlayerError::BadBody)?;
    Ok(b)
}

/// `?duration=` (humantime; `default` without one), cut to `max`.
fn duration(query: &str, default: Duration, max: Duration) -> Result<Duration, WatchError> {
    let d = match param(query, "duration") {
        None => default,
        Some(text) => humantime::parse_duration(&text)
            .map_err(|e| WatchError::BadDuration(format!("{text:?}: {e}")))?,
    };
    if d.is_zero() {
        return Err(WatchError::BadDuration("must be greater than zero".into()));
    }
    Ok(d.min(max))
}

/// `POST /api/v1/pipelines/{id}/attach-player`.
pub(super) async fn attach(
    state: &AppState,
    kms: Option<&str>,
    pipeline: &str,
    body: &[u8],
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = rejection(state, auth, "attaching players") {
        return r;
    }
    let Some(t) = lookup::pipeline(&state.store, kms, pipeline) else {
        return unknown("pipeline", pipeline);
    };
    let target = t.read().name.clone();
    let api = state.api_config();
    let limits = PlayerLimits {
        call: api.live_timeout,
        wait: api.player_wait,
        ttl: api.player_ttl,
        max: api.max_players,
    };
    let result = match parse_body(body, &api.player_uri_prefixes) {
        Ok(what) => {
            state
                .players
                .attach(&state.clients, &target, pipeline, &what, limits)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(report) => json_of(StatusCode::CREATED, &report),
        Err(e) => json_error(player_status(&e), &e),
    }
}

/// `DELETE /api/v1/pipelines/{id}/attach-player/{player}`.
pub(super) async fn detach(
    state: &AppState,
    pipeline: &str,
    player: &str,
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = rejection(state, auth, "attaching players") {
        return r;
    }
    // Wait a little for the release, so that the answer is true.
    let wait = state.api_config().live_timeout;
    match state.players.detach(pipeline, player, wait).await {
        Ok(released) => json_status(
            StatusCode::OK,
            &json!({ "player": player, "pipeline": pipeline, "released": released }),
        ),
        Err(e) => json_error(player_status(&e), &e),
    }
}

/// `POST /api/v1/elements/{id}/watch`.
pub(super) async fn watch(
    state: &AppState,
    kms: Option<&str>,
    element: &str,
    query: &str,
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = rejection(state, auth, "watching") {
        return r;
    }
    let Some((target, pipeline, ty)) = lookup::element_facts(&state.store, kms, element) else {
        return unknown("element", element);
    };
    let what = Watched {
        kms: target,
        element: element.to_owned(),
        pipeline,
        element_type: ty,
    };
    let api = state.api_config();
    let limits = WatchLimits {
        call: api.live_timeout,
        max: api.max_watches,
    };
    let result = match duration(query, api.watch_default, api.watch_max) {
        Ok(length) => {
            state
                .watches
                .start(&state.clients, &state.store, &what, length, limits)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(started) => json_of(StatusCode::ACCEPTED, &started),
        Err(e) => json_error(watch_status(&e), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        let cams = ["rtsp://cam/".to_string()];
        let b = parse_body(br#"{"uri":"rtsp://cam/1","element":"p/e"}"#, &cams).unwrap();
        assert_eq!(
            (b.uri.as_str(), b.element.as_str()),
            ("rtsp://cam/1", "p/e")
        );
        assert!(parse_body(br#"{"uri":"movie.webm","element":"p/e"}"#, &cams).is_err());
        assert!(parse_body(br#"{"uri":"rtsp://cam2/1","element":"p/e"}"#, &cams).is_err());
        assert!(parse_body(br#"{"uri":"file:///a"}"#, &cams).is_err());
        assert!(parse_body(b"nope", &cams).is_err());
    }

    #[test]
    fn durations_are_parsed_and_capped() {
        let (def, max) = (Duration::from_secs(30), Duration::from_secs(300));
        assert_eq!(duration("", def, max).unwrap(), def);
        assert_eq!(
            duration("duration=2s", def, max).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(duration("duration=1h", def, max).unwrap(), max);
        assert!(matches!(
            duration("duration=soon", def, max),
            Err(WatchError::BadDuration(_))
        ));
        assert!(duration("duration=0s", def, max).is_err());
    }
}
