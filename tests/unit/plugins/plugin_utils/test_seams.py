# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Across the seams: one registry through the controller's plan into the
text a host gets (nft ruleset, nginx configuration). The promises across
every planner are property tests in test_plan_properties.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as nginx_config
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan

HOSTVARS = {
    "edge": {"portcullis_address": "10.0.0.1"},
    "app": {"portcullis_address": ["10.0.0.2", "fd00::2"]},
    "db": {"ansible_host": "10.0.0.3"},
}
GROUPS = {"all": ["edge", "app", "db"], "proxies": ["edge"], "apps": ["app"]}


class _Runner:
    def which(self, name):
        return "/usr/sbin/" + name


def inventory(registries):
    hostvars = dict((host, dict(variables)) for host, variables in HOSTVARS.items())
    for host, registry in registries.items():
        hostvars[host]["portcullis_services"] = registry
    return Plan.of(hostvars, GROUPS)


def nft_text(rules):
    policy = _rules.normalize_policy({})
    return backends.Nftables(_Runner()).render(_rules.normalize_rules(rules), policy, _rules.Defaults())


def test_registry_to_rules_to_nft():
    registries = {"db": [{"name": "ssh", "port": "ssh", "allow_from": ["edge"]},
                         {"name": "postgresql", "port": "postgresql", "allow_from": ["apps", "10.9.0.0/16"]},
                         {"name": "metrics", "port": 9100, "bind": "127.0.0.1"}]}
    rules = inventory(registries).host_rules("db")
    text = nft_text(rules)
    assert '\t\tip saddr 10.0.0.1 tcp dport 22 accept comment "ssh internal"\n' in text
    assert '\t\tip saddr { 10.0.0.2, 10.9.0.0/16 } tcp dport 5432 accept comment "postgresql internal"\n' in text
    # db listens on IPv4 only (bind 0.0.0.0, one IPv4 address): app reaches it over IPv4, its IPv6 address is not let in.
    assert "fd00::2" not in text
    assert "9100" not in text
    assert "type filter hook input priority filter; policy drop;" in text


def test_registry_to_sites_to_nginx():
    registries = {
        "app": [{"name": "docs", "port": 4001, "domain": "Docs.Example.com", "proxy": {"allow": ["edge", "apps"]}}],
        "edge": [{"name": "grafana", "port": "grafana", "expose": "private", "domain": "grafana.example.com"}],
    }
    sites = _proxy_plan.sites(inventory(registries), "edge")
    text = nginx_config.Renderer(sites).render()
    assert "upstream portcullis_docs_example_com {\n    server 10.0.0.2:4001;\n" in text
    assert "upstream portcullis_grafana_example_com {\n    server 127.0.0.1:3000;\n" in text
    docs = text[text.index("# docs.example.com: / -> 10.0.0.2:4001 (app/docs)"):]
    assert "        allow 10.0.0.1/32;\n        allow 10.0.0.2/32;\n        allow fd00::2/128;\n        deny all;\n" in docs
