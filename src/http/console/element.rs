//! One element on the pipeline page: its node in the topology, its row in
//! the element table (bitrates, loss, jitter, RTT, ICE/DTLS/media state,
//! tags, verdict) and its details (streams, endpoint states, zombie
//! evidence, the offer and answer as parsed, the live negotiation reader,
//! the token-gated release).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::model::sdp::SdpSummary;
use crate::model::{Element, Millis, TargetModel};
use crate::reaper::Zombie;

use super::super::paint::{short_id, title, Look, NAME_TAGS};
use super::fmt::{age, attr, esc, kbps, ms, path_segment, span};
use super::svg::Node;

/// Bitrates of an RTP endpoint by media type, bits per second: `recv` from
/// its peer (into the pipeline), `send` to its peer.
#[derive(Default)]
pub(super) struct Rates {
    pub recv: BTreeMap<String, f64>,
    pub send: BTreeMap<String, f64>,
}

pub(super) fn rates(e: &Element) -> Rates {
    let mut r = Rates::default();
    let (Some(s), Some(prev)) = (&e.stats, &e.previous_stats) else {
        return r;
    };
    for i in &s.inbound {
        if let (Some(m), Some(bps)) = (i.media, s.receive_bitrate(prev, &i.ssrc)) {
            *r.recv.entry(m.to_string()).or_default() += bps;
        }
    }
    for o in &s.outbound {
        if let (Some(m), Some(bps)) = (o.media, s.send_bitrate(prev, &o.ssrc)) {
            *r.send.entry(m.to_string()).or_default() += bps;
        }
    }
    r
}

fn total(m: &BTreeMap<String, f64>) -> Option<f64> {
    (!m.is_empty()).then(|| m.values().sum())
}

/// The anchor of element `id` on its pipeline's page.
pub(super) fn anchor(id: &str) -> String {
    format!("el-{}", short_id(id))
}

/// The node of `e` in the topology.
pub(super) fn node(m: &TargetModel, e: &Element, verdict: Option<&Zombie>) -> Node {
    let look = Look::in_model(m, e, verdict);
    let r = rates(e);
    let subtitle = match (verdict, total(&r.recv), total(&r.send)) {
        (Some(z), _, _) => format!("zombie: {}", z.rule),
        (None, None, None) => format!("{} · {}", e.element_type, look.name()),
        (None, recv, send) => format!(
            "↓ {} ↑ {}",
            recv.map_or("—".into(), kbps),
            send.map_or("—".into(), kbps)
        ),
    };
    Node {
        id: e.id.clone(),
        anchor: anchor(&e.id),
        title: title(e, NAME_TAGS),
        subtitle,
        look,
        source: kms_proto::ids::is_rtp_endpoint(&e.element_type)
            || e.element_type == "PlayerEndpoint",
        tooltip: format!("{} {} ({})", e.element_type, e.id, look.name()),
    }
}

fn tags(t: &BTreeMap<String, String>) -> String {
    t.iter()
        .map(|(k, v)| format!("<span class=\"tag\">{}={}</span>", esc(k), esc(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".into())
}

/// The row of `e` in the element table.
pub(super) fn row(m: &TargetModel, e: &Element, verdict: Option<&Zombie>) -> String {
    let look = Look::in_model(m, e, verdict);
    let r = rates(e);
    let stats = e.stats.as_ref();
    let loss = stats.and_then(|s| {
        s.inbound
            .iter()
            .map(|i| i.fraction_lost)
            .reduce(f64::max)
            .map(|f| format!("{:.1} %", f * 100.0))
    });
    let jitter = stats.and_then(|s| {
        s.inbound
            .iter()
            .map(|i| i.jitter_seconds)
            .reduce(f64::max)
            .map(ms)
    });
    let rtt = stats.and_then(|s| {
        s.outbound
            .iter()
            .filter_map(|o| o.round_trip_seconds)
            .reduce(f64::max)
            .map(ms)
    });
    let ep = e.endpoint.as_ref();
    format!(
        "<tr class=\"element {look}\" data-id=\"{id}\"><td><span class=\"dot {look}\" title=\"{look}\"></span>\
         <a href=\"#{anchor}\">{title}</a></td><td>{ty}</td><td class=\"num\">{recv}</td><td class=\"num\">{send}</td>\
         <td class=\"num\">{loss}</td><td class=\"num\">{jitter}</td><td class=\"num\">{rtt}</td>\
         <td>{ice}</td><td>{dtls}</td><td>{media}</td><td>{tags}</td><td class=\"verdict\">{verdict}</td></tr>",
        look = look.name(),
        id = attr(&e.id),
        anchor = attr(&anchor(&e.id)),
        title = esc(&title(e, NAME_TAGS)),
        ty = esc(&e.element_type),
        recv = or_dash(total(&r.recv).map(kbps)),
        send = or_dash(total(&r.send).map(kbps)),
        loss = or_dash(loss),
        jitter = or_dash(jitter),
        rtt = or_dash(rtt),
        ice = or_dash(ep.and_then(|p| p.ice_state()).map(|s| s.to_string())),
        dtls = or_dash(ep.and_then(|p| p.dtls).map(|s| s.value.to_string())),
        media = or_dash(ep.and_then(|p| p.media_state).map(|s| s.value.to_string())),
        tags = tags(&e.tags),
        verdict = verdict.map_or(String::new(), |z| esc(&z.rule).into_owned()),
    )
}

/// One evidence fact for people: `STATE for 12s`, ages and times as spans.
fn fact(key: &str, v: &Value, now: Millis) -> String {
    let when = |v: &Value| v.as_u64().map(|at| format!("{} ago", age(Some(at), now)));
    match v {
        Value::Object(o) if o.contains_key("state") => format!(
            "{} for {}",
            o["state"].as_str().unwrap_or("?"),
            o.get("since")
                .and_then(Value::as_u64)
                .map_or("?".into(), |s| age(Some(s), now))
        ),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|i| {
                let parts: Vec<String> = i
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match p {
                        Value::Object(_) => fact("", p, now),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                parts.join(" ")
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Number(n) if key.ends_with("_ms") => n.as_u64().map_or(n.to_string(), span),
        Value::Number(_) if key.starts_with("last_") || key.ends_with("_at") => {
            when(v).unwrap_or_else(|| v.to_string())
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The evidence of a verdict as a definition list (null facts left out).
pub(super) fn evidence(z: &Zombie, now: Millis) -> String {
    let mut out = format!(
        "<div class=\"evidence\"><p><strong>{}</strong> · {} · action {} · status {}</p><dl>",
        esc(&z.rule),
        esc(&z.element_type),
        esc(&format!("{:?}", z.action).to_lowercase()),
        esc(z.status)
    );
    if let Ok(Value::Object(facts)) = serde_json::to_value(&z.evidence) {
        for (k, v) in facts {
            if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let _ = write!(
                out,
                "<dt>{}</dt><dd>{}</dd>",
                esc(&k),
                esc(&fact(&k, &v, now))
            );
        }
    }
    out.push_str("</dl></div>");
    out
}

/// An offer or answer as the model keeps it.
fn sdp(label: &str, s: Option<&SdpSummary>) -> String {
    let Some(s) = s else {
        return format!("<p class=\"quiet\">{label}: none yet</p>");
    };
    let mut out = format!(
        "<table class=\"sdp\"><caption>{label}{}</caption><thead><tr><th>m=</th><th>Direction</th>\
         <th>Codecs</th><th>Candidates</th><th>DTLS</th></tr></thead><tbody>",
        if s.bundle { " (BUNDLE)" } else { "" }
    );
    for m in &s.media {
        let codecs: Vec<String> = m.codecs.iter().map(|c| c.name.clone()).collect();
        let cands: Vec<String> = m
            .candidates
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        let direction = serde_json::to_value(m.direction)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{:?}", m.direction));
        let _ = write!(
            out,
            "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.kind),
            m.port,
            esc(&direction),
            esc(&codecs.join(", ")),
            esc(&or_dash((!cands.is_empty()).then(|| cands.join(", ")))),
            esc(&format!(
                "{} {}",
                m.fingerprint
                    .as_ref()
                    .map_or("no fingerprint", |f| f.as_str()),
                m.setup.as_deref().unwrap_or("")
            )),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The details of `e`: verdicts, streams, endpoint states, SDPs, actions.
pub(super) fn details(m: &TargetModel, e: &Element, verdicts: &[&Zombie], now: Millis) -> String {
    let look = Look::in_model(m, e, verdicts.first().copied());
    let mut out = format!(
        "<details class=\"element-details {look}\" id=\"{anchor}\"><summary><span class=\"dot {look}\"></span>\
         {title} <code>{id}</code></summary>",
        look = look.name(),
        anchor = attr(&anchor(&e.id)),
        title = esc(&title(e, NAME_TAGS)),
        id = esc(&e.id),
    );
    for z in verdicts {
        out.push_str(&evidence(z, now));
    }
    let sources: Vec<String> = m
        .sources_of(&e.id)
        .map(|(s, media)| format!("{} ({media:?})", short_id(s)))
        .collect();
    let sinks: Vec<String> = e
        .sinks
        .iter()
        .map(|(s, media)| format!("{} ({media:?})", short_id(s)))
        .collect();
    let _ = write!(
        out,
        "<p>Age {} · from {} · to {} · tags {}</p>",
        age(e.created.map(|c| c * 1000).or(Some(e.first_seen)), now),
        esc(&or_dash((!sources.is_empty()).then(|| sources.join(", ")))),
        esc(&or_dash((!sinks.is_empty()).then(|| sinks.join(", ")))),
        tags(&e.tags)
    );
    if let Some(s) = &e.stats {
        out.push_str(
            "<table class=\"streams\"><thead><tr><th>Stream</th><th>Media</th><th>kb/s</th><th>Packets</th>\
             <th>Lost</th><th>Jitter</th><th>RTT</th><th>NACK/PLI</th></tr></thead><tbody>",
        );
        let prev = e.previous_stats.as_ref();
        for i in &s.inbound {
            let bps = prev.and_then(|p| s.receive_bitrate(p, &i.ssrc));
            let _ = write!(
                out,
                "<tr><td>in {}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{} ({:.1} %)</td><td class=\"num\">{}</td><td>—</td><td>{}/{}</td></tr>",
                esc(&i.ssrc),
                i.media.map_or("—".into(), |m| m.to_string()),
                or_dash(bps.map(kbps)),
                i.packets,
                or_dash(i.lost.map(|l| l.to_string())),
                i.fraction_lost * 100.0,
                ms(i.jitter_seconds),
                i.nacks,
                i.plis
            );
        }
        for o in &s.outbound {
            let bps = prev.and_then(|p| s.send_bitrate(p, &o.ssrc));
            let _ = write!(
                out,
                "<tr><td>out {}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>—</td>\
                 <td>—</td><td class=\"num\">{}</td><td>{}/{}</td></tr>",
                esc(&o.ssrc),
                o.media.map_or("—".into(), |m| m.to_string()),
                or_dash(bps.map(kbps)),
                o.packets,
                o.round_trip_seconds.map_or_else(|| "—".into(), ms),
                o.nacks,
                o.plis
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(ep) = &e.endpoint {
        let ice: Vec<String> = ep
            .ice
            .iter()
            .map(|((stream, c), s)| {
                format!("{stream}/{c} {} ({} ago)", s.value, age(Some(s.since), now))
            })
            .collect();
        let since = |v: Option<String>, at: Option<Millis>| {
            v.map_or("—".into(), |v| format!("{v} ({} ago)", age(at, now)))
        };
        let _ = write!(
            out,
            "<p>Media {} · connection {} · DTLS {} · ICE {}</p>",
            esc(&since(
                ep.media_state.map(|s| s.value.to_string()),
                ep.media_state.map(|s| s.since)
            )),
            esc(&since(
                ep.connection_state.map(|s| s.value.to_string()),
                ep.connection_state.map(|s| s.since)
            )),
            esc(&since(
                ep.dtls.map(|s| s.value.to_string()),
                ep.dtls.map(|s| s.since)
            )),
            esc(&or_dash((!ice.is_empty()).then(|| ice.join(", ")))),
        );
        out.push_str("<div class=\"negotiation\"><h4>Negotiation</h4>");
        out.push_str(&sdp("Local (KMS)", ep.local_sdp.as_ref()));
        out.push_str(&sdp("Remote (peer)", ep.remote_sdp.as_ref()));
        let _ = write!(
            out,
            "<button type=\"button\" data-negotiation=\"/api/v1/elements/{}/negotiation?kms={}\">\
             Read offer/answer from KMS</button><div class=\"negotiation-out\"></div></div>",
            attr(&path_segment(&e.id)),
            attr(&super::fmt::query_value(&m.name)),
        );
    }
    let _ = write!(
        out,
        "<p class=\"action\"><button type=\"button\" class=\"danger\" data-release=\"/api/v1/objects/{}/release\" \
         data-what=\"{}\">Release this element</button></p></details>",
        attr(&path_segment(&e.id)),
        attr(&title(e, NAME_TAGS)),
    );
    out
}
