//! kurento-client acceptance: runs `crates/kms-sim/tests/js/acceptance.mjs` (the official
//! npm `kurento-client` 7.3, public API only) against a fresh `kms-sim`.
//!
//! Needs Node.js (>= 18) and the locked npm dependencies:
//! `npm ci --ignore-scripts --prefix crates/kms-sim/tests/js`. A missing `node` or
//! `node_modules` is a failure, never a skip.

mod support;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn kurento_client_acceptance() {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/kurento-client").is_dir(),
        "{}/node_modules is missing: install it with `npm ci --ignore-scripts --prefix crates/kms-sim/tests/js`",
        js.display()
    );
    let sim = support::spawn_sim(&[]);
    let out = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg("acceptance.mjs")
        .current_dir(&js)
        .env("KMS_URL", sim.ws_url())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js >= 18 is required): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "kurento-client acceptance against kms-sim ({}) failed: {}",
        sim.ws_url(),
        out.status
    );
    // a run that executed no test is not a pass
    assert!(
        stdout.contains("pass") && !stdout.contains("# pass 0") && !stdout.contains("ℹ pass 0"),
        "node --test ran no passing test"
    );
}
