//! Tag selectors of the policy's rules and protections: `key=value`, `key`
//! (exists) or `!key` (absent), parsed from the configuration's spelling.

use std::collections::BTreeMap;

/// `key=value`, `key` or `!key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelector {
    Equals(String, String),
    Exists(String),
    Absent(String),
}

impl TagSelector {
    /// Parse the config spelling; the error says what is expected.
    pub fn parse(s: &str) -> Result<TagSelector, &'static str> {
        const WHY: &str = "expected key=value, key (exists) or !key (absent), with a non-empty key";
        if let Some(key) = s.strip_prefix('!') {
            if key.is_empty() || key.contains('=') {
                return Err(WHY);
            }
            return Ok(TagSelector::Absent(key.to_string()));
        }
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(TagSelector::Equals(k.into(), v.into())),
            Some(_) => Err(WHY),
            None if s.is_empty() => Err(WHY),
            None => Ok(TagSelector::Exists(s.to_string())),
        }
    }

    pub fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        match self {
            TagSelector::Equals(k, v) => tags.get(k) == Some(v),
            TagSelector::Exists(k) => tags.contains_key(k),
            TagSelector::Absent(k) => !tags.contains_key(k),
        }
    }
}
