# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port map's graph of the Nostromo example against the diagram its
networking document draws by hand."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils import _graph
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", "nostromo")
# The edges of the Mermaid diagram in the Nostromo networking document (the
# seed this example comes from), its node names mapped to the inventory.
SEED_EDGES = {("Internet", "nginx.internal"), ("nginx.internal", "sevastopol.internal"),
              ("sevastopol.internal", "orchestrator.internal"), ("orchestrator.internal", "mother.internal"),
              ("etl.internal", "mother.internal")}
# An edge the seed does not draw: its DNS table has api.nostromo.cl on the
# proxy too, so nginx also reaches the Orchestrator.
EXTRA_EDGES = {("nginx.internal", "orchestrator.internal")}
_REFERENCE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def _expand(value, variables):
    """The example's "{{ name }}" references to group_vars, as Ansible would."""
    if isinstance(value, str):
        match = _REFERENCE.fullmatch(value.strip())
        return _expand(variables[match.group(1)], variables) if match else value
    if isinstance(value, list):
        return [_expand(item, variables) for item in value]
    if isinstance(value, dict):
        return dict((key, _expand(item, variables)) for key, item in value.items())
    return value


def nostromo():
    group_vars = _load(os.path.join(EXAMPLE, "group_vars", "all.yml"))
    inventory = _load(os.path.join(EXAMPLE, "inventory.yml"))["all"]["children"]
    hostvars, groups = {}, {"all": []}
    for group, body in inventory.items():
        groups[group] = sorted(body["hosts"])
        for host, variables in body["hosts"].items():
            hostvars[host] = dict(variables)
            hostvars[host].update(_expand(_load(os.path.join(EXAMPLE, "host_vars", host + ".yml")), group_vars))
            groups["all"].append(host)
    return Plan.of(hostvars, groups, group_vars.get("portcullis_port_policy"))


def test_the_example_draws_the_seed_diagram():
    inventory = nostromo()
    report = _audit.audit(inventory)
    assert report["plan_conflicts"] == []
    labels = dict((node["id"], node["label"]) for node in report["graph"]["nodes"])
    inside = set(labels[edge["from"]] for edge in report["graph"]["edges"]) | set(labels.values())
    edges = set((labels[edge["from"]], labels[edge["to"]]) for edge in report["graph"]["edges"]
                if labels[edge["to"]] in inventory.hosts or labels[edge["from"]] == _graph.INTERNET)
    assert edges == SEED_EDGES | EXTRA_EDGES
    assert "sii.cl" in inside and "0.0.0.0/0, ::/0" in inside  # the outbound table
    mermaid = report["mermaid"]
    assert mermaid.startswith("graph TB\n")
    for source, target in SEED_EDGES:
        ids = dict((label, node_id) for node_id, label in labels.items())
        assert re.search(r"^    %s -->\|\"[^\"]*\"\| %s$" % (ids[source], ids[target]), mermaid, re.M), (source, target)


def test_the_graph_is_drawn_inline_and_escaped():
    graph = {"nodes": [{"id": "n0", "label": "a<b>", "kind": "host", "ports": ":1"},
                       {"id": "n1", "label": "c", "kind": "external", "ports": ""}],
             "edges": [{"from": "n0", "to": "n1", "label": 'x "y"'}, {"from": "n1", "to": "n0", "label": "back"}]}
    drawn = _graph.svg(graph)
    assert drawn.startswith("<svg ") and "a&lt;b&gt;" in drawn and "x &quot;y&quot;" in drawn
    assert "href" not in drawn and "<script" not in drawn
    text = _graph.mermaid(graph)
    assert 'n0["a#lt;b#gt;<br/>:1"]' in text and 'n0 -->|"x #quot;y#quot;"| n1' in text
