//! What shapes one render of a target's elements (its name, the tag labels,
//! the families on, per-stream detail) and the family buffers it fills.

use crate::metrics::contract::N;

/// What shapes the series of one render.
pub(super) struct Shape<'a> {
    pub kms: &'a str,
    pub tag_labels: &'a [String],
    pub on: [bool; N],
    pub per_stream: bool,
}

/// The family buffers being filled, one per family of the contract.
pub(super) type Bufs = [Vec<u8>; N];
