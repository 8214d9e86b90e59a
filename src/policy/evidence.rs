//! Evidence: the facts behind a verdict, copied out of the model so a flag,
//! an audit record or an API answer can show why an object was judged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kms::types::{ConnectionState, DtlsConnectionState, IceComponentState, MediaState};
use crate::model::{Direction, Element, Millis, ObjectId, Pipeline, Since, TargetModel};

use super::config::PIPELINE_TYPE;
use super::eval::{pipeline_age, Index};

/// A state and when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateSince<T> {
    pub state: T,
    pub since: Millis,
}

impl<T: Copy> From<Since<T>> for StateSince<T> {
    fn from(s: Since<T>) -> Self {
        StateSince {
            state: s.value,
            since: s.since,
        }
    }
}

/// What was known about an object when it was judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// KMS target name.
    pub target: String,
    /// Short type name; `MediaPipeline` for pipelines.
    pub object_type: String,
    pub pipeline: ObjectId,
    pub pipeline_name: Option<String>,
    pub age_ms: Millis,
    /// Last time media flowed in / out (`now` while flowing); for a pipeline,
    /// the latest over its children. `None`: never.
    pub last_flow_in: Option<Millis>,
    pub last_flow_out: Option<Millis>,
    pub media_state: Option<StateSince<MediaState>>,
    pub connection_state: Option<StateSince<ConnectionState>>,
    /// Component 1, best over the streams.
    pub ice_state: Option<IceComponentState>,
    /// Every component: `(stream, component, state)`.
    pub ice: Vec<(String, u32, StateSince<IceComponentState>)>,
    pub dtls_state: Option<StateSince<DtlsConnectionState>>,
    /// `None` when the endpoint's state was never read.
    pub remote_sdp: Option<bool>,
    pub session_terminated: Option<Millis>,
    /// Effective tags (an element's include its pipeline's).
    pub tags: BTreeMap<String, String>,
    /// Children of a pipeline; connections of an element (in + out).
    pub children: usize,
    pub connections: usize,
    /// For a verdict derived from other verdicts (`neighbours_zombie`,
    /// `pipeline_all_zombie`): the chain behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Because>,
}

/// Why a derived verdict holds: the zombies it follows from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Because {
    /// In words: `its only neighbour is zombie <id>`, `every neighbour (3)
    /// is a zombie`, `no media neighbour left`, `every element (5) is a zombie`.
    pub reason: String,
    /// The zombies it follows from (neighbours, or a pipeline's elements).
    pub zombies: Vec<ObjectId>,
    /// The RTP endpoints whose gone peers the chain starts from: what must
    /// carry no media for a release to go ahead.
    pub rests_on: Vec<ObjectId>,
    /// Since when it holds: when the last of `zombies` became one.
    pub since: Millis,
}

impl Because {
    /// An element whose every neighbour is a zombie (or that has none).
    pub(super) fn neighbours(neighbours: &[&str], rests_on: Vec<ObjectId>, since: Millis) -> Self {
        let reason = match neighbours {
            [] => "no media neighbour left".to_string(),
            [one] => format!("its only neighbour is zombie {one}"),
            many => format!("every neighbour ({}) is a zombie", many.len()),
        };
        Because {
            reason,
            zombies: neighbours.iter().map(|n| n.to_string()).collect(),
            rests_on,
            since,
        }
    }

    /// A pipeline all of whose elements are zombies, or that has none.
    pub(super) fn of_pipeline(
        index: &Index<'_>,
        p: &Pipeline,
        zombies: &BTreeMap<ObjectId, Millis>,
        rests: &BTreeMap<ObjectId, Vec<ObjectId>>,
        isolated: &BTreeMap<ObjectId, Millis>,
    ) -> Option<Because> {
        let children = index.children(&p.id);
        if children.is_empty() {
            return isolated.get(&p.id).map(|since| Because {
                reason: "no element left".into(),
                zombies: Vec::new(),
                rests_on: Vec::new(),
                since: *since,
            });
        }
        let mut since = 0;
        for c in children {
            since = since.max(*zombies.get(&c.id)?);
        }
        let mut rests_on: Vec<ObjectId> = children
            .iter()
            .flat_map(|c| rests.get(&c.id).cloned().unwrap_or_default())
            .collect();
        rests_on.sort_unstable();
        rests_on.dedup();
        Some(Because {
            reason: format!("every element ({}) is a zombie", children.len()),
            zombies: children.iter().map(|c| c.id.clone()).collect(),
            rests_on,
            since,
        })
    }
}

/// Evidence of one element.
pub(super) fn of_element(
    model: &TargetModel,
    index: &Index<'_>,
    e: &Element,
    tags: &BTreeMap<String, String>,
    now: Millis,
) -> Evidence {
    let ep = e.endpoint.as_ref();
    Evidence {
        target: model.name.clone(),
        object_type: e.element_type.clone(),
        pipeline: e.pipeline.clone(),
        pipeline_name: model.pipelines.get(&e.pipeline).map(|p| p.name.clone()),
        age_ms: e.age_ms(now),
        last_flow_in: e.flow.last_flowing(Direction::In, now),
        last_flow_out: e.flow.last_flowing(Direction::Out, now),
        media_state: ep.and_then(|s| s.media_state).map(Into::into),
        connection_state: ep.and_then(|s| s.connection_state).map(Into::into),
        ice_state: ep.and_then(|s| s.ice_state()),
        ice: ep
            .map(|s| {
                s.ice
                    .iter()
                    .map(|((st, c), v)| (st.clone(), *c, (*v).into()))
                    .collect()
            })
            .unwrap_or_default(),
        dtls_state: ep.and_then(|s| s.dtls).map(Into::into),
        remote_sdp: ep.map(|s| s.remote_sdp.is_some()),
        session_terminated: ep.and_then(|s| s.session_terminated),
        tags: tags.clone(),
        children: 0,
        connections: e.sinks.len() + index.incoming(&e.id),
        because: None,
    }
}

/// Evidence of one pipeline.
pub(super) fn of_pipeline(
    model: &TargetModel,
    index: &Index<'_>,
    p: &Pipeline,
    now: Millis,
) -> Evidence {
    let children = index.children(&p.id);
    let latest = |dir| {
        children
            .iter()
            .filter_map(|c| c.flow.last_flowing(dir, now))
            .max()
    };
    Evidence {
        target: model.name.clone(),
        object_type: PIPELINE_TYPE.into(),
        pipeline: p.id.clone(),
        pipeline_name: Some(p.name.clone()),
        age_ms: pipeline_age(p, now),
        last_flow_in: latest(Direction::In),
        last_flow_out: latest(Direction::Out),
        media_state: None,
        connection_state: None,
        ice_state: None,
        ice: Vec::new(),
        dtls_state: None,
        remote_sdp: None,
        session_terminated: None,
        tags: p.tags.clone(),
        children: children.len(),
        connections: 0,
        because: None,
    }
}
