//! Profiling aid: renders /metrics for a synthetic model of N endpoints.
//! `cargo run --release --example render_profile -- 10000`
use std::time::Instant;

use kurento_exporter::kms::types::{IceComponentState, MediaState, MediaType};
use kurento_exporter::metrics::Metrics;
use kurento_exporter::model::{
    Direction, Element, EndpointChange, InboundRtp, OutboundRtp, Pipeline, StatsSample, Store,
    Update,
};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let store = Store::default();
    let metrics = Metrics::new(store.clone(), vec!["room".into()], 1_000_000);
    {
        let t = store.target("bench");
        let mut m = t.write();
        m.apply(Update::Connected(true));
        m.apply(Update::Synced { ok: true, at: 1 });
        for p in 0..n / 10 {
            let pid = format!(
                "{:08x}-1111-2222-3333-444444444444_kurento.MediaPipeline",
                p
            );
            m.apply(Update::Pipeline(Pipeline {
                id: pid.clone(),
                ..Default::default()
            }));
            for e in 0..10 {
                let id = format!(
                    "{pid}/{:08x}-5555-6666-7777-888888888888_kurento.WebRtcEndpoint",
                    e
                );
                m.apply(Update::Element(Box::new(Element {
                    id: id.clone(),
                    pipeline: pid.clone(),
                    element_type: "WebRtcEndpoint".into(),
                    name: id.clone(),
                    created: Some(1_700_000_000),
                    ..Default::default()
                })));
                for d in [Direction::In, Direction::Out] {
                    for md in [MediaType::AUDIO, MediaType::VIDEO] {
                        m.apply(Update::Flow {
                            element: id.clone(),
                            direction: d,
                            media: md,
                            flowing: true,
                            at: 1,
                        });
                    }
                }
                m.apply(Update::Endpoint {
                    element: id.clone(),
                    change: EndpointChange::IceAll(vec![("1".into(), 1, IceComponentState::READY)]),
                    at: 1,
                });
                m.apply(Update::Endpoint {
                    element: id.clone(),
                    change: EndpointChange::MediaState(MediaState::CONNECTED),
                    at: 1,
                });
                for at in [1000, 2000] {
                    let s = StatsSample {
                        at,
                        inbound: [MediaType::AUDIO, MediaType::VIDEO]
                            .iter()
                            .map(|md| InboundRtp {
                                ssrc: format!("{}{e}", *md as u8),
                                media: Some(*md),
                                bytes: at * 100,
                                ..Default::default()
                            })
                            .collect(),
                        outbound: [MediaType::AUDIO, MediaType::VIDEO]
                            .iter()
                            .map(|md| OutboundRtp {
                                ssrc: format!("9{}{e}", *md as u8),
                                media: Some(*md),
                                bytes: at * 100,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    };
                    m.apply(Update::Stats {
                        element: id.clone(),
                        sample: s,
                    });
                }
            }
        }
    }
    for _ in 0..3 {
        let t = Instant::now();
        let (_, body) = metrics.render(None).unwrap();
        println!(
            "render {:?} size {} lines {}",
            t.elapsed(),
            body.len(),
            body.lines().count()
        );
    }
}
