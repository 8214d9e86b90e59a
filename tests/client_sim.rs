//! The KMS client against the simulator over real TCP/WebSocket: typed
//! getters, out-of-order responses, timeouts, dropped sockets, a KMS restart
//! (new session, subscriptions made again), malformed frames and 40101.
//! No fixed sleeps: every wait is a condition with a deadline.

use std::future::Future;
use std::time::Duration;

use kurento_exporter::kms::types::{ConnectionState, MediaState, MediaType};
use kurento_exporter::kms::{
    Client, ClientError, ConnState, ConnectionConfig, EventKind, EventType, Notice,
};
use kurento_exporter::sim::{self, Fault, SimConfig, SimHandle};
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn start_sim() -> SimHandle {
    let cfg = SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    sim::start(cfg).await.expect("simulator starts")
}

fn config(sim: &SimHandle) -> ConnectionConfig {
    let mut cfg = ConnectionConfig::new(sim.ws_url());
    cfg.request_timeout = Duration::from_secs(3);
    cfg.connect_timeout = Duration::from_secs(3);
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(300);
    cfg
}

async fn connect(cfg: ConnectionConfig) -> Client {
    Client::connect(cfg).await.expect("client connects")
}

/// Await `fut`, failing the test after `WAIT`.
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Wait for a connected state of at least `generation`.
async fn connected_gen(client: &Client, generation: u64) -> (String, u64) {
    let mut rx = client.state();
    let s = within("reconnection", async {
        rx.wait_for(|s| matches!(s, ConnState::Connected { generation: g, .. } if *g >= generation))
            .await
            .expect("state watch open")
            .clone()
    })
    .await;
    match s {
        ConnState::Connected {
            session,
            generation,
        } => (session, generation),
        ConnState::Disconnected => unreachable!(),
    }
}

/// The next notice matching `pred`, skipping others.
async fn next_notice(
    rx: &mut broadcast::Receiver<Notice>,
    what: &str,
    pred: impl Fn(&Notice) -> bool,
) -> Notice {
    within(what, async {
        loop {
            match rx.recv().await {
                Ok(n) if pred(&n) => return n,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("notices closed"),
            }
        }
    })
    .await
}

#[tokio::test]
async fn typed_getters_match_the_simulator() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;

    let info = c.get_info().await.unwrap();
    assert!(!info.version.is_empty());
    assert!(info.modules.iter().any(|m| m.name == "core"));
    let (session, _) = c.wait_connected(WAIT).await.unwrap();
    let sessions = c.get_sessions().await.unwrap();
    assert!(sessions.contains(&session), "{sessions:?}");
    assert!(sessions.iter().all(|s| !s.is_empty()));
    assert!(c.get_cpu_count().await.unwrap() >= 1);
    c.get_used_memory().await.unwrap();
    let cpu = c.get_used_cpu(100).await.unwrap();
    assert!((0.0..=100.0 * 1024.0).contains(&cpu), "{cpu}");

    let pipeline = c.create_pipeline().await.unwrap();
    assert!(pipeline.ends_with("_kurento.MediaPipeline"), "{pipeline}");
    let ep = c.create_element("WebRtcEndpoint", &pipeline).await.unwrap();
    assert!(ep.starts_with(&format!("{pipeline}/")), "{ep}");
    assert!(sim.truth().contains(&ep));

    assert!(c.get_pipelines().await.unwrap().contains(&pipeline));
    assert_eq!(c.get_children(&pipeline).await.unwrap(), vec![ep.clone()]);
    assert_eq!(c.get_name(&ep).await.unwrap(), ep);
    assert_eq!(c.get_tags(&ep).await.unwrap(), vec![]);
    c.add_tag(&ep, "room", "r1").await.unwrap();
    let tags = c.get_tags(&ep).await.unwrap();
    assert_eq!(
        (tags[0].key.as_str(), tags[0].value.as_str()),
        ("room", "r1")
    );
    assert!(c.get_creation_time(&ep).await.unwrap() > 1_600_000_000);
    assert_eq!(c.get_parent(&pipeline).await.unwrap(), None);
    assert_eq!(c.get_parent(&ep).await.unwrap(), Some(pipeline.clone()));
    assert_eq!(c.get_media_pipeline(&pipeline).await.unwrap(), pipeline);
    assert_eq!(c.get_media_pipeline(&ep).await.unwrap(), pipeline);
    let d = c.describe(&ep).await.unwrap();
    assert_eq!(d.object_type, "WebRtcEndpoint");
    assert!(d.is_a("BaseRtpEndpoint") && d.is_a("MediaElement"));

    // Never negotiated: the quirks of a fresh WebRtcEndpoint.
    assert_eq!(c.get_stats(&ep, None).await.unwrap(), None);
    assert_eq!(
        c.get_stats(&ep, Some(MediaType::VIDEO)).await.unwrap(),
        None
    );
    assert_eq!(c.get_ice_connection_state(&ep).await.unwrap(), vec![]);
    assert_eq!(
        c.get_connection_state(&ep).await.unwrap(),
        ConnectionState::DISCONNECTED
    );
    assert_eq!(
        c.get_media_state(&ep).await.unwrap(),
        MediaState::DISCONNECTED
    );
    assert!(!c.is_media_flowing_in(&ep, MediaType::VIDEO).await.unwrap());
    assert!(!c.is_media_flowing_out(&ep, MediaType::AUDIO).await.unwrap());
    assert_eq!(c.get_source_connections(&ep, None).await.unwrap(), vec![]);
    assert_eq!(
        c.get_sink_connections(&ep, Some(MediaType::VIDEO))
            .await
            .unwrap(),
        vec![]
    );
    assert!(!c.get_gstreamer_dot(&pipeline).await.unwrap().is_empty());

    // A second endpoint connected to the first: connections per media type.
    let ep2 = c.create_element("WebRtcEndpoint", &pipeline).await.unwrap();
    c.connect_elements(&ep, &ep2, None).await.unwrap();
    let sinks = c.get_sink_connections(&ep, None).await.unwrap();
    assert_eq!(sinks.len(), 3, "{sinks:?}");
    assert!(sinks.iter().all(|s| s.source == ep && s.sink == ep2));
    let video = c
        .get_source_connections(&ep2, Some(MediaType::VIDEO))
        .await
        .unwrap();
    assert_eq!(video.len(), 1);
    assert_eq!(video[0].media_type, MediaType::VIDEO);

    c.release(&pipeline).await.unwrap();
    assert_eq!(
        c.get_name(&ep).await,
        Err(ClientError::ObjectNotFound { id: ep.clone() })
    );
    // Releasing an unknown id succeeds, as in KMS.
    c.release(&pipeline).await.unwrap();
    assert!(!sim.truth().contains(&pipeline));
}

#[tokio::test]
async fn unknown_objects_give_object_not_found() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let bogus = "00000000-0000-0000-0000-000000000000_kurento.MediaPipeline";
    assert_eq!(
        c.get_children(bogus).await,
        Err(ClientError::ObjectNotFound { id: bogus.into() })
    );
    assert_eq!(
        c.subscribe("bogus-object-id", EventType::MediaFlowInStateChanged)
            .await,
        Err(ClientError::ObjectNotFound {
            id: "bogus-object-id".into()
        })
    );
    assert!(c.subscriptions().is_empty());
    // Other KMS errors keep their code.
    let err = c
        .create("NoSuchType", Default::default(), Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.kms_code(), Some(40108), "{err:?}");
}

#[tokio::test]
async fn responses_are_matched_out_of_order() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let pipeline = c.create_pipeline().await.unwrap();
    let ep = c.create_element("WebRtcEndpoint", &pipeline).await.unwrap();
    sim.inject(Fault::Delay {
        method: "getStats".into(),
        delay: Duration::from_millis(600),
    });
    let slow = tokio::spawn({
        let (c, ep) = (c.clone(), ep.clone());
        async move { c.get_stats(&ep, None).await }
    });
    // Fast requests sent after the slow one overtake it on the same socket.
    within("a fast ping", c.ping()).await.unwrap();
    assert_eq!(within("getName", c.get_name(&ep)).await.unwrap(), ep);
    assert!(!slow.is_finished());
    assert_eq!(within("getStats", slow).await.unwrap(), Ok(None));
}

#[tokio::test]
async fn many_requests_in_flight_all_resolve() {
    let sim = start_sim().await;
    let mut cfg = config(&sim);
    cfg.max_in_flight = 3;
    let c = connect(cfg).await;
    let pipeline = c.create_pipeline().await.unwrap();
    sim.inject(Fault::Delay {
        method: "getName".into(),
        delay: Duration::from_millis(50),
    });
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (c, p) = (c.clone(), pipeline.clone());
            tokio::spawn(async move { c.get_name(&p).await })
        })
        .collect();
    for call in calls {
        assert_eq!(within("getName", call).await.unwrap().unwrap(), pipeline);
    }
}

#[tokio::test]
async fn silent_server_times_out_and_connection_stays_usable() {
    let sim = start_sim().await;
    let mut cfg = config(&sim);
    cfg.request_timeout = Duration::from_millis(300);
    let c = connect(cfg).await;
    let (_, generation) = c.wait_connected(WAIT).await.unwrap();
    let pipeline = c.create_pipeline().await.unwrap();
    sim.inject(Fault::Silent {
        method: "getName".into(),
    });
    match c.get_name(&pipeline).await {
        Err(ClientError::Timeout { method, .. }) => assert_eq!(method, "invoke getName"),
        other => panic!("{other:?}"),
    }
    // Other requests still work on the same socket.
    assert_eq!(
        c.get_children(&pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    sim.clear_faults();
    assert_eq!(c.get_name(&pipeline).await.unwrap(), pipeline);
    assert_eq!(c.wait_connected(WAIT).await.unwrap().1, generation);
    assert!(c.counters().timeouts >= 1);
}

#[tokio::test]
async fn dropped_socket_fails_in_flight_then_reconnects() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let (session, generation) = c.wait_connected(WAIT).await.unwrap();
    let pipeline = c.create_pipeline().await.unwrap();
    let mut notices = c.notices();
    let sm = kurento_exporter::kms::wire::SERVER_MANAGER;
    c.subscribe(sm, EventType::ObjectCreated).await.unwrap();
    sim.inject(Fault::CloseOnRequest {
        method: "getChildren".into(),
    });
    // Fails with Disconnected, well before the request timeout.
    let r = timeout(Duration::from_secs(2), c.get_children(&pipeline)).await;
    assert_eq!(r.expect("does not hang"), Err(ClientError::Disconnected));
    let (session2, generation2) = connected_gen(&c, generation + 1).await;
    let n = next_notice(&mut notices, "reconnected", |n| {
        matches!(n, Notice::Reconnected(_))
    })
    .await;
    let Notice::Reconnected(r) = n else {
        unreachable!()
    };
    assert_eq!(r.generation, generation2);
    // KMS keeps the session of a dropped socket: `connect` resumes it.
    assert!(r.same_session, "{r:?}");
    assert_eq!(session2, session);
    assert_eq!(
        c.get_children(&pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(c.counters().reconnects, 1);
    // The subscription lived on with the session: events reach the new socket.
    let second = c.create_pipeline().await.unwrap();
    next_notice(&mut notices, "ObjectCreated after the drop", |n| {
        matches!(n, Notice::Event(e) if e.kind == EventKind::ObjectCreated { object: second.clone() })
    })
    .await;
}

#[tokio::test]
async fn kms_restart_gives_a_new_session_and_subscriptions_come_back() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let (old_session, generation) = c.wait_connected(WAIT).await.unwrap();
    let mut notices = c.notices();
    c.subscribe(
        kurento_exporter::kms::wire::SERVER_MANAGER,
        EventType::ObjectCreated,
    )
    .await
    .unwrap();
    let first = c.create_pipeline().await.unwrap();
    next_notice(&mut notices, "ObjectCreated before restart", |n| {
        matches!(n, Notice::Event(e) if e.kind == EventKind::ObjectCreated { object: first.clone() })
    })
    .await;

    sim.restart().await;
    let n = next_notice(&mut notices, "reconnected after restart", |n| {
        matches!(n, Notice::Reconnected(_))
    })
    .await;
    let Notice::Reconnected(r) = n else {
        unreachable!()
    };
    assert!(!r.same_session, "{r:?}");
    assert_ne!(r.session, old_session);
    assert_eq!(r.resubscribed, 1);
    assert!(r.generation > generation);
    assert_eq!(c.wait_connected(WAIT).await.unwrap().0, r.session);

    // The old objects are gone; the ServerManager subscription is back.
    assert!(matches!(
        c.get_name(&first).await,
        Err(ClientError::ObjectNotFound { .. })
    ));
    let second = c.create_pipeline().await.unwrap();
    let n = next_notice(
        &mut notices,
        "ObjectCreated after restart",
        |n| matches!(n, Notice::Event(e) if matches!(&e.kind, EventKind::ObjectCreated { .. })),
    )
    .await;
    let Notice::Event(e) = n else { unreachable!() };
    assert_eq!(e.kind, EventKind::ObjectCreated { object: second });
    assert_eq!(e.object, kurento_exporter::kms::wire::SERVER_MANAGER);
    assert!(e.timestamp_ms.is_some());
}

#[tokio::test]
async fn garbage_frames_are_counted_not_fatal() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let (_, generation) = c.wait_connected(WAIT).await.unwrap();
    sim.inject(Fault::Garbage { count: 5 });
    let pipeline = c.create_pipeline().await.unwrap();
    sim.clear_faults();
    assert_eq!(c.get_name(&pipeline).await.unwrap(), pipeline);
    let counters = c.counters();
    assert!(
        counters.garbage_frames + counters.unknown_ids + counters.unexpected_frames >= 5,
        "{counters:?}"
    );
    assert_eq!(c.wait_connected(WAIT).await.unwrap().1, generation);
}

#[tokio::test]
async fn server_manager_events_are_typed() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let mut notices = c.notices();
    let sm = kurento_exporter::kms::wire::SERVER_MANAGER;
    let id = c.subscribe(sm, EventType::ObjectDestroyed).await.unwrap();
    assert_eq!(
        c.subscribe(sm, EventType::ObjectDestroyed).await.unwrap(),
        id
    );
    let pipeline = c.create_pipeline().await.unwrap();
    c.release(&pipeline).await.unwrap();
    let n = next_notice(&mut notices, "ObjectDestroyed", |n| {
        matches!(n, Notice::Event(_))
    })
    .await;
    let Notice::Event(e) = n else { unreachable!() };
    assert_eq!(
        e.kind,
        EventKind::ObjectDestroyed {
            object_id: pipeline
        }
    );
    assert_eq!(e.source, sm);
    c.unsubscribe(sm, EventType::ObjectDestroyed).await.unwrap();
    assert!(c.subscriptions().is_empty());
}

#[tokio::test]
async fn unreachable_kms_fails_fast_then_reconnects_with_backoff() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let (_, generation) = c.wait_connected(WAIT).await.unwrap();
    sim.pause_listener().await;
    sim.restart().await;
    let mut rx = c.state();
    within(
        "disconnected",
        rx.wait_for(|s| *s == ConnState::Disconnected),
    )
    .await
    .unwrap();
    assert!(matches!(
        c.get_pipelines().await,
        Err(ClientError::Disconnected)
    ));
    sim.resume_listener().await.unwrap();
    connected_gen(&c, generation + 1).await;
    c.get_pipelines().await.unwrap();
}

#[tokio::test]
async fn failed_keepalive_pings_force_a_reconnection() {
    let sim = start_sim().await;
    let mut cfg = config(&sim);
    cfg.ping_interval = Duration::from_millis(100);
    cfg.request_timeout = Duration::from_millis(200);
    cfg.ping_failures_to_reconnect = 2;
    let c = connect(cfg).await;
    let (_, generation) = c.wait_connected(WAIT).await.unwrap();
    let mut rx = c.state();
    sim.inject(Fault::Silent {
        method: "ping".into(),
    });
    within(
        "disconnected",
        rx.wait_for(|s| *s == ConnState::Disconnected),
    )
    .await
    .unwrap();
    sim.clear_faults();
    connected_gen(&c, generation + 1).await;
    c.get_pipelines().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_client() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    c.close_session().await.unwrap();
    c.shutdown();
    let mut rx = c.state();
    within(
        "disconnected",
        rx.wait_for(|s| *s == ConnState::Disconnected),
    )
    .await
    .unwrap();
    assert_eq!(c.get_pipelines().await, Err(ClientError::Disconnected));
}

/// Poll `f` until it yields `Some`, failing the test after `WAIT`.
async fn poll<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(t) = f().await {
                return t;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn negotiated_loopback_gives_typed_stats_states_and_events() {
    use kurento_exporter::kms::stats::Stat;
    use kurento_exporter::kms::types::IceComponentState;

    let sim = sim::start(SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tick: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = connect(config(&sim)).await;
    let mut notices = c.notices();
    let pipeline = c.create_pipeline().await.unwrap();
    c.set_latency_stats(&pipeline, true).await.unwrap();
    assert!(c.get_latency_stats(&pipeline).await.unwrap());
    let mut cp = serde_json::Map::new();
    cp.insert("mediaPipeline".into(), pipeline.clone().into());
    cp.insert("uri".into(), "file:///tmp/video.webm".into());
    let player = c
        .create("PlayerEndpoint", cp, Default::default())
        .await
        .unwrap();
    let a = c.create_element("WebRtcEndpoint", &pipeline).await.unwrap();
    let b = c.create_element("WebRtcEndpoint", &pipeline).await.unwrap();
    for ev in [
        EventType::IceComponentStateChanged,
        EventType::MediaStateChanged,
        EventType::MediaFlowOutStateChanged,
        EventType::IceCandidateFound,
    ] {
        c.subscribe(&b, ev).await.unwrap();
    }
    c.connect_elements(&player, &a, None).await.unwrap();
    c.play(&player).await.unwrap();
    let offer = c.generate_offer(&a).await.unwrap();
    assert!(offer.starts_with("v=0"), "{offer}");
    let answer = c.process_offer(&b, &offer).await.unwrap();
    assert!(answer.starts_with("v=0"), "{answer}");
    c.process_answer(&a, &answer).await.unwrap();
    assert_eq!(c.get_remote_session_descriptor(&b).await.unwrap(), offer);
    assert_eq!(c.get_local_session_descriptor(&b).await.unwrap(), answer);
    c.gather_candidates(&a).await.unwrap();
    c.gather_candidates(&b).await.unwrap();

    // ICE comes up, B receives A's media (B's flow is OUT into the pipeline).
    poll("ICE ready on B", || async {
        let ice = c.get_ice_connection_state(&b).await.unwrap();
        (!ice.is_empty() && ice.iter().any(|i| i.state == IceComponentState::READY)).then_some(())
    })
    .await;
    poll("media flowing out of B", || async {
        c.is_media_flowing_out(&b, MediaType::VIDEO)
            .await
            .unwrap()
            .then_some(())
    })
    .await;
    assert!(!c.get_ice_candidate_pairs(&b).await.unwrap().is_empty());
    let inbound = poll("inbound stats on B", || async {
        let stats = c.get_stats(&b, Some(MediaType::VIDEO)).await.unwrap()?;
        stats.into_values().find_map(|s| match s {
            Stat::InboundRtp(i) if i.bytes_received.unwrap_or(0) > 0 => Some(i),
            _ => None,
        })
    })
    .await;
    assert!(inbound.stream.ssrc.is_some());
    assert!(inbound.packets_received.unwrap() > 0);
    let all = c.get_stats(&b, None).await.unwrap().unwrap();
    assert!(
        all.values().all(|s| !matches!(s, Stat::Other(_))),
        "{all:#?}"
    );
    assert!(all.values().any(|s| matches!(s, Stat::OutboundRtp(_))));
    assert!(all.values().any(|s| matches!(s, Stat::Endpoint(_))));

    // The events seen on B were all typed.
    let mut seen = std::collections::BTreeSet::new();
    while let Ok(n) = notices.try_recv() {
        if let Notice::Event(e) = n {
            assert_eq!(e.object, b);
            assert!(e.typed().is_some(), "{e:?}");
            seen.insert(e.event_type);
        }
    }
    assert!(seen.contains("IceComponentStateChanged"), "{seen:?}");
    assert!(seen.contains("MediaFlowOutStateChanged"), "{seen:?}");
    assert_eq!(c.counters().malformed_events, 0);
}

#[tokio::test]
async fn tls_and_dial_failures_are_retried_not_fatal() {
    // A TCP listener that is not a TLS server: wss:// fails the handshake,
    // the client retries with backoff and never panics.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let mut cfg = ConnectionConfig::new(format!("wss://localhost:{port}/kurento"));
    cfg.backoff_initial = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(20);
    let c = Client::start(cfg);
    poll("three failed dials", || async {
        (c.counters().connect_failures >= 3).then_some(())
    })
    .await;
    assert_eq!(*c.state().borrow(), ConnState::Disconnected);
    assert_eq!(c.get_pipelines().await, Err(ClientError::Disconnected));
    c.shutdown();
    acceptor.abort();
}

#[tokio::test]
async fn a_lagging_event_reader_does_not_block_requests() {
    let sim = start_sim().await;
    let mut cfg = config(&sim);
    cfg.event_buffer = 4;
    let c = connect(cfg).await;
    let mut idle = c.notices();
    let sm = kurento_exporter::kms::wire::SERVER_MANAGER;
    c.subscribe(sm, EventType::ObjectCreated).await.unwrap();
    for _ in 0..20 {
        c.create_pipeline().await.unwrap();
    }
    assert_eq!(c.get_pipelines().await.unwrap().len(), 20);
    let events = poll("20 events received", || async {
        (c.counters().events >= 20).then_some(c.counters().events)
    })
    .await;
    assert!(events >= 20);
    // The reader that never read lost the oldest ones, and is told so.
    assert!(matches!(
        idle.recv().await,
        Err(broadcast::error::RecvError::Lagged(_))
    ));
}
