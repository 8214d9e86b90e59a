//! The daemon's own objects: tagging what it creates with the owner tag
//! (`policy.owner_tag`, which also shields them from the reaper), and the
//! start-up release of leftovers found by that tag (a daemon killed in the
//! middle of a player attachment or a probe run).
//!
//! Each object also gets an instance tag (`kurento-exporter.instance`, one
//! random value per daemon process): the start-up release only takes objects
//! of *other* instances, never what this process created meanwhile.
//!
//! Reading tags references the object and its pipeline from the reading
//! session; `release_leftovers` `unref`s every pipeline it read and is meant
//! to run on a session of its own, closed afterwards.

use std::time::Duration;

use crate::kms::call::{within, CallError};
use crate::kms::types::Tag;
use crate::kms::Client;
use crate::policy::TagPair;

/// How the id of a PlayerEndpoint ends.
const PLAYER_SUFFIX: &str = "_kurento.PlayerEndpoint";

/// Key of the tag naming the daemon process that created an object.
pub const INSTANCE_KEY: &str = "kurento-exporter.instance";

/// Whether `tags` carry the owner tag (key and value both).
pub fn owns(tags: &[Tag], owner: &TagPair) -> bool {
    tags.iter()
        .any(|t| t.key == owner.key && t.value == owner.value)
}

/// Who this daemon process is, as tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub owner: TagPair,
    /// This process's instance tag value.
    pub instance: String,
}

impl Ownership {
    /// A new process identity for `owner`.
    pub fn new(owner: TagPair) -> Self {
        Ownership {
            owner,
            instance: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Owned by this daemon's kind but created by another process.
    pub fn is_leftover(&self, tags: &[Tag]) -> bool {
        owns(tags, &self.owner)
            && !tags
                .iter()
                .any(|t| t.key == INSTANCE_KEY && t.value == self.instance)
    }

    /// Put the owner and instance tags on `object`.
    pub async fn tag(
        &self,
        client: &Client,
        object: &str,
        limit: Duration,
    ) -> Result<(), CallError> {
        within(
            limit,
            client.add_tag(object, &self.owner.key, &self.owner.value),
        )
        .await?;
        within(limit, client.add_tag(object, INSTANCE_KEY, &self.instance)).await
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_needs_key_and_value() {
        let owner = TagPair {
            key: "kurento-exporter.owner".into(),
            value: "kurento-exporter".into(),
        };
        let tag = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        assert!(owns(
            &[
                tag("x", "y"),
                tag("kurento-exporter.owner", "kurento-exporter")
            ],
            &owner
        ));
        assert!(!owns(
            &[tag("kurento-exporter.owner", "someone-else")],
            &owner
        ));
        assert!(!owns(&[], &owner));
        let me = Ownership::new(owner.clone());
        let other = Ownership::new(owner);
        let mine = [
            tag("kurento-exporter.owner", "kurento-exporter"),
            tag(INSTANCE_KEY, &me.instance),
        ];
        assert!(!me.is_leftover(&mine) && other.is_leftover(&mine));
        assert!(me.is_leftover(&mine[..1]), "untagged instance: a leftover");
    }
}
