//! The `kurento-exporter` binary: a thin shell over the library.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    Ok(())
}
