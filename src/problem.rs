//! The configuration error: one invalid setting, naming its key, the value
//! as written and what would be accepted, and a collector of them. A leaf:
//! each part that owns a section of the configuration (config, policy,
//! reaper, probe) checks it with these, without importing the others.

use std::fmt;
use std::time::Duration;

/// The longest accepted wait for one answer or one step (request, read,
/// release, drain): beyond it, a typo (`500y`) rather than a choice.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The longest accepted period of something that repeats (scrape, refresh,
/// keep-alive, probe, spacing).
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The longest accepted age or hold of a state (rule durations, grace, the
/// session source's max age).
/// (`1year`, as humantime counts it: 365.25 days.)
pub const MAX_AGE: Duration = Duration::from_secs(31_557_600);

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `targets[1].url`.
    pub key: String,
    /// The offending value as the user wrote it.
    pub value: String,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}: {}", self.key, self.value, self.reason)
    }
}

/// The problems one to a line, indented, for an error message.
pub fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects the problems of one check.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records that `key` = `value` is invalid for `reason`.
    pub fn fail(
        &mut self,
        key: impl Into<String>,
        value: impl fmt::Display,
        reason: impl Into<String>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }

    /// Fails a zero duration.
    pub fn positive(&mut self, key: impl Into<String>, d: Duration) {
        if d.is_zero() {
            self.fail(
                key,
                humantime::format_duration(d),
                "must be greater than zero",
            );
        }
    }

    /// Fails a duration over `max`, the bound of its `kind` (`timeout`,
    /// `period`, `age`): such values overflow timers or never end.
    pub fn at_most(&mut self, key: impl Into<String>, d: Duration, max: Duration, kind: &str) {
        if d > max {
            self.fail(
                key,
                humantime::format_duration(d),
                format!(
                    "must be at most {} (the longest {kind} accepted)",
                    humantime::format_duration(max)
                ),
            );
        }
    }

    /// Fails a number outside `lo..=hi`.
    pub fn range(&mut self, key: impl Into<String>, v: usize, lo: usize, hi: usize) {
        if v < lo || v > hi {
            self.fail(key, v, format!("must be between {lo} and {hi}"));
        }
    }

    /// Adds problems found elsewhere.
    pub fn extend(&mut self, more: impl IntoIterator<Item = Problem>) {
        self.0.extend(more);
    }

    /// The problems recorded, in order.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}
