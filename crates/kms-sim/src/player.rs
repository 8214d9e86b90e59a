//! PlayerEndpoint playback: `play` (START, or four INVALID_URI Error events
//! for a missing file), files that end after `FILE_DURATION_MS` (STOP,
//! EndOfStream, flow stops 2 s later, as in samples/wire.jsonl), pause/stop.

use serde_json::json;

use super::engine::Engine;
use super::kinds::Kind;

/// How long a `file://` media plays (the captured test file: 60 s).
pub const FILE_DURATION_MS: u64 = 60_000;

/// Output keeps flowing this long after the end of stream.
const FLOW_TAIL_MS: u64 = 2_000;

/// Whether a URI stands for media that cannot be opened. The simulator has
/// no files: a URI without a scheme, or whose path says `nonexistent`,
/// `does-not-exist` or `missing`, fails like a missing file.
pub fn uri_missing(uri: &str) -> bool {
    !uri.contains("://")
        || ["nonexistent", "does-not-exist", "missing"]
            .iter()
            .any(|w| uri.contains(w))
}

impl Engine {
    /// `PlayerEndpoint.play`.
    pub(crate) fn play(&mut self, id: &str) {
        let uri = self
            .objects
            .get(id)
            .and_then(|o| o.props.get("uri"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        if uri_missing(&uri) {
            self.raise(id, "UriEndpointStateChanged", json!({ "state": "START" }));
            // KMS raised four identical Error events for one failed play.
            for _ in 0..4 {
                let fields =
                    json!({"description": "Invalid URI", "errorCode": 0, "type": "INVALID_URI"});
                self.raise(id, "Error", fields);
            }
            return;
        }
        let eos = uri
            .starts_with("file://")
            .then_some(self.now + FILE_DURATION_MS);
        if let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) {
            e.eos_at = eos;
        }
        self.set_playing(id, true);
        if eos.is_some() {
            self.timed.insert(id.to_owned());
        }
    }

    /// Start or stop a player.
    pub(crate) fn set_playing(&mut self, id: &str, on: bool) {
        if let Some(e) = self.objects.get_mut(id).and_then(|o| o.el.as_mut()) {
            if e.playing == on {
                return;
            }
            e.playing = on;
            if !on {
                e.eos_at = None;
            }
        }
        if on {
            if let Some(o) = self.objects.get_mut(id) {
                o.props.insert("state".into(), "START".into());
            }
            self.raise(id, "UriEndpointStateChanged", json!({ "state": "START" }));
        }
        self.mark_dirty(id);
    }

    /// Timed step of a player; `None` when `id` is not a player.
    pub(crate) fn player_step(&mut self, id: &str) -> Option<bool> {
        let now = self.now;
        let o = self
            .objects
            .get_mut(id)
            .filter(|o| o.kind == Kind::PlayerEndpoint)?;
        let e = o.el.as_mut()?;
        if e.playing && e.eos_at.is_some_and(|t| now >= t) {
            e.playing = false;
            e.eos_at = None;
            e.flow_until = now + FLOW_TAIL_MS;
            o.props.insert("state".into(), "STOP".into());
            self.raise(id, "UriEndpointStateChanged", json!({ "state": "STOP" }));
            self.raise(id, "EndOfStream", json!({}));
            return Some(true);
        }
        if e.flow_until != 0 && now >= e.flow_until {
            e.flow_until = 0;
            self.mark_dirty(id);
            return Some(false);
        }
        Some(e.playing && e.eos_at.is_some() || e.flow_until != 0)
    }
}
