# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The alert rules and the Grafana dashboard the collection ships read only
metrics that _metrics.METRICS declares (and so writes)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics

FILES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles", "port_metrics", "files")


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
        assert names(expr) and names(expr) <= set(_metrics.METRICS), expr
    # Hosts x services, drift over time, certificate expiry.
    titles = " ".join(panel["title"] for panel in dashboard["panels"])
    assert "services" in titles and "drift" in titles and "Certificate expiry" in titles
