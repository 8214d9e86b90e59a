//! `getStats` results, typed. The value is a JSON object keyed by stats id
//! (or `null` for an endpoint that never negotiated). Each entry is read by its
//! `type` into a struct; unknown types, and entries that do not parse, are
//! kept raw as `Stat::Other` so one odd entry never loses the whole map.
//! Units are KMS's: `jitter` and `roundTripTime` in seconds, latency `avg` in
//! nanoseconds. `packetsLost` of -1 (unknown) reads as `None`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::lenient;
use super::types::MediaType;

/// Why a `getStats` value could not be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("getStats value is neither an object nor null: {0}")]
    NotAMap(String),
}

/// Fields every stats entry has.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    #[serde(default)]
    pub id: String,
    #[serde(
        rename = "timestampMillis",
        default,
        deserialize_with = "lenient::opt_u64"
    )]
    pub timestamp_ms: Option<u64>,
}

/// Fields shared by inbound and outbound RTP stream stats.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpStream {
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    pub ssrc: Option<String>,
    #[serde(default)]
    pub associate_stats_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_remote: Option<bool>,
    #[serde(default)]
    pub media_track_id: Option<String>,
    #[serde(default)]
    pub transport_id: Option<String>,
    #[serde(default)]
    pub codec_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub fir_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub pli_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub nack_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub sli_count: Option<u64>,
    /// REMB bitrate, bits/s.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub remb: Option<u64>,
    /// `None` when KMS reports -1 (unknown).
    #[serde(default, deserialize_with = "packets_lost")]
    pub packets_lost: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub fraction_lost: Option<f64>,
}

fn packets_lost<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient::opt_i64(d)?.and_then(|n| u64::try_from(n).ok()))
}

/// `inboundrtp` (`RTCInboundRTPStreamStats`): media received from the remote peer.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundRtp {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub stream: RtpStream,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub packets_received: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_received: Option<u64>,
    /// Seconds.
    #[serde(rename = "jitter", default, deserialize_with = "lenient::opt_f64")]
    pub jitter_s: Option<f64>,
}

/// `outboundrtp` (`RTCOutboundRTPStreamStats`): media sent to the remote peer.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundRtp {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub stream: RtpStream,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub packets_sent: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_sent: Option<u64>,
    /// Bits/s.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub target_bitrate: Option<f64>,
    /// Seconds.
    #[serde(
        rename = "roundTripTime",
        default,
        deserialize_with = "lenient::opt_f64"
    )]
    pub round_trip_time_s: Option<f64>,
}

/// `MediaLatencyStat`: average latency of one pad.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MediaLatency {
    #[serde(default)]
    pub name: String,
    /// `None` when the media type is missing or not one KMS defines.
    #[serde(rename = "type", default, deserialize_with = "opt_media_type")]
    pub media_type: Option<MediaType>,
    /// Nanoseconds.
    #[serde(rename = "avg", deserialize_with = "f64_any")]
    pub avg_ns: f64,
}

fn opt_media_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MediaType>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn f64_any<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    lenient::opt_f64(d)?.ok_or_else(|| serde::de::Error::custom("avg is null"))
}

/// `element` (`ElementStats`), only with the pipeline's `latencyStats` on.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElementStats {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub input_latency: Vec<MediaLatency>,
}

/// `endpoint` (`EndpointStats`), only with the pipeline's `latencyStats` on.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStats {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub input_latency: Vec<MediaLatency>,
    #[serde(rename = "E2ELatency", default)]
    pub e2e_latency: Vec<MediaLatency>,
}

/// `candidatepair` (`RTCIceCandidatePairStats`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidatePairStats {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub transport_id: Option<String>,
    #[serde(default)]
    pub local_candidate_id: Option<String>,
    #[serde(default)]
    pub remote_candidate_id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub nominated: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_sent: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_received: Option<u64>,
    /// Seconds.
    #[serde(
        rename = "roundTripTime",
        default,
        deserialize_with = "lenient::opt_f64"
    )]
    pub round_trip_time_s: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub available_outgoing_bitrate: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub available_incoming_bitrate: Option<f64>,
}

/// `transport` (`RTCTransportStats`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportStats {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_sent: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub bytes_received: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub active_connection: Option<bool>,
    #[serde(default)]
    pub selected_candidate_pair_id: Option<String>,
}

/// `RTCCodec` (KMS has no stats type name for it; recognised by `__type__`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodecStats {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub payload_type: Option<u64>,
    #[serde(default)]
    pub codec: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub clock_rate: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub channels: Option<u64>,
}

/// One stats entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Stat {
    InboundRtp(InboundRtp),
    OutboundRtp(OutboundRtp),
    Endpoint(EndpointStats),
    Element(ElementStats),
    CandidatePair(CandidatePairStats),
    Transport(TransportStats),
    Codec(CodecStats),
    /// An unknown stats type, or an entry that did not parse, kept raw.
    Other(Value),
}

/// A `getStats` result: entries by stats id, in id order.
pub type StatsMap = BTreeMap<String, Stat>;

fn typed<T: for<'de> Deserialize<'de>>(v: &Value, wrap: fn(T) -> Stat) -> Stat {
    match T::deserialize(v) {
        Ok(t) => wrap(t),
        Err(_) => Stat::Other(v.clone()),
    }
}

impl Stat {
    /// Read one entry; never fails (falls back to `Other`).
    pub fn parse(v: &Value) -> Stat {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let kmd = v
            .get("__type__")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (ty, kmd) {
            ("inboundrtp", _) | (_, "RTCInboundRTPStreamStats") => typed(v, Stat::InboundRtp),
            ("outboundrtp", _) | (_, "RTCOutboundRTPStreamStats") => typed(v, Stat::OutboundRtp),
            ("endpoint", _) | (_, "EndpointStats") => typed(v, Stat::Endpoint),
            ("element", _) | (_, "ElementStats") => typed(v, Stat::Element),
            ("candidatepair", _) | (_, "RTCIceCandidatePairStats") => typed(v, Stat::CandidatePair),
            ("transport", _) | (_, "RTCTransportStats") => typed(v, Stat::Transport),
            (_, "RTCCodec") => typed(v, Stat::Codec),
            _ => Stat::Other(v.clone()),
        }
    }
}

/// Read a `getStats` value: `Ok(None)` for `null` (no streams yet).
pub fn parse_stats(v: &Value) -> Result<Option<StatsMap>, StatsError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(
            m.iter().map(|(k, e)| (k.clone(), Stat::parse(e))).collect(),
        )),
        other => Err(StatsError::NotAMap(truncate(other.to_string()))),
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > 120 {
        let mut cut = 120;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn malformed_entry_is_kept_as_other() {
        let v = json!({
            "a": {"type": "inboundrtp", "bytesReceived": "lots", "id": "a"},
            "b": {"type": "inboundrtp", "bytesReceived": 10.0, "packetsLost": -1, "ssrc": 5},
            "c": {"type": "datachannel"},
            "d": 7,
        });
        let m = parse_stats(&v).unwrap().unwrap();
        assert!(matches!(m["a"], Stat::Other(_)));
        let Stat::InboundRtp(b) = &m["b"] else {
            panic!("{:?}", m["b"])
        };
        assert_eq!(b.bytes_received, Some(10));
        assert_eq!(b.stream.packets_lost, None);
        assert_eq!(b.stream.ssrc.as_deref(), Some("5"));
        assert!(matches!(m["c"], Stat::Other(_)));
        assert!(matches!(m["d"], Stat::Other(_)));
        assert_eq!(parse_stats(&Value::Null), Ok(None));
        assert!(parse_stats(&json!([1])).is_err());
    }
}
