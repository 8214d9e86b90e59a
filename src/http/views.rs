//! JSON views of the model for the operator API: targets, pipelines (with
//! elements, connections and zombie verdicts), one element (flow, endpoint
//! states, latest stats, tags, verdicts) and an element's event history.
//! Pure reads of a `TargetModel` and the reaper's board; shapes are
//! documented in `docs/openapi.yaml`.

use serde_json::{json, Value};

use crate::clock::now_millis;
use crate::model::{Element, EndpointState, Since, StatsSample, TargetModel};
use crate::reaper::Zombie;

use super::state::AppState;

fn since<T: serde::Serialize>(s: Option<Since<T>>) -> Value {
    s.map_or(
        Value::Null,
        |s| json!({ "value": s.value, "since": s.since }),
    )
}

/// The current verdicts of target `kms` on objects `wanted` says yes to.
fn zombies(state: &AppState, kms: &str, wanted: impl Fn(&Zombie) -> bool) -> Vec<Zombie> {
    let Some(reaper) = &state.reaper else {
        return Vec::new();
    };
    reaper
        .board()
        .targets()
        .into_iter()
        .filter(|t| t.kms == kms)
        .flat_map(|t| t.zombies)
        .filter(|z| wanted(z))
        .collect()
}

/// The current verdicts of target `kms` by object (its first rule).
pub(super) fn verdicts(state: &AppState, kms: &str) -> super::paint::Verdicts {
    let mut out = super::paint::Verdicts::new();
    for z in zombies(state, kms, |_| true) {
        out.entry(z.object.clone()).or_insert(z);
    }
    out
}

/// `GET /api/v1/targets`.
pub(super) fn targets(state: &AppState) -> Value {
    let boards = state
        .reaper
        .as_ref()
        .map(|r| r.board().targets())
        .unwrap_or_default();
    let list: Vec<Value> = state
        .store
        .targets()
        .iter()
        .map(|t| {
            let m = t.read();
            let board = boards.iter().find(|b| b.kms == m.name);
            json!({
                "name": m.name,
                "connected": m.health.connected,
                "synced_once": m.health.synced_once,
                "last_sync_ok": m.health.last_sync_ok,
                "last_sync_at": m.health.last_sync_at,
                "server": m.server.as_ref().map(|s| json!({
                    "version": s.version,
                    "sessions": s.sessions,
                    "cpu_ratio": s.cpu_ratio,
                    "memory_bytes": s.memory_bytes,
                })),
                "pipelines": m.pipelines.len(),
                "elements": m.elements.len(),
                "reaper_mode": board.map(|b| b.mode),
                "zombies": board.map_or(0, |b| b.zombies.len()),
            })
        })
        .collect();
    let mut out = json!({ "now": now_millis(), "targets": list });
    if let Some(c) = &state.cluster {
        out["cluster"] = cluster(c);
    }
    out
}

/// This member's view of the cluster: members, and the owner of every
/// configured target (`owned`: this member watches it now).
fn cluster(c: &crate::cluster::Cluster) -> Value {
    let s = c.status();
    let acting = c.acting();
    let view = &acting.view;
    let targets: Vec<Value> = acting
        .configured
        .iter()
        .map(|t| json!({ "name": t, "owner": view.owner(t), "owned": acting.running.contains(t) }))
        .collect();
    json!({
        "member": s.member,
        "known": view.known,
        "members": view.members,
        "revision": view.revision,
        "etcd_up": s.etcd_up,
        "etcd_since": s.etcd_since,
        "last_error": s.last_error,
        "lease_valid": c.lease_valid(),
        "targets": targets,
    })
}

/// `GET /api/v1/pipelines?kms=`.
pub(super) fn pipelines(state: &AppState, kms: Option<&str>) -> Value {
    let mut list = Vec::new();
    for t in state.store.targets() {
        let m = t.read();
        if kms.is_some_and(|k| k != m.name) {
            continue;
        }
        let verdicts = zombies(state, &m.name, |_| true);
        for p in m.pipelines.values() {
            list.push(json!({
                "kms": m.name,
                "id": p.id,
                "name": p.name,
                "tags": p.tags,
                "created": p.created,
                "first_seen": p.first_seen,
                "elements": m.children(&p.id).count(),
                "zombies": verdicts.iter().filter(|z| z.pipeline == p.id || z.object == p.id).count(),
            }));
        }
    }
    json!({ "now": now_millis(), "pipelines": list })
}

/// `GET /api/v1/pipelines/{id}` (the pipeline is in `m`).
pub(super) fn pipeline(state: &AppState, m: &TargetModel, id: &str) -> Value {
    let p = &m.pipelines[id];
    let elements: Vec<Value> = m
        .children(id)
        .map(|e| element_body(m, e, Vec::new()))
        .collect();
    let connections: Vec<Value> = m
        .children(id)
        .flat_map(|e| {
            e.sinks
                .iter()
                .map(|(sink, media)| json!({ "source": e.id, "sink": sink, "media": media }))
        })
        .collect();
    let verdicts = zombies(state, &m.name, |z| z.pipeline == id || z.object == id);
    json!({
        "kms": m.name,
        "id": p.id,
        "name": p.name,
        "tags": p.tags,
        "created": p.created,
        "first_seen": p.first_seen,
        "elements": elements,
        "connections": connections,
        "zombies": verdicts,
    })
}

/// `GET /api/v1/elements/{id}` (the element is in `m`).
pub(super) fn element(state: &AppState, m: &TargetModel, id: &str) -> Value {
    let e = &m.elements[id];
    let verdicts = zombies(state, &m.name, |z| z.object == id);
    element_body(m, e, verdicts)
}

fn element_body(m: &TargetModel, e: &Element, verdicts: Vec<Zombie>) -> Value {
    let flow: Vec<Value> = e
        .flow
        .iter()
        .map(|(d, media, s)| {
            json!({ "direction": d, "media": media, "flowing": s.value, "since": s.since })
        })
        .collect();
    let sinks: Vec<Value> = e
        .sinks
        .iter()
        .map(|(sink, media)| json!({ "sink": sink, "media": media }))
        .collect();
    let sources: Vec<Value> = m
        .sources_of(&e.id)
        .map(|(source, media)| json!({ "source": source, "media": media }))
        .collect();
    json!({
        "kms": m.name,
        "id": e.id,
        "pipeline": e.pipeline,
        "type": e.element_type,
        "name": e.name,
        "tags": e.tags,
        "created": e.created,
        "first_seen": e.first_seen,
        "sinks": sinks,
        "sources": sources,
        "flow": flow,
        "endpoint": e.endpoint.as_ref().map(endpoint),
        "stats": e.stats.as_ref().map(|s| stats(s, e.previous_stats.as_ref())),
        "events": e.history.len(),
        "zombies": verdicts,
    })
}

fn endpoint(ep: &EndpointState) -> Value {
    let ice: Vec<Value> = ep
        .ice
        .iter()
        .map(|((stream, component), s)| {
            json!({ "stream": stream, "component": component, "state": s.value, "since": s.since })
        })
        .collect();
    json!({
        "media_state": since(ep.media_state),
        "connection_state": since(ep.connection_state),
        "ice": ice,
        "dtls": since(ep.dtls),
        "local_sdp": ep.local_sdp,
        "remote_sdp": ep.remote_sdp,
        "session_started": ep.session_started,
        "session_terminated": ep.session_terminated,
    })
}

/// The latest stats sample, with bitrates against the one before.
fn stats(s: &StatsSample, prev: Option<&StatsSample>) -> Value {
    let inbound: Vec<Value> = s
        .inbound
        .iter()
        .map(|r| {
            json!({
                "ssrc": r.ssrc, "media": r.media, "bytes": r.bytes, "packets": r.packets,
                "lost": r.lost, "fraction_lost": r.fraction_lost,
                "jitter_seconds": r.jitter_seconds, "nacks": r.nacks, "plis": r.plis,
                "firs": r.firs, "remb_bps": r.remb_bps,
                "bitrate_bps": prev.and_then(|p| s.receive_bitrate(p, &r.ssrc)),
            })
        })
        .collect();
    let outbound: Vec<Value> = s
        .outbound
        .iter()
        .map(|r| {
            json!({
                "ssrc": r.ssrc, "media": r.media, "bytes": r.bytes, "packets": r.packets,
                "round_trip_seconds": r.round_trip_seconds,
                "target_bitrate_bps": r.target_bitrate_bps, "nacks": r.nacks,
                "plis": r.plis, "firs": r.firs, "remb_bps": r.remb_bps,
                "bitrate_bps": prev.and_then(|p| s.send_bitrate(p, &r.ssrc)),
            })
        })
        .collect();
    json!({
        "at": s.at,
        "inbound": inbound,
        "outbound": outbound,
        "e2e_latency_seconds": s.e2e_latency_seconds,
    })
}

/// `GET /api/v1/elements/{id}/events?limit=N`: the newest `limit`
/// transitions (all kept by default), oldest first.
pub(super) fn events(m: &TargetModel, id: &str, limit: Option<usize>) -> Value {
    let e = &m.elements[id];
    let skip = limit.map_or(0, |l| e.history.len().saturating_sub(l));
    let events: Vec<Value> = e
        .history
        .iter()
        .skip(skip)
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    json!({
        "kms": m.name,
        "element": e.id,
        "capacity": m.history_len(),
        "events": events,
    })
}
