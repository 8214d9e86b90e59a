//! The answers' shapes: plain text, JSON, JSON errors (`{"error": why}`),
//! 405 with `Allow`, 404 for an unknown object, Graphviz DOT, and the one
//! HTTP status of a failed call to a target's KMS (`call_status`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::kms::CallError;

/// An answer.
pub type Resp = Response<Body>;

/// A body sent as the buffers it is made of, in order: a `/metrics` page
/// goes out from the shared, pre-rendered parts without being copied.
#[derive(Debug, Default)]
pub struct Body {
    chunks: VecDeque<Bytes>,
    left: u64,
}

impl Body {
    pub fn chunks(chunks: Vec<Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let left = chunks.iter().map(|c| c.len() as u64).sum();
        Body { chunks, left }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::chunks(vec![b])
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(c) = &next {
            self.left -= c.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// `body` as `text/plain` with `status`.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `v` as JSON, 200.
pub fn json_resp(v: &serde_json::Value) -> Resp {
    let mut r = text(StatusCode::OK, v.to_string());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `v` as JSON with `status`.
pub fn json_status(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = json_resp(v);
    *r.status_mut() = status;
    r
}

/// `v` serialized as JSON with `status`.
pub fn json_of(status: StatusCode, v: &impl serde::Serialize) -> Resp {
    match serde_json::to_value(v) {
        Ok(v) => json_status(status, &v),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `{"error": why}` with `status`.
pub fn json_error(status: StatusCode, why: impl std::fmt::Display) -> Resp {
    json_status(status, &serde_json::json!({ "error": why.to_string() }))
}

/// 405 with the `Allow` header, a JSON body (the operator API).
pub fn not_allowed(allow: &'static str) -> Resp {
    let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// 405 with the `Allow` header, a text body (the pages, the reaper's release).
pub fn not_allowed_text(allow: &'static str) -> Resp {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// 404 naming the unknown object.
pub fn unknown(what: &str, id: &str) -> Resp {
    json_error(StatusCode::NOT_FOUND, format!("unknown {what}: {id}"))
}

/// What the console's pages may load: their own script and style sheet, and
/// calls to the daemon's API; never a frame of another site.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `body` with `content_type`, 200, the console's security headers.
fn console_resp(content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = text(StatusCode::OK, body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONSOLE_CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

/// A console page.
pub fn html(body: String) -> Resp {
    console_resp("text/html; charset=utf-8", body)
}

/// One of the console's embedded files.
pub fn asset(content_type: &'static str, body: &'static str) -> Resp {
    console_resp(content_type, body)
}

/// A Graphviz DOT document.
pub fn graphviz(dot: String) -> Resp {
    let mut r = text(StatusCode::OK, dot);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/vnd.graphviz; charset=utf-8"),
    );
    r
}

/// The status of a failed call to a target's KMS: 503 when the target is not
/// running, 504 when KMS did not answer in time, 404 when it no longer knows
/// the object, 502 for any other KMS error.
pub fn call_status(e: &CallError) -> StatusCode {
    match e {
        CallError::NoClient(_) => StatusCode::SERVICE_UNAVAILABLE,
        CallError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        CallError::Gone(_) => StatusCode::NOT_FOUND,
        CallError::Kms(_) => StatusCode::BAD_GATEWAY,
    }
}

impl From<CallError> for Resp {
    fn from(e: CallError) -> Resp {
        json_error(call_status(&e), &e)
    }
}
