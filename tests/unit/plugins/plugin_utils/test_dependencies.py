# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A dependency declared once yields both sides' rules; names that do not
exist are named; the proxies reach what they publish."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.plugin_utils import _dependencies
from ansible_collections.portcullis.ports.plugins.plugin_utils._firewall_plan import FirewallPlanError, registry_rules
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import Inventory

ADDRESSES = {"web": "10.0.0.10", "api": "10.0.0.12", "db": "10.0.0.13", "etl": "10.0.0.14"}


def inventory(registries, groups=None):
    hostvars = dict((host, {"ansible_host": address}) for host, address in ADDRESSES.items())
    for host, services in registries.items():
        hostvars[host]["portcullis_services"] = services
    return Inventory(hostvars, dict({"all": sorted(ADDRESSES)}, **(groups or {})))


def plan_for(registries, host, groups=None):
    found = inventory(registries, groups)
    return registry_rules(registries.get(host, []), found, host=host)


BASE = {
    "db": [{"name": "postgresql", "port": "postgresql"}],
    "api": [{"name": "api", "port": 8000, "connects_to": [{"host": "db", "service": "postgresql", "comment": "queries"}]}],
    "etl": [{"name": "etl", "connects_to": [{"host": "db", "service": "postgresql"}]}],
}


def test_one_declaration_yields_the_matching_pair_of_rules():
    db_rules = plan_for(BASE, "db")
    api_rules = plan_for(BASE, "api")
    assert db_rules == [{"port": "postgresql", "protocol": "tcp", "source": ["10.0.0.12/32", "10.0.0.14/32"],
                         "comment": "postgresql internal"}]
    assert [rule for rule in api_rules if rule.get("direction") == "out"] == [
        {"direction": "out", "port": ["5432"], "protocol": "tcp", "destination": ["10.0.0.13/32"],
         "comment": "api -> db postgresql (queries)"}]
    # The client that listens nowhere gets its outbound rule and nothing inbound.
    assert plan_for(BASE, "etl") == [{"direction": "out", "port": ["5432"], "protocol": "tcp",
                                      "destination": ["10.0.0.13/32"], "comment": "etl -> db postgresql"}]


def test_a_rename_of_the_service_moves_both_rules():
    renamed = dict(BASE)
    renamed["db"] = [{"name": "pg", "port": 6432}]
    renamed["api"] = [{"name": "api", "port": 8000, "connects_to": [{"host": "db", "service": "pg"}]}]
    renamed["etl"] = []
    assert plan_for(renamed, "db") == [{"port": 6432, "protocol": "tcp", "source": ["10.0.0.12/32"],
                                        "comment": "pg internal"}]
    assert [rule for rule in plan_for(renamed, "api") if rule.get("direction") == "out"] == [
        {"direction": "out", "port": ["6432"], "protocol": "tcp", "destination": ["10.0.0.13/32"],
         "comment": "api -> db pg"}]


def test_allow_from_keeps_working_and_merges():
    merged = dict(BASE)
    merged["db"] = [{"name": "postgresql", "port": "postgresql", "allow_from": ["192.0.2.0/24", "api"]}]
    assert plan_for(merged, "db")[0]["source"] == ["10.0.0.12/32", "10.0.0.14/32", "192.0.2.0/24"]


def test_a_group_target_reaches_every_host_of_it():
    registries = {"db": [{"name": "pg", "port": 5432}], "etl": [{"name": "pg", "port": 5432}],
                  "api": [{"name": "api", "port": 8000, "connects_to": [{"host": "data", "service": "pg"}]}]}
    rules = plan_for(registries, "api", groups={"data": ["db", "etl"]})
    destinations = [rule["destination"] for rule in rules if rule.get("direction") == "out"]
    assert destinations == [["10.0.0.13/32"], ["10.0.0.14/32"]]
    assert plan_for(registries, "etl", groups={"data": ["db", "etl"]})[0]["source"] == ["10.0.0.12/32"]


def test_destinations_outside_the_inventory():
    registries = {"api": [{"name": "updates", "connects_to": [
        {"to": ["0.0.0.0/0", "::/0"], "port": ["http", "https"]},
        {"to": "SII.cl", "port": "https", "comment": "scraping"},
        {"to": "192.0.2.53", "port": "domain", "protocol": "both"}]}]}
    assert plan_for(registries, "api") == [
        {"direction": "out", "port": ["80", "443"], "protocol": "tcp", "destination": ["0.0.0.0/0", "::/0"],
         "comment": "updates -> 0.0.0.0/0, ::/0"},
        {"direction": "out", "port": ["443"], "protocol": "tcp", "destination_name": ["sii.cl"],
         "comment": "updates -> sii.cl (scraping)"},
        {"direction": "out", "port": ["53"], "protocol": "both", "destination": ["192.0.2.53/32"],
         "comment": "updates -> 192.0.2.53/32"},
    ]


@pytest.mark.parametrize("connects_to, message", [
    ([{"host": "dbb", "service": "postgresql"}], "api connects_to 'dbb', which is neither a host nor a group of the "
                                                 "inventory \\(did you mean db\\?\\)"),
    ([{"host": "db", "service": "postgres"}], "db service 'postgres', which db does not declare \\(did you mean "
                                              "postgresql\\?\\)"),
    ([{"host": "db", "service": "cache"}], "which db does not declare \\(it declares postgresql, cache\\)"),
    ([{"host": "web", "service": "x"}], "web has no registry"),
])
def test_a_dependency_on_what_does_not_exist_is_named(connects_to, message):
    registries = {"db": [{"name": "postgresql", "port": 5432}, {"name": "cache", "port": 6379, "expose": "private"}],
                  "api": [{"name": "api", "port": 8000, "connects_to": connects_to}]}
    if connects_to[0]["service"] == "cache":
        message = "which listens on 127.0.0.1 only: no other host can reach it"
    with pytest.raises(FirewallPlanError, match=message):
        plan_for(registries, "api")
    # Found on review: the server still applied, without the flow the client had until the typo.
    with pytest.raises(FirewallPlanError, match="no rules are made for any host: .*" + message):
        plan_for(registries, "db")
    _edges, problems = _dependencies.plan(inventory(registries))
    assert len(problems) == 1 and problems[0]["host"] == "api"


def test_the_proxies_reach_every_backend_they_publish_and_the_backend_lets_them_in():
    registries = {
        "web": [{"name": "https", "port": 443, "expose": "public"}],
        "api": [{"name": "api", "port": 8000, "domain": "api.example.com"}],
        "db": [{"name": "admin", "port": 9000, "domain": "admin.example.com",
                "upstream": ["db:9001", "192.0.2.7:80", "backend.example.net:8080"]},
               {"name": "admin-backend", "port": 9001}],
    }
    groups = {"proxies": ["web"]}
    out = [rule for rule in plan_for(registries, "web", groups) if rule.get("direction") == "out"]
    assert out == [
        {"direction": "out", "port": ["8000"], "protocol": "tcp", "destination": ["10.0.0.12/32"],
         "comment": "nginx -> api api (api.example.com)"},
        {"direction": "out", "port": ["9001"], "protocol": "tcp", "destination": ["10.0.0.13/32"],
         "comment": "nginx -> db admin-backend (admin.example.com)"},
        {"direction": "out", "port": ["80"], "protocol": "tcp", "destination": ["192.0.2.7/32"],
         "comment": "nginx -> 192.0.2.7/32 (admin.example.com)"},
        {"direction": "out", "port": ["8080"], "protocol": "tcp", "destination_name": ["backend.example.net"],
         "comment": "nginx -> backend.example.net (admin.example.com)"},
    ]
    assert plan_for(registries, "api", groups) == [{"port": 8000, "protocol": "tcp", "source": ["10.0.0.10/32"],
                                                    "comment": "api internal"}]
    assert plan_for(registries, "db", groups) == [{"port": 9001, "protocol": "tcp", "source": ["10.0.0.10/32"],
                                                   "comment": "admin-backend internal"}]
