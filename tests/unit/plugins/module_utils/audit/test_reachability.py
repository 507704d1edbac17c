# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes against real sockets on loopback (open, refused, a UDP reply and a
UDP port unreachable), the answers no loopback can give (timeouts, ICMP
unreachable, the host's own firewall) through a stand-in socket, and the
checks made before anything is sent."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import threading
import time

import pytest
import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _reachability as reach


def flow(port, expect="open", protocol="tcp", address="127.0.0.1", **extra):
    return dict({"host": "here", "address": address, "port": port, "protocol": protocol, "expect": expect,
                 "why": "here:%d/%s test" % (port, protocol), "service": None, "kind": None, "probe": True}, **extra)


@pytest.fixture
def udp_echo():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def answer():
        try:
            data, peer = sock.recvfrom(512)
            sock.sendto(b"reply:" + data, peer)
        except OSError:
            pass

    thread = threading.Thread(target=answer)
    thread.start()
    yield sock.getsockname()[1]
    thread.join()
    sock.close()


def test_a_listening_port_is_open(listener):
    assert reach.probe(flow(listener.getsockname()[1]), 2) == ("open", "connected")


def test_a_port_nobody_listens_on_is_refused(free_port):
    result, detail = reach.probe(flow(free_port), 2)
    assert result == "refused"
    assert "nothing listening" in detail


def test_udp_is_open_when_the_request_gets_a_reply(udp_echo):
    answer = reach.probe(flow(udp_echo, protocol="udp"), 2, udp_probes={udp_echo: ("test request", b"ping")})
    assert answer == ("open", "replied to the test request")


def test_udp_port_unreachable_is_refused(free_port):
    answer = reach.probe(flow(free_port, protocol="udp"), 2, udp_probes={free_port: ("test request", b"ping")})
    assert answer[0] == "refused"


class _Sockets:
    """The socket module as probe() uses it, every connect failing with ``error``."""

    def __init__(self, error):
        self.timeout = socket.timeout
        self.SOCK_STREAM = socket.SOCK_STREAM
        self.SOCK_DGRAM = socket.SOCK_DGRAM
        self.error = error
        self.made = []

    def socket(self, family, kind):
        sockets = self

        class Fake:
            def settimeout(self, value):
                sockets.made.append((family, kind, value))

            def connect(self, target):
                raise sockets.error

            def close(self):
                pass

        return Fake()


@pytest.mark.parametrize("error, result, words", [
    (socket.timeout("timed out"), "filtered", "no answer within 0.5s"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "filtered", "rejected as prohibited by a firewall"),
    (OSError(errno.EPERM, "Operation not permitted"), "filtered", "this host's own firewall drops it"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "error", "no route from this host"),
    (OSError(errno.EINVAL, "Invalid argument"), "error", "Invalid argument"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused", "nothing listening"),
])
def test_what_each_failure_means(error, result, words):
    sockets = _Sockets(error)
    answer = reach.probe(flow(8000, address="2001:db8::7"), 0.5, sockets=sockets)
    assert answer[0] == result
    assert words in answer[1]
    assert sockets.made == [(socket.AF_INET6, socket.SOCK_STREAM, 0.5)]


def test_results_against_expectations():
    answers = {1: ("open", "connected"), 2: ("refused", "r"), 3: ("filtered", "f"), 4: ("error", "e"),
               5: ("open", "connected"), 6: ("refused", "r"), 7: ("filtered", "f"), 8: ("error", "e")}
    flows = [flow(port, "open" if port <= 4 else "closed") for port in sorted(answers)]
    flows += [flow(5353, "closed", protocol="udp"), flow(9, "open", probe=False)]
    results = reach.probe_all(flows, 1, 4, probe_one=lambda item, timeout: answers[item["port"]])
    assert [(item["port"], item["result"], item["ok"]) for item in results] == [
        (1, "open", True), (2, "refused", False), (3, "filtered", False), (4, "error", False),
        (5, "open", False), (6, "refused", True), (7, "filtered", True), (8, "error", False),
        (5353, "not_probed", None), (9, "not_probed", None)]
    assert "UDP port 5353 answers no request this module knows (only 53 (DNS query), 123 (NTP client request)" \
        in results[8]["detail"]
    counts, mismatches = reach.summary(results)
    assert counts == {"flows": 10, "probed": 8, "open": 2, "refused": 2, "filtered": 2, "error": 2, "not_probed": 2,
                      "ok": 3, "mismatch": 5}
    assert mismatches[0] == "here:2/tcp test [127.0.0.1]: expected open, got refused (r)"


def test_probes_run_concurrently_up_to_the_limit():
    lock = threading.Lock()
    running = [0, 0]

    def slow(item, timeout):
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return "open", "connected"

    reach.probe_all([flow(port) for port in range(1, 10)], 1, 3, probe_one=slow)
    assert running[1] == 3


def test_the_checks_name_every_problem_before_anything_is_sent():
    with pytest.raises(reach.ReachabilityError) as caught:
        reach.check_flows([
            flow(22, address="10.0.0.5"),
            flow(22, address="192.0.2.9"),
            flow(70000),
            dict(flow(80), expect="maybe", colour="red"),
            flow(80, protocol="sctp"),
            flow(80, address="db.example.com"),
            "not a flow",
        ], ["10.0.0.0/24", "127.0.0.1"], 100)
    assert caught.value.errors == [
        "flow 2 (here:22/tcp): 192.0.2.9 is not in allowed_targets (the inventory's addresses): refused, this module "
        "sends traffic only to inventory hosts",
        "flow 3 (here:70000/tcp): port 70000 is outside 1 to 65535",
        "flow 4 (here:80/tcp): unknown key 'colour': known keys are host, address, port, protocol, expect, why, "
        "service, kind, probe",
        "flow 4 (here:80/tcp): expect 'maybe': expected open or closed",
        "flow 5 (here:80/sctp): protocol 'sctp': expected tcp or udp",
        "flow 6 (here:80/tcp): address 'db.example.com' is not an IP address",
        "flow 7 must be a mapping, got 'not a flow'",
    ]


def test_a_flow_that_is_not_probed_may_name_any_address():
    flows = [flow(161, address="192.0.2.9", protocol="udp"), flow(80, address="192.0.2.9", probe=False)]
    assert [item["address"] for item in reach.check_flows(flows, ["127.0.0.1"], 10)] == ["192.0.2.9", "192.0.2.9"]
    with pytest.raises(reach.ReachabilityError, match="192.0.2.9 is not in allowed_targets"):
        reach.check_flows([flow(53, address="192.0.2.9", protocol="udp")], ["127.0.0.1"], 10)


def test_max_probes_counts_only_what_is_sent():
    flows = [flow(port) for port in (1, 2, 3)] + [flow(161, protocol="udp"), flow(4, probe=False)]
    assert len(reach.check_flows(flows, ["127.0.0.1"], 3)) == 5
    with pytest.raises(reach.ReachabilityError, match="3 probes exceed max_probes 2"):
        reach.check_flows(flows, ["127.0.0.1"], 2)


def test_bad_allowed_targets_and_limits_are_named():
    with pytest.raises(reach.ReachabilityError, match="allowed_targets item '10.0.0.1/8' has host bits set"):
        reach.check_flows([], ["10.0.0.1/8"], 10)
    assert reach.check_limits(0, 0, 0) == ["timeout 0 is outside (0, 60] seconds", "concurrency 0 is outside 1 to 256",
                                           "max_probes 0 must be at least 1"]
    assert reach.check_limits(2.0, 32, 2000) == []


def test_the_udp_requests_are_what_servers_answer():
    name, query = reach.UDP_PROBES[53]
    # header: one question, recursion desired; the root name; type NS (2), class IN (1)
    assert query == b"\x70\x63\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01"
    name, request = reach.UDP_PROBES[123]
    assert len(request) == 48 and request[0] == 0x1b  # version 3, mode 3 (client)


def test_the_role_defaults_are_the_modules():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..")
    with open(os.path.join(root, "roles", "reachability", "meta", "argument_specs.yml")) as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    for key in ("timeout", "concurrency", "max_probes", "fail_on_mismatch"):
        assert options["portcullis_reachability_" + key]["default"] == reach.DEFAULTS[key], key
