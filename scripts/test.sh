#!/usr/bin/env bash
# Runs every test of kurento-exporter. Installs what the tests need first:
# Node.js + npm (Debian packages, only when missing) and the pinned npm packages
# of the kurento-client conformance test (tests/js, lock file committed).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt.sh

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
# promtool (metrics and rule checks), a real Prometheus and Alertmanager.
apt_install prometheus prometheus-alertmanager

# kurento-client 7.3 names a git dependency that cannot be fetched: the lock
# file maps it to the registry (package.json "overrides"), and no install
# scripts are needed.
npm ci --ignore-scripts --no-audit --no-fund --prefix tests/js

# Operations artifacts (alert rules and their tests, dashboards, deployment
# files) with the real Prometheus, Alertmanager, promtool, amtool, systemd.
scripts/check-ops.sh

cargo test --locked "$@"
