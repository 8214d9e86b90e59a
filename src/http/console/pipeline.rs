//! The page of one pipeline: its facts and counts, its topology (`svg`),
//! the verdicts on it with their evidence, the element table and details
//! (`element`), and the token-gated actions (attach a PlayerEndpoint,
//! release the pipeline) that go through the authenticated API.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::clock::now_millis;
use crate::model::ObjectId;

use super::super::lookup;
use super::super::paint::{edge, media_colour, short_id, title, Look, NAME_TAGS};
use super::super::state::AppState;
use super::element::{self, details, evidence};
use super::fmt::{attr, esc, path_segment, query_value, span};
use super::list::looks;
use super::svg::{self, Edge};
use super::{shell, Verdicts};

/// `s` with its runs of digits zero-padded, so that text sorts `p2` before `p10`.
fn natural(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut digits = String::new();
    for c in s.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push_str(&format!("{digits:0>12}"));
            digits.clear();
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// The page of pipeline `id` (on target `kms` when given); `None` when no
/// target's model holds it.
pub(super) fn page(state: &AppState, kms: Option<&str>, id: &str) -> Option<String> {
    let t = lookup::pipeline(&state.store, kms, id)?;
    let m = t.read();
    let p = m.pipelines.get(id)?;
    let now = now_millis();
    let verdicts = Verdicts::read(state);
    let mut elements: Vec<_> = m.children(id).collect();
    // Media sources first, then by title in natural order (p2 before p10).
    elements.sort_by_cached_key(|e| {
        let source =
            kms_proto::ids::is_rtp_endpoint(&e.element_type) || e.element_type == "PlayerEndpoint";
        (!source, natural(&title(e, NAME_TAGS)), e.id.clone())
    });
    let index: BTreeMap<&ObjectId, usize> = elements
        .iter()
        .enumerate()
        .map(|(i, e)| (&e.id, i))
        .collect();
    let nodes: Vec<svg::Node> = elements
        .iter()
        .map(|e| element::node(&m, e, verdicts.of(&m.name, &e.id)))
        .collect();
    let mut edges = Vec::new();
    for (i, e) in elements.iter().enumerate() {
        for (sink, media) in &e.sinks {
            let Some(&j) = index.get(sink) else { continue };
            // What crosses the connection, as every picture reads it.
            let crossing = edge(&m, e, sink, *media);
            edges.push(Edge {
                source: i,
                sink: j,
                media: media.to_string(),
                bps: crossing.bps,
                flowing: crossing.flowing == Some(true),
            });
        }
        // A hub port is linked to its hub.
        if let Some(j) = e.hub.as_ref().and_then(|h| index.get(h)) {
            edges.push(Edge {
                source: i,
                sink: *j,
                media: svg::HUB_LINK.into(),
                bps: None,
                flowing: true,
            });
        }
    }
    let l = looks(&m, &verdicts, id);
    let on_pipeline = verdicts.in_pipeline(&m.name, id);
    let pipeline_verdict = on_pipeline.iter().find(|z| z.object == id);
    let born = p.created.map_or(p.first_seen, |s| s * 1000);
    let name = if p.name.is_empty() {
        short_id(id)
    } else {
        &p.name
    };
    let enc = path_segment(id);
    let kq = query_value(&m.name);
    let mut body = format!(
        "<h1 class=\"pipeline-title{pz}\" data-pipeline=\"{pid}\">Pipeline {name}</h1>\n\
         <p class=\"meta\">KMS <strong>{kms}</strong> · <code>{id}</code> · age {age} · {n} elements: \
         <span class=\"count flowing\">{flowing} flowing</span>, <span class=\"count idle\">{idle} idle</span>, \
         <span class=\"count zombie\">{zombie} zombie</span> · tags {tags} · \
         <a href=\"/api/v1/pipelines/{enc}?kms={kq}\">JSON</a> · <a href=\"/api/v1/pipelines/{enc}/dot?kms={kq}\">DOT</a></p>\n",
        pz = if pipeline_verdict.is_some() { " is-zombie" } else { "" },
        pid = attr(id),
        name = esc(name),
        kms = esc(&m.name),
        id = esc(id),
        age = span(now.saturating_sub(born)),
        n = l.elements,
        flowing = l.flowing,
        idle = l.idle,
        zombie = l.zombie,
        tags = esc(&p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")),
    );
    if let Some(z) = pipeline_verdict {
        let _ = writeln!(
            body,
            "<div class=\"banner zombie\">This pipeline is a zombie ({}).</div>",
            esc(&z.rule)
        );
    }
    body.push_str("<div class=\"legend\">");
    for look in [Look::Flowing, Look::Idle, Look::Zombie] {
        let _ = write!(
            body,
            "<span><i class=\"swatch\" data-fill=\"{c}\"><svg width=\"14\" height=\"14\"><rect width=\"14\" \
             height=\"14\" rx=\"3\" fill=\"{c}\"/></svg></i>{}</span>",
            look.name(),
            c = look.colour()
        );
    }
    for (media, label) in [
        ("AUDIO", "audio"),
        ("VIDEO", "video"),
        ("DATA", "data"),
        (svg::HUB_LINK, "hub port of"),
    ] {
        let _ = write!(
            body,
            "<span><svg width=\"22\" height=\"8\"><line x1=\"0\" y1=\"4\" x2=\"22\" y2=\"4\" stroke=\"{}\" \
             stroke-width=\"3\"{}/></svg>{label}</span>",
            media_colour(media),
            if media == svg::HUB_LINK { " stroke-dasharray=\"5 4\"" } else { "" },
        );
    }
    body.push_str("</div>\n<div class=\"graph\">");
    if nodes.is_empty() {
        body.push_str("<p class=\"quiet\">No element: an empty pipeline.</p>");
    } else {
        body.push_str(&svg::render(&nodes, &edges));
    }
    body.push_str("</div>\n");
    let _ = writeln!(
        body,
        "<h2>Verdicts <span class=\"count\">{}</span></h2>",
        on_pipeline.len()
    );
    if on_pipeline.is_empty() {
        body.push_str(
            "<p class=\"quiet\">No zombie rule matches this pipeline or its elements.</p>\n",
        );
    }
    for z in &on_pipeline {
        body.push_str(&evidence(z, now));
        body.push('\n');
    }
    body.push_str(
        "<h2>Elements</h2>\n<table class=\"elements\"><thead><tr><th>Element</th><th>Type</th><th>In</th>\
         <th>Out</th><th>Loss</th><th>Jitter</th><th>RTT</th><th>ICE</th><th>DTLS</th><th>Media</th>\
         <th>Tags</th><th>Zombie rule</th></tr></thead><tbody>\n",
    );
    for e in &elements {
        body.push_str(&element::row(&m, e, verdicts.of(&m.name, &e.id)));
        body.push('\n');
    }
    body.push_str("</tbody></table>\n<h2>Details</h2>\n");
    for e in &elements {
        let on: Vec<_> = on_pipeline
            .iter()
            .copied()
            .filter(|z| z.object == e.id)
            .collect();
        body.push_str(&details(&m, e, &on, now));
        body.push('\n');
    }
    let sinks: String = elements
        .iter()
        .filter(|e| kms_proto::ids::is_rtp_endpoint(&e.element_type))
        .map(|e| {
            format!(
                "<option value=\"{}\">{}</option>",
                attr(&e.id),
                esc(&super::super::paint::title(
                    e,
                    super::super::paint::NAME_TAGS
                ))
            )
        })
        .collect();
    let _ = writeln!(
        body,
        "<section class=\"action\" id=\"actions\"><h2>Actions</h2>\
         <form class=\"attach\" data-attach=\"/api/v1/pipelines/{enc}/attach-player?kms={kq}\">\
         <label>Play <input name=\"uri\" type=\"text\" value=\"{uri}\" size=\"36\"></label> \
         <label>into <select name=\"element\">{sinks}</select></label> \
         <button type=\"submit\">Attach a PlayerEndpoint</button></form>\
         <p><button type=\"button\" class=\"danger\" data-release=\"/api/v1/objects/{enc}/release\" \
         data-what=\"pipeline {what}\">Release this pipeline</button></p></section>",
        what = attr(name),
        // A media file under the first allowed prefix (`api.player_uri_prefixes`).
        uri = attr(&format!(
            "{}test.webm",
            state
                .api_config()
                .player_uri_prefixes
                .first()
                .map_or("file:///usr/share/kurento/", String::as_str)
        )),
    );
    Some(shell(state, &format!("Pipeline {name}"), &body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn titles_sort_in_natural_order() {
        let mut t = vec!["p10", "p2", "p1", "HubPort p3"];
        t.sort_by_key(|s| super::natural(s));
        assert_eq!(t, ["HubPort p3", "p1", "p2", "p10"]);
    }
}
