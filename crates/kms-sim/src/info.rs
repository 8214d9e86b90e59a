//! ServerManager facts: the `ServerInfo` value (samples/server-info.json)
//! and `getKmd` answers for the modules the simulator implements.

use serde_json::{json, Value};

use super::kinds::Kind;
use kms_proto::types::kurento_value;

const VERSION: &str = "7.3.1-dev";

fn module(name: &str, factories: &[&str]) -> Value {
    kurento_value(
        "ModuleInfo",
        json!({ "factories": factories, "generationTime": "Nov 24 2026 23:00:00",
                "name": name, "version": VERSION }),
    )
}

/// `getInfo`.
pub fn server_info() -> Value {
    kurento_value(
        "ServerInfo",
        json!({
            "capabilities": ["transactions"],
            "modules": [
                module("chroma", &["ChromaFilter"]),
                module("core", &["HubPort", "MediaPipeline", "PassThrough"]),
                module("datachannelexample", &["KmsDetectFaces", "KmsSendData", "KmsShowData", "KmsShowFaces"]),
                module("elements", &["AlphaBlending", "Composite", "Dispatcher", "DispatcherOneToMany",
                    "HttpPostEndpoint", "Mixer", "PlayerEndpoint", "RecorderEndpoint", "RtpEndpoint", "WebRtcEndpoint"]),
                module("filters", &["FaceOverlayFilter", "GStreamerFilter", "ImageOverlayFilter", "ZBarFilter"]),
            ],
            "type": "KMS",
            "version": VERSION,
        }),
    )
}

/// `getKmd(moduleName)`: a JSON text naming the module's classes, or None.
pub fn kmd(module: &str) -> Option<Value> {
    if !["core", "elements", "filters"].contains(&module) {
        return None;
    }
    let classes: Vec<Value> = Kind::CREATABLE
        .iter()
        .chain(std::iter::once(&Kind::ServerManager))
        .filter(|k| k.module() == module)
        .map(|k| json!({ "name": k.name(), "extends": k.hierarchy().first() }))
        .collect();
    let doc = json!({
        "name": module, "version": VERSION, "kurentoVersion": VERSION,
        "imports": [], "remoteClasses": classes,
    });
    Some(Value::from(doc.to_string()))
}
