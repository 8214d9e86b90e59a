//! The sweep of leftovers: the daemon's own objects that a previous process
//! left on KMS (killed in the middle of a player attachment or a probe run),
//! found by their tags (`tags::Ownership::is_leftover`), and this process's
//! probe pipelines whose release failed. Run per target at start-up (retried
//! until KMS answers) and before a probe run when releases are pending.
//!
//! ```text
//!   own session ─► release pending ─► getPipelines
//!     each pipeline: getTags ─► leftover? release
//!                    else getChildren ─► each PlayerEndpoint: getTags ─► leftover? release
//!                    unref the pipeline (the reads referenced it)
//!   ─► closeSession
//! ```
//!
//! Reading tags references the object and its pipeline from the reading
//! session: `release_leftovers` `unref`s every pipeline it read and is meant
//! to run on a session of its own, closed afterwards (as `sweep` does).

use std::time::Duration;

use crate::kms::call::{within, CallError};
use crate::kms::types::Tag;
use crate::kms::{Client, ConnectionConfig};

use super::session;
use super::tags::Ownership;

/// How the id of a PlayerEndpoint ends.
const PLAYER_SUFFIX: &str = "_kurento.PlayerEndpoint";

/// The tags of `object`; `None` when KMS no longer knows it.
async fn tags_of(
    client: &Client,
    object: &str,
    limit: Duration,
) -> Result<Option<Vec<Tag>>, CallError> {
    match within(limit, client.get_tags(object)).await {
        Ok(t) => Ok(Some(t)),
        Err(CallError::Gone(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Release every pipeline and PlayerEndpoint carrying the owner tag of
/// another process (`Ownership::is_leftover`); returns their ids. Other
/// objects are only read (then `unref`ed), never released. One `getTags`
/// per pipeline and per player: run once per target at start-up.
pub async fn release_leftovers(
    client: &Client,
    me: &Ownership,
    limit: Duration,
) -> Result<Vec<String>, CallError> {
    let mut released = Vec::new();
    for pipeline in within(limit, client.get_pipelines()).await? {
        let Some(tags) = tags_of(client, &pipeline, limit).await? else {
            continue;
        };
        if me.is_leftover(&tags) {
            within(limit, client.release(&pipeline)).await?;
            released.push(pipeline);
            continue;
        }
        let children = match within(limit, client.get_children(&pipeline)).await {
            Ok(c) => c,
            Err(CallError::Gone(_)) => continue,
            Err(e) => return Err(e),
        };
        // In pipelines not its own, the daemon only ever creates players:
        // only they are read (ids name their type: `<uuid>_kurento.<Type>`).
        for child in children.iter().filter(|c| c.ends_with(PLAYER_SUFFIX)) {
            if let Some(tags) = tags_of(client, child, limit).await? {
                if me.is_leftover(&tags) {
                    within(limit, client.release(child)).await?;
                    released.push(child.clone());
                }
            }
        }
        // Our reads referenced the pipeline: drop that (never a release).
        let _ = within(limit, client.unref(&pipeline)).await;
    }
    if !released.is_empty() {
        tracing::info!(count = released.len(), objects = ?released, "released leftovers of an earlier run");
    }
    Ok(released)
}

/// On a session of its own on the KMS of `conn` (target `kms`): release `pending` (ids this
/// process failed to release; those failing again stay), then the leftovers
/// of other processes. True when everything was done.
pub async fn sweep(
    kms: &str,
    conn: ConnectionConfig,
    me: &Ownership,
    pending: &mut Vec<String>,
) -> bool {
    let limit = conn.request_timeout;
    let Ok(client) = session::open(conn, limit).await else {
        return false;
    };
    let mut ok = true;
    for p in std::mem::take(pending) {
        if within(limit, client.release(&p)).await.is_err() {
            pending.push(p);
            ok = false;
        }
    }
    if let Err(e) = release_leftovers(&client, me, limit).await {
        tracing::warn!(kms = %kms, error = %e, "leftover sweep failed; retrying");
        ok = false;
    }
    session::close(&client, limit).await;
    ok
}
