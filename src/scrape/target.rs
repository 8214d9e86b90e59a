//! The task that watches one KMS target: connection, ServerManager events,
//! walks and timed cycles, applying everything to the target's model.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::kms::events::{EventKind, EventType};
use crate::kms::wire::SERVER_MANAGER;
use crate::kms::{Client, ClientError, ConnState, Event, Notice};
use crate::metrics::{ErrorKind, ExporterMetrics};
use crate::model::{Millis, ObjectId, Pipeline, ServerSummary, SharedTarget, Update};

use super::apply::{apply_result, stub};
use super::health;
use super::plan::{plan, touched_pipelines, Book, Periods, Read};
use super::reads::{execute, Rpc};
use super::spec::TargetSpec;
use crate::clock::now_millis;
use kms_proto::ids::{is_hub, pipeline_of, type_of};

/// `getUsedCpu` measures over this window (KMS blocks one worker that long).
const CPU_WINDOW_MS: u32 = 200;

/// Watch one target until `cancel` fires; `cycles` counts finished sync
/// cycles (the reaper judges after each). Shuts `client` down at the end.
pub async fn run_target(
    spec: TargetSpec,
    client: Client,
    model: SharedTarget,
    metrics: ExporterMetrics,
    cycles: watch::Sender<u64>,
    cancel: CancellationToken,
) {
    let mut task = Task {
        rpc: Rpc::new(client.clone(), spec.name.clone(), metrics),
        spec,
        model,
        book: Book::new(),
        version: None,
        cycles,
        connect_failures: 0,
    };
    task.run(&client, cancel).await;
    client.shutdown();
    task.model.write().apply(Update::Connected(false));
}

struct Task {
    rpc: Rpc,
    spec: TargetSpec,
    model: SharedTarget,
    book: Book,
    /// KMS version, read once per connection.
    version: Option<String>,
    cycles: watch::Sender<u64>,
    /// `connect_failures` of the client already counted.
    connect_failures: u64,
}

impl Task {
    async fn run(&mut self, client: &Client, cancel: CancellationToken) {
        let mut state = client.state();
        let mut notices = client.notices();
        let mut subscribed = false;
        'connection: loop {
            loop {
                self.count_connect_failures(client);
                if matches!(*state.borrow_and_update(), ConnState::Connected { .. }) {
                    break;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = state.changed() => if r.is_err() { return },
                    // Failed dials do not change the state: count them meanwhile.
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
            self.model.write().apply(Update::Connected(true));
            self.version = None;
            if !subscribed {
                // The client renews these on a new session by itself.
                subscribed = self.subscribe(client).await;
                if !subscribed {
                    // Retry after a pause, not in a tight loop.
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(self.spec.scrape.interval) => {}
                    }
                    continue 'connection;
                }
            }
            let mut need_walk = true;
            let mut ticker = tokio::time::interval(self.spec.scrape.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    r = state.changed() => {
                        if r.is_err() {
                            return;
                        }
                        if matches!(*state.borrow_and_update(), ConnState::Disconnected) {
                            self.rpc.metrics.error(&self.rpc.kms, ErrorKind::disconnected);
                            self.model.write().apply(Update::Connected(false));
                            continue 'connection;
                        }
                    }
                    n = notices.recv() => match n {
                        Ok(Notice::Event(ev)) => self.on_event(ev),
                        Ok(Notice::Reconnected(_)) => need_walk = true,
                        Err(RecvError::Lagged(_)) => {
                            self.rpc.metrics.error(&self.rpc.kms, ErrorKind::event_lagged);
                            need_walk = true;
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = ticker.tick() => {
                        let walked = self.cycle(need_walk).await;
                        need_walk &= !walked;
                    }
                }
            }
        }
    }

    /// Count the client's failed dials and handshakes since the last look as
    /// `kurento_exporter_errors_total{kind="connect"}`.
    fn count_connect_failures(&mut self, client: &Client) {
        let now = client.counters().connect_failures;
        for _ in self.connect_failures..now {
            self.rpc.metrics.error(&self.rpc.kms, ErrorKind::connect);
        }
        self.connect_failures = self.connect_failures.max(now);
    }

    async fn subscribe(&self, client: &Client) -> bool {
        for ev in [EventType::ObjectCreated, EventType::ObjectDestroyed] {
            let r = self
                .rpc
                .call("subscribe", client.subscribe(SERVER_MANAGER, ev))
                .await;
            if let Err(e) = r {
                tracing::warn!(kms = %self.rpc.kms, error = %e, "subscribing to {} failed", ev.as_str());
                return false;
            }
        }
        true
    }

    /// An event from the ServerManager subscription.
    fn on_event(&mut self, ev: Event) {
        let now = now_millis();
        let mut m = self.model.write();
        let changed = match ev.kind {
            EventKind::ObjectCreated { object } => {
                if type_of(&object) == "MediaPipeline" {
                    if !m.pipelines.contains_key(&object) {
                        m.apply(Update::Pipeline(Pipeline {
                            id: object.clone(),
                            name: object,
                            first_seen: now,
                            ..Default::default()
                        }));
                    }
                    None
                } else if object.contains('/') {
                    if !m.elements.contains_key(&object) {
                        m.apply(Update::Element(Box::new(stub(&object, now))));
                    }
                    Some(object)
                } else {
                    None
                }
            }
            EventKind::ObjectDestroyed { object_id } => {
                m.remove(&object_id);
                self.book.remove(&object_id);
                Some(object_id)
            }
            _ => None,
        };
        drop(m);
        // An object joined or left a pipeline: connections follow; its
        // elements are not settled for a while (`plan`).
        if let Some(object) = changed.filter(|o| o.contains('/')) {
            let pipeline = pipeline_of(&object).to_string();
            self.book.entry(pipeline).or_default().changed_at = Some(now);
        }
    }

    /// One sync cycle; returns whether a requested walk succeeded.
    async fn cycle(&mut self, walk: bool) -> bool {
        let started = Instant::now();
        let now = now_millis();
        let timeouts_before = health::timeouts(&self.rpc);
        let mut ok = true;
        let mut touched = BTreeSet::new();
        let mut walked = false;
        if walk {
            match self.walk(now).await {
                Ok(pipelines) => {
                    touched.extend(pipelines);
                    walked = true;
                }
                Err(e) => {
                    tracing::warn!(kms = %self.rpc.kms, error = %e, "walk failed");
                    ok = false;
                }
            }
        }
        ok &= self.server().await;
        let reads = {
            let m = self.model.read();
            let periods = Periods {
                state: self.spec.scrape.state_interval,
                settled: self.spec.scrape.settled_state_interval,
            };
            plan(&m, &self.book, now, periods)
        };
        touched.extend(touched_pipelines(&reads));
        ok &= self.run_reads(reads, now).await;
        // Endpoints whose counters stopped: states at once.
        let recheck: Vec<Read> = {
            let m = self.model.read();
            self.book
                .iter()
                .filter(|(_, meta)| meta.recheck)
                .filter_map(|(id, _)| m.elements.get(id))
                .map(|e| Read::States {
                    id: e.id.clone(),
                    endpoint: e.is_rtp_endpoint(),
                    webrtc: e.element_type == "WebRtcEndpoint",
                    sdp: false,
                    full: true,
                })
                .collect()
        };
        ok &= self.run_reads(recheck, now).await;
        let timed_out = health::timeouts(&self.rpc).saturating_sub(timeouts_before);
        self.unref(touched).await;
        let sent = self.rpc.take_sent();
        ok &= health::answered(&self.rpc, timed_out, sent, &self.spec.scrape);
        // Per RTP endpoint: what every other element costs is counted in.
        let endpoints = self
            .model
            .read()
            .elements
            .values()
            .filter(|e| e.is_rtp_endpoint())
            .count();
        if endpoints > 0 {
            self.rpc
                .metrics
                .requests_per_endpoint(&self.rpc.kms, sent as f64 / endpoints as f64);
        }
        if !ok {
            self.rpc
                .metrics
                .error(&self.rpc.kms, ErrorKind::sync_failed);
        }
        self.model.write().apply(Update::Synced {
            ok,
            at: now_millis(),
        });
        {
            let m = self.model.read();
            if ok {
                let q = crate::metrics::quality(&m);
                self.rpc.metrics.fleet.observe(&self.rpc.kms, &q);
            }
            // The target's part of /metrics, rendered once for every scrape.
            self.rpc.metrics.pages.publish(&m);
        }
        self.rpc
            .metrics
            .sync(&self.rpc.kms, started.elapsed().as_secs_f64());
        self.cycles.send_modify(|n| *n += 1);
        walked
    }

    /// Inventory: every pipeline and its children. Returns the pipelines touched.
    async fn walk(&mut self, now: Millis) -> Result<BTreeSet<ObjectId>, ClientError> {
        let c = &self.rpc.client;
        let pipelines = self.rpc.call("getPipelines", c.get_pipelines()).await?;
        let rpc = &self.rpc;
        let children: Vec<(String, Result<Vec<String>, ClientError>)> = stream::iter(pipelines)
            .map(|p| async move {
                let r = rpc.call("getChildren", rpc.client.get_children(&p)).await;
                (p, r)
            })
            .buffer_unordered(self.spec.scrape.concurrency)
            .collect()
            .await;
        let mut seen = BTreeSet::new();
        let mut found: Vec<(String, Vec<String>)> = Vec::new();
        for (p, r) in children {
            match r {
                Ok(kids) => found.push((p, kids)),
                // Released while walking: simply gone.
                Err(ClientError::ObjectNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // A pipeline does not list hub ports: they are its hubs' children.
        let hubs: Vec<String> = found
            .iter()
            .flat_map(|(_, kids)| kids.iter().filter(|k| is_hub(type_of(k))).cloned())
            .collect();
        let ports: Vec<(String, Result<Vec<String>, ClientError>)> = stream::iter(hubs)
            .map(|h| async move {
                let r = rpc.call("getChildren", rpc.client.get_children(&h)).await;
                (h, r)
            })
            .buffer_unordered(self.spec.scrape.concurrency)
            .collect()
            .await;
        let mut hub_of: Vec<(String, String)> = Vec::new();
        for (h, r) in ports {
            match r {
                Ok(kids) => hub_of.extend(kids.into_iter().map(|k| (k, h.clone()))),
                Err(ClientError::ObjectNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut m = self.model.write();
        for (p, kids) in &found {
            seen.insert(p.clone());
            if !m.pipelines.contains_key(p) {
                m.apply(Update::Pipeline(Pipeline {
                    id: p.clone(),
                    name: p.clone(),
                    first_seen: now,
                    ..Default::default()
                }));
            }
            for k in kids {
                seen.insert(k.clone());
                if !m.elements.contains_key(k) {
                    m.apply(Update::Element(Box::new(stub(k, now))));
                }
            }
        }
        for (port, hub) in hub_of {
            seen.insert(port.clone());
            if !m.elements.contains_key(&port) {
                let mut e = stub(&port, now);
                e.hub = Some(hub);
                m.apply(Update::Element(Box::new(e)));
            }
        }
        m.retain_only(&seen);
        self.book.retain(|id, _| seen.contains(id));
        Ok(found.into_iter().map(|(p, _)| p).collect())
    }

    /// ServerManager reads; false when the connection failed.
    async fn server(&mut self) -> bool {
        let c = &self.rpc.client;
        let rpc = &self.rpc;
        let info = async {
            match &self.version {
                Some(v) => Ok(v.clone()),
                None => rpc.call("getInfo", c.get_info()).await.map(|i| i.version),
            }
        };
        let (info, sessions, memory, cpu) = tokio::join!(
            info,
            rpc.call("getSessions", c.get_sessions()),
            rpc.call("getUsedMemory", c.get_used_memory()),
            rpc.call("getUsedCpu", c.get_used_cpu(CPU_WINDOW_MS)),
        );
        match (info, sessions, memory, cpu) {
            (Ok(version), Ok(sessions), Ok(memory_kib), Ok(cpu_percent)) => {
                self.version = Some(version.clone());
                self.model.write().apply(Update::Server(ServerSummary {
                    version,
                    sessions: sessions.len(),
                    cpu_ratio: (cpu_percent / 100.0).clamp(0.0, 1.0),
                    memory_bytes: memory_kib.saturating_mul(1024),
                }));
                true
            }
            _ => false,
        }
    }

    /// Run reads with bounded concurrency and apply their results.
    async fn run_reads(&mut self, reads: Vec<Read>, now: Millis) -> bool {
        let jobs: Vec<(Read, HashMap<_, _>)> = reads
            .into_iter()
            .map(|r| {
                let media = self
                    .book
                    .get(r.object())
                    .map(|m| m.ssrc_media.clone())
                    .unwrap_or_default();
                (r, media)
            })
            .collect();
        let rpc = &self.rpc;
        let mut results = stream::iter(jobs)
            .map(|(read, media)| async move {
                let res = execute(rpc, &read, &media, now).await;
                (read, res)
            })
            .buffer_unordered(self.spec.scrape.concurrency);
        let mut ok = true;
        while let Some((read, res)) = results.next().await {
            ok &= !res.transport_error;
            apply_result(&self.model, &mut self.book, &read, res, now);
        }
        ok
    }

    /// Drop the session's references to every pipeline read this cycle.
    async fn unref(&self, pipelines: BTreeSet<ObjectId>) {
        let rpc = &self.rpc;
        stream::iter(pipelines)
            .map(|p| async move {
                // 40101: released meanwhile; nothing held.
                let _ = rpc.call("unref", rpc.client.unref(&p)).await;
            })
            .buffer_unordered(self.spec.scrape.concurrency)
            .collect::<Vec<()>>()
            .await;
    }
}
