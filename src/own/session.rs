//! A KMS session of our own: a new connection with a target's settings, for
//! the objects and subscriptions the daemon makes, never the scrape's shared
//! session (whose per-cycle `unref` would release or unsubscribe them), and
//! its end (`closeSession`, then the connection is shut).

use std::time::Duration;

use crate::kms::call::{within, CallError};
use crate::kms::{Client, ConnectionConfig};

/// Open a new session with the settings of `conn`, connected within `limit`.
pub async fn open(mut conn: ConnectionConfig, limit: Duration) -> Result<Client, CallError> {
    conn.connect_timeout = limit;
    within(limit, Client::connect(conn)).await
}

/// Open a new session on the KMS of `shared` (only its settings are used).
pub async fn beside(shared: &Client, limit: Duration) -> Result<Client, CallError> {
    open(shared.connection().config().clone(), limit).await
}

/// Close the session (KMS keeps nothing it referenced) and the connection;
/// errors ignored: a dead socket holds nothing either.
pub async fn close(client: &Client, limit: Duration) {
    let _ = within(limit, client.close_session()).await;
    client.shutdown();
}
