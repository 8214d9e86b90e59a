//! Stats samples of an element in base units, and what two samples tell:
//! bitrates and whether media flows (KMS's direction semantics).

use std::collections::BTreeMap;

use crate::kms::types::MediaType;

use super::state::Direction;
use super::Millis;

/// One received RTP stream (`inboundrtp`), media received from the remote peer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboundRtp {
    pub ssrc: String,
    pub media: Option<MediaType>,
    pub bytes: u64,
    pub packets: u64,
    /// `None` when KMS reports `-1` (unknown).
    pub lost: Option<u64>,
    /// 0..=1.
    pub fraction_lost: f64,
    pub jitter_seconds: f64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
    pub remb_bps: f64,
}

/// One sent RTP stream (`outboundrtp`), media sent to the remote peer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundRtp {
    pub ssrc: String,
    pub media: Option<MediaType>,
    pub bytes: u64,
    pub packets: u64,
    /// From RTCP; `None` when KMS reports none or exactly 0 (it reports 0 for
    /// audio streams where the browser measured 1–2 ms: unknown, not perfect).
    pub round_trip_seconds: Option<f64>,
    pub target_bitrate_bps: f64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
    pub remb_bps: f64,
}

/// What inbound and outbound streams share.
pub trait RtpStream {
    fn ssrc(&self) -> &str;
    fn media(&self) -> Option<MediaType>;
}

impl RtpStream for InboundRtp {
    fn ssrc(&self) -> &str {
        &self.ssrc
    }
    fn media(&self) -> Option<MediaType> {
        self.media
    }
}

impl RtpStream for OutboundRtp {
    fn ssrc(&self) -> &str {
        &self.ssrc
    }
    fn media(&self) -> Option<MediaType> {
        self.media
    }
}

/// One `getStats` reading, in base units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    /// When it was read (KMS's `timestampMillis` when present).
    pub at: Millis,
    pub inbound: Vec<InboundRtp>,
    pub outbound: Vec<OutboundRtp>,
    /// End-to-end latency per media type, seconds (only with `latencyStats` on).
    pub e2e_latency_seconds: BTreeMap<MediaType, f64>,
}

/// Bitrate between two readings of the same stream, bits per second.
fn bitrate(prev: u64, prev_at: Millis, cur: u64, cur_at: Millis) -> Option<f64> {
    let dt = cur_at.checked_sub(prev_at).filter(|d| *d > 0)?;
    let db = cur.checked_sub(prev)?;
    Some(db as f64 * 8.0 * 1000.0 / dt as f64)
}

impl StatsSample {
    /// Receive bitrate of an inbound stream since `prev`, when both saw it.
    pub fn receive_bitrate(&self, prev: &StatsSample, ssrc: &str) -> Option<f64> {
        let cur = self.inbound.iter().find(|s| s.ssrc == ssrc)?;
        let old = prev.inbound.iter().find(|s| s.ssrc == ssrc)?;
        bitrate(old.bytes, prev.at, cur.bytes, self.at)
    }

    /// Send bitrate of an outbound stream since `prev`, when both saw it.
    pub fn send_bitrate(&self, prev: &StatsSample, ssrc: &str) -> Option<f64> {
        let cur = self.outbound.iter().find(|s| s.ssrc == ssrc)?;
        let old = prev.outbound.iter().find(|s| s.ssrc == ssrc)?;
        bitrate(old.bytes, prev.at, cur.bytes, self.at)
    }

    /// Media flow derived from counters between `prev` and `self`, per
    /// direction and media type, for streams whose media type is known.
    ///
    /// Inbound bytes growing = media from the peer flows `Out` of the element;
    /// outbound bytes growing = media from the pipeline flows `In`. A stream
    /// present before and gone now has stopped; no stream either way in both
    /// samples is no flow that way.
    pub fn derive_flow(&self, prev: &StatsSample) -> BTreeMap<(Direction, MediaType), bool> {
        let mut flow: BTreeMap<(Direction, MediaType), bool> = BTreeMap::new();
        let mut mark = |d: Direction, m: Option<MediaType>, flowing: bool| {
            if let Some(m) = m {
                let e = flow.entry((d, m)).or_insert(false);
                *e |= flowing;
            }
        };
        for s in &self.inbound {
            let old = prev.inbound.iter().find(|o| o.ssrc == s.ssrc);
            mark(
                Direction::Out,
                s.media,
                old.is_some_and(|o| s.bytes > o.bytes),
            );
        }
        for o in &prev.inbound {
            if !self.inbound.iter().any(|s| s.ssrc == o.ssrc) {
                mark(Direction::Out, o.media, false);
            }
        }
        for s in &self.outbound {
            let old = prev.outbound.iter().find(|o| o.ssrc == s.ssrc);
            mark(
                Direction::In,
                s.media,
                old.is_some_and(|o| s.bytes > o.bytes),
            );
        }
        for o in &prev.outbound {
            if !self.outbound.iter().any(|s| s.ssrc == o.ssrc) {
                mark(Direction::In, o.media, false);
            }
        }
        // No stream at all one way (a receive-only viewer's peer sends
        // nothing): measured, and silent.
        for (d, none) in [
            (
                Direction::Out,
                self.inbound.is_empty() && prev.inbound.is_empty(),
            ),
            (
                Direction::In,
                self.outbound.is_empty() && prev.outbound.is_empty(),
            ),
        ] {
            if none {
                for m in [MediaType::AUDIO, MediaType::VIDEO] {
                    mark(d, Some(m), false);
                }
            }
        }
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(ssrc: &str, media: MediaType, bytes: u64) -> InboundRtp {
        InboundRtp {
            ssrc: ssrc.into(),
            media: Some(media),
            bytes,
            ..Default::default()
        }
    }

    fn outbound(ssrc: &str, media: MediaType, bytes: u64) -> OutboundRtp {
        OutboundRtp {
            ssrc: ssrc.into(),
            media: Some(media),
            bytes,
            ..Default::default()
        }
    }

    fn sample(at: Millis, inb: Vec<InboundRtp>, out: Vec<OutboundRtp>) -> StatsSample {
        StatsSample {
            at,
            inbound: inb,
            outbound: out,
            ..Default::default()
        }
    }

    #[test]
    fn bitrate_from_two_samples() {
        let a = sample(1_000, vec![inbound("1", MediaType::VIDEO, 1_000)], vec![]);
        let b = sample(3_000, vec![inbound("1", MediaType::VIDEO, 251_000)], vec![]);
        assert_eq!(b.receive_bitrate(&a, "1"), Some(1_000_000.0));
        assert_eq!(b.receive_bitrate(&a, "2"), None);
        // Same timestamp or counter going back: no rate rather than a bogus one.
        assert_eq!(b.receive_bitrate(&b, "1"), None);
        assert_eq!(a.receive_bitrate(&b, "1"), None);
    }

    #[test]
    fn flow_follows_kms_direction_semantics() {
        use Direction::*;
        use MediaType::*;
        let a = sample(
            0,
            vec![inbound("r1", VIDEO, 10), inbound("r2", AUDIO, 10)],
            vec![outbound("s1", VIDEO, 10), outbound("s2", AUDIO, 10)],
        );
        let b = sample(
            1_000,
            // Video from the peer grows; the audio stream vanished (peer gone).
            vec![inbound("r1", VIDEO, 20)],
            // Nothing grows towards the peer.
            vec![outbound("s1", VIDEO, 10), outbound("s2", AUDIO, 10)],
        );
        let f = b.derive_flow(&a);
        assert_eq!(f.get(&(Out, VIDEO)), Some(&true));
        assert_eq!(f.get(&(Out, AUDIO)), Some(&false));
        assert_eq!(f.get(&(In, VIDEO)), Some(&false));
        assert_eq!(f.get(&(In, AUDIO)), Some(&false));
    }

    #[test]
    fn a_receive_only_endpoint_has_measured_silence_from_its_peer() {
        use Direction::*;
        use MediaType::*;
        // A viewer: KMS sends it audio and video, its browser sends nothing.
        let a = sample(
            0,
            vec![],
            vec![outbound("s1", VIDEO, 10), outbound("s2", AUDIO, 10)],
        );
        let b = sample(
            1_000,
            vec![],
            vec![outbound("s1", VIDEO, 20), outbound("s2", AUDIO, 20)],
        );
        let f = b.derive_flow(&a);
        assert_eq!(f.get(&(In, VIDEO)), Some(&true));
        assert_eq!(f.get(&(Out, VIDEO)), Some(&false));
        assert_eq!(f.get(&(Out, AUDIO)), Some(&false));
        assert_eq!(f.get(&(Out, DATA)), None);
    }

    #[test]
    fn a_new_stream_is_not_flowing_until_it_grows() {
        let a = sample(0, vec![], vec![]);
        let b = sample(1_000, vec![inbound("x", MediaType::VIDEO, 500)], vec![]);
        assert_eq!(
            b.derive_flow(&a).get(&(Direction::Out, MediaType::VIDEO)),
            Some(&false)
        );
    }
}
