//! The console's home page: every target (up, version, last sync, counts,
//! zombies, reaper mode), the current zombies with a link to their
//! pipeline, and where to go next (`/metrics`, the API, the dashboards).

use std::fmt::Write;

use kms_proto::ids::is_rtp_endpoint;

use crate::clock::now_millis;

use super::super::paint::short_id;
use super::super::state::AppState;
use super::fmt::{age, attr, esc};
use super::{pipeline_href, shell, Verdicts};

/// Most zombies listed on the home page (the API lists them all).
const MAX_ZOMBIES: usize = 50;

pub(super) fn page(state: &AppState) -> String {
    let now = now_millis();
    let verdicts = Verdicts::read(state);
    let mut body = String::from(
        "<h1>Targets</h1>\n<table class=\"targets\"><thead><tr><th>KMS</th><th>Up</th><th>Version</th>\
         <th>Last sync</th><th>Pipelines</th><th>Endpoints</th><th>Elements</th><th>Zombies</th>\
         <th>Reaper</th></tr></thead><tbody>\n",
    );
    let mut zombies = Vec::new();
    let targets = state.store.targets();
    for t in &targets {
        let m = t.read();
        let up = m.health.connected && m.health.last_sync_ok;
        let endpoints = m
            .elements
            .values()
            .filter(|e| is_rtp_endpoint(&e.element_type))
            .count();
        let count = verdicts.count(&m.name);
        let _ = writeln!(
            body,
            "<tr class=\"target\" data-kms=\"{kms_attr}\"><td>{kms}</td><td class=\"{up_class}\">{up_text}</td>\
             <td>{version}</td><td>{sync} ago</td><td class=\"num\">{pipelines}</td>\
             <td class=\"num\">{endpoints}</td><td class=\"num\">{elements}</td>\
             <td class=\"num zombies{zc}\">{count}</td><td>{mode}</td></tr>",
            kms = esc(&m.name),
            kms_attr = attr(&m.name),
            up_class = if up { "up" } else { "down" },
            up_text = if up { "up" } else { "down" },
            version = esc(m.server.as_ref().map_or("—", |s| s.version.as_str())),
            sync = age(m.health.last_sync_at, now),
            pipelines = m.pipelines.len(),
            elements = m.elements.len(),
            zc = if count > 0 { " bad" } else { "" },
            mode = verdicts.mode(&m.name).map_or("—", |m| m.as_str()),
        );
        for p in m.pipelines.values() {
            for z in verdicts.in_pipeline(&m.name, &p.id) {
                zombies.push((m.name.clone(), p.id.clone(), p.name.clone(), z.clone()));
            }
        }
    }
    if targets.is_empty() {
        body.push_str("<tr><td colspan=\"9\">No target configured.</td></tr>\n");
    }
    body.push_str("</tbody></table>\n");
    let _ = writeln!(
        body,
        "<h2>Zombies now <span class=\"count\">{}</span></h2>",
        zombies.len()
    );
    if zombies.is_empty() {
        body.push_str("<p class=\"quiet\">No object matches a zombie rule.</p>\n");
    } else {
        body.push_str(
            "<table class=\"zombies\"><thead><tr><th>KMS</th><th>Pipeline</th><th>Object</th>\
             <th>Rule</th><th>Status</th></tr></thead><tbody>\n",
        );
        for (kms, pid, pname, z) in zombies.iter().take(MAX_ZOMBIES) {
            let _ = writeln!(
                body,
                "<tr class=\"zombie\"><td>{}</td><td><a href=\"{}\">{}</a></td><td>{} {}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(kms),
                attr(&pipeline_href(kms, pid)),
                esc(if pname.is_empty() {
                    short_id(pid)
                } else {
                    pname
                }),
                esc(&z.element_type),
                esc(short_id(&z.object)),
                esc(&z.rule),
                esc(z.status),
            );
        }
        body.push_str("</tbody></table>\n");
    }
    body.push_str(
        "<h2>More</h2>\n<ul class=\"links\">\
         <li><a href=\"/console/pipelines\">Pipelines</a>: every pipeline, searchable, with its topology</li>\
         <li><a href=\"/metrics\">/metrics</a>: the Prometheus page</li>\
         <li><a href=\"/api/v1/targets\">/api/v1</a>: the operator API (targets, pipelines, elements, \
         zombies; <code>docs/openapi.yaml</code> in the source tree)</li>\
         <li>Dashboards and alerts: <code>grafana/README.md</code> and <code>alerts/README.md</code> \
         in the source tree</li></ul>\n",
    );
    shell(state, "Targets", &body)
}
