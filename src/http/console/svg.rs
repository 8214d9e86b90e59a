//! A pipeline's topology as SVG: a layered layout from sources to sinks
//! (media sources first, then breadth-first along connections; within a
//! layer, nodes ordered by the mean row of their neighbours to keep edges
//! short), nodes filled by look (`paint`), one edge per (pair, media)
//! stroked by media and labelled with its bitrate when the RTP stats give it.
//!
//! ```text
//!   layer 0            layer 1          layer 2
//!   [WebRtc p1] ─────► [HubPort p1] ──► [Composite]
//!              ◄─────                ◄──
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use super::super::paint::{media_colour, Look};
use super::fmt::{attr, esc, kbps};

/// Node box size and gaps, in SVG user units (CSS pixels).
const NODE_W: usize = 200;
const NODE_H: usize = 46;
const GAP_X: usize = 110;
const GAP_Y: usize = 18;
const PAD: usize = 34;
/// Longest title drawn in a box before it is cut.
const MAX_TITLE: usize = 26;

/// One element as drawn.
pub(super) struct Node {
    pub id: String,
    /// The anchor of its row on the page.
    pub anchor: String,
    pub title: String,
    pub subtitle: String,
    pub look: Look,
    /// A media source (RTP endpoint, player): a first-layer candidate.
    pub source: bool,
    /// Tooltip.
    pub tooltip: String,
}

/// The `media` of a link from a hub port to its hub (drawn dashed, no
/// arrow, no bitrate): the hub mixes what its ports bring.
pub(super) const HUB_LINK: &str = "HUB";

/// One connection for one media type (indices into the nodes).
pub(super) struct Edge {
    pub source: usize,
    pub sink: usize,
    /// `AUDIO`, `VIDEO`, `DATA`, or `HUB_LINK`.
    pub media: String,
    pub bps: Option<f64>,
    /// Media flows on it (drawn faded otherwise).
    pub flowing: bool,
}

/// The layer of every node.
pub(super) fn layers(nodes: &[Node], edges: &[Edge]) -> Vec<usize> {
    let n = nodes.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for e in edges.iter().filter(|e| e.source != e.sink) {
        if !out[e.source].contains(&e.sink) {
            out[e.source].push(e.sink);
            indeg[e.sink] += 1;
        }
    }
    let mut layer: Vec<Option<usize>> = vec![None; n];
    let mut seeds: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    loop {
        let mut queue = std::collections::VecDeque::new();
        for s in seeds {
            if layer[s].is_none() {
                layer[s] = Some(0);
                queue.push_back(s);
            }
        }
        while let Some(u) = queue.pop_front() {
            let next = layer[u].unwrap_or(0) + 1;
            for &v in &out[u] {
                if layer[v].is_none() {
                    layer[v] = Some(next);
                    queue.push_back(v);
                }
            }
        }
        let left: Vec<usize> = (0..n).filter(|&i| layer[i].is_none()).collect();
        let Some(&first) = left.first() else { break };
        // Cycles only (a conference): start from their media sources.
        seeds = left.iter().copied().filter(|&i| nodes[i].source).collect();
        if seeds.is_empty() {
            seeds = vec![first];
        }
    }
    layer.into_iter().map(Option::unwrap_or_default).collect()
}

/// The row of every node within its layer.
fn rows(layer: &[usize], edges: &[Edge]) -> Vec<usize> {
    let depth = layer.iter().max().map_or(0, |d| d + 1);
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        order[l].push(i);
    }
    let mut row = vec![0usize; layer.len()];
    let place = |order: &Vec<Vec<usize>>, row: &mut Vec<usize>| {
        for col in order {
            for (r, &i) in col.iter().enumerate() {
                row[i] = r;
            }
        }
    };
    place(&order, &mut row);
    // Two sweeps: each layer by its neighbours in the layer before, then after.
    for backward in [false, true] {
        let range: Vec<usize> = if backward {
            (0..depth.saturating_sub(1)).rev().collect()
        } else {
            (1..depth).collect()
        };
        for l in range {
            let near = if backward { l + 1 } else { l.wrapping_sub(1) };
            let key = |i: usize| {
                let rs: Vec<usize> = edges
                    .iter()
                    .filter_map(|e| {
                        let other = if e.source == i {
                            e.sink
                        } else if e.sink == i {
                            e.source
                        } else {
                            return None;
                        };
                        (layer[other] == near).then_some(row[other])
                    })
                    .collect();
                if rs.is_empty() {
                    row[i] as f64
                } else {
                    rs.iter().sum::<usize>() as f64 / rs.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize, usize)> =
                order[l].iter().map(|&i| (key(i), row[i], i)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            order[l] = keyed.into_iter().map(|(_, _, i)| i).collect();
            place(&order, &mut row);
        }
    }
    row
}

/// `s` cut to `max` characters.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The SVG document of `nodes` and `edges`.
pub(super) fn render(nodes: &[Node], edges: &[Edge]) -> String {
    let layer = layers(nodes, edges);
    let row = rows(&layer, edges);
    let depth = layer.iter().max().map_or(1, |d| d + 1);
    let mut per_layer = vec![0usize; depth];
    for &l in &layer {
        per_layer[l] += 1;
    }
    let tallest = per_layer.iter().copied().max().unwrap_or(1).max(1);
    let pitch = NODE_H + GAP_Y;
    let pos: Vec<(usize, usize)> = (0..nodes.len())
        .map(|i| {
            let l = layer[i];
            let offset = (tallest - per_layer[l]) * pitch / 2;
            (PAD + l * (NODE_W + GAP_X), PAD + offset + row[i] * pitch)
        })
        .collect();
    let width = 2 * PAD + depth * NODE_W + depth.saturating_sub(1) * GAP_X + 60;
    let height = 2 * PAD + tallest * pitch;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"topology\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"pipeline topology\" font-family=\"sans-serif\">"
    );
    s.push_str("<defs>");
    for media in ["AUDIO", "VIDEO", "DATA"] {
        let _ = write!(
            s,
            "<marker id=\"arrow-{media}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            media_colour(media)
        );
    }
    s.push_str("</defs>\n");
    draw_edges(&mut s, edges, &layer, &pos);
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let _ = writeln!(
            s,
            "<g class=\"node {look}\" data-id=\"{id}\" data-look=\"{look}\"><title>{tip}</title>\
             <a href=\"#{anchor}\"><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"7\" \
             fill=\"{fill}\" stroke=\"#202226\" stroke-width=\"1\"/>\
             <text x=\"{tx}\" y=\"{ty1}\" font-size=\"13\" font-weight=\"600\" fill=\"#111217\">{title}</text>\
             <text x=\"{tx}\" y=\"{ty2}\" font-size=\"11\" fill=\"#202226\">{sub}</text></a></g>",
            look = n.look.name(),
            id = attr(&n.id),
            tip = esc(&n.tooltip),
            anchor = attr(&n.anchor),
            fill = n.look.colour(),
            tx = x + 9,
            ty1 = y + 19,
            ty2 = y + 36,
            title = esc(&cut(&n.title, MAX_TITLE)),
            sub = esc(&cut(&n.subtitle, MAX_TITLE + 6)),
        );
    }
    s.push_str("</svg>\n");
    s
}

fn draw_edges(s: &mut String, edges: &[Edge], layer: &[usize], pos: &[(usize, usize)]) {
    let mut pairs: BTreeMap<(usize, usize), Vec<&Edge>> = BTreeMap::new();
    for e in edges {
        pairs.entry((e.source, e.sink)).or_default().push(e);
    }
    let (w, h) = (NODE_W as f64, NODE_H as f64);
    for ((a, b), list) in pairs {
        let (ax, ay) = (pos[a].0 as f64, pos[a].1 as f64);
        let (bx, by) = (pos[b].0 as f64, pos[b].1 as f64);
        let rate: Option<f64> = list.iter().filter_map(|e| e.bps).reduce(|x, y| x + y);
        for (k, e) in list.iter().enumerate() {
            let off = (k as f64 - (list.len() as f64 - 1.0) / 2.0) * 4.0;
            let (d, lx, ly) = if a == b {
                let (x1, x2) = (ax + w * 0.62, ax + w * 0.9);
                (
                    format!(
                        "M{x1},{ay} C{x1},{t} {x2},{t} {x2},{ay}",
                        t = ay - 26.0 - off.abs()
                    ),
                    (x1 + x2) / 2.0,
                    ay - 24.0,
                )
            } else if layer[b] > layer[a] {
                let (x1, y1, x2, y2) = (
                    ax + w,
                    ay + h / 2.0 - 5.0 + off,
                    bx,
                    by + h / 2.0 - 5.0 + off,
                );
                let mx = (x1 + x2) / 2.0;
                (
                    format!("M{x1},{y1} C{mx},{y1} {mx},{y2} {x2},{y2}"),
                    mx,
                    (y1 + y2) / 2.0 - 4.0,
                )
            } else if layer[b] < layer[a] {
                let (x1, y1, x2, y2) = (
                    ax,
                    ay + h / 2.0 + 5.0 + off,
                    bx + w,
                    by + h / 2.0 + 5.0 + off,
                );
                let mx = (x1 + x2) / 2.0;
                (
                    format!("M{x1},{y1} C{mx},{y1} {mx},{y2} {x2},{y2}"),
                    mx,
                    (y1 + y2) / 2.0 + 17.0,
                )
            } else {
                let (x1, y1, x2, y2) = (ax + w, ay + h / 2.0 + off, bx + w, by + h / 2.0 + off);
                let bend = x1 + 40.0 + (y2 - y1).abs() / 8.0;
                (
                    format!("M{x1},{y1} C{bend},{y1} {bend},{y2} {x2},{y2}"),
                    bend,
                    (y1 + y2) / 2.0,
                )
            };
            let hub = e.media == HUB_LINK;
            let _ = write!(
                s,
                "<path class=\"edge {media_lc}\" data-media=\"{media}\" d=\"{d}\" fill=\"none\" stroke=\"{c}\" \
                 stroke-width=\"{w}\"{extra}/>",
                media = attr(&e.media),
                media_lc = attr(&e.media.to_lowercase()),
                c = media_colour(&e.media),
                w = if hub { "1.5" } else { "2" },
                extra = if hub {
                    " stroke-dasharray=\"5 4\"".to_owned()
                } else {
                    format!(
                        " marker-end=\"url(#arrow-{})\"{}",
                        attr(&e.media),
                        if e.flowing {
                            ""
                        } else {
                            " stroke-opacity=\"0.35\" data-flowing=\"false\""
                        }
                    )
                },
            );
            if let (0, Some(bps)) = (k, rate) {
                let _ = write!(
                    s,
                    "<text class=\"rate\" x=\"{lx:.0}\" y=\"{ly:.0}\" font-size=\"10\" text-anchor=\"middle\" \
                     fill=\"#3d4350\">{}</text>",
                    esc(&kbps(bps)),
                );
            }
            s.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, source: bool) -> Node {
        Node {
            id: id.into(),
            anchor: id.into(),
            title: id.into(),
            subtitle: String::new(),
            look: Look::Idle,
            source,
            tooltip: id.into(),
        }
    }

    fn edge(source: usize, sink: usize) -> Edge {
        Edge {
            source,
            sink,
            media: "VIDEO".into(),
            bps: None,
            flowing: true,
        }
    }

    #[test]
    fn a_chain_is_layered_from_its_source() {
        let nodes = [
            node("player", true),
            node("filter", false),
            node("webrtc", true),
        ];
        let edges = [edge(0, 1), edge(1, 2), edge(2, 2)];
        assert_eq!(layers(&nodes, &edges), [0, 1, 2]);
    }

    #[test]
    fn a_conference_starts_from_its_endpoints_and_keeps_rows_aligned() {
        // w0 <-> h0 <-> composite <-> h1 <-> w1, every link both ways.
        let nodes = [
            node("w0", true),
            node("w1", true),
            node("h1", false),
            node("h0", false),
            node("composite", false),
        ];
        let mut edges = Vec::new();
        for (a, b) in [(0, 3), (1, 2), (3, 4), (2, 4)] {
            edges.push(edge(a, b));
            edges.push(edge(b, a));
        }
        let layer = layers(&nodes, &edges);
        assert_eq!(layer, [0, 0, 1, 1, 2]);
        let row = rows(&layer, &edges);
        assert_eq!(row[3], row[0], "h0 beside w0");
        assert_eq!(row[2], row[1], "h1 beside w1");
        let svg = render(&nodes, &edges);
        assert_eq!(svg.matches("<g class=\"node idle\"").count(), 5);
        assert_eq!(svg.matches("<path class=\"edge video\"").count(), 8);
    }

    #[test]
    fn fifty_elements_fit_in_a_readable_picture() {
        let mut nodes = vec![node("composite", false)];
        let mut edges = Vec::new();
        for i in 0..24 {
            nodes.push(node(&format!("w{i}"), true));
            nodes.push(node(&format!("h{i}"), false));
            let (w, h) = (nodes.len() - 2, nodes.len() - 1);
            edges.extend([edge(w, h), edge(h, w), edge(h, 0), edge(0, h)]);
        }
        nodes.push(node("recorder", false));
        edges.push(edge(0, nodes.len() - 1));
        assert_eq!(nodes.len(), 50);
        let svg = render(&nodes, &edges);
        let width: usize = svg
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // Four layers side by side, 24 rows: wider than a phone, far from a poster.
        assert!(width < 1400, "{width}");
        assert!(svg.contains("font-size=\"13\""));
    }
}
