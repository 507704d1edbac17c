# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.plugin_utils._firewall_plan import registry_rules
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import Inventory, InventoryError

HOSTVARS = {
    "edge": {"ansible_host": "172.30.0.10"},
    "app": {"portcullis_address": ["172.30.0.11", "fd00::11"]},
    "etl": {"ansible_default_ipv4": {"address": "172.30.0.13"}},
    "lost": {"ansible_host": "lost.example.com"},
}
GROUPS = {"all": ["edge", "app", "etl"], "workers": ["app", "etl"]}
INVENTORY = Inventory(HOSTVARS, GROUPS)


def test_exposure():
    rules = registry_rules([
        {"name": "web", "port": "https", "expose": "public"},
        {"name": "api", "port": 8000, "allow_from": ["edge"]},
        {"name": "db", "port": 5432, "expose": "internal", "allow_from": ["workers", "10.9.0.0/16", "10.9.1.1"]},
        {"name": "cache", "port": 6379, "expose": "private"},
        {"name": "local", "port": 9000, "bind": "127.0.0.1", "expose": "public"},
        {"name": "lonely", "port": 7000},
        {"name": "pinned", "port": 8443, "bind": "172.30.0.10", "expose": "public", "protocol": "both"},
    ], INVENTORY, admin_sources=["203.0.113.0/24", "edge"], ssh_port=2222)
    assert rules == [
        {"port": 2222, "source": ["172.30.0.10/32", "203.0.113.0/24"], "comment": "ssh from the admin sources"},
        {"port": "https", "protocol": "tcp", "comment": "web public"},
        {"port": 8000, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal"},
        {"port": 5432, "protocol": "tcp", "source": ["10.9.0.0/16", "10.9.1.1/32", "172.30.0.11/32", "172.30.0.13/32",
                                                     "fd00::11/128"], "comment": "db internal"},
        {"port": 8443, "protocol": "both", "destination": "172.30.0.10", "comment": "pinned public"},
    ]


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
    with pytest.raises(error, match=message):
        registry_rules(services, INVENTORY)


def test_a_service_bound_to_one_address_takes_sources_of_its_family():
    # Found by the property test: an IPv4 bind with an IPv6 source made a rule the firewall module refused.
    rules = registry_rules([{"name": "api", "port": 8000, "bind": "172.30.0.11", "allow_from": ["app", "fd00::/64"]},
                            {"name": "v6", "port": 8001, "bind": "fd00::11", "allow_from": ["10.0.0.0/8"]}], INVENTORY)
    assert rules == [{"port": 8000, "protocol": "tcp", "destination": "172.30.0.11", "source": ["172.30.0.11/32"],
                      "comment": "api internal"}]


def test_a_host_address_with_host_bits_is_refused():
    inventory = Inventory({"app": {"portcullis_address": "10.0.0.5/24"}}, {})
    with pytest.raises(InventoryError, match="portcullis_address of app '10.0.0.5/24' has host bits set"):
        registry_rules([{"name": "db", "port": 5432, "allow_from": ["app"]}], inventory)


def test_range_names_resolve_with_the_policy():
    from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import build_policy
    rules = registry_rules([{"name": "batch", "port": "batch", "expose": "public"}], INVENTORY,
                           policy=build_policy({"batch": "15000-15010"}))
    assert rules == [{"port": "batch", "protocol": "tcp", "comment": "batch public"}]
    with pytest.raises(RegistryError, match="unknown port 'batch'"):
        registry_rules([{"name": "batch", "port": "batch", "expose": "public"}], INVENTORY)


def test_without_admin_sources_the_registrys_ssh_entry_decides():
    # The role's old default [0.0.0.0/0, ::/0] opened SSH to everyone ahead of the registry's allow_from.
    rules = registry_rules([{"name": "ssh", "port": "ssh", "allow_from": ["203.0.113.0/24"]}], INVENTORY, admin_sources=[])
    assert rules == [{"port": "ssh", "protocol": "tcp", "source": ["203.0.113.0/24"], "comment": "ssh internal"}]


def test_a_published_container_port_gets_its_forwarded_path_too():
    rules = registry_rules([{"name": "web", "port": 8081, "expose": "public", "publish": "dnat"},
                            {"name": "api", "port": 8082, "allow_from": ["edge"], "publish": "dnat"},
                            {"name": "priv", "port": 8083, "expose": "private", "publish": "dnat"}], INVENTORY)
    assert rules == [
        {"port": 8081, "protocol": "tcp", "comment": "web public"},
        {"port": 8081, "protocol": "tcp", "comment": "web public", "direction": "forward"},
        {"port": 8082, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal"},
        {"port": 8082, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal", "direction": "forward"},
    ]
