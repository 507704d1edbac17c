# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's firewall rules as the plan makes them: exposure, sources by the
family each flow uses, the host settings read from the inventory with the
plan's defaults, extra rules last, and errors that name the value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan, PlanError

HOSTVARS = {
    "edge": {"ansible_host": "172.30.0.10"},
    "app": {"portcullis_address": ["172.30.0.11", "fd00::11"]},
    "etl": {"ansible_default_ipv4": {"address": "172.30.0.13"}},
    "lost": {"ansible_host": "lost.example.com"},
}
GROUPS = {"all": ["edge", "app", "etl", "lost"], "workers": ["app", "etl"]}


def rules_of(services, host="db", policy=None, **settings):
    hostvars = dict((name, dict(variables)) for name, variables in HOSTVARS.items())
    hostvars[host] = dict(hostvars.get(host, {"ansible_host": "172.30.0.20"}), portcullis_services=services,
                          **settings)
    return Plan.of(hostvars, dict(GROUPS, all=GROUPS["all"] + [host]), policy).host_rules(host)


def test_exposure():
    rules = rules_of([
        {"name": "web", "port": "https", "expose": "public"},
        {"name": "api", "port": 8000, "allow_from": ["edge"]},
        {"name": "db", "port": 5432, "expose": "internal", "allow_from": ["workers", "10.9.0.0/16", "10.9.1.1"]},
        {"name": "cache", "port": 6379, "expose": "private"},
        {"name": "local", "port": 9000, "bind": "127.0.0.1", "expose": "public"},
        {"name": "lonely", "port": 7000},
        {"name": "pinned", "port": 8443, "bind": "172.30.0.20", "expose": "public", "protocol": "both"},
    ], portcullis_firewall_admin_sources=["203.0.113.0/24", "edge"], portcullis_firewall_ssh_port=2222)
    # app's IPv6 address is not admitted to db: db listens on 0.0.0.0, IPv4 only, so app reaches it over IPv4.
    assert rules == [
        {"port": 2222, "source": ["172.30.0.10/32", "203.0.113.0/24"], "comment": "ssh from the admin sources"},
        {"port": "https", "protocol": "tcp", "comment": "web public"},
        {"port": 8000, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal"},
        {"port": 5432, "protocol": "tcp", "source": ["10.9.0.0/16", "10.9.1.1/32", "172.30.0.11/32", "172.30.0.13/32"],
         "comment": "db internal"},
        {"port": 8443, "protocol": "both", "destination": "172.30.0.20", "comment": "pinned public"},
    ]


def test_a_dual_stack_service_admits_the_family_each_client_uses():
    # bind :: listens on both families; the server's first address is IPv4, which app has, so app uses IPv4; a
    # client with IPv6 only uses the server's IPv6 address.
    hostvars = {"srv": {"portcullis_address": ["10.0.0.5", "fd00::5"],
                        "portcullis_services": [{"name": "api", "port": 8000, "bind": "::",
                                                 "allow_from": ["app", "six"]}]},
                "app": {"portcullis_address": ["fd00::11", "10.0.0.11"]},
                "six": {"portcullis_address": "fd00::12"}}
    rules = Plan.of(hostvars, {"all": list(hostvars)}).host_rules("srv")
    assert rules == [{"port": 8000, "protocol": "tcp", "source": ["10.0.0.11/32", "fd00::12/128"],
                      "comment": "api internal"}]


@pytest.mark.parametrize("services, error, message", [
    ([{"name": "api", "port": 8000, "allow_from": ["ghost"]}], InventoryError, "'ghost' is neither a CIDR nor a host"),
    ([{"name": "api", "port": 8000, "allow_from": ["lost"]}], InventoryError, "host 'lost' has no known address"),
    ([{"name": "api", "port": 8000, "allow_from": "edge"}], RegistryError, "must be a list"),
    ([{"name": "api", "port": 8000, "expose": "world"}], RegistryError, "invalid expose 'world'"),
    ([{"name": "api", "port": 8000, "bind": "1.2.3.400"}], RegistryError, "invalid bind address '1.2.3.400'"),
    ([{"port": 8000}], RegistryError, "entry 1: missing name"),
    ([{"name": "api", "port": 8000, "allow_from": ["10.77.0.5/8"]}], RegistryError, "has host bits set"),
])
def test_errors_name_the_value(services, error, message):
    with pytest.raises((error, PlanError), match=message):
        rules_of(services)


def test_a_source_of_a_family_the_service_does_not_listen_on_is_a_plan_error():
    # It was silently left out; now the plan names it, and no host gets rules from such a plan.
    with pytest.raises(PlanError, match=r"allow_from fd00::/64: fd00::/64 is IPv6, but api listens on 172\.30\.0\.20 "
                                        r"\(IPv4 only\)"):
        rules_of([{"name": "api", "port": 8000, "bind": "172.30.0.20", "allow_from": ["app", "fd00::/64"]}])


def test_a_service_bound_to_one_address_admits_the_clients_of_its_family():
    rules = rules_of([{"name": "api", "port": 8000, "bind": "172.30.0.20", "allow_from": ["app"]}])
    assert rules == [{"port": 8000, "protocol": "tcp", "destination": "172.30.0.20", "source": ["172.30.0.11/32"],
                      "comment": "api internal"}]


def test_a_host_address_with_host_bits_is_refused():
    plan = Plan.of({"app": {"portcullis_address": "10.0.0.5/24"},
                    "db": {"ansible_host": "10.0.0.3",
                           "portcullis_services": [{"name": "db", "port": 5432, "allow_from": ["app"]}]}}, {})
    with pytest.raises(InventoryError, match="portcullis_address of app '10.0.0.5/24' has host bits set"):
        plan.host_rules("db")


def test_range_names_resolve_with_the_policy():
    rules = rules_of([{"name": "batch", "port": "batch", "expose": "public"}], policy={"batch": "15000-15010"})
    assert rules == [{"port": "batch", "protocol": "tcp", "comment": "batch public"}]
    with pytest.raises(RegistryError, match="unknown port 'batch'"):
        rules_of([{"name": "batch", "port": "batch", "expose": "public"}])


def test_without_admin_sources_the_registrys_ssh_entry_decides():
    # The role's old default [0.0.0.0/0, ::/0] opened SSH to everyone ahead of the registry's allow_from.
    rules = rules_of([{"name": "ssh", "port": "ssh", "allow_from": ["203.0.113.0/24"]}])
    assert rules == [{"port": "ssh", "protocol": "tcp", "source": ["203.0.113.0/24"], "comment": "ssh internal"}]


def test_the_admin_sources_reach_the_registrys_ssh_port_by_default():
    rules = rules_of([{"name": "ssh", "port": 2200, "allow_from": ["203.0.113.0/24"]}],
                     portcullis_firewall_admin_sources=["198.51.100.0/24"])
    assert rules[0] == {"port": 2200, "source": ["198.51.100.0/24"], "comment": "ssh from the admin sources"}


def test_extra_rules_come_last_and_are_checked_with_the_plan():
    extra = [{"port": 7777, "comment": "by hand"}]
    rules = rules_of([{"name": "web", "port": 80, "expose": "public"}], portcullis_firewall_extra_rules=extra)
    assert rules == [{"port": 80, "protocol": "tcp", "comment": "web public"}, {"port": 7777, "comment": "by hand"}]
    with pytest.raises(PlanError, match=r"portcullis_firewall_extra_rules of db: rule 1 \(bad\): port 70000 \(int\) "
                                        r"is out of range"):
        rules_of([], portcullis_firewall_extra_rules=[{"port": 70000, "comment": "bad"}])


@pytest.mark.parametrize("variable, value, message", [
    ("portcullis_firewall_policy", {"output": "reject"}, "invalid verdict 'reject' for output"),
    ("portcullis_firewall_policy", "drop", "must be a mapping of chains"),
    ("portcullis_firewall_admin_sources", ["nowhere"], "'nowhere' is neither a CIDR nor a host or group"),
    ("portcullis_firewall_ssh_port", "sshh", "sshh"),
    ("portcullis_firewall_extra_rules", {"port": 1}, "must be a list of rules"),
])
def test_a_bad_host_setting_is_named(variable, value, message):
    with pytest.raises(PlanError, match="%s of db: .*%s" % (variable, message)):
        rules_of([], **{variable: value})


def test_a_published_container_port_gets_its_forwarded_path_too():
    rules = rules_of([{"name": "web", "port": 8081, "expose": "public", "publish": "dnat"},
                      {"name": "api", "port": 8082, "allow_from": ["edge"], "publish": "dnat"},
                      {"name": "priv", "port": 8083, "expose": "private", "publish": "dnat"}])
    assert rules == [
        {"port": 8081, "protocol": "tcp", "comment": "web public"},
        {"port": 8081, "protocol": "tcp", "comment": "web public", "direction": "forward"},
        {"port": 8082, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal"},
        {"port": 8082, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal", "direction": "forward"},
    ]
