# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket

import pytest

from ansible_collections.portcullis.ports.plugins.modules import listening_ports

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")


@pytest.fixture
def server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    yield sock.getsockname()[1]
    sock.close()


def test_finds_our_listener_with_its_process(run_module, server):
    failed, result = run_module(listening_ports, port=[server])
    assert not failed and result["changed"] is False
    mine = [item for item in result["listening"] if item["pid"] == os.getpid()]
    assert [(item["protocol"], item["address"], item["port"]) for item in mine] == [("tcp", "127.0.0.1", server)]


def test_filters_exclude(run_module, server):
    assert run_module(listening_ports, port=[server], protocol="udp")[1]["listening"] == []
    assert run_module(listening_ports, port=[server], family="ipv6")[1]["listening"] == []
    assert run_module(listening_ports, port=[server], address=["10.0.0.0/8"])[1]["listening"] == []
    assert len(run_module(listening_ports, port=[server], address=["127.0.0.0/8"])[1]["listening"]) >= 1


def test_check_mode_gives_the_same_answer(run_module, server):
    normal = run_module(listening_ports, port=[server])[1]["listening"]
    checked = run_module(listening_ports, port=[server], _ansible_check_mode=True)[1]["listening"]
    assert normal == checked


@pytest.mark.parametrize("args, message", [
    ({"address": ["10.0.0.300"]}, "address '10.0.0.300' is not an IP address"),
    ({"address": ["127.0.0.5/8"]}, "address '127.0.0.5/8' has host bits set"),
    ({"address": ["fe80::1%eth0"]}, "has an IPv6 zone id"),
    ({"port": ["postgressql"]}, "did you mean postgresql"),
    ({"port": [70000]}, "port 70000"),
    ({"protocol": "icmp"}, "protocol"),
])
def test_bad_arguments_fail_with_the_value(run_module, args, message):
    failed, result = run_module(listening_ports, **args)
    assert failed
    assert message in result["msg"]
