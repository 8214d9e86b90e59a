//! The bearer token of the mutating calls (`reaper.api_token`): manual
//! releases, watches and player attachments are refused (403) when no token
//! is configured, and need it (401 otherwise) when one is.

use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::StatusCode;
use serde_json::json;

use super::reply::{json_status, Resp};
use super::state::AppState;

/// Compare without an early exit on the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
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
    let given = auth.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
    match given {
        None => Some(unauthorized("a bearer token is required")),
        Some(t) if !same(t, &token) => Some(unauthorized("wrong token")),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
