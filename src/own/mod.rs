//! Our own objects: everything the daemon itself creates or subscribes to on
//! KMS, and nothing else. Owns the owner and instance tags put on them
//! (`tags`), the KMS sessions of their own they live on (`session`), the
//! start-up sweep of leftovers a previous process left behind (`sweep`), the
//! attached players and their TTL (`player`), the watches and their length
//! (`watch`), and the synthetic probe with its `[probe]` settings (`probe`).
//!
//! ```text
//!   http (operator API) ──► player: attach / detach ─┐
//!                       ──► watch: start ────────────┤
//!   daemon, per target ───► probe: run_target ───────┤   each on a KMS session of its own
//!                             └─► sweep (start-up) ──┤   (session), tagged (tags)
//!                                                    ▼
//!                          kms (Client, Clients, call::within) ; model (watch events)
//! ```
//!
//! Never on the scrape's shared session: the scrape `unref`s each pipeline
//! it read, and an `unref` releases an object no session references any more
//! and drops that session's subscriptions (PROTOCOL.md, "Sessions,
//! references, garbage collection"). Everything here calls KMS through
//! `kms::call` and fails with `kms::CallError` (wrapped by `PlayerError`,
//! `WatchError`, `ProbeError`). This module never imports `http`.

pub mod player;
pub mod probe;
pub mod session;
pub mod sweep;
pub mod tags;
pub mod watch;

pub use player::{AttachReport, Attachment, PlayerError, PlayerLimits, Players};
pub use probe::{probe_once, Phase, ProbeConfig, ProbeError, ProbeReport, ProbeTask};
pub use sweep::{release_leftovers, Leftover, SweepLog};
pub use tags::{owns, Member, Ownership, INSTANCE_KEY, MEMBER_KEY};
pub use watch::{WatchError, WatchLimits, WatchStarted, Watched, Watches};
