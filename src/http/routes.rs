//! The daemon's one table of routes: path pattern → route, with the methods
//! each allows (a wrong one answers 405 with `Allow`), matched by `matchit`;
//! object ids percent-decoded (`percent-encoding`), query strings parsed as
//! `application/x-www-form-urlencoded` (`form_urlencoded`).
//!
//! ```text
//!   GET  /  /console/pipelines  /console/pipelines/{id}  /console/console.{css,js}
//!   GET  /metrics  /healthz  /readyz  /api/health  /api/graph/fields  /api/graph/data
//!   GET  /api/v1/zombies                  POST /api/v1/objects/{id}/release
//!   GET  /api/v1/targets
//!   GET  /api/v1/pipelines?kms=          GET /api/v1/pipelines/{id}
//!   GET  /api/v1/pipelines/{id}/dot[?gstreamer=1]
//!   GET  /api/v1/elements/{id}           GET /api/v1/elements/{id}/events[?limit=N]
//!   GET  /api/v1/elements/{id}/negotiation
//!   POST /api/v1/elements/{id}/watch[?duration=30s]
//!   POST   /api/v1/pipelines/{id}/attach-player
//!   DELETE /api/v1/pipelines/{id}/attach-player/{player}
//! ```
//!
//! An object id (`{id}`, `{player}`) is a KMS id: `<uuid>_kurento.MediaPipeline`
//! or `<pipeline>/<uuid>_kurento.<Type>`. Clients send it percent-encoded
//! (`%2F`, one path segment) or raw (two segments): each pattern is put in
//! the router in both forms, and the two segments of a raw id are joined
//! back with `/`. `GET` routes also answer `HEAD`.

use std::sync::LazyLock;

use hyper::Method;
use matchit::{Params, Router};
use percent_encoding::percent_decode_str;

/// A page of the console (`console`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ConsolePage {
    Home,
    Pipelines,
    Pipeline(String),
    Css,
    Js,
}

/// A model-only page, answered synchronously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Page {
    Metrics,
    /// `/healthz` and `/api/health`.
    Health,
    Readiness,
    GraphFields,
    GraphData,
    Zombies,
    Console(ConsolePage),
}

/// One operator API route, ids decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ApiRoute {
    Targets,
    Pipelines,
    Pipeline(String),
    PipelineDot(String),
    Element(String),
    Events(String),
    Negotiation(String),
    Watch(String),
    AttachPlayer(String),
    /// (pipeline, player)
    DetachPlayer(String, String),
}

/// One route of the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Page(Page),
    /// The reaper's manual release of an object.
    Release(String),
    Api(ApiRoute),
}

/// The methods a route allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Allow {
    /// `GET` and `HEAD`.
    Read,
    Post,
    Delete,
}

impl Allow {
    pub(super) fn permits(self, method: &Method) -> bool {
        match self {
            Allow::Read => method == Method::GET || method == Method::HEAD,
            Allow::Post => method == Method::POST,
            Allow::Delete => method == Method::DELETE,
        }
    }

    /// The `Allow` header of a 405.
    pub(super) fn header(self) -> &'static str {
        match self {
            Allow::Read => "GET, HEAD",
            Allow::Post => "POST",
            Allow::Delete => "DELETE",
        }
    }
}

/// The decoded ids of a matched path.
struct Ids {
    id: String,
    player: String,
}

/// One row of the table.
struct Entry {
    pattern: &'static str,
    allow: Allow,
    make: fn(Ids) -> Route,
}

const fn row(pattern: &'static str, allow: Allow, make: fn(Ids) -> Route) -> Entry {
    Entry {
        pattern,
        allow,
        make,
    }
}

const fn console(page: ConsolePage) -> Route {
    Route::Page(Page::Console(page))
}

/// Every route of the daemon.
const TABLE: &[Entry] = &[
    row("/", Allow::Read, |_| console(ConsolePage::Home)),
    row("/console/pipelines", Allow::Read, |_| {
        console(ConsolePage::Pipelines)
    }),
    row("/console/pipelines/{id}", Allow::Read, |i| {
        console(ConsolePage::Pipeline(i.id))
    }),
    row("/console/console.css", Allow::Read, |_| {
        console(ConsolePage::Css)
    }),
    row("/console/console.js", Allow::Read, |_| {
        console(ConsolePage::Js)
    }),
    row("/metrics", Allow::Read, |_| Route::Page(Page::Metrics)),
    row("/healthz", Allow::Read, |_| Route::Page(Page::Health)),
    row("/readyz", Allow::Read, |_| Route::Page(Page::Readiness)),
    row("/api/health", Allow::Read, |_| Route::Page(Page::Health)),
    row("/api/graph/fields", Allow::Read, |_| {
        Route::Page(Page::GraphFields)
    }),
    row("/api/graph/data", Allow::Read, |_| {
        Route::Page(Page::GraphData)
    }),
    row("/api/v1/zombies", Allow::Read, |_| {
        Route::Page(Page::Zombies)
    }),
    row("/api/v1/objects/{id}/release", Allow::Post, |i| {
        Route::Release(i.id)
    }),
    row("/api/v1/targets", Allow::Read, |_| {
        Route::Api(ApiRoute::Targets)
    }),
    row("/api/v1/pipelines", Allow::Read, |_| {
        Route::Api(ApiRoute::Pipelines)
    }),
    row("/api/v1/pipelines/{id}", Allow::Read, |i| {
        Route::Api(ApiRoute::Pipeline(i.id))
    }),
    row("/api/v1/pipelines/{id}/dot", Allow::Read, |i| {
        Route::Api(ApiRoute::PipelineDot(i.id))
    }),
    row("/api/v1/pipelines/{id}/attach-player", Allow::Post, |i| {
        Route::Api(ApiRoute::AttachPlayer(i.id))
    }),
    row(
        "/api/v1/pipelines/{id}/attach-player/{player}",
        Allow::Delete,
        |i| Route::Api(ApiRoute::DetachPlayer(i.id, i.player)),
    ),
    row("/api/v1/elements/{id}", Allow::Read, |i| {
        Route::Api(ApiRoute::Element(i.id))
    }),
    row("/api/v1/elements/{id}/events", Allow::Read, |i| {
        Route::Api(ApiRoute::Events(i.id))
    }),
    row("/api/v1/elements/{id}/negotiation", Allow::Read, |i| {
        Route::Api(ApiRoute::Negotiation(i.id))
    }),
    row("/api/v1/elements/{id}/watch", Allow::Post, |i| {
        Route::Api(ApiRoute::Watch(i.id))
    }),
];

/// The id parameters of the patterns.
const ID_PARAMS: [&str; 2] = ["id", "player"];

/// Name of the parameter holding the second segment of raw id `name`.
fn tail(name: &str) -> String {
    format!("{name}_tail")
}

/// `pattern` with each id parameter in both forms: one segment (encoded)
/// or two (raw `pipeline/element`).
fn forms(pattern: &str) -> Vec<String> {
    let mut out = vec![pattern.to_owned()];
    for name in ID_PARAMS {
        let one = format!("{{{name}}}");
        let two = format!("{{{name}}}/{{{}}}", tail(name));
        out = out
            .into_iter()
            .flat_map(|p| {
                let raw = p.contains(&one).then(|| p.replace(&one, &two));
                std::iter::once(p).chain(raw)
            })
            .collect();
    }
    out
}

/// The router over `TABLE`; its values index the table.
fn build() -> Result<Router<usize>, matchit::InsertError> {
    let mut router = Router::new();
    for (i, entry) in TABLE.iter().enumerate() {
        for pattern in forms(entry.pattern) {
            router.insert(pattern, i)?;
        }
    }
    Ok(router)
}

static ROUTER: LazyLock<Router<usize>> = LazyLock::new(|| {
    build().unwrap_or_else(|e| {
        // Only a wrong TABLE gets here (see the tests): every path is unknown.
        tracing::error!(error = %e, "routing table rejected");
        Router::new()
    })
});

/// Percent-decoding of a path segment (invalid escapes are kept as they are).
pub(super) fn decode(v: &str) -> String {
    percent_decode_str(v).decode_utf8_lossy().into_owned()
}

/// Id `name` of a match: its segment, or its two raw segments, decoded.
fn id(params: &Params, name: &str) -> String {
    let first = params.get(name).map(decode).unwrap_or_default();
    match params.get(tail(name)) {
        Some(second) => format!("{first}/{}", decode(second)),
        None => first,
    }
}

/// The route of `path` (without its query) and the methods it allows.
pub(super) fn find(path: &str) -> Option<(Route, Allow)> {
    let m = ROUTER.at(path).ok()?;
    let entry = TABLE.get(*m.value)?;
    let ids = Ids {
        id: id(&m.params, "id"),
        player: id(&m.params, "player"),
    };
    Some(((entry.make)(ids), entry.allow))
}

/// The value of `key` in a query string, decoded (`+` is a space); `None`
/// when absent or empty.
pub(super) fn param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operator API route of `path`, if it is one.
    fn parse(path: &str) -> Option<ApiRoute> {
        match find(path) {
            Some((Route::Api(r), _)) => Some(r),
            _ => None,
        }
    }

    /// The object of a release path.
    fn release_path(path: &str) -> Option<String> {
        match find(path) {
            Some((Route::Release(id), _)) => Some(id),
            _ => None,
        }
    }

    #[test]
    fn the_table_builds_and_every_pattern_has_both_id_forms() {
        assert!(build().is_ok());
        assert_eq!(
            forms("/a/{id}/b/{player}"),
            [
                "/a/{id}/b/{player}",
                "/a/{id}/b/{player}/{player_tail}",
                "/a/{id}/{id_tail}/b/{player}",
                "/a/{id}/{id_tail}/b/{player}/{player_tail}",
            ]
        );
        assert_eq!(
            find("/api/v1/elements/p/e/watch").map(|(_, a)| a.header()),
            Some("POST")
        );
        assert_eq!(
            find("/healthz"),
            Some((Route::Page(Page::Health), Allow::Read))
        );
        assert!(Allow::Read.permits(&Method::HEAD) && !Allow::Post.permits(&Method::GET));
        assert_eq!(find("/").map(|(r, _)| r), Some(console(ConsolePage::Home)));
        assert_eq!(
            find("/console/pipelines/p_kurento.MediaPipeline").map(|(r, _)| r),
            Some(console(ConsolePage::Pipeline(
                "p_kurento.MediaPipeline".into()
            )))
        );
    }

    const E: &str = "p_kurento.MediaPipeline/e_kurento.WebRtcEndpoint";

    #[test]
    fn paths_parse_with_encoded_or_raw_ids() {
        let enc = "p_kurento.MediaPipeline%2Fe_kurento.WebRtcEndpoint";
        for id in [enc, E] {
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}")),
                Some(ApiRoute::Element(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/events")),
                Some(ApiRoute::Events(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/negotiation")),
                Some(ApiRoute::Negotiation(E.into()))
            );
            assert_eq!(
                parse(&format!("/api/v1/elements/{id}/watch")),
                Some(ApiRoute::Watch(E.into()))
            );
        }
        assert_eq!(parse("/api/v1/targets"), Some(ApiRoute::Targets));
        assert_eq!(parse("/api/v1/pipelines"), Some(ApiRoute::Pipelines));
        assert_eq!(
            parse("/api/v1/pipelines/p_kurento.MediaPipeline/dot"),
            Some(ApiRoute::PipelineDot("p_kurento.MediaPipeline".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p"),
            Some(ApiRoute::Pipeline("p".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player"),
            Some(ApiRoute::AttachPlayer("p".into()))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player/p%2Fx_kurento.PlayerEndpoint"),
            Some(ApiRoute::DetachPlayer(
                "p".into(),
                "p/x_kurento.PlayerEndpoint".into()
            ))
        );
        assert_eq!(
            parse("/api/v1/pipelines/p/attach-player/p/x"),
            Some(ApiRoute::DetachPlayer("p".into(), "p/x".into()))
        );
        assert_eq!(parse("/api/v1/pipelines/p/attach-player/"), None);
        assert_eq!(parse("/api/v1/pipelines/"), None);
        assert_eq!(parse("/api/v1/elements/"), None);
        assert_eq!(parse("/api/v1/elements//events"), None);
        assert_eq!(parse("/api/v1/zombies"), None);
        assert_eq!(parse("/api/v1/objects/x/release"), None);
    }

    #[test]
    fn release_paths() {
        assert_eq!(
            release_path(
                "/api/v1/objects/a_kurento.MediaPipeline%2Fb_kurento.WebRtcEndpoint/release"
            )
            .as_deref(),
            Some("a_kurento.MediaPipeline/b_kurento.WebRtcEndpoint")
        );
        assert_eq!(
            release_path("/api/v1/objects/p/e/release").as_deref(),
            Some("p/e")
        );
        assert_eq!(release_path("/api/v1/objects//release"), None);
        assert_eq!(release_path("/api/v1/objects/x"), None);
    }
}
