//! Hubs and their ports: the routing operations of the dispatchers
//! (`Dispatcher.connect`, `DispatcherOneToMany.setSource`/`removeSource`)
//! and the media model of a `HubPort`, including the flow flags KMS reports
//! for it, which do not tell liveness (PROTOCOL.md "Hubs and their ports").
//!
//! A port belongs to its hub (`parent` = the hub; the pipeline's
//! `getChildren` does not list it, the hub's does). Flow model, per port and
//! media type (MediaFlowIn = media entering the port from the pipeline, i.e.
//! from the endpoint connected to it; MediaFlowOut = media the hub gives the
//! port to send into the pipeline):
//!
//! | hub | port outputs AUDIO when | port outputs VIDEO when |
//! | --- | --- | --- |
//! | Composite, Mixer, AlphaBlending (mixers) | another port of the hub receives audio (the mix minus its own voice) | any port of the hub, itself included, receives video (the grid shows everybody) |
//! | Dispatcher | the port `connect`ed to it as source receives audio | same, video |
//! | DispatcherOneToMany | it is not the source and the source port receives audio | same, video |
//!
//! Reported flags: a mixer's port always answers VIDEO flowing-in `false`
//! (seen on KMS 7.3.1: live ports of a 3-person Composite room whose browsers
//! were decoding the mix), while the mix itself is computed from the media
//! really entering the ports. So the port of a participant whose browser
//! died keeps AUDIO (and VIDEO) flowing-out `true` as long as another member
//! sends: the mixer keeps feeding it. Dispatcher ports report the causal
//! flags (nothing was observed that says otherwise).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::engine::{marshall, Engine, RpcResult};
use super::kinds::Kind;
use kms_proto::wire::RpcError;

/// Whether a hub of this type mixes its inputs (see the module table).
pub fn mixes(kind: Kind) -> bool {
    matches!(kind, Kind::Composite | Kind::Mixer | Kind::AlphaBlending)
}

/// The hub prop naming a DispatcherOneToMany's source port.
const SOURCE: &str = "source";

impl Engine {
    /// Operations of hubs (besides the MediaObject ones); `None` when `op`
    /// is not one.
    pub(crate) fn invoke_hub(
        &mut self,
        id: &str,
        kind: Kind,
        op: &str,
        args: &Map<String, Value>,
    ) -> Option<RpcResult> {
        let port_arg = |e: &Engine, key: &str| -> Result<String, RpcError> {
            let p = args
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| marshall(format!("'{key}' parameter should be a HubPort")))?;
            let o = e.obj(p)?;
            if o.kind != Kind::HubPort || o.parent.as_deref() != Some(id) {
                return Err(marshall(format!("'{key}' parameter should be a HubPort")));
            }
            Ok(p.to_owned())
        };
        let r = match (kind, op) {
            (Kind::Dispatcher, "connect") => (|| {
                let source = port_arg(self, "source")?;
                let sink = port_arg(self, "sink")?;
                if let Some(e) = self.objects.get_mut(&sink).and_then(|o| o.el.as_mut()) {
                    e.hub_source = Some(source);
                }
                self.mark_dirty(id);
                Ok(Value::Null)
            })(),
            (Kind::DispatcherOneToMany, "setSource") => (|| {
                let source = port_arg(self, "source")?;
                if let Some(o) = self.objects.get_mut(id) {
                    o.props.insert(SOURCE.into(), source.into());
                }
                self.mark_dirty(id);
                Ok(Value::Null)
            })(),
            (Kind::DispatcherOneToMany, "removeSource") => {
                if let Some(o) = self.objects.get_mut(id) {
                    o.props.remove(SOURCE);
                }
                self.mark_dirty(id);
                Ok(Value::Null)
            }
            _ => return None,
        };
        Some(r)
    }

    /// Per hub, how many of its ports currently receive each media type
    /// (true media, before the reported flags are masked).
    pub(crate) fn hub_inputs(&self, ids: &[String]) -> HashMap<String, [u32; 2]> {
        let mut hubs: HashMap<String, [u32; 2]> = HashMap::new();
        for id in ids {
            if let Some(e) = self.objects.get(id).and_then(|o| o.el.as_ref()) {
                if let Some(h) = &e.hub {
                    let c = hubs.entry(h.clone()).or_default();
                    for (n, on) in c.iter_mut().zip(e.flow_in) {
                        *n += u32::from(on);
                    }
                }
            }
        }
        hubs
    }

    /// Whether port `id` outputs media type `m` (index) into the pipeline.
    pub(crate) fn port_produces(
        &self,
        id: &str,
        m: usize,
        hubs: &HashMap<String, [u32; 2]>,
    ) -> bool {
        let Some(el) = self.objects.get(id).and_then(|o| o.el.as_ref()) else {
            return false;
        };
        let Some(hub) = el.hub.as_deref().and_then(|h| self.objects.get(h)) else {
            return false;
        };
        let receives = |port: &str| {
            port != id
                && self
                    .objects
                    .get(port)
                    .and_then(|o| o.el.as_ref())
                    .is_some_and(|e| e.flow_in[m])
        };
        match hub.kind {
            k if mixes(k) => {
                let c = hubs.get(&hub.id).copied().unwrap_or_default();
                if m == 1 {
                    c[m] > 0
                } else {
                    c[m] > u32::from(el.flow_in[m])
                }
            }
            Kind::Dispatcher => el.hub_source.as_deref().is_some_and(receives),
            Kind::DispatcherOneToMany => hub
                .props
                .get(SOURCE)
                .and_then(Value::as_str)
                .is_some_and(receives),
            _ => false,
        }
    }

    /// The flags KMS reports for `id` given its true ones: a mixer's port
    /// says VIDEO is not flowing in (see the module docs).
    pub(crate) fn reported_in(&self, id: &str, flow_in: [bool; 2]) -> [bool; 2] {
        let mixer_port = self
            .objects
            .get(id)
            .filter(|o| o.kind == Kind::HubPort)
            .and_then(|o| o.parent.as_deref())
            .and_then(|h| self.objects.get(h))
            .is_some_and(|h| mixes(h.kind));
        if mixer_port {
            [flow_in[0], false]
        } else {
            flow_in
        }
    }
}
