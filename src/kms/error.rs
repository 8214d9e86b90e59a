//! The errors a caller of the KMS client sees: one `thiserror` enum, built
//! from transport failures and from KMS's JSON-RPC error objects.

use serde_json::Value;

use super::wire::{code, RpcError};

/// What went wrong with a request to KMS.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// No response within the request timeout (the connection stays usable).
    #[error("{method}: no response within {timeout_ms} ms")]
    Timeout { method: String, timeout_ms: u64 },
    /// The WebSocket was down when sending, or dropped before the response.
    #[error("not connected to KMS")]
    Disconnected,
    /// KMS does not know the object (40101): released, or never existed.
    #[error("object not found: {id}")]
    ObjectNotFound { id: String },
    /// Any other error KMS answered with.
    #[error("KMS error {code}: {message}")]
    Kms {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The answer did not have the expected shape.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The client was shut down.
    #[error("client is shut down")]
    Shutdown,
}

impl ClientError {
    /// Map a JSON-RPC error; `object` is the id the request was about, if any.
    pub fn from_rpc(err: RpcError, object: Option<&str>) -> Self {
        if err.code == code::MEDIA_OBJECT_NOT_FOUND {
            let id = not_found_id(&err.message)
                .or(object)
                .unwrap_or_default()
                .to_owned();
            return ClientError::ObjectNotFound { id };
        }
        ClientError::Kms {
            code: err.code,
            message: err.message,
            data: err.data,
        }
    }

    /// The KMS error code, for `Kms` and `ObjectNotFound`.
    pub fn kms_code(&self) -> Option<i64> {
        match self {
            ClientError::Kms { code, .. } => Some(*code),
            ClientError::ObjectNotFound { .. } => Some(code::MEDIA_OBJECT_NOT_FOUND),
            _ => None,
        }
    }

    /// Whether retrying later may help (transport trouble, not a KMS answer).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout { .. } | ClientError::Disconnected
        )
    }
}

/// The id inside KMS's `Object '<id>' not found`.
fn not_found_id(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("Object '")?;
    rest.strip_suffix("' not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kms_errors() {
        let e = ClientError::from_rpc(RpcError::not_found("p/e"), Some("other"));
        assert_eq!(e, ClientError::ObjectNotFound { id: "p/e".into() });
        let e = ClientError::from_rpc(
            RpcError {
                code: code::MEDIA_OBJECT_NOT_FOUND,
                message: "gone".into(),
                data: None,
            },
            Some("x"),
        );
        assert_eq!(e, ClientError::ObjectNotFound { id: "x".into() });
        let e = ClientError::from_rpc(
            RpcError::kms(code::INVALID_SESSION, "INVALID_SESSION", "Invalid session"),
            None,
        );
        assert_eq!(e.kms_code(), Some(40007));
        assert!(!e.is_transient());
        assert!(ClientError::Disconnected.is_transient());
    }
}
