//! `kms-sim`: the KMS simulator as a standalone server.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    Ok(())
}
