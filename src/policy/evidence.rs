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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    }
}
