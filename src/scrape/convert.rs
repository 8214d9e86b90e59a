//! Translation of KMS values into the model's base units: stats (latency
//! nanoseconds → seconds, `fractionLost` → 0..1, `packetsLost` -1 → unknown),
//! tags, connections and ICE states.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::kms::stats::{Stat, StatsMap};
use crate::kms::types::{ElementConnectionData, IceConnection, MediaType, Tag};
use crate::model::{InboundRtp, Millis, ObjectId, OutboundRtp, StatsSample};

/// KMS reports `fractionLost` either as a 0..1 fraction or as RTCP's 8-bit
/// fixed-point value (0..255 = 0..1).
fn fraction(v: Option<f64>) -> f64 {
    match v {
        Some(f) if f > 1.0 => (f / 256.0).min(1.0),
        Some(f) if f >= 0.0 => f,
        _ => 0.0,
    }
}

/// A stats map as a model sample; streams take their media type from `media`.
pub fn sample(map: &StatsMap, media: &HashMap<String, MediaType>, read_at: Millis) -> StatsSample {
    let mut s = StatsSample {
        at: read_at,
        ..Default::default()
    };
    let mut kms_ts: Option<u64> = None;
    for stat in map.values() {
        match stat {
            Stat::InboundRtp(r) => {
                let ssrc = r.stream.ssrc.clone().unwrap_or_default();
                kms_ts = kms_ts.or(r.common.timestamp_ms);
                s.inbound.push(InboundRtp {
                    media: media.get(&ssrc).copied(),
                    ssrc,
                    bytes: r.bytes_received.unwrap_or(0),
                    packets: r.packets_received.unwrap_or(0),
                    lost: r.stream.packets_lost,
                    fraction_lost: fraction(r.stream.fraction_lost),
                    jitter_seconds: r.jitter_s.unwrap_or(0.0),
                    nacks: r.stream.nack_count.unwrap_or(0),
                    plis: r.stream.pli_count.unwrap_or(0),
                    firs: r.stream.fir_count.unwrap_or(0),
                    remb_bps: r.stream.remb.unwrap_or(0) as f64,
                });
            }
            Stat::OutboundRtp(r) => {
                let ssrc = r.stream.ssrc.clone().unwrap_or_default();
                kms_ts = kms_ts.or(r.common.timestamp_ms);
                s.outbound.push(OutboundRtp {
                    media: media.get(&ssrc).copied(),
                    ssrc,
                    bytes: r.bytes_sent.unwrap_or(0),
                    packets: r.packets_sent.unwrap_or(0),
                    round_trip_seconds: r.round_trip_time_s.unwrap_or(0.0),
                    target_bitrate_bps: r.target_bitrate.unwrap_or(0.0),
                    nacks: r.stream.nack_count.unwrap_or(0),
                    plis: r.stream.pli_count.unwrap_or(0),
                    firs: r.stream.fir_count.unwrap_or(0),
                    remb_bps: r.stream.remb.unwrap_or(0) as f64,
                });
            }
            Stat::Endpoint(ep) => {
                for l in &ep.e2e_latency {
                    if let Some(m) = l.media_type {
                        s.e2e_latency_seconds.insert(m, l.avg_ns / 1e9);
                    }
                }
            }
            _ => {}
        }
    }
    // Rates are computed between KMS's own timestamps when it gives them.
    if let Some(ts) = kms_ts {
        s.at = ts;
    }
    s.inbound.sort_by(|a, b| a.ssrc.cmp(&b.ssrc));
    s.outbound.sort_by(|a, b| a.ssrc.cmp(&b.ssrc));
    s
}

/// SSRCs of RTP streams in a stats map.
pub fn ssrcs(map: &StatsMap) -> impl Iterator<Item = &str> {
    map.values().filter_map(|s| match s {
        Stat::InboundRtp(r) => r.stream.ssrc.as_deref(),
        Stat::OutboundRtp(r) => r.stream.ssrc.as_deref(),
        _ => None,
    })
}

pub fn tags(tags: Vec<Tag>) -> BTreeMap<String, String> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

pub fn sinks(conns: Vec<ElementConnectionData>) -> BTreeSet<(ObjectId, MediaType)> {
    conns.into_iter().map(|c| (c.sink, c.media_type)).collect()
}

pub fn ice(states: Vec<IceConnection>) -> Vec<(String, u32, crate::kms::types::IceComponentState)> {
    states
        .into_iter()
        .map(|c| (c.stream_id, c.component_id as u32, c.state))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::stats::parse_stats;

    fn example(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/kurento/samples/extra/examples")
            .join(name);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        v["response"]["result"]["value"].clone()
    }

    #[test]
    fn real_endpoint_stats_in_base_units() {
        let map = parse_stats(&example("getStats-inbound-outbound-endpoint.json"))
            .unwrap()
            .unwrap();
        let media: HashMap<String, MediaType> =
            [("2411687072".to_string(), MediaType::AUDIO)].into();
        let s = sample(&map, &media, 1);
        assert_eq!(s.at, 1_795_562_803_031, "KMS timestamp wins");
        assert_eq!(s.inbound.len(), 2);
        assert_eq!(s.outbound.len(), 2);
        let a = s.inbound.iter().find(|r| r.ssrc == "2411687072").unwrap();
        assert_eq!(a.media, Some(MediaType::AUDIO));
        assert_eq!(a.bytes, 169_757);
        assert_eq!(a.lost, None, "-1 is unknown");
        assert!((a.jitter_seconds - 0.000233).abs() < 1e-6);
        let o = s.outbound.iter().find(|r| r.ssrc == "2375372205").unwrap();
        assert_eq!(o.media, None);
        assert!((o.round_trip_seconds - 0.000457).abs() < 1e-6);
        // E2E latency entries exist (latencyStats on), avg 0 ns.
        assert_eq!(s.e2e_latency_seconds.get(&MediaType::VIDEO), Some(&0.0));
        assert_eq!(ssrcs(&map).count(), 4);
    }

    #[test]
    fn fraction_lost_units() {
        assert_eq!(fraction(Some(0.5)), 0.5);
        assert_eq!(fraction(Some(64.0)), 0.25);
        assert_eq!(fraction(Some(-1.0)), 0.0);
        assert_eq!(fraction(None), 0.0);
    }
}
