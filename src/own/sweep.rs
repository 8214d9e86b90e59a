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

use std::sync::Arc;
use std::time::Duration;

use crate::kms::call::{within, CallError};
use crate::kms::types::Tag;
use crate::kms::{Client, ConnectionConfig};

use super::session;
use super::tags::{Ownership, INSTANCE_KEY, MEMBER_KEY};

/// One object the sweep released, and who had created it (its tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub object: String,
    /// The creating cluster member (`kurento-exporter.member`), if any.
    pub member: Option<String>,
    /// The creating process (`kurento-exporter.instance`), if any.
    pub instance: Option<String>,
}

impl Leftover {
    fn of(object: &str, tags: &[Tag]) -> Leftover {
        let value = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
        Leftover {
            object: object.to_string(),
            member: value(MEMBER_KEY),
            instance: value(INSTANCE_KEY),
        }
    }
}

/// Told of every sweep's releases, per target (the daemon writes them to
/// the audit log).
pub type SweepLog = Arc<dyn Fn(&str, &[Leftover]) + Send + Sync>;

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
/// another process (`Ownership::is_leftover`); returns them. Other
/// objects are only read (then `unref`ed), never released. One `getTags`
/// per pipeline and per player: run once per target at start-up.
pub async fn release_leftovers(
    client: &Client,
    me: &Ownership,
    limit: Duration,
) -> Result<Vec<Leftover>, CallError> {
    let mut released = Vec::new();
    for pipeline in within(limit, client.get_pipelines()).await? {
        let Some(tags) = tags_of(client, &pipeline, limit).await? else {
            continue;
        };
        if me.is_leftover(&tags) {
            within(limit, client.release(&pipeline)).await?;
            released.push(Leftover::of(&pipeline, &tags));
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
                    released.push(Leftover::of(child, &tags));
                }
            }
        }
        // Our reads referenced the pipeline: drop that (never a release).
        let _ = within(limit, client.unref(&pipeline)).await;
    }
    if !released.is_empty() {
        let ids: Vec<&str> = released.iter().map(|l| l.object.as_str()).collect();
        tracing::info!(count = released.len(), objects = ?ids, "released leftovers of an earlier run");
    }
    Ok(released)
}

/// On a session of its own on the KMS of `conn` (target `kms`): release `pending` (ids this
/// process failed to release; those failing again stay), then the leftovers
/// of other processes (told to `log`). True when everything was done.
pub async fn sweep(
    kms: &str,
    conn: ConnectionConfig,
    me: &Ownership,
    pending: &mut Vec<String>,
    log: Option<&SweepLog>,
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
    match release_leftovers(&client, me, limit).await {
        Ok(released) => {
            if let (Some(log), false) = (log, released.is_empty()) {
                log(kms, &released);
            }
        }
        Err(e) => {
            tracing::warn!(kms = %kms, error = %e, "leftover sweep failed; retrying");
            ok = false;
        }
    }
    session::close(&client, limit).await;
    ok
}
