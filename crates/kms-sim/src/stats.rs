//! Stats: lazily integrated byte/packet counters (no per-tick storage),
//! link quality (loss, jitter, RTT), and `getStats` values shaped exactly
//! like KMS's (samples/extra/examples/getStats-*.json).

use serde_json::{json, Map, Value};

use super::engine::Engine;
use super::kinds::Kind;
use kms_proto::types::{kurento_value, MediaType};

/// Link quality of an endpoint, set by scenarios.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    /// Fraction of packets lost, 0..1.
    pub loss: f64,
    /// Seconds.
    pub jitter: f64,
    /// Seconds.
    pub rtt: f64,
    /// Multiplier of the nominal bitrate.
    pub bitrate_scale: f64,
}

impl Default for Quality {
    fn default() -> Self {
        Quality {
            loss: 0.0,
            jitter: 0.0002,
            rtt: 0.0005,
            bitrate_scale: 1.0,
        }
    }
}

/// Nominal bitrate (bits/s) and packet size (bytes) of a media type.
pub fn nominal(m: MediaType) -> (u64, u64) {
    match m {
        MediaType::AUDIO => (40_000, 120),
        _ => (1_200_000, 1_100),
    }
}

/// A byte/packet counter integrated lazily over the simulated clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counter {
    pub media: MediaType,
    bytes: f64,
    packets: f64,
    lost: f64,
    since: u64,
    /// Current rate (bits/s), 0 when idle.
    rate: f64,
    loss: f64,
    pub ever_lost: bool,
}

impl Counter {
    pub fn new(media: MediaType) -> Self {
        Counter {
            media,
            bytes: 0.0,
            packets: 0.0,
            lost: 0.0,
            since: 0,
            rate: 0.0,
            loss: 0.0,
            ever_lost: false,
        }
    }

    fn fold(&mut self, now: u64) {
        if self.rate > 0.0 && now > self.since {
            let dt = (now - self.since) as f64 / 1000.0;
            let bytes = self.rate * dt / 8.0;
            let pkts = bytes / nominal(self.media).1 as f64;
            self.bytes += bytes;
            self.packets += pkts * (1.0 - self.loss);
            self.lost += pkts * self.loss;
        }
        self.since = now;
    }

    /// Start/stop counting (and apply a new quality) at `now`.
    pub fn set(&mut self, active: bool, q: Quality, now: u64) {
        self.fold(now);
        self.rate = if active {
            nominal(self.media).0 as f64 * q.bitrate_scale
        } else {
            0.0
        };
        self.loss = q.loss.clamp(0.0, 1.0);
        self.ever_lost |= active && self.loss > 0.0;
    }

    /// (bytes, packets, lost) at `now`. Bytes travel in packets: once a
    /// counter shows bytes, it shows at least one packet.
    pub fn at(&self, now: u64) -> (u64, u64, u64) {
        let mut c = *self;
        c.fold(now);
        let packets = if c.bytes >= 1.0 && c.lost < 1.0 {
            c.packets.max(1.0)
        } else {
            c.packets
        };
        (c.bytes as u64, packets as u64, c.lost as u64)
    }

    /// The current bit rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl Engine {
    /// `getStats` of `id`, optionally for one media type.
    pub(crate) fn stats(&self, id: &str, filter: Option<MediaType>) -> Value {
        let Some(o) = self.objects.get(id) else {
            return Value::Null;
        };
        let now = self.now;
        let latency = self
            .pipeline_of(id)
            .and_then(|p| self.objects.get(&p))
            .is_some_and(|p| p.latency_stats);
        let mut out = Map::new();
        let want = |m: MediaType| filter.is_none_or(|f| f == m);
        if let Some(r) = o.el.as_ref().and_then(|e| e.rtc.as_ref()) {
            if !r.negotiated() {
                return Value::Null;
            }
            let q = r.quality;
            for s in r.streams.iter().filter(|s| want(s.media)) {
                let visible = |phantom: bool| {
                    let hide = |how: super::timeline::Vanish| how.inbound_hide_ms(s.media, phantom);
                    r.gone.is_none_or(|(at, how)| now < at + hide(how))
                        && r.blip.is_none_or(|b| !b.hides_inbound(now, hide))
                };
                if s.remote_sends && visible(true) {
                    if let Some(pid) = &s.phantom_id {
                        let entry = json!({
                            "id": pid, "type": "inboundrtp", "timestampMillis": now,
                            "ssrc": s.in_ssrc.to_string(), "associateStatsId": "", "codecId": "",
                            "isRemote": false, "mediaTrackId": "", "transportId": "",
                            "bytesReceived": 0, "packetsReceived": 0, "packetsLost": 0, "fractionLost": 0,
                            "jitter": 0, "firCount": 0, "pliCount": 0, "nackCount": 0, "sliCount": 0, "remb": 0,
                        });
                        out.insert(
                            pid.clone(),
                            kurento_value("RTCInboundRTPStreamStats", entry),
                        );
                    }
                }
                if s.remote_sends && visible(false) {
                    let (bytes, packets, lost) = s.inbound.at(now);
                    let active = s.inbound.rate() > 0.0;
                    let entry = json!({
                        "id": s.in_id, "type": "inboundrtp", "timestampMillis": now,
                        "ssrc": s.in_ssrc.to_string(), "associateStatsId": "", "codecId": "",
                        "isRemote": false, "mediaTrackId": "", "transportId": "",
                        "bytesReceived": bytes, "packetsReceived": packets,
                        "packetsLost": if s.inbound.ever_lost { lost as i64 } else { -1 },
                        "fractionLost": if active { q.loss } else { 0.0 },
                        "jitter": if active { q.jitter } else { 0.0 },
                        "firCount": 0, "pliCount": 0, "nackCount": 0, "sliCount": 0,
                        "remb": if s.media == MediaType::VIDEO && active { (s.inbound.rate() * 1.1) as u64 } else { 0 },
                    });
                    out.insert(
                        s.in_id.clone(),
                        kurento_value("RTCInboundRTPStreamStats", entry),
                    );
                }
                let (bytes, packets, _) = s.outbound.at(now);
                let sending = s.outbound.rate() > 0.0;
                let entry = json!({
                    "id": s.out_id, "type": "outboundrtp", "timestampMillis": now,
                    "ssrc": s.out_ssrc.to_string(), "associateStatsId": "", "codecId": "",
                    "isRemote": false, "mediaTrackId": "", "transportId": "",
                    "bytesSent": bytes, "packetsSent": packets,
                    "packetsLost": 0, "fractionLost": 0,
                    "roundTripTime": if sending { q.rtt } else { 0.0 },
                    "targetBitrate": if sending { s.outbound.rate() as u64 } else { 0 },
                    "firCount": 0, "pliCount": 0, "nackCount": 0, "sliCount": 0, "remb": 0,
                });
                out.insert(
                    s.out_id.clone(),
                    kurento_value("RTCOutboundRTPStreamStats", entry),
                );
            }
            if latency {
                let flows = o.el.as_ref().map(|e| e.flow_in).unwrap_or_default();
                let lat =
                    |scale: u64| -> Vec<Value> {
                        [MediaType::AUDIO, MediaType::VIDEO]
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| want(**m))
                        .map(|(i, m)| {
                            let avg = if flows[i] { scale + (q.rtt * 1e9) as u64 } else { 0 };
                            kurento_value(
                                "MediaLatencyStat",
                                json!({
                                    "name": format!("sink_{}_default", m.as_str().to_lowercase()),
                                    "type": m.as_str(),
                                    "avg": avg,
                                }),
                            )
                        })
                        .collect()
                    };
                let entry = json!({
                    "id": id, "type": "endpoint", "timestampMillis": now,
                    "inputLatency": lat(20_000_000), "E2ELatency": lat(40_000_000),
                });
                out.insert(id.to_owned(), kurento_value("EndpointStats", entry));
            }
            return Value::Object(out);
        }
        if latency && o.kind != Kind::MediaPipeline {
            let entry = json!({
                "id": id, "type": "element", "timestampMillis": now, "inputLatency": [],
            });
            out.insert(id.to_owned(), kurento_value("ElementStats", entry));
            return Value::Object(out);
        }
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_integrate_over_the_clock() {
        let mut c = Counter::new(MediaType::VIDEO);
        c.set(true, Quality::default(), 1_000);
        assert_eq!(c.at(1_000).0, 0);
        let (b, p, l) = c.at(2_000);
        assert_eq!(b, 150_000);
        assert_eq!(p, 136);
        assert_eq!(l, 0);
        c.set(false, Quality::default(), 2_000);
        assert_eq!(c.at(10_000).0, 150_000);
        let lossy = Quality {
            loss: 0.1,
            ..Quality::default()
        };
        c.set(true, lossy, 10_000);
        let (_, _, l) = c.at(11_000);
        assert_eq!(l, 13);
        assert!(c.ever_lost);
    }
}
