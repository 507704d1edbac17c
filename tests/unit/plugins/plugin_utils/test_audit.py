# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan

ADDRESSES = {"edge": "10.0.0.1", "edge2": "10.0.0.1", "app": "10.0.0.2"}


def listener(port, process, address="0.0.0.0", protocol="tcp", pid=100):
    return {"protocol": protocol, "address": address, "port": port, "process": process, "pid": pid}


def plan_of(hosts, groups=None, policy=None, hostvars=None):
    """The plan of ``hosts`` (host to ``{"services": registry}``) over ``hostvars`` (default: ADDRESSES)."""
    if hostvars is None:
        hostvars = dict((host, {"portcullis_address": address}) for host, address in ADDRESSES.items())
    for host, data in hosts.items():
        hostvars.setdefault(host, {})["portcullis_services"] = (data or {}).get("services") or []
    return Plan.of(hostvars, groups or {}, policy)


def audit(hosts, groups=None, inventory_hosts=(), policy=None, hostvars=None, **kwargs):
    """The audit of ``hosts``: each ``{"services", and when checked in this run "listening", "conflicts",
    "unknown"}``; ``inventory_hosts`` are more hosts without a registry."""
    hostvars = dict(hostvars or dict((host, {"portcullis_address": address}) for host, address in ADDRESSES.items()))
    for host in inventory_hosts:
        hostvars.setdefault(host, {})
    live = dict((host, data) for host, data in hosts.items() if data and any(
        key in data for key in ("listening", "conflicts", "unknown")))
    return _audit.audit(plan_of(hosts, groups, policy, hostvars), live, **kwargs)


def rows(report, host):
    return dict((row["service"] or "undeclared:%s" % row["port"], row)
                for entry in report["hosts"] if entry["name"] == host for row in entry["rows"])


def test_live_status_listening_not_listening_and_undeclared():
    report = audit({"app": {"services": [{"name": "api", "port": 8000}, {"name": "db", "port": "postgresql", "bind": "127.0.0.1"},
                                         {"name": "dns", "port": 53, "protocol": "both"}],
                            "listening": [listener(8000, "node"), listener(5432, "postgres", address="10.0.0.2"),
                                          listener(53, "named", protocol="udp"), listener(9999, "python3", address="127.0.0.1")]}})
    found = rows(report, "app")
    assert (found["api"]["status"], found["api"]["processes"]) == ("listening", ["node"])
    # Declared on 127.0.0.1 but listening on another address: wider than declared.
    assert (found["db"]["status"], found["db"]["detail"]) == ("listening", "declared on 127.0.0.1, listening on 10.0.0.2:5432")
    assert "undeclared:5432" not in found
    assert (found["dns"]["status"], found["dns"]["protocol"], found["dns"]["processes"]) == ("listening", "tcp/udp", ["named"])
    assert found["dns"]["detail"] == "udp only"
    assert found["api"]["detail"] == ""
    assert (found["undeclared:9999"]["processes"], found["undeclared:9999"]["bind"]) == (["python3"], "127.0.0.1")
    assert [item["kind"] for item in report["drift"]] == ["exposure", "undeclared"]
    assert report["plan_conflicts"] == []


def test_rows_sorted_by_port_and_carry_the_registry_columns():
    report = audit({"app": {"services": [{"name": "b", "port": 9000, "environment": "prod", "domain": "b.example.com",
                                          "expose": "public"},
                                         {"name": "a", "port": "8000-8010", "allow_from": ["edge", "10.0.0.0/8"],
                                          "range": "proxies"}],
                            "listening": []}})
    entry = report["hosts"][0]
    assert [row["service"] for row in entry["rows"]] == ["a", "b"]
    assert entry["rows"][0]["port"] == "8000-8010" and entry["rows"][0]["allow_from"] == "edge, 10.0.0.0/8"
    # The range as the plan's policy has it; defaults applied by the registry model.
    assert (entry["rows"][0]["range"], entry["rows"][0]["expose"], entry["rows"][0]["protocol"]) == \
        ("proxies 8000-8999", "internal", "tcp")
    assert (entry["rows"][1]["environment"], entry["rows"][1]["domain"], entry["rows"][1]["expose"],
            entry["rows"][1]["range"]) == ("prod", "b.example.com", "public", "")


def test_hosts_without_live_data_are_not_checked():
    report = audit({"app": {"services": [{"name": "api", "port": 8000}], "listening": None}})
    assert report["hosts"][0]["checked"] is False
    assert rows(report, "app")["api"]["status"] == "not checked"


def test_unknown_allow_from_is_named():
    report = audit({"app": {"services": [{"name": "db", "port": 5432, "allow_from": ["edge", "apps", "10.0.0.0/8", "ghost"]}]},
                    "edge": {"services": []}}, groups={"apps": ["app"]})
    unknown = [item for item in report["plan_conflicts"] if item["kind"] == "unknown_source"]
    assert [item["value"] for item in unknown] == ["ghost"]
    assert "app: service db allows 'ghost'" in unknown[0]["message"]


def test_domain_published_twice_names_both():
    report = audit({"app": {"services": [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]},
                    "edge": {"services": [{"name": "docs2", "port": 4002, "domain": "docs.example.com"}]}})
    duplicate = [item for item in report["plan_conflicts"] if item["kind"] == "duplicate_domain"]
    assert duplicate[0]["message"] == "domain docs.example.com is published by app service docs and edge service docs2"


def test_two_hosts_claiming_one_public_port_on_one_address():
    # edge and edge2 share 10.0.0.1 (a floating address); app has its own.
    report = audit({"edge": {"services": [{"name": "https", "port": 443, "expose": "public"}]},
                    "edge2": {"services": [{"name": "web", "port": "440-450", "expose": "public"}]},
                    "app": {"services": [{"name": "https", "port": 443, "expose": "public"},
                                         {"name": "vip", "port": 8443, "expose": "public", "bind": "10.0.0.9"}]},
                    "other": {"services": [{"name": "vip", "port": 8443, "expose": "public", "bind": "10.0.0.9"},
                                           {"name": "internal", "port": 443}]}})
    shared = [item for item in report["plan_conflicts"] if item["kind"] == "shared_public_port"]
    assert sorted(item["message"] for item in shared) == [
        "10.0.0.1 tcp port 443 is claimed as public by edge service https and edge2 service web",
        "10.0.0.9 tcp port 8443 is claimed as public by app service vip and other service vip",
    ]


def test_invalid_registry_is_a_conflict_not_an_exception():
    report = audit({"app": {"services": [{"name": "db", "port": "postgressql"}]}})
    assert report["plan_conflicts"][0]["kind"] == "invalid"
    assert "postgressql" in report["plan_conflicts"][0]["message"]


def test_host_registry_conflicts_pass_through_but_live_ones_are_recomputed():
    module_conflicts = [{"kind": "ephemeral", "port": 40000, "protocol": "tcp", "message": "x in the ephemeral range"},
                        {"kind": "undeclared", "port": 1, "protocol": "tcp", "message": "stale"}]
    report = audit({"app": {"services": [{"name": "x", "port": 40000}], "listening": [], "conflicts": module_conflicts}})
    assert [item["message"] for item in report["plan_conflicts"]] == ["app: x in the ephemeral range"]
    assert report["drift"] == []


def test_range_fill_counts_distinct_ports_per_range():
    report = audit({"app": {"services": [{"name": "a", "port": 4001}, {"name": "b", "port": "4010-4019"}]},
                    "edge": {"services": [{"name": "a", "port": 4001}, {"name": "m", "port": 9100}]}},
                   policy={"production": "4000-4999"})
    ranges = dict((item["name"], item) for item in report["ranges"])
    assert (ranges["production"]["used"], ranges["production"]["size"], ranges["production"]["percent"]) == (11, 1000, 1.1)
    assert ranges["production"]["services"] == ["app/a", "app/b", "edge/a"]
    assert ranges["monitoring"]["used"] == 1 and ranges["development"]["used"] == 0
    assert [item["name"] for item in report["ranges"]][:2] == ["well_known", "registered"]


def test_partial_listening_is_told():
    report = audit({"app": {"services": [{"name": "db", "port": 5432}, {"name": "pool", "port": "8000-8010"},
                                         {"name": "pinned", "port": 9000, "bind": "10.0.0.2"}],
                            "listening": [listener(5432, "postgres", address="127.0.0.1"), listener(8000, "a"),
                                          listener(8003, "a"),
                                          dict(listener(9000, "gw", address="::"), dual_stack=True)]}})
    found = rows(report, "app")
    # Declared on every address, reachable on loopback only (PostgreSQL's default).
    assert (found["db"]["status"], found["db"]["detail"]) == ("listening", "loopback only")
    assert found["pool"]["detail"] == "2 of 11 ports"
    # A dual-stack :: listener serves the declared 10.0.0.2 too.
    assert (found["pinned"]["status"], found["pinned"]["processes"]) == ("listening", ["gw"])


def test_allow_from_may_name_any_inventory_host():
    # edge is in the inventory, not in this run.
    report = audit({"app": {"services": [{"name": "db", "port": 5432, "allow_from": ["edge"]}]}})
    assert report["plan_conflicts"] == []


def test_loopback_and_case_do_not_fool_the_checks_across_hosts():
    ADDRESSES["vagrant1"] = ADDRESSES["vagrant2"] = ["127.0.0.1"]
    try:
        report = audit({"vagrant1": {"services": [{"name": "web", "port": 443, "expose": "public"},
                                                  {"name": "docs", "port": 80, "domain": "Docs.example.com"}]},
                        "vagrant2": {"services": [{"name": "web", "port": 443, "expose": "public"},
                                                  {"name": "docs", "port": 80, "domain": "docs.example.com"}]}})
    finally:
        del ADDRESSES["vagrant1"], ADDRESSES["vagrant2"]
    assert [item["kind"] for item in report["plan_conflicts"]] == ["duplicate_domain"]


def test_messages_carry_no_pids():
    report = audit({"app": {"services": [], "listening": [listener(9999, "python3", pid=4242)]}})
    assert report["drift"][0]["message"] == "app: python3 listens on tcp 0.0.0.0:9999, which no service declares"


def test_hosts_not_checked_still_have_their_registry_checked():
    report = audit({"app": {"services": [{"name": "a", "port": 80}, {"name": "b", "port": 80}], "conflicts": None}})
    assert [item["kind"] for item in report["plan_conflicts"]] == ["duplicate"]


def test_range_fill_with_wide_ranges_is_quick_and_exact():
    hosts = dict(("h%d" % number, {"services": [{"name": "all", "port": "1024-65535"}]}) for number in range(50))
    ranges = dict((item["name"], item) for item in audit(hosts)["ranges"])
    assert ranges["registered"]["used"] == ranges["registered"]["size"] and ranges["dynamic"]["percent"] == 100.0


def test_hosts_the_planners_need_an_address_for_are_checked_in_the_audit():
    # allow_from named a host without facts: the audit passed, then firewall_rules failed after sshd had run.
    hostvars = {"app": {"portcullis_address": "10.0.0.2"}, "nofacts": {"ansible_host": "nofacts.example.test"},
                "edge": {"portcullis_address": "10.0.0.1"}}
    hosts = {"app": {"services": [{"name": "db", "port": 5432, "allow_from": ["nofacts"]}]},
             "nofacts": {"services": [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]}}
    report = audit(hosts, {"proxies": ["edge"]}, hostvars=hostvars)
    messages = [item["message"] for item in report["plan_conflicts"] if item["kind"] == "unknown_address"]
    assert messages == ["app: service db allow_from nofacts: host 'nofacts' has no known address: gather its facts in "
                        "this play or set portcullis_address for it",
                        "host nofacts service docs: host 'nofacts' has no known address: gather its facts in this play "
                        "or set portcullis_address for it"]


def test_a_proxy_publishing_its_own_https_port_is_a_plan_conflict():
    hostvars = {"edge": {"portcullis_address": "10.0.0.1"}}
    hosts = {"edge": {"services": [{"name": "web", "port": "https", "expose": "public", "domain": "app.example.com"}]}}
    report = audit(hosts, {"proxies": ["edge"]}, hostvars=hostvars)
    assert [item["kind"] for item in report["plan_conflicts"]] == ["self_proxy"]
    assert "is on port 443 of a proxy, where nginx listens itself" in report["plan_conflicts"][0]["message"]


def test_health_answers_from_the_proxies_are_shown_per_service():
    hosts = {"app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com", "health": "/health"},
                                  {"name": "web", "port": 8080, "domain": "web.example.com", "health": "/up"},
                                  {"name": "db", "port": 5432}]}}
    health = [{"host": "app", "service": "api", "server": "10.0.0.2:8000", "proxy": "edge", "status": "ok", "detail": ""},
              {"host": "app", "service": "web", "server": "10.0.0.2:8080", "proxy": "edge", "status": "failing",
               "detail": "HTTP 503"}]
    report = audit(hosts, groups={"proxies": ["edge"]}, inventory_hosts=["edge"], health=health)
    found = rows(report, "app")
    assert found["api"]["health"] == "/health ok"
    assert found["web"]["health"] == "/up failing (10.0.0.2:8080 from edge: HTTP 503)"
    assert found["db"]["health"] == ""
    assert rows(audit(hosts), "app")["api"]["health"] == "/health not checked"


def test_what_the_nginx_play_would_refuse_is_a_plan_conflict_first():
    # A name served by two sites (one's alias, the other's domain): the proxy plan refuses it; the audit says so first.
    hosts = {"app": {"services": [{"name": "a", "port": 8000, "domain": "a.example.com", "aliases": ["b.example.com"]},
                                  {"name": "b", "port": 8001, "domain": "b.example.com"}]}}
    report = audit(hosts, groups={"proxies": ["edge"]}, inventory_hosts=["edge"])
    messages = [item["message"] for item in report["plan_conflicts"] if item["kind"] == "proxy_plan"]
    assert messages == ["proxy edge: the name b.example.com is served by the site a.example.com and by the site "
                        "b.example.com (as a domain, an alias or a redirect): give it to one"]


def test_a_health_check_that_could_not_be_made_is_unknown_not_ok():
    hosts = {"app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com", "health": "/health"}]}}
    health = [{"host": "app", "service": "api", "server": "10.0.0.2:8000", "proxy": "edge", "status": "ok", "detail": ""},
              {"host": "app", "service": "api", "server": "10.0.0.2:8000", "proxy": "edge-2", "status": "unknown",
               "detail": "not asked"}]
    found = rows(audit(hosts, groups={"proxies": ["edge", "edge-2"]}, inventory_hosts=["edge", "edge-2"], health=health),
                 "app")
    assert found["api"]["health"] == "/health unknown (10.0.0.2:8000 from edge-2: not asked)"


# Issue 27 fault 8: limits of the consumer (nginx), checked by the audit before any host changes.

def test_a_route_path_longer_than_nginx_reads_is_a_plan_conflict():
    path = "/" + "a" * 4998 + "/"
    hosts = {"app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com", "path": path}]}}
    report = audit(hosts, groups={"proxies": ["edge"]}, inventory_hosts=["edge"])
    messages = [item["message"] for item in report["plan_conflicts"]]
    assert len(messages) == 1, messages
    assert "host app: service 'api'" in messages[0] and "5000 characters" in messages[0], messages


def test_any_value_nginx_cannot_read_is_a_plan_conflict_of_the_proxy():
    hosts = {"app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com",
                                   "proxy": {"headers": {"X-Token": "t" * 5000}}}]}}
    report = audit(hosts, groups={"proxies": ["edge"]}, inventory_hosts=["edge"])
    messages = [item["message"] for item in report["plan_conflicts"] if item["kind"] == "proxy_plan"]
    assert len(messages) == 1 and messages[0].startswith("proxy edge: line ") and "nginx reads at most 4094" in \
        messages[0], messages


def test_a_route_path_nginx_reads_is_no_conflict():
    path = "/" + "a" * 500 + "/"
    hosts = {"app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com", "path": path}]}}
    assert audit(hosts, groups={"proxies": ["edge"]}, inventory_hosts=["edge"])["plan_conflicts"] == []


def test_another_service_on_a_port_nginx_needs_on_a_proxy_is_a_plan_conflict():
    hosts = {"edge": {"services": [{"name": "ssh", "port": 443}, {"name": "http", "port": "http", "expose": "public"}]},
             "app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com"}]}}
    report = audit(hosts, groups={"proxies": ["edge"]})
    found = [item for item in report["plan_conflicts"] if item["kind"] == "proxy_port"]
    assert [item["message"] for item in found] == [
        "edge: service ssh is on tcp port 443, where nginx listens on a proxy for the sites it publishes: move the "
        "service to another port (nginx's own entries are named http, https or nginx, or give process: nginx)"]
    assert found[0]["host"] == "edge" and found[0]["services"] == ["ssh"] and found[0]["port"] == 443


def test_nginx_own_entries_on_a_proxy_are_no_conflict():
    hosts = {"edge": {"services": [{"name": "http", "port": "http", "expose": "public"},
                                   {"name": "https", "port": "https", "expose": "public"},
                                   {"name": "web", "port": 8443, "process": "nginx"}]},
             "app": {"services": [{"name": "api", "port": 8000, "domain": "api.example.com"}]}}
    assert audit(hosts, groups={"proxies": ["edge"]})["plan_conflicts"] == []
    # Off the proxies, 443 is anybody's.
    assert audit({"app": {"services": [{"name": "ssh", "port": 443}]}}, groups={"proxies": []})["plan_conflicts"] == []


# A host_facts read (site.yml's first play) is checked on the controller by port_conflicts' rules: the same
# conflicts and unknowns as port_conflicts on the host from the same inputs, so skipping that module loses nothing.
READS = [
    # Declared inside the ephemeral range, not reserved; 40000 is reserved.
    ([{"name": "api", "port": 33000}, {"name": "ok", "port": 40000}], [], (32768, 60999), [(40000, 40000)], False),
    # A DNAT-published port nobody declares, and one declared as a port of the host.
    ([{"name": "web", "port": 8081}], [{"protocol": "tcp", "port": 8081, "end": 8081, "to": "172.17.0.2:80"},
                                       {"protocol": "tcp", "port": 9000, "end": 9000, "to": "172.17.0.3:80"}],
     (32768, 60999), [], False),
    # '::' and 0.0.0.0 on one port clash unless the host's IPv6 sockets are IPv6-only.
    ([{"name": "a", "port": 8000, "bind": "::"}, {"name": "b", "port": 8000, "bind": "0.0.0.0"}], [], (32768, 60999),
     [], False),
    ([{"name": "a", "port": 8000, "bind": "::"}, {"name": "b", "port": 8000, "bind": "0.0.0.0"}], [], (32768, 60999),
     [], True),
    # The ephemeral range could not be read: unknown, never passed.
    ([{"name": "api", "port": 33000}], [], None, [], False),
]


@pytest.mark.parametrize("services, published, ephemeral, reserved, bindv6only", READS)
def test_a_host_read_is_checked_as_port_conflicts_checks_it(services, published, ephemeral, reserved, bindv6only):
    from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts, _published
    from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry, _resolver
    listeners = [listener(22, "sshd"), listener(8000, "python3", address="::")]
    # What port_conflicts finds on the host, as its main() does.
    policy = _resolver.build_policy({})
    validated = _registry.validate(services, policy, bindv6only)
    on_host, unknown = _conflicts.find_conflicts(validated, policy, ephemeral, reserved, listeners)
    on_host += _published.check(validated, published)
    if ephemeral is None:
        unknown.insert(0, dict(_conflicts.EPHEMERAL_UNKNOWN))
    hostvars = {"app": {"portcullis_address": "10.0.0.2", "portcullis_services": services,
                        "portcullis_host_facts": {"ports": {
                            "listening": listeners, "published": published,
                            "ephemeral_range": list(ephemeral) if ephemeral else None,
                            "reserved": [list(item) for item in reserved], "bindv6only": bindv6only,
                            "unknown": [] if ephemeral else [dict(_conflicts.EPHEMERAL_UNKNOWN)]}}}}
    report = _audit.audit_inventory(Plan.of(hostvars, {}), hostvars, ["app"], listening_var="portcullis_audit_live",
                                    read_var="portcullis_host_facts")
    found = [item for entry in report["hosts"] for item in entry["conflicts"]]

    def key(item):
        return (item["kind"], item.get("port"), tuple(item.get("services") or ()))
    assert sorted(map(key, found)) == sorted(map(key, on_host))
    assert [item["check"] for item in report["unknown"]] == [item["check"] for item in unknown]
    assert rows(report, "app")["undeclared:22"]["status"] == "undeclared"


def test_without_the_read_variable_a_host_read_is_not_used():
    hostvars = {"app": {"portcullis_address": "10.0.0.2", "portcullis_services": [{"name": "api", "port": 33000}],
                        "portcullis_host_facts": {"ports": {"listening": [], "published": [],
                                                            "ephemeral_range": [32768, 60999], "reserved": [],
                                                            "bindv6only": False, "unknown": []}}}}
    report = _audit.audit_inventory(Plan.of(hostvars, {}), hostvars, ["app"])
    assert report["plan_conflicts"] == [] and not report["hosts"][0]["checked"]
    report = _audit.audit_inventory(Plan.of(hostvars, {}), hostvars, ["app"], read_var="portcullis_host_facts")
    assert [item["kind"] for item in report["plan_conflicts"]] == ["ephemeral"] and report["hosts"][0]["checked"]


def test_a_port_conflicts_result_goes_before_a_host_read():
    # The audit checked the host itself in this run (its own ignore_addresses, say): its verdict counts.
    hostvars = {"app": {"portcullis_address": "10.0.0.2", "portcullis_services": [{"name": "api", "port": 33000}],
                        "portcullis_audit_check": {"conflicts": [], "unknown": [], "listening": []},
                        "portcullis_host_facts": {"ports": {"listening": [], "published": [],
                                                            "ephemeral_range": [32768, 60999], "reserved": [],
                                                            "bindv6only": False, "unknown": []}}}}
    report = _audit.audit_inventory(Plan.of(hostvars, {}), hostvars, ["app"], listening_var="portcullis_audit_check",
                                    read_var="portcullis_host_facts")
    assert report["plan_conflicts"] == []


def test_listeners_a_host_read_could_not_read_are_unknown_not_ok():
    hostvars = {"app": {"portcullis_address": "10.0.0.2", "portcullis_services": [{"name": "api", "port": 8000}],
                        "portcullis_host_facts": {"ports": {
                            "listening": None, "published": [], "ephemeral_range": [32768, 60999], "reserved": [],
                            "bindv6only": False,
                            "unknown": [{"check": "listening", "services": [], "message": "no /proc/net/tcp"}]}}}}
    report = _audit.audit_inventory(Plan.of(hostvars, {}), hostvars, ["app"], read_var="portcullis_host_facts")
    assert rows(report, "app")["api"]["status"] == "not checked"
    assert [item["message"] for item in report["unknown"]] == ["app: no /proc/net/tcp"]
