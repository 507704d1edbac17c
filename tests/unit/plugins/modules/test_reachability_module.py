# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability module against real sockets on loopback: an open and a
refused port judged against their expectation, and the bounds (targets
outside allowed_targets, too many probes) refused before anything is sent,
which the listener proves by receiving no connection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.portcullis.ports.plugins.modules import reachability


def connections(listener):
    """How many connections reached the listener."""
    count = 0
    while True:
        try:
            accepted, _peer = listener.accept()
        except socket.timeout:
            return count
        accepted.close()
        count += 1


def flow(port, expect, why):
    return {"host": "here", "address": "127.0.0.1", "port": port, "expect": expect, "why": why}


def test_open_and_refused_as_expected(run_module, listener, free_port):
    port = listener.getsockname()[1]
    failed, result = run_module(reachability, flows=[flow(port, "open", "here:%d/tcp web public" % port),
                                                     flow(free_port, "closed", "here:%d/tcp undeclared" % free_port)],
                                allowed_targets=["127.0.0.0/8"], timeout=1)
    assert not failed and result["changed"] is False
    assert [(item["port"], item["result"], item["ok"]) for item in result["flows"]] == [
        (port, "open", True), (free_port, "refused", True)]
    assert result["counts"]["ok"] == 2 and result["counts"]["mismatch"] == 0
    assert result["mismatches"] == []
    assert connections(listener) == 1


def test_a_mismatch_fails_naming_the_flow(run_module, free_port):
    failed, result = run_module(reachability, flows=[flow(free_port, "open", "db:5432/tcp postgresql connects_to")],
                                allowed_targets=["127.0.0.1"], timeout=1)
    assert failed
    assert result["msg"].startswith("1 of 1 flows differ from the registry: db:5432/tcp postgresql connects_to "
                                    "[127.0.0.1]: expected open, got refused (nothing listening")
    assert result["flows"][0]["ok"] is False


def test_without_failing_the_mismatches_are_returned(run_module, listener):
    port = listener.getsockname()[1]
    failed, result = run_module(reachability, flows=[flow(port, "closed", "here:%d/tcp private" % port)],
                                allowed_targets=["127.0.0.1"], fail_on_mismatch=False)
    assert not failed
    assert result["mismatches"] == ["here:%d/tcp private [127.0.0.1]: expected closed, got open (connected)" % port]


def test_check_mode_probes_too(run_module, listener):
    port = listener.getsockname()[1]
    failed, result = run_module(reachability, flows=[flow(port, "open", "web")], allowed_targets=["127.0.0.1"],
                                _ansible_check_mode=True)
    assert not failed and result["flows"][0]["result"] == "open"
    assert connections(listener) == 1


def test_a_target_outside_the_inventory_is_refused_before_anything_is_sent(run_module, listener):
    port = listener.getsockname()[1]
    failed, result = run_module(reachability, flows=[flow(port, "open", "web")], allowed_targets=["10.0.0.0/8"])
    assert failed
    assert "127.0.0.1 is not in allowed_targets (the inventory's addresses)" in result["msg"]
    assert result["msg"].startswith("nothing was probed: ")
    assert connections(listener) == 0


def test_more_probes_than_max_probes_fail_before_anything_is_sent(run_module, listener):
    port = listener.getsockname()[1]
    failed, result = run_module(reachability, flows=[flow(port, "open", "web")] * 3, allowed_targets=["127.0.0.1"],
                                max_probes=2)
    assert failed
    assert "3 probes exceed max_probes 2" in result["msg"]
    assert connections(listener) == 0


@pytest.mark.parametrize("args, message", [
    ({"timeout": 0}, "timeout 0.0 is outside (0, 60] seconds"),
    ({"concurrency": 1000}, "concurrency 1000 is outside 1 to 256"),
    ({"flows": [{"address": "127.0.0.1", "port": 80, "expect": "sometimes"}]}, "expect"),
])
def test_bad_arguments_fail_with_the_value(run_module, args, message):
    params = dict({"flows": [flow(80, "open", "web")], "allowed_targets": ["127.0.0.1"]}, **args)
    failed, result = run_module(reachability, **params)
    assert failed
    assert message in result["msg"]
