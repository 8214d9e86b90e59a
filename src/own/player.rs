//! Player attachments: a PlayerEndpoint playing a URI, created in a pipeline
//! on a KMS session of its own (`session`), tagged as the daemon's
//! (`tags::Ownership`), connected to an element of that pipeline and played;
//! the attachment reports whether media flows into and out of the element
//! within its wait (`api.player_wait`), with the element's stats before and
//! after. The player is released after its TTL (`api.player_ttl`), on
//! `detach`, or at shutdown; a daemon killed meanwhile releases it at its
//! next start-up (`sweep`). At most `api.max_players` at once.
//!
//! ```text
//!   attach: element in the pipeline? a free slot? ─► own session
//!     ─► create PlayerEndpoint(uri), tag ─► getStats(element)
//!     ─► connect player → element, play ─► isMediaFlowingIn/Out until both or the wait
//!     ─► getStats(element) ─► AttachReport (expires_at)
//!   holder task: TTL, detach or shutdown ─► release the player, closeSession
//! ```
//!
//! The attachment's session references the player and the pipeline (and the
//! element it read) until the player is released: the pipeline stays alive
//! that long even if its application forgets it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_millis;
use crate::kms::call::{within, CallError};
use crate::kms::types::MediaType;
use crate::kms::{Client, Clients, Stat, StatsMap};

use super::session;
use super::tags::Ownership;

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

/// Whether a PlayerEndpoint of ours may play `uri`: `file://`, `http(s)://`
/// or `rtsp://`, with something after the scheme.
pub fn playable(uri: &str) -> bool {
    ["file://", "http://", "https://", "rtsp://"]
        .iter()
        .any(|s| uri.starts_with(s) && uri.len() > s.len())
}

/// Whether an attached player may play `uri` (`api.player_uri_prefixes`):
/// it must start with one of `prefixes`, and, percent-decoded, hold no `.`
/// or `..` segment, backslash or control character (no way out of the
/// prefix's directory or host). `Err` says why not.
pub fn allowed(uri: &str, prefixes: &[String]) -> Result<(), String> {
    if prefixes.is_empty() {
        return Err("attaching players is disabled (api.player_uri_prefixes is empty)".into());
    }
    if !prefixes
        .iter()
        .any(|p| uri.starts_with(p.as_str()) && uri.len() > p.len())
    {
        return Err(format!(
            "uri {uri:?}: must start with one of api.player_uri_prefixes {prefixes:?}"
        ));
    }
    let decoded = percent_encoding::percent_decode_str(uri).decode_utf8_lossy();
    let path = decoded
        .split_once("://")
        .map_or(&*decoded, |(_, rest)| rest);
    if decoded.chars().any(|c| c.is_control() || c == '\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
    {
        return Err(format!(
            "uri {uri:?}: no dot segments, backslashes or control characters"
        ));
    }
    Ok(())
}

/// What to attach: a player of `uri`, into `element` (the request body).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub uri: String,
    pub element: String,
}

/// The limits of attachments (`[api]`).
#[derive(Debug, Clone, Copy)]
pub struct PlayerLimits {
    /// Time allowed to each KMS call (`api.live_timeout`).
    pub call: Duration,
    /// How long to wait for media (`api.player_wait`).
    pub wait: Duration,
    /// How long a player lives unless detached (`api.player_ttl`).
    pub ttl: Duration,
    /// Attached players at once (`api.max_players`).
    pub max: usize,
}

/// What an attachment found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachReport {
    pub kms: String,
    pub pipeline: String,
    pub element: String,
    pub player: String,
    pub uri: String,
    pub flowing_in: bool,
    pub flowing_out: bool,
    pub waited_ms: u64,
    pub stats_before: Value,
    pub stats_after: Value,
    /// When the player is released unless detached earlier (ms since the epoch).
    pub expires_at: u64,
}

/// One attached player, as its holder task sees it.
#[derive(Debug, Clone)]
struct Holder {
    pipeline: String,
    /// Asks the holder task to release the player now.
    stop: CancellationToken,
    /// Cancelled by the holder task once the player is released.
    done: CancellationToken,
}

/// The attached players; cheap to clone.
#[derive(Debug, Clone)]
pub struct Players {
    me: Ownership,
    active: Arc<Mutex<BTreeMap<String, Holder>>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Holder>> {
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

    /// Attach a player of `what.uri` to `what.element` in `pipeline` of
    /// `target` (whose client `clients` holds); it is released after
    /// `limits.ttl` unless detached earlier.
    pub async fn attach(
        &self,
        clients: &Clients,
        target: &str,
        pipeline: &str,
        what: &Attachment,
        limits: PlayerLimits,
    ) -> Result<AttachReport, PlayerError> {
        if !what.element.starts_with(&format!("{pipeline}/")) {
            return Err(PlayerError::NotInPipeline(
                what.element.clone(),
                pipeline.into(),
            ));
        }
        let limit = limits.call;
        let slot = self.reserve(limits.max)?;
        let client = session::beside(&clients.call(target)?, limit).await?;
        let flow = match make(&client, &self.me, pipeline, what, limit, limits.wait).await {
            Ok(v) => v,
            Err((player, e)) => {
                end(&client, player.as_deref(), limit).await;
                return Err(e);
            }
        };
        let player = flow.player.clone();
        let report = AttachReport {
            kms: target.to_owned(),
            pipeline: pipeline.to_owned(),
            element: what.element.clone(),
            player: player.clone(),
            uri: what.uri.clone(),
            flowing_in: flow.flowing_in,
            flowing_out: flow.flowing_out,
            waited_ms: flow.waited.as_millis() as u64,
            stats_before: stats_summary(flow.before),
            stats_after: stats_summary(flow.after),
            expires_at: now_millis() + limits.ttl.as_millis() as u64,
        };
        let holder = Holder {
            pipeline: pipeline.to_owned(),
            stop: self.cancel.child_token(),
            done: CancellationToken::new(),
        };
        self.lock().insert(player.clone(), holder.clone());
        drop(slot);
        tracing::info!(kms = %target, player = %player, element = %what.element, "player attached");
        let (active, ttl) = (self.active.clone(), limits.ttl);
        self.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(ttl) => {}
                _ = holder.stop.cancelled() => {}
            }
            end(&client, Some(&player), limit).await;
            active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&player);
            holder.done.cancel();
            tracing::info!(player = %player, "player released");
        });
        Ok(report)
    }

    /// Release attached `player` of `pipeline` now; waits at most `wait`
    /// for the release and answers whether it was done.
    pub async fn detach(
        &self,
        pipeline: &str,
        player: &str,
        wait: Duration,
    ) -> Result<bool, PlayerError> {
        let found = self
            .lock()
            .get(player)
            .filter(|h| h.pipeline == pipeline)
            .cloned();
        let Some(h) = found else {
            return Err(PlayerError::Unknown(player.to_owned()));
        };
        h.stop.cancel();
        let _ = tokio::time::timeout(wait, h.done.cancelled()).await;
        Ok(!self.lock().contains_key(player))
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

/// What `make` saw.
struct Flow {
    player: String,
    flowing_in: bool,
    flowing_out: bool,
    waited: Duration,
    before: Option<StatsMap>,
    after: Option<StatsMap>,
}

/// Create, tag, connect and play the player; wait for media. On failure, the
/// player made so far (to release) and the error.
async fn make(
    client: &Client,
    me: &Ownership,
    pipeline: &str,
    what: &Attachment,
    limit: Duration,
    wait: Duration,
) -> Result<Flow, (Option<String>, PlayerError)> {
    let mut cp = serde_json::Map::new();
    cp.insert("mediaPipeline".into(), pipeline.into());
    cp.insert("uri".into(), what.uri.as_str().into());
    let player = within(
        limit,
        client.create("PlayerEndpoint", cp, Default::default()),
    )
    .await
    .map_err(|e| (None, e.into()))?;
    let fail = |e: CallError| (Some(player.clone()), PlayerError::from(e));
    me.tag(client, &player, limit).await.map_err(fail)?;
    let el = what.element.as_str();
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
    Ok(Flow {
        player,
        flowing_in: flow_in,
        flowing_out: flow_out,
        waited: started.elapsed(),
        before,
        after,
    })
}

/// Release the player (if any), close the session; errors only logged.
async fn end(client: &Client, player: Option<&str>, limit: Duration) {
    if let Some(p) = player {
        if let Err(e) = within(limit, client.release(p)).await {
            tracing::warn!(player = %p, error = %e, "player release failed");
        }
    }
    session::close(client, limit).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uris_under_an_allowed_prefix_play() {
        let dir = vec!["file:///srv/media/".to_string()];
        assert!(allowed("file:///srv/media/clip.webm", &dir).is_ok());
        assert!(allowed("file:///srv/media/a/b%20c.webm", &dir).is_ok());
        assert!(allowed("file:///srv/media/a%0d%0ab", &dir).is_err());
        assert!(allowed("file:///srv/media/sub/clip.webm", &dir).is_ok());
        for bad in [
            "file:///srv/media/",
            "file:///srv/media/../etc/passwd",
            "file:///srv/media/%2e%2e/etc/passwd",
            "file:///srv/media/%2E%2E%2Fetc/passwd",
            "file:///srv/media/./x",
            "file:///srv/media/a\\..\\x",
            "file:///srv/mediax/clip.webm",
            "file:///etc/passwd",
            "file://host/srv/media/clip.webm",
            "http://169.254.169.254/latest/meta-data/",
            "https://evil.example/x",
            "rtsp://cam/live",
            "FILE:///srv/media/clip.webm",
        ] {
            assert!(allowed(bad, &dir).is_err(), "{bad}");
        }
        let web = vec!["https://media.example/".to_string()];
        assert!(allowed("https://media.example/clip.webm", &web).is_ok());
        assert!(allowed("https://media.example.evil.com/clip.webm", &web).is_err());
        assert!(allowed("file:///srv/media/clip.webm", &[]).is_err());
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
