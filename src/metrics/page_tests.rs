//! Tests of the pre-rendered page: gzip, reuse of unchanged elements, one
//! connection series per (source, sink), the full-detail contract.

use super::tests::{line, populated, publish, sample, value, B};
use super::*;
use crate::kms::types::MediaType;
use crate::model::Update;

#[test]
fn the_gzip_body_is_the_plain_page_compressed() {
    use std::io::Read as _;
    let (_store, metrics) = populated();
    for accept in [None, Some("application/openmetrics-text")] {
        let plain = metrics.serve(accept, false).unwrap();
        let gz = metrics.serve(accept, true).unwrap();
        assert!(gz.gzip && !plain.gzip);
        let bytes: Vec<u8> = gz.body.iter().flat_map(|b| b.iter().copied()).collect();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("valid gzip");
        let (_, page) = metrics.render(accept).unwrap();
        assert_eq!(text, page);
    }
}

#[test]
fn unchanged_elements_are_copied_not_rendered_again() {
    let (store, metrics) = populated();
    let t = store.target("kms-1");
    let (_, before) = metrics.render(None).unwrap();
    let again = metrics.exporter.pages.publish(&t.read());
    assert_eq!((again.rendered, again.reused), (0, 2));
    t.write().apply(Update::Stats {
        element: B.into(),
        sample: sample(30_000, 3_000_000, 70_000),
    });
    let count = metrics.exporter.pages.publish(&t.read());
    assert_eq!((count.rendered, count.reused), (1, 1));
    let (_, after) = metrics.render(None).unwrap();
    assert_ne!(before, after);
    let b = "kms=\"kms-1\",element=\"b\",media=\"VIDEO\"";
    assert_eq!(
        value(&after, &format!("kurento_rtp_received_bytes_total{{{b}}}")),
        3_000_000.0
    );
    // The copied element's lines are as rendered.
    let info = |p: &str| {
        line(
            p,
            "kurento_element_info{kms=\"kms-1\",pipeline=\"p\",element=\"a\"",
        )
        .map(str::to_owned)
    };
    assert_eq!(info(&before), info(&after));
    // New settings: everything rendered anew.
    metrics.set_settings(Settings {
        tag_labels: vec![],
        max_endpoints: 100,
        stale_cycles: 2,
        contract: MetricsConfig::default(),
    });
    let count = metrics.exporter.pages.publish(&t.read());
    assert_eq!((count.rendered, count.reused), (2, 0));
}

/// Issue 12: one `kurento_element_connection_info` series per (source,
/// sink), its `media` the sorted set of media types connected.
#[test]
fn one_connection_series_per_sink_with_the_media_set() {
    let (store, metrics) = populated();
    let source = "p_kurento.MediaPipeline/a_kurento.PlayerEndpoint";
    let sink = |s: &str| format!("p_kurento.MediaPipeline/{s}_kurento.HubPort");
    store.target("kms-1").write().apply(Update::Sinks {
        source: source.into(),
        sinks: [
            (B.to_string(), MediaType::VIDEO),
            (B.to_string(), MediaType::DATA),
            (B.to_string(), MediaType::AUDIO),
            (sink("c"), MediaType::VIDEO),
            (sink("d"), MediaType::AUDIO),
            (sink("d"), MediaType::VIDEO),
        ]
        .into(),
    });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    let edges: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("kurento_element_connection_info{"))
        .collect();
    let edge = |sink: &str, media: &str| {
        format!("kurento_element_connection_info{{kms=\"kms-1\",pipeline=\"p\",source=\"a\",sink=\"{sink}\",media=\"{media}\"}} 1")
    };
    assert_eq!(
        edges,
        [
            edge("b", "AUDIO,DATA,VIDEO"),
            edge("c", "VIDEO"),
            edge("d", "AUDIO,VIDEO")
        ],
        "{page}"
    );
    // Disconnected: no series left.
    store.target("kms-1").write().apply(Update::Sinks {
        source: source.into(),
        sinks: Default::default(),
    });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert!(!page.contains("kurento_element_connection_info{"), "{page}");
}

#[test]
fn full_detail_is_per_stream_with_every_family() {
    let (store, metrics) = populated();
    metrics.set_settings(Settings {
        tag_labels: vec!["room".into()],
        max_endpoints: 100,
        stale_cycles: 2,
        contract: toml::from_str("families = [\"all\"]\ndetail = \"stream\"").unwrap(),
    });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    let rx = "kms=\"kms-1\",element=\"b\",media=\"VIDEO\",ssrc=\"111\"";
    let tx = "kms=\"kms-1\",element=\"b\",media=\"AUDIO\",ssrc=\"222\"";
    assert_eq!(
        value(&page, &format!("kurento_rtp_fraction_lost_ratio{{{rx}}}")),
        0.25
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_rtp_received_packets_total{{{rx}}}")
        ),
        2000.0
    );
    assert_eq!(
        value(&page, &format!("kurento_rtp_sent_packets_total{{{tx}}}")),
        600.0
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_rtp_nacks_total{{{rx},direction=\"receive\"}}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &page,
            "kurento_endpoint_e2e_latency_seconds{kms=\"kms-1\",element=\"b\",media=\"VIDEO\"}"
        ),
        0.12
    );
}
