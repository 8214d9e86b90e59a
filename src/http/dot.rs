//! The pipeline graph as Graphviz DOT, from the model alone: one node per
//! element, titled and coloured as every picture is (`paint`), one edge per
//! connected pair labelled with its media types. `GET
//! /api/v1/pipelines/{id}/dot` serves it; `?gstreamer=1` serves KMS's own
//! `getGstreamerDot` instead (`live`).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::TargetModel;

use super::paint::{title, Look};

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
pub fn render(m: &TargetModel, pipeline: &str) -> Option<String> {
    let p = m.pipelines.get(pipeline)?;
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&p.id));
    let _ = writeln!(
        out,
        "  label={};",
        quote(&format!("{} ({})", p.name, m.name))
    );
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    let mut edges: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for e in m.children(pipeline) {
        let label = title(e, TAG_KEYS);
        let _ = writeln!(
            out,
            "  {} [label={}, fillcolor={}, tooltip={}];",
            quote(&e.id),
            quote(&label),
            quote(Look::of(e, None).colour()),
            quote(&e.name)
        );
        for (sink, media) in &e.sinks {
            edges
                .entry((e.id.as_str(), sink.as_str()))
                .or_default()
                .push(format!("{media:?}"));
        }
    }
    for ((source, sink), media) in edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(source),
            quote(sink),
            quote(&media.join(", "))
        );
    }
    out.push_str("}\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::types::MediaType;
    use crate::model::{Direction, Element, Pipeline, Update};

    const P: &str = "p1_kurento.MediaPipeline";

    fn el(id: &str, ty: &str) -> Element {
        Element {
            id: format!("{P}/{id}_kurento.{ty}"),
            pipeline: P.into(),
            element_type: ty.into(),
            name: format!("{id} \"quoted\""),
            ..Default::default()
        }
    }

    #[test]
    fn nodes_coloured_by_flow_and_edges_labelled_by_media() {
        let mut m = TargetModel::new("kms");
        m.apply(Update::Pipeline(Pipeline {
            id: P.into(),
            name: "room".into(),
            ..Default::default()
        }));
        let (a, b, c) = (
            el("aaaaaaaa-1", "WebRtcEndpoint"),
            el("bbbbbbbb-2", "WebRtcEndpoint"),
            el("cccccccc-3", "PlayerEndpoint"),
        );
        for e in [&a, &b, &c] {
            m.apply(Update::Element(Box::new(e.clone())));
        }
        let sinks = [
            (b.id.clone(), MediaType::AUDIO),
            (b.id.clone(), MediaType::VIDEO),
        ];
        m.apply(Update::Sinks {
            source: a.id.clone(),
            sinks: sinks.into_iter().collect(),
        });
        let flow = |id: &str, flowing| Update::Flow {
            element: id.into(),
            direction: Direction::Out,
            media: MediaType::VIDEO,
            flowing,
            at: 1,
        };
        m.apply(flow(&a.id, true));
        m.apply(flow(&b.id, false));
        let dot = render(&m, P).unwrap();
        assert!(dot.starts_with(&format!("digraph \"{P}\" {{")), "{dot}");
        assert!(dot.contains(&format!("\"{}\" [label=\"WebRtcEndpoint aaaaaaaa\", fillcolor=\"{}\", tooltip=\"aaaaaaaa-1 \\\"quoted\\\"\"]", a.id, Look::Flowing.colour())), "{dot}");
        assert!(
            dot.contains(&format!(
                "fillcolor=\"{}\", tooltip=\"bbbbbbbb-2",
                Look::Idle.colour()
            )),
            "{dot}"
        );
        assert!(
            dot.contains(&format!(
                "fillcolor=\"{}\", tooltip=\"cccccccc-3",
                Look::Idle.colour()
            )),
            "{dot}"
        );
        assert!(
            dot.contains(&format!(
                "\"{}\" -> \"{}\" [label=\"AUDIO, VIDEO\"];",
                a.id, b.id
            )),
            "{dot}"
        );
        assert_eq!(dot.matches("->").count(), 1);
        assert!(dot.ends_with("}\n"));
        assert!(render(&m, "nope").is_none());
    }
}
