//! What the handlers read: the shared state of the HTTP server.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::config::ApiConfig;
use crate::kms::Clients;
use crate::metrics::Metrics;
use crate::model::Store;
use crate::own::{Players, Watches};

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    /// Targets `/readyz` waits for; empty = every target.
    pub readiness: Arc<RwLock<Vec<String>>>,
    /// The reaper (zombies, manual releases); none in bare tests.
    pub reaper: Option<crate::reaper::Reaper>,
    /// The targets' KMS clients, for the API's live reads.
    pub clients: Clients,
    /// The API's limits (`[api]`, reloadable).
    pub api: Arc<RwLock<ApiConfig>>,
    /// Running watches.
    pub watches: Watches,
    /// Attached players.
    pub players: Players,
    /// The scrape interval in force (`scrape.interval`, reloadable): the
    /// console refreshes its pages at that pace.
    pub scrape_interval: Arc<RwLock<Duration>>,
    /// The gates of the live KMS reads, per target.
    pub live: super::gate::LiveGates,
    /// This member, in a cluster.
    pub cluster: Option<crate::cluster::Cluster>,
}

impl AppState {
    /// The API's limits in force.
    pub fn api_config(&self) -> ApiConfig {
        self.api
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The scrape interval in force.
    pub fn scrape_interval(&self) -> Duration {
        *self
            .scrape_interval
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
impl AppState {
    /// A state with an empty store and defaults everywhere (no reaper, no
    /// clients), for handler tests.
    pub fn bare() -> AppState {
        let store = Store::default();
        AppState {
            metrics: Arc::new(Metrics::new(store.clone(), vec![], 100)),
            store,
            readiness: Arc::default(),
            reaper: None,
            clients: Clients::default(),
            api: Arc::default(),
            watches: Watches::default(),
            players: Players::new(crate::own::Ownership::new(
                crate::policy::PolicyConfig::default().owner_tag,
            )),
            scrape_interval: Arc::default(),
            live: Default::default(),
            cluster: None,
        }
    }
}
