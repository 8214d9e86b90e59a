//! The `[policy]` section of the configuration: rule syntax as the operator
//! writes it (serde types), the shipped default policy, and validation that
//! names each bad key and value.
//!
//! ```toml
//! [policy]
//! min_consecutive_cycles = 3
//! max_releases_per_cycle = 10
//! # flow_grace = "5m"            # default: each rule's longest condition duration
//! protect_tag = { key = "kurento-exporter.protect", value = "true" }
//! owner_tag = { key = "kurento-exporter.owner", value = "kurento-exporter" }
//!
//! [[policy.rules]]
//! name = "webrtc-peer-gone"
//! action = "flag"                # or "release"
//! min_age = "5m"
//! match = { element_types = ["WebRtcEndpoint"], tags = ["room", "env=prod", "!keep"] }
//! when = { all = [ { no_flow = { direction = "out", for = "5m" } }, { media_disconnected = "5m" } ] }
//! ```

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use crate::kms::types::IceComponentState;
use crate::problem::{Problem, Problems};

/// The element type a rule names to act on whole pipelines.
pub const PIPELINE_TYPE: &str = "MediaPipeline";

/// Everything under `[policy]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Cycles in a row an object must be a candidate before it may be released (K).
    pub min_consecutive_cycles: u32,
    /// Most releases in one decision.
    pub max_releases_per_cycle: usize,
    /// No release while media flowed this recently (see `flowed_within`: for
    /// an endpoint, from its peer, or fed to a peer not DISCONNECTED); default:
    /// the rule's longest condition duration.
    #[serde(with = "humantime_serde")]
    pub flow_grace: Option<Duration>,
    /// Every rule duration (`min_age`, conditions, `flow_grace`) multiplied
    /// by this, in (0, 1]: rules scaled down for a demo or a test without
    /// rewriting them. Default 1.
    pub duration_scale: f64,
    /// Objects carrying this tag are never acted on.
    pub protect_tag: TagPair,
    /// Objects the daemon created carry this tag; never acted on.
    pub owner_tag: TagPair,
    pub rules: Vec<RuleConfig>,
}

/// A tag key and value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPair {
    pub key: String,
    pub value: String,
}

/// What a rule does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Flag,
    Release,
}

/// One `[[policy.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    pub action: RuleAction,
    /// Objects younger than this are never matched.
    #[serde(with = "humantime_serde")]
    pub min_age: Duration,
    #[serde(rename = "match", default)]
    pub matcher: MatchConfig,
    pub when: ConditionConfig,
}

/// Which objects a rule looks at; every given part must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Short type names (`WebRtcEndpoint`); empty = every element type.
    /// `MediaPipeline` alone makes a pipeline rule.
    pub element_types: Vec<String>,
    /// `key=value`, `key` (exists) or `!key` (absent), on the object's tags
    /// (an element inherits its pipeline's tags it does not set itself).
    pub tags: Vec<String>,
    /// Regular expression searched in the pipeline's name.
    pub pipeline_name: Option<String>,
    /// KMS target names; empty = every target.
    pub targets: Vec<String>,
}

/// Which way media is silent for `no_flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowSide {
    /// Nothing enters the element from the pipeline.
    In,
    /// Nothing leaves it into the pipeline (a WebRtcEndpoint: nothing from its peer).
    Out,
    /// One direction or the other is silent.
    Either,
    /// Both directions are silent.
    Both,
}

/// A condition tree; see each variant for the TOML spelling.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionConfig {
    /// `{ all = [ ... ] }`: every condition holds.
    All(Vec<ConditionConfig>),
    /// `{ any = [ ... ] }`: at least one holds.
    Any(Vec<ConditionConfig>),
    /// `{ no_flow = { direction = "out", for = "5m" } }`; never-flowed counts
    /// from the first measurement; unknown before one.
    NoFlow {
        direction: FlowSide,
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
    /// `{ ice_state = { states = ["FAILED"], for = "1m" } }` (component 1 of every stream).
    IceState {
        states: Vec<IceComponentState>,
        #[serde(rename = "for", with = "humantime_serde")]
        duration: Duration,
    },
    /// `{ ice_never_connected = "2m" }`: no component ever CONNECTED/READY, this old.
    IceNeverConnected(#[serde(with = "humantime_serde")] Duration),
    /// `{ no_remote_sdp = "5m" }`: never negotiated, this old.
    NoRemoteSdp(#[serde(with = "humantime_serde")] Duration),
    /// `{ media_disconnected = "5m" }`: media state DISCONNECTED this long.
    MediaDisconnected(#[serde(with = "humantime_serde")] Duration),
    /// `{ dtls_closed = "10s" }`: DTLS state CLOSED this long.
    DtlsClosed(#[serde(with = "humantime_serde")] Duration),
    /// `{ session_terminated = "10s" }`: MediaSessionTerminated seen this long ago.
    SessionTerminated(#[serde(with = "humantime_serde")] Duration),
    /// `{ no_connections = "5m" }`: no connection to or from the element, this old.
    NoConnections(#[serde(with = "humantime_serde")] Duration),
    /// `{ neighbours_zombie = "30s" }`: every media neighbour of the element
    /// has been a zombie this long (counted from when the last of them became
    /// one), or it has had none for this long. Neighbours: the elements it is
    /// connected to either way; for a hub, its ports; for a port, the
    /// elements connected to it. Never true of an RTP endpoint (it is judged
    /// by its own peer: a viewer whose browser lives is not a zombie).
    NeighboursZombie(#[serde(with = "humantime_serde")] Duration),
    /// `{ pipeline_empty = "5m" }`: a pipeline that has had no element for
    /// this long.
    PipelineEmpty(#[serde(with = "humantime_serde")] Duration),
    /// `{ pipeline_all_zombie = "30s" }`: every element of the pipeline (hubs
    /// and ports included) is a zombie, the last of them for this long.
    PipelineAllZombie(#[serde(with = "humantime_serde")] Duration),
    /// `{ session_gone = "room" }`: the tag's value is not a live application session.
    SessionGone(String),
    /// `{ min_age = "10m" }`.
    MinAge(#[serde(with = "humantime_serde")] Duration),
}

impl ConditionConfig {
    /// Whether the condition reads pipeline-only facts.
    fn pipeline_only(&self) -> bool {
        matches!(
            self,
            ConditionConfig::PipelineEmpty(_) | ConditionConfig::PipelineAllZombie(_)
        )
    }

    /// Whether the condition reads element-only facts.
    fn element_only(&self) -> bool {
        !self.pipeline_only()
            && !matches!(
                self,
                ConditionConfig::All(_)
                    | ConditionConfig::Any(_)
                    | ConditionConfig::SessionGone(_)
                    | ConditionConfig::MinAge(_)
            )
    }

    /// Whether the tree reads other objects' verdicts (`neighbours_zombie`).
    pub fn reads_neighbours(&self) -> bool {
        match self {
            ConditionConfig::All(cs) | ConditionConfig::Any(cs) => {
                cs.iter().any(ConditionConfig::reads_neighbours)
            }
            ConditionConfig::NeighboursZombie(_) => true,
            _ => false,
        }
    }

    /// The same tree with every duration multiplied by `k`.
    pub fn scaled(&self, k: f64) -> ConditionConfig {
        use ConditionConfig as C;
        let f = |d: &Duration| d.mul_f64(k);
        match self {
            C::All(cs) => C::All(cs.iter().map(|c| c.scaled(k)).collect()),
            C::Any(cs) => C::Any(cs.iter().map(|c| c.scaled(k)).collect()),
            C::NoFlow {
                direction,
                duration,
            } => C::NoFlow {
                direction: *direction,
                duration: f(duration),
            },
            C::IceState { states, duration } => C::IceState {
                states: states.clone(),
                duration: f(duration),
            },
            C::IceNeverConnected(d) => C::IceNeverConnected(f(d)),
            C::NoRemoteSdp(d) => C::NoRemoteSdp(f(d)),
            C::MediaDisconnected(d) => C::MediaDisconnected(f(d)),
            C::DtlsClosed(d) => C::DtlsClosed(f(d)),
            C::SessionTerminated(d) => C::SessionTerminated(f(d)),
            C::NoConnections(d) => C::NoConnections(f(d)),
            C::NeighboursZombie(d) => C::NeighboursZombie(f(d)),
            C::PipelineEmpty(d) => C::PipelineEmpty(f(d)),
            C::PipelineAllZombie(d) => C::PipelineAllZombie(f(d)),
            C::SessionGone(t) => C::SessionGone(t.clone()),
            C::MinAge(d) => C::MinAge(f(d)),
        }
    }

    /// The longest duration anywhere in the tree.
    pub fn longest(&self) -> Duration {
        use ConditionConfig as C;
        match self {
            C::All(cs) | C::Any(cs) => cs.iter().map(C::longest).max().unwrap_or_default(),
            C::NoFlow { duration, .. } | C::IceState { duration, .. } => *duration,
            C::IceNeverConnected(d)
            | C::NoRemoteSdp(d)
            | C::MediaDisconnected(d)
            | C::DtlsClosed(d)
            | C::SessionTerminated(d)
            | C::NoConnections(d)
            | C::NeighboursZombie(d)
            | C::PipelineEmpty(d)
            | C::PipelineAllZombie(d)
            | C::MinAge(d) => *d,
            C::SessionGone(_) => Duration::ZERO,
        }
    }
}

impl PolicyConfig {
    /// Every problem of the `[policy]` section, each naming key and value.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Problems::default();
        if self.min_consecutive_cycles == 0 || self.min_consecutive_cycles > 1000 {
            p.fail(
                "policy.min_consecutive_cycles",
                self.min_consecutive_cycles,
                "must be between 1 and 1000",
            );
        }
        if self.max_releases_per_cycle > 10_000 {
            p.fail(
                "policy.max_releases_per_cycle",
                self.max_releases_per_cycle,
                "must be at most 10000",
            );
        }
        if !(self.duration_scale > 0.0 && self.duration_scale <= 1.0) {
            p.fail(
                "policy.duration_scale",
                self.duration_scale,
                "must be greater than 0 and at most 1",
            );
        }
        if let Some(g) = self.flow_grace {
            p.positive("policy.flow_grace", g);
        }
        for (name, tag) in [
            ("protect_tag", &self.protect_tag),
            ("owner_tag", &self.owner_tag),
        ] {
            if tag.key.is_empty() {
                p.fail(format!("policy.{name}.key"), &tag.key, "must not be empty");
            }
        }
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = format!("policy.rules[{i}]");
            if r.name.is_empty() || r.name.chars().any(char::is_control) {
                p.fail(
                    format!("{key}.name"),
                    &r.name,
                    "must be a non-empty printable string",
                );
            } else if !names.insert(r.name.as_str()) {
                p.fail(format!("{key}.name"), &r.name, "another rule has this name");
            }
            p.positive(format!("{key}.min_age"), r.min_age);
            check_match(&mut p, &key, &r.matcher);
            let pipeline_rule = r.matcher.element_types.iter().any(|t| t == PIPELINE_TYPE);
            check_condition(&mut p, format!("{key}.when"), &r.when, pipeline_rule);
        }
        p.into_vec()
    }
}

fn check_match(p: &mut Problems, key: &str, m: &MatchConfig) {
    let has_pipeline = m.element_types.iter().any(|t| t == PIPELINE_TYPE);
    for (i, t) in m.element_types.iter().enumerate() {
        let k = format!("{key}.match.element_types[{i}]");
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric()) {
            p.fail(k, t, "must be a KMS type name such as WebRtcEndpoint");
        } else if has_pipeline && t != PIPELINE_TYPE {
            p.fail(
                k,
                t,
                "a rule on MediaPipeline cannot also name element types",
            );
        }
    }
    for (i, s) in m.tags.iter().enumerate() {
        if let Err(why) = super::selector::TagSelector::parse(s) {
            p.fail(format!("{key}.match.tags[{i}]"), s, why);
        }
    }
    if let Some(re) = &m.pipeline_name {
        if let Err(e) = regex::Regex::new(re) {
            p.fail(
                format!("{key}.match.pipeline_name"),
                re,
                format!("invalid regex: {e}"),
            );
        }
    }
    for (i, t) in m.targets.iter().enumerate() {
        if t.is_empty() {
            p.fail(format!("{key}.match.targets[{i}]"), t, "must name a target");
        }
    }
}

fn check_condition(p: &mut Problems, key: String, c: &ConditionConfig, pipeline_rule: bool) {
    use ConditionConfig as C;
    if pipeline_rule && c.element_only() {
        p.fail(
            key.clone(),
            variant_name(c),
            "an element condition in a rule on MediaPipeline",
        );
    } else if !pipeline_rule && c.pipeline_only() {
        p.fail(
            key.clone(),
            variant_name(c),
            "a pipeline condition needs match.element_types = [\"MediaPipeline\"]",
        );
    }
    match c {
        C::All(cs) | C::Any(cs) => {
            let word = if matches!(c, C::All(_)) { "all" } else { "any" };
            if cs.is_empty() {
                p.fail(
                    format!("{key}.{word}"),
                    "[]",
                    "must list at least one condition",
                );
            }
            for (i, sub) in cs.iter().enumerate() {
                check_condition(p, format!("{key}.{word}[{i}]"), sub, pipeline_rule);
            }
        }
        C::NoFlow { duration, .. } => p.positive(format!("{key}.no_flow.for"), *duration),
        C::IceState { states, duration } => {
            if states.is_empty() {
                p.fail(
                    format!("{key}.ice_state.states"),
                    "[]",
                    "must list at least one ICE state",
                );
            }
            p.positive(format!("{key}.ice_state.for"), *duration);
        }
        C::SessionGone(tag) => {
            if tag.is_empty() {
                p.fail(format!("{key}.session_gone"), tag, "must name a tag key");
            }
        }
        other => p.positive(format!("{key}.{}", variant_name(other)), other.longest()),
    }
}

fn variant_name(c: &ConditionConfig) -> &'static str {
    use ConditionConfig as C;
    match c {
        C::All(_) => "all",
        C::Any(_) => "any",
        C::NoFlow { .. } => "no_flow",
        C::IceState { .. } => "ice_state",
        C::IceNeverConnected(_) => "ice_never_connected",
        C::NoRemoteSdp(_) => "no_remote_sdp",
        C::MediaDisconnected(_) => "media_disconnected",
        C::DtlsClosed(_) => "dtls_closed",
        C::SessionTerminated(_) => "session_terminated",
        C::NoConnections(_) => "no_connections",
        C::NeighboursZombie(_) => "neighbours_zombie",
        C::PipelineEmpty(_) => "pipeline_empty",
        C::PipelineAllZombie(_) => "pipeline_all_zombie",
        C::SessionGone(_) => "session_gone",
        C::MinAge(_) => "min_age",
    }
}
