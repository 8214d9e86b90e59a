//! Who owns an object: the owner tag (`policy.owner_tag`, which also shields
//! the daemon's objects from the reaper) and the instance tag
//! (`kurento-exporter.instance`, one random value per daemon process) put on
//! everything the daemon creates; `owns` and `Ownership::is_leftover` read
//! them back. The start-up sweep (`sweep`) releases only objects of *other*
//! instances, never what this process created meanwhile.

use std::time::Duration;

use crate::kms::call::{within, CallError};
use crate::kms::types::Tag;
use crate::kms::Client;
use crate::policy::TagPair;

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
