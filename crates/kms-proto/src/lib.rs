//! The Kurento Media Server protocol as data: JSON-RPC 2.0 frames and KMS's
//! error codes (`wire`), Kurento values (`types`), the closed set of
//! operations a client may send (`ops`), typed events (`events`), typed
//! `getStats` answers (`stats`), what an object id tells (`ids`), session
//! descriptions as KMS and browsers write them (`sdp`, one tolerant reader),
//! and the lenient deserializers KMS's loose JSON needs (`lenient`).
//!
//! No I/O and no runtime: this crate depends on serde and serde_json only,
//! so the client, the simulator and the fuzz targets share it.
//!
//! ```
//! use kms_proto::{ids, wire::{self, Frame}};
//! let frame = wire::decode(r#"{"jsonrpc":"2.0","id":1,"result":{"value":"x","sessionId":"s"}}"#);
//! assert!(matches!(frame, Ok(Frame::Response(_))));
//! assert_eq!(ids::type_of("p_kurento.MediaPipeline/e_kurento.HubPort"), "HubPort");
//! ```
#![forbid(unsafe_code)]

pub mod events;
pub mod ids;
mod lenient;
pub mod ops;
pub mod reply;
pub mod sdp;
pub mod stats;
pub mod stats_text;
pub mod types;
pub mod wire;

pub use events::{Event, EventKind, EventType};
pub use stats::{parse_stats, Stat, StatsMap};
