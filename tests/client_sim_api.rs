//! The typed KMS client API against the simulator over real TCP/WebSocket:
//! getters and their KMS quirks, 40101, ServerManager events, and a
//! negotiated WebRTC loopback (typed stats, states and events).
// Needs the simulator: built with the `demo` feature (default).
#![cfg(feature = "demo")]

mod client_support;

use std::time::Duration;

use client_support::*;
use kms_sim::{self as sim, SimConfig};
use kurento_exporter::kms::types::{ConnectionState, MediaState, MediaType};
use kurento_exporter::kms::{ClientError, EventKind, EventType, Notice};

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
    assert_eq!(
        c.get_remote_session_descriptor(&b).await.unwrap(),
        Some(offer.clone())
    );
    assert_eq!(
        c.get_local_session_descriptor(&b).await.unwrap(),
        Some(answer.clone())
    );
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
async fn concurrent_subscriptions_to_one_event_give_one_subscription() {
    let sim = start_sim().await;
    let c = connect(config(&sim)).await;
    let sm = kurento_exporter::kms::wire::SERVER_MANAGER;
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.subscribe(sm, EventType::ObjectCreated).await })
        })
        .collect();
    let mut ids = Vec::new();
    for call in calls {
        ids.push(within("subscribe", call).await.unwrap().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    // Exactly one event per object created.
    let mut notices = c.notices();
    let p = c.create_pipeline().await.unwrap();
    let q = c.create_pipeline().await.unwrap();
    let mut created = Vec::new();
    while created.len() < 2 {
        match next_notice(&mut notices, "ObjectCreated", |n| {
            matches!(n, Notice::Event(_))
        })
        .await
        {
            Notice::Event(e) => created.push(e.kind),
            Notice::Reconnected(r) => panic!("{r:?}"),
        }
    }
    assert_eq!(
        created,
        vec![
            EventKind::ObjectCreated { object: p },
            EventKind::ObjectCreated { object: q }
        ]
    );
}
