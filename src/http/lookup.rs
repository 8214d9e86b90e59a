//! Where an object named by the API is: the target whose model holds it
//! (restricted to `?kms=` when given), read from the model alone.

use crate::model::{SharedTarget, Store, TargetModel};

/// The first target (only `kms` when given) whose model `found` says yes to.
pub fn find(
    store: &Store,
    kms: Option<&str>,
    found: impl Fn(&TargetModel) -> bool,
) -> Option<SharedTarget> {
    store
        .targets()
        .into_iter()
        .filter(|t| kms.is_none_or(|k| t.read().name == k))
        .find(|t| found(&t.read()))
}

/// The target holding pipeline `id`.
pub fn pipeline(store: &Store, kms: Option<&str>, id: &str) -> Option<SharedTarget> {
    find(store, kms, |m| m.pipelines.contains_key(id))
}

/// The target holding element `id`.
pub fn element(store: &Store, kms: Option<&str>, id: &str) -> Option<SharedTarget> {
    find(store, kms, |m| m.elements.contains_key(id))
}

/// (target, pipeline, type) of element `id`.
pub fn element_facts(
    store: &Store,
    kms: Option<&str>,
    id: &str,
) -> Option<(String, String, String)> {
    let t = element(store, kms, id)?;
    let m = t.read();
    let e = m.elements.get(id)?;
    Some((m.name.clone(), e.pipeline.clone(), e.element_type.clone()))
}
