//! The HTTP control server (hyper): `GET /truth`, `POST /fault` (a `Fault`
//! as JSON), `POST /faults/clear`, `POST /restart`, `POST /scenario` (a
//! `Scenario` as JSON, run in the background), `POST /peer/{element}/vanish`
//! (optional `?how=crash|close|released`), `POST /peer/{element}/interrupt`
//! (optional `?ms=N`, default 10 s: a network blip), `POST /gc`, `POST /tick`,
//! `POST /advance?ms=N` (move the simulated clock), `POST /ice?mode=fail`
//! (`normal|never|fail`: ICE of WebRtcEndpoints created over the wire from now on).
//!
//! One route table (`ROUTES`, matched by `matchit`); element ids in paths
//! and query values are percent-decoded (`percent-encoding`,
//! `form_urlencoded`). An unknown path, or a known one with another method,
//! is a 404.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use matchit::Router;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

use super::server::Shared;
use super::{Fault, Scenario, Vanish};

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn ok() -> Reply {
    reply(StatusCode::OK, "{\"ok\":true}")
}

fn bad(msg: impl std::fmt::Display) -> Reply {
    reply(
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "error": msg.to_string() }).to_string(),
    )
}

/// What a control request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Truth,
    Fault,
    ClearFaults,
    Restart,
    Gc,
    Advance,
    Ice,
    Tick,
    Scenario,
    Vanish,
    Interrupt,
}

/// The control API. `{element}` is an element id with its `/` escaped
/// (`%2F`); an id written with its `/` as is spans `{element}/{tail}`.
const ROUTES: [(Method, &str, Op); 13] = [
    (Method::GET, "/truth", Op::Truth),
    (Method::POST, "/fault", Op::Fault),
    (Method::POST, "/faults/clear", Op::ClearFaults),
    (Method::POST, "/restart", Op::Restart),
    (Method::POST, "/gc", Op::Gc),
    (Method::POST, "/advance", Op::Advance),
    (Method::POST, "/ice", Op::Ice),
    (Method::POST, "/tick", Op::Tick),
    (Method::POST, "/scenario", Op::Scenario),
    (Method::POST, "/peer/{element}/vanish", Op::Vanish),
    (Method::POST, "/peer/{element}/{tail}/vanish", Op::Vanish),
    (Method::POST, "/peer/{element}/interrupt", Op::Interrupt),
    (
        Method::POST,
        "/peer/{element}/{tail}/interrupt",
        Op::Interrupt,
    ),
];

type Routes = Router<(Method, Op)>;

fn routes() -> Result<Routes, matchit::InsertError> {
    let mut r = Router::new();
    for (method, path, op) in ROUTES {
        r.insert(path, (method, op))?;
    }
    Ok(r)
}

/// Serve the control API until aborted.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let routes = match routes() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "control API route table");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(route(shared, &routes, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// The value of `key` in a query string, decoded.
fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The element id of a `/peer/...` route, decoded.
fn element_id(params: &matchit::Params<'_, '_>) -> String {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let element = decode(params.get("element").unwrap_or(""));
    match params.get("tail") {
        Some(tail) => format!("{element}/{}", decode(tail)),
        None => element,
    }
}

fn not_found() -> Reply {
    ok_or_404(false, "not found")
}

/// `{"ok":true}`, or a 404 with `{"error": missing}`.
fn ok_or_404(found: bool, missing: &str) -> Reply {
    if found {
        ok()
    } else {
        reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": missing }).to_string(),
        )
    }
}

async fn route(shared: Arc<Shared>, routes: &Routes, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(e),
    };
    let Ok(found) = routes.at(&path) else {
        return not_found();
    };
    let (want, op) = found.value;
    if *want != method {
        return not_found();
    }
    match op {
        Op::Truth => {
            let t = shared.read_engine(|e| e.truth());
            match serde_json::to_vec(&t) {
                Ok(v) => reply(StatusCode::OK, v),
                Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        Op::Fault => match serde_json::from_slice::<Fault>(&body) {
            Ok(f) => {
                shared.inject(f);
                ok()
            }
            Err(e) => bad(e),
        },
        Op::ClearFaults => {
            shared.clear_faults();
            ok()
        }
        Op::Restart => {
            shared.reset();
            ok()
        }
        Op::Gc => {
            shared.with_engine(|e, now| ((), e.gc(now)));
            ok()
        }
        Op::Advance => {
            let ms = query_value(&query, "ms")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1_000);
            shared.advance_clock(ms);
            shared.with_engine(|e, now| ((), e.tick(now)));
            ok()
        }
        Op::Ice => {
            let mode = match query_value(&query, "mode").as_deref() {
                Some("normal") => super::IceMode::Normal,
                Some("never") => super::IceMode::Never,
                Some("fail") => super::IceMode::Fail,
                other => return bad(format!("mode: {other:?}: normal, never or fail")),
            };
            shared.with_engine(|e, _| {
                e.wire_ice = mode;
                ((), Vec::new())
            });
            ok()
        }
        Op::Tick => {
            shared.with_engine(|e, now| ((), e.tick(now)));
            ok()
        }
        Op::Scenario => match serde_json::from_slice::<Scenario>(&body) {
            Ok(s) => {
                tokio::spawn(async move {
                    if let Err(e) = super::scenario_run::run(&shared, s).await {
                        tracing::warn!(error = %e, "scenario failed");
                    }
                });
                ok()
            }
            Err(e) => bad(e),
        },
        Op::Vanish => {
            let element = element_id(&found.params);
            let how = match query_value(&query, "how").as_deref() {
                Some("close") => Vanish::Close,
                Some("released") => Vanish::Released,
                _ => Vanish::Crash,
            };
            let found = shared.with_engine(|e, now| {
                e.advance(now);
                let found = e.truth_has(&element);
                e.vanish_peer(&element, how);
                (found, e.take_events())
            });
            ok_or_404(found, "no such element")
        }
        Op::Interrupt => {
            let element = element_id(&found.params);
            let ms = query_value(&query, "ms")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(10_000);
            let found = shared.with_engine(|e, now| {
                e.advance(now);
                let found = e.interrupt_peer(&element, ms);
                (found, e.take_events())
            });
            ok_or_404(found, "no such endpoint")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Option<(Method, Op, String)> {
        let r = routes().unwrap();
        let m = r.at(path).ok()?;
        let (method, op) = m.value.clone();
        Some((method, op, element_id(&m.params)))
    }

    #[test]
    fn route_table_builds_and_decodes_element_ids() {
        assert_eq!(at("/truth"), Some((Method::GET, Op::Truth, String::new())));
        assert_eq!(at("/faults/clear").map(|r| r.1), Some(Op::ClearFaults));
        let id = "p_kurento.MediaPipeline/e_kurento.WebRtcEndpoint";
        let escaped = "/peer/p_kurento.MediaPipeline%2Fe_kurento.WebRtcEndpoint/vanish";
        assert_eq!(at(escaped), Some((Method::POST, Op::Vanish, id.into())));
        let raw = format!("/peer/{id}/interrupt");
        assert_eq!(at(&raw), Some((Method::POST, Op::Interrupt, id.into())));
        assert_eq!(at("/peer/a%20b/vanish").map(|r| r.2), Some("a b".into()));
        assert_eq!(at("/peer/x"), None);
        assert_eq!(at("/nope"), None);
    }

    #[test]
    fn query_values_are_decoded_wherever_they_stand() {
        assert_eq!(query_value("ms=5000", "ms").as_deref(), Some("5000"));
        assert_eq!(
            query_value("x=1&mode=fail", "mode").as_deref(),
            Some("fail")
        );
        assert_eq!(query_value("how=clo%73e", "how").as_deref(), Some("close"));
        assert_eq!(query_value("", "ms"), None);
    }
}
