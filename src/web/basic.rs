//! `basic_auth_users`: the check of an `Authorization: Basic` header
//! against bcrypt hashes, as exporter-toolkit does it.
//!
//! - bcrypt is slow on purpose (about 50 to 100 ms at cost 10): it runs on
//!   the blocking threads (`spawn_blocking`), at most `BCRYPT_AT_ONCE` at
//!   a time, and each successful check is remembered (`Cache`, bounded,
//!   keyed by the user and the SHA-256 of the password: never the password
//!   itself), so that a scraper pays it once, not at every scrape;
//! - the user name is compared in constant time with every configured one,
//!   and an unknown user still costs one bcrypt (against a configured
//!   hash, whose answer is then ignored): the time of a refusal tells
//!   nothing of which users exist.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use ring::digest::{digest, SHA256};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use tokio::sync::Semaphore;

use super::WebError;

/// The `WWW-Authenticate` header of a 401 for want of basic credentials.
pub const CHALLENGE: &str = "Basic realm=\"kurento-exporter\"";

/// bcrypt checks running at once (each holds a blocking thread).
const BCRYPT_AT_ONCE: usize = 2;

/// Successful checks remembered; when full, the cache starts over.
const CACHE_MAX: usize = 256;

/// The highest bcrypt cost accepted: each step doubles the time of a check
/// (cost 16 is several seconds; 10 to 12 is the usual choice).
const MAX_COST: u32 = 16;

/// The characters of bcrypt's base64 (salt and digest).
fn bcrypt_alphabet(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '/'
}

/// One configured user.
struct User {
    name: Vec<u8>,
    /// SHA-256 of the name: compared in constant time whatever its length.
    name_digest: [u8; 32],
    hash: String,
}

/// (user name, SHA-256 of the password) of a successful check.
type Key = (Vec<u8>, [u8; 32]);

/// The users of basic auth and what their checks need.
pub struct Users {
    /// Never empty.
    users: Vec<User>,
    cache: Mutex<HashSet<Key>>,
    bcrypt: Arc<Semaphore>,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .users
            .iter()
            .map(|u| String::from_utf8_lossy(&u.name).into_owned())
            .collect();
        f.debug_struct("Users").field("names", &names).finish()
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, b).as_ref());
    out
}

/// The problem of `hash` as a bcrypt hash, if any.
fn hash_problem(hash: &str) -> Option<String> {
    let parts = match bcrypt::HashParts::from_str(hash) {
        Ok(p) => p,
        Err(e) => return Some(format!("not a bcrypt hash ($2y$, $2b$ or $2a$): {e}")),
    };
    let cost = parts.get_cost();
    if !(4..=MAX_COST).contains(&cost) {
        return Some(format!("cost {cost}: must be between 4 and {MAX_COST}"));
    }
    let body = hash.rsplit('$').next().unwrap_or_default();
    if !body.chars().all(bcrypt_alphabet) {
        return Some("salt and digest must be bcrypt base64 (./A-Za-z0-9)".into());
    }
    None
}

/// The user and password of an `Authorization: Basic` header (the scheme
/// in any case).
pub fn credentials(header: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (scheme, rest) = header.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    Some((raw[..colon].to_vec(), raw[colon + 1..].to_vec()))
}

impl Users {
    /// The users of `basic_auth_users` (not empty), each hash checked.
    pub fn new(users: &BTreeMap<String, String>) -> Result<Users, WebError> {
        let mut out = Vec::with_capacity(users.len());
        for (name, hash) in users {
            if let Some(reason) = hash_problem(hash) {
                return Err(WebError::key(
                    format!("basic_auth_users.{name}"),
                    hash.clone(),
                    reason,
                ));
            }
            out.push(User {
                name: name.as_bytes().to_vec(),
                name_digest: sha256(name.as_bytes()),
                hash: hash.clone(),
            });
        }
        if out.is_empty() {
            return Err(WebError::key(
                "basic_auth_users",
                "{}",
                "names no user (leave it out for no basic auth)",
            ));
        }
        Ok(Users {
            users: out,
            cache: Mutex::default(),
            bcrypt: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
        })
    }

    /// Whether `name` is configured, and the index of the hash to check
    /// against (the first user's when it is not): every name compared,
    /// without an early exit, in time independent of where they differ.
    fn lookup(&self, name: &[u8]) -> (bool, usize) {
        let given = sha256(name);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, u) in self.users.iter().enumerate() {
            let same = u.name_digest.ct_eq(&given);
            index.conditional_assign(&(i as u64), same);
            found |= same;
        }
        (found.into(), usize::try_from(index).unwrap_or(0))
    }

    /// Whether the `Authorization` header carries the credentials of a
    /// configured user.
    pub async fn admits(&self, authorization: Option<&str>) -> bool {
        let Some((name, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let key: Key = (name, sha256(&password));
        if self.remembered(&key) {
            return true;
        }
        let (found, index) = self.lookup(&key.0);
        let Some(hash) = self.users.get(index).map(|u| u.hash.clone()) else {
            return false;
        };
        let Ok(_slot) = self.bcrypt.clone().acquire_owned().await else {
            return false;
        };
        let check =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false));
        let ok = check.await.unwrap_or(false) && found;
        if ok {
            self.remember(key);
        }
        ok
    }

    fn remembered(&self, key: &Key) -> bool {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    fn remember(&self, key: Key) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key);
    }

    /// Successful checks remembered now (tests).
    #[cfg(test)]
    pub(super) fn cached(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
