//! How an element is drawn, the same in every picture the daemon makes (DOT,
//! the Node Graph frames, the console's SVG): its look by verdict and flow,
//! the colour of that look, and the node's label.
//!
//! ```text
//!   a zombie verdict       → Zombie   (red, subtitle: the rule)
//!   media flows through it → Flowing  (green)
//!   otherwise              → Idle     (grey: hubs, muted or paused elements)
//! ```

use serde::Serialize;

use crate::model::Element;
use crate::reaper::Zombie;
use kms_proto::ids::is_hub;

/// The look of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Look {
    Zombie,
    Flowing,
    Idle,
}

impl Look {
    /// The look of `e`, given its verdict (if any).
    pub fn of(e: &Element, verdict: Option<&Zombie>) -> Look {
        if verdict.is_some() {
            Look::Zombie
        } else if !is_hub(&e.element_type) && e.flow.iter().any(|(_, _, s)| s.value) {
            Look::Flowing
        } else {
            Look::Idle
        }
    }

    /// Its name (`zombie`, `flowing`, `idle`): CSS classes, legends.
    pub fn name(self) -> &'static str {
        match self {
            Look::Zombie => "zombie",
            Look::Flowing => "flowing",
            Look::Idle => "idle",
        }
    }

    /// Fill colour (a CSS/Graphviz `#rrggbb`).
    pub fn colour(self) -> &'static str {
        match self {
            Look::Zombie => "#f2495c",
            Look::Flowing => "#73bf69",
            Look::Idle => "#c7d0d9",
        }
    }
}

/// Tags that name a node when the application set them (`title`).
pub const NAME_TAGS: &[&str] = &["participant", "room"];

/// Stroke colour of a connection carrying `media` (`AUDIO`, `VIDEO`, `DATA`).
pub fn media_colour(media: &str) -> &'static str {
    match media {
        "AUDIO" => "#5794f2",
        "VIDEO" => "#b877d9",
        _ => "#8e8e8e",
    }
}

/// `a1b2c3d4` of `<pipeline>/a1b2c3d4-..._kurento.Type`.
pub fn short_id(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    let uuid = last.split('_').next().unwrap_or(last);
    uuid.get(..8).unwrap_or(uuid)
}

/// A node's title: the element's name when the application set one (KMS
/// names elements by their id otherwise), else the first of `tag_keys` it
/// carries, else its type and short id.
pub fn title(e: &Element, tag_keys: &[&str]) -> String {
    if !e.name.is_empty() && !e.name.contains(short_id(&e.id)) {
        return e.name.clone();
    }
    if let Some(v) = tag_keys.iter().find_map(|k| e.tags.get(*k)) {
        return format!("{} {v}", e.element_type);
    }
    format!("{} {}", e.element_type, short_id(&e.id))
}
