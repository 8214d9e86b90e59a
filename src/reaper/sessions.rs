//! The application-session source: the live session (or room) ids the
//! application publishes as JSON at an HTTP URL or in a file, re-read
//! periodically. A source that cannot be read, or whose last good read is too
//! old, gives `SessionView::Unknown`: the `session_gone` condition is then
//! unknown and never counts as gone.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::model::Millis;
use crate::policy::SessionView;

use super::config::SessionSourceConfig;

/// Largest document accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the source last gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    /// A source is configured.
    pub configured: bool,
    /// Where it is read from.
    pub source: String,
    /// The ids of the last good read.
    #[serde(skip)]
    pub ids: Option<Arc<BTreeSet<String>>>,
    pub sessions: usize,
    /// Time of the last good read.
    pub last_ok: Option<Millis>,
    /// The last read failed: why.
    pub last_error: Option<String>,
    /// Oldest usable read, in ms.
    pub max_age_ms: Millis,
}

impl SessionStatus {
    /// Whether the last read worked and is recent enough at `now`.
    pub fn up(&self, now: Millis) -> bool {
        self.configured
            && self.last_error.is_none()
            && self
                .last_ok
                .is_some_and(|t| now.saturating_sub(t) <= self.max_age_ms)
    }

    /// The view the policy reads at `now`.
    pub fn view(&self, now: Millis) -> SessionView {
        match &self.ids {
            Some(ids)
                if self
                    .last_ok
                    .is_some_and(|t| now.saturating_sub(t) <= self.max_age_ms)
                    && self.last_error.is_none() =>
            {
                SessionView::Known((**ids).clone())
            }
            _ => SessionView::Unknown,
        }
    }
}

/// Parse the document: a JSON array of ids (strings or numbers), or an
/// object with such an array under `sessions`.
pub fn parse(body: &[u8]) -> Result<BTreeSet<String>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("sessions") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err("expected an array, or an object with a \"sessions\" array".into()),
        },
        _ => return Err("expected an array, or an object with a \"sessions\" array".into()),
    };
    list.iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(format!(
                "session ids must be strings or numbers, got {other}"
            )),
        })
        .collect()
}

async fn fetch_url(url: &str, timeout: Duration) -> Result<BTreeSet<String>, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad url: {e}"))?;
    let host = uri.host().ok_or("url has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let work = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("http handshake: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        parse(&body)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn fetch(cfg: &SessionSourceConfig) -> Result<BTreeSet<String>, String> {
    match (&cfg.url, &cfg.file) {
        (Some(url), _) => fetch_url(url, cfg.timeout).await,
        (None, Some(path)) => {
            let body = tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?;
            parse(&body)
        }
        (None, None) => Err("no source".into()),
    }
}

/// Describe the source for logs and the API.
pub fn describe(cfg: &SessionSourceConfig) -> String {
    match (&cfg.url, &cfg.file) {
        (Some(u), _) => u.clone(),
        (None, Some(f)) => f.display().to_string(),
        _ => String::new(),
    }
}

/// Read the source every `refresh` until `cancel`, publishing into `tx`.
pub async fn run(
    cfg: SessionSourceConfig,
    tx: Arc<watch::Sender<SessionStatus>>,
    cancel: CancellationToken,
) {
    let source = describe(&cfg);
    let max_age_ms = cfg.max_age().as_millis() as Millis;
    tx.send_modify(|s| {
        s.configured = true;
        s.source = source.clone();
        s.max_age_ms = max_age_ms;
    });
    let mut ticker = tokio::time::interval(cfg.refresh);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match fetch(&cfg).await {
            Ok(ids) => {
                if failing {
                    tracing::info!(source = %source, sessions = ids.len(), "application session source readable again");
                }
                failing = false;
                tx.send_modify(|s| {
                    s.sessions = ids.len();
                    s.ids = Some(Arc::new(ids));
                    s.last_ok = Some(now_millis());
                    s.last_error = None;
                });
            }
            Err(e) => {
                // Logged on every failure: the condition stays unknown meanwhile.
                tracing::warn!(source = %source, error = %e,
                    "application session source unreadable; session_gone stays unknown, nothing is released on it");
                failing = true;
                tx.send_modify(|s| s.last_error = Some(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse() {
        let ids = parse(br#"["a", "b", 7]"#).unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec!["7", "a", "b"]);
        assert_eq!(parse(br#"{"sessions": ["x"]}"#).unwrap().len(), 1);
        for bad in [&b"{"[..], b"{}", b"\"x\"", b"[null]", b"[[1]]"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn view_is_unknown_unless_fresh_and_ok() {
        let mut s = SessionStatus {
            configured: true,
            ids: Some(Arc::new(["r1".to_string()].into_iter().collect())),
            last_ok: Some(1_000),
            max_age_ms: 500,
            ..SessionStatus::default()
        };
        assert!(matches!(s.view(1_400), SessionView::Known(ref k) if k.contains("r1")));
        assert!(s.up(1_400));
        assert_eq!(s.view(1_600), SessionView::Unknown, "too old");
        s.last_error = Some("down".into());
        assert_eq!(s.view(1_100), SessionView::Unknown, "last read failed");
        assert!(!s.up(1_100));
        assert_eq!(SessionStatus::default().view(0), SessionView::Unknown);
    }

    #[tokio::test]
    async fn reads_a_file_and_reports_a_dead_url() {
        let path = std::env::temp_dir().join(format!("ke-sessions-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, r#"["room-1","room-2"]"#).unwrap();
        let cfg = SessionSourceConfig {
            url: None,
            file: Some(path.clone()),
            refresh: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_age: None,
        };
        assert_eq!(fetch(&cfg).await.unwrap().len(), 2);
        std::fs::remove_file(&path).unwrap();
        assert!(fetch(&cfg).await.is_err());
        // A port nobody listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let dead = SessionSourceConfig {
            url: Some(format!("http://127.0.0.1:{port}/sessions")),
            file: None,
            ..cfg
        };
        let e = fetch(&dead).await.unwrap_err();
        assert!(e.contains("connect"), "{e}");
    }
}
