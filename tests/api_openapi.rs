//! `docs/openapi.yaml` (issue 6, acceptance 5): it parses as OpenAPI 3.0,
//! every `$ref` resolves, every operation has a summary and responses; and
//! every documented route (path and method) is exercised against a daemon
//! and the simulator over real TCP: the answer's status is the one expected
//! here and one the document lists, and a JSON answer carries every property
//! its documented schema requires. A route documented but not exercised (or
//! the reverse) fails the test.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod exporter_common;

use std::collections::BTreeSet;
use std::time::Duration;

use exporter_common::*;
use kms_sim::{Action, Scenario};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "openapi-test-token-0123456789";
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Every route this test calls, with the status it expects.
const EXERCISED: &[(&str, &str, u16)] = &[
    ("get", "/metrics", 200),
    ("get", "/healthz", 200),
    ("get", "/readyz", 200),
    ("get", "/api/v1/targets", 200),
    ("get", "/api/v1/pipelines", 200),
    ("get", "/api/v1/pipelines/{id}", 200),
    ("get", "/api/v1/pipelines/{id}/dot", 200),
    ("get", "/api/v1/elements/{id}", 200),
    ("get", "/api/v1/elements/{id}/events", 200),
    ("get", "/api/v1/elements/{id}/negotiation", 200),
    ("post", "/api/v1/elements/{id}/watch", 202),
    ("post", "/api/v1/pipelines/{id}/attach-player", 201),
    (
        "delete",
        "/api/v1/pipelines/{id}/attach-player/{player}",
        200,
    ),
    ("get", "/api/v1/zombies", 200),
    // An unknown object: nothing is released.
    ("post", "/api/v1/objects/{id}/release", 404),
];

fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("valid YAML")
}

/// Follow a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("unresolved $ref {r}"));
            resolve(doc, target)
        }
        None => v,
    }
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// (method, path) of every documented operation.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_owned(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_document_is_openapi_3_and_every_ref_resolves() {
    let doc = spec();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        assert!(r.starts_with("#/components/"), "{r}");
        resolve(&doc, &serde_json::json!({ "$ref": r }));
    }
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][&method];
        assert!(op["summary"].is_string(), "{method} {path}: summary");
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}");
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .map(|p| resolve(&doc, p))
                    .any(|p| p["in"] == "path" && p["name"] == name)
            });
            assert!(declared, "{method} {path}: path parameter {name}");
        }
    }
    let exercised: BTreeSet<(String, String)> = EXERCISED
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(&doc), exercised, "documented = exercised");
}

/// `method` `path` with the token and a JSON `body`; (status, body).
async fn send(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    request(addr, method, path, &[bearer(TOKEN)], body)
        .await
        .expect("HTTP request")
}

/// The properties `schema` requires that `body` lacks.
fn missing(doc: &Value, schema: &Value, body: &Value) -> Vec<String> {
    let schema = resolve(doc, schema);
    schema["required"]
        .as_array()
        .map(|req| {
            req.iter()
                .filter_map(Value::as_str)
                .filter(|k| body.get(*k).is_none())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_documented_route_answers_as_documented() {
    let doc = spec();
    let sim = simulator(Duration::from_secs(240)).await;
    sim.run_scenario(Scenario::new().at(
        0,
        Action::Conference {
            room: "doc".into(),
            participants: 2,
            named: vec![],
        },
    ))
    .await
    .unwrap();
    let mut cfg = config(&[("sim", sim.ws_url())], Duration::from_millis(300));
    cfg.reaper.api_token = Some(TOKEN.into());
    cfg.api.player_wait = Duration::from_millis(500);
    let d = daemon(cfg).await;
    let addr = d.addr();
    let truth = sim.truth();
    let pipeline = truth
        .objects
        .iter()
        .find(|o| o.kind == "MediaPipeline")
        .unwrap()
        .id
        .clone();
    let element = truth
        .objects
        .iter()
        .find(|o| o.kind == "WebRtcEndpoint")
        .unwrap()
        .id
        .replace('/', "%2F");
    eventually(LIMIT, "ready with the element known", || async {
        match (
            get(addr, "/readyz").await.0,
            get(addr, &format!("/api/v1/elements/{element}")).await.0,
        ) {
            (200, 200) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    let mut player = String::new();
    for (method, path, expected) in EXERCISED {
        let id = if path.starts_with("/api/v1/pipelines/") {
            pipeline.as_str()
        } else if path.starts_with("/api/v1/elements/") {
            element.as_str()
        } else {
            "nope_kurento.MediaPipeline%2Fnope_kurento.WebRtcEndpoint"
        };
        let mut url = path.replace("{id}", id).replace("{player}", &player);
        if path.ends_with("/watch") {
            url.push_str("?duration=1s");
        }
        let (status, body) = match *method {
            "get" => get(addr, &url).await,
            "post" if path.ends_with("/attach-player") => {
                let raw = element.replace("%2F", "/");
                let attach = serde_json::json!({ "uri": "file:///usr/share/kurento/clip.webm", "element": raw });
                let (status, body) = send(addr, "POST", &url, &attach.to_string()).await;
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                player = v["player"].as_str().unwrap_or_default().replace('/', "%2F");
                (status, body)
            }
            "delete" => send(addr, "DELETE", &url, "").await,
            _ => post(addr, &url, Some(TOKEN)).await,
        };
        assert_eq!(status, *expected, "{method} {url}: {body}");
        let op = &doc["paths"][path][method];
        let response = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{method} {path}: {status} not documented"));
        let response = resolve(&doc, response);
        if let Some(schema) = response.pointer("/content/application~1json/schema") {
            let v: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {body}"));
            let lacking = missing(&doc, schema, &v);
            assert!(lacking.is_empty(), "{method} {url}: lacks {lacking:?}: {v}");
        } else {
            assert!(!body.is_empty(), "{method} {url}: empty body");
        }
        if *method == "get" {
            let (wrong, _) = post(addr, &url, Some(TOKEN)).await;
            assert_eq!(wrong, 405, "POST {url}");
        }
    }
    d.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}
