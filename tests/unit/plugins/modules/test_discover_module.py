# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket

import pytest

from ansible_collections.portcullis.ports.plugins.modules import discover

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")


@pytest.fixture
def server():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    yield sock.getsockname()[1]
    sock.close()


def test_finds_our_loopback_listener_as_private(run_module, server):
    failed, result = run_module(discover)
    assert not failed and result["changed"] is False
    mine = [item for item in result["services"] if item["port"] == server]
    assert [(item["bind"], item["exposure"]["state"]) for item in mine] == [("127.0.0.1", "private")]


def test_check_mode_reads_the_same(run_module, server):
    failed, result = run_module(discover, _ansible_check_mode=True)
    assert not failed and any(item["port"] == server for item in result["services"])


def test_connections_are_seen(run_module, server):
    client = socket.create_connection(("127.0.0.1", server))
    try:
        failed, result = run_module(discover)
    finally:
        client.close()
    # loopback connections stay on the host: no flow between hosts
    assert not failed and not [flow for flow in result["connections"] if flow["port"] == server]


@pytest.mark.parametrize("args, message", [
    ({"window": -5}, "window -5"),
    ({"window": 7200}, "window 7200"),
    ({"samples": 0}, "samples 0"),
    ({"window": "soon"}, "soon"),
])
def test_bad_arguments_fail_with_the_value(run_module, args, message):
    failed, result = run_module(discover, **args)
    assert failed
    assert message in result["msg"]
