//! Events: the key captured and replayed events are matched by, and the wait
//! for every event the captured client had received by a given point.

use super::compare::{compare_message, short, IdMap};
use super::engine::{Report, EVENT_DEADLINE, SHORT_DEADLINE};
use super::wire::Conn;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use tokio::time::Instant;

/// The key events are matched by: type, object, and the state-like fields.
pub fn event_key(ev: &Value) -> String {
    let v = &ev["params"]["value"];
    let d = &v["data"];
    let mut k = format!(
        "{} on {}",
        v["type"].as_str().unwrap_or("?"),
        v["object"].as_str().unwrap_or("?")
    );
    for f in [
        "state",
        "newState",
        "mediaType",
        "componentId",
        "object",
        "objectId",
    ] {
        if let Some(x) = d.get(f) {
            k.push_str(&format!(
                " {f}={}",
                x.as_str().map_or_else(|| x.to_string(), str::to_string)
            ));
        }
    }
    k
}

/// Captured events by connection, and what the replay has matched so far.
#[derive(Default)]
pub struct EventBook {
    /// captured events seen so far in the capture, per connection
    pub seen: HashMap<u64, Vec<(usize, Value)>>,
    /// (conn, key) already found (or already reported missing)
    satisfied: HashSet<(u64, String)>,
    /// (conn, key) whose first event was compared in shape
    shape_done: HashSet<(u64, String)>,
    /// event types that timed out once (short deadline from then on)
    slow_types: HashSet<String>,
}

/// Wait until every captured event (by key) received so far on each
/// connection has a replayed counterpart; compare the first of each key.
pub async fn wait_events(
    conns: &mut BTreeMap<u64, Conn>,
    book: &mut EventBook,
    ids: &mut IdMap,
    rep: &mut Report,
    before: &str,
) {
    let EventBook {
        seen,
        satisfied,
        shape_done,
        slow_types,
    } = book;
    for (conn_id, conn) in conns.iter_mut() {
        conn.drain();
        let Some(evs) = seen.get(conn_id) else {
            continue;
        };
        // captured keys (in sim id space) still to be found
        let wanted: Vec<(String, Value)> = evs
            .iter()
            .map(|(_, e)| (event_key(&ids.subst(e)), e.clone()))
            .filter(|(k, _)| !satisfied.contains(&(*conn_id, k.clone())))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        for (k, cap) in wanted {
            if satisfied.contains(&(*conn_id, k.clone())) {
                continue;
            }
            // an event type that already timed out once is not waited for long again
            let etype = k.split(' ').next().unwrap_or("").to_string();
            let end = Instant::now()
                + if slow_types.contains(&etype) {
                    SHORT_DEADLINE
                } else {
                    EVENT_DEADLINE
                };
            loop {
                if let Some(got) = conn.events.iter().find(|e| event_key(e) == k) {
                    satisfied.insert((*conn_id, k.clone()));
                    rep.events_checked += 1;
                    if shape_done.insert((*conn_id, k.clone())) {
                        let mut t = ids.clone();
                        let errs = compare_message(&mut t, None, &cap, got);
                        if errs.is_empty() {
                            *ids = t;
                        } else {
                            rep.failures.push(format!(
                                "conn {conn_id} event {k}: {}\n      expected {}\n      got      {}",
                                errs.join("; "),
                                short(&cap),
                                short(got)
                            ));
                        }
                    }
                    break;
                }
                let now = Instant::now();
                if now >= end || conn.closed.is_some() {
                    satisfied.insert((*conn_id, k.clone()));
                    slow_types.insert(etype.clone());
                    // what the sim did send of this type on this object
                    let prefix: String = k.split(' ').take(3).collect::<Vec<_>>().join(" ");
                    let mut have: Vec<String> = conn
                        .events
                        .iter()
                        .map(event_key)
                        .filter(|e| e.starts_with(&prefix))
                        .map(|e| e[prefix.len()..].trim().to_string())
                        .collect();
                    have.dedup();
                    rep.missing.push((*conn_id, k.clone(), rep.failures.len()));
                    rep.failures.push(format!(
                        "conn {conn_id}: event {k} not received before {before} (KMS had sent it by then; by then the sim had sent this type on this object with: {have:?})"
                    ));
                    break;
                }
                match tokio::time::timeout_at(end, conn.rx.recv()).await {
                    Ok(Some(m)) => conn.absorb(m),
                    Ok(None) => conn.closed = Some("reader gone".into()),
                    Err(_) => {}
                }
            }
        }
    }
}
