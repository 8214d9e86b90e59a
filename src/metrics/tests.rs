//! Tests of the metrics page rendered from a model: names, labels, values, the cardinality cap.

use super::*;
use crate::kms::types::{IceComponentState, MediaState, MediaType};
use crate::model::{
    Direction, Element, InboundRtp, OutboundRtp, Pipeline, ServerSummary, StatsSample, Update,
};

const P: &str = "p_kurento.MediaPipeline";
const A: &str = "p_kurento.MediaPipeline/a_kurento.PlayerEndpoint";
pub(super) const B: &str = "p_kurento.MediaPipeline/b_kurento.WebRtcEndpoint";

fn element(id: &str, ty: &str, room: &str) -> Box<Element> {
    Box::new(Element {
        id: id.into(),
        pipeline: P.into(),
        element_type: ty.into(),
        name: id.into(),
        tags: [("room".to_string(), room.to_string())].into(),
        created: Some(1_700_000_000),
        ..Default::default()
    })
}

pub(super) fn sample(at: u64, rx: u64, tx: u64) -> StatsSample {
    StatsSample {
        at,
        inbound: vec![InboundRtp {
            ssrc: "111".into(),
            media: Some(MediaType::VIDEO),
            bytes: rx,
            packets: rx / 1000,
            lost: Some(3),
            fraction_lost: 0.25,
            jitter_seconds: 0.002,
            ..Default::default()
        }],
        outbound: vec![OutboundRtp {
            ssrc: "222".into(),
            media: Some(MediaType::AUDIO),
            bytes: tx,
            packets: tx / 100,
            round_trip_seconds: Some(0.05),
            ..Default::default()
        }],
        e2e_latency_seconds: [(MediaType::VIDEO, 0.12)].into(),
    }
}

pub(super) fn populated() -> (Store, Metrics) {
    let store = Store::default();
    let metrics = Metrics::new(store.clone(), vec!["room".into()], 100);
    let t = store.target("kms-1");
    let mut m = t.write();
    m.apply(Update::Connected(true));
    m.apply(Update::Synced {
        ok: true,
        at: 1_700_000_123_000,
    });
    m.apply(Update::Server(ServerSummary {
        version: "7.3.1".into(),
        sessions: 2,
        cpu_ratio: 0.5,
        memory_bytes: 1 << 20,
    }));
    m.apply(Update::Pipeline(Pipeline {
        id: P.into(),
        ..Default::default()
    }));
    m.apply(Update::Element(element(A, "PlayerEndpoint", "r1")));
    m.apply(Update::Element(element(B, "WebRtcEndpoint", "r1")));
    m.apply(Update::Sinks {
        source: A.into(),
        sinks: [(B.to_string(), MediaType::VIDEO)].into(),
    });
    m.apply(Update::Flow {
        element: B.into(),
        direction: Direction::In,
        media: MediaType::VIDEO,
        flowing: true,
        at: 1,
    });
    m.apply(Update::Flow {
        element: B.into(),
        direction: Direction::Out,
        media: MediaType::VIDEO,
        flowing: false,
        at: 1,
    });
    m.apply(Update::Endpoint {
        element: B.into(),
        change: crate::model::EndpointChange::IceAll(vec![(
            "1".into(),
            1,
            IceComponentState::READY,
        )]),
        at: 1,
    });
    m.apply(Update::Endpoint {
        element: B.into(),
        change: crate::model::EndpointChange::MediaState(MediaState::CONNECTED),
        at: 1,
    });
    m.apply(Update::Stats {
        element: B.into(),
        sample: sample(10_000, 1_000_000, 50_000),
    });
    m.apply(Update::Stats {
        element: B.into(),
        sample: sample(20_000, 2_000_000, 60_000),
    });
    drop(m);
    publish(&store, &metrics);
    (store, metrics)
}

/// What the scrape does after each cycle: publish every target's part.
pub(super) fn publish(store: &Store, metrics: &Metrics) {
    for t in store.targets() {
        metrics.exporter.pages.publish(&t.read());
    }
}

pub(super) fn line<'a>(page: &'a str, prefix: &str) -> Option<&'a str> {
    page.lines().find(|l| l.starts_with(prefix))
}

pub(super) fn value(page: &str, prefix: &str) -> f64 {
    let l = line(page, prefix).unwrap_or_else(|| panic!("no series {prefix} in\n{page}"));
    l.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn contract_series_have_model_values() {
    let (_store, metrics) = populated();
    let (ct, page) = metrics.render(None).unwrap();
    assert_eq!(ct, PROMETHEUS_TEXT);
    assert_eq!(value(&page, "kurento_up{kms=\"kms-1\"}"), 1.0);
    assert!(line(
        &page,
        "kurento_server_info{kms=\"kms-1\",version=\"7.3.1\"} 1"
    )
    .is_some());
    assert_eq!(value(&page, "kurento_pipelines{kms=\"kms-1\"}"), 1.0);
    assert_eq!(
        value(
            &page,
            "kurento_elements{kms=\"kms-1\",element_type=\"WebRtcEndpoint\"}"
        ),
        1.0
    );
    assert_eq!(value(&page, "kurento_sessions{"), 2.0);
    assert_eq!(value(&page, "kurento_server_cpu_ratio{"), 0.5);
    assert_eq!(value(&page, "kurento_server_memory_bytes{"), 1048576.0);
    let b = "kms=\"kms-1\",element=\"b\"";
    assert!(
        line(&page, &format!("kurento_element_info{{kms=\"kms-1\",pipeline=\"p\",element=\"b\",element_type=\"WebRtcEndpoint\",id=\"{B}\",room=\"r1\"}} 1")).is_some(),
        "{page}"
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_element_created_timestamp_seconds{{{b}}}")
        ),
        1.7e9
    );
    assert!(line(&page, "kurento_element_connection_info{kms=\"kms-1\",pipeline=\"p\",source=\"a\",sink=\"b\",media=\"VIDEO\"} 1").is_some());
    assert_eq!(
        value(
            &page,
            &format!("kurento_media_flowing{{{b},media=\"VIDEO\",direction=\"in\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_media_flowing{{{b},media=\"VIDEO\",direction=\"out\"}}")
        ),
        0.0
    );
    // One series per endpoint: the current state.
    assert_eq!(
        value(
            &page,
            &format!("kurento_ice_connection_state{{{b},state=\"READY\"}}")
        ),
        1.0
    );
    assert_eq!(page.matches("kurento_ice_connection_state{").count(), 1);
    assert_eq!(
        value(&page, &format!("kurento_media_connected{{{b}}}")),
        1.0
    );
    let rx = format!("{b},media=\"VIDEO\"");
    let tx = format!("{b},media=\"AUDIO\"");
    assert_eq!(
        value(&page, &format!("kurento_rtp_received_bytes_total{{{rx}}}")),
        2_000_000.0
    );
    assert_eq!(
        value(&page, &format!("kurento_rtp_sent_bytes_total{{{tx}}}")),
        60_000.0
    );
    assert_eq!(
        value(&page, &format!("kurento_rtp_lost_packets_total{{{rx}}}")),
        3.0
    );
    assert_eq!(
        value(&page, &format!("kurento_rtp_jitter_seconds{{{rx}}}")),
        0.002
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_rtp_round_trip_time_seconds{{{tx}}}")
        ),
        0.05
    );
    // 1 MB in 10 s = 100 kB/s; 10 kB in 10 s = 1 kB/s.
    assert_eq!(
        value(
            &page,
            &format!("kurento_rtp_receive_bitrate_bytes_per_second{{{rx}}}")
        ),
        100_000.0
    );
    assert_eq!(
        value(
            &page,
            &format!("kurento_rtp_send_bitrate_bytes_per_second{{{tx}}}")
        ),
        1_000.0
    );
    // Opt-in families are off by default; no ssrc, no pipeline on per-element series.
    for off in [
        "kurento_rtp_fraction_lost_ratio",
        "kurento_rtp_received_packets",
        "kurento_endpoint_e2e_latency_seconds",
        "ssrc=",
    ] {
        assert!(!page.contains(off), "{off} on the default page");
    }
    assert!(!page.contains("kurento_media_flowing{kms=\"kms-1\",pipeline"));
    let build = line(&page, "kurento_exporter_build_info{version=").unwrap();
    assert!(
        build.contains("revision=\"") && build.contains("rustc_version=\"rustc "),
        "{build}"
    );
    #[cfg(target_os = "linux")]
    for family in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        let l = line(&page, family).unwrap_or_else(|| panic!("{family} missing"));
        let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v > 0.0 || family.starts_with("process_cpu"), "{l}");
    }
    assert_eq!(
        value(
            &page,
            "kurento_exporter_last_sync_timestamp_seconds{kms=\"kms-1\"}"
        ),
        1_700_000_123.0
    );
    assert!(page.contains("# HELP kurento_up 1 when the target is connected and its last sync succeeded (read from KMS"));
}

#[test]
fn released_objects_vanish_at_next_scrape() {
    let (store, metrics) = populated();
    store.target("kms-1").write().remove(B);
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert!(!page.contains(B), "{page}");
    assert!(page.contains(A));
    store.remove("kms-1");
    let (_, page) = metrics.render(None).unwrap();
    assert!(!page.contains("kms-1"), "{page}");
}

#[test]
fn cardinality_is_capped_and_counted() {
    let store = Store::default();
    let metrics = Metrics::new(store.clone(), vec![], 1);
    {
        let t = store.target("k");
        let mut m = t.write();
        m.apply(Update::Connected(true));
        m.apply(Update::Element(element(A, "PlayerEndpoint", "r")));
        m.apply(Update::Element(element(B, "WebRtcEndpoint", "r")));
    }
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert_eq!(page.matches("kurento_element_info{").count(), 1);
    assert_eq!(
        value(&page, "kurento_exporter_dropped_elements{kms=\"k\"}"),
        1.0
    );
}

/// Issue 14, defect 4: a target disconnected, or whose syncs failed
/// `stale_cycles` times in a row, has no per-object series; `kurento_up`,
/// the last-sync time and the counts stay.
#[test]
fn per_object_series_go_with_stale_data() {
    let (store, metrics) = populated();
    let per_object = |page: &str| page.matches("kurento_element_info{").count();
    let (_, page) = metrics.render(None).unwrap();
    let before = per_object(&page);
    assert!(before > 0);
    let t = store.target("kms-1");
    t.write().apply(Update::Synced { ok: false, at: 9 });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert_eq!(per_object(&page), before, "one failed cycle: kept");
    t.write().apply(Update::Synced { ok: false, at: 10 });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert_eq!(per_object(&page), 0, "two in a row: gone");
    assert_eq!(value(&page, "kurento_up{kms=\"kms-1\"}"), 0.0);
    assert!(page.contains("kurento_exporter_last_sync_timestamp_seconds{kms=\"kms-1\"}"));
    assert!(page.contains("kurento_pipelines{kms=\"kms-1\"}"));
    assert_eq!(
        value(&page, "kurento_exporter_dropped_elements{kms=\"kms-1\"}"),
        0.0,
        "not counted as dropped by the cap"
    );
    t.write().apply(Update::Synced { ok: true, at: 11 });
    publish(&store, &metrics);
    let (_, page) = metrics.render(None).unwrap();
    assert_eq!(per_object(&page), before, "back with a good sync");
    t.write().apply(Update::Connected(false));
    let (_, page) = metrics.render(None).unwrap();
    assert_eq!(per_object(&page), 0, "disconnected: gone");
}

#[test]
fn openmetrics_by_negotiation_and_exporter_instruments() {
    let (_store, metrics) = populated();
    metrics
        .exporter
        .rpc("kms-1", "getStats", Outcome::ok, 0.003);
    metrics.exporter.error("kms-1", ErrorKind::timeout);
    metrics.exporter.sync("kms-1", 0.2);
    let (ct, page) = metrics
        .render(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        ))
        .unwrap();
    assert_eq!(ct, OPENMETRICS_TEXT);
    assert!(page.ends_with("# EOF\n"));
    assert!(page.contains("kurento_exporter_rpc_requests_total{kms=\"kms-1\",method=\"getStats\",outcome=\"ok\"} 1"), "{page}");
    assert!(page.contains("kurento_exporter_errors_total{kms=\"kms-1\",kind=\"timeout\"} 1"));
    assert!(page.contains("kurento_exporter_sync_duration_seconds_count{kms=\"kms-1\"} 1"));
}

#[test]
fn a_refused_reload_is_a_zero_and_keeps_the_last_good_timestamp() {
    let (_, m) = populated();
    m.exporter.config_reloaded(true, 1_700_000_000.0);
    m.exporter.config_reloaded(false, 1_700_000_100.0);
    let (_, page) = m.render(None).unwrap();
    assert_eq!(
        value(&page, "kurento_exporter_config_last_reload_successful "),
        0.0
    );
    assert_eq!(
        value(
            &page,
            "kurento_exporter_config_last_reload_success_timestamp_seconds "
        ),
        1_700_000_000.0
    );
}

#[test]
fn fleet_counts_and_distributions() {
    let (store, metrics) = populated();
    let model = store.target("kms-1");
    metrics
        .exporter
        .fleet
        .observe("kms-1", &quality(&model.read()));
    let (_, page) = metrics.render(None).unwrap();
    // B: ICE READY, media CONNECTED, nothing from its peer but video to it:
    // media flows through it.
    assert_eq!(
        value(
            &page,
            "kurento_fleet_endpoints{kms=\"kms-1\",ice_state=\"READY\",media_state=\"CONNECTED\",flowing=\"true\"}"
        ),
        1.0
    );
    // One endpoint observed once in each histogram.
    for h in [
        "kurento_fleet_endpoint_loss_ratio",
        "kurento_fleet_endpoint_jitter_seconds",
        "kurento_fleet_endpoint_receive_bitrate_bytes_per_second",
    ] {
        assert_eq!(
            value(&page, &format!("{h}_count{{kms=\"kms-1\"}}")),
            1.0,
            "{h}"
        );
        assert_eq!(
            value(&page, &format!("{h}_bucket{{kms=\"kms-1\",le=\"+Inf\"}}")),
            1.0,
            "{h}"
        );
    }
}
