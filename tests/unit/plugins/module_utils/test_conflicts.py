# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils._conflicts import Bind, RegistryError


def conflicts(services, **kwargs):
    return _conflicts.check(services, **kwargs)[1]


def kinds(found):
    return [(item["kind"], item["port"], item["protocol"], item["services"]) for item in found]


class TestValidation:
    @pytest.mark.parametrize("services, message", [
        ([{"name": "db", "port": "postgressql"}], r"service 'db' \(entry 1\): unknown port 'postgressql'.*did you mean postgresql"),
        ([{"name": "web", "port": 70000}], r"service 'web' \(entry 1\): port 70000"),
        ([{"name": "web", "port": 0}], r"service 'web' \(entry 1\): port 0"),
        ([{"name": "web", "port": "90-80"}], r"range '90-80' is reversed"),
        ([{"name": "web", "port": 80, "protocol": "sctp"}], r"service 'web' \(entry 1\): invalid protocol 'sctp'"),
        ([{"name": "web", "port": 80, "bind": "10.0.0.300"}], r"invalid bind address '10.0.0.300'"),
        ([{"name": "web", "port": 80, "bind": "10.0.0.0/8"}], r"invalid bind address '10.0.0.0/8'"),
        ([{"name": "web", "port": 80, "prot": "udp"}], r"service 'web' \(entry 1\): unknown key 'prot'"),
        ([{"name": "web", "port": 80, "protocl": "udp"}], r"unknown key 'protocl' \(did you mean protocol\?\)"),
        ([{"port": 80}], r"entry 1: missing name"),
        ([{"name": "web"}], r"service 'web' \(entry 1\): missing port"),
        ([{"name": "", "port": 80}], r"entry 1: name must be a non-empty string"),
        ([{"name": "a", "port": 80}, {"name": "a", "port": 81}], r"service 'a' \(entry 2\): duplicate name 'a', already used by entry 1"),
        ([{"name": "web", "port": 80, "range": "nope"}], r"unknown range 'nope'"),
        ([{"name": "web", "port": 80, "expose": "world"}], r"invalid expose 'world'"),
        ([{"name": "web", "port": 80, "domain": "a.example.com; rm -rf /"}], r"invalid domain 'a.example.com; rm -rf /'"),
        ([{"name": "web", "port": 80, "domain": "a\nb"}], r"invalid domain"),
        ([{"name": "web", "port": 80, "process": "my app"}], r"invalid process 'my app'"),
        ([{"name": "web", "port": 80, "allow_from": "10.0.0.0/8"}], r"allow_from must be a list"),
        ([{"name": "web", "port": 80, "allow_from": ["10.0.0.300/8"]}], r"allow_from item '10.0.0.300/8' is neither"),
        ([{"name": "ntp", "port": "ntp"}], r"'ntp' has no tcp port"),
        ([{"name": "api", "port": 80, "upstream": "10.0.0.5:80;"}], r"service 'api' \(entry 1\): upstream '10.0.0.5:80;' contains ';'"),
        ([{"name": "api", "port": 80, "upstream": ["10.0.0.5"]}], r"upstream '10.0.0.5' is not valid: expected host:port"),
        ([{"name": "api", "port": 80, "proxy": {"ratelimit": True}}], r"unknown proxy option 'ratelimit'"),
        (["web"], r"entry 1: must be a mapping"),
        ({"name": "web"}, r"services must be a list"),
    ])
    def test_bad_entries_are_named(self, services, message):
        with pytest.raises(RegistryError, match=message):
            _conflicts.check(services)

    def test_proxy_keys_are_part_of_the_registry(self):
        _conflicts.check([{"name": "api", "port": 80, "domain": "api.example.com", "upstream": ["10.0.0.5:80", "10.0.0.6:80"],
                           "proxy": {"rate_limit": True, "allow": ["office"]}}])

    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(RegistryError) as caught:
            _conflicts.check([{"name": "a", "port": 70000}, {"port": 22}, {"name": "c", "port": 22, "bind": "x"}])
        assert len(caught.value.errors) == 3

    def test_good_entries(self):
        services = _conflicts.check([
            {"name": "ssh", "port": "ssh", "allow_from": ["203.0.113.0/24", "edge", "web_servers", "2001:db8::/32"]},
            {"name": "web", "port": "https", "protocol": "both", "expose": "public", "domain": "app.example.com"},
            {"name": "any", "port": "8000-8010", "bind": "::", "range": "Proxies", "process": "node", "environment": "prod"},
            {"name": "wild", "port": 8443, "domain": "*.example.com"},
        ])[0]
        assert [service.name for service in services] == ["ssh", "web", "any", "wild"]
        assert services[1].ranges == {"tcp": [(443, 443)], "udp": [(443, 443)]}


class TestBinds:
    @pytest.mark.parametrize("first, second, dual_stack, clash", [
        ("0.0.0.0", "10.0.0.1", True, True),
        ("10.0.0.1", "10.0.0.1", True, True),
        ("10.0.0.1", "10.0.0.2", True, False),
        ("127.0.0.1", "0.0.0.0", True, True),
        ("::", "::1", True, True),
        ("::1", "fe80::1", True, False),
        ("::", "0.0.0.0", True, True),
        ("::", "127.0.0.1", True, True),
        ("::", "0.0.0.0", False, False),  # net.ipv6.bindv6only=1
        ("::1", "0.0.0.0", True, False),
        ("::1", "127.0.0.1", True, False),
    ])
    def test_clashes(self, first, second, dual_stack, clash):
        a, b = Bind(first, dual_stack), Bind(second, dual_stack)
        assert a.clashes_with(b) is clash
        assert b.clashes_with(a) is clash


class TestDuplicates:
    def test_same_port_same_protocol(self):
        found = conflicts([{"name": "web", "port": "http"}, {"name": "admin", "port": 80, "bind": "127.0.0.1"}])
        assert kinds(found) == [("duplicate", 80, "tcp", ["web", "admin"])]
        assert "web and admin both use tcp port 80" in found[0]["message"]

    def test_different_protocols_never_clash(self):
        assert conflicts([{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "udp"}]) == []

    def test_different_specific_addresses_do_not_clash(self):
        assert conflicts([{"name": "a", "port": 80, "bind": "10.0.0.1"}, {"name": "b", "port": 80, "bind": "10.0.0.2"}]) == []

    def test_overlapping_ranges_report_the_overlap(self):
        found = conflicts([{"name": "a", "port": "8000-8010"}, {"name": "b", "port": "8005-8020"}, {"name": "c", "port": 8030}])
        assert kinds(found) == [("duplicate", 8005, "tcp", ["a", "b"])]
        assert found[0]["ports"] == "8005-8010"

    def test_both_protocols(self):
        found = conflicts([{"name": "dns", "port": "dns", "protocol": "both"}, {"name": "dot", "port": 53}])
        assert kinds(found) == [("duplicate", 53, "tcp", ["dns", "dot"])]

    def test_dual_stack_wildcard(self):
        services = [{"name": "v6", "port": 80, "bind": "::"}, {"name": "v4", "port": 80}]
        assert kinds(conflicts(services)) == [("duplicate", 80, "tcp", ["v6", "v4"])]
        assert conflicts(services, bindv6only=True) == []

    def test_three_on_one_port_gives_every_pair(self):
        found = conflicts([{"name": name, "port": 9000} for name in ("a", "b", "c")])
        assert sorted(tuple(sorted(item["services"])) for item in found) == [("a", "b"), ("a", "c"), ("b", "c")]

    def test_a_service_never_clashes_with_itself(self):
        assert conflicts([{"name": "portainer", "port": "portainer"}, {"name": "x", "port": "80-81"}]) == []


class TestRangesAndEphemeral:
    def test_out_of_range(self):
        found = conflicts([
            {"name": "coworking", "port": 3500, "range": "production"},
            {"name": "docs", "port": 4001, "range": "production"},
            {"name": "spill", "port": "4990-5010", "range": "production"},
            {"name": "custom", "port": 15001, "range": "batch"},
        ], policy={"batch": "15000-15999"})
        assert kinds(found) == [("out_of_range", 3500, "tcp", ["coworking"]), ("out_of_range", 5000, "tcp", ["spill"])]
        assert "outside its range production (4000-4999)" in found[0]["message"]

    def test_ephemeral_range_and_reserved_ports(self):
        services = [{"name": "low", "port": 8080}, {"name": "high", "port": 40000},
                    {"name": "span", "port": "32760-32770"}, {"name": "kept", "port": 50000}]
        found = conflicts(services, ephemeral=(32768, 60999), reserved=[(50000, 50010)])
        assert kinds(found) == [("ephemeral", 40000, "tcp", ["high"]), ("ephemeral", 32768, "tcp", ["span"])]
        assert "32768-32770" in found[1]["message"] and "32768-60999" in found[1]["message"]

    def test_parse_reserved_ports(self):
        assert _conflicts.parse_port_list("8080,9000-9100\n") == [(8080, 8080), (9000, 9100)]
        assert _conflicts.parse_port_list("\n") == []

    def test_read_ephemeral(self, tmp_path):
        sysctl = tmp_path / "sys" / "net" / "ipv4"
        sysctl.mkdir(parents=True)
        (sysctl / "ip_local_port_range").write_text("32768\t60999\n")
        (sysctl / "ip_local_reserved_ports").write_text("40000-40010\n")
        assert _conflicts.read_ephemeral(str(tmp_path)) == ((32768, 60999), [(40000, 40010)])
        assert _conflicts.read_ephemeral(str(tmp_path / "nowhere")) == (None, [])


def listener(port, address="0.0.0.0", process="python3", pid=100, protocol="tcp", dual_stack=False, cmdline=None):
    return {"protocol": protocol, "family": "ipv6" if ":" in address else "ipv4", "address": address, "port": port,
            "pid": pid, "process": process, "cmdline": cmdline or [], "dual_stack": dual_stack, "user": "root"}


class TestLive:
    REGISTRY = [
        {"name": "ssh", "port": 22, "process": "sshd"},
        {"name": "web", "port": 8080, "process": "python3"},
        {"name": "proxy", "port": 8081, "process": "nginx"},
        {"name": "local", "port": 9000, "bind": "127.0.0.1"},
        {"name": "metrics", "port": 9100, "process": "node_exporter"},
    ]

    def test_occupied_and_undeclared(self):
        live = [
            listener(22, process="sshd", pid=10), listener(22, "::", process="sshd", pid=10),
            listener(8080), listener(8081, pid=200), listener(9000, "0.0.0.0", process="app", pid=300),
            listener(9999, "127.0.0.1", pid=400), listener(9100, process="node_exporter", pid=500),
            listener(5353, "::", protocol="udp", pid=None, process=None),
        ]
        found = conflicts(self.REGISTRY, listeners=live)
        assert kinds(found) == [
            ("occupied", 8081, "tcp", ["proxy"]),
            ("undeclared", 9000, "tcp", []),
            ("undeclared", 9999, "tcp", []),
            ("undeclared", 5353, "udp", []),
        ]
        assert found[0]["message"] == "tcp port 8081 of proxy is held by python3 (pid 200) on 0.0.0.0:8081, not by nginx"
        assert "app (pid 300) listens on tcp 0.0.0.0:9000, which no service declares" == found[1]["message"]
        assert "an unknown process listens on udp [::]:5353" in found[3]["message"]

    def test_process_names_cut_by_the_kernel_and_command_names(self):
        registry = [{"name": "exporter", "port": 9100, "process": "prometheus-node-exporter"},
                    {"name": "py", "port": 8000, "process": "gunicorn"}]
        live = [listener(9100, process="prometheus-node", pid=1),
                listener(8000, process="python3", pid=2, cmdline=["/usr/bin/gunicorn", "app:app"])]
        assert conflicts(registry, listeners=live) == []

    def test_unknown_process_is_not_called_occupied(self):
        assert conflicts([{"name": "web", "port": 80, "process": "nginx"}], listeners=[listener(80, pid=None, process=None)]) == []

    def test_prefork_workers_count_once_as_undeclared(self):
        live = [listener(7000, pid=pid, process="worker") for pid in (1, 2, 3)]
        assert len(conflicts([], listeners=live)) == 1


# Sort and sweep finds exactly the pairs that comparing every pair finds.
entry = st.fixed_dictionaries({
    "port": st.one_of(st.integers(1, 60), st.tuples(st.integers(1, 60), st.integers(0, 8)).map(
        lambda pair: "%d-%d" % (pair[0], pair[0] + pair[1]))),
    "protocol": st.sampled_from(["tcp", "udp", "both"]),
    "bind": st.sampled_from(["0.0.0.0", "10.0.0.1", "10.0.0.2", "::", "::1"]),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(entry, max_size=25), st.booleans())
def test_sweep_matches_all_pairs(entries, bindv6only):
    services = [dict(item, name="s%d" % number) for number, item in enumerate(entries)]
    validated = _conflicts.validate_registry(services, _conflicts.resolver.build_policy(), bindv6only)
    expected = set()
    for first, second in itertools.combinations(validated, 2):
        for protocol in ("tcp", "udp"):
            overlap = any(a_start <= b_end and b_start <= a_end
                          for a_start, a_end in first.ranges.get(protocol, ())
                          for b_start, b_end in second.ranges.get(protocol, ()))
            if overlap and first.bind.clashes_with(second.bind):
                expected.add((protocol, frozenset((first.name, second.name))))
    found = set((item["protocol"], frozenset(item["services"])) for item in _conflicts.find_duplicates(validated))
    assert found == expected
