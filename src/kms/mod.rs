//! The KMS client: the multiplexed reconnecting connection (`connection`,
//! `supervisor`), the typed API (`client`), the few state-changing
//! operations (`actions`), the one error type of a KMS request (`error`), a
//! call with a deadline and its error (`call`), and the registry of the
//! targets' clients (`clients`).
//! The protocol itself (frames, types, operations, events, stats, ids) is
//! data in the `kms-proto` crate, re-exported here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kurento_exporter::kms::ClientError> {
//! use kurento_exporter::kms::{wire::SERVER_MANAGER, Client, ConnectionConfig, EventType, Notice};
//! let kms = Client::connect(ConnectionConfig::new("ws://127.0.0.1:8888/kurento")).await?;
//! let mut notices = kms.notices();
//! kms.subscribe(SERVER_MANAGER, EventType::ObjectCreated).await?;
//! for pipeline in kms.get_pipelines().await? {
//!     let _children = kms.get_children(&pipeline).await?;
//! }
//! if let Ok(Notice::Reconnected(r)) = notices.recv().await {
//!     // re-read everything: events may have been missed
//!     let _ = r.same_session;
//! }
//! # Ok(()) }
//! ```

pub mod actions;
pub mod call;
pub mod client;
pub mod clients;
pub mod connection;
pub mod error;
mod reply;
mod shared;
mod supervisor;

pub use kms_proto::{events, ids, ops, stats, types, wire};

pub use actions::Action;
pub use call::CallError;
pub use client::Client;
pub use clients::Clients;
pub use connection::{ConnState, Connection, ConnectionConfig, Notice, Reconnected, WireCounters};
pub use error::ClientError;
pub use events::{Event, EventKind, EventType};
pub use stats::{parse_stats, Stat, StatsMap};
