//! Fleet-level distributions per KMS, cheap at any size: each sync cycle
//! observes every RTP endpoint's loss fraction, jitter, RTT and receive
//! bitrate once into fixed-bucket histograms (`kurento_fleet_endpoint_*`),
//! so `histogram_quantile(0.95, rate(..._bucket[5m]))` is the fleet's p95
//! without reading a single per-endpoint series. The joint count of
//! endpoints by ICE state, media state and flow is in the model collector
//! (`kurento_fleet_endpoints`).

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::model::{Element, TargetModel};

use super::KmsLabels;

/// Upper bounds of the loss-fraction buckets (0..1).
pub const LOSS_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
/// Upper bounds of the jitter buckets, seconds.
pub const JITTER_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5];
/// Upper bounds of the round-trip-time buckets, seconds.
pub const RTT_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0];
/// Upper bounds of the receive-bitrate buckets, bytes per second (8 kb/s .. 8 Mb/s).
pub const BITRATE_BUCKETS: [f64; 10] = [1e3, 4e3, 8e3, 16e3, 32e3, 64e3, 128e3, 256e3, 512e3, 1e6];

/// One cycle's per-endpoint figures of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quality {
    /// Per endpoint: the worst fraction lost over its received streams.
    pub loss: Vec<f64>,
    /// Per endpoint: the worst jitter over its received streams.
    pub jitter: Vec<f64>,
    /// Per endpoint: the worst known RTT over its sent streams (none known: left out).
    pub rtt: Vec<f64>,
    /// Per endpoint: bytes per second received from its peer, every stream.
    pub receive_bytes_per_second: Vec<f64>,
}

/// The figures of every RTP endpoint of `m` that has stats.
pub fn quality(m: &TargetModel) -> Quality {
    let mut q = Quality::default();
    for e in m.elements.values().filter(|e| e.is_rtp_endpoint()) {
        endpoint(e, &mut q);
    }
    q
}

fn endpoint(e: &Element, q: &mut Quality) {
    let Some(s) = &e.stats else { return };
    let worst = |it: &mut dyn Iterator<Item = f64>| {
        it.fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))))
    };
    if let Some(l) = worst(&mut s.inbound.iter().map(|r| r.fraction_lost)) {
        q.loss.push(l);
    }
    if let Some(j) = worst(&mut s.inbound.iter().map(|r| r.jitter_seconds)) {
        q.jitter.push(j);
    }
    if let Some(r) = worst(&mut s.outbound.iter().filter_map(|r| r.round_trip_seconds)) {
        q.rtt.push(r);
    }
    if let Some(prev) = &e.previous_stats {
        let rates: Vec<f64> = s
            .inbound
            .iter()
            .filter_map(|r| s.receive_bitrate(prev, &r.ssrc))
            .collect();
        if !rates.is_empty() {
            q.receive_bytes_per_second
                .push(rates.iter().sum::<f64>() / 8.0);
        }
    }
}

type Hist = Family<KmsLabels, Histogram, fn() -> Histogram>;

/// The four histograms, per target.
#[derive(Debug, Clone)]
pub struct FleetHistograms {
    loss: Hist,
    jitter: Hist,
    rtt: Hist,
    bitrate: Hist,
}

impl Default for FleetHistograms {
    fn default() -> Self {
        FleetHistograms {
            loss: Family::new_with_constructor(|| Histogram::new(LOSS_BUCKETS)),
            jitter: Family::new_with_constructor(|| Histogram::new(JITTER_BUCKETS)),
            rtt: Family::new_with_constructor(|| Histogram::new(RTT_BUCKETS)),
            bitrate: Family::new_with_constructor(|| Histogram::new(BITRATE_BUCKETS)),
        }
    }
}

impl FleetHistograms {
    /// One cycle of `kms`: every endpoint observed once.
    pub fn observe(&self, kms: &str, q: &Quality) {
        let key = KmsLabels { kms: kms.into() };
        for (h, values) in [
            (&self.loss, &q.loss),
            (&self.jitter, &q.jitter),
            (&self.rtt, &q.rtt),
            (&self.bitrate, &q.receive_bytes_per_second),
        ] {
            let h = h.get_or_create(&key);
            for v in values {
                h.observe(*v);
            }
        }
    }

    /// Forget a target (removed from the configuration).
    pub fn remove(&self, kms: &str) {
        let key = KmsLabels { kms: kms.into() };
        for h in [&self.loss, &self.jitter, &self.rtt, &self.bitrate] {
            h.remove(&key);
        }
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "kurento_fleet_endpoint_loss_ratio",
            "Per RTP endpoint and sync cycle: the worst fraction of packets lost over its received streams",
            self.loss.clone(),
        );
        registry.register(
            "kurento_fleet_endpoint_jitter_seconds",
            "Per RTP endpoint and sync cycle: the worst interarrival jitter over its received streams",
            self.jitter.clone(),
        );
        registry.register(
            "kurento_fleet_endpoint_round_trip_time_seconds",
            "Per RTP endpoint and sync cycle: the worst known round-trip time over its sent streams",
            self.rtt.clone(),
        );
        registry.register(
            "kurento_fleet_endpoint_receive_bitrate_bytes_per_second",
            "Per RTP endpoint and sync cycle: what it receives from its peer, every stream",
            self.bitrate.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::types::MediaType;
    use crate::model::{InboundRtp, OutboundRtp, StatsSample, Update};

    fn endpoint_with(
        id: &str,
        loss: f64,
        jitter: f64,
        rtt: Option<f64>,
        bytes: (u64, u64),
    ) -> Element {
        let inbound = |b| InboundRtp {
            ssrc: "1".into(),
            media: Some(MediaType::VIDEO),
            bytes: b,
            fraction_lost: loss,
            jitter_seconds: jitter,
            ..Default::default()
        };
        let outbound = OutboundRtp {
            ssrc: "2".into(),
            round_trip_seconds: rtt,
            ..Default::default()
        };
        let sample = |at, b| StatsSample {
            at,
            inbound: vec![inbound(b)],
            outbound: vec![outbound.clone()],
            ..Default::default()
        };
        Element {
            id: format!("p/{id}_kurento.WebRtcEndpoint"),
            pipeline: "p".into(),
            element_type: "WebRtcEndpoint".into(),
            previous_stats: Some(sample(0, bytes.0)),
            stats: Some(sample(1_000, bytes.1)),
            ..Default::default()
        }
    }

    #[test]
    fn one_figure_per_endpoint_unknown_rtt_left_out() {
        let mut m = TargetModel::new("k");
        m.apply(Update::Element(Box::new(endpoint_with(
            "a",
            0.02,
            0.01,
            Some(0.05),
            (0, 125_000),
        ))));
        m.apply(Update::Element(Box::new(endpoint_with(
            "b",
            0.0,
            0.002,
            None,
            (0, 0),
        ))));
        m.apply(Update::Element(Box::new(Element {
            id: "p/h_kurento.HubPort".into(),
            element_type: "HubPort".into(),
            ..Default::default()
        })));
        let q = quality(&m);
        assert_eq!(q.loss, [0.02, 0.0]);
        assert_eq!(q.jitter, [0.01, 0.002]);
        assert_eq!(q.rtt, [0.05], "an RTT of none known is left out");
        assert_eq!(q.receive_bytes_per_second, [125_000.0, 0.0]);
    }
}
