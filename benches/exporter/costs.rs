//! What one request of each kind the kurento-client script sends costs the
//! simulator: its CPU over a batch of the same request on every WebRtcEndpoint
//! (64 in flight, idle rate taken off), divided by the batch. With these, the
//! most KMS CPU any monitor can save per cycle against the script while still
//! reading every endpoint's stats is printed: the script pays `getStats` plus
//! one `isMediaFlowingIn` per media type and endpoint (plus one
//! `getChildren` per pipeline); a monitor that reads the stats pays at least
//! the `getStats`.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use kurento_exporter::kms::types::MediaType;
use kurento_exporter::kms::Client;

use crate::measure::CpuWindow;

const IN_FLIGHT: usize = 64;

/// The WebRtcEndpoints of every pipeline, and the pipelines.
async fn endpoints(app: &Client) -> (Vec<String>, Vec<String>) {
    let pipelines = app.get_pipelines().await.expect("getPipelines");
    let mut eps = Vec::new();
    for p in &pipelines {
        let children = app.get_children(p).await.expect("getChildren");
        eps.extend(
            children
                .into_iter()
                .filter(|c| c.ends_with("WebRtcEndpoint")),
        );
    }
    (eps, pipelines)
}

/// Simulator CPU per request, microseconds, for `call` on every object.
async fn per_request<F, Fut>(objects: &[String], sim_pid: i32, idle_rate: f64, call: F) -> f64
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let w = CpuWindow::start(Some(sim_pid));
    stream::iter(objects.iter().cloned())
        .map(&call)
        .buffer_unordered(IN_FLIGHT)
        .for_each(|_| async {})
        .await;
    let (cpu, wall) = w.read();
    (cpu - idle_rate * wall).max(0.0) * 1e6 / objects.len().max(1) as f64
}

/// Print the per-request costs and the ratio they allow.
pub async fn print(app: &Client, sim_pid: i32, idle_rate: f64) {
    let (eps, pipelines) = endpoints(app).await;
    // Twice each, the second kept: the first warms the simulator's caches.
    let mut stats = 0.0;
    let mut flow = 0.0;
    let mut children = 0.0;
    for _ in 0..2 {
        stats = per_request(&eps, sim_pid, idle_rate, |e| async move {
            app.get_stats(&e, None).await.expect("getStats");
        })
        .await;
        flow = per_request(&eps, sim_pid, idle_rate, |e| async move {
            app.is_media_flowing_in(&e, MediaType::VIDEO)
                .await
                .expect("isMediaFlowingIn");
        })
        .await;
        children = per_request(&pipelines, sim_pid, idle_rate, |p| async move {
            app.get_children(&p).await.expect("getChildren");
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let per_pipeline = eps.len() as f64 / pipelines.len().max(1) as f64;
    let script = stats + 2.0 * flow + children / per_pipeline;
    println!(
        "\nkms-sim CPU per request ({} endpoints, {IN_FLIGHT} in flight): getStats {stats:.1} µs, \
         isMediaFlowingIn {flow:.1} µs, getChildren {children:.1} µs. The script's requests cost \
         {script:.1} µs per endpoint and cycle; a monitor that reads each endpoint's stats once a \
         cycle pays at least {stats:.1} µs: at most {:.1}x less KMS CPU than the script.",
        eps.len(),
        script / stats.max(f64::MIN_POSITIVE),
    );
}
