//! The registry of the targets' KMS clients: one per target, the same
//! `Client` (and so the same KMS session) the scrape and the reaper use. The
//! daemon keeps it in step with its targets (`Daemon::sync_targets`); the
//! operator API's live reads use these clients, the daemon's own objects only
//! their connection settings (they open sessions of their own).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::call::CallError;
use super::Client;

/// Target name → client. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Clients(Arc<RwLock<BTreeMap<String, Client>>>);

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        f.debug_tuple("Clients").field(&names).finish()
    }
}

impl Clients {
    /// Register (or replace) the client of `target`.
    pub fn insert(&self, target: &str, client: Client) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(target.to_owned(), client);
    }

    /// Forget the client of a removed target.
    pub fn remove(&self, target: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(target);
    }

    /// The client of `target`, if it is running.
    pub fn get(&self, target: &str) -> Option<Client> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .cloned()
    }

    /// The client of `target`, or why there is none (`NoClient`).
    pub fn call(&self, target: &str) -> Result<Client, CallError> {
        self.get(target)
            .ok_or_else(|| CallError::NoClient(target.to_owned()))
    }
}
