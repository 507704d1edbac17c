# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils._registry_rules import RegistryRuleError, registry_rules

ADDRESSES = {"edge": ["172.30.0.10"], "app": ["172.30.0.11", "fd00::11"], "etl": ["172.30.0.13"]}
GROUPS = {"all": ["edge", "app", "etl"], "workers": ["app", "etl"]}


def addresses_of(host, what):
    if host not in ADDRESSES:
        raise RegistryRuleError("%s: unknown host %r" % (what, host))
    return ADDRESSES[host]


def test_exposure():
    rules = registry_rules([
        {"name": "web", "port": "https", "expose": "public"},
        {"name": "api", "port": 8000, "allow_from": ["edge"]},
        {"name": "db", "port": 5432, "expose": "internal", "allow_from": ["workers", "10.9.0.0/16", "10.9.1.1"]},
        {"name": "cache", "port": 6379, "expose": "private"},
        {"name": "local", "port": 9000, "bind": "127.0.0.1", "expose": "public"},
        {"name": "lonely", "port": 7000},
        {"name": "pinned", "port": 8443, "bind": "172.30.0.10", "expose": "public", "protocol": "both"},
    ], addresses_of, GROUPS, admin_sources=["203.0.113.0/24", "edge"], ssh_port=2222)
    assert rules == [
        {"port": 2222, "source": ["172.30.0.10/32", "203.0.113.0/24"], "comment": "ssh from the admin sources"},
        {"port": "https", "protocol": "tcp", "comment": "web public"},
        {"port": 8000, "protocol": "tcp", "source": ["172.30.0.10/32"], "comment": "api internal"},
        {"port": 5432, "protocol": "tcp", "source": ["10.9.0.0/16", "10.9.1.1/32", "172.30.0.11/32", "172.30.0.13/32",
                                                     "fd00::11/128"], "comment": "db internal"},
        {"port": 8443, "protocol": "both", "destination": "172.30.0.10", "comment": "pinned public"},
    ]


@pytest.mark.parametrize("services, message", [
    ([{"name": "api", "port": 8000, "allow_from": ["ghost"]}], "unknown host 'ghost'"),
    ([{"name": "api", "port": 8000, "allow_from": "edge"}], "must be a list"),
    ([{"name": "api", "port": 8000, "expose": "world"}], "invalid expose 'world'"),
    ([{"name": "api", "port": 8000, "bind": "1.2.3.400"}], "invalid bind address '1.2.3.400'"),
    ([{"port": 8000}], "needs at least a name and a port"),
])
def test_errors_name_the_value(services, message):
    with pytest.raises(RegistryRuleError, match=message):
        registry_rules(services, addresses_of, GROUPS)
