# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The flows a vantage must reach and must not, from one registry: public
ports from anyone, internal ones from their allow_from (host, group, CIDR),
their clients (connects_to) and the proxies, private ones from nobody, SSH
from the admin sources, the undeclared sample and the listed ports closed;
an outsider reaches only what is public."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.plugin_utils import _reachability_plan as plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan, PlanError

REGISTRIES = {
    "edge": [
        {"name": "ssh", "port": "ssh", "allow_from": ["203.0.113.0/24"]},
        {"name": "http", "port": "http", "expose": "public"},
        {"name": "https", "port": "https", "expose": "public"},
    ],
    "app": [
        {"name": "api", "port": 8000, "domain": "app.example.com",
         "connects_to": [{"host": "db", "service": "postgresql"}]},
        {"name": "metrics", "port": 9100, "allow_from": ["monitoring"]},
        {"name": "cache", "port": 6379, "expose": "private"},
        {"name": "debug", "port": 5000, "bind": "127.0.0.1"},
        {"name": "batch", "port": "7000-7010", "allow_from": ["10.0.0.14"]},
        {"name": "dns", "port": "domain", "protocol": "udp", "bind": "::", "expose": "public"},
        {"name": "syslog", "port": 514, "protocol": "udp", "allow_from": ["data"]},
        {"name": "admin", "port": 8443, "bind": "10.0.0.111", "allow_from": ["bastion"]},
    ],
    "db": [
        {"name": "ssh", "port": "ssh", "allow_from": ["bastion"]},
        {"name": "postgresql", "port": "postgresql"},
    ],
    "etl": [{"name": "etl", "connects_to": [{"host": "db", "service": "postgresql"}]}],
}
GROUPS = {"all": ["edge", "app", "db", "etl", "mon", "bastion"], "proxies": ["edge"], "monitoring": ["mon"],
          "apps": ["app"], "data": ["db", "etl"]}


def inventory(registries=None, **variables):
    hostvars = {
        "edge": {"ansible_host": "10.0.0.10"},
        "app": {"portcullis_address": ["10.0.0.11", "10.0.0.111", "fd00::11"]},
        "db": {"ansible_default_ipv4": {"address": "10.0.0.13"}, "portcullis_firewall_admin_sources": ["198.51.100.0/24"]},
        "etl": {"ansible_host": "10.0.0.14"},
        "mon": {"ansible_host": "10.0.0.20"},
        "bastion": {"ansible_host": "10.0.0.5"},
    }
    for host, services in (REGISTRIES if registries is None else registries).items():
        hostvars[host]["portcullis_services"] = services
    for host, values in variables.items():
        hostvars[host].update(values)
    return Plan.of(hostvars, GROUPS)


def flows(vantage, found=None, **options):
    found = inventory() if found is None else found
    return plan.expected_flows(found, found.names, vantage, **options)


def table(result, kinds=None):
    """``{(host, port, protocol): expect}``, of some kinds only."""
    return dict(((flow["host"], flow["port"], flow["protocol"]), flow["expect"]) for flow in result
                if kinds is None or flow["kind"] in kinds)


def find(result, host, port, protocol="tcp"):
    matches = [flow for flow in result if (flow["host"], flow["port"], flow["protocol"]) == (host, port, protocol)]
    assert len(matches) == 1, matches
    return matches[0]


def test_an_outsider_reaches_only_the_public_ports():
    result = flows("192.0.2.50", undeclared_ports=[])
    assert sorted(key for key, expect in table(result).items() if expect == "open") == [
        ("app", 53, "udp"), ("edge", 80, "tcp"), ("edge", 443, "tcp")]
    assert table(result, ["denied", "private"]) == {
        ("edge", 22, "tcp"): "closed", ("app", 8000, "tcp"): "closed", ("app", 9100, "tcp"): "closed",
        ("app", 6379, "tcp"): "closed", ("app", 5000, "tcp"): "closed", ("app", 7000, "tcp"): "closed",
        ("app", 7010, "tcp"): "closed", ("app", 514, "udp"): "closed", ("app", 8443, "tcp"): "closed",
        ("db", 22, "tcp"): "closed", ("db", 5432, "tcp"): "closed"}
    assert find(result, "edge", 443) == {
        "host": "edge", "address": "10.0.0.10", "port": 443, "protocol": "tcp", "expect": "open",
        "why": "edge:443/tcp https public", "service": "https", "kind": "public", "probe": True}
    # Hosts without a registry are no targets; flows are sorted by host, port and protocol.
    assert sorted(set(flow["host"] for flow in result)) == ["app", "db", "edge"]
    assert result == sorted(result, key=lambda flow: (flow["host"], flow["port"], flow["protocol"]))


def test_internal_from_allow_from_a_group():
    result = flows("mon", undeclared_ports=[])
    assert find(result, "app", 9100)["expect"] == "open"
    assert find(result, "app", 9100)["why"] == "app:9100/tcp metrics internal: allow_from monitoring"
    assert find(result, "app", 8000)["expect"] == "closed"


def test_internal_from_allow_from_a_host():
    result = flows("bastion", undeclared_ports=[])
    assert find(result, "db", 22)["why"] == "db:22/tcp ssh internal: allow_from bastion"
    assert find(result, "db", 22)["kind"] == "allowed"
    # bound to one address of the host: probed there
    assert find(result, "app", 8443)["address"] == "10.0.0.111"
    assert find(result, "app", 8443)["expect"] == "open"


def test_a_service_bound_to_an_address_outside_the_inventory_is_not_probed():
    found = inventory(app={"portcullis_address": ["10.0.0.11", "fd00::11"]})
    admin = find(flows("bastion", found, undeclared_ports=[]), "app", 8443)
    assert (admin["address"], admin["expect"], admin["probe"]) == ("10.0.0.111", "open", False)
    assert admin["why"].endswith("(bound to 10.0.0.111, not an address of app in the inventory: add it to its "
                                 "portcullis_address to probe it; not probed)")


def test_internal_from_allow_from_a_cidr():
    inside = flows("203.0.113.9", undeclared_ports=[])
    assert find(inside, "edge", 22)["expect"] == "open"
    assert find(inside, "edge", 22)["why"] == "edge:22/tcp ssh internal: allow_from 203.0.113.0/24"
    outside = flows("192.0.2.50", undeclared_ports=[])
    assert find(outside, "edge", 22)["why"] == \
        "edge:22/tcp ssh internal, open only to allow_from 203.0.113.0/24: not to 192.0.2.50"
    # A CIDR naming one host's address lets that host in, and no other.
    assert find(flows("etl", undeclared_ports=[]), "app", 7000)["why"].startswith(
        "app:7000/tcp batch internal: allow_from 10.0.0.14")


def test_dependencies_open_the_server_to_each_client():
    from_app = flows("app", undeclared_ports=[])
    assert find(from_app, "db", 5432)["expect"] == "open"
    assert find(from_app, "db", 5432)["why"] == "db:5432/tcp postgresql internal: connects_to from app api"
    from_etl = flows("etl", undeclared_ports=[])
    assert find(from_etl, "db", 5432)["why"] == "db:5432/tcp postgresql internal: connects_to from etl etl"
    from_edge = flows("edge", undeclared_ports=[])
    assert find(from_edge, "db", 5432)["expect"] == "closed"
    assert find(from_edge, "db", 5432)["why"] == \
        "db:5432/tcp postgresql internal, open only to connects_to from app, etl: not to edge"


def test_the_proxy_reaches_the_backends_it_publishes():
    from_edge = flows("edge", undeclared_ports=[])
    assert find(from_edge, "app", 8000)["expect"] == "open"
    assert find(from_edge, "app", 8000)["why"] == \
        "app:8000/tcp api internal: proxy for app.example.com (edge is in proxies)"
    from_etl = flows("etl", undeclared_ports=[])
    assert find(from_etl, "app", 8000)["expect"] == "closed"
    assert find(from_etl, "app", 8000)["why"] == "app:8000/tcp api internal, open only to the proxies edge: not to etl"


def test_private_and_loopback_ports_are_closed_from_everywhere():
    for vantage in ("edge", "mon", "bastion", "etl", "192.0.2.50"):
        result = flows(vantage, undeclared_ports=[])
        assert find(result, "app", 6379)["expect"] == "closed"
        assert find(result, "app", 6379)["why"] == "app:6379/tcp cache private: listens on 127.0.0.1 only"
        assert find(result, "app", 6379)["address"] == "10.0.0.11"
        assert find(result, "app", 5000)["why"] == "app:5000/tcp debug bound to 127.0.0.1: loopback only"
        assert find(result, "app", 5000)["kind"] == "private"


def test_the_undeclared_sample_is_closed_where_nothing_declares_it():
    result = flows("192.0.2.50")
    undeclared = table(result, ["undeclared"])
    assert set(undeclared.values()) == {"closed"}
    assert sorted(port for host, port, _proto in undeclared if host == "edge") == list(plan.UNDECLARED_SAMPLE)
    # db declares postgresql: its 5432 is the registry's flow, not the sample's
    assert 5432 not in [port for host, port, _proto in undeclared if host == "db"]
    assert find(result, "db", 5432)["kind"] == "denied"
    assert find(result, "edge", 2375)["why"] == \
        "edge:2375/tcp undeclared: no registry entry of edge has it (a sample of ports that must stay closed)"


def test_the_undeclared_sample_is_the_callers_when_given():
    result = flows("192.0.2.50", undeclared_ports=[8081, "mysql", "9000-9001"])
    assert sorted(set(port for host, port, _proto in table(result, ["undeclared"]))) == [3306, 8081, 9000, 9001]


def test_ssh_from_the_admin_sources():
    # app declares no ssh: the admin sources' rule decides, and the flow says so
    found = inventory(app={"portcullis_firewall_admin_sources": ["bastion"]})
    from_bastion = flows("bastion", found, undeclared_ports=[])
    assert find(from_bastion, "app", 22)["expect"] == "open"
    assert find(from_bastion, "app", 22)["why"] == "app:22/tcp ssh: admin_sources"
    from_outside = flows("192.0.2.50", found, undeclared_ports=[])
    assert find(from_outside, "app", 22)["why"] == "app:22/tcp ssh, open only to admin_sources: not to 192.0.2.50"
    # Each host's own portcullis_firewall_admin_sources counts (db's: 198.51.100.0/24), read by the plan
    admin = flows("198.51.100.7", undeclared_ports=[])
    assert find(admin, "db", 22)["why"] == "db:22/tcp ssh internal: admin_sources"
    assert [flow for flow in admin if flow["host"] == "app" and flow["port"] == 22] == []
    assert find(flows("192.0.2.50", undeclared_ports=[]), "db", 22)["why"] == \
        "db:22/tcp ssh internal, open only to allow_from bastion; admin_sources: not to 192.0.2.50"


def test_port_ranges_and_udp():
    from_etl = flows("etl", undeclared_ports=[])
    batch = find(from_etl, "app", 7000)
    assert (batch["expect"], batch["probe"]) == ("open", False)
    assert "the range 7000-7010: what listens on a range comes and goes; not probed" in batch["why"]
    assert [flow["port"] for flow in from_etl if flow["service"] == "batch"] == [7000]
    assert find(from_etl, "app", 514, "udp")["why"] == "app:514/udp syslog internal: allow_from data"
    outside = flows("192.0.2.50", undeclared_ports=[])
    assert [(flow["port"], flow["expect"], flow["probe"]) for flow in outside if flow["service"] == "batch"] == [
        (7000, "closed", True), (7010, "closed", True)]


def test_the_vantage_is_no_target():
    assert [flow for flow in flows("app") if flow["host"] == "app"] == []
    # an address of an inventory host is that host
    assert [flow for flow in flows("10.0.0.10") if flow["host"] == "edge"] == []


def test_an_ipv6_vantage_probes_ipv6_addresses():
    result = flows("2001:db8::7", undeclared_ports=[])
    # dns binds :: (both families); metrics binds the default 0.0.0.0, IPv4 only
    assert find(result, "app", 53, "udp")["address"] == "fd00::11"
    assert find(flows("192.0.2.50", undeclared_ports=[]), "app", 53, "udp")["address"] == "10.0.0.11"
    metrics = find(result, "app", 9100)
    assert (metrics["address"], metrics["probe"]) == ("10.0.0.11", False)
    assert metrics["why"] == "app:9100/tcp metrics: listens on 0.0.0.0 (IPv4), app has IPv4 and IPv6, and the " \
                             "vantage 2001:db8::7 has IPv6 only; not probed"
    # edge has no IPv6 address: nothing there can be probed from an IPv6-only vantage
    assert [flow["probe"] for flow in result if flow["host"] == "edge"] == [False, False, False]


def test_closed_ports_per_host_group_or_everywhere():
    result = flows("192.0.2.50", undeclared_ports=[], closed_ports={"apps": [8081], "db": ["8082"]})
    assert table(result, ["listed"]) == {("app", 8081, "tcp"): "closed", ("db", 8082, "tcp"): "closed"}
    assert find(result, "app", 8081)["why"] == "app:8081/tcp in closed_ports: must stay closed"
    everywhere = flows("192.0.2.50", undeclared_ports=[], closed_ports=[8081])
    # etl listens nowhere, but it has a registry: its firewall is enforced, so it is a target
    assert sorted(host for host, _port, _proto in table(everywhere, ["listed"])) == ["app", "db", "edge", "etl"]


@pytest.mark.parametrize("vantage, options, error, message", [
    ("edgee", {}, plan.ReachabilityPlanError, "vantage 'edgee' is neither a host of the inventory nor an IP address "
                                              "(did you mean edge?)"),
    ("10.0.0.300", {}, plan.ReachabilityPlanError, "vantage '10.0.0.300' is not an IP address"),
    ("192.0.2.50", {"closed_ports": {"edge": [443]}}, plan.ReachabilityPlanError,
     "closed_ports: port 443 of edge must stay closed, but the registry opens it to 192.0.2.50 (accepted by rule 3 "
     "(https public))"),
    ("192.0.2.50", {"closed_ports": {"webservers": [8081]}}, plan.ReachabilityPlanError,
     "closed_ports: 'webservers' is neither a host nor a group of the inventory"),
    ("192.0.2.50", {"closed_ports": "8081"}, plan.ReachabilityPlanError, "closed_ports must be a list of ports"),
    ("192.0.2.50", {"undeclared_ports": ["postgressql"]}, plan.ReachabilityPlanError,
     "undeclared_ports: unknown port 'postgressql'"),
])
def test_bad_input_is_named(vantage, options, error, message):
    with pytest.raises(error) as caught:
        flows(vantage, **options)
    assert message in str(caught.value)


def test_a_wrong_registry_or_dependency_stops_the_plan():
    broken = dict(REGISTRIES, db=[{"name": "postgresql", "port": "postgressql"}])
    with pytest.raises(RegistryError, match="host db: service 'postgresql'"):
        flows("192.0.2.50", inventory(broken))
    dangling = dict(REGISTRIES, etl=[{"name": "etl", "connects_to": [{"host": "db", "service": "mysql"}]}])
    with pytest.raises(PlanError, match="db service 'mysql', which db does not declare"):
        flows("192.0.2.50", inventory(dangling))


def test_a_vantage_whose_output_drops_reaches_only_what_it_connects_to():
    """With output drop, an inventory host reaches what its registry's connects_to lets out, and no other port a
    target would let it in to: public ports and its allow_from are closed from it, each flow naming its firewall."""
    found = inventory(etl={"portcullis_firewall_policy": {"input": "drop", "output": "drop"}})
    result = flows("etl", found, undeclared_ports=[])
    assert find(result, "db", 5432)["expect"] == "open"
    assert find(result, "db", 5432)["why"] == "db:5432/tcp postgresql internal: connects_to from etl etl"
    assert find(result, "edge", 443) == {
        "host": "edge", "address": "10.0.0.10", "port": 443, "protocol": "tcp", "expect": "closed",
        "why": "edge:443/tcp https public, but the firewall of etl: a new TCP connection from 10.0.0.14 to 10.0.0.10 "
               "port 443 matches no rule of the output chain and its policy is drop",
        "service": "https", "kind": "denied", "probe": True}
    assert find(result, "app", 7000)["expect"] == "closed"
    assert find(result, "app", 7000)["why"].startswith(
        "app:7000/tcp batch internal: allow_from 10.0.0.14/32, but the firewall of etl: ")
    # The same host with the firewall role's default policy (output accept) reaches it, and so does an outsider.
    assert find(flows("etl", undeclared_ports=[]), "edge", 443)["expect"] == "open"
    assert find(flows("192.0.2.50", found, undeclared_ports=[]), "edge", 443)["expect"] == "open"


def test_a_connects_to_an_outside_network_lets_the_ports_it_names_out():
    """An outbound rule to a CIDR lets out what it names, to inventory hosts inside it too."""
    registries = dict(REGISTRIES, etl=[
        {"name": "etl", "connects_to": [{"host": "db", "service": "postgresql"},
                                        {"to": ["10.0.0.0/24"], "port": ["https"], "comment": "updates"}]}])
    found = inventory(registries, etl={"portcullis_firewall_policy": {"output": "drop"}})
    result = flows("etl", found, undeclared_ports=[])
    assert find(result, "edge", 443)["expect"] == "open"
    assert find(result, "edge", 80)["expect"] == "closed"


@pytest.mark.parametrize("given", ["drop", {"output": "reject"}, ["output", "drop"], {"outptu": "drop"}])
def test_a_wrong_firewall_policy_of_the_vantage_is_named(given):
    with pytest.raises(PlanError, match="portcullis_firewall_policy of etl: "):
        flows("etl", inventory(etl={"portcullis_firewall_policy": given}), undeclared_ports=[])
    # As a target too: its rules cannot be known.
    with pytest.raises(PlanError, match="portcullis_firewall_policy of etl: "):
        flows("192.0.2.50", inventory(etl={"portcullis_firewall_policy": given}), undeclared_ports=[])


def test_a_port_an_extra_rule_opens_is_expected_open_and_named():
    # Tried as a new user would: the plan read the firewall settings itself and left the extra rules out, so a port
    # an extra rule opens was expected closed. They are part of the plan now, and the reason names the rule.
    found = inventory(db={"portcullis_firewall_extra_rules": [{"port": 6000, "source": "192.0.2.0/24",
                                                               "comment": "vendor sync"},
                                                              {"port": "postgresql", "comment": "opened by hand"}]})
    result = flows("192.0.2.50", found, undeclared_ports=[6000, 6001])
    assert find(result, "db", 5432)["expect"] == "open"
    assert find(result, "db", 5432)["why"] == ("db:5432/tcp postgresql internal: accepted by "
                                               "portcullis_firewall_extra_rules item 2 (opened by hand)")
    # The sample of undeclared ports leaves out what an extra rule opens to this vantage, and the port is expected
    # open, named (tried as a new user would: it was in no flow at all).
    assert [flow["port"] for flow in result if flow["host"] == "db" and flow["kind"] == "undeclared"] == [6001]
    assert find(result, "db", 6000)["expect"] == "open"
    assert find(result, "db", 6000)["kind"] == "extra"
    assert find(result, "db", 6000)["why"] == ("db:6000/tcp accepted by portcullis_firewall_extra_rules item 1 "
                                               "(vendor sync)")
    # Not to a vantage the rule does not admit: no flow (the sample says closed where it probes).
    assert [flow for flow in flows("198.18.0.9", found, undeclared_ports=[]) if flow["port"] == 6000] == []
    with pytest.raises(plan.ReachabilityPlanError, match="accepted by portcullis_firewall_extra_rules item 1 "
                                                         "\\(vendor sync\\)"):
        flows("192.0.2.50", found, undeclared_ports=[], closed_ports={"db": [6000]})
    # A drop among the extra rules closes what the registry opens, and says which rule.
    dropped = inventory(edge={"portcullis_firewall_extra_rules": [{"port": 443, "action": "drop",
                                                                   "comment": "maintenance"}]})
    https = find(flows("192.0.2.50", dropped, undeclared_ports=[]), "edge", 443)
    assert https["expect"] == "open"  # the registry's accept comes first: the first matching rule decides


def test_extra_rules_of_both_protocols_ranges_and_the_ssh_port():
    # Other values of the same kind: UDP and TCP in one rule, a range (its first port), a port the admin SSH rule
    # already admits (the admin flow says it), a rule for every port (no flow: nothing to name a port by).
    found = inventory(db={"portcullis_firewall_extra_rules": [
        {"port": "7000-7002", "protocol": "both", "comment": "game"},
        {"port": 22, "source": "198.51.100.7"},
        {"source": "192.0.2.99"}]})
    result = flows("192.0.2.99", found, undeclared_ports=[])
    extra = table(result, kinds=("extra",))
    assert extra == {("db", 7000, "tcp"): "open", ("db", 7000, "udp"): "open"}
    assert "portcullis_firewall_extra_rules item 1 (game)" in find(result, "db", 7000, "udp")["why"]
    # An extra rule the vantage's own output policy stops is no open flow.
    closed_out = inventory(db={"portcullis_firewall_extra_rules": [{"port": 7100}]},
                           etl={"portcullis_firewall_policy": {"output": "drop"}})
    assert [flow for flow in flows("etl", closed_out, undeclared_ports=[]) if flow["port"] == 7100] == []
    assert table(flows("192.0.2.1", closed_out, undeclared_ports=[]), kinds=("extra",)) == {("db", 7100, "tcp"): "open"}


def test_the_targets_input_policy_is_the_plans():
    found = inventory(db={"portcullis_firewall_policy": {"input": "accept"}})
    result = flows("192.0.2.50", found, undeclared_ports=[3306])
    assert find(result, "db", 5432)["expect"] == "open"
    assert "accepted by the input policy" in find(result, "db", 5432)["why"]
    assert [flow for flow in result if flow["host"] == "db" and flow["port"] == 3306] == []
