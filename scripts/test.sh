#!/usr/bin/env bash
# Runs every test of kurento-exporter. Installs what the tests need first:
# Node.js + npm (Debian packages, only when missing) and the pinned npm packages
# of the simulator's kurento-client conformance test (crates/kms-sim/tests/js,
# lock file committed). Tests every crate of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt.sh

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
# promtool (metrics and rule checks), a real Prometheus and Alertmanager.
apt_install prometheus prometheus-alertmanager
# TLS and basic auth (tests/web_tls.rs): certificates made by openssl, checked with curl.
apt_install openssl curl
# A real headless browser for the console's test (tests/console_chromium.rs).
apt_install chromium
# The cluster (feature `cluster`): protoc builds the etcd client's gRPC code;
# a real etcd serves tests/cluster_etcd.rs.
apt_install protobuf-compiler etcd-server

# kurento-client 7.3 names a git dependency that cannot be fetched: the lock
# file maps it to the registry (package.json "overrides"), and no install
# scripts are needed.
npm ci --ignore-scripts --no-audit --no-fund --prefix crates/kms-sim/tests/js

# Operations artifacts (alert rules and their tests, dashboards, deployment
# files) with the real Prometheus, Alertmanager, promtool, amtool, systemd.
scripts/check-ops.sh

# The OpenAPI document of the HTTP API, with a real validator (PyPI
# openapi-spec-validator); tests/api_openapi.rs calls every route it documents.
if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
  python3 -m pip install --quiet 'openapi-spec-validator==0.9.0' ||
    python3 -m pip install --quiet --break-system-packages 'openapi-spec-validator==0.9.0'
fi
python3 -m openapi_spec_validator docs/openapi.yaml

# Cargo facts of the layout (docs/architecture.md): the protocol crate has
# no runtime, and the product without the `demo` feature has no simulator.
if cargo tree --locked -p kms-proto --prefix none | grep -q '^tokio '; then
  echo "kms-proto must not depend on tokio:" >&2
  cargo tree --locked -p kms-proto -i tokio >&2
  exit 1
fi
if cargo tree --locked -p kurento-exporter --no-default-features --prefix none | grep -q '^kms-sim '; then
  echo "kurento-exporter without the demo feature must not depend on kms-sim" >&2
  exit 1
fi

# Every crate, with the cluster feature (the default build is linted by .ci/run).
cargo test --workspace --locked --features kurento-exporter/cluster "$@"
