#!/usr/bin/env python3
"""Checks of the operations artifacts (issue 5), called by scripts/check-ops.sh.

    ops_check.py CHECK

Each CHECK prints what is wrong and exits 1, or exits 0. Needs PyYAML (Debian
package python3-yaml) for the YAML checks; the dashboard checks use the
standard library only. The "live" checks run the real promtool, prometheus and
alertmanager binaries (Debian packages prometheus, prometheus-alertmanager).
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULE_FILES = sorted(glob.glob(os.path.join(ROOT, "alerts", "*.yml")))
TEST_FILES = sorted(glob.glob(os.path.join(ROOT, "alerts", "tests", "*.yml")))
DASHBOARDS = sorted(glob.glob(os.path.join(ROOT, "grafana", "dashboards", "*.json")))
SEVERITIES = {"critical", "warning", "info"}
# Dashboards of the fleet view: only target-level and fleet families, no `pipeline` variable.
FLEET_DASHBOARDS = {"kurento-overview.json"}
DS_UID = "${datasource}"
PANEL_TYPES = {"timeseries", "stat", "table", "state-timeline", "nodeGraph", "gauge", "bargauge", "text",
               "status-history", "piechart", "logs"}

# Where alerts/README.md is published: every runbook_url is RUNBOOK_BASE#anchor
# (alerts/README.md, "Runbook links").
RUNBOOK_BASE = "https://runbooks.example.org/kurento-exporter/alerts/README.md"

problems = []


def problem(msg):
    problems.append(msg)


def yaml():
    import yaml as y  # PyYAML: imported late so that stdlib-only checks run without it
    return y


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml().safe_load(f)


def load_yaml_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml().safe_load_all(f) if d is not None]


def rel(path):
    return os.path.relpath(path, ROOT)


# --------------------------------------------------------------------------- alerts
def all_rules():
    for path in RULE_FILES:
        for group in load_yaml(path).get("groups", []):
            for rule in group.get("rules", []):
                yield path, group["name"], rule


def readme_anchors():
    """GitHub-style anchors of the headings of alerts/README.md."""
    anchors = set()
    with open(os.path.join(ROOT, "alerts", "README.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
            if m:
                text = m.group(1).strip().lower()
                text = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
                anchors.add(text)
    return anchors


def check_alert_meta():
    """Every alert: severity, summary, description, runbook_url with an anchor that exists
    in alerts/README.md; every alert (each severity) and recording rule exercised by the
    unit tests with a firing and a not-firing case."""
    anchors = readme_anchors()
    alerts, records = {}, set()
    for path, group, rule in all_rules():
        if "record" in rule:
            records.add(rule["record"])
            continue
        name = rule["alert"]
        sev = rule.get("labels", {}).get("severity")
        if sev not in SEVERITIES:
            problem(f"{rel(path)}: {name}: severity {sev!r} not in {sorted(SEVERITIES)}")
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problem(f"{rel(path)}: {name}: annotation {key} missing")
        url = ann.get("runbook_url", "")
        if not url.startswith(RUNBOOK_BASE + "#") or url.split("#", 1)[1] not in anchors:
            problem(f"{rel(path)}: {name}: runbook_url {url!r} is not {RUNBOOK_BASE}#<anchor of alerts/README.md>")
        elif url.split("#", 1)[1] != name.lower():
            problem(f"{rel(path)}: {name}: runbook_url anchor should be #{name.lower()}")
        alerts.setdefault(name, set()).add(sev)

    firing, quiet, exprs = {}, set(), set()
    for path in TEST_FILES:
        for test in load_yaml(path).get("tests", []):
            for case in test.get("alert_rule_test", []) or []:
                name = case["alertname"]
                exp = case.get("exp_alerts") or []
                if exp:
                    for a in exp:
                        firing.setdefault(name, set()).add(a.get("exp_labels", {}).get("severity"))
                else:
                    quiet.add(name)
            for case in test.get("promql_expr_test", []) or []:
                exprs.add(case["expr"])
    for name, sevs in sorted(alerts.items()):
        missing = sevs - firing.get(name, set())
        if missing:
            problem(f"{name}: no unit test where it fires with severity {sorted(missing)}")
        if name not in quiet:
            problem(f"{name}: no unit test where it does not fire")
    for rec in sorted(records):
        if not any(rec in e for e in exprs):
            problem(f"recording rule {rec}: no promql_expr_test")
    print(f"{sum(len(s) for s in alerts.values())} alerts ({len(alerts)} names), {len(records)} recording rules, "
          f"{len(TEST_FILES)} test files")


def check_k8s_rule_semantics():
    """The generated PrometheusRule holds exactly the groups of alerts/*.yml, and
    they pass promtool check rules when extracted."""
    groups = []
    for path in RULE_FILES:
        groups.extend(load_yaml(path)["groups"])
    doc = load_yaml(os.path.join(ROOT, "deploy", "k8s", "prometheusrule.yaml"))
    if doc.get("kind") != "PrometheusRule" or doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problem("deploy/k8s/prometheusrule.yaml: not a monitoring.coreos.com/v1 PrometheusRule")
    if doc.get("spec", {}).get("groups") != groups:
        problem("deploy/k8s/prometheusrule.yaml: spec.groups differ from the groups of alerts/*.yml")
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "extracted.yml")
        with open(f, "w") as out:
            yaml().safe_dump({"groups": doc.get("spec", {}).get("groups", [])}, out)
        r = subprocess.run(["promtool", "check", "rules", f], capture_output=True, text=True)
        if r.returncode != 0:
            problem("promtool check rules on the PrometheusRule's groups failed:\n" + r.stdout + r.stderr)
    print(f"{len(groups)} groups identical; promtool accepts them")


# --------------------------------------------------------------------------- dashboards
def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        for sub in p.get("panels", []) or []:  # collapsed rows
            yield sub


def check_dashboards():
    """Valid JSON; unique panel ids; every panel and target uses the templated datasource;
    `datasource`, `kms` and (but on the fleet overview) `pipeline` variables; unique dashboard uids; the pipeline
    dashboard has a nodeGraph panel with table-format queries `nodes` and `edges` that
    produce the Node Graph field names as labels."""
    if len(DASHBOARDS) < 3:
        problem(f"expected 3 dashboards in grafana/dashboards, found {len(DASHBOARDS)}")
    uids = {}
    node_graphs = 0
    for path in DASHBOARDS:
        name = rel(path)
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            problem(f"{name}: invalid JSON: {e}")
            continue
        uid = dash.get("uid")
        if not uid or uid in uids:
            problem(f"{name}: missing or duplicate uid {uid!r}")
        uids[uid] = name
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problem(f"{name}: no `datasource` variable of type datasource/prometheus")
        for var in ("kms",) if os.path.basename(path) in FLEET_DASHBOARDS else ("kms", "pipeline"):
            v = variables.get(var)
            if not v:
                problem(f"{name}: no `{var}` template variable")
            elif v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != DS_UID:
                problem(f"{name}: variable {var} does not use the templated datasource")
        ids = set()
        panels = list(panels_of(dash))
        if not panels:
            problem(f"{name}: no panels")
        for p in panels:
            pid, title = p.get("id"), p.get("title")
            if not isinstance(pid, int) or pid in ids:
                problem(f"{name}: panel {title!r}: missing or duplicate id {pid!r}")
            ids.add(pid)
            if p.get("type") == "row":
                continue
            if p.get("type") == "text":
                # A legend: markdown only, no data.
                if (p.get("options") or {}).get("mode") != "markdown" or p.get("targets"):
                    problem(f"{name}: panel {pid} {title!r}: a text panel is markdown without queries")
                continue
            if p.get("type") not in PANEL_TYPES:
                problem(f"{name}: panel {pid} {title!r}: type {p.get('type')!r} is not a core Grafana panel")
            if (p.get("datasource") or {}).get("uid") != DS_UID:
                problem(f"{name}: panel {pid} {title!r}: datasource is not {DS_UID}")
            targets = p.get("targets") or []
            if not targets:
                problem(f"{name}: panel {pid} {title!r}: no queries")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                problem(f"{name}: panel {pid} {title!r}: duplicate refIds {refs}")
            for t in targets:
                if (t.get("datasource") or {}).get("uid") != DS_UID:
                    problem(f"{name}: panel {pid} {title!r} query {t.get('refId')}: datasource is not {DS_UID}")
                if not (t.get("expr") or "").strip():
                    problem(f"{name}: panel {pid} {title!r} query {t.get('refId')}: empty expr")
            if p.get("type") == "nodeGraph":
                node_graphs += 1
                by_ref = {t.get("refId"): t for t in targets}
                for ref, fields in (("nodes", ("id", "title", "subtitle", "mainstat", "color")),
                                    ("edges", ("id", "source", "target"))):
                    t = by_ref.get(ref)
                    if not t:
                        problem(f"{name}: nodeGraph panel {pid}: no query with refId {ref!r}")
                        continue
                    if t.get("format") != "table":
                        problem(f"{name}: nodeGraph panel {pid}: query {ref} is not in table format")
                    if not t.get("instant"):
                        problem(f"{name}: nodeGraph panel {pid}: query {ref} is not instant")
                    for field in fields:
                        if f'"{field}"' not in t["expr"] and field != "source":
                            problem(f"{name}: nodeGraph panel {pid}: query {ref} never sets label {field!r}")
                if p.get("transformations"):
                    problem(f"{name}: nodeGraph panel {pid}: transformations are ignored by the Node Graph panel")
    if node_graphs < 1:
        problem("no dashboard has a nodeGraph panel")
    print(f"{len(DASHBOARDS)} dashboards, {sum(len(list(panels_of(json.load(open(p))))) for p in DASHBOARDS)} panels")


def dashboard_exprs(substitute=True):
    """(dashboard, panel title, refId, expr) of every query, Grafana variables replaced."""
    subs = [("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"),
            ("${kms}", "kms-1"), ("$kms", "kms-1"), ("${pipeline}", "p1"), ("$pipeline", "p1")]
    for path in DASHBOARDS:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        for p in panels_of(dash):
            for t in p.get("targets", []) or []:
                e = t.get("expr", "")
                if substitute:
                    for a, b in subs:
                        e = e.replace(a, b)
                yield rel(path), p.get("title"), t.get("refId"), e
        for v in dash.get("templating", {}).get("list", []):
            q = v.get("definition") if v.get("type") == "query" else None
            if q:
                m = re.match(r"label_values\((.*),\s*\w+\)$", q)
                e = m.group(1) if m else q
                for a, b in subs:
                    e = e.replace(a, b)
                yield rel(path), f"variable {v['name']}", "-", e


# --------------------------------------------------------------------------- node graph
NG_KMS, NG_PIPE = "kms-1", "p1"
# Short ids (the UUID part of the KMS id: label values of element, source, sink) and the
# full KMS ids (kurento_element_info's `id`).
EL_A, EL_B = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
EL_P, EL_H = "cccccccc-0000-4000-8000-000000000003", "dddddddd-0000-4000-8000-000000000004"
FULL = {el: f"{NG_PIPE}_kurento.MediaPipeline/{el}_kurento.{t}" for el, t in (
    (EL_A, "WebRtcEndpoint"), (EL_B, "WebRtcEndpoint"), (EL_P, "PlayerEndpoint"), (EL_H, "HubPort"))}


def _series(metric, values, **labels):
    lab = {"kms": NG_KMS}
    lab.update(labels)
    lab.update({"job": "kurento-exporter", "instance": "exporter:9787"})
    return {"series": metric + "{" + ",".join(f'{k}="{v}"' for k, v in lab.items()) + "}", "values": values}


def _labels(**labels):
    lab = dict(labels)
    lab.setdefault("job", "kurento-exporter")
    lab.setdefault("instance", "exporter:9787")
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(lab.items())) + "}"


def check_nodegraph_queries():
    """Evaluates the Pipeline detail dashboard's node graph queries with promtool on a
    synthetic pipeline in the issue 12 contract (short ids; per-element series without a
    pipeline label, joined to kurento_element_info; one connection series per (source, sink)
    with the set of media types): player -> A -> B; A receives 1.2 Mb/s video + 48 kb/s
    audio (exported in bytes/s) and sends 300 kb/s; B's peer sends nothing;
    an element of another pipeline and one of another KMS with the same short id stay out.
    Compares every node's and edge's fields."""
    queries = {}
    for path in DASHBOARDS:
        for p in panels_of(json.load(open(path, encoding="utf-8"))):
            if p.get("type") == "nodeGraph":
                for t in p.get("targets", []):
                    queries[t["refId"]] = t["expr"].replace("$kms", NG_KMS).replace("$pipeline", NG_PIPE)
    if set(queries) != {"nodes", "edges"}:
        problem(f"node graph queries: expected refIds nodes and edges, found {sorted(queries)}")
        return

    def info(el, etype, **extra):
        return _series("kurento_element_info", "1x5", pipeline=NG_PIPE, element=el, element_type=etype, id=FULL[el],
                       room="r1", **extra)

    def conn(src, dst, media):
        return _series("kurento_element_connection_info", "1x5", pipeline=NG_PIPE, source=src, sink=dst, media=media)

    series = [
        info(EL_A, "WebRtcEndpoint"),  # no name label: its name is its id
        info(EL_B, "WebRtcEndpoint", name="bob"),
        info(EL_P, "PlayerEndpoint"),
        # another pipeline and another KMS must not leak in
        _series("kurento_element_info", "1x5", pipeline="p2", element="X", element_type="WebRtcEndpoint",
                id="p2_kurento.MediaPipeline/X_kurento.WebRtcEndpoint", name="x", room="r2"),
        _series("kurento_rtp_receive_bitrate_bytes_per_second", "99000x5", element="X", media="VIDEO"),
        _series("kurento_media_flowing", "1x5", element="X", media="VIDEO", direction="out"),
        _series("kurento_element_info", "1x5", kms="kms-2", pipeline=NG_PIPE, element=EL_A, element_type="WebRtcEndpoint",
                id=FULL[EL_A], room="r1"),
        _series("kurento_rtp_receive_bitrate_bytes_per_second", "77000x5", kms="kms-2", element=EL_A, media="VIDEO"),
        _series("kurento_rtp_receive_bitrate_bytes_per_second", "150000x5", element=EL_A, media="VIDEO"),
        _series("kurento_rtp_receive_bitrate_bytes_per_second", "6000x5", element=EL_A, media="AUDIO"),
        _series("kurento_rtp_send_bitrate_bytes_per_second", "37500x5", element=EL_A, media="VIDEO"),
        _series("kurento_rtp_receive_bitrate_bytes_per_second", "0x5", element=EL_B, media="VIDEO"),
        _series("kurento_media_flowing", "1x5", element=EL_A, media="VIDEO", direction="out"),
        _series("kurento_media_flowing", "1x5", element=EL_A, media="VIDEO", direction="in"),
        _series("kurento_media_flowing", "0x5", element=EL_B, media="VIDEO", direction="out"),
        _series("kurento_media_flowing", "0x5", element=EL_B, media="VIDEO", direction="in"),
        _series("kurento_media_flowing", "1x5", element=EL_P, media="VIDEO", direction="out"),
        conn(EL_P, EL_A, "VIDEO"),
        conn(EL_A, EL_B, "AUDIO,DATA,VIDEO"),
        conn(EL_B, EL_H, "AUDIO,VIDEO"),
        # no rate at either end: no bitrate, grey
        conn(EL_H, EL_B, "AUDIO"),
        # B's peer is gone: a zombie verdict (the rule is the node's subtitle)
        _series("kurento_zombie", "1x5", pipeline=NG_PIPE, element=EL_B, element_type="WebRtcEndpoint",
                rule="webrtc-peer-gone", because=""),
        # a hub port that carries nothing measured: live, idle
        info(EL_H, "HubPort", hub="eeeeeeee-0000-4000-8000-000000000005"),
    ]

    def node(el, etype, mainstat, look, title, rule=None, **extra):
        extra.update({"rule": rule, "subtitle": rule} if rule else {"subtitle": etype})
        return {"labels": _labels(kms=NG_KMS, pipeline=NG_PIPE, element=el, element_type=etype, room="r1",
                                  id=el, kms_id=FULL[el], title=title, mainstat=mainstat,
                                  color={"zombie": "red", "flowing": "green", "idle": "gray"}[look], **extra),
                "value": 1}

    def edge(src, dst, media, kbps=None):
        lab = dict(kms=NG_KMS, pipeline=NG_PIPE, source=src, sink=dst, media=media, id=f"{src} -> {dst}",
                   target=dst, mainstat=f"{media} {kbps} kb/s" if kbps else media,
                   rate=f"{media} {kbps}" if kbps else f"{media} ",
                   color="green" if kbps and kbps != "0" else "gray")
        if kbps:
            lab["kbps"] = kbps
        else:
            lab["__name__"] = "kurento_element_connection_info"
        return {"labels": _labels(**lab), "value": 1}

    exp_nodes = [node(EL_A, "WebRtcEndpoint", "1548 kb/s", "flowing", "aaaaaaaa"),
                 node(EL_B, "WebRtcEndpoint", "0 kb/s", "zombie", "bob", rule="webrtc-peer-gone", name="bob"),
                 node(EL_P, "PlayerEndpoint", "0 kb/s", "flowing", "cccccccc"),
                 node(EL_H, "HubPort", "0 kb/s", "idle", "dddddddd", hub="eeeeeeee-0000-4000-8000-000000000005")]
    # one edge per (source, sink); its rate: its source's receive rate summed over media,
    # else its sink's send rate
    exp_edges = [edge(EL_P, EL_A, "VIDEO", "300"), edge(EL_A, EL_B, "AUDIO,DATA,VIDEO", "1248"),
                 edge(EL_B, EL_H, "AUDIO,VIDEO", "0"), edge(EL_H, EL_B, "AUDIO")]
    doc = {"rule_files": [], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": [
               {"expr": queries["nodes"], "eval_time": "2m", "exp_samples": exp_nodes},
               {"expr": queries["edges"], "eval_time": "2m", "exp_samples": exp_edges}]}]}
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "nodegraph_test.yml")
        with open(f, "w") as out:
            yaml().safe_dump(doc, out, sort_keys=False, width=1000)
        r = subprocess.run(["promtool", "test", "rules", f], capture_output=True, text=True)
        if r.returncode != 0:
            problem("node graph queries do not give the expected fields:\n" + r.stdout + r.stderr)
    # the field names the Node Graph panel reads are all there
    for lab in (exp_nodes[0]["labels"],):
        for field in ("id", "title", "subtitle", "mainstat", "color"):
            assert f'{field}="' in lab
    print(f"{len(exp_nodes)} nodes, {len(exp_edges)} edges checked")


# --------------------------------------------------------------------------- metric contract
# The metric names and labels the rules, their tests and the dashboards may use: the lean
# default contract of issue 12 (README "Metrics"). `element`, `pipeline`, `source`, `sink`
# and `hub` values are short ids (the UUID part of a KMS id). Everything static about an
# element is on kurento_element_info only (join it `* on (kms, element) group_left (...)`);
# other per-element series carry kms, element and their own variant labels, no pipeline.
# `*` = any further labels allowed (configured tag labels of kurento_element_info).
_EL = ("kms", "element")
_RTP = _EL + ("media",)
CONTRACT = {
    "kurento_up": ("kms",), "kurento_server_info": ("kms", "version"), "kurento_pipelines": ("kms",),
    "kurento_elements": ("kms", "element_type"), "kurento_sessions": ("kms",),
    "kurento_server_cpu_ratio": ("kms",), "kurento_server_memory_bytes": ("kms",),
    "kurento_element_info": ("kms", "pipeline", "element", "element_type", "id", "name", "pipeline_name", "hub", "*"),
    "kurento_element_created_timestamp_seconds": _EL,
    # one series per (source, sink); media = the sorted, comma-joined set ("AUDIO,DATA,VIDEO")
    "kurento_element_connection_info": ("kms", "pipeline", "source", "sink", "media"),
    "kurento_media_flowing": _RTP + ("direction",),
    **{f"kurento_rtp_{m}": _RTP for m in (
        "received_bytes_total", "sent_bytes_total", "lost_packets_total", "jitter_seconds", "round_trip_time_seconds",
        "receive_bitrate_bytes_per_second", "send_bitrate_bytes_per_second")},
    "kurento_ice_connection_state": _EL + ("state",),
    "kurento_media_connected": _EL, "kurento_connection_connected": _EL,
    "kurento_exporter_build_info": ("version", "revision", "rustc_version"),
    "kurento_exporter_config_last_reload_successful": (),
    "kurento_exporter_config_last_reload_success_timestamp_seconds": (),
    **{f"kurento_exporter_sync_duration_seconds{s}": ("kms",) + (("le",) if s == "_bucket" else ())
       for s in ("_bucket", "_sum", "_count")},
    "kurento_exporter_rpc_requests_total": ("kms", "method", "outcome"),
    **{f"kurento_exporter_rpc_duration_seconds{s}": ("kms", "method") + (("le",) if s == "_bucket" else ())
       for s in ("_bucket", "_sum", "_count")},
    "kurento_exporter_last_sync_timestamp_seconds": ("kms",),
    "kurento_exporter_errors_total": ("kms", "kind"),
    "kurento_zombie": ("kms", "pipeline", "element", "element_type", "rule", "because"), "kurento_zombies": ("kms", "rule"),
    "kurento_fleet_endpoints": ("kms", "ice_state", "media_state", "flowing"),
    **{f"kurento_fleet_endpoint_{m}{s}": ("kms",) + (("le",) if s == "_bucket" else ())
       for m in ("loss_ratio", "jitter_seconds", "round_trip_time_seconds", "receive_bitrate_bytes_per_second")
       for s in ("_bucket", "_sum", "_count")},
    "kurento_reaper_actions_total": ("kms", "rule", "action", "outcome"),
    "kurento_reaper_mode": ("kms", "mode"),
    "kurento_probe_success": ("kms",), "kurento_probe_duration_seconds": ("kms", "phase"),
    "kurento_probe_last_run_timestamp_seconds": ("kms",),
    "kurento_probe_failures_total": ("kms", "phase"),
    # members of a cluster ([cluster], feature `cluster`; README "Running several members"): every member's
    # own page; target_owned has one series per configured target on every member (1 on its owner)
    "kurento_exporter_cluster_member_info": ("member",), "kurento_exporter_cluster_members": (),
    "kurento_exporter_cluster_membership_revision": (), "kurento_exporter_cluster_target_owned": ("kms",),
    "kurento_exporter_cluster_etcd_up": (), "kurento_exporter_cluster_lease_valid": (),
    "kurento_exporter_cluster_lock_requests_total": ("outcome",),
    "kurento_exporter_cluster_etcd_errors_total": ("op",),
    "kurento_exporter_cluster_lease_grants_total": (), "kurento_exporter_cluster_ownership_changes_total": (),
}
# Families off by default, on with `[metrics] families = [...]` in the exporter's config
# (the name there -> its series). The alert rules never use them (they must work on the
# default page); a dashboard panel may, when its description names the `[metrics]` key.
OPT_IN = {
    "packets": {m: _RTP for m in ("kurento_rtp_received_packets_total", "kurento_rtp_sent_packets_total")},
    "fraction_lost": {"kurento_rtp_fraction_lost_ratio": _RTP},
    "feedback": {m: _RTP + ("direction",) for m in ("kurento_rtp_nacks_total", "kurento_rtp_plis_total",
                                                      "kurento_rtp_firs_total")},
    "remb": {"kurento_rtp_remb_bytes_per_second": _RTP + ("direction",)},
    "target_bitrate": {"kurento_rtp_target_bitrate_bytes_per_second": _RTP},
    "e2e_latency": {"kurento_endpoint_e2e_latency_seconds": _RTP},
}
OPT_IN_METRICS = {m: labels for fam in OPT_IN.values() for m, labels in fam.items()}
# Per-element families (an element, source or sink label): never on the fleet overview.
PER_ELEMENT = {m for m, labels in {**CONTRACT, **OPT_IN_METRICS}.items() if {"element", "source"} & set(labels)}
TARGET_LABELS = {"job", "instance"}


def contract_problems(where, expr, allow_target_labels=True, opt_in=False):
    """opt_in: the expression may use the opt-in families (a dashboard panel that says so)."""
    known = {**CONTRACT, **OPT_IN_METRICS} if opt_in else CONTRACT
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)           # label values and regexes out
    bare = re.sub(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", "", bare)  # recording rule names out
    for name in re.findall(r"\bkurento_[a-z0-9_]+\b", bare):
        if name in OPT_IN_METRICS and not opt_in:
            problem(f"{where}: metric {name} is an opt-in family (off by default): not in the default contract")
        elif name not in known:
            problem(f"{where}: metric {name} is not in the contract (issue 12)")
    for name, body in re.findall(r"\b(kurento_[a-z0-9_]+)\s*\{([^}]*)\}", bare):
        allowed = set(known.get(name, ())) | (TARGET_LABELS if allow_target_labels else set())
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body):
            if "*" not in allowed and label not in allowed:
                problem(f"{where}: {name} has no label {label!r} in the contract")
    # the only way to reach a metric by regex is the bitrate pair of the node graph
    for rx in re.findall(r'__name__\s*=~\s*"([^"]*)"', expr):
        names = [n for n in known if re.fullmatch(rx, n)]
        if not names:
            problem(f"{where}: __name__ regex {rx!r} matches no contract metric")


def check_contract():
    """Every metric and selector label used by the rules, their unit tests and the
    dashboards is one of the default contract's (issue 12); opt-in families only in dashboard
    panels whose description names the `[metrics]` key; the fleet overview reads no
    per-element series."""
    n = 0
    for path, group, rule in all_rules():
        contract_problems(f"{rel(path)}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        n += 1
    for path in TEST_FILES:
        for test in load_yaml(path).get("tests", []):
            for s in test.get("input_series", []):
                contract_problems(f"{rel(path)}: input series", s["series"])
                n += 1
    for path in DASHBOARDS:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        fleet = os.path.basename(path) in FLEET_DASHBOARDS
        queries = [(p.get("title"), t.get("refId"), t.get("expr", ""), "[metrics]" in (p.get("description") or ""))
                   for p in panels_of(dash) for t in p.get("targets", []) or []]
        queries += [(f"variable {v['name']}", "-", v.get("definition") or "", False)
                    for v in dash.get("templating", {}).get("list", []) if v.get("type") == "query"]
        for title, ref, expr, opt_in in queries:
            where = f"{rel(path)}: {title} [{ref}]"
            contract_problems(where, expr, opt_in=opt_in)
            n += 1
            if fleet:
                bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
                for name in sorted(set(re.findall(r"\bkurento_[a-z0-9_]+\b", bare)) & PER_ELEMENT):
                    problem(f"{where}: {name} is a per-element series: the fleet view reads fleet families only")
    print(f"{n} expressions and series use contract metric names and labels only; "
          f"{', '.join(sorted(FLEET_DASHBOARDS))} reads no per-element series")


# --------------------------------------------------------------------------- live servers
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_ready(url, proc, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            status, _ = http_get(url, timeout=2)
            if status == 200:
                return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    return False


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_prometheus_live():
    """Starts the real Prometheus on a loopback port with deploy/prometheus.yml (rules from
    alerts/), checks that every rule is loaded and healthy, and runs every dashboard query
    (Grafana variables replaced) through the query API: each must parse and evaluate."""
    tmp = tempfile.mkdtemp(prefix="ops-prom-")
    port = free_port()
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", f"--config.file={os.path.join(ROOT, 'deploy', 'prometheus.yml')}",
                             f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={tmp}/data",
                             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base + "/-/ready", proc):
            log.flush()
            problem("prometheus did not become ready:\n" + open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
            return
        expected = sum(1 for _ in all_rules())
        loaded, unhealthy = 0, []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            _, body = http_get(base + "/api/v1/rules")
            rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
            loaded = len(rules)
            unhealthy = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") == "err"]
            if loaded == expected:
                break
            time.sleep(0.5)
        if loaded != expected:
            problem(f"prometheus loaded {loaded} rules, alerts/ has {expected}")
        if unhealthy:
            problem("rules failing in prometheus: " + "; ".join(unhealthy))
        n = 0
        for dash, title, ref, expr in dashboard_exprs():
            n += 1
            url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            try:
                http_get(url)
            except urllib.error.HTTPError as e:
                problem(f"{dash}: {title} [{ref}]: {json.loads(e.read().decode()).get('error')}")
        print(f"{loaded} rules loaded; {n} dashboard queries parsed by prometheus")
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check_alertmanager_live():
    """Starts the real Alertmanager on loopback with deploy/alertmanager.yml and checks that
    it is ready and serves the configuration it loaded."""
    tmp = tempfile.mkdtemp(prefix="ops-am-")
    port = free_port()
    log = open(os.path.join(tmp, "alertmanager.log"), "w")
    proc = subprocess.Popen(["prometheus-alertmanager" if shutil.which("prometheus-alertmanager") else "alertmanager",
                             f"--config.file={os.path.join(ROOT, 'deploy', 'alertmanager.yml')}",
                             f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={tmp}/data",
                             "--cluster.listen-address=", "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(base + "/-/ready", proc):
            log.flush()
            problem("alertmanager did not become ready:\n" + open(os.path.join(tmp, "alertmanager.log")).read()[-3000:])
            return
        _, body = http_get(base + "/api/v2/status")
        cfg = json.loads(body)["config"]["original"]
        for receiver in ("pager", "team-chat", "low-priority"):
            if f"name: {receiver}" not in cfg:
                problem(f"alertmanager's loaded config has no receiver {receiver}")
        print("alertmanager ready with deploy/alertmanager.yml")
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check_alert_pipeline():
    """Real Prometheus -> real Alertmanager -> webhook, end to end, on loopback. A small HTTP
    server serves a /metrics page with contract metrics (KMS kms-1 down and 12 zombie
    endpoints on it, 12 zombie endpoints on kms-2); Prometheus scrapes it as job
    kurento-exporter with alerts/*.yml (`for:` shortened to 1s in a copy); Alertmanager runs
    deploy/alertmanager.yml with only the receivers' URLs pointed at the webhook and the
    group timers shortened. Expects: KurentoTargetDown (critical) at the pager receiver,
    KurentoZombieEndpointsAccumulating for kms-2 (warning) at team-chat, the kms-1 one
    inhibited by the target being down; then, once kms-1 is up again, a resolved
    KurentoTargetDown at the pager."""
    import http.server
    import threading

    y = yaml()
    state = {"kms1_up": 0}
    received = []  # (path, status, alertname, kms)
    lock = threading.Lock()

    def page():
        lines = ["# HELP kurento_up 1 when the target is connected and its last sync succeeded.",
                 "# TYPE kurento_up gauge",
                 f'kurento_up{{kms="kms-1"}} {state["kms1_up"]}', 'kurento_up{kms="kms-2"} 1',
                 "# HELP kurento_zombie 1 per object flagged as a zombie.", "# TYPE kurento_zombie gauge"]
        for kms in ("kms-1", "kms-2"):
            for i in range(12):
                lines.append(f'kurento_zombie{{kms="{kms}",pipeline="p{i % 3}",element="e{i}",'
                             f'element_type="WebRtcEndpoint",rule="no-peer-media"}} 1')
        return ("\n".join(lines) + "\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with lock:
                for a in data.get("alerts", []):
                    received.append((self.path, a["status"], a["labels"].get("alertname"), a["labels"].get("kms")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hport = server.server_address[1]
    tmp = tempfile.mkdtemp(prefix="ops-e2e-")
    procs = []
    try:
        os.makedirs(os.path.join(tmp, "alerts"))
        for path in RULE_FILES:
            with open(path) as f:
                text = re.sub(r"(?m)^(\s+for:\s*)\S+", r"\g<1>1s", f.read())
            with open(os.path.join(tmp, "alerts", os.path.basename(path)), "w") as f:
                f.write(text)
        am = load_yaml(os.path.join(ROOT, "deploy", "alertmanager.yml"))
        am["route"].update(group_wait="1s", group_interval="1s")
        for r in am["route"].get("routes", []):
            r.pop("group_interval", None)
        for rcv in am["receivers"]:
            for wh in rcv.get("webhook_configs", []):
                wh["url"] = f"http://127.0.0.1:{hport}/{rcv['name']}"
        with open(os.path.join(tmp, "alertmanager.yml"), "w") as f:
            y.safe_dump(am, f)
        amport, pport = free_port(), free_port()
        prom = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["alerts/*.yml"],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{amport}"]}]}]},
                "scrape_configs": [{"job_name": "kurento-exporter",
                                    "static_configs": [{"targets": [f"127.0.0.1:{hport}"]}]}]}
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            y.safe_dump(prom, f)
        amlog = open(os.path.join(tmp, "am.log"), "w")
        prlog = open(os.path.join(tmp, "prom.log"), "w")
        amp = subprocess.Popen(["prometheus-alertmanager" if shutil.which("prometheus-alertmanager") else "alertmanager",
                                f"--config.file={tmp}/alertmanager.yml", f"--web.listen-address=127.0.0.1:{amport}",
                                f"--storage.path={tmp}/am", "--cluster.listen-address="],
                               stdout=amlog, stderr=subprocess.STDOUT)
        procs.append(amp)
        prp = subprocess.Popen(["prometheus", f"--config.file={tmp}/prometheus.yml",
                                f"--web.listen-address=127.0.0.1:{pport}", f"--storage.tsdb.path={tmp}/prom"],
                               stdout=prlog, stderr=subprocess.STDOUT)
        procs.append(prp)
        if not wait_ready(f"http://127.0.0.1:{amport}/-/ready", amp) or \
                not wait_ready(f"http://127.0.0.1:{pport}/-/ready", prp):
            problem("prometheus or alertmanager did not start")
            return

        def wait_for(pred, seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                with lock:
                    if pred(list(received)):
                        return True
                time.sleep(0.3)
            return False

        want_firing = {("/pager", "firing", "KurentoTargetDown", "kms-1"),
                       ("/team-chat", "firing", "KurentoZombieEndpointsAccumulating", "kms-2")}
        if not wait_for(lambda got: want_firing <= set(got), 90):
            problem(f"firing notifications: want {sorted(want_firing)}, got {sorted(set(received))}")
            return
        q = 'ALERTS{alertname="KurentoZombieEndpointsAccumulating", kms="kms-1", alertstate="firing"}'
        _, body = http_get(f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        if not json.loads(body)["data"]["result"]:
            problem("the kms-1 zombie alert is not firing in prometheus: the inhibition is not tested")
        time.sleep(3)  # time for an un-inhibited kms-1 zombie notification to show up
        with lock:
            leaked = [r for r in received if r[2] == "KurentoZombieEndpointsAccumulating" and r[3] == "kms-1"]
            wrong = [r for r in received if r[2] == "KurentoTargetDown" and r[0] != "/pager"]
        if leaked:
            problem(f"the kms-1 zombie alert was not inhibited by KurentoTargetDown: {leaked}")
        if wrong:
            problem(f"KurentoTargetDown reached other receivers than the pager: {wrong}")
        state["kms1_up"] = 1
        want_resolved = ("/pager", "resolved", "KurentoTargetDown", "kms-1")
        if not wait_for(lambda got: want_resolved in got, 90):
            problem(f"no resolved KurentoTargetDown at the pager; got {sorted(set(received))}")
            return
        print(f"{len(received)} webhook notifications: firing critical->pager, warning->team-chat, "
              "inhibition, resolved")
    finally:
        for p in reversed(procs):
            stop(p)
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- dashboards on data
# A KMS target in the issue 12 contract: pipeline DATA_P1 (named "room-1") with two WebRTC
# endpoints (alice flowing, B whose peer is gone: a zombie, ICE FAILED) and a hub port, and
# an empty zombie pipeline DATA_P2. Short ids everywhere; the full ids only on
# kurento_element_info's `id`.
DATA_KMS = "kms-1"
DATA_P1, DATA_P2 = "11111111-0000-4000-8000-00000000000a", "22222222-0000-4000-8000-00000000000b"
DATA_A, DATA_B = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
DATA_HUB, DATA_H = "cccccccc-0000-4000-8000-000000000003", "dddddddd-0000-4000-8000-000000000004"
# Dashboard queries without data on the default page, and why.
DATA_EXPECTED_EMPTY = {
    ("kurento-pipeline.json", "End-to-end latency", "A"): "opt-in family e2e_latency",
}
# The node graph's edges on data_page, one per (source, sink): (id, mainstat, color). A
# receives 10 kB/s audio + 10 kB/s video: 160 kb/s; H -> B: H has no rate, B sends 0.
DATA_EDGES = sorted([(f"{DATA_A} -> {DATA_H}", "AUDIO,VIDEO 160 kb/s", "green"),
                     (f"{DATA_H} -> {DATA_B}", "AUDIO,DATA,VIDEO 0 kb/s", "gray")])


def data_page(t):
    """The exporter's page `t` seconds after the start: counters grow with t."""
    k = f'kms="{DATA_KMS}"'
    full = lambda el, ty: f"{DATA_P1}_kurento.MediaPipeline/{el}_kurento.{ty}"  # noqa: E731
    lines = [f"kurento_up{{{k}}} 1", 'kurento_up{kms="kms-2"} 0',
             f'kurento_server_info{{{k},version="7.1.1"}} 1', f"kurento_pipelines{{{k}}} 2",
             f"kurento_sessions{{{k}}} 1", f"kurento_server_cpu_ratio{{{k}}} 0.2",
             f"kurento_server_memory_bytes{{{k}}} 1e9",
             f'kurento_elements{{{k},element_type="WebRtcEndpoint"}} 2', f'kurento_elements{{{k},element_type="HubPort"}} 1',
             f'kurento_elements{{{k},element_type="Composite"}} 1',
             f'kurento_zombies{{{k},rule="webrtc-peer-gone"}} 1', f'kurento_zombies{{{k},rule="empty-pipeline"}} 1',
             f'kurento_reaper_mode{{{k},mode="dry-run"}} 1',
             f'kurento_fleet_endpoints{{{k},ice_state="READY",media_state="CONNECTED",flowing="true"}} 1',
             f'kurento_fleet_endpoints{{{k},ice_state="FAILED",media_state="DISCONNECTED",flowing="false"}} 1',
             f"kurento_exporter_last_sync_timestamp_seconds{{{k}}} {time.time():.3f}"]
    n = int(t * 10)
    for rule, action, outcome in (("webrtc-peer-gone", "release", "ok"), ("webrtc-peer-gone", "release", "failed"),
                                  ("webrtc-peer-gone", "would_release", "dry_run")):
        lines.append(f'kurento_reaper_actions_total{{{k},rule="{rule}",action="{action}",outcome="{outcome}"}} {n}')
    for outcome in ("ok", "timeout"):
        lines.append(f'kurento_exporter_rpc_requests_total{{{k},method="invoke",outcome="{outcome}"}} {n}')
    lines.append(f'kurento_exporter_errors_total{{{k},kind="timeout"}} {n}')

    def hist(name, bounds, value, per_tick, labels=k):
        for b in bounds + ["+Inf"]:
            c = n * per_tick if b == "+Inf" or value <= float(b) else 0
            lines.append(f'{name}_bucket{{{labels},le="{b}"}} {c}')
        lines.append(f"{name}_sum{{{labels}}} {n * per_tick * value}")
        lines.append(f"{name}_count{{{labels}}} {n * per_tick}")

    hist("kurento_exporter_sync_duration_seconds", ["0.01", "0.1", "1", "5"], 0.05, 1)
    hist("kurento_fleet_endpoint_loss_ratio", ["0.01", "0.05", "0.1"], 0.08, 2)
    hist("kurento_fleet_endpoint_jitter_seconds", ["0.01", "0.03", "0.1"], 0.02, 2)
    hist("kurento_fleet_endpoint_round_trip_time_seconds", ["0.1", "0.3", "1"], 0.05, 1)
    hist("kurento_fleet_endpoint_receive_bitrate_bytes_per_second", ["16000", "64000", "256000"], 150000, 2)
    p1 = f'pipeline="{DATA_P1}"'
    lines += [
        f'kurento_element_info{{{k},{p1},pipeline_name="room-1",element="{DATA_A}",element_type="WebRtcEndpoint",'
        f'id="{full(DATA_A, "WebRtcEndpoint")}",name="alice",room="room-1"}} 1',
        f'kurento_element_info{{{k},{p1},pipeline_name="room-1",element="{DATA_B}",element_type="WebRtcEndpoint",'
        f'id="{full(DATA_B, "WebRtcEndpoint")}",room="room-1"}} 1',
        f'kurento_element_info{{{k},{p1},pipeline_name="room-1",element="{DATA_HUB}",element_type="Composite",'
        f'id="{full(DATA_HUB, "Composite")}",room="room-1"}} 1',
        f'kurento_element_info{{{k},{p1},pipeline_name="room-1",element="{DATA_H}",element_type="HubPort",'
        f'id="{full(DATA_H, "HubPort")}",hub="{DATA_HUB}",room="room-1"}} 1',
        f'kurento_element_connection_info{{{k},{p1},source="{DATA_A}",sink="{DATA_H}",media="AUDIO,VIDEO"}} 1',
        f'kurento_element_connection_info{{{k},{p1},source="{DATA_H}",sink="{DATA_B}",media="AUDIO,DATA,VIDEO"}} 1',
        f'kurento_zombie{{{k},{p1},element="{DATA_B}",element_type="WebRtcEndpoint",rule="webrtc-peer-gone",'
        f'because=""}} 1',
        f'kurento_zombie{{{k},pipeline="{DATA_P2}",element="{DATA_P2}",element_type="MediaPipeline",'
        f'rule="empty-pipeline",because=""}} 1',
    ]
    for el, flowing, ice in ((DATA_A, 1, "READY"), (DATA_B, 0, "FAILED")):
        e = f'{k},element="{el}"'
        lines += [f"kurento_element_created_timestamp_seconds{{{e}}} 1700000000",
                  f'kurento_ice_connection_state{{{e},state="{ice}"}} 1',
                  f"kurento_media_connected{{{e}}} {flowing}", f"kurento_connection_connected{{{e}}} 1"]
        for media in ("AUDIO", "VIDEO"):
            m = f'{e},media="{media}"'
            lines += [f'kurento_media_flowing{{{m},direction="{d}"}} {flowing}' for d in ("in", "out")]
            lines += [f"kurento_rtp_received_bytes_total{{{m}}} {n * 1000 * flowing}",
                      f"kurento_rtp_sent_bytes_total{{{m}}} {n * 1000 * flowing}",
                      f"kurento_rtp_receive_bitrate_bytes_per_second{{{m}}} {10000 * flowing}",
                      f"kurento_rtp_send_bitrate_bytes_per_second{{{m}}} {10000 * flowing}",
                      f"kurento_rtp_lost_packets_total{{{m}}} {n}",
                      f"kurento_rtp_jitter_seconds{{{m}}} 0.004",
                      f"kurento_rtp_round_trip_time_seconds{{{m}}} 0.05"]
    el_h = f'{k},element="{DATA_H}"'
    lines.append(f'kurento_media_flowing{{{el_h},media="VIDEO",direction="in"}} 1')
    return ("\n".join(lines) + "\n").encode()


# The cluster (README "Running several members"): member a owns kms-1 (data_page), member b owns kms-2
# (down) and still shows kms-1's per-target gauges and element info from before kms-1 moved to a (a
# target moving between members is seen by both for up to one scrape interval): the fleet view must
# count kms-1 once, and joins on kurento_element_info must not fail on the duplicate.
MEMBERS = {"a": "kms-1", "b": "kms-2"}
OVERLAP = ("kurento_element_info{", "kurento_up{", "kurento_pipelines{", "kurento_sessions{", "kurento_zombies{")


def cluster_lines(member, t):
    n = int(t * 10)
    lines = [f'kurento_exporter_cluster_member_info{{member="{member}"}} 1',
             f"kurento_exporter_cluster_members {len(MEMBERS)}", "kurento_exporter_cluster_membership_revision 7",
             "kurento_exporter_cluster_etcd_up 1", "kurento_exporter_cluster_lease_valid 1",
             "kurento_exporter_cluster_lease_grants_total 1", f"kurento_exporter_cluster_ownership_changes_total {n}"]
    lines += [f'kurento_exporter_cluster_target_owned{{kms="{k}"}} {int(m == member)}' for m, k in MEMBERS.items()]
    lines += [f'kurento_exporter_cluster_lock_requests_total{{outcome="{o}"}} {n}'
              for o in ("ok", "held_by_other", "no_lease", "failed")]
    lines += [f'kurento_exporter_cluster_etcd_errors_total{{op="{o}"}} {n}'
              for o in ("connect", "lease", "register", "list", "watch", "lock")]
    return lines


def member_page(member, t):
    """Member a: data_page (kms-1) without kms-2; member b: kms-2 down, plus kms-1's OVERLAP series."""
    page = data_page(t).decode().splitlines()
    if member == "a":
        lines = [l for l in page if 'kms="kms-2"' not in l]
    else:
        lines = [l for l in page if 'kms="kms-2"' in l or
                 (l.startswith(OVERLAP) and f'kms="{DATA_KMS}"' in l)]
    return ("\n".join(lines + cluster_lines(member, t)) + "\n").encode()


def _one(v):
    return lambda got: len(got) == 1 and float(got[0]["value"][1]) == v


# Dashboard queries whose answer on the member pages is known, `kms` = kms-1: (what, test of the result).
DATA_EXPECTED = {
    ("kurento-overview.json", "Targets up", "A"): ("1 (kms-1 counted once)", _one(1)),
    ("kurento-overview.json", "Targets down", "A"): ("0 (kms-1 selected, up)", _one(0)),
    ("kurento-overview.json", "Pipelines", "A"): ("2 (kms-1 counted once)", _one(2)),
    ("kurento-overview.json", "Sessions", "A"): ("1 (kms-1 counted once)", _one(1)),
    ("kurento-overview.json", "Zombies", "A"): ("2 (kms-1 counted once)", _one(2)),
    ("kurento-overview.json", "Members", "A"): ("2 members scraped", _one(2)),
    ("kurento-overview.json", "Members", "B"): ("2 members in etcd", _one(2)),
    ("kurento-overview.json", "Targets without exactly one owner", "A"): ("0", _one(0)),
    ("kurento-overview.json", "Owner of each target", "A"): (
        "kms-1 -> member a",
        lambda got: [(r["metric"].get("kms"), r["metric"].get("member")) for r in got] == [(DATA_KMS, "a")]),
    ("kurento-overview.json", "Owner of each target", "B"): (
        "kms-1: one owner", lambda got: [(r["metric"].get("kms"), float(r["value"][1])) for r in got] == [(DATA_KMS, 1)]),
}


def check_dashboard_data():
    """Starts the real Prometheus on loopback scraping a synthetic exporter page in the
    issue 12 contract (data_page: short ids, no pipeline label on per-element series,
    one ICE state series per endpoint, fleet families), and checks that every dashboard
    query (kms-1, its pipeline; "All" where the variable allows it) and every variable
    returns data, but the DATA_EXPECTED_EMPTY ones, which must return none. Two cluster members
    are scraped (MEMBERS, member_page): the DATA_EXPECTED queries must give their known answers."""
    import http.server
    import threading

    start = time.monotonic()

    class Handler(http.server.BaseHTTPRequestHandler):
        member = "a"

        def do_GET(self):
            body = member_page(self.member, time.monotonic() - start)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), type(f"Member{m}", (Handler,), {"member": m}))
               for m in MEMBERS]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="ops-data-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        yaml().safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                          "scrape_configs": [{"job_name": "kurento-exporter", "static_configs": [
                              {"targets": [f"127.0.0.1:{sv.server_address[1]}" for sv in servers]}]}]}, f)
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp}/prometheus.yml", f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp}/data", "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)

    def query(expr):
        _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        return json.loads(body)["data"]["result"]

    try:
        if not wait_ready(base + "/-/ready", proc):
            problem("prometheus did not become ready")
            return
        # rate() needs two samples in its window: wait for five scrapes.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            r = query(f'count_over_time(kurento_up{{kms="{DATA_KMS}"}}[1m])')
            if r and float(r[0]["value"][1]) >= 5:
                break
            time.sleep(0.5)
        else:
            problem("prometheus did not scrape the synthetic page five times in 60 s")
            return
        n = empty = 0
        seen = set()
        for path in DASHBOARDS:
            name = os.path.basename(path)
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
            subs = [("$__rate_interval", "15s"), ("$__interval", "1s"), ("$__range", "1h")]
            for v in dash.get("templating", {}).get("list", []):
                if v.get("name") == "kms":
                    subs.append(("kms", DATA_KMS))
                elif v.get("name") == "pipeline":
                    subs.append(("pipeline", v.get("allValue", ".*") if v.get("includeAll") else DATA_P1))

            def sub(e):
                for a, b in subs:
                    e = e.replace("${" + a.lstrip("$") + "}", b).replace("$" + a.lstrip("$"), b)
                return e

            for v in dash.get("templating", {}).get("list", []):
                m = re.match(r"label_values\((.*),\s*(\w+)\)$", v.get("definition") or "") if v.get("type") == "query" else None
                if m:
                    _, body = http_get(base + f"/api/v1/label/{m.group(2)}/values?" +
                                       urllib.parse.urlencode({"match[]": sub(m.group(1))}))
                    if not json.loads(body)["data"]:
                        problem(f"{name}: variable {v['name']}: no values")
            for p in panels_of(dash):
                for t in p.get("targets", []) or []:
                    n += 1
                    key = (name, p.get("title"), t.get("refId"))
                    seen.add(key)
                    try:
                        got = query(sub(t["expr"]))
                    except urllib.error.HTTPError as e:
                        problem(f"{name}: panel {p.get('id')} {p.get('title')!r} [{t.get('refId')}]: "
                                f"{json.loads(e.read().decode()).get('error')}")
                        continue
                    if key in DATA_EXPECTED_EMPTY:
                        empty += 1
                        if got:
                            problem(f"{name}: panel {p.get('id')} {p.get('title')!r} [{t.get('refId')}]: listed as "
                                    f"without data ({DATA_EXPECTED_EMPTY[key]}) but returns {len(got)} series")
                    elif key in DATA_EXPECTED and not DATA_EXPECTED[key][1](got):
                        problem(f"{name}: panel {p.get('id')} {p.get('title')!r} [{t.get('refId')}]: expected "
                                f"{DATA_EXPECTED[key][0]}, got "
                                f"{[(r['metric'], r['value'][1]) for r in got]}:\n    {sub(t['expr'])}")
                    elif not got:
                        problem(f"{name}: panel {p.get('id')} {p.get('title')!r} [{t.get('refId')}]: no data on the "
                                f"default page:\n    {sub(t['expr'])}")
                    elif p.get("type") == "nodeGraph" and t.get("refId") == "edges":
                        edges = sorted((r["metric"].get("id"), r["metric"].get("mainstat"), r["metric"].get("color"))
                                       for r in got)
                        if edges != DATA_EDGES:
                            problem(f"{name}: node graph edges {edges}, expected {DATA_EDGES}")
        for key in sorted(set(DATA_EXPECTED) - seen):
            problem(f"DATA_EXPECTED names no dashboard query: {key}")
        print(f"{n} dashboard queries return data on the synthetic pages of two members in the lean contract "
              f"({empty} opt-in without; {len(DATA_EXPECTED)} with known answers)")
    finally:
        stop(proc)
        log.close()
        for server in servers:
            server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- deploy files
def check_grafana_provisioning():
    """Datasource URL from an environment variable; the dashboards provider reads the folder
    that docker-compose mounts grafana/dashboards at."""
    ds = load_yaml(os.path.join(ROOT, "grafana", "provisioning", "datasources", "prometheus.yml"))
    srcs = ds.get("datasources", [])
    if not srcs or srcs[0].get("type") != "prometheus" or not re.fullmatch(r"\$\{?\w+\}?", str(srcs[0].get("url"))):
        problem("grafana datasource: expected one prometheus datasource whose url is an environment variable")
    prov = load_yaml(os.path.join(ROOT, "grafana", "provisioning", "dashboards", "kurento.yml"))
    paths = [p.get("options", {}).get("path") for p in prov.get("providers", [])]
    compose = load_yaml(os.path.join(ROOT, "deploy", "docker-compose.yml"))
    mounts = compose["services"]["grafana"].get("volumes", [])
    targets = {m.split(":")[1] for m in mounts if m.startswith("../grafana/dashboards:")}
    if not paths or not set(paths) <= targets:
        problem(f"grafana dashboards provider path {paths} is not where compose mounts grafana/dashboards {targets}")
    env = compose["services"]["grafana"].get("environment", {})
    var = str(srcs[0].get("url", "")).strip("${}") if srcs else ""
    if var not in env:
        problem(f"docker-compose grafana service does not set {var}")
    print("grafana provisioning consistent with docker-compose")


def check_compose():
    """Services, images, the exporter's port, and that every bind-mounted file exists; the cluster
    compose file too (check_compose_cluster)."""
    path = os.path.join(ROOT, "deploy", "docker-compose.yml")
    doc = load_yaml(path)
    services = doc.get("services", {})
    for name in ("kms", "kurento-exporter", "prometheus", "alertmanager", "grafana"):
        if name not in services:
            problem(f"docker-compose: no service {name}")
    if services.get("kms", {}).get("image") != "kurento/kurento-media-server:7.3":
        problem("docker-compose: kms image is not kurento/kurento-media-server:7.3")
    exp = services.get("kurento-exporter", {})
    if "build" not in exp or not any(str(p).endswith("9787:9787") for p in exp.get("ports", [])):
        problem("docker-compose: kurento-exporter must be built from the Dockerfile and publish 9787")
    if not any("ws://kms:8888/kurento" in str(a) for a in exp.get("command", [])):
        problem("docker-compose: kurento-exporter does not target ws://kms:8888/kurento")
    base = os.path.dirname(path)
    for sname, svc in services.items():
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(base, build.get("context", ".")))
            if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
                problem(f"docker-compose: {sname}: Dockerfile not found in {rel(ctx)}")
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                full = os.path.normpath(os.path.join(base, src))
                if not os.path.exists(full):
                    problem(f"docker-compose: {sname}: mounted path {src} does not exist")
            elif src not in (doc.get("volumes") or {}):
                problem(f"docker-compose: {sname}: named volume {src} not declared")
    prom = services.get("prometheus", {})
    if "../alerts:/etc/prometheus/alerts:ro" not in prom.get("volumes", []):
        problem("docker-compose: prometheus does not mount alerts/ at /etc/prometheus/alerts")
    n = check_compose_cluster()
    print(f"{len(services)} services; cluster: {n} services")


def compose_mounts(base, doc, where, svc_name, svc):
    """Problems of one service's bind mounts and named volumes; {container path: host path} of its binds."""
    binds = {}
    for vol in svc.get("volumes", []):
        src, dst = vol.split(":")[0], vol.split(":")[1]
        if src.startswith((".", "/")):
            full = os.path.normpath(os.path.join(base, src))
            binds[dst] = full
            if not os.path.exists(full):
                problem(f"{where}: {svc_name}: mounted path {src} does not exist")
        elif src not in (doc.get("volumes") or {}):
            problem(f"{where}: {svc_name}: named volume {src} not declared")
    return binds


def check_compose_cluster():
    """deploy/docker-compose.cluster.yml: a pinned example etcd, two KMS or more, two members or more
    built from the Dockerfile, each with its own host name (its member id) and state volume, all
    mounting the same exporter config, whose [cluster] endpoints name the etcd service and whose
    targets are the compose KMS, with keys of deploy/kurento-exporter.toml; Prometheus mounts alerts/
    and its config scrapes every member as job kurento-exporter. Returns the number of services."""
    path = os.path.join(ROOT, "deploy", "docker-compose.cluster.yml")
    where = rel(path)
    base = os.path.dirname(path)
    doc = load_yaml(path)
    services = doc.get("services", {})
    etcd = services.get("etcd", {})
    if not re.fullmatch(r"quay\.io/coreos/etcd:v3\.5\.\d+", str(etcd.get("image", ""))):
        problem(f"{where}: etcd image {etcd.get('image')!r} is not a pinned quay.io/coreos/etcd:v3.5.x")
    kms = {n for n, s in services.items() if str(s.get("image", "")).startswith("kurento/kurento-media-server:")}
    members = {n: s for n, s in services.items() if "build" in s}
    if len(kms) < 2:
        problem(f"{where}: fewer than 2 KMS services")
    if len(members) < 2:
        problem(f"{where}: fewer than 2 kurento-exporter members built from the Dockerfile")
    hosts, configs = {}, set()
    for name, svc in services.items():
        binds = compose_mounts(base, doc, where, name, svc)
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(base, build.get("context", ".")))
            if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
                problem(f"{where}: {name}: Dockerfile not found in {rel(ctx)}")
        if name not in members:
            continue
        host = svc.get("hostname")
        if not host:
            problem(f"{where}: {name}: no hostname (the member id; a container's default host name changes)")
        elif host in hosts.values():
            problem(f"{where}: {name}: hostname {host} used by another member")
        hosts[name] = host
        if any("--kms" in str(a) for a in svc.get("command", []) or []):
            problem(f"{where}: {name}: --kms replaces the targets: every member must read the shared list")
        if not {"/etc/kurento-exporter/kurento-exporter.toml", "/var/lib/kurento-exporter"} <= \
                {v.split(":")[1] for v in svc.get("volumes", [])}:
            problem(f"{where}: {name}: lacks its config or state mount")
        if not svc.get("read_only") or "ALL" not in (svc.get("cap_drop") or []):
            problem(f"{where}: {name}: not read_only with every capability dropped")
        cfg = binds.get("/etc/kurento-exporter/kurento-exporter.toml")
        if cfg:
            configs.add(cfg)
    states = [v.split(":")[0] for s in members.values() for v in s.get("volumes", [])
              if v.split(":")[1] == "/var/lib/kurento-exporter"]
    if len(set(states)) != len(states):
        problem(f"{where}: members share a state volume (each writes its own audit log)")
    if len(configs) != 1:
        problem(f"{where}: the members mount {len(configs)} different configs: they must share one target list")
    with open(os.path.join(ROOT, "deploy", "kurento-exporter.toml"), "rb") as f:
        known = config_keys(tomllib.load(f))
    for cfg_path in configs:
        if not os.path.isfile(cfg_path):
            continue
        with open(cfg_path, "rb") as f:
            cfg = tomllib.load(f)
        unknown = config_keys(cfg) - known
        if unknown:
            problem(f"{rel(cfg_path)}: keys not in deploy/kurento-exporter.toml: {sorted(unknown)}")
        cluster = cfg.get("cluster") or {}
        if cluster.get("member"):
            problem(f"{rel(cfg_path)}: cluster.member is set: every member would take the same id")
        eps = cluster.get("endpoints") or []
        if not eps or any(not re.fullmatch(r"http://etcd:2379", e) for e in eps):
            problem(f"{rel(cfg_path)}: cluster.endpoints {eps} is not [\"http://etcd:2379\"] (the etcd service)")
        urls = {t.get("name"): t.get("url", "") for t in cfg.get("targets", [])}
        hosts_used = {re.sub(r"^wss?://([^:/]+).*$", r"\1", u) for u in urls.values()}
        if hosts_used != kms:
            problem(f"{rel(cfg_path)}: targets {sorted(hosts_used)} are not the compose KMS {sorted(kms)}")
    prom = services.get("prometheus", {})
    binds = {v.split(":")[1]: v.split(":")[0] for v in prom.get("volumes", [])}
    if binds.get("/etc/prometheus/alerts") != "../alerts":
        problem(f"{where}: prometheus does not mount alerts/ at /etc/prometheus/alerts")
    prom_cfg = binds.get("/etc/prometheus/prometheus.yml")
    if prom_cfg:
        prom_cfg = os.path.normpath(os.path.join(base, prom_cfg))
        pc = load_yaml(prom_cfg)
        jobs = [j for j in pc.get("scrape_configs", []) if j.get("job_name") == "kurento-exporter"]
        scraped = {t for j in jobs for sc in j.get("static_configs", []) for t in sc.get("targets", [])}
        want = {f"{n}:9787" for n in members}  # the service names: compose's DNS names
        if scraped != want:
            problem(f"{rel(prom_cfg)}: job kurento-exporter scrapes {sorted(scraped)}, not every member "
                    f"{sorted(want)}")
    else:
        problem(f"{where}: prometheus mounts no /etc/prometheus/prometheus.yml")
    return len(services)


def check_dockerfile():
    """Multi-stage build from a Rust image, both binaries built with the lock file and the `cluster`
    feature (protoc installed in the build stage, before the build), a non-root final stage exposing
    9787."""
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    # join continuation lines
    lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
    stages = [l for l in lines if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        problem("Dockerfile: not multi-stage")
    elif not re.search(r"FROM\s+rust:", stages[0]):
        problem("Dockerfile: the first stage is not a rust image")
    build = " ".join(l for l in lines if l.upper().startswith("RUN ") and "cargo build" in l)
    for needed in ("--release", "--locked", "-p kms-sim", "--bin kurento-exporter", "--bin kms-sim",
                   "--features cluster"):
        if needed not in build:
            problem(f"Dockerfile: cargo build lacks {needed}")
    builder = lines[:lines.index(stages[1])] if len(stages) > 1 else lines
    runs = [l for l in builder if l.upper().startswith("RUN ")]
    protoc = next((i for i, l in enumerate(runs) if re.search(r"apt-get install .*\bprotobuf-compiler\b", l)), None)
    cargo = next((i for i, l in enumerate(runs) if "cargo build" in l), None)
    if protoc is None or cargo is None or protoc > cargo:
        problem("Dockerfile: the build stage does not install protobuf-compiler (protoc) before cargo build")
    final = lines[lines.index(stages[-1]):] if stages else []
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem("Dockerfile: the final stage does not switch to a non-root user")
    if not any(l.upper().startswith("EXPOSE ") and "9787" in l for l in final):
        problem("Dockerfile: the final stage does not EXPOSE 9787")
    for binary in ("kurento-exporter", "kms-sim"):
        if f"target/release/{binary} /out/usr/local/bin/{binary}" not in build:
            problem(f"Dockerfile: the build stage does not install {binary} into /out/usr/local/bin")
    if not any(l.upper().startswith("COPY ") and "--from=" in l and "/out/usr/local/bin/" in l for l in final):
        problem("Dockerfile: the final stage does not copy the binaries from the build stage")
    print(f"{len(stages)} stages, final: {stages[-1] if stages else '?'}")


def config_keys(doc, prefix=""):
    keys = set()
    for k, v in doc.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            keys |= {path} | config_keys(v, path + ".")
        elif isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
            for item in v:
                keys |= {path} | config_keys(item, path + "[].")
        else:
            keys.add(path)
    return keys


def hardened(pod, c):
    """Whether container c of pod spec `pod` runs non-root, read-only, without privilege escalation."""
    sc = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    return bool(sc.get("runAsNonRoot")) and sc.get("allowPrivilegeEscalation", True) is False \
        and bool(sc.get("readOnlyRootFilesystem"))


def check_k8s():
    """Every manifest parses with apiVersion/kind/metadata.name; Services select the pods
    they should; ServiceMonitors select the Services and set job="kurento-exporter"; the
    standalone exporter runs once (replicas 1, Recreate); containers are non-root; the
    exporter configs in ConfigMaps are valid TOML using only keys of the shipped example
    config deploy/kurento-exporter.toml. The cluster layout (k8s/cluster/): several members
    in a StatefulSet behind a headless Service scraped member by member, each member's id
    its pod name (no `member` in the config), the full target list and [cluster] endpoints
    naming a Service of the manifests (the example etcd, hardened like the exporter)."""
    with open(os.path.join(ROOT, "deploy", "kurento-exporter.toml"), "rb") as f:
        known = config_keys(tomllib.load(f))
    docs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "**", "*.yaml"), recursive=True)):
        for d in load_yaml_all(path):
            if not (d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name")):
                problem(f"{rel(path)}: a document without apiVersion/kind/metadata.name")
            docs.append((rel(path), d))
    kinds = {}
    for path, d in docs:
        kinds.setdefault(d["kind"], []).append((path, d))
    for kind in ("StatefulSet", "Deployment", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"):
        if kind not in kinds:
            problem(f"deploy/k8s: no {kind}")
    for layout in ("sidecar", "standalone", "cluster"):
        if not any(p.startswith(f"deploy/k8s/{layout}/") for p, _ in docs):
            problem(f"deploy/k8s: no {layout} layout")

    def pod_labels(d):
        return d["spec"]["template"]["metadata"].get("labels", {})

    def layout(path):
        return path.split("/")[2] if path.count("/") >= 3 else ""

    def is_etcd(w):
        return pod_labels(w).get("app.kubernetes.io/name") == "etcd"

    def exporter_configs(path_prefix, name=None):
        out = []
        for p, cm in kinds.get("ConfigMap", []):
            if p.startswith(path_prefix) and (name is None or cm["metadata"]["name"] == name):
                for key, text in cm.get("data", {}).items():
                    if key.endswith(".toml"):
                        try:
                            out.append((p, key, tomllib.loads(text)))
                        except tomllib.TOMLDecodeError:
                            pass  # reported below
        return out

    workloads = kinds.get("StatefulSet", []) + kinds.get("Deployment", [])
    services = kinds.get("Service", [])
    for path, w in workloads:
        spec = w["spec"]
        if not set(spec["selector"]["matchLabels"].items()) <= set(pod_labels(w).items()):
            problem(f"{path}: selector does not match the pod template's labels")
        pod = spec["template"]["spec"]
        if is_etcd(w):
            # the example etcd of the cluster layout: hardened like the exporter
            if layout(path) != "cluster":
                problem(f"{path}: an etcd outside deploy/k8s/cluster/")
            for c in pod["containers"]:
                if not hardened(pod, c):
                    problem(f"{path}: container {c['name']} not non-root/read-only/no privilege escalation")
                if not re.fullmatch(r"quay\.io/coreos/etcd:v3\.5\.\d+", c.get("image", "")):
                    problem(f"{path}: container {c['name']}: image {c.get('image')!r} is not a pinned "
                            "quay.io/coreos/etcd:v3.5.x")
            continue
        exporters = [c for c in pod["containers"] if c["name"] == "kurento-exporter"]
        if not exporters:
            problem(f"{path}: no kurento-exporter container")
        for c in exporters:
            if not hardened(pod, c):
                problem(f"{path}: kurento-exporter container not non-root/read-only/no privilege escalation")
            if not any(p.get("containerPort") == 9787 and p.get("name") == "metrics" for p in c.get("ports", [])):
                problem(f"{path}: kurento-exporter container has no port 9787 named metrics")
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            if not {"/etc/kurento-exporter", "/var/lib/kurento-exporter"} <= mounts:
                problem(f"{path}: kurento-exporter container lacks its config or state mount")
        if w["kind"] == "StatefulSet" and layout(path) == "sidecar":
            if len(pod["containers"]) < 2 or not any(c.get("image", "").startswith("kurento/kurento-media-server")
                                                     for c in pod["containers"]):
                problem(f"{path}: the sidecar StatefulSet has no KMS container next to the exporter")
            if not any("ws://127.0.0.1:8888/kurento" in a for c in exporters for a in c.get("args", [])):
                problem(f"{path}: the sidecar does not target the KMS of its own pod")
        elif w["kind"] == "StatefulSet" and layout(path) == "cluster":
            check_k8s_cluster(path, w, exporters, services, exporter_configs, pod_labels)
        elif w["kind"] == "StatefulSet":
            problem(f"{path}: an exporter StatefulSet outside deploy/k8s/sidecar/ and deploy/k8s/cluster/")
        if w["kind"] == "Deployment":
            if spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
                problem(f"{path}: the standalone exporter must run once (replicas 1, strategy Recreate)")
    for path, svc in services:
        sel = svc["spec"].get("selector", {})
        selected = [w for _, w in workloads if set(sel.items()) <= set(pod_labels(w).items())]
        if not selected:
            problem(f"{path}: Service {svc['metadata']['name']} selects no workload's pods")
        if selected and all(is_etcd(w) for w in selected):
            if not any(p.get("name") == "client" and p.get("port") == 2379 for p in svc["spec"]["ports"]):
                problem(f"{path}: etcd Service {svc['metadata']['name']} has no port 2379 named client")
        elif not any(p.get("name") == "metrics" and p.get("port") == 9787 for p in svc["spec"]["ports"]):
            problem(f"{path}: Service {svc['metadata']['name']} has no port 9787 named metrics")
    for path, sm in kinds.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        if not any(set(sel.items()) <= set(s["metadata"].get("labels", {}).items()) for _, s in services):
            problem(f"{path}: ServiceMonitor selects no Service")
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") != "metrics":
                problem(f"{path}: endpoint port is not 'metrics'")
            if not any(r.get("targetLabel") == "job" and r.get("replacement") == "kurento-exporter"
                       for r in ep.get("relabelings", [])):
                problem(f"{path}: endpoint does not set job=\"kurento-exporter\" (the alert rules need it)")
    for path, cm in kinds.get("ConfigMap", []):
        for key, text in cm.get("data", {}).items():
            if key.endswith(".toml"):
                try:
                    cfg = tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    problem(f"{path}: {key}: invalid TOML: {e}")
                    continue
                unknown = config_keys(cfg) - known
                if unknown:
                    problem(f"{path}: {key}: keys not in deploy/kurento-exporter.toml: {sorted(unknown)}")
                if (cfg.get("cluster") or {}).get("endpoints") and layout(path) != "cluster":
                    problem(f"{path}: {key}: [cluster] endpoints outside the cluster layout")
    print(f"{len(docs)} Kubernetes objects: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(kinds.items())))


def check_k8s_cluster(path, w, exporters, services, exporter_configs, pod_labels):
    """The cluster StatefulSet `w` (see check_k8s)."""
    spec, pod = w["spec"], w["spec"]["template"]["spec"]
    if (spec.get("replicas") or 1) < 2:
        problem(f"{path}: the cluster StatefulSet runs fewer than 2 members")
    if spec.get("podManagementPolicy") != "Parallel":
        problem(f"{path}: podManagementPolicy is not Parallel (members need not wait for each other)")
    for c in exporters:
        args = " ".join(c.get("args", []))
        if "--kms" in args:
            problem(f"{path}: --kms replaces the targets: every member must read the ConfigMap's full list")
        env = {e.get("name") for e in c.get("env", []) or []}
        if "KURENTO_EXPORTER__CLUSTER__MEMBER" in env:
            problem(f"{path}: the member id is the pod's host name: do not set it")
    headless = [s for _, s in services if s["metadata"]["name"] == spec.get("serviceName")]
    if not headless or headless[0]["spec"].get("clusterIP") != "None":
        problem(f"{path}: serviceName {spec.get('serviceName')!r} is not a headless Service of the manifests")
    elif not set(headless[0]["spec"].get("selector", {}).items()) <= set(pod_labels(w).items()):
        problem(f"{path}: the headless Service {spec.get('serviceName')} does not select the members")
    cms = {v["configMap"]["name"] for v in pod.get("volumes", []) if v.get("configMap")}
    configs = [c for name in cms for c in exporter_configs("deploy/k8s/cluster/", name)]
    if not configs:
        problem(f"{path}: no exporter configuration among its ConfigMaps {sorted(cms)}")
    for cm_path, key, cfg in configs:
        where = f"{cm_path}: {key}"
        cluster = cfg.get("cluster") or {}
        if len(cfg.get("targets") or []) < 2:
            problem(f"{where}: a cluster shares a fleet: list every target (more than one)")
        if cluster.get("member"):
            problem(f"{where}: cluster.member {cluster['member']!r} is the same for every pod: leave it empty "
                    "(the host name, the pod's name)")
        if not cluster.get("endpoints"):
            problem(f"{where}: [cluster] endpoints is empty: the members would not coordinate")
        for e in cluster.get("endpoints") or []:
            m = re.fullmatch(r"http://([a-z0-9.-]+):(\d+)", e)
            host = m.group(1).split(".")[0] if m else None
            ok = m and any(s["metadata"]["name"] == host and any(p.get("port") == int(m.group(2))
                                                                   for p in s["spec"]["ports"])
                           for _, s in services)
            if not ok:
                problem(f"{where}: cluster endpoint {e!r} is not http://<a Service of the manifests>:<its port>")


# --------------------------------------------------------------------------- issue 13 defects
# Stat panels where 0 is the bad value, and words of panels that count problems.
ZERO_IS_BAD = {"Targets up"}
PROBLEM_WORDS = ("zombie", "down", "failed")
# Metrics whose value is 0 or 1: a table column showing one needs value mappings.
BOOLEAN_METRICS = ("kurento_up", "kurento_media_connected", "kurento_media_flowing",
                   "kurento_connection_connected", "kurento_zombie")
ICE_STATES = ("DISCONNECTED", "GATHERING", "CONNECTING", "CONNECTED", "READY", "FAILED")
RED = {"red", "dark-red", "semi-dark-red", "light-red", "#f2495c", "#c4162a"}
GREEN = {"green", "dark-green", "semi-dark-green", "light-green", "#73bf69", "#37872d"}


def colour_at(thresholds, value):
    """The colour a stat panel shows for `value` with these absolute thresholds."""
    colour = None
    for step in (thresholds or {}).get("steps", []):
        if step.get("value") is None or value >= step["value"]:
            colour = step.get("color")
    return colour


def mapped_values(mappings):
    """{value text: (display text, colour)} of a panel's value mappings."""
    out = {}
    for m in mappings or []:
        if m.get("type") == "value":
            for k, v in (m.get("options") or {}).items():
                out[k] = (v.get("text"), v.get("color"))
    return out


def check_dashboard_defects():
    """The defects a newcomer found (issue 13), each a rule: stat panels are not green on
    their bad value; the ICE state timeline names and colours every state (FAILED red);
    the `pipeline` variable also lists pipelines known only by a zombie verdict; bitrates
    are in bits per second (the node graph's and the console's unit); every row of the
    zombie table links to the pipeline dashboard with its kms and pipeline; every table
    column of a 0/1 metric has value mappings for 0 and 1."""
    for path in DASHBOARDS:
        name = rel(path)
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
        for v in dash.get("templating", {}).get("list", []):
            if v.get("name") == "pipeline":
                q = v.get("definition") or v.get("query") or ""
                if "kurento_zombie" not in q:
                    problem(f"{name}: variable pipeline ({q}) cannot list an empty zombie pipeline: "
                            "take the values from kurento_zombie too")
        for p in panels_of(dash):
            title, pid, ptype = p.get("title") or "", p.get("id"), p.get("type")
            defaults = (p.get("fieldConfig") or {}).get("defaults") or {}
            exprs = " ".join(t.get("expr", "") for t in p.get("targets", []) or [])
            where = f"{name}: panel {pid} {title!r}"
            if ptype == "stat":
                thr = defaults.get("thresholds")
                if title in ZERO_IS_BAD and colour_at(thr, 0) not in RED:
                    problem(f"{where}: shows {colour_at(thr, 0)!r} at 0, its bad value (want red)")
                if any(w in title.lower() for w in PROBLEM_WORDS) and colour_at(thr, 1) in GREEN:
                    problem(f"{where}: counts problems but shows green at 1")
            unit = defaults.get("unit") or ""
            drawn = ptype in ("timeseries", "stat", "gauge", "bargauge", "table")
            if unit in ("Bps", "binBps", "KBs", "MBs") or (drawn and "bitrate" in exprs and unit != "bps"):
                problem(f"{where}: bitrate in {unit!r}: use bits per second (unit bps, bytes * 8)")
            if "bytes_per_second" in exprs and not re.search(r"(^|\W)8 \*|\* 8(\W|$)", exprs):
                problem(f"{where}: a bytes_per_second metric shown without * 8")
            if ptype == "state-timeline" and "kurento_ice_connection_state" in exprs:
                mapped = mapped_values(defaults.get("mappings"))
                texts = {t for t, _ in mapped.values()}
                missing = [st for st in ICE_STATES if st not in texts]
                if missing:
                    problem(f"{where}: ICE states without a value mapping: {missing}")
                failed = [c for t, c in mapped.values() if t == "FAILED"]
                if failed and failed[0] not in RED:
                    problem(f"{where}: FAILED is {failed[0]!r}, not red")
                colours = {c for _, c in mapped.values()}
                if len(colours) < 3:
                    problem(f"{where}: every ICE state has the same colour {sorted(colours)}")
            if ptype == "table":
                organize = next((t["options"] for t in p.get("transformations", []) or []
                                 if t.get("id") == "organize"), {})
                renamed = organize.get("renameByName", {})
                excluded = organize.get("excludeByName", {})
                overrides = (p.get("fieldConfig") or {}).get("overrides") or []
                for t in p.get("targets", []) or []:
                    metric = re.match(r"\s*(?:max by \([^)]*\) \()?\s*([a-z_]+)", t.get("expr", ""))
                    if not metric or metric.group(1) not in BOOLEAN_METRICS:
                        continue
                    column = f"Value #{t.get('refId')}"
                    if excluded.get(column):
                        continue
                    shown = renamed.get(column, column)
                    mapped = {}
                    for o in overrides:
                        if (o.get("matcher") or {}).get("options") == shown:
                            for prop in o.get("properties", []):
                                if prop.get("id") == "mappings":
                                    mapped = mapped_values(prop.get("value"))
                    if not {"0", "1"} <= set(mapped):
                        problem(f"{where}: column {shown!r} ({metric.group(1)}, 0/1) has no value mappings for 0 and 1")
                if "kurento_zombie{" in exprs:
                    links = defaults.get("links") or []
                    ok = [l for l in links if "/d/kurento-pipeline" in l.get("url", "")
                          and "var-pipeline=${__data.fields.pipeline}" in l.get("url", "")
                          and "var-kms=${__data.fields.kms}" in l.get("url", "")]
                    if not ok:
                        problem(f"{where}: zombie rows do not link to the pipeline dashboard "
                                "(/d/kurento-pipeline?var-kms=...&var-pipeline=...)")
    print(f"{len(DASHBOARDS)} dashboards: stat colours, ICE states, pipeline variable, bitrate units, "
          "zombie links, 0/1 mappings")


def check_exposure():
    """What the shipped deployments expose: the compose files (deploy/docker-compose*.yml)
    publish every TCP port on 127.0.0.1 only (KMS's control port and the exporter's API have no authentication) and
    sets no Grafana admin password of its own; in the Kubernetes sidecar layout the
    exporter's readiness is not /readyz (it would take the KMS pod out of its Service until
    the exporter synced)."""
    ports = 0
    for sname, svc in [(f"{os.path.basename(f)}: {n}", s) for f in sorted(glob.glob(os.path.join(ROOT, "deploy",
                                                                                           "docker-compose*.yml")))
                       for n, s in (load_yaml(f).get("services") or {}).items()]:
        for spec in svc.get("ports", []) or []:
            spec = str(spec)
            ports += 1
            if spec.endswith("/udp"):
                continue
            if not spec.startswith("127.0.0.1:"):
                problem(f"docker-compose: {sname}: port {spec} is published on every interface (want 127.0.0.1:...)")
        env = svc.get("environment") or {}
        password = str(env.get("GF_SECURITY_ADMIN_PASSWORD", ""))
        if sname.endswith(": grafana") and not password.startswith("${"):
            problem(f"docker-compose: grafana: admin password {password!r} is set in the file "
                    "(take it from the environment, required: ${GRAFANA_ADMIN_PASSWORD:?...})")
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "sidecar", "*.yaml"))):
        for d in load_yaml_all(path):
            if d.get("kind") not in ("StatefulSet", "Deployment", "DaemonSet"):
                continue
            for c in d["spec"]["template"]["spec"]["containers"]:
                probe = ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
                if c["name"] == "kurento-exporter" and probe == "/readyz":
                    problem(f"{rel(path)}: the sidecar exporter's readinessProbe is /readyz: "
                            "the KMS pod is NotReady until the exporter synced")
    print(f"docker-compose: {ports} published ports checked; sidecar readiness checked")


CHECKS = {
    "dashboard-defects": check_dashboard_defects,
    "exposure": check_exposure,
    "alert-meta": check_alert_meta,
    "contract": check_contract,
    "k8s-rule-semantics": check_k8s_rule_semantics,
    "dashboards": check_dashboards,
    "nodegraph-queries": check_nodegraph_queries,
    "dashboard-data": check_dashboard_data,
    "prometheus-live": check_prometheus_live,
    "alertmanager-live": check_alertmanager_live,
    "alert-pipeline": check_alert_pipeline,
    "grafana-provisioning": check_grafana_provisioning,
    "compose": check_compose,
    "dockerfile": check_dockerfile,
    "k8s": check_k8s,
}


def main(argv):
    if len(argv) != 2 or argv[1] not in CHECKS:
        print(f"usage: {argv[0]} {{{'|'.join(CHECKS)}}}", file=sys.stderr)
        return 2
    try:
        CHECKS[argv[1]]()
    except Exception as e:  # a crash is a failed check, with its reason
        problem(f"{type(e).__name__}: {e}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
