//! Tolerant serde helpers for KMS values whose JSON type varies between
//! messages: ids that are numbers in events and strings in getters
//! (`streamId`), timestamps sent as strings in events and numbers in stats,
//! counters that may come as integers or floats. Used through
//! `#[serde(deserialize_with = ...)]` by `types`, `events` and `stats`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A number that may be sent as an integer, a float or a numeric string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// The value as an unsigned integer, if it is one (floats truncated).
pub fn as_u64(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    if let Value::String(s) = v {
        if let Ok(n) = s.trim().parse::<u64>() {
            return Some(n);
        }
    }
    number(v)
        .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
        .map(|f| f as u64)
}

/// The value as a signed integer, if it is one (floats truncated).
pub fn as_i64(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    if let Value::String(s) = v {
        if let Ok(n) = s.trim().parse::<i64>() {
            return Some(n);
        }
    }
    number(v)
        .filter(|f| f.is_finite() && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
        .map(|f| f as i64)
}

fn invalid<E: serde::de::Error>(what: &str, v: &Value) -> E {
    E::custom(format!("expected {what}, got {v}"))
}

/// A string, or a number rendered as a string (`streamId`, `ssrc`).
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        v => Err(invalid("a string or a number", &v)),
    }
}

/// Optional `string_or_number`; `null` and absence are `None`.
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        v => Err(invalid("a string or a number", &v)),
    }
}

/// An unsigned integer given as a number or a numeric string.
pub fn u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    as_u64(&v).ok_or_else(|| invalid("an unsigned integer", &v))
}

/// Optional unsigned integer; `null` is `None`, anything else non-numeric fails.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => as_u64(&v)
            .map(Some)
            .ok_or_else(|| invalid("an unsigned integer", &v)),
    }
}

/// Optional signed integer; `null` is `None`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => as_i64(&v)
            .map(Some)
            .ok_or_else(|| invalid("an integer", &v)),
    }
}

/// Optional float, integers accepted; `null` is `None`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => number(&v).map(Some).ok_or_else(|| invalid("a number", &v)),
    }
}

/// Optional bool; `null` is `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        v => Err(invalid("a boolean", &v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_in_any_shape() {
        assert_eq!(as_u64(&json!(5)), Some(5));
        assert_eq!(as_u64(&json!(5.9)), Some(5));
        assert_eq!(as_u64(&json!("1795562784814")), Some(1_795_562_784_814));
        assert_eq!(as_u64(&json!(-1)), None);
        assert_eq!(as_u64(&json!(1e300)), None);
        assert_eq!(as_i64(&json!(-1)), Some(-1));
        assert_eq!(as_i64(&json!(-1.0)), Some(-1));
        assert_eq!(as_i64(&json!("x")), None);
        assert_eq!(as_i64(&json!(null)), None);
    }
}
