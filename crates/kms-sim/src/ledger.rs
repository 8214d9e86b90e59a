//! The release ledger: every `release` request the simulated KMS received
//! (over the wire, also inside a `transaction`) and every release done by
//! the simulated application itself, in arrival order, with whether the
//! object existed at that moment.
//!
//! KMS answers success to a `release` of an unknown id, so only this ledger
//! shows a double release (the second record has `existed: false`) or the
//! release of a live object by a monitor. Children released with their
//! parent, `unref` orphans, garbage collection and `closeSession` are not
//! release requests and are not recorded. The ledger keeps the last
//! `RELEASE_LEDGER_CAP` records (older ones are counted in
//! `Truth::releases_dropped`) and survives a simulated KMS restart: it
//! records what the simulator received, not what KMS holds.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::engine::Engine;

/// Most records kept (about 20 MB at worst); older ones are dropped.
pub const RELEASE_LEDGER_CAP: usize = 100_000;

/// One release request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The object id the request named.
    pub object: String,
    /// The session that sent it (the application's own session for `by_app`).
    pub session: String,
    /// Simulated time of the request, epoch milliseconds.
    pub at_ms: u64,
    /// Whether the object existed when the request arrived.
    pub existed: bool,
    /// Done by the simulated application (a scenario's Leave or EndRoom),
    /// not received over the wire.
    #[serde(default)]
    pub by_app: bool,
}

/// The bounded ledger.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    records: VecDeque<ReleaseRecord>,
    /// Records dropped to stay within `RELEASE_LEDGER_CAP`.
    dropped: u64,
}

impl Ledger {
    fn push(&mut self, r: ReleaseRecord) {
        if self.records.len() >= RELEASE_LEDGER_CAP {
            self.records.pop_front();
            self.dropped += 1;
        }
        self.records.push_back(r);
    }

    /// The kept records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &ReleaseRecord> {
        self.records.iter()
    }

    /// How many older records were dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Engine {
    /// Note a request from `session` to release `object`, before it runs.
    pub(crate) fn record_release(&mut self, object: &str, session: &str, by_app: bool) {
        let r = ReleaseRecord {
            object: object.to_owned(),
            session: session.to_owned(),
            at_ms: self.now,
            existed: self.objects.contains_key(object),
            by_app,
        };
        self.ledger.push(r);
    }

    /// The application releases `object` (recorded as `by_app`).
    pub(crate) fn app_release(&mut self, object: &str) {
        let s = self.app_session();
        self.record_release(object, &s, true);
        self.release(object);
    }

    /// Move the ledger out (a restart keeps it).
    pub(crate) fn take_ledger(&mut self) -> Ledger {
        std::mem::take(&mut self.ledger)
    }

    pub(crate) fn restore_ledger(&mut self, ledger: Ledger) {
        self.ledger = ledger;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_is_bounded() {
        let mut l = Ledger::default();
        for i in 0..RELEASE_LEDGER_CAP + 3 {
            l.push(ReleaseRecord {
                object: i.to_string(),
                session: "s".into(),
                at_ms: i as u64,
                existed: true,
                by_app: false,
            });
        }
        assert_eq!(l.records().count(), RELEASE_LEDGER_CAP);
        assert_eq!(l.dropped(), 3);
        assert_eq!(l.records().next().map(|r| r.object.as_str()), Some("3"));
    }
}
