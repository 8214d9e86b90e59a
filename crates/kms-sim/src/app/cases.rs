//! The application's verbs for the leaks and the never-a-zombie cases
//! beyond join/leave/forget: an endpoint created and never negotiated, a
//! pipeline emptied and forgotten, a muted participant, a paused player, an
//! ICE restart, a browser gone while the app holds its objects, a network
//! blip, tags. Each one sets the ground truth's `zombie` and `why`.

use kms_proto::wire::RpcError;

use crate::engine::Engine;
use crate::kinds::Kind;
use crate::timeline::Vanish;

use super::ctor;

impl Engine {
    /// Set the note (why live) of a participant and refresh its room.
    fn note(&mut self, room: &str, participant: &str, note: &str) {
        if let Some(m) = self
            .rooms
            .get_mut(room)
            .and_then(|r| r.participants.get_mut(participant))
        {
            m.note = Some(note.to_owned());
        }
        self.refresh_room(room);
    }

    /// A late offer of `ep` was processed: its participant is no longer
    /// mid-negotiation.
    pub(crate) fn note_negotiated(&mut self, ep: &str) {
        let found = self.rooms.iter_mut().find_map(|(name, r)| {
            let m = r
                .participants
                .values_mut()
                .find(|m| m.browser_endpoints().iter().any(|e| e == ep))?;
            m.note = None;
            Some(name.clone())
        });
        if let Some(room) = found {
            self.refresh_room(&room);
        }
    }

    /// The application creates a WebRtcEndpoint for `participant` in
    /// `room`'s pipeline and never negotiates it; with `forget` it forgets
    /// it at once (a zombie), otherwise it keeps it (live, waiting).
    pub fn app_idle_endpoint(
        &mut self,
        room: &str,
        participant: &str,
        forget: bool,
    ) -> Result<String, RpcError> {
        let pipeline = self
            .app_room_pipeline(room)
            .ok_or_else(|| RpcError::not_found(room))?;
        let ep = self.app_create(Kind::WebRtcEndpoint, &ctor("mediaPipeline", &pipeline))?;
        self.tag(&ep, "room", room);
        self.tag(&ep, "participant", participant);
        if forget {
            self.mark_zombie(&ep, "created, never negotiated, forgotten");
        } else {
            self.mark_live(&ep, "created, not negotiated yet: held");
        }
        Ok(ep)
    }

    /// The application releases every element of `room` (and so every
    /// browser's call ends) but forgets the pipeline: an empty zombie.
    pub fn app_forget_empty_pipeline(&mut self, room: &str) {
        let Some(r) = self.rooms.remove(room) else {
            return;
        };
        let children: Vec<String> = self
            .objects
            .get(&r.pipeline)
            .map(|p| p.children.iter().cloned().collect())
            .unwrap_or_default();
        for c in children {
            self.app_release(&c);
        }
        self.mark_zombie(&r.pipeline, "empty pipeline forgotten");
    }

    /// `participant`'s browser stops (or resumes) sending audio; its video
    /// keeps flowing. Live either way.
    pub fn app_mute(&mut self, room: &str, participant: &str, muted: bool) {
        let Some(ep) = self.app_endpoint(room, participant) else {
            return;
        };
        if let Some(r) = self.rtc_mut(&ep) {
            if let crate::webrtc::Peer::Remote { sends } = &mut r.peer {
                sends[0] = !muted;
            }
        }
        self.mark_dirty(&ep);
        let note = if muted {
            "muted participant: video keeps flowing"
        } else {
            "participant: browser alive"
        };
        self.note(room, participant, note);
    }

    /// Pause (or resume) the player of a playback participant. Live.
    pub fn app_pause(&mut self, room: &str, participant: &str, paused: bool) {
        let Some(player) = self.member(room, participant).and_then(|m| m.media) else {
            return;
        };
        let (op, note) = if paused {
            ("pause", "paused player")
        } else {
            ("play", "playing to a live viewer")
        };
        self.app_invoke(&player, op, serde_json::json!({}));
        self.note(room, participant, note);
    }

    /// `participant`'s browser restarts ICE: component 1 goes back to
    /// CONNECTING and media pauses for `for_ms`, then READY again. Live.
    pub fn app_ice_restart(&mut self, room: &str, participant: &str, for_ms: u64) -> bool {
        let Some(ep) = self.app_endpoint(room, participant) else {
            return false;
        };
        self.note(room, participant, "ICE restart in progress or done");
        self.restart_ice(&ep, for_ms)
    }

    /// The browser of `participant` vanishes; the application keeps its
    /// objects (not a zombie by the ground truth: the app holds them).
    pub fn app_vanish_peer(&mut self, room: &str, participant: &str, how: Vanish) {
        let Some(m) = self.member(room, participant) else {
            return;
        };
        for ep in m.browser_endpoints() {
            self.vanish_peer(&ep, how);
        }
        self.note(room, participant, "browser gone, the application holds it");
    }

    /// A network blip of `for_ms` on `participant`'s browser (see `blip`).
    pub fn app_blip(&mut self, room: &str, participant: &str, for_ms: u64) -> bool {
        if self.member(room, participant).is_some() {
            self.note(room, participant, "network blip shorter than the grace");
        }
        self.app_interrupt(room, participant, for_ms)
    }

    /// Tag `key`=`value` on a participant's objects, or on everything of
    /// the room (pipeline, hub and ports included). Zombie flags do not
    /// change; a live object's why says it is tagged.
    pub fn app_tag(&mut self, room: &str, participant: Option<&str>, key: &str, value: &str) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let ids = match participant {
            Some(p) => r
                .participants
                .get(p)
                .map(|m| m.objects())
                .unwrap_or_default(),
            None => self.subtree_ids(&r.pipeline),
        };
        let why = format!("tagged {key}={value}: kept on purpose");
        for id in ids {
            self.tag(&id, key, value);
            self.mark_live(&id, &why);
        }
        match participant {
            Some(p) => self.note(room, p, &why),
            None => {
                let names: Vec<String> = match self.rooms.get_mut(room) {
                    Some(r) => {
                        r.note = Some(why.clone());
                        r.participants.keys().cloned().collect()
                    }
                    None => Vec::new(),
                };
                for p in names {
                    self.note(room, &p, &why);
                }
            }
        }
    }
}
