//! The compiled policy: validated rules with their regular expressions built
//! and durations in milliseconds, and the matcher that picks the objects a
//! rule looks at.

use std::collections::BTreeMap;

use regex::Regex;

use crate::model::Millis;
use crate::problem::Problem;

use super::config::{ConditionConfig, PolicyConfig, RuleAction, TagPair, PIPELINE_TYPE};
use super::selector::TagSelector;

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid policy:\n{}", crate::problem::render(.0))]
    Invalid(Vec<Problem>),
}

/// A ready-to-use policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub min_consecutive_cycles: u32,
    pub max_releases_per_cycle: usize,
    /// `None`: each rule's longest condition duration.
    pub flow_grace: Option<Millis>,
    pub protect_tag: TagPair,
    pub owner_tag: TagPair,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub action: RuleAction,
    pub min_age: Millis,
    pub matcher: Matcher,
    pub when: ConditionConfig,
    /// The longest duration of its conditions.
    pub longest: Millis,
}

impl Rule {
    /// Whether the rule acts on whole pipelines.
    pub fn on_pipelines(&self) -> bool {
        self.matcher.pipelines
    }
}

/// Which objects a rule looks at.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Acts on pipelines (`element_types = ["MediaPipeline"]`).
    pub pipelines: bool,
    /// Element types; empty = all.
    pub element_types: Vec<String>,
    pub tags: Vec<TagSelector>,
    pub pipeline_name: Option<Regex>,
    /// Target names; empty = all.
    pub targets: Vec<String>,
}

/// What the matcher reads of one object.
pub struct Subject<'a> {
    pub target: &'a str,
    pub element_type: &'a str,
    pub pipeline_name: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

impl Matcher {
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let is_pipeline = s.element_type == PIPELINE_TYPE;
        if is_pipeline != self.pipelines {
            return false;
        }
        if !self.element_types.is_empty() && !self.element_types.iter().any(|t| t == s.element_type)
        {
            return false;
        }
        if !self.targets.is_empty() && !self.targets.iter().any(|t| t == s.target) {
            return false;
        }
        if let Some(re) = &self.pipeline_name {
            match s.pipeline_name {
                Some(name) if re.is_match(name) => {}
                _ => return false,
            }
        }
        self.tags.iter().all(|t| t.matches(s.tags))
    }
}

fn ms(d: std::time::Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Policy {
    /// Validate and compile `[policy]`.
    pub fn new(cfg: &PolicyConfig) -> Result<Policy, PolicyError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let mut rules = Vec::with_capacity(cfg.rules.len());
        let mut bad = Vec::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            let pipeline_name = match r.matcher.pipeline_name.as_deref().map(Regex::new) {
                None => None,
                Some(Ok(re)) => Some(re),
                Some(Err(e)) => {
                    bad.push(Problem {
                        key: format!("policy.rules[{i}].match.pipeline_name"),
                        value: r.matcher.pipeline_name.clone().unwrap_or_default(),
                        reason: format!("invalid regex: {e}"),
                    });
                    None
                }
            };
            let tags = r
                .matcher
                .tags
                .iter()
                .filter_map(|t| TagSelector::parse(t).ok())
                .collect();
            let k = cfg.duration_scale;
            let when = r.when.scaled(k);
            rules.push(Rule {
                name: r.name.clone(),
                action: r.action,
                min_age: ms(r.min_age.mul_f64(k)),
                matcher: Matcher {
                    pipelines: r.matcher.element_types.iter().any(|t| t == PIPELINE_TYPE),
                    element_types: r.matcher.element_types.clone(),
                    tags,
                    pipeline_name,
                    targets: r.matcher.targets.clone(),
                },
                longest: ms(when.longest()),
                when,
            });
        }
        if !bad.is_empty() {
            return Err(PolicyError::Invalid(bad));
        }
        Ok(Policy {
            rules,
            min_consecutive_cycles: cfg.min_consecutive_cycles,
            max_releases_per_cycle: cfg.max_releases_per_cycle,
            flow_grace: cfg.flow_grace.map(|g| ms(g.mul_f64(cfg.duration_scale))),
            protect_tag: cfg.protect_tag.clone(),
            owner_tag: cfg.owner_tag.clone(),
        })
    }

    /// The flow grace window of a rule.
    pub fn grace_for(&self, rule: &Rule) -> Millis {
        self.flow_grace.unwrap_or(rule.longest)
    }

    /// Whether these tags protect an object (protect tag or daemon-owned).
    pub fn shields(&self, tags: &BTreeMap<String, String>) -> bool {
        [&self.protect_tag, &self.owner_tag]
            .iter()
            .any(|t| tags.get(&t.key) == Some(&t.value))
    }
}
