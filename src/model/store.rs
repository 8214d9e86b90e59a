//! The set of target models shared between the scrape tasks (writers) and the
//! metrics collector, policy and HTTP API (readers).
//!
//! Each target has its own lock, held only to apply an update or to read a
//! snapshot, so a slow target never blocks another.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::TargetModel;

/// One target's model behind its own lock.
#[derive(Debug, Clone)]
pub struct SharedTarget(Arc<RwLock<TargetModel>>);

impl SharedTarget {
    pub fn new(model: TargetModel) -> Self {
        SharedTarget(Arc::new(RwLock::new(model)))
    }

    /// Read access. A writer that panicked leaves plain data behind: reading it is safe.
    pub fn read(&self) -> RwLockReadGuard<'_, TargetModel> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, TargetModel> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// All targets, by name.
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<RwLock<BTreeMap<String, SharedTarget>>>);

impl Store {
    /// The model of `name`, created empty if new.
    pub fn target(&self, name: &str) -> SharedTarget {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_string())
            .or_insert_with(|| SharedTarget::new(TargetModel::new(name)))
            .clone()
    }

    /// Forget a target (removed from the configuration): its series vanish.
    pub fn remove(&self, name: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Every target, in name order.
    pub fn targets(&self) -> Vec<SharedTarget> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The model of `name`, if configured.
    pub fn get(&self, name: &str) -> Option<SharedTarget> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_created_once_and_removed() {
        let s = Store::default();
        s.target("b").write().health.connected = true;
        s.target("a");
        assert!(s.target("b").read().health.connected, "same model returned");
        let names: Vec<String> = s.targets().iter().map(|t| t.read().name.clone()).collect();
        assert_eq!(names, vec!["a", "b"]);
        s.remove("a");
        assert!(s.get("a").is_none());
        assert_eq!(s.targets().len(), 1);
    }
}
