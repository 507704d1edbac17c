# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError


class TestServicePort:
    @pytest.mark.parametrize("value, port", [
        ("ssh", 22), ("PostgreSQL", 5432), ("HTTPS", 443), ("postgres", 5432), ("dns", 53), ("rdp", 3389),
        (8080, 8080), ("8080", 8080), (1, 1), (65535, 65535),
    ])
    def test_resolves(self, value, port):
        assert resolver.service_port(value) == port

    def test_protocol(self):
        assert resolver.service_port("ntp", "udp") == 123
        with pytest.raises(PortSpecError, match="'ntp' has no tcp port"):
            resolver.service_port("ntp", "tcp")

    @pytest.mark.parametrize("value, message", [
        ("postgressql", r"unknown port 'postgressql'.*did you mean postgresql"),
        (0, r"port 0 .*out of range"),
        ("0", r"port '0' is out of range"),
        (65536, r"port 65536 .*out of range"),
        (-1, r"port -1 .*out of range"),
        ("abc def", r"unknown port 'abc def'"),
        ("90-80", r"range '90-80' is reversed"),
        ("65000-70000", r"range '65000-70000' is out of bounds: port 70000"),
        ("8000-8010", r"'8000-8010' is a range"),
        ("monitoring", r"'monitoring' is a port range name \(9000-9999\)"),
        ("portainer", r"'portainer' maps to several ports \(8000, 9000, 9443\)"),
        ("dhcp", r"'dhcp' maps to several ports \(67, 68\)"),
        ("ircu", r"'ircu' maps to several ports \(6665-6669\)"),
        (True, r"invalid port True \(bool\)"),
        (80.0, r"invalid port 80.0 \(float\)"),
        (None, r"invalid port None"),
        ("", r"unknown port ''"),
    ])
    def test_errors_name_the_value(self, value, message):
        with pytest.raises(PortSpecError, match=message):
            resolver.service_port(value)

    def test_bad_protocol(self):
        with pytest.raises(PortSpecError, match="unknown protocol 'sctp'"):
            resolver.service_port("ssh", "sctp")


class TestPortRange:
    def test_defaults(self):
        assert resolver.port_range("monitoring") == "9000-9999"
        assert resolver.port_range("well_known") == "0-1023"
        assert resolver.port_range("Load-Balancing") == "13000-13999"
        assert resolver.port_range("dynamic") == "49152-65535"

    def test_policy_overrides_and_extends(self):
        policy = {"monitoring": "19000-19999", "batch": "15000-15999", "single": 15500}
        assert resolver.port_range("monitoring", policy=policy) == "19000-19999"
        assert resolver.port_range("batch", policy=policy) == "15000-15999"
        assert resolver.port_range("single", policy=policy) == "15500"
        assert resolver.port_range("production", policy=policy) == "4000-4999"

    @pytest.mark.parametrize("name, policy, message", [
        ("nope", None, r"unknown port range 'nope': known ranges are backup, .*well_known"),
        ("monitorng", None, r"did you mean monitoring"),
        (8080, None, r"range name must be a string, got 8080"),
        ("x", {"x": "90-80"}, r"range '90-80' is reversed"),
        ("x", {"x": "abc"}, r"policy range 'x' has invalid value 'abc'"),
        ("x", {"x": "1-70000"}, r"port 70000 is above 65535"),
        ("x", ["monitoring"], r"policy must be a mapping"),
        ("x", {"": "1-2"}, r"policy range name '' must be a non-empty string"),
    ])
    def test_errors(self, name, policy, message):
        with pytest.raises(PortSpecError, match=message):
            resolver.port_range(name, policy=policy)


class TestPortRanges:
    def test_issue_example(self):
        assert resolver.port_ranges(["ssh", "http", "monitoring", 8080, "6000-6010"]) == \
            ["22", "80", "6000-6010", "8080", "9000-9999"]

    def test_adjacent_and_overlapping_merge(self):
        assert resolver.port_ranges([80, 81, 82]) == ["80-82"]
        assert resolver.port_ranges(["100-200", "150-250", 251, 99, 300]) == ["99-251", "300"]

    def test_duplicates_dropped(self):
        assert resolver.port_ranges(["ssh", 22, "22", "SSH"]) == ["22"]

    def test_services_with_several_ports_contribute_all(self):
        assert resolver.port_ranges(["portainer"]) == ["8000", "9000", "9443"]

    def test_protocol_and_policy(self):
        assert resolver.port_ranges(["dns", "ntp"], protocol="udp") == ["53", "123"]
        assert resolver.port_ranges(["monitoring"], policy={"monitoring": "19000-19999"}) == ["19000-19999"]

    def test_scalar_is_a_list_of_one(self):
        assert resolver.port_ranges("ssh") == ["22"]
        assert resolver.port_ranges(443) == ["443"]

    def test_empty(self):
        assert resolver.port_ranges([]) == []

    @pytest.mark.parametrize("values, message", [
        (["ssh", "postgressql"], r"'postgressql'.*did you mean postgresql"),
        ([22, 0], r"port 0 .*out of range"),
        ([70000], r"port 70000 .*out of range"),
        (["65000-70000"], r"port 70000 is above"),
        (["90-80"], r"reversed"),
        ([["nested"]], r"invalid port \['nested'\] \(list\)"),
        ({"ssh": 22}, r"expected a list"),
        (["ntp"], r"'ntp' has no tcp port"),
    ])
    def test_one_bad_item_fails_all(self, values, message):
        protocol = "tcp" if values == ["ntp"] else None
        with pytest.raises(PortSpecError, match=message):
            resolver.port_ranges(values, protocol=protocol)


class TestBackendSyntax:
    def test_nft(self):
        assert resolver.nft_set([(22, 22)]) == "22"
        assert resolver.nft_set([(80, 90), (22, 22)]) == "{ 22, 80-90 }"

    def test_iptables_splits_at_fifteen_ports(self):
        ports = [(port, port) for port in range(1000, 1040, 2)]  # 20 single ports
        chunks = resolver.iptables_multiport(ports + [(2000, 2010)])
        assert chunks[0] == ",".join(str(port) for port in range(1000, 1030, 2))
        assert chunks[1] == "1030,1032,1034,1036,1038,2000:2010"
        for chunk in chunks:
            assert sum(2 if ":" in item else 1 for item in chunk.split(",")) <= 15

    def test_iptables_range_counts_two(self):
        ranges = [(port * 10, port * 10 + 1) for port in range(1, 9)]  # 8 ranges = 16
        chunks = resolver.iptables_multiport(ranges)
        assert [len(chunk.split(",")) for chunk in chunks] == [7, 1]

    def test_firewalld(self):
        assert resolver.firewalld_ports([(80, 90), (22, 22)], "tcp") == ["22/tcp", "80-90/tcp"]
        assert resolver.firewalld_ports([(53, 53)], "both") == ["53/tcp", "53/udp"]
        with pytest.raises(PortSpecError, match="protocol tcp, udp or both"):
            resolver.firewalld_ports([(53, 53)], "icmp")


# Property tests: merging is exact (no port lost or invented) and order-free.

port_items = st.one_of(
    st.integers(min_value=1, max_value=65535),
    st.tuples(st.integers(min_value=1, max_value=65535), st.integers(min_value=0, max_value=300)).map(
        lambda pair: "%d-%d" % (pair[0], min(65535, pair[0] + pair[1]))),
)


def covered(texts):
    ports = set()
    for start, end in resolver.parse_ranges(texts):
        ports.update(range(start, end + 1))
    return ports


def expected_ports(items):
    ports = set()
    for item in items:
        if isinstance(item, int):
            ports.add(item)
        else:
            start, end = (int(part) for part in item.split("-"))
            ports.update(range(start, end + 1))
    return ports


@settings(max_examples=300, deadline=None)
@given(st.lists(port_items, max_size=40))
def test_merge_keeps_exactly_the_ports(items):
    assert covered(resolver.port_ranges(items)) == expected_ports(items)


@settings(max_examples=300, deadline=None)
@given(st.lists(port_items, max_size=40), st.randoms(use_true_random=False))
def test_merge_is_order_free(items, rng):
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert resolver.port_ranges(shuffled) == resolver.port_ranges(items)


@settings(max_examples=300, deadline=None)
@given(st.lists(port_items, max_size=40))
def test_merge_output_is_sorted_and_separated(items):
    bounds = resolver.parse_ranges(resolver.port_ranges(items))
    for (_start, end), (next_start, _next_end) in zip(bounds, bounds[1:]):
        assert next_start > end + 1  # neither overlapping nor adjacent
    for start, end in bounds:
        assert start <= end


@settings(max_examples=200, deadline=None)
@given(st.lists(port_items, max_size=60))
def test_iptables_chunks_cover_the_same_ports(items):
    ranges = resolver.parse_ranges(resolver.port_ranges(items))
    chunks = resolver.iptables_multiport(ranges)
    texts = [item.replace(":", "-") for chunk in chunks for item in chunk.split(",") if chunk]
    assert covered(texts) == expected_ports(items)
    for chunk in chunks:
        assert sum(2 if ":" in item else 1 for item in chunk.split(",")) <= resolver.IPTABLES_MULTIPORT_LIMIT
