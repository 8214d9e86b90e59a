//! The line reader behind [`super::parse`]: CRLF or LF, one `key=value`
//! line at a time, unknown or malformed lines skipped; per-format attributes
//! and session-level defaults applied once the whole text is read.

use super::{
    Attribute, Bandwidth, Candidate, Direction, Fingerprint, Format, Group, HeaderExtension, Media,
    Origin, RtpMap, SessionDescription, SetupRole,
};

/// Per-section attributes that refer to formats or inherit from the
/// session, kept until the end because they may precede what they qualify.
#[derive(Default)]
struct Pending {
    rtpmaps: Vec<(String, RtpMap)>,
    fmtps: Vec<(String, String)>,
    /// `*` or a format id, and the feedback value.
    rtcp_fbs: Vec<(String, String)>,
    direction: Option<Direction>,
}

/// Parse a session description. Never fails: what cannot be read is left out.
pub fn parse(sdp: &str) -> SessionDescription {
    let mut out = SessionDescription::default();
    let mut pending: Vec<Pending> = Vec::new();
    for raw in sdp.split('\n') {
        let line = raw.trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if key == "m" {
            out.media.push(m_line(value));
            pending.push(Pending::default());
            continue;
        }
        match (out.media.last_mut(), pending.last_mut()) {
            (Some(m), Some(p)) => match key {
                "a" => media_attr(m, p, attribute(value)),
                "b" => m.bandwidth.extend(bandwidth(value)),
                _ => {}
            },
            _ => match key {
                "o" => out.origin = origin(value),
                "s" => out.session_name = Some(value.to_owned()),
                "b" => out.bandwidth.extend(bandwidth(value)),
                "a" => session_attr(&mut out, attribute(value)),
                _ => {}
            },
        }
    }
    let mut media = std::mem::take(&mut out.media);
    for (m, p) in media.iter_mut().zip(pending) {
        finish(m, p, &out);
    }
    out.media = media;
    out
}

fn attribute(value: &str) -> Attribute {
    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
    Attribute {
        name: name.trim().to_owned(),
        value: arg.trim().to_owned(),
    }
}

fn origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() < 6 {
        return None;
    }
    Some(Origin {
        username: f[0].to_owned(),
        session_id: f[1].to_owned(),
        session_version: f[2].to_owned(),
        address: f[5].to_owned(),
    })
}

fn bandwidth(value: &str) -> Option<Bandwidth> {
    let (kind, v) = value.split_once(':')?;
    Some(Bandwidth {
        kind: kind.trim().to_owned(),
        value: v.trim().parse().ok()?,
    })
}

fn fingerprint(arg: &str) -> Option<Fingerprint> {
    let (alg, value) = arg.split_once(char::is_whitespace)?;
    let value = value.trim();
    (!value.is_empty()).then(|| Fingerprint {
        algorithm: alg.to_owned(),
        value: value.to_owned(),
    })
}

fn tokens(arg: &str) -> Vec<String> {
    arg.split_whitespace().map(str::to_owned).collect()
}

fn session_attr(out: &mut SessionDescription, a: Attribute) {
    let arg = a.value.as_str();
    match a.name.as_str() {
        "ice-lite" => out.ice_lite = true,
        "end-of-candidates" => out.end_of_candidates = true,
        "ice-ufrag" => out.ice_ufrag = Some(arg.to_owned()),
        "ice-pwd" => out.ice_pwd = Some(arg.to_owned()),
        "ice-options" => out.ice_options = tokens(arg),
        "fingerprint" => out.fingerprint = fingerprint(arg),
        "setup" => out.setup = SetupRole::parse(arg),
        "group" => {
            let mut t = arg.split_whitespace();
            if let Some(semantics) = t.next() {
                out.groups.push(Group {
                    semantics: semantics.to_owned(),
                    mids: t.map(str::to_owned).collect(),
                });
            }
        }
        name => {
            if let Some(d) = Direction::parse(name) {
                out.direction = Some(d);
            }
        }
    }
    out.attributes.push(a);
}

fn m_line(value: &str) -> Media {
    let mut parts = value.split_whitespace();
    let kind = parts.next().unwrap_or("").to_owned();
    // `9/2` (port/count) keeps the port.
    let port = parts
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let protocol = parts.next().unwrap_or("").to_owned();
    let formats = parts
        .map(|id| Format {
            id: id.to_owned(),
            payload_type: id.parse().ok(),
            rtpmap: None,
            fmtp: None,
            rtcp_fb: Vec::new(),
        })
        .collect();
    Media {
        kind,
        port,
        protocol,
        formats,
        attributes: Vec::new(),
        bandwidth: Vec::new(),
        mid: None,
        direction: Direction::SendRecv,
        header_extensions: Vec::new(),
        ice_ufrag: None,
        ice_pwd: None,
        ice_options: Vec::new(),
        fingerprint: None,
        setup: None,
        rtcp_mux: false,
        bundle_only: false,
        crypto: false,
        candidates: Vec::new(),
        end_of_candidates: false,
        ssrcs: Vec::new(),
    }
}

/// `ID REST` → `("ID", "REST")`, both trimmed.
fn per_format(arg: &str) -> Option<(String, String)> {
    let (id, rest) = arg.split_once(char::is_whitespace)?;
    Some((id.to_owned(), rest.trim().to_owned()))
}

fn media_attr(m: &mut Media, p: &mut Pending, a: Attribute) {
    let arg = a.value.as_str();
    match a.name.as_str() {
        "mid" => m.mid = Some(arg.to_owned()),
        "rtpmap" => p.rtpmaps.extend(rtpmap(arg)),
        "fmtp" => p.fmtps.extend(per_format(arg)),
        "rtcp-fb" => p.rtcp_fbs.extend(per_format(arg)),
        "extmap" => m.header_extensions.extend(extmap(arg)),
        "ice-ufrag" => m.ice_ufrag = Some(arg.to_owned()),
        "ice-pwd" => m.ice_pwd = Some(arg.to_owned()),
        "ice-options" => m.ice_options = tokens(arg),
        "fingerprint" => m.fingerprint = fingerprint(arg),
        "setup" => m.setup = SetupRole::parse(arg),
        "rtcp-mux" => m.rtcp_mux = true,
        "bundle-only" => m.bundle_only = true,
        "crypto" => m.crypto = true,
        "candidate" => m.candidates.extend(Candidate::from_value(arg)),
        "end-of-candidates" => m.end_of_candidates = true,
        "ssrc" => {
            if let Some(id) = arg.split_whitespace().next() {
                if !m.ssrcs.iter().any(|s| s == id) {
                    m.ssrcs.push(id.to_owned());
                }
            }
        }
        name => {
            if let Some(d) = Direction::parse(name) {
                p.direction = Some(d);
            }
        }
    }
    m.attributes.push(a);
}

/// `PT NAME/CLOCK[/CHANNELS]`.
fn rtpmap(arg: &str) -> Option<(String, RtpMap)> {
    let (pt, enc) = per_format(arg)?;
    let mut e = enc.split('/');
    let name = e.next().filter(|n| !n.is_empty())?.to_owned();
    let clock_rate = e.next()?.trim().parse().ok()?;
    let channels = e.next().and_then(|c| c.trim().parse().ok());
    Some((
        pt,
        RtpMap {
            name,
            clock_rate,
            channels,
        },
    ))
}

/// `ID[/DIRECTION] URI [ATTRIBUTES]`.
fn extmap(arg: &str) -> Option<HeaderExtension> {
    let mut t = arg.split_whitespace();
    let head = t.next()?;
    let (id, direction) = match head.split_once('/') {
        Some((id, d)) => (id, Direction::parse(d)),
        None => (head, None),
    };
    Some(HeaderExtension {
        id: id.parse().ok()?,
        uri: t.next()?.to_owned(),
        direction,
    })
}

/// Attach the per-format attributes and apply the session's defaults.
fn finish(m: &mut Media, p: Pending, s: &SessionDescription) {
    m.direction = p.direction.or(s.direction).unwrap_or(Direction::SendRecv);
    for f in &mut m.formats {
        f.rtpmap = p
            .rtpmaps
            .iter()
            .find(|(id, _)| *id == f.id)
            .map(|(_, r)| r.clone());
        f.fmtp = p
            .fmtps
            .iter()
            .find(|(id, _)| *id == f.id)
            .map(|(_, v)| v.clone());
        f.rtcp_fb = p
            .rtcp_fbs
            .iter()
            .filter(|(id, _)| id == "*" || *id == f.id)
            .map(|(_, v)| v.clone())
            .collect();
    }
    inherit_credential(&mut m.ice_ufrag, &s.ice_ufrag);
    inherit_credential(&mut m.ice_pwd, &s.ice_pwd);
    if m.ice_options.is_empty() {
        m.ice_options.clone_from(&s.ice_options);
    }
    if m.fingerprint.is_none() {
        m.fingerprint.clone_from(&s.fingerprint);
    }
    if m.setup.is_none() {
        m.setup = s.setup;
    }
    m.end_of_candidates |= s.end_of_candidates;
}

/// A section's missing or empty ICE credential gives way to the session's.
fn inherit_credential(own: &mut Option<String>, session: &Option<String>) {
    if own.as_deref().is_none_or(str::is_empty) && session.is_some() {
        own.clone_from(session);
    }
}
