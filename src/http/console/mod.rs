//! The console: a read-only web view of what the daemon knows, for people
//! with no Grafana at hand or in an incident. Pages are HTML with inline SVG
//! rendered here from the model and the reaper's board; one embedded style
//! sheet and one small script (refresh at the scrape pace, token-gated
//! actions through the authenticated API) are the only assets.
//!
//! ```text
//!   GET /                          home: targets, links        (home)
//!   GET /console/pipelines[?q=]    searchable pipeline list    (list)
//!   GET /console/pipelines/{id}    topology SVG (svg), elements, verdicts,
//!                                  negotiation, actions        (pipeline, element)
//!   GET /console/console.css  /console/console.js              (assets/)
//! ```
//!
//! Colours and node titles come from `paint`, verdicts from the reaper's
//! board, as every other picture of the daemon.

mod element;
mod fmt;
mod home;
mod list;
mod pipeline;
mod svg;

use std::collections::HashMap;

use hyper::StatusCode;

use crate::reaper::{Mode, TargetBoard, Zombie};

use super::reply::{asset, html, Resp};
use super::routes::{param, ConsolePage};
use super::state::AppState;

use fmt::esc;

/// Answer one console page.
pub(super) fn answer(state: &AppState, page: &ConsolePage, query: &str) -> Resp {
    match page {
        ConsolePage::Css => asset(
            "text/css; charset=utf-8",
            include_str!("assets/console.css"),
        ),
        ConsolePage::Js => asset(
            "text/javascript; charset=utf-8",
            include_str!("assets/console.js"),
        ),
        ConsolePage::Home => html(home::page(state)),
        ConsolePage::Pipelines => html(list::page(state, param(query, "q").as_deref())),
        ConsolePage::Pipeline(id) => {
            match pipeline::page(state, param(query, "kms").as_deref(), id) {
                Some(body) => html(body),
                None => {
                    let body = format!(
                        "<p class=\"gone\">No pipeline <code>{}</code> in the model: \
                         it was released or never existed. <a href=\"/console/pipelines\">All pipelines</a></p>",
                        esc(id)
                    );
                    let mut r = html(shell(state, "Unknown pipeline", &body));
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            }
        }
    }
}

/// The reaper's board as the last judgements left it, indexed by object.
pub(super) struct Verdicts {
    boards: Vec<TargetBoard>,
    /// (target, object) → (board, zombie) of its first verdict.
    first: HashMap<(String, String), (usize, usize)>,
}

impl Verdicts {
    pub fn read(state: &AppState) -> Verdicts {
        let boards = state
            .reaper
            .as_ref()
            .map(|r| r.board().targets())
            .unwrap_or_default();
        let mut first = HashMap::new();
        for (b, board) in boards.iter().enumerate() {
            for (z, zombie) in board.zombies.iter().enumerate() {
                first
                    .entry((board.kms.clone(), zombie.object.clone()))
                    .or_insert((b, z));
            }
        }
        Verdicts { boards, first }
    }

    fn board(&self, kms: &str) -> Option<&TargetBoard> {
        self.boards.iter().find(|b| b.kms == kms)
    }

    /// The first verdict on `object` of target `kms`.
    pub fn of(&self, kms: &str, object: &str) -> Option<&Zombie> {
        let &(b, z) = self.first.get(&(kms.to_owned(), object.to_owned()))?;
        self.boards.get(b)?.zombies.get(z)
    }

    /// Every verdict on `pipeline` or its elements.
    pub fn in_pipeline<'a>(&'a self, kms: &str, pipeline: &'a str) -> Vec<&'a Zombie> {
        self.board(kms).map_or_else(Vec::new, |b| {
            b.zombies
                .iter()
                .filter(|z| z.pipeline == pipeline || z.object == pipeline)
                .collect()
        })
    }

    pub fn mode(&self, kms: &str) -> Option<Mode> {
        self.board(kms).map(|b| b.mode)
    }

    /// Objects with a verdict on target `kms`.
    pub fn count(&self, kms: &str) -> usize {
        self.board(kms).map_or(0, |b| {
            let mut ids: Vec<&str> = b.zombies.iter().map(|z| z.object.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        })
    }
}

/// A whole page: head, navigation, the token form, `body` inside
/// `<main id="live">` (what the script refreshes).
pub(super) fn shell(state: &AppState, title: &str, body: &str) -> String {
    let refresh = state.scrape_interval().as_millis().max(1000);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · kurento-exporter</title>
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body data-refresh-ms="{refresh}">
<header>
<nav><a class="brand" href="/">kurento-exporter</a><a href="/console/pipelines">Pipelines</a><a href="/api/v1/zombies">Zombies (JSON)</a><a href="/metrics">/metrics</a></nav>
<form id="token-form" class="token" autocomplete="off"><input id="token" type="password" placeholder="API token for actions" aria-label="API token"><button type="submit">Unlock actions</button><button type="button" id="lock" class="action">Lock</button></form>
</header>
<main id="live">
{body}
</main>
<footer><span id="refreshed">refreshes every {secs} s</span> · <span id="action-result" role="status"></span></footer>
</body>
</html>
"#,
        title = esc(title),
        secs = refresh / 1000,
    )
}

/// The page of pipeline `id` of target `kms`.
pub(super) fn pipeline_href(kms: &str, id: &str) -> String {
    format!(
        "/console/pipelines/{}?kms={}",
        fmt::path_segment(id),
        fmt::query_value(kms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use hyper::header::CONTENT_TYPE;

    fn state() -> AppState {
        AppState::bare()
    }

    #[test]
    fn pages_are_self_contained_html_and_assets_are_embedded() {
        let s = state();
        s.store.target("a<b");
        let r = answer(&s, &ConsolePage::Home, "");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        let r = answer(&s, &ConsolePage::Pipeline("nope".into()), "kms=a");
        assert_eq!(r.status(), 404);
        let css = answer(&s, &ConsolePage::Css, "");
        assert_eq!(css.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
        let js = answer(&s, &ConsolePage::Js, "");
        assert_eq!(js.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
        let home = home::page(&s);
        assert!(home.contains("data-kms=\"a&lt;b\""), "{home}");
        assert!(
            !home.contains("http://") && !home.contains("https://"),
            "no outside asset"
        );
    }
}
