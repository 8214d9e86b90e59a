//! The last look before a release: whether the elements the release rests
//! on carry a live call now, read from KMS with `isMediaFlowingIn/Out` (and `getMediaState` for an
//! endpoint the pipeline still feeds), by the rule of `policy::liveness`,
//! the one `policy::flowed_within` applies to the model.

use std::time::Duration;

use crate::kms::types::{MediaState, MediaType};
use crate::kms::{Client, ClientError};
use crate::policy::{liveness, Liveness};
use kms_proto::ids::{is_rtp_endpoint, type_of};

use super::ledger::Job;

/// Whether one element carries a live call now, read from KMS (the rule of
/// `policy::liveness`): `Ok(Some(why))` if so. The media state is read only
/// when the rule needs it (an RTP endpoint the pipeline feeds).
async fn live_now(client: &Client, e: &str) -> Result<Option<String>, ClientError> {
    let ty = type_of(e);
    if liveness(ty, true, true) == Liveness::Idle {
        // Nothing this type could report makes it live (a hub).
        return Ok(None);
    }
    let reads = [MediaType::AUDIO, MediaType::VIDEO].map(|m| async move {
        let (fin, fout) = tokio::join!(
            client.is_media_flowing_in(e, m),
            client.is_media_flowing_out(e, m)
        );
        Ok::<_, ClientError>((m, fin?, fout?))
    });
    // Media arriving from the peer wins; else the first medium flowing in.
    let mut inward = None;
    for r in futures_util::future::join_all(reads).await {
        let (m, fin, fout) = r?;
        let live = liveness(ty, fin, fout);
        if fout && live == Liveness::Live {
            return Ok(Some(format!("{} flowing out on {e}", m.as_str())));
        }
        if live != Liveness::Idle && inward.is_none() {
            inward = Some((m, live));
        }
    }
    let m = match inward {
        None => return Ok(None),
        Some((m, Liveness::Live)) => return Ok(Some(format!("{} flowing in on {e}", m.as_str()))),
        Some((m, _)) => m,
    };
    let state = client.get_media_state(e).await?;
    if !Liveness::FedUnlessDisconnected.resolve(state == MediaState::DISCONNECTED) {
        return Ok(None);
    }
    Ok(Some(format!(
        "{} flowing in on {e}, media state {}",
        m.as_str(),
        state.as_str()
    )))
}

/// What flows now, read from KMS, on the elements a release of the job's
/// object rests on (as `policy::decide` chose them from the model): a
/// pipeline's RTP endpoints (listed afresh); for a verdict derived from its
/// neighbours, the endpoints its chain starts from; else the element itself.
/// `Ok(Some(description))` if any carries a live call.
pub(super) async fn flowing(
    client: &Client,
    job: &Job,
    limit: Duration,
) -> Result<Option<String>, ClientError> {
    let work = async {
        let derived = job.evidence.as_ref().and_then(|e| e.because.as_ref());
        let (elements, gone_ok) = if job.pipeline_release {
            let children = client.get_children(&job.object).await?;
            let endpoints = children
                .into_iter()
                .filter(|c| is_rtp_endpoint(type_of(c)))
                .collect();
            (endpoints, true)
        } else if let Some(b) = derived {
            (b.rests_on.clone(), true)
        } else {
            (vec![job.object.clone()], false)
        };
        let checks = elements.iter().map(|e| live_now(client, e));
        let mut found = None;
        for r in futures_util::future::join_all(checks).await {
            match r {
                Ok(Some(why)) if found.is_none() => found = Some(why),
                Ok(_) => {}
                // An element released meanwhile carries nothing.
                Err(ClientError::ObjectNotFound { .. }) if gone_ok => {}
                Err(err) => return Err(err),
            }
        }
        Ok(found)
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| ClientError::Timeout {
            method: "isMediaFlowing".into(),
            timeout_ms: limit.as_millis() as u64,
        })?
}
