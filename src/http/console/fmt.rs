//! How the console writes values: HTML escaping (`html-escape`), URL
//! components (`percent-encoding`, `form_urlencoded`), ages, bitrates,
//! seconds.

use std::borrow::Cow;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::model::Millis;

/// `s` as HTML text.
pub fn esc(s: &str) -> Cow<'_, str> {
    html_escape::encode_text(s)
}

/// `s` inside a double-quoted attribute.
pub fn attr(s: &str) -> Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// What a path segment must escape (RFC 3986 `pchar` less the ones that
/// would change the path or the query).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `s` as one path segment (a `/` becomes `%2F`).
pub fn path_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `s` as a query-string value.
pub fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `3h 02m`, `4m 05s`, `12s` for a span of `ms` milliseconds.
pub fn span(ms: Millis) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The age of something that happened at `at` (milliseconds), or `—`.
pub fn age(at: Option<Millis>, now: Millis) -> String {
    at.map_or_else(|| "—".into(), |at| span(now.saturating_sub(at)))
}

/// A bitrate in kb/s (the unit of every picture of the daemon).
pub fn kbps(bps: f64) -> String {
    if bps >= 10_000.0 {
        format!("{:.0} kb/s", bps / 1000.0)
    } else {
        format!("{:.1} kb/s", bps / 1000.0)
    }
}

/// Seconds as milliseconds, `—` when zero (KMS reports 0 for unknown).
pub fn ms(seconds: f64) -> String {
    if seconds > 0.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        "—".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_for_people() {
        assert_eq!(esc("<a&b>"), "&lt;a&amp;b&gt;");
        assert_eq!(attr("\"x\""), "&quot;x&quot;");
        assert_eq!(path_segment("p/e_kurento.X"), "p%2Fe_kurento.X");
        assert_eq!(query_value("a b&c"), "a+b%26c");
        assert_eq!(span(12_400), "12s");
        assert_eq!(span(245_000), "4m 05s");
        assert_eq!(span(3 * 3_600_000 + 120_000), "3h 02m");
        assert_eq!(age(None, 5), "—");
        assert_eq!(kbps(512_300.0), "512 kb/s");
        assert_eq!(kbps(1_500.0), "1.5 kb/s");
        assert_eq!(ms(0.0), "—");
        assert_eq!(ms(0.0421), "42 ms");
    }
}
