//! The KMS client's transport and session handling against the simulator
//! over real TCP/WebSocket: out-of-order responses, the in-flight bound,
//! timeouts, dropped sockets, a KMS restart (new session, subscriptions made
//! again), malformed frames, keep-alive, lagging readers, dial failures.
//! No fixed sleeps: every wait is a condition with a deadline.
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod client_support;

use std::time::Duration;

use client_support::*;
use kms_sim::Fault;
use kurento_exporter::kms::{
    Client, ClientError, ConnState, ConnectionConfig, EventKind, EventType, Notice,
};
use tokio::sync::broadcast;
use tokio::time::timeout;

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
    // A subscription on an object the restart destroys is reported lost.
    let ep = c.create_element("WebRtcEndpoint", &first).await.unwrap();
    c.subscribe(&ep, EventType::MediaFlowInStateChanged)
        .await
        .unwrap();

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
    assert_eq!(r.lost, vec![(ep, EventType::MediaFlowInStateChanged)]);
    assert_eq!(
        c.subscriptions(),
        vec![(
            kurento_exporter::kms::wire::SERVER_MANAGER.to_owned(),
            EventType::ObjectCreated
        )]
    );
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
