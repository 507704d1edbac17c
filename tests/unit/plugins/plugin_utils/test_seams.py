# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Across the seams: one registry through the controller's planners into the
text a host gets (nft ruleset, nginx configuration), and the promise the
audit makes: every registry it accepts, the firewall and proxy planning
accept too, so no play fails on a plan the audit let through."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit, _firewall_plan, _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import Inventory

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
    return Inventory(hostvars, GROUPS)


def nft_text(rules):
    policy = _rules.normalize_policy({})
    return backends.Nftables(_Runner()).render(_rules.normalize_rules(rules), policy, _rules.Defaults())


def test_registry_to_rules_to_nft():
    registries = {"db": [{"name": "ssh", "port": "ssh", "allow_from": ["edge"]},
                         {"name": "postgresql", "port": "postgresql", "allow_from": ["apps", "10.9.0.0/16"]},
                         {"name": "metrics", "port": 9100, "bind": "127.0.0.1"}]}
    rules = _firewall_plan.registry_rules(registries["db"], inventory(registries))
    text = nft_text(rules)
    assert '\t\tip saddr 10.0.0.1 tcp dport 22 accept comment "ssh internal"\n' in text
    assert '\t\tip saddr { 10.0.0.2, 10.9.0.0/16 } tcp dport 5432 accept comment "postgresql internal"\n' in text
    assert '\t\tip6 saddr fd00::2 tcp dport 5432 accept comment "postgresql internal"\n' in text
    assert "9100" not in text
    assert "type filter hook input priority filter; policy drop;" in text


def test_registry_to_sites_to_nginx():
    registries = {
        "app": [{"name": "docs", "port": 4001, "domain": "Docs.Example.com", "proxy": {"allow": ["edge", "apps"]}}],
        "edge": [{"name": "grafana", "port": "grafana", "expose": "private", "domain": "grafana.example.com"}],
    }
    sites = _proxy_plan.sites_from_registry(inventory(registries), sorted(registries), "edge")
    text = nginx_config.Renderer(sites).render()
    assert "upstream portcullis_docs_example_com {\n    server 10.0.0.2:4001;\n" in text
    assert "upstream portcullis_grafana_example_com {\n    server 127.0.0.1:3000;\n" in text
    docs = text[text.index("# docs.example.com: / -> 10.0.0.2:4001 (app/docs)"):]
    assert "        allow 10.0.0.1/32;\n        allow 10.0.0.2/32;\n        allow fd00::2/128;\n        deny all;\n" in docs


# Registries with values on both sides of every rule: upper-case and
# malformed domains, networks with host bits, zone ids, names of hosts that
# exist and do not, ports as names, ranges and non-ASCII digits, binds of
# every kind, proxy options right and wrong. Good values are drawn more often,
# so that many registries pass the audit and reach the planners.
def mostly(good, bad):
    return st.sampled_from(list(good) * 12 + list(bad))


_PORTS = mostly([80, 4001, "4002", "http", "postgresql", "www", "grafana", "8000-8010", 9100, 5000, 6000, 7000],
                ["ntp", "monitoring", "\u0664\u0660\u0660\u0661", 70000, "8000-7000"])
_SOURCES = mostly(["edge", "apps", "db", "10.0.0.0/8", "fd00::/64", "203.0.113.7"],
                  ["ghost", "10.0.0.5/8", "fe80::1%eth0", "bad name"])
_DOMAINS = mostly(["app.example.com", "App.Example.com", "api.example.com", "docs.example.com"],
                  ["*.example.com", "a..b", "x_y.com", "docs.example.com;", "example.com."])
_PROXY = st.fixed_dictionaries({}, optional={
    "rate_limit": mostly([True, False, {"rate": "5r/s"}], [{"rate": "fast"}, {"burst": -1}]),
    "client_max_body_size": mostly(["10m", "1g"], ["10 m", "x"]),
    "read_timeout": mostly(["60s", "90"], ["1 minute"]),
    "allow": st.lists(_SOURCES, max_size=2),
    "deny": st.lists(_SOURCES, max_size=1),
    "websocket": mostly([True, False], ["yes"]),
    "headers": mostly([{}, {"X-Team": "ops"}], [{"Host": "x"}, {"X-A": "a b"}]),
})
_ENTRY = st.fixed_dictionaries({"port": _PORTS}, optional={
    "protocol": mostly(["tcp", "both"], ["udp", "sctp"]),
    "bind": mostly(["0.0.0.0", "::", "127.0.0.1", "::1", "10.0.0.2"], ["10.0.0.0/8", "fe80::1%eth0"]),
    "expose": mostly(["public", "internal", "private"], ["world"]),
    "allow_from": st.lists(_SOURCES, max_size=3),
    "domain": _DOMAINS,
    "upstream": mostly(["10.0.0.2:4001", ["10.0.0.2:4001", "[fd00::2]:4001"]], ["10.0.0.2", "10.0.0.2:80;"]),
    "proxy": _PROXY,
})
_REGISTRY = st.lists(_ENTRY, max_size=3).map(
    lambda entries: [dict(entry, name="s%d" % number) for number, entry in enumerate(entries)])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"edge": _REGISTRY, "app": _REGISTRY, "db": _REGISTRY}))
def test_what_the_audit_accepts_every_planner_accepts(registries):
    inv = inventory(registries)
    report = _audit.audit(dict((host, {"services": registry}) for host, registry in registries.items()), None, inv)
    if report["plan_conflicts"]:
        return  # the audit stops the run here: nothing is enforced
    for host, registry in registries.items():
        rules = _firewall_plan.registry_rules(registry, inv, admin_sources=["edge", "203.0.113.0/24"])
        nft_text(rules)  # the module accepts the rules and renders them
    sites = _proxy_plan.sites_from_registry(inv, sorted(registries), "edge", policy=resolver.build_policy())
    nginx_config.Renderer(sites).render()
