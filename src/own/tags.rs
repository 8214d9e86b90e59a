//! Who owns an object: the owner tag (`policy.owner_tag`, which also shields
//! the daemon's objects from the reaper) and the instance tag
//! (`kurento-exporter.instance`, one random value per daemon process) put on
//! everything the daemon creates; `owns` and `Ownership::is_leftover` read
//! them back. The start-up sweep (`sweep`) releases only objects of *other*
//! instances, never what this process created meanwhile. In a cluster, the
//! member tag (`kurento-exporter.member`) names the member that created an
//! object: only leftovers of this member's earlier processes and of members
//! no longer alive are swept, never those of a live member.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::watch;

use crate::kms::call::{within, CallError};
use crate::kms::types::Tag;
use crate::kms::Client;
use crate::policy::TagPair;

/// Key of the tag naming the daemon process that created an object.
pub const INSTANCE_KEY: &str = "kurento-exporter.instance";
/// Key of the tag naming the cluster member that created an object.
pub const MEMBER_KEY: &str = "kurento-exporter.member";

/// This process as a member of a cluster: its id, and the members alive
/// (`None` until the member list is first known: then no other member's
/// object is a leftover).
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub alive: watch::Receiver<Option<BTreeSet<String>>>,
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Member {}

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
    /// In a cluster, the member this process is.
    pub member: Option<Member>,
}

impl Ownership {
    /// A new process identity for `owner`.
    pub fn new(owner: TagPair) -> Self {
        Ownership {
            owner,
            instance: uuid::Uuid::new_v4().to_string(),
            member: None,
        }
    }

    /// The same, as the cluster member `member`.
    pub fn in_cluster(mut self, member: Member) -> Self {
        self.member = Some(member);
        self
    }

    /// In a cluster, whether the spared members changed since the last
    /// call (then a sweep may find new leftovers).
    pub fn members_changed(&mut self) -> bool {
        self.member.as_mut().is_some_and(|m| {
            let changed = m.alive.has_changed().unwrap_or(false);
            m.alive.mark_unchanged();
            changed
        })
    }

    /// Owned by this daemon's kind but created by another process, and, in
    /// a cluster, by this member's earlier process or by a member no longer
    /// alive (an object without a member tag was made outside any cluster).
    pub fn is_leftover(&self, tags: &[Tag]) -> bool {
        let value = |key: &str| tags.iter().find(|t| t.key == key).map(|t| t.value.as_str());
        if !owns(tags, &self.owner) || value(INSTANCE_KEY) == Some(self.instance.as_str()) {
            return false;
        }
        match (&self.member, value(MEMBER_KEY)) {
            (Some(me), Some(creator)) if creator != me.id => me
                .alive
                .borrow()
                .as_ref()
                .is_some_and(|alive| !alive.contains(creator)),
            _ => true,
        }
    }

    /// Put the member (in a cluster), instance and owner tags on `object`,
    /// the owner tag last: an object carrying it always names its process
    /// and member, so a sweep never takes an object still being tagged by
    /// a live process for another's leftover.
    pub async fn tag(
        &self,
        client: &Client,
        object: &str,
        limit: Duration,
    ) -> Result<(), CallError> {
        if let Some(m) = &self.member {
            within(limit, client.add_tag(object, MEMBER_KEY, &m.id)).await?;
        }
        within(limit, client.add_tag(object, INSTANCE_KEY, &self.instance)).await?;
        within(
            limit,
            client.add_tag(object, &self.owner.key, &self.owner.value),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> TagPair {
        TagPair {
            key: "kurento-exporter.owner".into(),
            value: "kurento-exporter".into(),
        }
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn ownership_needs_key_and_value() {
        let owner = owner();
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

    #[test]
    fn in_a_cluster_only_dead_members_and_earlier_runs_leave_leftovers() {
        let owner = owner();
        let (tx, rx) = watch::channel(None);
        let member = |id: &str| Member {
            id: id.into(),
            alive: rx.clone(),
        };
        let me = Ownership::new(owner.clone()).in_cluster(member("m-0"));
        let made_by = |m: &str, instance: &str| {
            vec![
                tag("kurento-exporter.owner", "kurento-exporter"),
                tag(INSTANCE_KEY, instance),
                tag(MEMBER_KEY, m),
            ]
        };
        let mine = made_by("m-0", &me.instance);
        let earlier = made_by("m-0", "an-earlier-process");
        let peer = made_by("m-1", "its-process");
        assert!(!me.is_leftover(&mine));
        assert!(me.is_leftover(&earlier), "this member's earlier process");
        assert!(!me.is_leftover(&peer), "members not known yet: kept");
        tx.send_replace(Some(["m-0", "m-1"].map(String::from).into()));
        assert!(!me.is_leftover(&peer), "a live member's: kept");
        tx.send_replace(Some(["m-0"].map(String::from).into()));
        assert!(me.is_leftover(&peer), "a dead member's: swept");
        assert!(me.is_leftover(&earlier[..2]), "made outside any cluster");
    }
}
