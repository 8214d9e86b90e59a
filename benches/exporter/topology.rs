//! What the bench puts on the simulated server, through the real protocol
//! client, as an application would: WebRtcEndpoints ten per pipeline, each
//! negotiated with the browser offer captured from a real browser (so a
//! simulated peer sends audio and video to it), then connected as a ring or
//! as an MCU room.

use futures_util::stream::{self, StreamExt};
use kurento_exporter::kms::Client;
use serde_json::{Map, Value};

/// Endpoints per pipeline (per room).
pub const PER_PIPELINE: usize = 10;

/// How the endpoints of one pipeline are connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// Each endpoint sends to the next one of its pipeline.
    Ring,
    /// One Composite per pipeline; each endpoint has its own HubPort,
    /// `endpoint.connect(port)` and `port.connect(endpoint)`.
    Mcu,
}

impl Topology {
    pub fn title(self) -> &'static str {
        match self {
            Topology::Ring => "ring (10 WebRtcEndpoints per pipeline, each sending to the next)",
            Topology::Mcu => {
                "MCU rooms of 10 (one Composite per pipeline, a HubPort per WebRtcEndpoint)"
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Topology::Ring => "ring",
            Topology::Mcu => "mcu",
        }
    }
}

fn browser_offer() -> String {
    let offer_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kurento/samples/browser/close-browser-offer.json"
    );
    let offer: Value =
        serde_json::from_str(&std::fs::read_to_string(offer_file).expect("browser offer sample"))
            .expect("json");
    offer["sdp"].as_str().expect("sdp").to_string()
}

/// A WebRtcEndpoint in `pipeline`, negotiated with the browser `offer`.
async fn negotiated_endpoint(c: &Client, pipeline: &str, offer: &str) -> String {
    let e = c
        .create_element("WebRtcEndpoint", pipeline)
        .await
        .expect("endpoint");
    c.process_offer(&e, offer).await.expect("processOffer");
    c.gather_candidates(&e).await.expect("gatherCandidates");
    e
}

async fn ring_pipeline(c: Client, offer: String) {
    let p = c.create_pipeline().await.expect("pipeline");
    let mut eps = Vec::new();
    for _ in 0..PER_PIPELINE {
        eps.push(negotiated_endpoint(&c, &p, &offer).await);
    }
    for i in 0..eps.len() {
        let next = &eps[(i + 1) % eps.len()];
        c.connect_elements(&eps[i], next, None)
            .await
            .expect("connect");
    }
}

async fn mcu_pipeline(c: Client, offer: String) {
    let p = c.create_pipeline().await.expect("pipeline");
    let hub = c.create_element("Composite", &p).await.expect("composite");
    for _ in 0..PER_PIPELINE {
        let e = negotiated_endpoint(&c, &p, &offer).await;
        // A HubPort's constructor names its hub, not the pipeline.
        let mut ctor = Map::new();
        ctor.insert("hub".into(), Value::String(hub.clone()));
        let port = c
            .create("HubPort", ctor, Map::new())
            .await
            .expect("hub port");
        c.connect_elements(&e, &port, None)
            .await
            .expect("endpoint -> port");
        c.connect_elements(&port, &e, None)
            .await
            .expect("port -> endpoint");
    }
}

/// `n` WebRtcEndpoints (rounded up to whole pipelines) in `topology`.
pub async fn populate(client: &Client, n: usize, topology: Topology) {
    let offer = browser_offer();
    stream::iter(0..n.div_ceil(PER_PIPELINE))
        .map(|_| {
            let (c, offer) = (client.clone(), offer.clone());
            async move {
                match topology {
                    Topology::Ring => ring_pipeline(c, offer).await,
                    Topology::Mcu => mcu_pipeline(c, offer).await,
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}
