//! Running scenarios: their actions on the engine itself (the application's
//! verbs), on the server (faults, restarts), step by step in real time scaled
//! by the simulator's speed (`run`), and `Scenario::play`: a whole scenario
//! run on an `Engine` with its own clock, without a server (deterministic,
//! for tests). `scenario` holds the data only.

use std::time::Duration;

use super::app::Topology;
use super::engine::Engine;
use super::scenario::{Action, Participant, Scenario, ScenarioError};
use super::server::Shared;
use super::webrtc::IceMode;
use super::SimError;

/// Apply an action that concerns the engine (server-level actions, such as
/// faults and restarts, do nothing here).
pub(crate) fn apply_engine(
    e: &mut Engine,
    step: usize,
    action: &Action,
) -> Result<(), ScenarioError> {
    let fail = |err: kms_proto::wire::RpcError| ScenarioError::Step {
        step,
        message: err.message,
    };
    match action {
        Action::Conference {
            room,
            participants,
            named,
        } => {
            let mut people: Vec<Participant> = named.clone();
            people.extend((1..=*participants).map(|i| Participant {
                name: format!("p{i}"),
                ice: IceMode::Normal,
            }));
            e.app_open_room(room)
                .and_then(|_| {
                    people
                        .iter()
                        .try_for_each(|p| e.app_join(room, &p.name, p.ice).map(drop))
                })
                .map_err(fail)
        }
        Action::Room {
            room,
            topology,
            participants,
            named,
            uri,
            offer_delay_ms,
        } => {
            let n = participants.unwrap_or(match topology {
                _ if !named.is_empty() => 0,
                Topology::OneToOne => 2,
                t if t.single_user() => 1,
                _ => 3,
            });
            let mut people: Vec<Participant> = named.clone();
            people.extend((1..=n).map(|i| Participant {
                name: format!("p{i}"),
                ice: IceMode::Normal,
            }));
            e.app_open_uri(room, *topology, uri.as_deref())
                .and_then(|_| {
                    people.iter().try_for_each(|p| {
                        e.app_join_with(room, &p.name, p.ice, *offer_delay_ms)
                            .map(drop)
                    })
                })
                .map_err(fail)
        }
        Action::Join {
            room,
            participant,
            ice,
            offer_delay_ms,
        } => e
            .app_join_with(room, participant, *ice, *offer_delay_ms)
            .map(drop)
            .map_err(fail),
        Action::IdleEndpoint {
            room,
            participant,
            forget,
        } => e
            .app_idle_endpoint(room, participant, *forget)
            .map(drop)
            .map_err(fail),
        Action::ForgetEmptyPipeline { room } => {
            e.app_forget_empty_pipeline(room);
            Ok(())
        }
        Action::Mute {
            room,
            participant,
            muted,
        } => {
            e.app_mute(room, participant, *muted);
            Ok(())
        }
        Action::Pause {
            room,
            participant,
            paused,
        } => {
            e.app_pause(room, participant, *paused);
            Ok(())
        }
        Action::IceRestart {
            room,
            participant,
            for_ms,
        } => {
            e.app_ice_restart(room, participant, *for_ms);
            Ok(())
        }
        Action::Tag {
            room,
            participant,
            key,
            value,
        } => {
            e.app_tag(room, participant.as_deref(), key, value);
            Ok(())
        }
        Action::Leave { room, participant } => {
            e.app_leave(room, participant);
            Ok(())
        }
        Action::Forget {
            room,
            participant,
            how,
        } => {
            e.app_forget(room, participant, *how);
            Ok(())
        }
        Action::ForgetRoom { room, how } => {
            e.app_forget_room(room, *how);
            Ok(())
        }
        Action::EndRoom { room } => {
            e.app_end_room(room);
            Ok(())
        }
        Action::VanishPeer {
            room,
            participant,
            how,
        } => {
            e.app_vanish_peer(room, participant, *how);
            Ok(())
        }
        Action::Interrupt {
            room,
            participant,
            for_ms,
        } => {
            e.app_blip(room, participant, *for_ms);
            Ok(())
        }
        Action::Quality {
            room,
            participant,
            quality,
        } => {
            e.app_quality(room, participant.as_deref(), *quality);
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Scenario {
    /// Run the scenario on `engine`, whose clock starts at `start` (epoch
    /// ms): steps at `start + at_ms`, the clock ticking every `tick_ms`,
    /// until `start + end_ms`. Faults, dropped connections and restarts are
    /// server matters and are skipped.
    pub fn play(
        &self,
        engine: &mut Engine,
        start: u64,
        tick_ms: u64,
        end_ms: u64,
    ) -> Result<(), ScenarioError> {
        let mut steps: Vec<(usize, &super::scenario::Step)> =
            self.steps.iter().enumerate().collect();
        steps.sort_by_key(|(_, s)| s.at_ms);
        let tick = tick_ms.max(1);
        let mut now = start;
        let mut next = steps.into_iter().peekable();
        loop {
            while let Some((i, s)) = next.next_if(|(_, s)| start + s.at_ms <= now) {
                engine.advance(now);
                apply_engine(engine, i, &s.action)?;
                engine.take_events();
            }
            if now >= start + end_ms {
                return Ok(());
            }
            now = (now + tick).min(start + end_ms);
            engine.tick(now);
        }
    }
}

/// Apply one action to the simulator.
pub(crate) fn apply(shared: &Shared, step: usize, action: &Action) -> Result<(), ScenarioError> {
    match action {
        Action::Fault { fault } => shared.inject(fault.clone()),
        Action::ClearFaults => shared.clear_faults(),
        Action::DropConnections => shared.kill_all(),
        Action::Restart => shared.reset(),
        _ => {
            return shared.with_engine(|e, now| {
                e.advance(now);
                let r = apply_engine(e, step, action);
                (r, e.take_events())
            })
        }
    }
    Ok(())
}

/// Run `scenario`, waiting (in real time scaled by `speed`) for each step.
pub(crate) async fn run(shared: &Shared, scenario: Scenario) -> Result<(), SimError> {
    let mut steps = scenario.steps;
    steps.sort_by_key(|s| s.at_ms);
    let start = tokio::time::Instant::now();
    let speed = if shared.cfg.speed > 0.0 {
        shared.cfg.speed
    } else {
        1.0
    };
    for (i, step) in steps.iter().enumerate() {
        let due = start + Duration::from_secs_f64(step.at_ms as f64 / 1000.0 / speed);
        tokio::time::sleep_until(due).await;
        apply(shared, i, &step.action)?;
    }
    Ok(())
}
