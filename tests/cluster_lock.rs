//! The per-target lock that fences releases (issue 15), against a real etcd:
//! one holder at a time, the revision growing with each new holder, a lock
//! given up only after its batch, no valid lock while etcd is away (past the
//! renewal deadline), and a member leaving cleanly freeing everything at once.
#![cfg(feature = "cluster")]

mod cluster_support;
mod exporter_common;

use std::time::Duration;

use cluster_support::Etcd;
use exporter_common::{eventually, temp_dir_named};
use kurento_exporter::cluster::{self, Cluster, ClusterConfig};
use kurento_exporter::reaper::{Fence, FenceError};
use tokio_util::sync::CancellationToken;

fn member(etcd: &Etcd, id: &str) -> Cluster {
    Cluster::new(&ClusterConfig {
        endpoints: vec![etcd.url()],
        name: "lock-test".into(),
        member: id.into(),
        lease_ttl: Duration::from_secs(2),
        keepalive_interval: Duration::from_millis(300),
        renew_deadline: Duration::from_millis(1200),
        request_timeout: Duration::from_secs(1),
        departed_grace: Duration::from_secs(1),
    })
}

async fn both_registered(a: &Cluster, b: &Cluster) {
    eventually(Duration::from_secs(20), "both members listed", || {
        let (sa, sb) = (a.status(), b.status());
        async move {
            if sa.members.len() == 2 && sb.members == sa.members {
                Ok(())
            } else {
                Err(format!("{:?} / {:?}", sa.members, sb.members))
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_revisions_grow_and_nothing_holds_without_etcd() {
    let dir = temp_dir_named("kx-lock");
    let etcd = Etcd::start(&dir).await;
    let (a, b) = (member(&etcd, "a"), member(&etcd, "b"));
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let task_a = cluster::start(&a, stop_a.clone());
    let _task_b = cluster::start(&b, stop_b.clone());
    both_registered(&a, &b).await;

    // One holder; asking again confirms the same lock.
    let held = a.hold("kms").await.expect("a takes the lock");
    assert!((held.valid)());
    let r1 = held.revision;
    assert_eq!(
        b.hold("kms").await.unwrap_err(),
        FenceError::HeldByOther("a".into())
    );
    let again = a.hold("kms").await.expect("a confirms it");
    assert_eq!(again.revision, r1);
    drop(again);

    // Given up: invalid at once, freed only when the running batch ends.
    a.give_up("kms", Duration::from_secs(10));
    assert!(!(held.valid)(), "a lock being given up is not acted on");
    assert!(matches!(a.hold("kms").await, Err(FenceError::Failed(_))));
    tokio::time::sleep(Duration::from_millis(300)).await; // a batch still running
    assert!(matches!(
        b.hold("kms").await,
        Err(FenceError::HeldByOther(_))
    ));
    drop(held);
    let held_b = eventually(Duration::from_secs(5), "b takes the freed lock", || {
        let b = b.clone();
        async move { b.hold("kms").await.map_err(|e| e.to_string()) }
    })
    .await;
    assert!(held_b.revision > r1, "{} after {r1}", held_b.revision);
    assert_eq!(held_b.member, "b");

    // etcd away: past the renewal deadline no lock is valid or granted.
    etcd.pause();
    eventually(
        Duration::from_secs(5),
        "the lock invalid without etcd",
        || {
            let valid = (held_b.valid)();
            async move {
                if valid {
                    Err("still valid".to_string())
                } else {
                    Ok(())
                }
            }
        },
    )
    .await;
    assert!(matches!(b.hold("kms").await, Err(FenceError::NoLease(_))));
    etcd.resume().unwrap();
    drop(held_b);
    let back = eventually(Duration::from_secs(20), "b holds a lock again", || {
        let b = b.clone();
        async move { b.hold("kms").await.map_err(|e| e.to_string()) }
    })
    .await;
    assert!((back.valid)());
    drop(back);

    // A member leaving cleanly revokes its lease: the other sees it at once.
    stop_a.cancel();
    task_a.await.unwrap();
    eventually(Duration::from_secs(5), "a gone from b's list", || {
        let members = b.status().members;
        async move {
            if members.len() == 1 {
                Ok(())
            } else {
                Err(format!("{members:?}"))
            }
        }
    })
    .await;
    stop_b.cancel();
    drop(etcd);
    let _ = std::fs::remove_dir_all(&dir);
}
