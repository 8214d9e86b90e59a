//! An endpoint's RTP figures from its last two stats samples: by default one
//! series per media type (counters and rates summed over the media's
//! streams, jitter and RTT their maximum), per SSRC with `detail = "stream"`.
//! Rates are in bytes per second (KMS's bit rates divided by 8).

use super::shape::{Bufs, Shape};
use super::write::Line;
use crate::kms::types::MediaType;
use crate::metrics::contract::{self as c};
use crate::model::{InboundRtp, OutboundRtp, StatsSample};

fn media_of(m: Option<MediaType>) -> &'static str {
    m.map_or("UNKNOWN", |m| m.as_str())
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// What one direction's streams of a media (or one stream) add up to.
#[derive(Default)]
struct Sum {
    bytes: u64,
    packets: u64,
    lost: Option<f64>,
    fraction_lost: f64,
    jitter: f64,
    rtt: Option<f64>,
    rate: Option<f64>,
    target: f64,
    nacks: u64,
    plis: u64,
    firs: u64,
    remb: f64,
}

/// The groups of one direction: `(media, ssrc when per stream, sum)`.
type Groups<'a> = Vec<(&'static str, &'a str, Sum)>;

fn group<'a, 'b>(groups: &'b mut Groups<'a>, media: &'static str, ssrc: &'a str) -> &'b mut Sum {
    let at = groups
        .iter()
        .position(|(m, s, _)| *m == media && *s == ssrc)
        .unwrap_or_else(|| {
            groups.push((media, ssrc, Sum::default()));
            groups.len() - 1
        });
    &mut groups[at].2
}

fn inbound<'a>(s: &'a StatsSample, prev: Option<&StatsSample>, per_stream: bool) -> Groups<'a> {
    let mut g = Groups::new();
    for r in &s.inbound {
        let InboundRtp { ssrc, media, .. } = r;
        let sum = group(&mut g, media_of(*media), if per_stream { ssrc } else { "" });
        sum.bytes += r.bytes;
        sum.packets += r.packets;
        sum.lost = add(sum.lost, r.lost.map(|l| l as f64));
        sum.fraction_lost = sum.fraction_lost.max(r.fraction_lost);
        sum.jitter = sum.jitter.max(r.jitter_seconds);
        sum.rate = add(sum.rate, prev.and_then(|p| s.receive_bitrate(p, ssrc)));
        sum.nacks += r.nacks;
        sum.plis += r.plis;
        sum.firs += r.firs;
        sum.remb = sum.remb.max(r.remb_bps);
    }
    g
}

fn outbound<'a>(s: &'a StatsSample, prev: Option<&StatsSample>, per_stream: bool) -> Groups<'a> {
    let mut g = Groups::new();
    for r in &s.outbound {
        let OutboundRtp { ssrc, media, .. } = r;
        let sum = group(&mut g, media_of(*media), if per_stream { ssrc } else { "" });
        sum.bytes += r.bytes;
        sum.packets += r.packets;
        sum.rtt = max(sum.rtt, r.round_trip_seconds);
        sum.rate = add(sum.rate, prev.and_then(|p| s.send_bitrate(p, ssrc)));
        sum.target += r.target_bitrate_bps;
        sum.nacks += r.nacks;
        sum.plis += r.plis;
        sum.firs += r.firs;
        sum.remb = sum.remb.max(r.remb_bps);
    }
    g
}

/// Write the RTP series of one endpoint (`element`, a short id).
pub(super) fn render(
    out: &mut Bufs,
    s: &Shape<'_>,
    element: &str,
    stats: &StatsSample,
    prev: Option<&StatsSample>,
) {
    let mut emit = |f: usize, media: &str, ssrc: &str, dir: &str, v: Option<f64>| {
        let Some(v) = v else { return };
        if !s.on[f] {
            return;
        }
        let spec = &c::FAMILIES[f];
        let name = match spec.kind {
            c::Kind::Counter => COUNTER_NAMES[f],
            _ => spec.name,
        };
        Line::start(&mut out[f], name)
            .label("kms", s.kms)
            .label("element", element)
            .label("media", media)
            .label("ssrc", ssrc)
            .label("direction", dir)
            .value(v);
    };
    for (media, ssrc, r) in inbound(stats, prev, s.per_stream) {
        emit(c::RX_BYTES, media, ssrc, "", Some(r.bytes as f64));
        emit(c::RX_RATE, media, ssrc, "", r.rate.map(|b| b / 8.0));
        emit(c::LOST, media, ssrc, "", r.lost);
        emit(c::JITTER, media, ssrc, "", Some(r.jitter));
        emit(c::RX_PACKETS, media, ssrc, "", Some(r.packets as f64));
        emit(c::FRACTION_LOST, media, ssrc, "", Some(r.fraction_lost));
        emit(c::NACKS, media, ssrc, "receive", Some(r.nacks as f64));
        emit(c::PLIS, media, ssrc, "receive", Some(r.plis as f64));
        emit(c::FIRS, media, ssrc, "receive", Some(r.firs as f64));
        emit(c::REMB, media, ssrc, "receive", Some(r.remb / 8.0));
    }
    for (media, ssrc, r) in outbound(stats, prev, s.per_stream) {
        emit(c::TX_BYTES, media, ssrc, "", Some(r.bytes as f64));
        emit(c::TX_RATE, media, ssrc, "", r.rate.map(|b| b / 8.0));
        emit(c::RTT, media, ssrc, "", r.rtt);
        emit(c::TX_PACKETS, media, ssrc, "", Some(r.packets as f64));
        emit(c::TARGET, media, ssrc, "", Some(r.target / 8.0));
        emit(c::NACKS, media, ssrc, "send", Some(r.nacks as f64));
        emit(c::PLIS, media, ssrc, "send", Some(r.plis as f64));
        emit(c::FIRS, media, ssrc, "send", Some(r.firs as f64));
        emit(c::REMB, media, ssrc, "send", Some(r.remb / 8.0));
    }
    for (m, v) in &stats.e2e_latency_seconds {
        emit(c::E2E, m.as_str(), "", "", Some(*v));
    }
}

/// Sample names of the counter families (`_total`), by family index.
const COUNTER_NAMES: [&str; c::N] = {
    let mut n = [""; c::N];
    n[c::RX_BYTES] = "kurento_rtp_received_bytes_total";
    n[c::TX_BYTES] = "kurento_rtp_sent_bytes_total";
    n[c::LOST] = "kurento_rtp_lost_packets_total";
    n[c::RX_PACKETS] = "kurento_rtp_received_packets_total";
    n[c::TX_PACKETS] = "kurento_rtp_sent_packets_total";
    n[c::NACKS] = "kurento_rtp_nacks_total";
    n[c::PLIS] = "kurento_rtp_plis_total";
    n[c::FIRS] = "kurento_rtp_firs_total";
    n
};
