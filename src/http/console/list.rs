//! The pipeline list: every pipeline of every target with its room, name,
//! element counts by look (flowing, idle, zombie) and age; `?q=` keeps the
//! rows whose text contains it (the script filters as one types, too).

use std::collections::HashMap;
use std::fmt::Write;

use crate::clock::now_millis;
use crate::model::TargetModel;

use super::super::paint::{short_id, Look};
use super::super::state::AppState;
use super::fmt::{attr, esc, span};
use super::{pipeline_href, shell, Verdicts};

/// Counts of one pipeline's elements by look.
#[derive(Default)]
pub(super) struct Looks {
    pub elements: usize,
    pub flowing: usize,
    pub idle: usize,
    pub zombie: usize,
}

impl Looks {
    fn add(&mut self, look: Look) {
        self.elements += 1;
        match look {
            Look::Flowing => self.flowing += 1,
            Look::Idle => self.idle += 1,
            Look::Zombie => self.zombie += 1,
        }
    }
}

/// The looks of the elements of pipeline `id`.
pub(super) fn looks(m: &TargetModel, verdicts: &Verdicts, id: &str) -> Looks {
    let mut out = Looks::default();
    for e in m.children(id) {
        out.add(Look::in_model(m, e, verdicts.of(&m.name, &e.id)));
    }
    out
}

/// The looks of every pipeline's elements, in one pass over the elements.
fn all_looks<'m>(m: &'m TargetModel, verdicts: &Verdicts) -> HashMap<&'m str, Looks> {
    let mut out: HashMap<&str, Looks> = HashMap::new();
    for e in m.elements.values() {
        out.entry(e.pipeline.as_str())
            .or_default()
            .add(Look::in_model(m, e, verdicts.of(&m.name, &e.id)));
    }
    out
}

pub(super) fn page(state: &AppState, q: Option<&str>) -> String {
    let now = now_millis();
    let verdicts = Verdicts::read(state);
    let needle = q.map(str::to_lowercase);
    let mut rows = Vec::new();
    for t in state.store.targets() {
        let m = t.read();
        let mut by_pipeline = all_looks(&m, &verdicts);
        for p in m.pipelines.values() {
            let room = p.tags.get("room").map_or("", String::as_str);
            let text = format!("{} {} {} {}", m.name, room, p.name, p.id).to_lowercase();
            if needle.as_ref().is_some_and(|n| !text.contains(n.as_str())) {
                continue;
            }
            let l = by_pipeline.remove(p.id.as_str()).unwrap_or_default();
            let pipeline_zombie = verdicts.of(&m.name, &p.id).is_some();
            let born = p.created.map_or(p.first_seen, |s| s * 1000);
            let mut row = String::new();
            let _ = write!(
                row,
                "<tr class=\"pipeline{pz}\" data-search=\"{search}\"><td>{kms}</td><td>{room}</td>\
                 <td><a href=\"{href}\">{name}</a></td><td class=\"num\">{elements}</td>\
                 <td class=\"num flowing\">{flowing}</td><td class=\"num idle\">{idle}</td>\
                 <td class=\"num zombie\">{zombie}</td><td>{age}</td></tr>",
                pz = if pipeline_zombie { " is-zombie" } else { "" },
                search = attr(&text),
                kms = esc(&m.name),
                room = esc(room),
                href = attr(&pipeline_href(&m.name, &p.id)),
                name = esc(if p.name.is_empty() {
                    short_id(&p.id)
                } else {
                    &p.name
                }),
                elements = l.elements,
                flowing = l.flowing,
                idle = l.idle,
                zombie = l.zombie + usize::from(pipeline_zombie),
                age = span(now.saturating_sub(born)),
            );
            rows.push((m.name.clone(), room.to_owned(), p.name.clone(), row));
        }
    }
    rows.sort();
    let mut body = format!(
        "<h1>Pipelines <span class=\"count\">{}</span></h1>\n\
         <form class=\"search\" method=\"get\" action=\"/console/pipelines\">\
         <input id=\"search\" name=\"q\" type=\"search\" placeholder=\"room, name or id\" value=\"{}\" \
         aria-label=\"Search pipelines\"></form>\n\
         <table class=\"pipelines\"><thead><tr><th>KMS</th><th>Room</th><th>Pipeline</th>\
         <th>Elements</th><th>Flowing</th><th>Idle</th><th>Zombie</th><th>Age</th></tr></thead><tbody>\n",
        rows.len(),
        attr(q.unwrap_or("")),
    );
    for (_, _, _, row) in &rows {
        body.push_str(row);
        body.push('\n');
    }
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"8\">No pipeline.</td></tr>\n");
    }
    body.push_str("</tbody></table>\n");
    shell(state, "Pipelines", &body)
}
