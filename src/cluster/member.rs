//! This member's session with etcd: connect, grant a lease (or keep the
//! one still alive after a short outage), register `/<name>/members/<id>`
//! under it, read the member list and watch it, renew the lease every
//! `keepalive_interval`. Any failure marks etcd down (the view stays as it
//! was: the daemon keeps what it owns) and the whole sequence is retried.

use std::collections::BTreeSet;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::{Cluster, LeaseState};
use crate::clock::now_millis;
use crate::throttle::Throttle;

/// Why a session with etcd ended.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {detail}")]
pub(super) struct EtcdError {
    /// One of `super::ETCD_OPS`.
    pub op: &'static str,
    pub detail: String,
}

fn fail(op: &'static str) -> impl Fn(etcd_client::Error) -> EtcdError {
    move |e| EtcdError {
        op,
        detail: e.to_string(),
    }
}

/// Run `f` within the request timeout.
pub(super) async fn within<T>(
    limit: Duration,
    op: &'static str,
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match timeout(limit, f).await {
        Ok(r) => r.map_err(fail(op)),
        Err(_) => Err(EtcdError {
            op,
            detail: format!("no answer within {limit:?}"),
        }),
    }
}

impl Cluster {
    fn members_prefix(&self) -> String {
        format!("/{}/members/", self.inner.cfg.name)
    }

    pub(super) fn lock_key(&self, target: &str) -> String {
        format!("/{}/locks/{target}", self.inner.cfg.name)
    }

    pub(super) fn client(&self) -> Option<Client> {
        self.inner
            .etcd
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_client(&self, c: Option<Client>) {
        *self
            .inner
            .etcd
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = c;
    }

    fn set_lease(&self, l: LeaseState) {
        *self.lease_state() = l;
    }

    fn etcd_down(&self, e: &EtcdError) {
        self.inner.counters.error(e.op);
        self.set_client(None);
        // A refused registration is not an outage.
        let down = e.op != "register";
        self.publish(|s| {
            if s.etcd_up && down {
                s.etcd_since = now_millis();
                s.etcd_up = false;
            }
            s.last_error = Some(e.to_string());
        });
    }

    /// Apply a full member list read at `revision`.
    fn list(&self, members: BTreeSet<String>, revision: i64) {
        let now = now_millis();
        self.publish(|s| {
            for gone in s.members.difference(&members) {
                s.departed.insert(gone.clone(), now);
            }
            for m in &members {
                s.departed.remove(m);
            }
            s.members = members;
            s.revision = revision;
            s.known = true;
            if !s.etcd_up {
                s.etcd_since = now;
            }
            s.etcd_up = true;
            s.last_error = None;
        });
    }

    /// One session: returns on the first failure (or when cancelled).
    async fn session(&self, cancel: &CancellationToken) -> Result<(), EtcdError> {
        let cfg = &self.inner.cfg;
        let limit = cfg.request_timeout;
        let opts = ConnectOptions::new()
            .with_connect_timeout(limit)
            .with_keep_alive(cfg.keepalive_interval, limit)
            .with_keep_alive_while_idle(true);
        let mut client = within(
            limit,
            "connect",
            Client::connect(cfg.endpoints.clone(), Some(opts)),
        )
        .await?;
        // The lease of a short outage may still be alive: keep it (and
        // with it the registration and the locks).
        let mut lease = None;
        let old = self.lease_state().id;
        if let Some(old) = old {
            let ttl = within(limit, "lease", client.lease_time_to_live(old, None)).await?;
            if ttl.ttl() > 0 {
                lease = Some(old);
            }
        }
        let lease = match lease {
            Some(l) => l,
            None => {
                let ttl = cfg.lease_ttl.as_secs() as i64;
                let g = within(limit, "lease", client.lease_grant(ttl, None)).await?;
                self.inner
                    .counters
                    .lease_grants
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(member = %self.inner.member, lease = g.id(), "cluster: lease granted");
                g.id()
            }
        };
        self.set_lease(LeaseState {
            id: Some(lease),
            renewed: Some(Instant::now()),
        });
        self.register(&mut client, lease).await?;
        self.set_client(Some(client.clone()));

        let prefix = self.members_prefix();
        let list = within(
            limit,
            "list",
            client.get(prefix.clone(), Some(GetOptions::new().with_prefix())),
        )
        .await?;
        let revision = list.header().map_or(0, |h| h.revision());
        let mut members: BTreeSet<String> = list
            .kvs()
            .iter()
            .filter_map(|kv| kv.key_str().ok())
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        self.list(members.clone(), revision);
        let mut watch = within(
            limit,
            "watch",
            client.watch(
                prefix.clone(),
                Some(
                    WatchOptions::new()
                        .with_prefix()
                        .with_start_revision(revision + 1),
                ),
            ),
        )
        .await?;
        let (mut keeper, mut acks) = within(limit, "lease", client.lease_keep_alive(lease)).await?;
        let mut tick = tokio::time::interval(cfg.keepalive_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_ack = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    // Leave at once: the others take the targets now, not after
                    // the TTL. No lock of ours is valid from here on.
                    self.set_lease(LeaseState::default());
                    let _ = within(limit, "lease", client.lease_revoke(lease)).await;
                    self.set_client(None);
                    return Ok(());
                }
                _ = tick.tick() => {
                    // The spared members age out of their grace with time.
                    self.publish(|_| {});
                    if last_ack.elapsed() > cfg.keepalive_interval + limit {
                        return Err(EtcdError { op: "lease", detail: "keep-alive not answered".into() });
                    }
                    within(limit, "lease", keeper.keep_alive()).await?;
                }
                ack = acks.message() => match ack.map_err(fail("lease"))? {
                    Some(a) if a.ttl() > 0 => {
                        last_ack = Instant::now();
                        self.set_lease(LeaseState { id: Some(lease), renewed: Some(last_ack) });
                    }
                    _ => {
                        self.set_lease(LeaseState::default());
                        return Err(EtcdError { op: "lease", detail: "the lease expired".into() });
                    }
                },
                w = watch.message() => {
                    let Some(w) = w.map_err(fail("watch"))? else {
                        return Err(EtcdError { op: "watch", detail: "the watch ended".into() });
                    };
                    if w.canceled() {
                        return Err(EtcdError { op: "watch", detail: format!("cancelled: {}", w.cancel_reason()) });
                    }
                    let revision = w.header().map_or(revision, |h| h.revision());
                    for e in w.events() {
                        let Some(m) = e.kv().and_then(|kv| kv.key_str().ok()).and_then(|k| k.strip_prefix(&prefix)) else {
                            continue;
                        };
                        match e.event_type() {
                            EventType::Put => { members.insert(m.to_string()); }
                            EventType::Delete => { members.remove(m); }
                        }
                    }
                    if !members.contains(&self.inner.member) {
                        // Our key is gone (the lease expired): register again.
                        return Err(EtcdError { op: "register", detail: "this member's key was deleted".into() });
                    }
                    self.list(members.clone(), revision);
                }
            }
        }
    }

    /// Put this member's key under `lease`, unless another process holds
    /// the id (an earlier run whose lease has not expired, or a duplicate).
    async fn register(&self, client: &mut Client, lease: i64) -> Result<(), EtcdError> {
        let limit = self.inner.cfg.request_timeout;
        let key = format!("{}{}", self.members_prefix(), self.inner.member);
        let value = serde_json::json!({ "member": self.inner.member, "lease": lease, "since_ms": now_millis() })
            .to_string();
        let put = TxnOp::put(
            key.clone(),
            value.clone(),
            Some(PutOptions::new().with_lease(lease)),
        );
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([put.clone()])
            .or_else([TxnOp::get(key.clone(), None)]);
        let r = within(limit, "register", client.txn(txn)).await?;
        if r.succeeded() {
            return Ok(());
        }
        let holder = r.op_responses().into_iter().find_map(|o| match o {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.lease()),
            _ => None,
        });
        if holder == Some(lease) {
            return Ok(());
        }
        Err(EtcdError {
            op: "register",
            detail: format!(
                "member id {:?} is registered by another process (an earlier run whose lease has not expired yet, or a duplicate id)",
                self.inner.member
            ),
        })
    }
}

/// Start this member: registers and keeps its view until `cancel`.
pub fn start(cluster: &Cluster, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    let c = cluster.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        // An outage retries every keepalive_interval: one line per 10 s.
        let noise = Throttle::default();
        loop {
            let started = Instant::now();
            match c.session(&cancel).await {
                Ok(()) => return,
                Err(e) => {
                    if let Some(count) = noise.hit() {
                        tracing::warn!(member = %c.inner.member, error = %e, count, "cluster: etcd session lost; retrying");
                    }
                    c.etcd_down(&e);
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(200);
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(c.inner.cfg.keepalive_interval);
        }
    })
}
