//! Network blips: a remote peer whose network is interrupted for a while and
//! then recovers, with the peer still there (the application keeps it).
//!
//! ```text
//!  from ──4 s──► MediaFlowOut NOT_FLOWING, inbound counters freeze
//!       ──24 s─► MediaStateChanged CONNECTED→DISCONNECTED (long blips only)
//!  until ──────► MediaStateChanged DISCONNECTED→CONNECTED (if it went down),
//!                MediaFlowOut FLOWING, counters grow again
//! ```
//!
//! From KMS's side an interrupted network looks like a crashed browser
//! until it recovers, so the delays are those of `Vanish::Crash`
//! (samples/browser/crash-*): flow stops after about 4 s, the media state
//! goes DISCONNECTED after 22–28 s, and ICE component 1 stays READY, the
//! connection state CONNECTED and DTLS silent. The inbound stats entries
//! keep their frozen counters and vanish on the crash timeline; on recovery
//! they come back and continue from where they stopped. What the other
//! participants receive through the pipeline follows from the flow model.

use super::engine::Engine;
use super::timeline::{state_fields, Vanish};
use kms_proto::types::MediaState;

/// A pending or running interruption of an endpoint's remote peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blip {
    /// When the network went away (simulated epoch ms).
    pub from: u64,
    /// When it comes back.
    pub until: u64,
    /// The media state was taken down by this blip (restore it at the end).
    pub media_down: bool,
    /// The flow-stop delay passed and the flows were recomputed.
    pub flow_stopped: bool,
    /// An ICE restart: media pauses at once, ICE component 1 goes back to
    /// CONNECTING and returns to READY at `until`.
    pub ice_restart: bool,
}

impl Blip {
    /// The delay timeline of an interrupted peer (see the module docs).
    const TIMELINE: Vanish = Vanish::Crash;

    /// Whether the peer's media is cut at `now` (the flow-stop delay passed).
    pub fn cuts_media(&self, now: u64) -> bool {
        let after = if self.ice_restart {
            0
        } else {
            Self::TIMELINE.flow_stop_ms()
        };
        now < self.until && now >= self.from + after
    }

    /// Whether an inbound stats entry is hidden at `now`.
    pub fn hides_inbound(&self, now: u64, hide_ms: impl Fn(Vanish) -> u64) -> bool {
        now < self.until && now >= self.from + hide_ms(Self::TIMELINE)
    }
}

impl Engine {
    /// The remote peer of endpoint `id` loses its network now for `for_ms`
    /// simulated milliseconds. A blip on an interrupted peer extends it; a
    /// peer that already vanished, or an endpoint not connected yet, is left
    /// alone. Returns false when `id` is not an RTP endpoint.
    pub fn interrupt_peer(&mut self, id: &str, for_ms: u64) -> bool {
        let now = self.now;
        let Some(r) = self.rtc_mut(id) else {
            return false;
        };
        if r.gone.is_some() || !r.connected() {
            return true;
        }
        let until = now.saturating_add(for_ms);
        r.blip = Some(match r.blip {
            Some(b) if now < b.until => Blip {
                until: b.until.max(until),
                ..b
            },
            _ => Blip {
                from: now,
                until,
                media_down: false,
                flow_stopped: false,
                ice_restart: false,
            },
        });
        self.kick(id);
        true
    }

    /// The remote peer of `id` restarts ICE for `for_ms`: component 1 goes
    /// CONNECTING (KMS's "checking"), media pauses, then CONNECTED and READY
    /// again. Ignored (true) when the endpoint is not connected or its peer
    /// is gone; false when `id` is not an RTP endpoint.
    pub fn restart_ice(&mut self, id: &str, for_ms: u64) -> bool {
        let now = self.now;
        let Some(r) = self.rtc_mut(id) else {
            return false;
        };
        if r.gone.is_some() || !r.connected() || !r.webrtc {
            return true;
        }
        r.blip = Some(Blip {
            from: now,
            until: now.saturating_add(for_ms),
            media_down: false,
            flow_stopped: false,
            ice_restart: true,
        });
        self.set_ice(id, 1, kms_proto::types::IceComponentState::CONNECTING);
        self.kick(id);
        true
    }

    /// One timed step of an interrupted endpoint; false once recovered.
    pub(crate) fn blip_step(&mut self, id: &str) -> bool {
        let now = self.now;
        let Some(r) = self.rtc_mut(id) else {
            return false;
        };
        let Some(mut b) = r.blip else {
            return false;
        };
        if now >= b.until {
            r.blip = None;
            if b.ice_restart {
                self.set_ice(id, 1, kms_proto::types::IceComponentState::CONNECTED);
                self.set_ice(id, 1, kms_proto::types::IceComponentState::READY);
            }
            let Some(r) = self.rtc_mut(id) else {
                return false;
            };
            let restore = b.media_down && r.media_state == MediaState::DISCONNECTED;
            if restore {
                r.media_state = MediaState::CONNECTED;
                self.raise(
                    id,
                    "MediaStateChanged",
                    state_fields("DISCONNECTED", "CONNECTED"),
                );
            }
            self.mark_dirty(id);
            return false;
        }
        let mut dirty = false;
        if !b.flow_stopped && b.cuts_media(now) {
            b.flow_stopped = true;
            dirty = true;
        }
        let down = !b.media_down
            && r.media_state == MediaState::CONNECTED
            && now >= b.from + Blip::TIMELINE.media_down_ms();
        if down {
            b.media_down = true;
            r.media_state = MediaState::DISCONNECTED;
        }
        r.blip = Some(b);
        if down {
            self.raise(
                id,
                "MediaStateChanged",
                state_fields("CONNECTED", "DISCONNECTED"),
            );
        }
        if dirty {
            self.mark_dirty(id);
        }
        true
    }

    /// The application's participant `participant` of `room` has a network
    /// blip of `for_ms`; false when there is no such participant.
    pub fn app_interrupt(&mut self, room: &str, participant: &str, for_ms: u64) -> bool {
        match self.app_endpoint(room, participant) {
            Some(ep) => self.interrupt_peer(&ep, for_ms),
            None => false,
        }
    }
}
