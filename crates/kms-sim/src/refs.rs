//! Sessions, references and garbage collection, as KMS's `MediaSet` does
//! them: a session references an object and its parents when it touches it;
//! `unref` drops references recursively and releases orphans; the collector
//! drops sessions unused for a whole period.

use super::engine::Engine;
use kms_proto::wire::SERVER_MANAGER;

impl Engine {
    /// Reference `id` and its parents from `session`.
    pub(crate) fn add_ref(&mut self, session: &str, id: &str) {
        let mut chain = Vec::new();
        let mut cur = Some(id.to_owned());
        while let Some(c) = cur {
            cur = self.objects.get(&c).and_then(|o| o.parent.clone());
            if c != SERVER_MANAGER && self.objects.contains_key(&c) {
                chain.push(c);
            }
        }
        let s = self.sessions.entry(session.to_owned()).or_default();
        s.refs.extend(chain);
    }

    /// Whether any session references `id`.
    pub(crate) fn referenced(&self, id: &str) -> bool {
        self.sessions.values().any(|s| s.refs.contains(id))
    }

    /// `id` and all its descendants, descendants first.
    fn subtree(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(o) = self.objects.get(id) {
            for c in &o.children {
                out.extend(self.subtree(c));
            }
            out.push(id.to_owned());
        }
        out
    }

    /// Drop `session`'s references (and subscriptions) to `id` and its
    /// children; release whatever nobody references any more.
    pub fn unref(&mut self, session: &str, id: &str) {
        let tree = self.subtree(id);
        self.drop_refs(session, &tree);
    }

    fn drop_refs(&mut self, session: &str, ids: &[String]) {
        if let Some(s) = self.sessions.get_mut(session) {
            for id in ids {
                s.refs.remove(id);
            }
        }
        for id in ids {
            if let Some(o) = self.objects.get_mut(id) {
                o.subs.retain(|x| x.session != session);
            }
        }
        for id in ids {
            if id != SERVER_MANAGER && self.objects.contains_key(id) && !self.referenced(id) {
                self.release(id);
            }
        }
    }

    /// `closeSession`: drop every reference and subscription of `session`,
    /// or with `release` release every object it referenced.
    pub fn close_session(&mut self, session: &str, release: bool) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let refs: Vec<String> = s.refs.iter().cloned().collect();
        if let Some(sm) = self.objects.get_mut(SERVER_MANAGER) {
            sm.subs.retain(|x| x.session != session);
        }
        if release {
            for id in &refs {
                self.release(id);
            }
            if let Some(s) = self.sessions.get_mut(session) {
                s.refs.clear();
            }
        } else {
            // Children before parents, so a parent is released last.
            let mut ordered = refs;
            ordered.sort_by_key(|id| std::cmp::Reverse(id.matches('/').count()));
            self.drop_refs(session, &ordered);
        }
    }

    /// Drop `session` entirely (as the collector does).
    pub fn drop_session(&mut self, session: &str) {
        self.close_session(session, false);
        self.sessions.remove(session);
    }

    /// One garbage-collector round at `now`.
    pub fn gc(&mut self, now: u64) -> Vec<super::engine::Delivery> {
        self.now = self.now.max(now);
        self.gc_rounds += 1;
        let mut dead = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if s.conns > 0 || s.leaked {
                s.marked = false;
            } else if s.marked {
                dead.push(id.clone());
            } else {
                s.marked = true;
            }
        }
        for id in dead {
            tracing::debug!(session = %id, "collecting inactive session");
            self.drop_session(&id);
        }
        self.settle();
        std::mem::take(&mut self.out)
    }

    /// Ids of sessions, as `getSessions` lists them: N empty strings then the N ids.
    pub(crate) fn session_list(&self) -> Vec<String> {
        let n = self.sessions.len();
        std::iter::repeat_n(String::new(), n)
            .chain(self.sessions.keys().cloned())
            .collect()
    }
}
