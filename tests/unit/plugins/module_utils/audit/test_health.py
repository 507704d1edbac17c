# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 27 fault 8: a health target that trickles its answer one byte at a
time never lets a per-read timeout expire; the whole request must be bounded
by the health timeout, in port_metrics and in the audit."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading
import time

import pytest
import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _health
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics

ROLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles"))
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def trickle():
    """A server that answers 200, one byte every 0.2 s (about 13 s in all), each byte well within any
    per-read timeout."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _peer = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(4096)
                for position in range(len(ANSWER)):
                    if stop.wait(0.2):
                        return
                    try:
                        connection.sendall(ANSWER[position:position + 1])
                    except OSError:
                        break

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    yield "127.0.0.1:%d" % listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_port_metrics_bounds_a_trickling_health_answer_by_the_timeout(trickle):
    targets = [{"url": "http://%s/health" % trickle, "domain": "a.example.com", "path": "/", "server": trickle}]
    out = _metrics.Exposition()
    started = time.monotonic()
    _metrics.health_series(out, targets, 1)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, "the health request took %.1f s with a timeout of 1 s" % elapsed
    assert 'portcullis_backend_up{domain="a.example.com",path="/",server="%s"} 0' % trickle in out.text()


def test_the_audit_asks_for_health_with_the_bounded_request():
    with open(os.path.join(ROLES, "port_audit", "tasks", "map.yml")) as handle:
        tasks = yaml.safe_load(handle)
    ask = next(task for task in tasks if task["name"].startswith("Ask each backend for its health path"))
    assert "ansible.builtin.uri" not in ask, "uri's timeout bounds each read, not the request"
    assert ask["portcullis.ports.health_check"]["timeout"] == "{{ portcullis_audit_health_timeout }}"


def test_the_bounded_request_reads_a_status_and_names_what_went_wrong(trickle):
    started = time.monotonic()
    assert _health.get_status("http://%s/health" % trickle, 1) == (None, "no complete answer within 1 s")
    assert time.monotonic() - started < 2
    assert _health.get_status("https://%s/health" % trickle, 1)[1].startswith("not an http:// URL")
    assert _health.get_status("http://127.0.0.1:1/health", 1)[0] is None


def test_a_quick_answer_gives_its_status():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        connection, _peer = listener.accept()
        with connection:
            request = connection.recv(4096)
            connection.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                               if b"GET /down HTTP/1.1" in request else b"HTTP/1.1 200 OK\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert _health.get_status("http://127.0.0.1:%d/down" % listener.getsockname()[1], 2) == (503, "")
    finally:
        thread.join(5)
        listener.close()
