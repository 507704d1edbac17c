# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry


def conflicts(services, **kwargs):
    return _conflicts.check(services, **kwargs)[1]


def unknowns(services, **kwargs):
    return _conflicts.check(services, **kwargs)[2]


def kinds(found):
    return [(item["kind"], item["port"], item["protocol"], item["services"]) for item in found]


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

    def test_occupied_exposure_and_undeclared(self):
        live = [
            listener(22, process="sshd", pid=10), listener(22, "::", process="sshd", pid=10),
            listener(8080), listener(8081, pid=200), listener(9000, "0.0.0.0", process="app", pid=300),
            listener(9999, "127.0.0.1", pid=400), listener(9100, process="node_exporter", pid=500),
            listener(5353, "::", protocol="udp", pid=None, process=None),
        ]
        found = conflicts(self.REGISTRY, listeners=live)
        assert kinds(found) == [
            ("occupied", 8081, "tcp", ["proxy"]),
            ("exposure", 9000, "tcp", ["local"]),
            ("undeclared", 9999, "tcp", []),
            ("undeclared", 5353, "udp", []),
        ]
        assert found[0]["message"] == "tcp port 8081 of proxy is held by python3 (pid 200) on 0.0.0.0:8081, not by nginx"
        assert found[1]["message"] == "local is declared on 127.0.0.1, but app (pid 300) listens on tcp 0.0.0.0:9000"
        assert "an unknown process listens on udp [::]:5353" in found[3]["message"]

    def test_process_names_cut_by_the_kernel_and_command_names(self):
        registry = [{"name": "exporter", "port": 9100, "process": "prometheus-node-exporter"},
                    {"name": "py", "port": 8000, "process": "gunicorn"}]
        live = [listener(9100, process="prometheus-node", pid=1),
                listener(8000, process="python3", pid=2, cmdline=["/usr/bin/gunicorn", "app:app"])]
        assert conflicts(registry, listeners=live) == []

    def test_an_owner_that_cannot_be_read_is_unknown_not_ok(self):
        # Without root port_conflicts passed a process expectation silently.
        registry = [{"name": "web", "port": 80, "process": "nginx"}]
        live = [listener(80, pid=None, process=None)]
        assert conflicts(registry, listeners=live) == []
        found = unknowns(registry, listeners=live)
        assert [(item["check"], item["services"], item["port"]) for item in found] == [("process", ["web"], 80)]
        assert found[0]["message"] == ("the owner of tcp 0.0.0.0:80 is not visible here (without root, or held outside "
                                       "this PID namespace): that web is "
                                       "nginx is unknown")

    def test_a_private_service_on_a_wildcard_is_an_exposure(self):
        found = conflicts([{"name": "mongo", "port": 4011, "expose": "private"}],
                          listeners=[listener(4011, "0.0.0.0", process="mongod", pid=7)])
        assert kinds(found) == [("exposure", 4011, "tcp", ["mongo"])]
        assert found[0]["message"] == "mongo is declared private, but mongod (pid 7) listens on tcp 0.0.0.0:4011"

    def test_a_private_service_on_another_address_is_an_exposure_too(self):
        found = conflicts([{"name": "mongo", "port": 4011, "expose": "private"}],
                          listeners=[listener(4011, "10.0.0.5", process="mongod", pid=7)])
        assert kinds(found) == [("exposure", 4011, "tcp", ["mongo"])]

    def test_a_private_service_on_loopback_is_fine(self):
        assert conflicts([{"name": "mongo", "port": 4011, "expose": "private"}],
                         listeners=[listener(4011, "127.0.0.1", process="mongod", pid=7)]) == []

    def test_a_service_on_one_address_heard_on_every_address(self):
        found = conflicts([{"name": "api", "port": 8000, "bind": "10.0.0.5"}],
                          listeners=[listener(8000, "::", dual_stack=True)])
        assert kinds(found) == [("exposure", 8000, "tcp", ["api"])]
        assert "api is declared on 10.0.0.5, but python3 (pid 100) listens on tcp [::]:8000" == found[0]["message"]

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
    validated = _registry.validate(services, _conflicts.resolver.build_policy(), bindv6only)
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
