//! The contract of the per-element series: every family the page can hold,
//! its name, type and help, whether it is on by default, and the `[metrics]`
//! settings that opt into the rest (more families, per-SSRC detail).
//!
//! Label values name objects by their short id (the UUID part of a KMS id);
//! what is static about an element lives only on `kurento_element_info`.

use serde::{Deserialize, Serialize};

/// `[metrics]`: what the page holds beyond the lean default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// One series per endpoint and media type, or per RTP stream (SSRC).
    pub detail: Detail,
    /// Families beyond the default contract.
    pub families: Vec<Extra>,
    /// deflate level of gzip bodies, 1 (fastest) to 9 (smallest).
    pub gzip_level: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            detail: Detail::Media,
            families: Vec::new(),
            gzip_level: 1,
        }
    }
}

/// How finely RTP series are cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Per endpoint and media type: counters and rates summed over the
    /// media's streams, jitter and RTT their maximum.
    #[default]
    Media,
    /// Per RTP stream: every `kurento_rtp_*` series also carries `ssrc`.
    Stream,
}

/// An opt-in group of families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extra {
    /// Received and sent packet counters.
    Packets,
    /// The fraction lost of the last RTCP interval.
    FractionLost,
    /// NACK, PLI and FIR counters.
    Feedback,
    /// Receiver-estimated maximum rates.
    Remb,
    /// The sender's target rate.
    TargetBitrate,
    /// End-to-end latency (the pipeline's latencyStats on).
    E2eLatency,
    /// Every family above.
    All,
}

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    /// Value 1, facts in labels (`_info`).
    Info,
}

/// One family of the per-element part of the page.
#[derive(Debug)]
pub struct FamilySpec {
    /// Name without the `_total`/`_info` suffix.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// `None`: on by default.
    pub extra: Option<Extra>,
}

impl FamilySpec {
    /// The name its samples carry.
    pub fn sample_name(&self) -> String {
        match self.kind {
            Kind::Gauge => self.name.to_string(),
            Kind::Counter => format!("{}_total", self.name),
            Kind::Info => format!("{}_info", self.name),
        }
    }
}

macro_rules! families {
    ($($id:ident = $i:expr => $name:expr, $kind:ident, $extra:expr, $help:expr;)+) => {
        $(pub const $id: usize = $i;)+
        /// Every family, in page order (indexed by the constants above).
        pub const FAMILIES: &[FamilySpec] = &[
            $(FamilySpec { name: $name, help: $help, kind: Kind::$kind, extra: $extra },)+
        ];
    };
}

families! {
    INFO = 0 => "kurento_element", Info, None,
        "A media element: pipeline, type, full KMS id, names and configured tags (join on kms, element)";
    CREATED = 1 => "kurento_element_created_timestamp_seconds", Gauge, None,
        "When KMS created the element";
    CONNECTION = 2 => "kurento_element_connection", Info, None,
        "A connection from source to sink; media = the sorted, comma-joined media types connected (e.g. AUDIO,DATA,VIDEO)";
    FLOWING = 3 => "kurento_media_flowing", Gauge, None,
        "1 when media flows; direction in = from the pipeline into the element, out = from the element into the pipeline (for a WebRtcEndpoint: received from its peer)";
    ICE = 4 => "kurento_ice_connection_state", Gauge, None,
        "ICE state of the endpoint (component 1, best stream): one series, the current state in `state`";
    MEDIA_CONNECTED = 5 => "kurento_media_connected", Gauge, None,
        "1 when the endpoint's media state is CONNECTED";
    CONNECTION_CONNECTED = 6 => "kurento_connection_connected", Gauge, None,
        "1 when the endpoint's connection state is CONNECTED";
    RX_BYTES = 7 => "kurento_rtp_received_bytes", Counter, None,
        "RTP bytes received from the remote peer";
    TX_BYTES = 8 => "kurento_rtp_sent_bytes", Counter, None,
        "RTP bytes sent to the remote peer";
    RX_RATE = 9 => "kurento_rtp_receive_bitrate_bytes_per_second", Gauge, None,
        "Receive rate between the last two stats samples";
    TX_RATE = 10 => "kurento_rtp_send_bitrate_bytes_per_second", Gauge, None,
        "Send rate between the last two stats samples";
    LOST = 11 => "kurento_rtp_lost_packets", Counter, None,
        "RTP packets lost on receive (absent while KMS reports -1, unknown)";
    JITTER = 12 => "kurento_rtp_jitter_seconds", Gauge, None,
        "Interarrival jitter of the received media";
    RTT = 13 => "kurento_rtp_round_trip_time_seconds", Gauge, None,
        "Round-trip time from RTCP of the sent media (absent while KMS reports 0)";
    RX_PACKETS = 14 => "kurento_rtp_received_packets", Counter, Some(Extra::Packets),
        "RTP packets received from the remote peer";
    TX_PACKETS = 15 => "kurento_rtp_sent_packets", Counter, Some(Extra::Packets),
        "RTP packets sent to the remote peer";
    FRACTION_LOST = 16 => "kurento_rtp_fraction_lost_ratio", Gauge, Some(Extra::FractionLost),
        "Fraction of packets lost in the last RTCP interval, 0 to 1";
    NACKS = 17 => "kurento_rtp_nacks", Counter, Some(Extra::Feedback),
        "NACKs counted on the media (direction receive: on streams from the peer)";
    PLIS = 18 => "kurento_rtp_plis", Counter, Some(Extra::Feedback),
        "PLIs counted on the media";
    FIRS = 19 => "kurento_rtp_firs", Counter, Some(Extra::Feedback),
        "FIRs counted on the media";
    REMB = 20 => "kurento_rtp_remb_bytes_per_second", Gauge, Some(Extra::Remb),
        "Receiver-estimated maximum rate (REMB)";
    TARGET = 21 => "kurento_rtp_target_bitrate_bytes_per_second", Gauge, Some(Extra::TargetBitrate),
        "Configured target rate of the sent media";
    E2E = 22 => "kurento_endpoint_e2e_latency_seconds", Gauge, Some(Extra::E2eLatency),
        "End-to-end latency per media type (only with the pipeline's latencyStats on)";
}

/// How many families there are.
pub const N: usize = 23;

/// Which families a configuration puts on the page.
pub fn enabled(cfg: &MetricsConfig) -> [bool; N] {
    let all = cfg.families.contains(&Extra::All);
    let mut on = [false; N];
    for (i, f) in FAMILIES.iter().enumerate() {
        on[i] = match f.extra {
            None => true,
            Some(x) => all || cfg.families.contains(&x),
        };
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_its_constants() {
        assert_eq!(FAMILIES.len(), N);
        assert_eq!(FAMILIES[E2E].name, "kurento_endpoint_e2e_latency_seconds");
        assert_eq!(FAMILIES[INFO].sample_name(), "kurento_element_info");
        assert_eq!(
            FAMILIES[RX_BYTES].sample_name(),
            "kurento_rtp_received_bytes_total"
        );
    }

    #[test]
    fn extras_are_off_unless_asked() {
        let on = enabled(&MetricsConfig::default());
        assert!(on[RTT] && on[INFO] && !on[RX_PACKETS] && !on[E2E]);
        let cfg: MetricsConfig = toml::from_str(r#"families = ["packets"]"#).unwrap();
        let on = enabled(&cfg);
        assert!(on[RX_PACKETS] && on[TX_PACKETS] && !on[NACKS]);
        let cfg: MetricsConfig = toml::from_str(r#"families = ["all"]"#).unwrap();
        assert!(enabled(&cfg).iter().all(|x| *x));
    }

    #[test]
    fn an_unknown_family_is_refused_by_name() {
        let e = toml::from_str::<MetricsConfig>(r#"families = ["packetz"]"#).unwrap_err();
        assert!(e.to_string().contains("packetz"), "{e}");
        let e = toml::from_str::<MetricsConfig>(r#"detail = "ssrc""#).unwrap_err();
        assert!(e.to_string().contains("ssrc"), "{e}");
    }
}
