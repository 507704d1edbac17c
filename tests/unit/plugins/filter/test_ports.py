# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.portcullis.ports.plugins.filter.ports import FilterModule

FILTERS = FilterModule().filters()


def test_filter_names_are_the_public_contract():
    assert set(FILTERS) == {"service_port", "port_range", "port_ranges", "port_syntax", "firewall_rules", "proxy_sites", "port_map", "ssh_endpoint",
                            "health_targets", "reachability_flows", "inventory_addresses", "play_keyword",
                            "edge_exporter", "registry_draft", "adoption_flows", "adoption_cuts", "adoption_probes",
                            "adoption_probed", "adoption_map", "controller_dir"}


def test_controller_dir_is_the_inventory_s_or_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert FILTERS["controller_dir"]("/srv/infra/inventories/prod") == "/srv/infra/inventories/prod"
    for inline in (None, "None", "", " "):
        assert FILTERS["controller_dir"](inline) == str(tmp_path)


def test_service_port():
    assert FILTERS["service_port"]("ssh") == 22
    assert FILTERS["service_port"]("PostgreSQL") == 5432
    assert FILTERS["service_port"](8080) == 8080
    assert FILTERS["service_port"]("8080") == 8080


def test_port_range():
    assert FILTERS["port_range"]("monitoring") == "9000-9999"
    assert FILTERS["port_range"]("monitoring", policy={"monitoring": "19000-19999"}) == "19000-19999"


def test_port_ranges():
    assert FILTERS["port_ranges"](["ssh", "http", "monitoring", 8080, "6000-6010"]) == \
        ["22", "80", "6000-6010", "8080", "9000-9999"]
    assert FILTERS["port_ranges"]([80, 81, 82]) == ["80-82"]


def test_port_syntax():
    assert FILTERS["port_syntax"](["ssh", 80, 81, "8000-8010"], "nft") == "{ 22, 80-81, 8000-8010 }"
    assert FILTERS["port_syntax"](["ssh", "https", "8000-8010"], "iptables") == ["22,443,8000:8010"]
    assert FILTERS["port_syntax"](["dns"], "firewalld", protocol="both") == ["53/tcp", "53/udp"]
    assert FILTERS["port_syntax"](["ssh", 23]) == ["22-23"]


@pytest.mark.parametrize("name, args, kwargs, message", [
    ("service_port", ["postgressql"], {}, "portcullis.ports.service_port: unknown port 'postgressql'.*did you mean postgresql"),
    ("service_port", [65536], {}, "portcullis.ports.service_port: port 65536"),
    ("service_port", ["ssh"], {"protocol": "icmp"}, "unknown protocol 'icmp'"),
    ("port_range", ["nowhere"], {}, "portcullis.ports.port_range: unknown port range 'nowhere'"),
    ("port_ranges", [["ssh", "abc def"]], {}, "portcullis.ports.port_ranges: unknown port 'abc def'"),
    ("port_syntax", [["ssh"], "pf"], {}, "portcullis.ports.port_syntax: unknown syntax 'pf'"),
    ("port_syntax", [["ssh"], "nft"], {"protocol": "icmp"}, "unknown protocol 'icmp'"),
])
def test_errors_are_filter_errors_naming_the_value(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args, **kwargs)


def test_firewall_rules_from_hostvars():
    hostvars = {
        "edge": {"ansible_host": "192.0.2.10"},
        "app": {"ansible_default_ipv4": {"address": "192.0.2.11"}, "ansible_default_ipv6": {"address": "2001:db8::11"}},
        "db": {"portcullis_address": "192.0.2.12", "ansible_host": "db.example.test"},
        "nofacts": {"ansible_host": "nofacts.example.test"},
    }
    groups = {"apps": ["app"]}
    registry = [{"name": "db", "port": "postgresql", "allow_from": ["apps", "edge", "db"]}]
    hostvars["db"].update(portcullis_services=registry, portcullis_firewall_admin_sources=["edge"],
                          portcullis_firewall_ssh_port="ssh")
    rules = FILTERS["firewall_rules"]("db", hostvars=hostvars, groups=groups, seen={"portcullis_services": registry})
    assert rules[0] == {"port": 22, "source": ["192.0.2.10/32"], "comment": "ssh from the admin sources"}
    # db listens on IPv4 (bind 0.0.0.0): each client is admitted at its IPv4 address; db itself goes over loopback.
    assert rules[1]["source"] == ["192.0.2.10/32", "192.0.2.11/32"]
    # What the role sees must be what the inventory holds.
    with pytest.raises(AnsibleFilterError, match="portcullis_firewall_policy of db is set where other hosts cannot "
                                                 "read it"):
        FILTERS["firewall_rules"]("db", hostvars=hostvars, groups=groups,
                                  seen={"portcullis_firewall_policy": {"output": "drop"}})
    hostvars["db"]["portcullis_services"] = [{"name": "x", "port": 1, "allow_from": ["nofacts"]}]
    with pytest.raises(AnsibleFilterError, match="host 'nofacts' has no known address"):
        FILTERS["firewall_rules"]("db", hostvars=hostvars, groups=groups)
    hostvars["db"]["portcullis_services"] = [{"name": "x", "port": 1, "allow_from": ["ghost"]}]
    with pytest.raises(AnsibleFilterError, match="'ghost' is neither a CIDR nor a host or group"):
        FILTERS["firewall_rules"]("db", hostvars=hostvars, groups=groups)


def test_proxy_sites_from_the_whole_inventory():
    hostvars = {
        "edge": {"ansible_host": "192.0.2.10", "portcullis_services": [{"name": "https", "port": 443}]},
        "app": {"portcullis_address": "192.0.2.11",
                "portcullis_services": [{"name": "docs", "port": 4001, "domain": "docs.example.com",
                                         "proxy": {"allow": ["edge"]}}]},
        "nothing": {},
    }
    sites = FILTERS["proxy_sites"](["edge", "app", "nothing"], hostvars=hostvars, groups={}, proxy_host="edge",
                                   defaults={"rate_limit": True})
    assert [(site["domain"], [(route["path"], route["upstreams"], route["allow"], route["rate_limit"])
                              for route in site["routes"]]) for site in sites] == \
        [("docs.example.com", [("/", [{"server": "192.0.2.11:4001"}], ["192.0.2.10/32"], {"rate": "10r/s", "burst": 20})])]
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.proxy_sites: 'ghost' is not a host of the inventory"):
        FILTERS["proxy_sites"](["ghost"], hostvars=hostvars)
    with pytest.raises(AnsibleFilterError, match="the input must be a list of inventory hosts"):
        FILTERS["proxy_sites"]("app", hostvars=hostvars)
    hostvars["app"]["portcullis_services"][0]["domain"] = "docs.example.com;"
    with pytest.raises(AnsibleFilterError, match=r"'docs.example.com;' contains ';'"):
        FILTERS["proxy_sites"](["app"], hostvars=hostvars)


def test_port_map_reads_live_data_and_counts_hosts_outside_the_run():
    hostvars = {
        "app": {"portcullis_address": "10.0.0.2", "portcullis_services": [{"name": "api", "port": 8000, "expose": "public"}],
                "portcullis_audit_live": [{"protocol": "tcp", "address": "0.0.0.0", "port": 8000, "process": "node", "pid": 7}]},
        "twin": {"portcullis_address": "10.0.0.2", "portcullis_services": [{"name": "api", "port": 8000, "expose": "public"}]},
        "bare": {},
    }
    report = FILTERS["port_map"](["app"], hostvars=hostvars, groups={})
    assert [entry["name"] for entry in report["hosts"]] == ["app", "twin"]
    assert report["hosts"][0]["rows"][0]["status"] == "listening" and not report["hosts"][1]["checked"]
    assert [item["kind"] for item in report["plan_conflicts"]] == ["shared_public_port"]
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.port_map: 'ghost' is not a host of the inventory"):
        FILTERS["port_map"](["ghost"], hostvars=hostvars)


def test_port_map_refuses_a_registry_other_hosts_cannot_read():
    # The audit play saw portcullis_services from a play's vars; hostvars (what nginx_proxy reads) did not hold it.
    registry = [{"name": "web", "port": 443, "expose": "public", "domain": "app.example.com"}]
    hostvars = {"riwi": {"portcullis_address": "10.0.0.2", "portcullis_audit_check": {"registry": registry}}}
    with pytest.raises(AnsibleFilterError, match="portcullis_services of riwi is set where other hosts cannot read it.*"
                                                 "host_vars/riwi.yml"):
        FILTERS["port_map"](["riwi"], hostvars=hostvars, groups={})
    # The registry as given in a play's vars, seen directly (seen_var holding the registry itself).
    with pytest.raises(AnsibleFilterError, match="portcullis_services of riwi is set where other hosts cannot read it"):
        FILTERS["port_map"](["riwi"], hostvars=dict(hostvars, riwi=dict(hostvars["riwi"], seen=registry)), groups={},
                            seen_var="seen")
    hostvars["riwi"]["portcullis_services"] = registry
    assert FILTERS["port_map"](["riwi"], hostvars=hostvars, groups={})["plan_conflicts"] == []


def test_proxy_sites_refuses_a_registry_other_hosts_cannot_read():
    registry = [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]
    with pytest.raises(AnsibleFilterError, match="portcullis_services of riwi is set where other hosts cannot read it"):
        FILTERS["proxy_sites"](["riwi"], hostvars={"riwi": {}}, proxy_host="riwi", services=registry)


def test_ssh_endpoint():
    assert FILTERS["ssh_endpoint"]([{"name": "ssh", "port": "ssh", "bind": "10.0.0.5"}]) == {
        "port": 22, "addresses": ["10.0.0.5"], "allow_from": []}
    assert FILTERS["ssh_endpoint"]([], 2222) == {"port": 2222, "addresses": [], "allow_from": []}
    # With the inventory, allow_from becomes networks (the sshd role's penalty exemption).
    resolved = FILTERS["ssh_endpoint"]([{"name": "ssh", "port": 22, "allow_from": ["admins", "203.0.113.0/24"]}],
                                       hostvars={"bastion": {"portcullis_address": "10.0.0.9"}},
                                       groups={"admins": ["bastion"]})
    assert resolved["sources"] == ["10.0.0.9/32", "203.0.113.0/24"]
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.ssh_endpoint: .*'2200-2210' is a range"):
        FILTERS["ssh_endpoint"]([{"name": "ssh", "port": "2200-2210"}])


class _Unread(dict):
    """hostvars that fail when read: the filter must not read the inventory."""

    def __getitem__(self, key):
        raise AssertionError("the inventory was read for %s" % key)

    def keys(self):
        raise AssertionError("the inventory was read")


@pytest.mark.parametrize("allow_from", [["203.0.113.0/24", "10.0.0.9"], ["2001:db8::/64", "192.0.2.1/32", "10.0.0.0/8"],
                                        ["10.0.0.9", "10.0.0.9/32"], []])
def test_ssh_endpoint_sources_of_addresses_need_no_inventory_and_match_the_plan(allow_from):
    services = [{"name": "ssh", "port": 22, "allow_from": allow_from}]
    # Addresses and CIDRs alone are not resolved through the plan, so the inventory is not read (one read of every
    # host's variables less per call); the answer is the plan's own.
    quick = FILTERS["ssh_endpoint"](services, hostvars=_Unread(), groups={})["sources"]
    from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan
    plan = Plan.of({"bastion": {"portcullis_address": "10.0.0.9"}}, {})
    assert quick == plan.sources(allow_from, "ssh allow_from")


def test_ssh_endpoint_sources_with_a_name_read_the_inventory():
    services = [{"name": "ssh", "port": 22, "allow_from": ["203.0.113.0/24", "bastion"]}]
    with pytest.raises(AssertionError, match="the inventory was read"):
        FILTERS["ssh_endpoint"](services, hostvars=_Unread(), groups={})


REACH_HOSTVARS = {
    "edge": {"ansible_host": "192.0.2.10", "portcullis_services": [{"name": "https", "port": "https", "expose": "public"}]},
    "db": {"portcullis_address": ["192.0.2.12", "2001:db8::12"],
           "portcullis_services": [{"name": "postgresql", "port": "postgresql", "allow_from": ["apps"]}]},
    "app": {"ansible_default_ipv4": {"address": "192.0.2.11"}},
}
REACH_GROUPS = {"all": ["edge", "db", "app"], "apps": ["app"]}


def test_reachability_flows_and_the_addresses_they_may_go_to():
    flows = FILTERS["reachability_flows"](["edge", "db", "app"], hostvars=REACH_HOSTVARS, groups=REACH_GROUPS,
                                          vantage="app", undeclared_ports=["mysql"])
    assert [(flow["host"], flow["port"], flow["expect"], flow["why"]) for flow in flows] == [
        ("db", 3306, "closed", "db:3306/tcp undeclared: no registry entry of db has it (a sample of ports that must "
                               "stay closed)"),
        ("db", 5432, "open", "db:5432/tcp postgresql internal: allow_from apps"),
        ("edge", 443, "open", "edge:443/tcp https public"),
        ("edge", 3306, "closed", "edge:3306/tcp undeclared: no registry entry of edge has it (a sample of ports that "
                                 "must stay closed)")]
    assert FILTERS["inventory_addresses"](["edge", "db", "app"], hostvars=REACH_HOSTVARS, groups=REACH_GROUPS) == [
        "192.0.2.10/32", "192.0.2.11/32", "192.0.2.12/32", "2001:db8::12/128"]


@pytest.mark.parametrize("name, args, kwargs, message", [
    ("reachability_flows", [["edge"]], {"vantage": "ap"}, "portcullis.ports.reachability_flows: vantage 'ap' is neither "
                                                          "a host of the inventory nor an IP address"),
    ("reachability_flows", [["ghost"]], {"vantage": "app"}, "portcullis.ports.reachability_flows: 'ghost' is not a host"),
    ("reachability_flows", [["edge"]], {"vantage": "app", "policy": {"web": "x"}}, "policy range 'web' has invalid value"),
    ("inventory_addresses", [["ghost"]], {}, "portcullis.ports.inventory_addresses: 'ghost' is not a host"),
])
def test_reachability_errors_name_the_value(name, args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args, hostvars=REACH_HOSTVARS, groups=REACH_GROUPS, **kwargs)


def test_the_documented_undeclared_sample_is_the_one_used():
    import os
    import yaml
    from ansible_collections.portcullis.ports.plugins.plugin_utils._reachability_plan import UNDECLARED_SAMPLE
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "filter", "reachability_flows.yml")
    with open(path) as handle:
        documented = yaml.safe_load(handle)["DOCUMENTATION"]["options"]["undeclared_ports"]["description"][1]
    listed = documented.split(" - ", 1)[1].split(" (TCP)")[0]
    assert tuple(int(port) for port in listed.split(", ")) == UNDECLARED_SAMPLE


def _edge_inventory(exporter=None):
    proxy = [{"name": "https", "port": 443, "expose": "public"}]
    if exporter is not None:
        proxy.append(exporter)
    return {
        "edge": {"portcullis_address": "192.0.2.10", "portcullis_services": proxy},
        "app": {"portcullis_address": "192.0.2.11",
                "portcullis_services": [{"name": "web", "port": 4001, "domain": "app.example.com"},
                                        {"name": "api", "port": 4002, "domain": "app.example.com", "path": "/api/"}]},
    }


def test_edge_exporter_labels_the_plan_routes_and_listens_on_its_registry_entry():
    hostvars = _edge_inventory({"name": "mtail", "port": 3903, "bind": "192.0.2.10", "allow_from": ["192.0.2.0/24"]})
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["edge", "app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    found = FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge")
    assert (found["address"], found["port"]) == ("192.0.2.10", 3903)
    assert found["routes"] == [{"domain": "app.example.com", "path": "/", "service": "web"},
                               {"domain": "app.example.com", "path": "/api/", "service": "api"}]
    assert '$route == "app.example.com/api/" {' in found["program"]
    assert 'portcullis_edge_requests_total["other"]["other"]["other"][$class]++' in found["program"]


def test_edge_exporter_wildcard_bind_listens_everywhere():
    hostvars = _edge_inventory({"name": "metrics", "port": 3903})
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    found = FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", service="metrics")
    assert (found["address"], found["port"]) == ("", 3903)


@pytest.mark.parametrize("exporter, buckets, message", [
    (None, None, "exporter service (portcullis_nginx_edge_exporter_service): the registry declares no service named "
                 "mtail, so the mtail the role installs"),
    ({"name": "mtail", "port": "3903-3904"}, None, "must listen on one TCP port for mtail, not tcp 3903-3904"),
    ({"name": "mtail", "port": 3903}, [1, "fast"], "bucket 'fast' is not valid"),
    ({"name": "mtail", "port": 3903}, [1, 1], "a bound is given twice"),
])
def test_edge_exporter_refuses_what_would_be_undeclared_or_unreadable(exporter, buckets, message):
    hostvars = _edge_inventory(exporter)
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.edge_exporter: .*" + re.escape(message)):
        FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", buckets=buckets)


# Issue 29, fault 1: an entry mtail cannot listen on (nginx's port, another entry's) was accepted, and mtail
# failed after the run reported it started.
@pytest.mark.parametrize("exporter, extra, groups, message", [
    ({"name": "mtail", "port": 443}, [], {"proxies": ["edge"]}, "https and mtail both use tcp port 443"),
    # nginx listens on 80 and 443 of the host the role runs on, in the proxies group or not, declared or not.
    ({"name": "mtail", "port": 80}, [], {}, "mtail is on tcp port 80, where nginx listens on a proxy"),
    # nginx's own entry named for mtail.
    ({"name": "mtail", "port": 3903}, [], {"proxies": ["edge"]}, "https is on tcp port 443, where nginx listens"),
    ({"name": "mtail", "port": 22}, [{"name": "ssh", "port": "ssh"}], {"proxies": ["edge"]},
     "mtail and ssh both use tcp port 22"),
    ({"name": "mtail", "port": 9100, "bind": "192.0.2.10"}, [{"name": "node", "port": 9100}], {"proxies": ["edge"]},
     "mtail and node both use tcp port 9100 (192.0.2.10 and 0.0.0.0)"),
])
def test_edge_exporter_refuses_an_entry_mtail_could_not_listen_on(exporter, extra, groups, message):
    hostvars = _edge_inventory(exporter)
    hostvars["edge"]["portcullis_services"] += extra
    service = "https" if message.startswith("https is") else "mtail"
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    with pytest.raises(AnsibleFilterError, match=re.escape(
            "the exporter service (portcullis_nginx_edge_exporter_service): mtail could not listen where the "
            "registry entry %s of edge declares it: %s" % (service, message))):
        FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", service=service)


def test_edge_exporter_accepts_a_port_shared_on_other_addresses():
    hostvars = _edge_inventory({"name": "mtail", "port": 9100, "bind": "192.0.2.10"})
    hostvars["edge"]["portcullis_services"].append({"name": "node", "port": 9100, "bind": "127.0.0.1"})
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups={"proxies": ["edge"]}, proxy_host="edge")
    assert FILTERS["edge_exporter"](sites, hostvars=hostvars, groups={"proxies": ["edge"]}, proxy_host="edge")["port"] == 9100


# Issue 29, faults 3 to 5: every edge value is checked by the role's first check, naming its variable.
@pytest.mark.parametrize("kwargs, message", [
    ({"log": "/var/log/nginx/edge;x.log"}, "the edge log (portcullis_nginx_edge_log) '/var/log/nginx/edge;x.log' is "
                                           "not valid: it contains ';'"),
    ({"log": "/var/log/nginx/edge x.log"}, "(portcullis_nginx_edge_log) '/var/log/nginx/edge x.log' is not valid: "
                                           "it contains ' '"),
    ({"log": "edge.log"}, "(portcullis_nginx_edge_log) 'edge.log' is not valid: expected an absolute path"),
    ({"log": "/var/log/nginx/a,b.log"}, "it contains ','"),
    ({"log": "/var/log/nginx/"}, "expected a file's path"),
    ({"program": "/srv/x y/edge.mtail"}, "the mtail program (portcullis_nginx_edge_program) '/srv/x y/edge.mtail'"),
    ({"program": "/etc/mtail/edge.conf"}, "mtail loads only files named NAME.mtail"),
    ({"program": "/edge.mtail"}, "give it a directory of its own"),
    ({"program": "/etc/mtail/../edge.mtail"}, "without empty, . or .. parts"),
    ({"buckets": [0.1, "0.5"]}, "portcullis_nginx_edge_buckets: bucket '0.5' is not valid"),
    ({"buckets": []}, "portcullis_nginx_edge_buckets: buckets must be a non-empty list"),
    ({"latency_p95": "fast"}, "the latency threshold (portcullis_nginx_edge_latency_p95) 'fast' is not a number"),
    # Tried as a new user would: an empty name was printed as "no service named , ...".
    ({"service": ""}, '(portcullis_nginx_edge_exporter_service): "" is not a service name'),
    ({"service": " "}, '(portcullis_nginx_edge_exporter_service): " " is not a service name'),
    ({"service": 42}, "(portcullis_nginx_edge_exporter_service): 42 is not a service name"),
])
def test_edge_exporter_names_the_variable_and_the_value(kwargs, message):
    hostvars = _edge_inventory({"name": "mtail", "port": 3903})
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    arguments = dict({"log": "/var/log/nginx/portcullis-edge.log", "program": "/etc/mtail/portcullis-edge.mtail"},
                     **kwargs)
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.edge_exporter: .*" + re.escape(message)):
        FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", **arguments)


def test_edge_exporter_refuses_an_address_the_proxy_does_not_have():
    # Tried as a new user would: bind 10.99.99.99 on a proxy without it failed only once mtail started, after
    # /etc/default/mtail had changed, leaving mtail restarting.
    groups = {"proxies": ["edge"]}

    def check(bind, facts):
        hostvars = _edge_inventory({"name": "mtail", "port": 3903, "bind": bind})
        if facts is not None:
            hostvars["edge"]["ansible_facts"] = facts
        sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
        return FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge")

    facts = {"all_ipv4_addresses": ["192.0.2.10"], "all_ipv6_addresses": ["2001:db8::10", "fe80::1%eth0"]}
    with pytest.raises(AnsibleFilterError, match=re.escape(
            "mtail would listen on 10.99.99.99, an address edge does not have (its addresses: 192.0.2.10, "
            "2001:db8::10, fe80::1)")):
        check("10.99.99.99", facts)
    assert check("192.0.2.10", facts)["address"] == "192.0.2.10"
    assert check("2001:db8::10", facts)["address"] == "2001:db8::10"
    assert check("127.0.0.1", facts)["address"] == "127.0.0.1"
    # Without the facts of its addresses, mtail's start is what tells.
    assert check("10.99.99.99", None)["address"] == "10.99.99.99"
    assert check("10.99.99.99", {"os_family": "Debian"})["address"] == "10.99.99.99"


def test_edge_exporter_writes_mtail_environment_file():
    hostvars = _edge_inventory({"name": "mtail", "port": 3903, "bind": "192.0.2.10"})
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    found = FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge",
                                     log="/var/log/nginx/portcullis-edge.log", program="/srv/mtail/edge.mtail")
    assert found["environment"] == (
        "# Managed by portcullis.ports (nginx_proxy, edge metrics). Read by mtail.service.\n"
        "# Where the registry entry mtail of edge listens (HOST empty: every address).\n"
        "HOST=192.0.2.10\nPORT=3903\nLOGS=/var/log/nginx/portcullis-edge.log\nEXTRA_ARGS=\"--progs /srv/mtail\"\n")


def test_edge_exporter_checks_the_latency_threshold_against_the_proxy_buckets():
    hostvars = _edge_inventory({"name": "mtail", "port": 3903})
    groups = {"proxies": ["edge"]}
    sites = FILTERS["proxy_sites"](["app"], hostvars=hostvars, groups=groups, proxy_host="edge")
    assert FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", latency_p95=1)["port"] == 3903
    with pytest.raises(AnsibleFilterError, match=r"edge_exporter: .*portcullis_nginx_edge_latency_p95\) 1 is not one of"):
        FILTERS["edge_exporter"](sites, hostvars=hostvars, groups=groups, proxy_host="edge", buckets=[0.3, 2],
                                 latency_p95=1)


def test_adoption_filters_name_themselves_in_errors():
    with pytest.raises(AnsibleFilterError, match=r"portcullis.ports.registry_draft: discovered\['web'\] is not a result"):
        FILTERS["registry_draft"]({"web": {}}, hostvars={"web": {"ansible_host": "10.0.0.1"}}, groups={"all": ["web"]})
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_cuts: flows must be a list"):
        FILTERS["adoption_cuts"]("x", hostvars={"web": {"ansible_host": "10.0.0.1"}}, groups={"all": ["web"]})
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_flows: discovered must map"):
        FILTERS["adoption_flows"]([])
    hostvars, groups = {"web": {"ansible_host": "10.0.0.1"}}, {"all": ["web"]}
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_probes: max_probes must be a whole number "
                                                 "of at least 1, got 0"):
        FILTERS["adoption_probes"]({}, hostvars=hostvars, groups=groups, vantage="web", max_probes=0)
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_probes: vantage 'webx' is not"):
        FILTERS["adoption_probes"]({}, hostvars=hostvars, groups=groups, vantage="webx")
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_probed: probes must map"):
        FILTERS["adoption_probed"]([], hostvars=hostvars, groups=groups)
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_cuts: accepted cut 'web:x'"):
        FILTERS["adoption_cuts"]([], hostvars=hostvars, groups=groups, accept=["web:x"])
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_map: unknown must be the list"):
        FILTERS["adoption_map"]({}, hostvars=hostvars, groups=groups, unknown="x")
    # a name accepted that matches no cut is not ignored: the check stops naming it
    with pytest.raises(AnsibleFilterError, match=r"portcullis.ports.adoption_cuts: accepted cut\(s\) that match no cut "
                                                 r"of this run: web->db:5433/tcp"):
        FILTERS["adoption_cuts"]([], hostvars=hostvars, groups=groups, accept=["web->db:5433/tcp"])
    with pytest.raises(AnsibleFilterError, match="portcullis.ports.adoption_cuts: unknown .* goes with discovered"):
        FILTERS["adoption_cuts"]([], hostvars=hostvars, groups=groups, unknown=[])


def test_a_check_in_which_no_host_has_a_registry_stops_saying_where_the_drafts_are_read():
    # Re-tried as a new user would: with an inventory given inline, the drafts went to ./host_vars, which Ansible
    # does not read for such an inventory; the check then judged every flow "not enforced" and passed.
    hostvars, groups = {"web": {"ansible_host": "10.0.0.1"}, "db": {"ansible_host": "10.0.0.2"}}, {"all": ["web", "db"]}
    with pytest.raises(AnsibleFilterError, match=re.escape(
            "portcullis.ports.adoption_cuts: no host of this run has a registry (portcullis_services), so nothing "
            "would be checked nor enforced")):
        FILTERS["adoption_cuts"]([], hostvars=hostvars, groups=groups, unknown=[], discovered={"web": {}, "db": {}})
    hostvars["db"]["portcullis_services"] = [{"name": "ssh", "port": 22}]
    found = {"services": [], "connections": [], "ssh": {"ports": [22]}, "nginx": [], "unknown": []}
    assert FILTERS["adoption_cuts"]([], hostvars=hostvars, groups=groups, unknown=[],
                                    discovered={"web": found, "db": found}) == []
