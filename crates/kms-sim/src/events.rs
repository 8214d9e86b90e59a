//! Raising events: builds KMS's `onEvent` frames (source, tags,
//! timestampMillis as a string, type) and routes them to the sessions
//! subscribed to that object and event type.

use serde_json::{Map, Value};

use super::engine::{Delivery, Engine};
use kms_proto::types::kurento_value;
use kms_proto::wire::EventValue;

impl Engine {
    /// Raise `event` on `object` with its own `fields`.
    pub(crate) fn raise(&mut self, object: &str, event: &str, fields: Value) {
        let Some(obj) = self.objects.get(object) else {
            return;
        };
        if !obj.subs.iter().any(|s| s.event == event) {
            return;
        }
        let mut data = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        data.insert("source".into(), object.into());
        let tags: Vec<Value> = if obj.send_tags {
            obj.tags
                .iter()
                .map(|(k, v)| kurento_value("Tag", serde_json::json!({"key": k, "value": v})))
                .collect()
        } else {
            Vec::new()
        };
        data.insert("tags".into(), Value::Array(tags));
        data.insert("timestampMillis".into(), self.now.to_string().into());
        if event != "ObjectCreated" && event != "ObjectDestroyed" && !data.contains_key("type") {
            data.insert("type".into(), event.into());
        }
        let frame = EventValue {
            data: Value::Object(data),
            object: object.to_owned(),
            event_type: event.to_owned(),
        }
        .to_notification();
        let targets: Vec<String> = obj
            .subs
            .iter()
            .filter(|s| s.event == event)
            .map(|s| s.session.clone())
            .collect();
        for session in targets {
            self.out.push(Delivery {
                session,
                frame: frame.clone(),
            });
        }
    }
}
