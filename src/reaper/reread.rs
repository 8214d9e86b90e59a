//! The last look before a release: whether the object carries a live call
//! now, read from KMS with `isMediaFlowingIn/Out` (and `getMediaState` for an
//! endpoint the pipeline still feeds), in the sense of `policy::flowed_within`.

use std::time::Duration;

use crate::kms::types::{MediaState, MediaType};
use crate::kms::{Client, ClientError};
use kms_proto::ids::{is_hub, type_of};

use super::ledger::Job;

/// Whether one element carries a live call now, read from KMS (the sense of
/// `policy::flowed_within`): `Ok(Some(why))` if so.
async fn live_now(client: &Client, e: &str) -> Result<Option<String>, ClientError> {
    if is_hub(type_of(e)) {
        return Ok(None);
    }
    let reads = [MediaType::AUDIO, MediaType::VIDEO].map(|m| async move {
        let (fin, fout) = tokio::join!(
            client.is_media_flowing_in(e, m),
            client.is_media_flowing_out(e, m)
        );
        Ok::<_, ClientError>((m, fin?, fout?))
    });
    let mut inward = None;
    for r in futures_util::future::join_all(reads).await {
        let (m, fin, fout) = r?;
        if fout {
            return Ok(Some(format!("{} flowing out on {e}", m.as_str())));
        }
        if fin && inward.is_none() {
            inward = Some(m);
        }
    }
    let Some(m) = inward else {
        return Ok(None);
    };
    if matches!(type_of(e), "WebRtcEndpoint" | "RtpEndpoint") {
        // Fed by the pipeline: live unless its peer is gone.
        let state = client.get_media_state(e).await?;
        if state == MediaState::DISCONNECTED {
            return Ok(None);
        }
        return Ok(Some(format!(
            "{} flowing in on {e}, media state {}",
            m.as_str(),
            state.as_str()
        )));
    }
    Ok(Some(format!("{} flowing in on {e}", m.as_str())))
}

/// What flows on the object now, read from KMS: `Ok(Some(description))` if
/// the element, or any child of the pipeline, carries a live call.
pub(super) async fn flowing(
    client: &Client,
    job: &Job,
    limit: Duration,
) -> Result<Option<String>, ClientError> {
    let work = async {
        let elements = if job.pipeline_release {
            client.get_children(&job.object).await?
        } else {
            vec![job.object.clone()]
        };
        let checks = elements.iter().map(|e| live_now(client, e));
        let mut found = None;
        for r in futures_util::future::join_all(checks).await {
            match r {
                Ok(Some(why)) if found.is_none() => found = Some(why),
                Ok(_) => {}
                // A child released meanwhile carries nothing.
                Err(ClientError::ObjectNotFound { .. }) if job.pipeline_release => {}
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
