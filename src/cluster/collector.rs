//! The `kurento_exporter_cluster_*` series, read from the member's view at
//! scrape time: membership, this member's ownership of each configured
//! target (summed over the members' pages: exactly one per target), etcd
//! and lease health, lock requests by outcome and etcd failures by
//! operation (closed label sets).

use std::fmt;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::{Cluster, ETCD_OPS, LOCK_OUTCOMES};
use crate::metrics::Labels;

/// Encodes the member's view.
#[derive(Debug)]
pub struct ClusterCollector {
    cluster: Cluster,
}

impl ClusterCollector {
    pub fn new(cluster: Cluster) -> Self {
        ClusterCollector { cluster }
    }
}

fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    series: &[(Labels<'_>, f64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, v) in series {
        let mut e = m.encode_family(labels)?;
        match ty {
            MetricType::Counter => e.encode_counter::<Labels<'_>, _, f64>(v, None)?,
            _ => e.encode_gauge(v)?,
        }
    }
    Ok(())
}

impl Collector for ClusterCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = self.cluster.status();
        let acting = self.cluster.acting();
        let (configured, running) = (&acting.configured, &acting.running);
        let c = &self.cluster.inner.counters;
        let me = s.member.as_str();
        let b = |v: bool| if v { 1.0 } else { 0.0 };
        family(
            &mut enc,
            "kurento_exporter_cluster_member_info",
            "This member's id (1).",
            MetricType::Gauge,
            &[(vec![("member", me)], 1.0)],
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_members",
            "Live members in the member list this member acts on.",
            MetricType::Gauge,
            &[(vec![], acting.view.members.len() as f64)],
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_membership_revision",
            "etcd revision of the member list this member acts on.",
            MetricType::Gauge,
            &[(vec![], acting.view.revision as f64)],
        )?;
        let owned: Vec<(Labels<'_>, f64)> = configured
            .iter()
            .map(|t| (vec![("kms", t.as_str())], b(running.contains(t))))
            .collect();
        family(
            &mut enc,
            "kurento_exporter_cluster_target_owned",
            "1 when this member watches the target (summed over members: 1 per target).",
            MetricType::Gauge,
            &owned,
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_etcd_up",
            "1 when etcd answers this member.",
            MetricType::Gauge,
            &[(vec![], b(s.etcd_up))],
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_lease_valid",
            "1 when the lease was renewed within cluster.renew_deadline (releases allowed).",
            MetricType::Gauge,
            &[(vec![], b(self.cluster.lease_valid()))],
        )?;
        let locks: Vec<(Labels<'_>, f64)> = LOCK_OUTCOMES
            .iter()
            .zip(&c.lock)
            .map(|(o, n)| (vec![("outcome", *o)], n.load(Ordering::Relaxed) as f64))
            .collect();
        family(
            &mut enc,
            "kurento_exporter_cluster_lock_requests",
            "Per-target lock requests before release batches, by outcome.",
            MetricType::Counter,
            &locks,
        )?;
        let errors: Vec<(Labels<'_>, f64)> = ETCD_OPS
            .iter()
            .zip(&c.errors)
            .map(|(o, n)| (vec![("op", *o)], n.load(Ordering::Relaxed) as f64))
            .collect();
        family(
            &mut enc,
            "kurento_exporter_cluster_etcd_errors",
            "etcd requests that failed, by operation.",
            MetricType::Counter,
            &errors,
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_lease_grants",
            "Leases granted to this member (1 + one per expiry).",
            MetricType::Counter,
            &[(vec![], c.lease_grants.load(Ordering::Relaxed) as f64)],
        )?;
        family(
            &mut enc,
            "kurento_exporter_cluster_ownership_changes",
            "Changes of the set of targets this member watches.",
            MetricType::Counter,
            &[(vec![], c.ownership_changes.load(Ordering::Relaxed) as f64)],
        )
    }
}
