//! One configured target, as the scrape task and the client settings read it.

use crate::config::ScrapeConfig;

/// One configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub name: String,
    pub url: String,
    pub scrape: ScrapeConfig,
}
