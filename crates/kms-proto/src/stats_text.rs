//! `getStats` read straight from the text of its value, without building a
//! JSON tree first: the map is split into raw entries, and each entry is read
//! in one pass into the union of every typed entry's fields, then sorted into
//! its [`Stat`] by `type` / `__type__`. An entry that pass cannot read (a
//! field of another entry type with an odd shape, say) is read again the
//! tree way ([`Stat::parse`]), so the result is always the same as
//! [`parse_stats`](crate::stats::parse_stats) on the parsed value.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::lenient;
use super::stats::{
    parse_stats, CandidatePairStats, CodecStats, Common, ElementStats, EndpointStats, InboundRtp,
    MediaLatency, OutboundRtp, RtpStream, Stat, StatsError, StatsMap, TransportStats,
};

/// Every field any typed entry reads, each with the same reader as there.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(rename = "type", borrow, default)]
    ty: Option<Cow<'a, str>>,
    #[serde(rename = "__type__", borrow, default)]
    kmd: Option<Cow<'a, str>>,
    // Common
    #[serde(default)]
    id: String,
    #[serde(
        rename = "timestampMillis",
        default,
        deserialize_with = "lenient::opt_u64"
    )]
    timestamp_ms: Option<u64>,
    // RtpStream
    #[serde(default, deserialize_with = "lenient::opt_string_or_number")]
    ssrc: Option<String>,
    #[serde(default)]
    associate_stats_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    is_remote: Option<bool>,
    #[serde(default)]
    media_track_id: Option<String>,
    #[serde(default)]
    transport_id: Option<String>,
    #[serde(default)]
    codec_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    fir_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pli_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    nack_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    sli_count: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    remb: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    packets_lost: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    fraction_lost: Option<f64>,
    // InboundRtp, OutboundRtp
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    packets_received: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    bytes_received: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    jitter: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    packets_sent: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    bytes_sent: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    target_bitrate: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    round_trip_time: Option<f64>,
    // ElementStats, EndpointStats
    #[serde(default)]
    input_latency: Vec<MediaLatency>,
    #[serde(rename = "E2ELatency", default)]
    e2e_latency: Vec<MediaLatency>,
    // CandidatePairStats
    #[serde(default)]
    local_candidate_id: Option<String>,
    #[serde(default)]
    remote_candidate_id: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    nominated: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    available_outgoing_bitrate: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    available_incoming_bitrate: Option<f64>,
    // TransportStats
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    active_connection: Option<bool>,
    #[serde(default)]
    selected_candidate_pair_id: Option<String>,
    // CodecStats
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    payload_type: Option<u64>,
    #[serde(default)]
    codec: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    clock_rate: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    channels: Option<u64>,
}

/// The typed entry of one kind, as `Stat::parse` would pick it.
#[derive(Clone, Copy)]
enum Kind {
    Inbound,
    Outbound,
    Endpoint,
    Element,
    CandidatePair,
    Transport,
    Codec,
}

fn kind(ty: &str, kmd: &str) -> Option<Kind> {
    Some(match (ty, kmd) {
        ("inboundrtp", _) | (_, "RTCInboundRTPStreamStats") => Kind::Inbound,
        ("outboundrtp", _) | (_, "RTCOutboundRTPStreamStats") => Kind::Outbound,
        ("endpoint", _) | (_, "EndpointStats") => Kind::Endpoint,
        ("element", _) | (_, "ElementStats") => Kind::Element,
        ("candidatepair", _) | (_, "RTCIceCandidatePairStats") => Kind::CandidatePair,
        ("transport", _) | (_, "RTCTransportStats") => Kind::Transport,
        (_, "RTCCodec") => Kind::Codec,
        _ => return None,
    })
}

impl Fields<'_> {
    fn common(&mut self) -> Common {
        Common {
            id: std::mem::take(&mut self.id),
            timestamp_ms: self.timestamp_ms,
        }
    }

    fn stream(&mut self) -> RtpStream {
        RtpStream {
            ssrc: self.ssrc.take(),
            associate_stats_id: self.associate_stats_id.take(),
            is_remote: self.is_remote,
            media_track_id: self.media_track_id.take(),
            transport_id: self.transport_id.take(),
            codec_id: self.codec_id.take(),
            fir_count: self.fir_count,
            pli_count: self.pli_count,
            nack_count: self.nack_count,
            sli_count: self.sli_count,
            remb: self.remb,
            packets_lost: self.packets_lost.and_then(|n| u64::try_from(n).ok()),
            fraction_lost: self.fraction_lost,
        }
    }

    fn into_stat(mut self, kind: Kind) -> Stat {
        match kind {
            Kind::Inbound => Stat::InboundRtp(InboundRtp {
                common: self.common(),
                stream: self.stream(),
                packets_received: self.packets_received,
                bytes_received: self.bytes_received,
                jitter_s: self.jitter,
            }),
            Kind::Outbound => Stat::OutboundRtp(OutboundRtp {
                common: self.common(),
                stream: self.stream(),
                packets_sent: self.packets_sent,
                bytes_sent: self.bytes_sent,
                target_bitrate: self.target_bitrate,
                round_trip_time_s: self.round_trip_time,
            }),
            Kind::Endpoint => Stat::Endpoint(EndpointStats {
                common: self.common(),
                input_latency: std::mem::take(&mut self.input_latency),
                e2e_latency: std::mem::take(&mut self.e2e_latency),
            }),
            Kind::Element => Stat::Element(ElementStats {
                common: self.common(),
                input_latency: std::mem::take(&mut self.input_latency),
            }),
            Kind::CandidatePair => Stat::CandidatePair(CandidatePairStats {
                common: self.common(),
                transport_id: self.transport_id.take(),
                local_candidate_id: self.local_candidate_id.take(),
                remote_candidate_id: self.remote_candidate_id.take(),
                state: self.state.take(),
                nominated: self.nominated,
                bytes_sent: self.bytes_sent,
                bytes_received: self.bytes_received,
                round_trip_time_s: self.round_trip_time,
                available_outgoing_bitrate: self.available_outgoing_bitrate,
                available_incoming_bitrate: self.available_incoming_bitrate,
            }),
            Kind::Transport => Stat::Transport(TransportStats {
                common: self.common(),
                bytes_sent: self.bytes_sent,
                bytes_received: self.bytes_received,
                active_connection: self.active_connection,
                selected_candidate_pair_id: self.selected_candidate_pair_id.take(),
            }),
            Kind::Codec => Stat::Codec(CodecStats {
                common: self.common(),
                payload_type: self.payload_type,
                codec: self.codec.take(),
                clock_rate: self.clock_rate,
                channels: self.channels,
            }),
        }
    }
}

/// One entry the tree way: what `Stat::parse` makes of its parsed value.
fn slow(raw: &RawValue) -> Stat {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(v) => Stat::parse(&v),
        // Unreachable for text serde_json already split out of valid JSON;
        // keep the entry rather than lose it.
        Err(_) => Stat::Other(Value::String(raw.get().to_owned())),
    }
}

fn entry(raw: &RawValue) -> Stat {
    match serde_json::from_str::<Fields>(raw.get()) {
        Ok(f) => {
            let found = kind(
                f.ty.as_deref().unwrap_or_default(),
                f.kmd.as_deref().unwrap_or_default(),
            );
            match found {
                Some(k) => f.into_stat(k),
                None => slow(raw),
            }
        }
        Err(_) => slow(raw),
    }
}

/// Read a `getStats` value from its JSON text: `Ok(None)` for `null`. The
/// same result as [`parse_stats`] on the parsed value, at a fraction of the
/// allocations.
pub fn parse_stats_text(text: &str) -> Result<Option<StatsMap>, StatsError> {
    match serde_json::from_str::<Option<BTreeMap<String, &RawValue>>>(text) {
        Ok(None) => Ok(None),
        Ok(Some(entries)) => Ok(Some(
            entries
                .into_iter()
                .map(|(k, raw)| (k, entry(raw)))
                .collect(),
        )),
        Err(_) => match serde_json::from_str::<Value>(text) {
            Ok(v) => parse_stats(&v),
            Err(e) => Err(StatsError::NotAMap(e.to_string())),
        },
    }
}

#[cfg(test)]
#[path = "stats_text_tests.rs"]
mod tests;
