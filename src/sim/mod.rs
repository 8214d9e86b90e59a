//! The KMS simulator: a WebSocket server speaking KMS's JSON-RPC protocol.
