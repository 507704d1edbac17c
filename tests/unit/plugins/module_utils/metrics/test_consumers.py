# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert rules and the Grafana dashboard the collection ships read only
metrics that _metrics.METRICS declares (and so writes), or, for the edge
traffic, the series the mtail program of nginx/_edge.py exports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _edge

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles")
FILES = os.path.join(ROLES, "port_metrics", "files")
DECLARED = set(_metrics.METRICS) | _edge.series_names()


def names(expr):
    return set(re.findall(r"\bportcullis_[a-z_]+", expr))


def test_every_alert_reads_declared_metrics_and_every_alert_the_issue_names_exists():
    with open(os.path.join(FILES, "portcullis-rules.yml")) as handle:
        rules = yaml.safe_load(handle)["groups"][0]["rules"]
    for rule in rules:
        assert names(rule["expr"]) and names(rule["expr"]) <= set(_metrics.METRICS), rule["alert"]
    assert {rule["alert"] for rule in rules} >= {
        "PortcullisUndeclaredListener", "PortcullisServiceNotListening", "PortcullisFirewallDrift",
        "PortcullisCertificateExpiresSoon", "PortcullisBackendDown", "PortcullisAuditStale"}


def test_every_dashboard_query_reads_declared_metrics():
    with open(os.path.join(FILES, "grafana-dashboard.json")) as handle:
        dashboard = json.load(handle)
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert queries
    for expr in queries:
        assert names(expr) and names(expr) <= DECLARED, expr
    # Hosts x services, drift over time, certificate expiry; per route: rate, quantiles, errors, bandwidth.
    titles = " ".join(panel["title"] for panel in dashboard["panels"])
    assert "services" in titles and "drift" in titles and "Certificate expiry" in titles
    for title in ("Edge requests per second", "p50 / p95 / p99", "Edge error ratio", "Edge bandwidth"):
        assert title in titles, title


def test_every_edge_alert_reads_the_series_mtail_exports():
    """The template's expressions (thresholds are variables, metric names are not)."""
    with open(os.path.join(ROLES, "nginx_proxy", "templates", "portcullis-edge-rules.yml.j2")) as handle:
        text = handle.read()
    used = set(name for name in names(text) if not name.startswith("portcullis_nginx_"))  # the role's variables
    assert used and used <= _edge.series_names(), used - _edge.series_names()
    assert "alert: PortcullisEdgeErrorRate" in text and "alert: PortcullisEdgeLatencyP95" in text
