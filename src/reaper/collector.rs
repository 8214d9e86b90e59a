//! The reaper's series, computed from its board at scrape time: one
//! `kurento_zombie` per (object, rule) verdict (objects by short id, as on
//! every series) (with the chain of a derived
//! one in `because`), `kurento_zombies` per rule
//! (zeros included), `kurento_reaper_mode`, and the application-session
//! source's state. A released object's series vanish with its verdict.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use kms_proto::ids::short_id;

use super::{Board, Mode};
use crate::clock::now_millis;
use crate::metrics::Labels;

/// Encodes the board.
#[derive(Debug)]
pub struct ReaperCollector {
    board: Board,
}

impl ReaperCollector {
    pub fn new(board: Board) -> Self {
        ReaperCollector { board }
    }
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels<'_>, f64)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        m.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

impl Collector for ReaperCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        self.board.with(|targets, sessions| {
            let mut zombie = Vec::new();
            let mut zombies = Vec::new();
            let mut modes = Vec::new();
            for b in targets.values() {
                for z in &b.zombies {
                    let labels: Labels<'_> = vec![
                        ("kms", b.kms.as_str()),
                        ("pipeline", short_id(&z.pipeline)),
                        ("element", short_id(&z.object)),
                        ("element_type", z.element_type.as_str()),
                        ("rule", z.rule.as_str()),
                        // The chain of a derived verdict: "its only neighbour is zombie X".
                        (
                            "because",
                            z.evidence
                                .because
                                .as_ref()
                                .map_or("", |b| b.reason.as_str()),
                        ),
                    ];
                    zombie.push((labels, 1.0));
                }
                for rule in &b.rules {
                    let n = b.zombies.iter().filter(|z| &z.rule == rule).count();
                    zombies.push((
                        vec![("kms", b.kms.as_str()), ("rule", rule.as_str())],
                        n as f64,
                    ));
                }
                for m in Mode::ALL {
                    let v = if m == b.mode { 1.0 } else { 0.0 };
                    modes.push((vec![("kms", b.kms.as_str()), ("mode", m.as_str())], v));
                }
            }
            gauge(
                &mut enc,
                "kurento_zombie",
                "1 for each object a zombie rule matches (judged after every sync cycle)",
                &zombie,
            )?;
            gauge(
                &mut enc,
                "kurento_zombies",
                "Objects each zombie rule matches (judged after every sync cycle)",
                &zombies,
            )?;
            gauge(
                &mut enc,
                "kurento_reaper_mode",
                "1 for the reaper's mode on a target (observe, dry-run, enforce)",
                &modes,
            )?;
            if sessions.configured {
                let now = now_millis();
                let up = if sessions.up(now) { 1.0 } else { 0.0 };
                gauge(
                    &mut enc,
                    "kurento_reaper_session_source_up",
                    "1 when the application-session source was read recently and without error",
                    &[(vec![("source", sessions.source.as_str())], up)],
                )?;
                gauge(
                    &mut enc,
                    "kurento_reaper_session_source_sessions",
                    "Live application sessions in the last good read",
                    &[(
                        vec![("source", sessions.source.as_str())],
                        sessions.sessions as f64,
                    )],
                )?;
                if let Some(t) = sessions.last_ok {
                    gauge(
                        &mut enc,
                        "kurento_reaper_session_source_last_success_timestamp_seconds",
                        "Time of the last good read of the application-session source",
                        &[(
                            vec![("source", sessions.source.as_str())],
                            t as f64 / 1000.0,
                        )],
                    )?;
                }
            }
            Ok(())
        })
    }
}
