//! The shipped default policy: flag-only rules that find the zombies of
//! every application topology (1:1, one-to-many, SFU, MCU and dispatcher
//! rooms, players, recorders, loopbacks) with no rule a user must write.

use std::time::Duration;

use super::config::{
    ConditionConfig, FlowSide, MatchConfig, PolicyConfig, RuleAction, RuleConfig, TagPair,
    PIPELINE_TYPE,
};

impl Default for PolicyConfig {
    /// Flag-only, for every application topology: an RTP endpoint whose peer
    /// is gone (crashed: 5 minutes; closed properly, DTLS CLOSED: 1 minute)
    /// or that was never negotiated; any other element whose every media
    /// neighbour is a zombie (hub ports, hubs, players, recorders, filters:
    /// derived, 30 s after the last neighbour became one); a pipeline empty
    /// for 5 minutes or all of whose elements are zombies.
    fn default() -> Self {
        let five = Duration::from_secs(300);
        let minute = Duration::from_secs(60);
        let grace = Duration::from_secs(30);
        let types = |t: &[&str]| MatchConfig {
            element_types: t.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let silent_peer = |d| ConditionConfig::NoFlow {
            direction: FlowSide::Out,
            duration: d,
        };
        PolicyConfig {
            min_consecutive_cycles: 2,
            max_releases_per_cycle: 10,
            flow_grace: None,
            duration_scale: 1.0,
            protect_tag: TagPair {
                key: "kurento-exporter.protect".into(),
                value: "true".into(),
            },
            owner_tag: TagPair {
                key: "kurento-exporter.owner".into(),
                value: "kurento-exporter".into(),
            },
            rules: vec![
                RuleConfig {
                    name: "webrtc-peer-gone".into(),
                    action: RuleAction::Flag,
                    min_age: five,
                    matcher: types(&["WebRtcEndpoint", "RtpEndpoint"]),
                    when: ConditionConfig::All(vec![
                        silent_peer(five),
                        ConditionConfig::MediaDisconnected(five),
                    ]),
                },
                RuleConfig {
                    name: "webrtc-peer-closed".into(),
                    action: RuleAction::Flag,
                    min_age: minute,
                    matcher: types(&["WebRtcEndpoint"]),
                    when: ConditionConfig::All(vec![
                        silent_peer(minute),
                        ConditionConfig::DtlsClosed(minute),
                    ]),
                },
                RuleConfig {
                    name: "webrtc-never-negotiated".into(),
                    action: RuleAction::Flag,
                    min_age: five,
                    matcher: types(&["WebRtcEndpoint"]),
                    when: ConditionConfig::NoRemoteSdp(five),
                },
                RuleConfig {
                    name: "neighbours-zombie".into(),
                    action: RuleAction::Flag,
                    min_age: minute,
                    matcher: MatchConfig::default(),
                    when: ConditionConfig::NeighboursZombie(grace),
                },
                RuleConfig {
                    name: "pipeline-empty-or-all-zombie".into(),
                    action: RuleAction::Flag,
                    min_age: five,
                    matcher: types(&[PIPELINE_TYPE]),
                    when: ConditionConfig::Any(vec![
                        ConditionConfig::PipelineEmpty(five),
                        ConditionConfig::PipelineAllZombie(grace),
                    ]),
                },
            ],
        }
    }
}
