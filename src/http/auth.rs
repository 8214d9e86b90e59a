//! The token of the mutating calls (`reaper.api_token`): manual releases,
//! watches and player attachments are refused (403) when no token is
//! configured, and need it (401 otherwise) when one is. It comes in an
//! `X-Api-Token` header, or as `Authorization: Bearer <token>` (the scheme
//! matched without regard to case, RFC 9110) when that header is not taken
//! by basic auth (`web`: `basic_required` is its 401). The token is
//! compared in constant time whatever its length: both sides are hashed to
//! SHA-256 first and the digests compared with `subtle`.

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

/// The API token a request presents: its `X-Api-Token` header, else the
/// bearer credentials of its `Authorization` header.
pub fn presented<'a>(
    authorization: Option<&'a str>,
    api_token: Option<&'a str>,
) -> Option<&'a str> {
    api_token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| authorization.and_then(bearer))
}

/// The 401 of a request without valid basic credentials (when the web
/// config names users).
pub fn basic_required() -> Resp {
    let mut r = json_status(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "valid basic credentials are required" }),
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(crate::web::CHALLENGE),
    );
    r
}

fn unauthorized(why: &str) -> Resp {
    let mut r = json_status(StatusCode::UNAUTHORIZED, &json!({ "error": why }));
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Check the token a mutating call presents (`presented`) against
/// `reaper.api_token`; the rejection, if any: 403 when no token is
/// configured (`what` is then disabled), 401 when missing or wrong.
pub fn rejection(state: &AppState, given: Option<&str>, what: &str) -> Option<Resp> {
    let Some(token) = state.reaper.as_ref().and_then(|r| r.token()) else {
        return Some(json_status(
            StatusCode::FORBIDDEN,
            &json!({ "error": format!("{what} is disabled: no reaper.api_token configured") }),
        ));
    };
    match given {
        None => Some(unauthorized(
            "the API token is required (X-Api-Token, or Authorization: Bearer)",
        )),
        Some(t) if !same(t, &token) => Some(unauthorized("wrong API token")),
        Some(_) => None,
    }
}

/// Whether the request presents the configured token (never, when none is
/// configured): it may then see what is redacted for others.
pub fn authorized(state: &AppState, given: Option<&str>) -> bool {
    let Some(token) = state.reaper.as_ref().and_then(|r| r.token()) else {
        return false;
    };
    given.is_some_and(|t| same(t, &token))
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

    #[test]
    fn the_token_header_comes_first_then_bearer() {
        assert_eq!(presented(Some("Bearer a"), Some(" b ")), Some("b"));
        assert_eq!(presented(Some("Bearer a"), Some("")), Some("a"));
        assert_eq!(presented(Some("Basic dTpw"), Some("b")), Some("b"));
        assert_eq!(presented(Some("Basic dTpw"), None), None);
        assert_eq!(presented(None, None), None);
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
