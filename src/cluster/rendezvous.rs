//! Rendezvous (highest-random-weight) hashing: the owner of a target is the
//! live member with the highest weight for the pair (member, target). Every
//! member computes it from the same member list, with no coordination; a
//! member leaving moves only its own targets, a member joining takes only
//! the targets it now wins. Pure: no I/O, no clock.

use std::collections::BTreeSet;

/// The weight of `member` for `target`: the first 8 bytes of SHA-256 of
/// both (with a separator no id contains), the same on every machine.
pub fn weight(member: &str, target: &str) -> u64 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(member.as_bytes());
    ctx.update(&[0]);
    ctx.update(target.as_bytes());
    let d = ctx.finish();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(b)
}

/// The owner of `target` among `members`: highest weight, ties to the
/// smaller id; none without members.
pub fn owner<'a>(target: &str, members: &'a BTreeSet<String>) -> Option<&'a str> {
    members
        .iter()
        .map(|m| (weight(m, target), m))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, m)| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The owner of each target.
    fn assign<'a>(
        targets: impl IntoIterator<Item = &'a str>,
        members: &BTreeSet<String>,
    ) -> BTreeMap<String, Option<String>> {
        targets
            .into_iter()
            .map(|t| (t.to_string(), owner(t, members).map(str::to_string)))
            .collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn weights_are_stable_across_builds() {
        // Pinned: every member of a cluster must compute the same owner,
        // whatever version it runs.
        assert_eq!(weight("m-0", "kms-1"), weight("m-0", "kms-1"));
        assert_ne!(weight("m-0", "kms-1"), weight("m-1", "kms-1"));
        assert_ne!(weight("ab", "c"), weight("a", "bc"), "the separator counts");
        let d = ring::digest::digest(&ring::digest::SHA256, b"m-0\0kms-1");
        assert_eq!(
            weight("m-0", "kms-1").to_be_bytes(),
            d.as_ref()[..8],
            "SHA-256 of member NUL target, first 8 bytes, big-endian"
        );
    }

    #[test]
    fn no_member_no_owner() {
        assert_eq!(owner("kms", &BTreeSet::new()), None);
        assert_eq!(owner("kms", &set(&["only"])), Some("only"));
    }

    #[test]
    fn targets_spread_over_members() {
        let members = set(&["m-0", "m-1", "m-2"]);
        let names: Vec<String> = (0..3000).map(|i| format!("kms-{i}")).collect();
        let owners = assign(names.iter().map(String::as_str), &members);
        for m in &members {
            let n = owners.values().filter(|o| o.as_deref() == Some(m)).count();
            assert!((850..1150).contains(&n), "{m} owns {n} of 3000");
        }
    }

    fn ids() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set("[a-z0-9-]{1,12}", 1..8)
    }

    proptest! {
        #[test]
        fn exactly_one_owner_and_it_is_a_member(members in ids(), targets in ids()) {
            for t in &targets {
                let o = owner(t, &members);
                prop_assert!(o.is_some_and(|o| members.contains(o)));
                // Computed from a copy (another process), the same answer.
                let copy: BTreeSet<String> = members.iter().rev().cloned().collect();
                prop_assert_eq!(o, owner(t, &copy));
            }
        }

        #[test]
        fn a_leaving_member_moves_only_its_targets(members in ids(), targets in ids(), pick in 0usize..8) {
            let gone = members.iter().nth(pick % members.len()).cloned().unwrap_or_default();
            let mut after = members.clone();
            after.remove(&gone);
            let before_owners = assign(targets.iter().map(String::as_str), &members);
            let after_owners = assign(targets.iter().map(String::as_str), &after);
            for (t, was) in &before_owners {
                if was.as_deref() != Some(gone.as_str()) {
                    prop_assert_eq!(was, &after_owners[t], "{} moved though its owner stayed", t);
                }
            }
        }

        #[test]
        fn a_joining_member_takes_only_what_it_wins(members in ids(), targets in ids(), new in "[a-z0-9-]{1,12}") {
            prop_assume!(!members.contains(&new));
            let mut after = members.clone();
            after.insert(new.clone());
            let before_owners = assign(targets.iter().map(String::as_str), &members);
            let after_owners = assign(targets.iter().map(String::as_str), &after);
            for (t, now) in &after_owners {
                if now.as_deref() != Some(new.as_str()) {
                    prop_assert_eq!(now, &before_owners[t], "{} moved between old members", t);
                }
            }
        }
    }
}
