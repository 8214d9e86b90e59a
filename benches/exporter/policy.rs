//! The policy judgement and the reaper's planning on synthetic models: no
//! simulator, no I/O, pure functions timed per model size.

use std::time::Instant;

/// A model of `n` WebRtcEndpoints (4 per pipeline, plus a HubPort each), a
/// third of them with a vanished peer, as the scrape would have built it.
fn policy_model(n: usize, now: u64) -> kurento_exporter::model::TargetModel {
    use kurento_exporter::kms::types::{MediaState, MediaType};
    use kurento_exporter::model::{
        Direction, Element, EndpointChange, Pipeline, TargetModel, Update,
    };
    let mut m = TargetModel::new("bench");
    m.apply(Update::Connected(true));
    let t0 = now - 3_600_000;
    for p in 0..n / 4 {
        let pid = format!("{p:08}-0000-0000-0000-000000000000_kurento.MediaPipeline");
        m.apply(Update::Pipeline(Pipeline {
            id: pid.clone(),
            name: format!("room-{p}"),
            first_seen: t0,
            ..Default::default()
        }));
        for e in 0..4 {
            for ty in ["WebRtcEndpoint", "HubPort"] {
                let id = format!("{pid}/{p:08}-{e:04}-0000-0000-000000000000_kurento.{ty}");
                m.apply(Update::Element(Box::new(Element {
                    id: id.clone(),
                    pipeline: pid.clone(),
                    element_type: ty.into(),
                    name: id.clone(),
                    first_seen: t0,
                    ..Default::default()
                })));
                let gone = (p * 4 + e) % 3 == 0;
                for media in [MediaType::AUDIO, MediaType::VIDEO] {
                    for (dir, flowing) in [(Direction::In, true), (Direction::Out, !gone)] {
                        m.apply(Update::Flow {
                            element: id.clone(),
                            direction: dir,
                            media,
                            flowing: true,
                            at: t0,
                        });
                        m.apply(Update::Flow {
                            element: id.clone(),
                            direction: dir,
                            media,
                            flowing,
                            at: now - 600_000,
                        });
                    }
                }
                if ty == "WebRtcEndpoint" {
                    let state = if gone {
                        MediaState::DISCONNECTED
                    } else {
                        MediaState::CONNECTED
                    };
                    m.apply(Update::Endpoint {
                        element: id.clone(),
                        change: EndpointChange::RemoteSdp(Some("v=0\r\n".into())),
                        at: t0,
                    });
                    m.apply(Update::Endpoint {
                        element: id,
                        change: EndpointChange::MediaState(state),
                        at: now - 590_000,
                    });
                }
            }
        }
    }
    m.apply(Update::Synced { ok: true, at: now });
    m
}

/// Time of one judgement (policy `decide` + reaper `Ledger::plan`) per model size.
pub fn policy_bench() {
    use kurento_exporter::policy::{decide, History, Policy, PolicyConfig, SessionView};
    use kurento_exporter::reaper::{Freshness, Ledger, Mode};
    println!("\n## Policy judgement (default rules + a release rule, enforce planning)\n");
    println!("| endpoints | elements | verdicts | decide | plan | decide per element |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut cfg = PolicyConfig::default();
    let release: PolicyConfig = toml::from_str(
        r#"
[[rules]]
name = "gone"
action = "release"
min_age = "5m"
match = { element_types = ["WebRtcEndpoint"] }
when = { all = [ { no_flow = { direction = "out", for = "5m" } }, { media_disconnected = "5m" } ] }
"#,
    )
    .expect("rule");
    cfg.rules.extend(release.rules);
    let policy = Policy::new(&cfg).expect("policy");
    let now = 1_800_000_000_000u64;
    for n in [1_000usize, 10_000, 20_000] {
        let m = policy_model(n, now);
        let history = History::new();
        let runs = 5;
        let started = Instant::now();
        let mut d = decide(&m, &policy, &history, &SessionView::Unknown, now);
        for _ in 1..runs {
            d = decide(&m, &policy, &history, &SessionView::Unknown, now);
        }
        let per = started.elapsed() / runs;
        let mut ledger = Ledger::new("bench", Mode::Enforce, 100_000, now);
        let started = Instant::now();
        let plan = ledger.plan(&d, Freshness::Fresh, now, |_| true);
        let plan_t = started.elapsed();
        assert!(!plan.records.is_empty());
        println!(
            "| {n} | {} | {} | {:.1} ms | {:.1} ms | {:.2} µs |",
            m.elements.len(),
            d.verdicts.len(),
            per.as_secs_f64() * 1e3,
            plan_t.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e6 / m.elements.len() as f64
        );
    }
}
