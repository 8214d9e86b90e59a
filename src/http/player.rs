//! Player attachments: `POST /api/v1/pipelines/{id}/attach-player` (bearer
//! token; body `{"uri": "...", "element": "..."}`) creates a PlayerEndpoint
//! in the pipeline on a KMS session of its own, tags it as the daemon's
//! (`probe::Ownership`), connects it to the element, plays, and answers
//! whether media flows into and out of the element within `api.player_wait`,
//! with the element's stats before and after. The player is released after
//! `api.player_ttl`, on `DELETE /api/v1/pipelines/{id}/attach-player/{player}`
//! or at shutdown; a daemon killed meanwhile releases it at its next start-up
//! (`probe::release_leftovers`).
//!
//! The attachment's session references the player and the pipeline (and the
//! element it read) until the player is released: the pipeline stays alive
//! that long even if its application forgets it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_millis;
use crate::kms::call::{within, CallError};
use crate::kms::types::MediaType;
use crate::kms::{Client, Stat, StatsMap};
use crate::probe::Ownership;

use super::{json_error, json_status, AppState, Resp};

/// Why an attachment could not be made or ended.
#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    #[error("body: {0}")]
    BadBody(String),
    #[error("{0} is not in pipeline {1}")]
    NotInPipeline(String, String),
    #[error("{0} players are attached (api.max_players)")]
    Full(usize),
    #[error("no attached player {0}")]
    Unknown(String),
    #[error(transparent)]
    Call(#[from] CallError),
}

impl PlayerError {
    fn status(&self) -> StatusCode {
        match self {
            PlayerError::BadBody(_) | PlayerError::NotInPipeline(..) => StatusCode::BAD_REQUEST,
            PlayerError::Full(_) => StatusCode::TOO_MANY_REQUESTS,
            PlayerError::Unknown(_) => StatusCode::NOT_FOUND,
            PlayerError::Call(e) => super::call_status(e),
        }
    }
}

/// One attached player.
#[derive(Debug, Clone)]
struct Attached {
    pipeline: String,
    stop: CancellationToken,
}

/// The attached players; cheap to clone.
#[derive(Debug, Clone)]
pub struct Players {
    me: Ownership,
    active: Arc<Mutex<BTreeMap<String, Attached>>>,
    /// Attachments being made (counted against `api.max_players`).
    starting: Arc<Mutex<usize>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl Players {
    /// No players yet; `me` tags what they create.
    pub fn new(me: Ownership) -> Self {
        Players {
            me,
            active: Arc::default(),
            starting: Arc::default(),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Attached>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ids of the attached players.
    pub fn active(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Release every player and wait for it.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn reserve(&self, max: usize) -> Result<Starting, PlayerError> {
        let mut n = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        let busy = *n + self.lock().len();
        if busy >= max {
            return Err(PlayerError::Full(busy));
        }
        *n += 1;
        Ok(Starting(self.starting.clone()))
    }
}

/// A reserved slot while an attachment is made.
struct Starting(Arc<Mutex<usize>>);

impl Drop for Starting {
    fn drop(&mut self) {
        let mut n = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
    }
}

/// The request body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    uri: String,
    element: String,
}

fn parse_body(body: &[u8]) -> Result<Body, PlayerError> {
    let b: Body = serde_json::from_slice(body).map_err(|e| PlayerError::BadBody(e.to_string()))?;
    let ok = ["file://", "http://", "https://", "rtsp://"]
        .iter()
        .any(|s| b.uri.starts_with(s) && b.uri.len() > s.len());
    if !ok {
        return Err(PlayerError::BadBody(format!(
            "uri {:?}: must be a file://, http(s):// or rtsp:// URI",
            b.uri
        )));
    }
    Ok(b)
}

/// A summary of `getStats` (`null` when KMS has none).
fn stats_summary(s: Option<StatsMap>) -> Value {
    let Some(s) = s else { return Value::Null };
    let (mut inb, mut outb, mut inp, mut outp) = (0u64, 0u64, 0u64, 0u64);
    for st in s.values() {
        match st {
            Stat::InboundRtp(r) => {
                inb += r.bytes_received.unwrap_or(0);
                inp += r.packets_received.unwrap_or(0);
            }
            Stat::OutboundRtp(r) => {
                outb += r.bytes_sent.unwrap_or(0);
                outp += r.packets_sent.unwrap_or(0);
            }
            _ => {}
        }
    }
    json!({
        "entries": s.len(),
        "bytes_received": inb,
        "packets_received": inp,
        "bytes_sent": outb,
        "packets_sent": outp,
    })
}

/// Handle `POST /api/v1/pipelines/{id}/attach-player`.
pub(super) async fn attach(
    state: &AppState,
    kms: Option<&str>,
    pipeline: &str,
    body: &[u8],
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = super::reaper_api::rejection(state, auth, "attaching players") {
        return r;
    }
    let Some(t) = super::api::find(state, kms, |m| m.pipelines.contains_key(pipeline)) else {
        return super::api::unknown("pipeline", pipeline);
    };
    let target = t.read().name.clone();
    let result = match parse_body(body) {
        Ok(b) => begin(state, &target, pipeline, &b).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => json_status(StatusCode::CREATED, &v),
        Err(e) => json_error(e.status(), &e),
    }
}

async fn begin(
    state: &AppState,
    target: &str,
    pipeline: &str,
    b: &Body,
) -> Result<Value, PlayerError> {
    if !b.element.starts_with(&format!("{pipeline}/")) {
        return Err(PlayerError::NotInPipeline(
            b.element.clone(),
            pipeline.into(),
        ));
    }
    let api = state.api_config();
    let limit = api.live_timeout;
    let players = &state.players;
    let slot = players.reserve(api.max_players)?;
    let shared = state.clients.call(target)?;
    let mut cfg = shared.connection().config().clone();
    cfg.connect_timeout = limit;
    let client = within(limit, Client::connect(cfg)).await?;
    let made = make(&client, &players.me, pipeline, b, limit, api.player_wait).await;
    let (player, mut body) = match made {
        Ok(v) => v,
        Err((player, e)) => {
            end(&client, player.as_deref(), limit).await;
            return Err(e);
        }
    };
    let expires = now_millis() + api.player_ttl.as_millis() as u64;
    body["kms"] = target.into();
    body["expires_at"] = expires.into();
    let stop = players.cancel.child_token();
    players.lock().insert(
        player.clone(),
        Attached {
            pipeline: pipeline.to_owned(),
            stop: stop.clone(),
        },
    );
    drop(slot);
    tracing::info!(kms = %target, player = %player, element = %b.element, "player attached");
    let (active, ttl) = (players.active.clone(), api.player_ttl);
    players.tasks.spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(ttl) => {}
            _ = stop.cancelled() => {}
        }
        end(&client, Some(&player), limit).await;
        active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&player);
        tracing::info!(player = %player, "player released");
    });
    Ok(body)
}

/// Create, tag, connect and play the player; wait for media. On failure, the
/// player made so far (to release) and the error.
async fn make(
    client: &Client,
    me: &Ownership,
    pipeline: &str,
    b: &Body,
    limit: Duration,
    wait: Duration,
) -> Result<(String, Value), (Option<String>, PlayerError)> {
    let call = PlayerError::from;
    let mut cp = serde_json::Map::new();
    cp.insert("mediaPipeline".into(), pipeline.into());
    cp.insert("uri".into(), b.uri.as_str().into());
    let player = within(
        limit,
        client.create("PlayerEndpoint", cp, Default::default()),
    )
    .await
    .map_err(|e| (None, call(e)))?;
    let fail = |e: CallError| (Some(player.clone()), call(e));
    me.tag(client, &player, limit).await.map_err(fail)?;
    let el = b.element.as_str();
    let before = within(limit, client.get_stats(el, None))
        .await
        .map_err(fail)?;
    within(limit, client.connect_elements(&player, el, None))
        .await
        .map_err(fail)?;
    within(limit, client.play(&player)).await.map_err(fail)?;
    let started = Instant::now();
    let (mut flow_in, mut flow_out) = (false, false);
    while started.elapsed() < wait {
        for m in [MediaType::AUDIO, MediaType::VIDEO] {
            flow_in |= within(limit, client.is_media_flowing_in(el, m))
                .await
                .map_err(fail)?;
            flow_out |= within(limit, client.is_media_flowing_out(el, m))
                .await
                .map_err(fail)?;
        }
        if flow_in && flow_out {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = within(limit, client.get_stats(el, None))
        .await
        .map_err(fail)?;
    let body = json!({
        "pipeline": pipeline,
        "element": el,
        "player": player,
        "uri": b.uri,
        "flowing_in": flow_in,
        "flowing_out": flow_out,
        "waited_ms": started.elapsed().as_millis() as u64,
        "stats_before": stats_summary(before),
        "stats_after": stats_summary(after),
    });
    Ok((player, body))
}

/// Release the player (if any), close the session; errors only logged.
async fn end(client: &Client, player: Option<&str>, limit: Duration) {
    if let Some(p) = player {
        if let Ok(Err(e)) = tokio::time::timeout(limit, client.release(p)).await {
            tracing::warn!(player = %p, error = %e, "player release failed");
        }
    }
    let _ = tokio::time::timeout(limit, client.close_session()).await;
    client.shutdown();
}

/// Handle `DELETE /api/v1/pipelines/{id}/attach-player/{player}`.
pub(super) async fn detach(
    state: &AppState,
    pipeline: &str,
    player: &str,
    auth: Option<&str>,
) -> Resp {
    if let Some(r) = super::reaper_api::rejection(state, auth, "attaching players") {
        return r;
    }
    let found = state
        .players
        .lock()
        .get(player)
        .filter(|a| a.pipeline == pipeline)
        .cloned();
    let Some(a) = found else {
        let e = PlayerError::Unknown(player.to_owned());
        return json_error(e.status(), &e);
    };
    a.stop.cancel();
    // The holder task releases it; wait a little so the answer is true.
    let deadline = Instant::now() + state.api_config().live_timeout;
    while state.players.lock().contains_key(player) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = !state.players.lock().contains_key(player);
    json_status(
        StatusCode::OK,
        &json!({ "player": player, "pipeline": pipeline, "released": released }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        let b = parse_body(br#"{"uri":"rtsp://cam/1","element":"p/e"}"#).unwrap();
        assert_eq!(
            (b.uri.as_str(), b.element.as_str()),
            ("rtsp://cam/1", "p/e")
        );
        assert!(parse_body(br#"{"uri":"movie.webm","element":"p/e"}"#).is_err());
        assert!(parse_body(br#"{"uri":"file:///a"}"#).is_err());
        assert!(parse_body(b"nope").is_err());
    }

    #[test]
    fn slots_are_bounded() {
        let owner = crate::policy::TagPair {
            key: "k".into(),
            value: "v".into(),
        };
        let p = Players::new(Ownership::new(owner));
        let a = p.reserve(1).unwrap();
        assert!(matches!(p.reserve(1), Err(PlayerError::Full(1))));
        drop(a);
        assert!(p.reserve(1).is_ok());
        assert!(stats_summary(None).is_null());
    }
}
