//! The HTTP control server (hyper): `GET /truth`, `POST /fault` (a `Fault`
//! as JSON), `POST /faults/clear`, `POST /restart`, `POST /scenario` (a
//! `Scenario` as JSON, run in the background), `POST /peer/{element}/vanish`
//! (optional `?how=crash|close|released`), `POST /peer/{element}/interrupt`
//! (optional `?ms=N`, default 10 s: a network blip), `POST /gc`, `POST /tick`,
//! `POST /advance?ms=N` (move the simulated clock), `POST /ice?mode=fail`
//! (`normal|never|fail`: ICE of WebRtcEndpoints created over the wire from now on).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
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

/// Serve the control API until aborted.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(shared, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(e),
    };
    match (&method, path.as_str()) {
        (&Method::GET, "/truth") => {
            let t = shared.read_engine(|e| e.truth());
            match serde_json::to_vec(&t) {
                Ok(v) => reply(StatusCode::OK, v),
                Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::POST, "/fault") => match serde_json::from_slice::<Fault>(&body) {
            Ok(f) => {
                shared.inject(f);
                ok()
            }
            Err(e) => bad(e),
        },
        (&Method::POST, "/faults/clear") => {
            shared.clear_faults();
            ok()
        }
        (&Method::POST, "/restart") => {
            shared.reset();
            ok()
        }
        (&Method::POST, "/gc") => {
            shared.with_engine(|e, now| ((), e.gc(now)));
            ok()
        }
        (&Method::POST, "/advance") => {
            let ms = query
                .strip_prefix("ms=")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1_000);
            shared.advance_clock(ms);
            shared.with_engine(|e, now| ((), e.tick(now)));
            ok()
        }
        (&Method::POST, "/ice") => {
            let mode = match query.strip_prefix("mode=") {
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
        (&Method::POST, "/tick") => {
            shared.with_engine(|e, now| ((), e.tick(now)));
            ok()
        }
        (&Method::POST, "/scenario") => match serde_json::from_slice::<Scenario>(&body) {
            Ok(s) => {
                tokio::spawn(async move {
                    if let Err(e) = super::scenario::run(&shared, s).await {
                        tracing::warn!(error = %e, "scenario failed");
                    }
                });
                ok()
            }
            Err(e) => bad(e),
        },
        (&Method::POST, p) if p.starts_with("/peer/") && p.ends_with("/vanish") => {
            let element = &p["/peer/".len()..p.len() - "/vanish".len()];
            let element = percent_decode(element);
            let how = match query.strip_prefix("how=") {
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
            if found {
                ok()
            } else {
                reply(StatusCode::NOT_FOUND, "{\"error\":\"no such element\"}")
            }
        }
        (&Method::POST, p) if p.starts_with("/peer/") && p.ends_with("/interrupt") => {
            let element = percent_decode(&p["/peer/".len()..p.len() - "/interrupt".len()]);
            let ms = query
                .strip_prefix("ms=")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(10_000);
            let found = shared.with_engine(|e, now| {
                e.advance(now);
                let found = e.interrupt_peer(&element, ms);
                (found, e.take_events())
            });
            if found {
                ok()
            } else {
                reply(StatusCode::NOT_FOUND, "{\"error\":\"no such endpoint\"}")
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "{\"error\":\"not found\"}"),
    }
}

/// Decode `%XX` escapes (element ids contain `/`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
