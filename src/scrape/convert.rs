//! Translation of KMS values into the model's base units: stats (latency
//! nanoseconds → seconds, `fractionLost` → 0..1, `packetsLost` -1 → unknown),
//! tags, connections and ICE states.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::kms::stats::{Stat, StatsMap};
use crate::kms::types::{ElementConnectionData, IceConnection, MediaType, Tag};
use crate::model::{InboundRtp, Millis, ObjectId, OutboundRtp, RtpStream, StatsSample};

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
                    round_trip_seconds: r.round_trip_time_s.filter(|s| *s > 0.0),
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
    s.inbound = merge_by_ssrc(s.inbound, |a, b| {
        a.bytes += b.bytes;
        a.packets += b.packets;
        a.lost = match (a.lost, b.lost) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        };
        a.fraction_lost = a.fraction_lost.max(b.fraction_lost);
        a.jitter_seconds = a.jitter_seconds.max(b.jitter_seconds);
        a.nacks += b.nacks;
        a.plis += b.plis;
        a.firs += b.firs;
        a.remb_bps = a.remb_bps.max(b.remb_bps);
    });
    s.outbound = merge_by_ssrc(s.outbound, |a, b| {
        a.bytes += b.bytes;
        a.packets += b.packets;
        a.round_trip_seconds = match (a.round_trip_seconds, b.round_trip_seconds) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        a.target_bitrate_bps = a.target_bitrate_bps.max(b.target_bitrate_bps);
        a.nacks += b.nacks;
        a.plis += b.plis;
        a.firs += b.firs;
        a.remb_bps = a.remb_bps.max(b.remb_bps);
    });
    s
}

/// One entry per SSRC, sorted. KMS lists a second, zero-byte `inboundrtp`
/// entry for the same SSRC when the peer offered retransmission (RTX): the
/// entries are folded into one stream (counters summed, gauges maxed).
fn merge_by_ssrc<T: RtpStream>(mut v: Vec<T>, fold: impl Fn(&mut T, T)) -> Vec<T> {
    v.sort_by(|a, b| a.ssrc().cmp(b.ssrc()));
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for s in v {
        match out.last_mut() {
            Some(last) if last.ssrc() == s.ssrc() => fold(last, s),
            _ => out.push(s),
        }
    }
    out
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

/// The DTLS state of an endpoint: its least advanced component (a component
/// CLOSED or FAILED is what matters), `None` before negotiation.
pub fn dtls(
    components: Vec<crate::kms::types::DtlsConnection>,
) -> Option<crate::kms::types::DtlsConnectionState> {
    use crate::kms::types::DtlsConnectionState as S;
    let rank = |s: S| match s {
        S::FAILED => 0,
        S::CLOSED => 1,
        S::NEW => 2,
        S::CONNECTING => 3,
        S::CONNECTED => 4,
    };
    components
        .into_iter()
        .map(|c| c.state)
        .min_by_key(|s| rank(*s))
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
            .join("tests/fixtures/kurento/samples/extra/examples")
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
        assert!((o.round_trip_seconds.unwrap() - 0.000457).abs() < 1e-6);
        // E2E latency entries exist (latencyStats on), avg 0 ns.
        assert_eq!(s.e2e_latency_seconds.get(&MediaType::VIDEO), Some(&0.0));
        assert_eq!(ssrcs(&map).count(), 4);
    }

    #[test]
    fn a_round_trip_time_of_exactly_zero_is_unknown() {
        // KMS reports 0 for audio streams the browser measured at 1–2 ms.
        let mut v = example("getStats-inbound-outbound-endpoint.json");
        let mut zeroed = 0;
        if let Some(m) = v.as_object_mut() {
            for e in m.values_mut() {
                if e["type"] == "outboundrtp" && e.get("roundTripTime").is_some() {
                    e["roundTripTime"] = 0.0.into();
                    zeroed += 1;
                }
            }
        }
        assert!(zeroed > 0, "the sample has an RTT to zero");
        let map = parse_stats(&v).unwrap().unwrap();
        let s = sample(&map, &HashMap::new(), 1);
        assert!(s.outbound.iter().all(|o| o.round_trip_seconds.is_none()));
    }

    #[test]
    fn rtx_entries_of_one_ssrc_fold_into_one_stream() {
        // A real browser snapshot: video and its RTX share an SSRC.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/kurento/samples/browser/close-live-snapshot.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        let stats = find_stats(&v).expect("a stats map in the snapshot");
        let map = parse_stats(&stats).unwrap().unwrap();
        let inbound_entries = map
            .values()
            .filter(|s| matches!(s, Stat::InboundRtp(_)))
            .count();
        let s = sample(&map, &HashMap::new(), 0);
        let mut ssrcs: Vec<&str> = s.inbound.iter().map(|r| r.ssrc.as_str()).collect();
        ssrcs.dedup();
        assert_eq!(ssrcs.len(), s.inbound.len(), "one stream per SSRC");
        assert!(
            s.inbound.len() < inbound_entries,
            "the sample has a duplicate SSRC"
        );
        let total: u64 = map
            .values()
            .filter_map(|st| match st {
                Stat::InboundRtp(r) => r.bytes_received,
                _ => None,
            })
            .sum();
        assert_eq!(s.inbound.iter().map(|r| r.bytes).sum::<u64>(), total);
    }

    fn find_stats(v: &serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => {
                if m.values()
                    .any(|e| e.get("type").and_then(|t| t.as_str()) == Some("inboundrtp"))
                {
                    return Some(v.clone());
                }
                m.values().find_map(find_stats)
            }
            serde_json::Value::Array(a) => a.iter().find_map(find_stats),
            _ => None,
        }
    }

    #[test]
    fn fraction_lost_units() {
        assert_eq!(fraction(Some(0.5)), 0.5);
        assert_eq!(fraction(Some(64.0)), 0.25);
        assert_eq!(fraction(Some(-1.0)), 0.0);
        assert_eq!(fraction(None), 0.0);
    }
}
