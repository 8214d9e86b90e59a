//! `invoke`: the operations of every object type (getters, setters, tags,
//! connections, negotiation, flow queries, stats, ServerManager queries),
//! with KMS's errors for unknown operations and bad parameters.

use serde_json::{json, Map, Value};

use super::engine::{marshall, Engine, RpcResult};
use super::kinds::{find_prop, prop_name, Kind};
use super::media::midx;
use kms_proto::types::{kurento_value, MediaType, UriEndpointState};
use kms_proto::wire::{code, RpcError};

fn not_found_op(op: &str, n: usize) -> RpcError {
    RpcError::kms(
        code::MALFORMED_TRANSACTION,
        "MALFORMED_TRANSACTION",
        format!("Method '{op}' with {n} parameters not found"),
    )
}

fn media_type(args: &Map<String, Value>, key: &str) -> Result<Option<MediaType>, RpcError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|()| marshall("Invalid value for 'MediaType'")),
        Some(_) => Err(marshall("Invalid value for 'MediaType'")),
    }
}

fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Result<&'a str, RpcError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| marshall(format!("'{key}' parameter should be a string")))
}

fn connection_data(src: &str, sink: &str, m: MediaType) -> Value {
    kurento_value(
        "ElementConnectionData",
        json!({ "source": src, "sink": sink, "type": m.as_str(),
                "sourceDescription": "default", "sinkDescription": "default" }),
    )
}

impl Engine {
    /// Run operation `op` on object `id` (which exists) for `session`.
    pub(crate) fn invoke(
        &mut self,
        session: &str,
        id: &str,
        op: &str,
        args: &Map<String, Value>,
    ) -> RpcResult {
        let kind = self.obj(id)?.kind;
        if let Some(v) = self.invoke_common(id, kind, op, args)? {
            return Ok(v);
        }
        if let Some(r) = self.invoke_hub(id, kind, op, args) {
            return r;
        }
        let r = match (kind, op) {
            (Kind::ServerManager, _) => self.invoke_manager(session, op, args),
            (Kind::MediaPipeline, "getLatencyStats") => Ok(self.obj(id)?.latency_stats.into()),
            (Kind::MediaPipeline, "setLatencyStats") => {
                let on = args
                    .get("latencyStats")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| marshall("'latencyStats' parameter should be a boolean"))?;
                if let Some(o) = self.objects.get_mut(id) {
                    o.latency_stats = on;
                }
                Ok(Value::Null)
            }
            (Kind::MediaPipeline, "getGstreamerDot") => Ok(self.dot(id).into()),
            (Kind::MediaPipeline, "dumpGstreamerDot") => Ok(Value::Null),
            (k, _) if k.is_element() => self.invoke_element(id, kind, op, args),
            (k, "getGstreamerDot") if k.is_a("Hub") => Ok(self.dot(id).into()),
            _ => Err(not_found_op(op, args.len())),
        };
        r
    }

    /// MediaObject operations and simple properties; `None` when not one.
    fn invoke_common(
        &mut self,
        id: &str,
        kind: Kind,
        op: &str,
        args: &Map<String, Value>,
    ) -> Result<Option<Value>, RpcError> {
        let o = self.obj(id)?;
        let v = match op {
            "getId" => id.into(),
            "getMediaPipeline" => match kind {
                Kind::ServerManager => Value::Null,
                Kind::MediaPipeline => id.into(),
                _ => self.pipeline_of(id).into(),
            },
            "getParent" => o.parent.clone().into(),
            "getChildren" => o.children.iter().cloned().collect::<Vec<_>>().into(),
            "getName" => o.name.clone().unwrap_or_else(|| id.to_owned()).into(),
            "getSendTagsInEvents" => o.send_tags.into(),
            "getCreationTime" => o.created.into(),
            "getTags" => o
                .tags
                .iter()
                .map(|(k, v)| kurento_value("Tag", json!({"key": k, "value": v})))
                .collect::<Vec<_>>()
                .into(),
            "getTag" => {
                let key = str_arg(args, "key")?;
                match o.tags.iter().find(|(k, _)| k == key) {
                    Some((_, v)) => v.clone().into(),
                    None => {
                        return Err(RpcError::kms(
                            40110,
                            "MEDIA_OBJECT_TAG_KEY_NOT_FOUND",
                            format!("Tag key not found: {key}"),
                        ))
                    }
                }
            }
            "setName" => {
                let name = str_arg(args, "name")?.to_owned();
                self.obj_mut(id)?.name = Some(name);
                Value::Null
            }
            "setSendTagsInEvents" => {
                let on = args
                    .get("sendTagsInEvents")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| marshall("'sendTagsInEvents' parameter should be a boolean"))?;
                self.obj_mut(id)?.send_tags = on;
                Value::Null
            }
            "addTag" => {
                let key = str_arg(args, "key")?.to_owned();
                let value = str_arg(args, "value")?.to_owned();
                let o = self.obj_mut(id)?;
                o.tags.retain(|(k, _)| *k != key);
                o.tags.push((key, value));
                Value::Null
            }
            "removeTag" => {
                let key = str_arg(args, "key")?.to_owned();
                self.obj_mut(id)?.tags.retain(|(k, _)| *k != key);
                Value::Null
            }
            _ => return self.simple_prop(id, kind, op, args),
        };
        Ok(Some(v))
    }

    fn obj_mut(&mut self, id: &str) -> Result<&mut super::engine::Obj, RpcError> {
        self.objects
            .get_mut(id)
            .ok_or_else(|| RpcError::not_found(id))
    }

    fn simple_prop(
        &mut self,
        id: &str,
        kind: Kind,
        op: &str,
        args: &Map<String, Value>,
    ) -> Result<Option<Value>, RpcError> {
        let (get, rest) = if let Some(r) = op.strip_prefix("get") {
            (true, r)
        } else if let Some(r) = op.strip_prefix("set") {
            (false, r)
        } else {
            return Ok(None);
        };
        let name = prop_name(rest);
        let Some((default, writable)) = find_prop(kind, &name) else {
            return Ok(None);
        };
        if get {
            let o = self.obj(id)?;
            return Ok(Some(
                o.props
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| default.value()),
            ));
        }
        if !writable {
            return Ok(None);
        }
        let v = args
            .get(&name)
            .cloned()
            .ok_or_else(|| marshall(format!("'{name}' parameter is required")))?;
        self.obj_mut(id)?.props.insert(name, v);
        Ok(Some(Value::Null))
    }

    fn invoke_manager(&mut self, _session: &str, op: &str, args: &Map<String, Value>) -> RpcResult {
        Ok(match op {
            "getInfo" => super::info::server_info(),
            "getPipelines" => self.pipelines.iter().cloned().collect::<Vec<_>>().into(),
            "getSessions" => self.session_list().into(),
            "getCpuCount" => 2.into(),
            "getUsedCpu" => 0.into(),
            "getUsedMemory" => (57_076 + self.objects.len() as u64 * 40).into(),
            "getKmd" => {
                let module = str_arg(args, "moduleName")?;
                super::info::kmd(module).ok_or_else(|| {
                    RpcError::kms(
                        code::UNDEFINED,
                        "UNDEFINED",
                        "Requested kmd module doesn't exist",
                    )
                })?
            }
            _ => return Err(not_found_op(op, args.len())),
        })
    }

    fn invoke_element(
        &mut self,
        id: &str,
        kind: Kind,
        op: &str,
        args: &Map<String, Value>,
    ) -> RpcResult {
        let el = self.obj(id)?.el.as_ref();
        let flow = |flags: Option<[bool; 2]>, m: Option<MediaType>| -> RpcResult {
            let m = m.ok_or_else(|| marshall("'mediaType' parameter should be a MediaType"))?;
            Ok(midx(m).is_some_and(|i| flags.is_some_and(|f| f[i])).into())
        };
        match op {
            "getSourceConnections" | "getSinkConnections" => {
                let filter = media_type(args, "mediaType")?;
                let sinks = op == "getSinkConnections";
                let links = el
                    .map(|e| {
                        if sinks {
                            e.sinks.clone()
                        } else {
                            e.sources.clone()
                        }
                    })
                    .unwrap_or_default();
                let mut v: Vec<Value> = links
                    .iter()
                    .filter(|l| filter.is_none_or(|f| f == l.media))
                    .map(|l| {
                        if sinks {
                            connection_data(id, &l.peer, l.media)
                        } else {
                            connection_data(&l.peer, id, l.media)
                        }
                    })
                    .collect();
                v.sort_by_key(|a| a.to_string());
                Ok(v.into())
            }
            "connect" | "disconnect" => {
                let sink = str_arg(args, "sink")?.to_owned();
                let sink_kind = self.obj(&sink)?.kind;
                if !sink_kind.is_element() {
                    return Err(marshall("'sink' parameter should be a MediaElement"));
                }
                let types = match media_type(args, "mediaType")? {
                    Some(m) => vec![m],
                    None => MediaType::ALL.to_vec(),
                };
                for m in types {
                    if op == "connect" {
                        self.link(id, &sink, m);
                    } else {
                        self.unlink(id, &sink, m);
                    }
                }
                Ok(Value::Null)
            }
            "isMediaFlowingIn" => flow(el.map(|e| e.flow_in), media_type(args, "mediaType")?),
            "isMediaFlowingOut" => flow(el.map(|e| e.flow_out), media_type(args, "mediaType")?),
            "isMediaTranscoding" => {
                media_type(args, "mediaType")?;
                Ok(false.into())
            }
            "getStats" => {
                let m = media_type(args, "mediaType")?;
                Ok(self.stats(id, m))
            }
            "getGstreamerDot" => Ok(self.dot(id).into()),
            "dumpGstreamerDot" | "setAudioFormat" | "setVideoFormat" => Ok(Value::Null),
            _ => self.invoke_endpoint(id, kind, op, args),
        }
    }

    fn invoke_endpoint(
        &mut self,
        id: &str,
        kind: Kind,
        op: &str,
        args: &Map<String, Value>,
    ) -> RpcResult {
        let is_uri = kind.is_a("UriEndpoint");
        let is_sdp = kind.is_a("SdpEndpoint");
        let is_rtp = kind.is_rtp();
        let is_webrtc = kind == Kind::WebRtcEndpoint;
        match op {
            "play" if kind == Kind::PlayerEndpoint => {
                self.play(id);
                Ok(Value::Null)
            }
            "pause" | "stop" if is_uri => {
                self.set_playing(id, false);
                let state = if op == "pause" {
                    UriEndpointState::PAUSE
                } else {
                    UriEndpointState::STOP
                };
                self.obj_mut(id)?
                    .props
                    .insert("state".into(), state.as_str().into());
                self.raise(
                    id,
                    "UriEndpointStateChanged",
                    json!({ "state": state.as_str() }),
                );
                Ok(Value::Null)
            }
            "record" if kind == Kind::RecorderEndpoint => {
                self.obj_mut(id)?
                    .props
                    .insert("state".into(), "START".into());
                self.raise(id, "UriEndpointStateChanged", json!({ "state": "START" }));
                self.raise(id, "Recording", json!({}));
                Ok(Value::Null)
            }
            "stopAndWait" if kind == Kind::RecorderEndpoint => {
                self.obj_mut(id)?
                    .props
                    .insert("state".into(), "STOP".into());
                self.raise(id, "Stopped", json!({}));
                Ok(Value::Null)
            }
            "getState" if is_uri => Ok(self
                .obj(id)?
                .props
                .get("state")
                .cloned()
                .unwrap_or_else(|| "STOP".into())),
            "getElementGstreamerDot" if kind == Kind::PlayerEndpoint => Ok(self.dot(id).into()),
            "generateOffer" if is_sdp && is_rtp => self.generate_offer(id),
            "processOffer" if is_sdp && is_rtp => {
                let offer = str_arg(args, "offer")?.to_owned();
                self.process_offer(id, &offer)
            }
            "processAnswer" if is_sdp && is_rtp => {
                let answer = str_arg(args, "answer")?.to_owned();
                self.process_answer(id, &answer)
            }
            // Before negotiation KMS answers an error, not an empty string
            // (PROTOCOL.md "Errors", seen 2026-12 on KMS 7.3.1).
            "getLocalSessionDescriptor" if is_sdp => {
                self.local_descriptor(id).map(Value::from).ok_or_else(|| {
                    RpcError::kms(
                        code::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
                        "SDP_END_POINT_NO_LOCAL_SDP_ERROR",
                        "No local SDP",
                    )
                })
            }
            "getRemoteSessionDescriptor" if is_sdp => {
                self.remote_descriptor(id).map(Value::from).ok_or_else(|| {
                    RpcError::kms(
                        code::SDP_END_POINT_NO_REMOTE_SDP_ERROR,
                        "SDP_END_POINT_NO_REMOTE_SDP_ERROR",
                        "No remote SDP",
                    )
                })
            }
            "getMediaState" if is_rtp => Ok(self
                .rtc(id)
                .map(|r| r.media_state.as_str())
                .unwrap_or("DISCONNECTED")
                .into()),
            "getConnectionState" if is_rtp => Ok(self
                .rtc(id)
                .map(|r| r.conn_state.as_str())
                .unwrap_or("DISCONNECTED")
                .into()),
            "requestKeyframe" if is_rtp => Ok(Value::Null),
            "gatherCandidates" if is_webrtc => self.gather_candidates(id),
            "addIceCandidate" if is_webrtc => {
                let c = args.get("candidate").cloned();
                self.add_ice_candidate(id, c.as_ref())
            }
            "getIceConnectionState" if is_webrtc => {
                let ice = self.rtc(id).map(|r| r.ice.clone()).unwrap_or_default();
                Ok(ice
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        kurento_value(
                            "IceConnection",
                            json!({"streamId": "1", "componentId": i + 1, "state": s.as_str()}),
                        )
                    })
                    .collect::<Vec<_>>()
                    .into())
            }
            "getICECandidatePairs" if is_webrtc => {
                let pairs = self.rtc(id).map(|r| r.pairs.clone()).unwrap_or_default();
                Ok(pairs
                    .into_iter()
                    .map(|(c, local, remote)| {
                        kurento_value(
                            "IceCandidatePair",
                            json!({"streamId": "1", "componentId": c,
                                   "localCandidate": local, "remoteCandidate": remote}),
                        )
                    })
                    .collect::<Vec<_>>()
                    .into())
            }
            "getDtlsConnectionState" if is_webrtc => {
                let dtls = self.rtc(id).and_then(|r| r.dtls);
                let list: Vec<Value> = dtls
                    .map(|d| {
                        ["[bundle/dtlssrtpdec]", "[bundle/dtlssrtpenc]"]
                            .iter()
                            .map(|c| {
                                kurento_value(
                                    "DtlsConnection",
                                    json!({"streamId": "1", "componentId": c,
                                           "connectionId": "dtlssrtpenc1-dtlssrtpdec1-1-1", "state": d.as_str()}),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(list.into())
            }
            "createDataChannel" | "closeDataChannel" if is_webrtc => Ok(Value::Null),
            "getUrl" if kind == Kind::HttpPostEndpoint => {
                Ok(format!("http://127.0.0.1:8888/{id}").into())
            }
            _ => Err(not_found_op(op, args.len())),
        }
    }

    /// A GStreamer DOT description of an element or pipeline.
    pub(crate) fn dot(&self, id: &str) -> String {
        let mut s = format!("digraph pipeline {{\n  label=\"{id}\";\n");
        let ids: Vec<String> = match self.objects.get(id) {
            Some(o) if o.kind == Kind::MediaPipeline => self.elements_of(id),
            Some(o) => vec![o.id.clone()],
            None => Vec::new(),
        };
        let ids: Vec<&String> = ids.iter().collect();
        for (i, c) in ids.iter().enumerate() {
            s.push_str(&format!("  node{i} [label=\"{c}\"];\n"));
        }
        for (i, c) in ids.iter().enumerate() {
            if let Some(e) = self.objects.get(c.as_str()).and_then(|o| o.el.as_ref()) {
                for l in &e.sinks {
                    if let Some(j) = ids.iter().position(|x| **x == l.peer) {
                        s.push_str(&format!("  node{i} -> node{j} [label=\"{}\"];\n", l.media));
                    }
                }
            }
        }
        s.push_str("}\n");
        s
    }
}
