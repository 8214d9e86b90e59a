//! The SDP reader behind [`super::SessionView`]: line by line, CRLF or LF,
//! unknown or malformed lines skipped, session-level attributes applied to
//! the media sections that lack them.

use std::net::IpAddr;

use super::{
    Bandwidth, CandidateSummary, CodecView, Fingerprint, Group, HeaderExtension, MediaView, Origin,
    SdpDirection, SessionView, SetupRole,
};

/// Session-level values that media sections inherit.
#[derive(Default)]
struct SessionDefaults {
    direction: Option<SdpDirection>,
    ice_ufrag: bool,
    ice_pwd: bool,
    end_of_candidates: bool,
}

/// Per-section attributes that refer to payload types, kept until the end
/// of the section because they may precede the `a=rtpmap` they qualify.
#[derive(Default)]
struct Pending {
    rtpmaps: Vec<(u8, String, u32, Option<u32>)>,
    fmtps: Vec<(u8, String)>,
    rtcp_fbs: Vec<(Option<u8>, String)>,
    direction: Option<SdpDirection>,
}

/// Parse a session description. Never fails: what cannot be read is left out.
pub fn parse(sdp: &str) -> SessionView {
    let mut out = SessionView::default();
    let mut defaults = SessionDefaults::default();
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
                "a" => media_attr(m, p, value),
                "b" => m.bandwidth.extend(bandwidth(value)),
                _ => {}
            },
            _ => match key {
                "o" => out.origin = origin(value),
                "s" => out.session_name = Some(value.to_owned()),
                "b" => out.bandwidth.extend(bandwidth(value)),
                "a" => session_attr(&mut out, &mut defaults, value),
                _ => {}
            },
        }
    }
    for (m, p) in out.media.iter_mut().zip(pending) {
        finish_media(m, p, defaults.direction);
        inherit(m, &out.fingerprint, out.setup, &out.ice_options, &defaults);
    }
    out
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

fn split_attr(value: &str) -> (&str, &str) {
    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
    (name.trim(), arg.trim())
}

fn fingerprint(arg: &str) -> Option<Fingerprint> {
    let (alg, value) = arg.split_once(char::is_whitespace)?;
    (!value.trim().is_empty()).then(|| Fingerprint {
        algorithm: alg.to_ascii_lowercase(),
    })
}

fn setup(arg: &str) -> Option<SetupRole> {
    Some(match arg.to_ascii_lowercase().as_str() {
        "actpass" => SetupRole::ActPass,
        "active" => SetupRole::Active,
        "passive" => SetupRole::Passive,
        "holdconn" => SetupRole::HoldConn,
        _ => return None,
    })
}

fn direction(name: &str) -> Option<SdpDirection> {
    Some(match name {
        "sendrecv" => SdpDirection::SendRecv,
        "sendonly" => SdpDirection::SendOnly,
        "recvonly" => SdpDirection::RecvOnly,
        "inactive" => SdpDirection::Inactive,
        _ => return None,
    })
}

fn tokens(arg: &str) -> Vec<String> {
    arg.split_whitespace().map(str::to_owned).collect()
}

fn session_attr(out: &mut SessionView, d: &mut SessionDefaults, value: &str) {
    let (name, arg) = split_attr(value);
    match name {
        "ice-lite" => out.ice_lite = true,
        "end-of-candidates" => d.end_of_candidates = true,
        "ice-ufrag" => d.ice_ufrag = !arg.is_empty(),
        "ice-pwd" => d.ice_pwd = !arg.is_empty(),
        "ice-options" => out.ice_options = tokens(arg),
        "fingerprint" => out.fingerprint = fingerprint(arg),
        "setup" => out.setup = setup(arg),
        "group" => {
            let mut t = arg.split_whitespace();
            if let Some(semantics) = t.next() {
                out.groups.push(Group {
                    semantics: semantics.to_owned(),
                    mids: t.map(str::to_owned).collect(),
                });
            }
        }
        _ => {
            if let Some(dir) = direction(name) {
                d.direction = Some(dir);
            }
        }
    }
}

fn m_line(value: &str) -> MediaView {
    let mut parts = value.split_whitespace();
    let kind = parts.next().unwrap_or("").to_owned();
    // `9/2` (port/count) keeps the port.
    let port = parts
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let protocol = parts.next().unwrap_or("").to_owned();
    MediaView {
        kind,
        port,
        protocol,
        formats: parts.map(str::to_owned).collect(),
        mid: None,
        direction: SdpDirection::SendRecv,
        codecs: Vec::new(),
        header_extensions: Vec::new(),
        bandwidth: Vec::new(),
        ice_ufrag: false,
        ice_pwd: false,
        ice_options: Vec::new(),
        fingerprint: None,
        setup: None,
        rtcp_mux: false,
        bundle_only: false,
        crypto: false,
        candidates: CandidateSummary::default(),
    }
}

fn media_attr(m: &mut MediaView, p: &mut Pending, value: &str) {
    let (name, arg) = split_attr(value);
    match name {
        "mid" => m.mid = Some(arg.to_owned()),
        "rtpmap" => p.rtpmaps.extend(rtpmap(arg)),
        "fmtp" => {
            if let Some((pt, params)) = arg.split_once(char::is_whitespace) {
                if let Ok(pt) = pt.parse() {
                    p.fmtps.push((pt, params.trim().to_owned()));
                }
            }
        }
        "rtcp-fb" => {
            if let Some((pt, fb)) = arg.split_once(char::is_whitespace) {
                let pt = if pt == "*" { None } else { pt.parse().ok() };
                if pt.is_some() || arg.starts_with('*') {
                    p.rtcp_fbs.push((pt, fb.trim().to_owned()));
                }
            }
        }
        "extmap" => m.header_extensions.extend(extmap(arg)),
        "ice-ufrag" => m.ice_ufrag = !arg.is_empty(),
        "ice-pwd" => m.ice_pwd = !arg.is_empty(),
        "ice-options" => m.ice_options = tokens(arg),
        "fingerprint" => m.fingerprint = fingerprint(arg),
        "setup" => m.setup = setup(arg),
        "rtcp-mux" => m.rtcp_mux = true,
        "bundle-only" => m.bundle_only = true,
        "crypto" => m.crypto = true,
        "candidate" => candidate(&mut m.candidates, arg),
        "end-of-candidates" => m.candidates.end_of_candidates = true,
        _ => {
            if let Some(d) = direction(name) {
                p.direction = Some(d);
            }
        }
    }
}

fn rtpmap(arg: &str) -> Option<(u8, String, u32, Option<u32>)> {
    let (pt, enc) = arg.split_once(char::is_whitespace)?;
    let mut e = enc.trim().split('/');
    let name = e.next().filter(|n| !n.is_empty())?.to_owned();
    let clock = e.next()?.trim().parse().ok()?;
    let channels = e.next().and_then(|c| c.trim().parse().ok());
    Some((pt.parse().ok()?, name, clock, channels))
}

fn extmap(arg: &str) -> Option<HeaderExtension> {
    let mut t = arg.split_whitespace();
    let head = t.next()?;
    let (id, dir) = match head.split_once('/') {
        Some((id, d)) => (id, direction(d)),
        None => (head, None),
    };
    Some(HeaderExtension {
        id: id.parse().ok()?,
        uri: t.next()?.to_owned(),
        direction: dir,
    })
}

/// `foundation component transport priority address port typ type ...`.
fn candidate(c: &mut CandidateSummary, arg: &str) {
    let f: Vec<&str> = arg.split_whitespace().collect();
    if f.len() < 8 || !f[6].eq_ignore_ascii_case("typ") {
        return;
    }
    c.total += 1;
    *c.by_type.entry(f[7].to_ascii_lowercase()).or_default() += 1;
    *c.by_transport.entry(f[2].to_ascii_lowercase()).or_default() += 1;
    *c.by_scope.entry(scope(f[4]).to_owned()).or_default() += 1;
}

/// Where a candidate address lives; documentation ranges count as public.
fn scope(addr: &str) -> &'static str {
    if addr.to_ascii_lowercase().ends_with(".local") {
        return "mdns";
    }
    match addr.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => "loopback",
        Ok(IpAddr::V4(v4))
            if v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) =>
        {
            "private"
        }
        Ok(IpAddr::V4(v4)) if v4.is_link_local() => "link_local",
        Ok(IpAddr::V6(v6)) if (v6.segments()[0] & 0xfe00) == 0xfc00 => "private",
        Ok(IpAddr::V6(v6)) if (v6.segments()[0] & 0xffc0) == 0xfe80 => "link_local",
        Ok(_) => "public",
        Err(_) => "unknown",
    }
}

/// Static payload types of RFC 3551 that may appear without `a=rtpmap`.
fn static_codec(pt: u8) -> Option<(&'static str, u32, Option<u32>)> {
    Some(match pt {
        0 => ("PCMU", 8000, Some(1)),
        3 => ("GSM", 8000, Some(1)),
        4 => ("G723", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        13 => ("CN", 8000, Some(1)),
        18 => ("G729", 8000, Some(1)),
        26 => ("JPEG", 90000, None),
        31 => ("H261", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    })
}

/// Build the codec list in `m=` line order from the collected attributes.
fn finish_media(m: &mut MediaView, p: Pending, session_dir: Option<SdpDirection>) {
    m.direction = p
        .direction
        .or(session_dir)
        .unwrap_or(SdpDirection::SendRecv);
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let (name, clock_rate, channels) = match p.rtpmaps.iter().find(|r| r.0 == pt) {
            Some((_, n, c, ch)) => (n.clone(), *c, *ch),
            None => match static_codec(pt) {
                Some((n, c, ch)) => (n.to_owned(), c, ch),
                None => continue,
            },
        };
        m.codecs.push(CodecView {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp: p.fmtps.iter().find(|x| x.0 == pt).map(|x| x.1.clone()),
            rtcp_fb: p
                .rtcp_fbs
                .iter()
                .filter(|x| x.0.is_none() || x.0 == Some(pt))
                .map(|x| x.1.clone())
                .collect(),
        });
    }
}

fn inherit(
    m: &mut MediaView,
    fp: &Option<Fingerprint>,
    setup: Option<SetupRole>,
    ice_options: &[String],
    d: &SessionDefaults,
) {
    if m.fingerprint.is_none() {
        m.fingerprint.clone_from(fp);
    }
    if m.setup.is_none() {
        m.setup = setup;
    }
    if m.ice_options.is_empty() {
        m.ice_options = ice_options.to_vec();
    }
    m.ice_ufrag |= d.ice_ufrag;
    m.ice_pwd |= d.ice_pwd;
    m.candidates.end_of_candidates |= d.end_of_candidates;
}
