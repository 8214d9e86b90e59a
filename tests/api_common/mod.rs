//! Helpers of the operator API's integration tests: a simulator with a
//! chosen clock speed, a daemon config with an API token and short watch
//! limits, id encoding, JSON GETs, conference scenarios and waits on the
//! model through the API.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::exporter_common::*;
use kms_sim::{self as sim, Action, Scenario, SimConfig, SimHandle, Truth};
use kurento_exporter::config::Config;
use serde_json::Value;

pub const LIMIT: Duration = Duration::from_secs(20);
pub const TOKEN: &str = "api-test-token-0123456789";

/// A simulator whose clock runs `speed` times faster than real time.
pub async fn sim_at(speed: f64) -> SimHandle {
    sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        control: None,
        gc_period: Duration::from_secs(3600),
        tick: Duration::from_millis(100),
        seed: 5,
        speed,
    })
    .await
    .expect("simulator starts")
}

pub fn api_config(sim: &SimHandle) -> Config {
    let mut c = config(&[("sim", sim.ws_url())], Duration::from_millis(300));
    c.reaper.api_token = Some(TOKEN.into());
    c.api.watch_max = Duration::from_secs(6);
    c.api.watch_default = Duration::from_secs(2);
    c.validate().expect("valid API test config");
    c
}

/// An id as a path segment.
pub fn enc(id: &str) -> String {
    id.replace('/', "%2F")
}

pub async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = get(addr, path).await;
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

/// GET `path` with `Authorization: bearer <token>` (the scheme in lower
/// case); (status, JSON body).
pub async fn get_json_as(addr: SocketAddr, path: &str, token: &str) -> (u16, Value) {
    let auth = format!("Authorization: bearer {token}");
    let (status, body) = request(addr, "GET", path, &[auth], "")
        .await
        .expect("HTTP GET");
    let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, v)
}

pub fn conference(room: &str, n: u32) -> Scenario {
    Scenario::new().at(
        0,
        Action::Conference {
            room: room.into(),
            participants: n,
            named: vec![],
        },
    )
}

/// The WebRtcEndpoint of `participant`.
pub fn endpoint_of(t: &Truth, participant: &str) -> String {
    t.objects
        .iter()
        .find(|o| {
            o.kind == "WebRtcEndpoint"
                && o.tags
                    .iter()
                    .any(|(k, v)| k == "participant" && v == participant)
        })
        .map(|o| o.id.clone())
        .expect("participant's endpoint")
}

/// processOffer, gathering and trickled candidates, as an application does.
pub async fn known(addr: SocketAddr, id: &str) {
    eventually(LIMIT, "element in the model", || async {
        match get(addr, &format!("/api/v1/elements/{}", enc(id))).await {
            (200, _) => Ok(()),
            (s, b) => Err(format!("{s} {b}")),
        }
    })
    .await;
}

pub fn labels(media: &Value) -> Vec<String> {
    media["codecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The history entries of `element`, as (kind, detail) strings.
pub async fn history(addr: SocketAddr, element: &str) -> Vec<Value> {
    let (status, v) = get_json(addr, &format!("/api/v1/elements/{}/events", enc(element))).await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

pub fn position(events: &[Value], after: usize, want: impl Fn(&Value) -> bool) -> Option<usize> {
    events
        .iter()
        .enumerate()
        .skip(after)
        .find(|(_, e)| want(e))
        .map(|(i, _)| i)
}

pub fn flow_out(flowing: bool) -> impl Fn(&Value) -> bool {
    move |e: &Value| {
        e["kind"] == "flow"
            && e["direction"] == "out"
            && e["media"] == "VIDEO"
            && e["flowing"] == flowing
    }
}
