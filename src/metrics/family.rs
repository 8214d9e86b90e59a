//! How the model's families are written: a label set of borrowed values,
//! and a family (descriptor, then its series) whose help says the values
//! were read on the exporter's timer. Shared by the model collector and its
//! per-RTP-stream part.

use std::fmt::{self, Write as _};

use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;

/// Label set of one series: static names, borrowed values.
pub type Labels<'a> = Vec<(&'a str, &'a str)>;

const READ_NOTE: &str = " (read from KMS on the exporter's timer, not at scrape time)";

/// One family: descriptor, then its series.
pub(super) struct Family<'e> {
    enc: MetricEncoder<'e>,
    ty: MetricType,
}

impl Family<'_> {
    pub(super) fn emit(&mut self, labels: &Labels<'_>, value: f64) -> fmt::Result {
        let mut m = self.enc.encode_family(labels)?;
        match self.ty {
            MetricType::Counter => m.encode_counter::<Labels<'_>, _, f64>(&value, None),
            MetricType::Info => m.encode_info(&Vec::<(&str, &str)>::new()),
            _ => m.encode_gauge(&value),
        }
    }
}

pub(super) fn family<'e>(
    enc: &'e mut DescriptorEncoder,
    name: &'e str,
    help: &str,
    ty: MetricType,
    body: impl FnOnce(&mut Family<'_>) -> fmt::Result,
) -> fmt::Result {
    let mut help_text = String::with_capacity(help.len() + READ_NOTE.len());
    let _ = write!(help_text, "{help}{READ_NOTE}");
    let enc = enc.encode_descriptor(name, &help_text, None, ty)?;
    let mut f = Family { enc, ty };
    body(&mut f)
}
