//! The pipeline graph as Graphviz DOT, from the model alone: one node per
//! element, titled and coloured as every picture is (`paint`), one edge per
//! connected pair labelled with its media types. `GET
//! /api/v1/pipelines/{id}/dot` serves it; `?gstreamer=1` serves KMS's own
//! `getGstreamerDot` instead (`live`).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::kms::types::MediaType;
use crate::model::TargetModel;

use super::paint::{edge, title, Edge, Look, Verdicts};

/// Tags that name a node when the application set them.
const TAG_KEYS: &[&str] = &["participant", "room"];

/// A DOT string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The DOT document of `pipeline`, or `None` when the model lacks it.
/// `verdicts`: the target's zombies by object.
pub fn render(m: &TargetModel, pipeline: &str, verdicts: &Verdicts) -> Option<String> {
    let p = m.pipelines.get(pipeline)?;
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&p.id));
    let mut title = format!("{} ({})", p.name, m.name);
    if let Some(z) = verdicts.get(&p.id) {
        title.push_str(&format!(" zombie: {}", z.rule));
    }
    let _ = writeln!(out, "  label={};", quote(&title));
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    let mut edges: BTreeMap<(&str, &str), Vec<(MediaType, Edge)>> = BTreeMap::new();
    for e in m.children(pipeline) {
        let verdict = verdicts.get(&e.id);
        // Second line: the rule of a zombie, else the type.
        let sub = verdict.map_or(e.element_type.as_str(), |z| z.rule.as_str());
        let _ = writeln!(
            out,
            "  {} [label={}, fillcolor={}, tooltip={}];",
            quote(&e.id),
            two_lines(&title_of(e), sub),
            quote(Look::in_model(m, e, verdict).colour()),
            quote(&e.name)
        );
        for (sink, media) in &e.sinks {
            edges
                .entry((e.id.as_str(), sink.as_str()))
                .or_default()
                .push((*media, edge(m, e, sink, *media)));
        }
        if let Some(hub) = e.hub.as_deref().filter(|h| m.elements.contains_key(*h)) {
            // A port drawn attached to its hub.
            let _ = writeln!(
                out,
                "  {} -> {} [style=dashed, arrowhead=none, color=\"#8e8e8e\"];",
                quote(&e.id),
                quote(hub)
            );
        }
    }
    for ((source, sink), media) in edges {
        let label: Vec<String> = media.iter().map(|(m, e)| e.label(*m)).collect();
        let flowing = media.iter().find(|(_, e)| e.flowing == Some(true));
        let colour = flowing.map_or(media[0].1.colour(), |(_, e)| e.colour());
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, color={}, fontcolor={}];",
            quote(source),
            quote(sink),
            quote(&label.join(", ")),
            quote(colour),
            quote(colour)
        );
    }
    out.push_str("}\n");
    Some(out)
}

/// A DOT label of two lines (`\\n` between two quoted strings' insides).
fn two_lines(first: &str, second: &str) -> String {
    let (a, b) = (quote(first), quote(second));
    format!("{}\\n{}", &a[..a.len() - 1], &b[1..])
}

fn title_of(e: &crate::model::Element) -> String {
    title(e, TAG_KEYS)
}

#[cfg(test)]
mod tests {
    use super::super::paint::tests::{id, room, P};
    use super::*;

    #[test]
    fn nodes_coloured_by_verdict_and_flow_edges_by_media() {
        let (m, verdicts) = room();
        let dot = render(&m, P, &verdicts).unwrap();
        assert!(dot.starts_with(&format!("digraph \"{P}\" {{")), "{dot}");
        let node = |name: &str, ty: &str| {
            let head = format!("  \"{}\" [label=", id(name, ty));
            dot.lines()
                .find(|l| l.starts_with(&head))
                .unwrap_or_else(|| panic!("{name}: {dot}"))
                .to_string()
        };
        let fill = |l: Look| format!("fillcolor=\"{}\"", l.colour());
        let dead = node("dead", "WebRtcEndpoint");
        assert!(dead.contains(&fill(Look::Zombie)), "{dead}");
        assert!(
            dead.contains("\\nwebrtc-peer-gone\""),
            "rule as subtitle: {dead}"
        );
        assert!(node("pdead", "HubPort").contains(&fill(Look::Zombie)));
        assert!(node("live", "WebRtcEndpoint").contains(&fill(Look::Flowing)));
        assert!(node("plive", "HubPort").contains(&fill(Look::Flowing)));
        let hub = node("hub", "Composite");
        assert!(hub.contains(&fill(Look::Idle)), "{hub}");
        assert!(hub.contains("\\nComposite\""), "type as subtitle: {hub}");
        // Ports attached to their hub; edges coloured by their media.
        assert!(dot.contains(&format!(
            "\"{}\" -> \"{}\" [style=dashed",
            id("plive", "HubPort"),
            id("hub", "Composite")
        )));
        assert!(
            dot.contains(&format!(
                "\"{}\" -> \"{}\" [label=\"VIDEO\", color=\"{}\"",
                id("live", "WebRtcEndpoint"),
                id("plive", "HubPort"),
                Look::Flowing.colour()
            )),
            "{dot}"
        );
        assert!(dot.ends_with("}\n"));
        assert!(render(&m, "nope", &verdicts).is_none());
    }
}
