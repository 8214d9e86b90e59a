//! One call to a target's KMS with a deadline, and the one error type of such
//! a call (`CallError`), shared by the operator API's live reads, the player
//! attachments, the watches and the probe.
//!
//! ```text
//!   Clients::call(target) ──► Client ──► within(limit, request) ──► T
//!        │ not running              │ no answer in time, 40101, other error
//!        ▼                          ▼
//!   NoClient(target)          Timeout(limit), Gone(id), Kms(ClientError)
//! ```
//!
//! `read_then_unref` is the shape of a read on the shared session: the read,
//! then the `unref` of the pipeline it referenced (PROTOCOL.md, "Sessions,
//! references"), whatever happened.

use std::future::Future;
use std::time::Duration;

use super::{Client, ClientError};

/// Why a call to a target's KMS failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The target has no running client.
    #[error("target {0} is not running")]
    NoClient(String),
    /// No answer within the deadline.
    #[error("KMS did not answer within {0:?}")]
    Timeout(Duration),
    /// KMS no longer knows the object (40101).
    #[error("KMS no longer knows {0}")]
    Gone(String),
    /// Any other failure of the request.
    #[error("KMS error: {0}")]
    Kms(ClientError),
}

impl CallError {
    /// The error of a request made with deadline `limit`: the client's own
    /// timeout counts as missing that deadline.
    pub fn from_client(e: ClientError, limit: Duration) -> Self {
        match e {
            ClientError::Timeout { .. } => CallError::Timeout(limit),
            ClientError::ObjectNotFound { id } => CallError::Gone(id),
            e => CallError::Kms(e),
        }
    }
}

impl From<ClientError> for CallError {
    /// A request without a deadline of its own: the client's timeout is the one.
    fn from(e: ClientError) -> Self {
        let limit = match &e {
            ClientError::Timeout { timeout_ms, .. } => Duration::from_millis(*timeout_ms),
            _ => Duration::ZERO,
        };
        CallError::from_client(e, limit)
    }
}

/// Run `request` within `limit`.
pub async fn within<T>(
    limit: Duration,
    request: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, request).await {
        Err(_) => Err(CallError::Timeout(limit)),
        Ok(r) => r.map_err(|e| CallError::from_client(e, limit)),
    }
}

/// Run `read` on `client` within `limit`, then drop the session's reference
/// to `pipeline` whatever happened (its errors ignored: 40101, released
/// meanwhile, or a dead socket: nothing is held either way).
pub async fn read_then_unref<T, F, Fut>(
    client: &Client,
    pipeline: &str,
    limit: Duration,
    read: F,
) -> Result<T, CallError>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let result = within(limit, read(client.clone())).await;
    let _ = within(limit, client.unref(pipeline)).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_and_client_errors_map_to_one_error() {
        let limit = Duration::from_millis(10);
        let slow = within(limit, std::future::pending::<Result<(), ClientError>>()).await;
        assert_eq!(slow, Err(CallError::Timeout(limit)));
        let gone = within(limit, async {
            Err::<(), _>(ClientError::ObjectNotFound { id: "p".into() })
        })
        .await;
        assert_eq!(gone, Err(CallError::Gone("p".into())));
        let timeout = ClientError::Timeout {
            method: "ping".into(),
            timeout_ms: 7,
        };
        assert_eq!(
            CallError::from_client(timeout.clone(), limit),
            CallError::Timeout(limit)
        );
        assert_eq!(
            CallError::from(timeout),
            CallError::Timeout(Duration::from_millis(7))
        );
        assert_eq!(
            CallError::from(ClientError::Disconnected),
            CallError::Kms(ClientError::Disconnected)
        );
        assert_eq!(within(limit, async { Ok(3) }).await, Ok(3));
    }
}
