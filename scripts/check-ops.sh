#!/usr/bin/env bash
# Self-check of the operations artifacts (issue 5): alert rules and their unit
# tests, Prometheus and Alertmanager configs, the systemd unit, Grafana
# dashboards and provisioning, docker-compose, Dockerfile and Kubernetes
# manifests, with the real tools (Debian packages prometheus,
# prometheus-alertmanager, systemd; python3 with PyYAML). Missing packages are
# installed with apt-get, like scripts/test.sh does. Needs no Rust build.
#
#   scripts/check-ops.sh            # every check; exit 1 if any fails
#
# Last line: "ops checks: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

. scripts/apt.sh
need=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# A python3 with PyYAML: the one on PATH, else Debian's with python3-yaml.
PY=python3
if ! python3 -c 'import yaml, tomllib' >/dev/null 2>&1; then
  PY=/usr/bin/python3
  need+=(python3 python3-yaml)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt_install "${need[@]}"
fi

PASSED=0
FAILED=0
FAILED_NAMES=()
# check NAME COMMAND...: run, print ok/FAIL with the command's output indented on failure.
check() {
  local name=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    PASSED=$((PASSED + 1))
    printf 'ok   %-58s %s\n' "$name" "$(printf '%s' "$out" | tail -n 1 | cut -c1-110)"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    printf 'FAIL %s\n' "$name"
    printf '%s\n' "$out" | sed 's/^/     /'
  fi
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- alert rules
check "promtool check rules" promtool check rules alerts/*.yml
check "promtool test rules" promtool test rules alerts/tests/*.yml
check "alerts: labels, annotations, runbooks, test coverage" "$PY" scripts/ops_check.py alert-meta
check "metric names and labels are the contract's" "$PY" scripts/ops_check.py contract

# --- Prometheus and Alertmanager configuration
check "promtool check config (host)" promtool check config deploy/prometheus.yml
compose_prom() {
  # the layout of the Prometheus container in deploy/docker-compose*.yml: $1 as prometheus.yml, alerts/ beside
  local dir="$TMP/compose-prom-$(basename "$1" .yml)"
  mkdir -p "$dir" && cp "$1" "$dir/prometheus.yml" &&
    cp -r alerts "$dir/alerts" && promtool check config "$dir/prometheus.yml" &&
    grep -q "SUCCESS: $(ls alerts/*.yml | wc -l) rule files found" <(promtool check config "$dir/prometheus.yml" 2>&1)
}
check "promtool check config (compose)" compose_prom deploy/compose/prometheus.yml
check "promtool check config (compose cluster)" compose_prom deploy/compose/prometheus-cluster.yml
check "amtool check-config" amtool check-config deploy/alertmanager.yml
am_routes() {
  local sev want got rc=0
  for pair in critical=pager warning=team-chat info=low-priority; do
    sev=${pair%%=*} want=${pair#*=}
    got=$(amtool config routes test --config.file=deploy/alertmanager.yml \
      alertname=KurentoTargetDown kms=kms-1 severity="$sev" 2>/dev/null)
    if [ "$got" != "$want" ]; then echo "severity=$sev routed to '$got', want '$want'"; rc=1; fi
  done
  [ $rc -eq 0 ] && echo "critical->pager warning->team-chat info->low-priority"
  return $rc
}
check "amtool routing by severity" am_routes
check "prometheus: loads rules, runs dashboard queries" "$PY" scripts/ops_check.py prometheus-live
check "alertmanager: starts with the config" "$PY" scripts/ops_check.py alertmanager-live
check "alerts end to end: prometheus -> alertmanager -> webhook" "$PY" scripts/ops_check.py alert-pipeline

# --- systemd unit
UNIT=deploy/systemd/kurento-exporter.service
unit_verify() {
  # systemd-analyze verify needs the ExecStart binaries to exist: rewrite them to /bin/true
  # in a copy. It exits 0 on unknown keys or bad values, so any output is a failure too.
  mkdir -p "$TMP/unit" && sed 's|/usr/local/bin/kurento-exporter|/bin/true|g' "$UNIT" >"$TMP/unit/kurento-exporter.service"
  local out
  out=$(systemd-analyze verify "$TMP/unit/kurento-exporter.service" 2>&1) || { echo "$out"; return 1; }
  [ -z "$out" ] || { echo "$out"; return 1; }
  echo "no warnings"
}
check "systemd-analyze verify" unit_verify
unit_hardening() {
  local rc=0 d
  mkdir -p "$TMP/unit" && sed 's|/usr/local/bin/kurento-exporter|/bin/true|g' "$UNIT" >"$TMP/unit/kurento-exporter.service"
  for d in 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'StateDirectory=kurento-exporter' \
    'ExecReload=/bin/kill -HUP $MAINPID' \
    'ExecStart=/usr/local/bin/kurento-exporter --config /etc/kurento-exporter/kurento-exporter.toml' \
    'CapabilityBoundingSet=' 'PrivateTmp=yes' 'ProtectHome=yes'; do
    grep -qxF -- "$d" "$UNIT" || { echo "missing: $d"; rc=1; }
  done
  # exposure score (0-100, shown /10): fail above 2.5
  systemd-analyze security --offline=true --threshold=25 "$TMP/unit/kurento-exporter.service" >"$TMP/sec" 2>&1 ||
    { tail -n 3 "$TMP/sec"; rc=1; }
  [ $rc -eq 0 ] && grep -o 'Overall exposure level.*' "$TMP/sec"
  return $rc
}
check "systemd unit hardening" unit_hardening

# --- Grafana
check "dashboards: JSON, ids, datasource, variables" "$PY" scripts/ops_check.py dashboards
check "node graph queries give the panel's fields" "$PY" scripts/ops_check.py nodegraph-queries
check "dashboard queries: data and known answers on two members' pages" "$PY" scripts/ops_check.py dashboard-data
check "grafana provisioning" "$PY" scripts/ops_check.py grafana-provisioning
check "dashboards: stat colours, ICE states, units, zombie links, 0/1 mappings" "$PY" scripts/ops_check.py dashboard-defects

# --- containers and Kubernetes
check "Dockerfile" "$PY" scripts/ops_check.py dockerfile
check "docker-compose" "$PY" scripts/ops_check.py compose
check "kubernetes manifests" "$PY" scripts/ops_check.py k8s
check "exposure: loopback ports, no default password, sidecar readiness" "$PY" scripts/ops_check.py exposure
rule_drift() { "$PY" scripts/gen-prometheusrule.py --check && echo "deploy/k8s/prometheusrule.yaml matches the generator"; }
check "PrometheusRule up to date (no drift)" rule_drift
check "PrometheusRule == alerts/ (parsed, promtool)" "$PY" scripts/ops_check.py k8s-rule-semantics

if [ $FAILED -gt 0 ]; then
  echo "failed: ${FAILED_NAMES[*]}"
fi
echo "ops checks: $PASSED passed, $FAILED failed"
[ $FAILED -eq 0 ]
