//! The KMS protocol: wire types (`wire`, `types`) and the client.

pub mod types;
pub mod wire;
