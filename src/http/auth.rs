//! The bearer token of the mutating calls (`reaper.api_token`): manual
//! releases, watches and player attachments are refused (403) when no token
//! is configured, and need it (401 otherwise) when one is. The scheme is
//! matched without regard to case (RFC 9110); the token is compared in
//! constant time whatever its length: both sides are hashed to SHA-256
//! first and the digests compared with `subtle`.

use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::StatusCode;
use serde_json::json;

use super::reply::{json_status, Resp};
use super::state::AppState;

/// Compare in time independent of where, and whether in length, `a` and
/// `b` differ: fixed-size digests, compared without an early exit.
fn same(a: &str, b: &str) -> bool {
    use ring::digest::{digest, SHA256};
    use subtle::ConstantTimeEq;
    let (x, y) = (digest(&SHA256, a.as_bytes()), digest(&SHA256, b.as_bytes()));
    x.as_ref().ct_eq(y.as_ref()).into()
}

/// The credentials of an `Authorization: Bearer <token>` header (the scheme
/// in any case, spaces around the token ignored).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(why: &str) -> Resp {
    let mut r = json_status(StatusCode::UNAUTHORIZED, &json!({ "error": why }));
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Check the bearer token of a mutating call (`reaper.api_token`); the
/// rejection, if any: 403 when no token is configured (`what` is then
/// disabled), 401 when missing or wrong.
pub fn rejection(state: &AppState, auth: Option<&str>, what: &str) -> Option<Resp> {
    let Some(token) = state.reaper.as_ref().and_then(|r| r.token()) else {
        return Some(json_status(
            StatusCode::FORBIDDEN,
            &json!({ "error": format!("{what} is disabled: no reaper.api_token configured") }),
        ));
    };
    let given = auth.and_then(bearer);
    match given {
        None => Some(unauthorized("a bearer token is required")),
        Some(t) if !same(t, &token) => Some(unauthorized("wrong token")),
        Some(_) => None,
    }
}

/// Whether the request carries the configured token (never, when none is
/// configured): it may then see what is redacted for others.
pub fn authorized(state: &AppState, auth: Option<&str>) -> bool {
    let Some(token) = state.reaper.as_ref().and_then(|r| r.token()) else {
        return false;
    };
    auth.and_then(bearer).is_some_and(|t| same(t, &token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert!(!same("", "abc") && !same("abc", "abcabc") && same("", ""));
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        for h in ["Bearer tok", "bearer tok", "BEARER  tok ", " bEaReR tok"] {
            assert_eq!(bearer(h), Some("tok"), "{h:?}");
        }
        for h in ["Basic tok", "Bearer", "Bearer ", "Bearertok", "tok"] {
            assert_eq!(bearer(h), None, "{h:?}");
        }
    }

    /// The time to refuse a token does not depend on how long the
    /// presented one is relative to the real one (no early return on a
    /// length mismatch): both sides always cost one digest.
    #[test]
    fn a_wrong_length_costs_a_full_comparison() {
        let token = "0123456789abcdef0123456789abcdef";
        let time = |given: &str| {
            let start = std::time::Instant::now();
            for _ in 0..50 {
                std::hint::black_box(same(std::hint::black_box(given), token));
            }
            start.elapsed()
        };
        // Interleaved, so that a busy machine slows both alike.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..201 {
            a.push(time("x"));
            b.push(time("0123456789abcdef0123456789abcdeX"));
        }
        a.sort();
        b.sort();
        let (short, right_length) = (a[100], b[100]);
        // An early exit would make the short one ~100x cheaper.
        assert!(
            short * 4 > right_length,
            "short {short:?} vs same length {right_length:?}"
        );
    }
}
