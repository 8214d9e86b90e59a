//! Three-valued evaluation of a rule's conditions on one element or pipeline.
//!
//! `Unknown` means the model cannot tell (state not read yet, target not
//! synced, session source unreadable); only `True` makes a verdict, so an
//! unknown never leads to an action.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::kms::types::{ConnectionState, DtlsConnectionState, IceComponentState, MediaState};
use crate::model::{Direction, Element, Millis, ObjectId, Pipeline, TargetModel};

use super::config::{ConditionConfig, FlowSide};

/// A three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    pub fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    /// Kleene conjunction: false wins, then unknown.
    pub fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::True,
        }
    }

    /// Kleene disjunction: true wins, then unknown.
    pub fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::Unknown, _) | (_, Tri::Unknown) => Tri::Unknown,
            _ => Tri::False,
        }
    }
}

/// The live application sessions, as the caller last read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionView {
    /// The source was read: these ids are live.
    Known(BTreeSet<String>),
    /// The source could not be read: nothing counts as gone.
    Unknown,
}

/// Lookups built once per decision: children per pipeline, incoming
/// connections per element (the model only stores outgoing ones) and ports
/// per hub.
pub(super) struct Index<'a> {
    children: BTreeMap<&'a str, Vec<&'a Element>>,
    incoming: BTreeMap<&'a str, Vec<&'a str>>,
    ports: BTreeMap<&'a str, Vec<&'a str>>,
    model: &'a TargetModel,
}

impl<'a> Index<'a> {
    pub fn new(model: &'a TargetModel) -> Self {
        let mut children: BTreeMap<&str, Vec<&Element>> = BTreeMap::new();
        let mut incoming: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut ports: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for e in model.elements.values() {
            children.entry(e.pipeline.as_str()).or_default().push(e);
            for (sink, _) in &e.sinks {
                let from = incoming.entry(sink.as_str()).or_default();
                if from.last() != Some(&e.id.as_str()) {
                    from.push(e.id.as_str());
                }
            }
            if let Some(hub) = &e.hub {
                ports.entry(hub.as_str()).or_default().push(e.id.as_str());
            }
        }
        Index {
            children,
            incoming,
            ports,
            model,
        }
    }

    /// Elements of a pipeline.
    pub fn children(&self, pipeline: &str) -> &[&'a Element] {
        self.children.get(pipeline).map_or(&[], Vec::as_slice)
    }

    /// Connections into an element.
    pub fn incoming(&self, element: &str) -> usize {
        self.incoming.get(element).map_or(0, Vec::len)
    }

    /// The media neighbours of an element: for a hub, its ports; for any
    /// other element, the elements connected to it either way (itself and
    /// hubs aside). Sorted, without repeats.
    pub fn neighbours(&self, e: &Element) -> Vec<&'a str> {
        let mut out: Vec<&str> = if kms_proto::ids::is_hub(&e.element_type) {
            self.ports.get(e.id.as_str()).cloned().unwrap_or_default()
        } else {
            let sinks = self
                .model
                .elements
                .get(&e.id)
                .into_iter()
                .flat_map(|me| me.sinks.iter().map(|(s, _)| s.as_str()));
            let sources = self
                .incoming
                .get(e.id.as_str())
                .into_iter()
                .flatten()
                .copied();
            sinks
                .chain(sources)
                .filter(|n| *n != e.id && !kms_proto::ids::is_hub(kms_proto::ids::type_of(n)))
                .collect()
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What conditions read besides the object.
pub(super) struct Ctx<'a> {
    pub model: &'a TargetModel,
    pub index: &'a Index<'a>,
    pub sessions: &'a SessionView,
    pub now: Millis,
    /// Elements that are candidates of an element rule in this decision, and
    /// since when each is a zombie (a derived one: since its last neighbour
    /// became one).
    pub zombies: &'a BTreeMap<ObjectId, Millis>,
    /// Since when each element has had no media neighbour and each pipeline
    /// no element (kept across decisions in `History`).
    pub isolated: &'a BTreeMap<ObjectId, Millis>,
}

impl<'a> Ctx<'a> {
    /// The same context with another set of zombies (the next fixpoint pass).
    pub fn with<'b>(&self, zombies: &'b BTreeMap<ObjectId, Millis>) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx { zombies, ..*self }
    }
}

/// The object a condition is evaluated on.
#[derive(Clone, Copy)]
pub(super) enum Obj<'a> {
    /// An element and its effective tags (pipeline's, overridden by its own).
    Element(&'a Element, &'a BTreeMap<String, String>),
    Pipeline(&'a Pipeline),
}

fn ms(d: std::time::Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Age of a pipeline at `now`, from its creation time or first sighting.
pub(super) fn pipeline_age(p: &Pipeline, now: Millis) -> Millis {
    let born = p
        .created
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(p.first_seen);
    now.saturating_sub(born)
}

/// Whether nothing flowed in `dir` for `d` (never flowed: since creation).
/// No media in `dir` for `d`: since it last flowed, or, if it never did,
/// since the daemon first measured that direction. Unknown until measured
/// (an element found at start-up has no flow readings yet).
fn silent(e: &Element, dir: Direction, d: Millis, now: Millis) -> Tri {
    match e.flow.last_flowing(dir, now) {
        Some(t) => Tri::from_bool(now.saturating_sub(t) >= d),
        None => match e.flow.first_measured(dir) {
            Some(t) => Tri::from_bool(now.saturating_sub(t) >= d),
            None => Tri::Unknown,
        },
    }
}

fn held<T: PartialEq>(s: Option<crate::model::Since<T>>, want: T, d: Millis, now: Millis) -> Tri {
    match s {
        None => Tri::Unknown,
        Some(s) => Tri::from_bool(s.value == want && now.saturating_sub(s.since) >= d),
    }
}

pub(super) fn eval(c: &ConditionConfig, obj: Obj<'_>, ctx: &Ctx<'_>) -> Tri {
    use ConditionConfig as C;
    match c {
        C::All(cs) => cs
            .iter()
            .fold(Tri::True, |acc, sub| acc.and(eval(sub, obj, ctx))),
        C::Any(cs) => cs
            .iter()
            .fold(Tri::False, |acc, sub| acc.or(eval(sub, obj, ctx))),
        C::SessionGone(tag) => {
            let tags = match obj {
                Obj::Element(_, tags) => tags,
                Obj::Pipeline(p) => &p.tags,
            };
            match (tags.get(tag), ctx.sessions) {
                (None, _) => Tri::False,
                (Some(_), SessionView::Unknown) => Tri::Unknown,
                (Some(v), SessionView::Known(live)) => Tri::from_bool(!live.contains(v)),
            }
        }
        C::MinAge(d) => {
            let age = match obj {
                Obj::Element(e, _) => e.age_ms(ctx.now),
                Obj::Pipeline(p) => pipeline_age(p, ctx.now),
            };
            Tri::from_bool(age >= ms(*d))
        }
        _ => match obj {
            Obj::Element(e, _) => eval_element(c, e, ctx),
            Obj::Pipeline(p) => eval_pipeline(c, p, ctx),
        },
    }
}

fn eval_pipeline(c: &ConditionConfig, p: &Pipeline, ctx: &Ctx<'_>) -> Tri {
    use ConditionConfig as C;
    let now = ctx.now;
    match c {
        C::PipelineEmpty(d) => {
            if !ctx.model.health.synced_once {
                return Tri::Unknown;
            }
            Tri::from_bool(
                ctx.isolated
                    .get(&p.id)
                    .is_some_and(|since| now.saturating_sub(*since) >= ms(*d)),
            )
        }
        C::PipelineAllZombie(d) => {
            let children = ctx.index.children(&p.id);
            let mut last = None;
            for child in children {
                match ctx.zombies.get(&child.id) {
                    None => return Tri::False,
                    Some(since) => last = last.max(Some(*since)),
                }
            }
            Tri::from_bool(last.is_some_and(|since| now.saturating_sub(since) >= ms(*d)))
        }
        // Element conditions do not apply to pipelines (validation forbids them).
        _ => Tri::False,
    }
}

fn eval_element(c: &ConditionConfig, e: &Element, ctx: &Ctx<'_>) -> Tri {
    use ConditionConfig as C;
    let now = ctx.now;
    let age = e.age_ms(now);
    let ep = e.endpoint.as_ref();
    // Endpoint conditions: a non-RTP element never matches; an RTP endpoint
    // whose state was never read is unknown.
    let no_ep = if e.is_rtp_endpoint() {
        Tri::Unknown
    } else {
        Tri::False
    };
    let ever_flowed = e.flow.last_flowing(Direction::In, now).is_some()
        || e.flow.last_flowing(Direction::Out, now).is_some();
    match c {
        C::NoFlow {
            direction,
            duration,
        } => {
            let d = ms(*duration);
            let (i, o) = (
                silent(e, Direction::In, d, now),
                silent(e, Direction::Out, d, now),
            );
            match direction {
                FlowSide::In => i,
                FlowSide::Out => o,
                FlowSide::Either => i.or(o),
                FlowSide::Both => i.and(o),
            }
        }
        C::MediaDisconnected(d) => match ep {
            None => no_ep,
            Some(ep) => held(ep.media_state, MediaState::DISCONNECTED, ms(*d), now),
        },
        C::DtlsClosed(d) => match ep {
            None => no_ep,
            Some(ep) => held(ep.dtls, DtlsConnectionState::CLOSED, ms(*d), now),
        },
        C::SessionTerminated(d) => match ep {
            None => no_ep,
            Some(ep) => Tri::from_bool(
                ep.session_terminated
                    .is_some_and(|t| now.saturating_sub(t) >= ms(*d)),
            ),
        },
        C::NoRemoteSdp(d) => match ep {
            None => no_ep,
            Some(ep) => {
                let negotiated = ep.remote_sdp.is_some()
                    || ever_flowed
                    || ep
                        .media_state
                        .is_some_and(|s| s.value == MediaState::CONNECTED)
                    || ep.session_started.is_some();
                if negotiated {
                    Tri::False
                } else if ep.no_remote_sdp.is_none() {
                    // KMS has not answered yet whether it holds one.
                    Tri::Unknown
                } else {
                    Tri::from_bool(age >= ms(*d))
                }
            }
        },
        C::IceNeverConnected(d) => match ep {
            None => no_ep,
            Some(ep) => {
                let connected = ep.ice.values().any(|s| {
                    matches!(
                        s.value,
                        IceComponentState::CONNECTED | IceComponentState::READY
                    )
                }) || ever_flowed
                    || ep.session_started.is_some()
                    || ep
                        .media_state
                        .is_some_and(|s| s.value == MediaState::CONNECTED)
                    || ep
                        .connection_state
                        .is_some_and(|s| s.value == ConnectionState::CONNECTED);
                Tri::from_bool(!connected && age >= ms(*d))
            }
        },
        C::IceState { states, duration } => match ep {
            None => no_ep,
            Some(ep) => {
                let primary: Vec<_> = ep
                    .ice
                    .iter()
                    .filter(|((_, comp), _)| *comp == 1)
                    .map(|(_, s)| *s)
                    .collect();
                if primary.is_empty() {
                    return Tri::Unknown;
                }
                Tri::from_bool(primary.iter().all(|s| {
                    states.contains(&s.value) && now.saturating_sub(s.since) >= ms(*duration)
                }))
            }
        },
        C::NeighboursZombie(d) => {
            if !ctx.model.health.synced_once {
                return Tri::Unknown;
            }
            Tri::from_bool(
                derived_since(e, ctx).is_some_and(|(since, _)| now.saturating_sub(since) >= ms(*d)),
            )
        }
        C::NoConnections(d) => {
            if !ctx.model.health.synced_once {
                return Tri::Unknown;
            }
            let linked = !e.sinks.is_empty() || ctx.index.incoming(&e.id) > 0;
            Tri::from_bool(!linked && age >= ms(*d))
        }
        // Pipeline conditions do not apply to elements (validation forbids them).
        _ => Tri::False,
    }
}

/// Why an element could be a derived zombie: since when, and the neighbours
/// it rests on (none: it has no neighbour left). `None` when some neighbour
/// is not a zombie, or for an RTP endpoint (judged by its own peer).
pub(super) fn derived_since<'a>(e: &Element, ctx: &Ctx<'a>) -> Option<(Millis, Vec<&'a str>)> {
    if e.is_rtp_endpoint() {
        return None;
    }
    let neighbours = ctx.index.neighbours(e);
    if neighbours.is_empty() {
        return ctx.isolated.get(&e.id).map(|since| (*since, neighbours));
    }
    let mut last = 0;
    for n in &neighbours {
        last = last.max(*ctx.zombies.get(*n)?);
    }
    Some((last, neighbours))
}
