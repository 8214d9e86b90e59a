//! Per-stream RTP series and per-endpoint latency, from each element's last
//! two stats samples. Streams are keyed by SSRC: a new SSRC is a new series,
//! so counters never go backwards.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType::{self, Counter, Gauge};

use super::family::{family, Family, Labels};
use crate::model::{Element, InboundRtp, OutboundRtp, RtpStream, StatsSample};

type Targets<'a, 'b> = [(&'a str, &'b [&'a Element])];

fn stream_labels<'a>(kms: &'a str, e: &'a Element, media: &'a str, ssrc: &'a str) -> Labels<'a> {
    vec![
        ("kms", kms),
        ("pipeline", e.pipeline.as_str()),
        ("element", e.id.as_str()),
        ("media", media),
        ("ssrc", ssrc),
    ]
}

/// Rates are exported in bytes per second, Prometheus' base unit (promtool
/// rejects `bits` in names); KMS's bit rates are divided by 8.
fn bits_to_bytes(bits: f64) -> f64 {
    bits / 8.0
}

fn media_of(m: Option<crate::kms::types::MediaType>) -> &'static str {
    m.map_or("UNKNOWN", |m| m.as_str())
}

/// Emit `value` for every stream `pick` selects from each element's last sample.
fn streams<T: RtpStream>(
    f: &mut Family,
    targets: &Targets,
    pick: fn(&StatsSample) -> &[T],
    value: impl Fn(&T, &StatsSample, Option<&StatsSample>) -> Option<f64>,
) -> fmt::Result {
    for (kms, elements) in targets {
        for e in elements.iter() {
            let Some(s) = &e.stats else { continue };
            for r in pick(s) {
                if let Some(v) = value(r, s, e.previous_stats.as_ref()) {
                    f.emit(&stream_labels(kms, e, media_of(r.media()), r.ssrc()), v)?;
                }
            }
        }
    }
    Ok(())
}

fn inbound_of(s: &StatsSample) -> &[InboundRtp] {
    &s.inbound
}

fn outbound_of(s: &StatsSample) -> &[OutboundRtp] {
    &s.outbound
}

/// Emit one value per inbound stream.
fn inbound(
    enc: &mut DescriptorEncoder,
    targets: &Targets,
    name: &str,
    help: &str,
    ty: MetricType,
    value: fn(&InboundRtp, &StatsSample, Option<&StatsSample>) -> Option<f64>,
) -> fmt::Result {
    family(enc, name, help, ty, |f: &mut Family| {
        streams(f, targets, inbound_of, value)
    })
}

/// Emit one value per outbound stream.
fn outbound(
    enc: &mut DescriptorEncoder,
    targets: &Targets,
    name: &str,
    help: &str,
    ty: MetricType,
    value: fn(&OutboundRtp, &StatsSample, Option<&StatsSample>) -> Option<f64>,
) -> fmt::Result {
    family(enc, name, help, ty, |f: &mut Family| {
        streams(f, targets, outbound_of, value)
    })
}

/// Emit one value per stream of either direction.
fn both(
    enc: &mut DescriptorEncoder,
    targets: &Targets,
    name: &str,
    help: &str,
    ty: MetricType,
    inb: fn(&InboundRtp) -> f64,
    out: fn(&OutboundRtp) -> f64,
) -> fmt::Result {
    family(enc, name, help, ty, |f: &mut Family| {
        streams(f, targets, inbound_of, |r, _, _| Some(inb(r)))?;
        streams(f, targets, outbound_of, |r, _, _| Some(out(r)))
    })
}

pub(super) fn encode(enc: &mut DescriptorEncoder, t: &Targets) -> fmt::Result {
    inbound(
        enc,
        t,
        "kurento_rtp_received_bytes",
        "RTP bytes received from the remote peer",
        Counter,
        |r, _, _| Some(r.bytes as f64),
    )?;
    outbound(
        enc,
        t,
        "kurento_rtp_sent_bytes",
        "RTP bytes sent to the remote peer",
        Counter,
        |r, _, _| Some(r.bytes as f64),
    )?;
    inbound(
        enc,
        t,
        "kurento_rtp_received_packets",
        "RTP packets received from the remote peer",
        Counter,
        |r, _, _| Some(r.packets as f64),
    )?;
    outbound(
        enc,
        t,
        "kurento_rtp_sent_packets",
        "RTP packets sent to the remote peer",
        Counter,
        |r, _, _| Some(r.packets as f64),
    )?;
    inbound(
        enc,
        t,
        "kurento_rtp_lost_packets",
        "RTP packets lost on receive (absent while KMS reports -1, unknown)",
        Counter,
        |r, _, _| r.lost.map(|l| l as f64),
    )?;
    inbound(
        enc,
        t,
        "kurento_rtp_fraction_lost_ratio",
        "Fraction of packets lost in the last RTCP interval, 0 to 1",
        Gauge,
        |r, _, _| Some(r.fraction_lost),
    )?;
    inbound(
        enc,
        t,
        "kurento_rtp_jitter_seconds",
        "Interarrival jitter of the received stream",
        Gauge,
        |r, _, _| Some(r.jitter_seconds),
    )?;
    outbound(
        enc,
        t,
        "kurento_rtp_round_trip_time_seconds",
        "Round-trip time from RTCP of the sent stream",
        Gauge,
        |r, _, _| r.round_trip_seconds,
    )?;
    inbound(
        enc,
        t,
        "kurento_rtp_receive_bitrate_bytes_per_second",
        "Receive rate between the last two stats samples",
        Gauge,
        |r, s, p| s.receive_bitrate(p?, &r.ssrc).map(bits_to_bytes),
    )?;
    outbound(
        enc,
        t,
        "kurento_rtp_send_bitrate_bytes_per_second",
        "Send rate between the last two stats samples",
        Gauge,
        |r, s, p| s.send_bitrate(p?, &r.ssrc).map(bits_to_bytes),
    )?;
    outbound(
        enc,
        t,
        "kurento_rtp_target_bitrate_bytes_per_second",
        "Configured target rate of the sent stream",
        Gauge,
        |r, _, _| Some(bits_to_bytes(r.target_bitrate_bps)),
    )?;
    both(
        enc,
        t,
        "kurento_rtp_nacks",
        "NACKs counted on the stream",
        Counter,
        |r| r.nacks as f64,
        |r| r.nacks as f64,
    )?;
    both(
        enc,
        t,
        "kurento_rtp_plis",
        "PLIs counted on the stream",
        Counter,
        |r| r.plis as f64,
        |r| r.plis as f64,
    )?;
    both(
        enc,
        t,
        "kurento_rtp_firs",
        "FIRs counted on the stream",
        Counter,
        |r| r.firs as f64,
        |r| r.firs as f64,
    )?;
    both(
        enc,
        t,
        "kurento_rtp_remb_bytes_per_second",
        "Receiver-estimated maximum rate (REMB) of the stream",
        Gauge,
        |r| bits_to_bytes(r.remb_bps),
        |r| bits_to_bytes(r.remb_bps),
    )?;
    family(
        enc,
        "kurento_endpoint_e2e_latency_seconds",
        "End-to-end latency per media type (only with the pipeline's latencyStats on)",
        Gauge,
        |f: &mut Family| {
            for (kms, elements) in t {
                for e in elements.iter() {
                    let Some(s) = &e.stats else { continue };
                    for (m, v) in &s.e2e_latency_seconds {
                        let l = vec![
                            ("kms", *kms),
                            ("pipeline", e.pipeline.as_str()),
                            ("element", e.id.as_str()),
                            ("media", m.as_str()),
                        ];
                        f.emit(&l, *v)?;
                    }
                }
            }
            Ok(())
        },
    )
}
