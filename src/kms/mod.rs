//! The KMS protocol and client: wire codec (`wire`), Kurento values
//! (`types`), the closed set of operations (`ops`), typed events (`events`)
//! and stats (`stats`), the multiplexed reconnecting connection
//! (`connection`, `supervisor`) and the typed API (`client`).

pub mod actions;
pub mod client;
pub mod connection;
pub mod error;
pub mod events;
mod lenient;
pub mod ops;
pub mod stats;
mod supervisor;
pub mod types;
pub mod wire;

pub use actions::Action;
pub use client::Client;
pub use connection::{ConnState, Connection, ConnectionConfig, Notice, Reconnected, WireCounters};
pub use error::ClientError;
pub use events::{Event, EventKind, EventType};
pub use stats::{parse_stats, Stat, StatsMap};
