//! A response's result as the connection hands it over: a JSON tree when the
//! frame had to be read the full way, else the result's text, read into a
//! tree only by callers that want one (`getStats` reads its text straight
//! into typed stats: no tree per answer).

use serde_json::value::RawValue;
use serde_json::Value;

use kms_proto::stats::{parse_stats, StatsMap};
use kms_proto::stats_text::parse_stats_text;

use super::error::ClientError;

/// The `result` member of a successful response.
#[derive(Debug)]
pub(super) enum Reply {
    Tree(Value),
    /// The result's text, and its `value` member's (split once, on receipt).
    Text {
        result: Box<RawValue>,
        value: Option<Box<RawValue>>,
    },
}

impl Reply {
    /// The whole result as a JSON tree.
    pub(super) fn into_tree(self) -> Result<Value, ClientError> {
        match self {
            Reply::Tree(v) => Ok(v),
            Reply::Text { result, .. } => serde_json::from_str(result.get())
                .map_err(|e| ClientError::Protocol(format!("unreadable result: {e}"))),
        }
    }

    /// The result's `value` read as a `getStats` answer.
    pub(super) fn into_stats(self) -> Result<Option<StatsMap>, ClientError> {
        let read = match self {
            Reply::Tree(mut v) => {
                parse_stats(&v.get_mut("value").map(Value::take).unwrap_or(Value::Null))
            }
            Reply::Text { value, .. } => match value {
                Some(value) => parse_stats_text(value.get()),
                None => Ok(None),
            },
        };
        read.map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
