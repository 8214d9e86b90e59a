//! Candidate history across cycles: for each (object, rule), how many
//! consecutive decisions found the object a candidate and since when. Kept by
//! the caller (one `History` per target) and advanced with `observe`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Millis, ObjectId};

use super::Decision;

/// A run of consecutive candidate cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Streak {
    /// Consecutive decisions in which the object was a candidate.
    pub cycles: u32,
    /// When the run began.
    pub first: Millis,
}

/// Per (object, rule) streaks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    streaks: BTreeMap<(ObjectId, String), Streak>,
    /// Since when each element has had no media neighbour, each pipeline no
    /// element (`Decision::isolated` of the last decision).
    isolated: BTreeMap<ObjectId, Millis>,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    /// The streak of `object` under `rule` before this cycle.
    pub fn get(&self, object: &str, rule: &str) -> Option<Streak> {
        self.streaks
            .get(&(object.to_string(), rule.to_string()))
            .copied()
    }

    /// Set a streak (restoring saved history, tests).
    pub fn insert(&mut self, object: impl Into<ObjectId>, rule: impl Into<String>, s: Streak) {
        self.streaks.insert((object.into(), rule.into()), s);
    }

    /// Since when the object has been isolated (no neighbour; a pipeline: no
    /// element), as of the last decision.
    pub fn isolated_since(&self, object: &str) -> Option<Millis> {
        self.isolated.get(object).copied()
    }

    /// The earliest start of any streak of `object` (under any rule).
    pub fn candidate_since(&self, object: &str) -> Option<Millis> {
        // Keys sort by object first: the object's streaks are one range.
        self.streaks
            .range((object.to_string(), String::new())..)
            .take_while(|((o, _), _)| o == object)
            .map(|(_, s)| s.first)
            .min()
    }

    /// The streak the object has counting the current cycle.
    pub fn extended(&self, object: &str, rule: &str, now: Millis) -> Streak {
        match self.get(object, rule) {
            Some(s) => Streak {
                cycles: s.cycles.saturating_add(1),
                first: s.first.min(now),
            },
            None => Streak {
                cycles: 1,
                first: now,
            },
        }
    }

    /// The history after `decision`: its verdicts extend or start streaks,
    /// every other streak ends.
    pub fn observe(&self, decision: &Decision, now: Millis) -> History {
        let mut next = History {
            isolated: decision.isolated.clone(),
            ..History::default()
        };
        for v in &decision.verdicts {
            let s = self.extended(&v.object, &v.rule, now);
            next.insert(v.object.clone(), v.rule.clone(), s);
        }
        next
    }

    pub fn len(&self) -> usize {
        self.streaks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streaks.is_empty()
    }

    /// Every `(object, rule, streak)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Streak)> + '_ {
        self.streaks
            .iter()
            .map(|((o, r), s)| (o.as_str(), r.as_str(), *s))
    }
}
