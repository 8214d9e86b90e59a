//! One sample line of the text formats (Prometheus text and OpenMetrics
//! write samples alike): name, escaped labels, value. Written straight into
//! a byte buffer, no intermediate strings.

use std::io::Write as _;

/// A sample line being written into `buf`.
pub(super) struct Line<'b> {
    buf: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Line<'b> {
    pub(super) fn start(buf: &'b mut Vec<u8>, name: &str) -> Self {
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'{');
        Line { buf, first: true }
    }

    /// Add a label; an empty value is left out (Prometheus reads it as absent).
    pub(super) fn label(mut self, name: &str, value: &str) -> Self {
        if value.is_empty() {
            return self;
        }
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"=\"");
        escape_into(self.buf, value);
        self.buf.push(b'"');
        self
    }

    /// End the line with `value`.
    pub(super) fn value(self, value: f64) {
        self.buf.extend_from_slice(b"} ");
        write_value(self.buf, value);
        self.buf.push(b'\n');
    }
}

/// A label value escaped as both formats want: `\`, `"` and newline.
fn escape_into(buf: &mut Vec<u8>, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        buf.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\n' => buf.extend_from_slice(b"\\n"),
            _ => buf.push(b),
        }
    }
}

/// A HELP text escaped (`\` and newline).
pub(super) fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers without a fraction, others in Rust's shortest round-trip form.
pub(super) fn write_value(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(buf, "{}", v as i64);
    } else {
        let _ = write!(buf, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(labels: &[(&str, &str)], v: f64) -> String {
        let mut buf = Vec::new();
        let mut l = Line::start(&mut buf, "m");
        for (k, val) in labels {
            l = l.label(k, val);
        }
        l.value(v);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn lines_escape_and_skip_empty_labels() {
        assert_eq!(line(&[("a", "x"), ("b", "")], 1.0), "m{a=\"x\"} 1\n");
        assert_eq!(
            line(&[("a", "q\"\\\nz")], 0.25),
            "m{a=\"q\\\"\\\\\\nz\"} 0.25\n"
        );
        assert_eq!(line(&[], f64::NAN), "m{} NaN\n");
        assert_eq!(line(&[("a", "1")], f64::INFINITY), "m{a=\"1\"} +Inf\n");
        assert_eq!(
            line(&[("a", "1")], 1e20),
            "m{a=\"1\"} 100000000000000000000\n"
        );
        assert_eq!(line(&[("a", "1")], -3.0), "m{a=\"1\"} -3\n");
    }
}
