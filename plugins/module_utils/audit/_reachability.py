# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probing flows from the host the reachability module runs on, and judging
each answer against what the registry expects of it.

A flow is one destination (an address, a port, tcp or udp) with an
expectation: ``open`` (a connection must succeed: the firewall lets it in
and a service listens) or ``closed`` (no connection: refused or filtered
both do). The controller derives the flows from the registry
(``plugin_utils/_reachability_plan.py``); here they are checked, bounded
(only ``allowed_targets``, at most ``max_probes``, ``concurrency`` at once,
``timeout`` each) and probed. Nothing is sent unless every flow passes.

TCP: a connect with a timeout; nothing is written on the connection.
UDP has no handshake, so silence proves nothing: a port is probed only
where a request any client may send gets a reply (``UDP_PROBES``), and
every other UDP flow is ``not_probed``, which is never counted as passed.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import errno
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.portcullis.ports.plugins.module_utils import _values

EXPECTATIONS = ("open", "closed")
PROTOCOLS = ("tcp", "udp")
# What a probe can find. filtered: no answer within the timeout, an ICMP
# "unreachable" (a firewall's reject with admin-prohibited), or the probing
# host's own firewall holding it back; error: the probe could not be made.
RESULTS = ("open", "refused", "filtered", "error", "not_probed")
# The results that satisfy each expectation; error and not_probed satisfy none.
SATISFIES = {"open": ("open",), "closed": ("refused", "filtered")}
# A flow as the module takes it (reachability_flows makes them), as an argument spec.
FLOW_SPEC = dict(
    host=dict(type="str"),
    address=dict(type="str", required=True),
    port=dict(type="int", required=True),
    protocol=dict(type="str", choices=list(PROTOCOLS), default="tcp"),
    expect=dict(type="str", choices=list(EXPECTATIONS), required=True),
    why=dict(type="str"),
    service=dict(type="str"),
    kind=dict(type="str"),
    probe=dict(type="bool", default=True),
)
FLOW_KEYS = tuple(FLOW_SPEC)
# The module's options with their defaults and bounds; the module's
# DOCUMENTATION states the same numbers.
DEFAULTS = {"timeout": 2.0, "concurrency": 32, "max_probes": 2000, "fail_on_mismatch": True}
TIMEOUT_MAX = 60.0
CONCURRENCY_MAX = 256


def _dns_query():
    """A recursive query for the root zone's NS records: any DNS server answers it, if only with REFUSED."""
    return struct.pack("!HHHHHH", 0x7063, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack("!HH", 2, 1)


def _ntp_request():
    """An SNTP client request (version 3, mode 3): an NTP server answers with its time."""
    return b"\x1b" + b"\x00" * 47


# UDP ports probed, with the request sent: a reply means open, an ICMP port
# unreachable refused, silence filtered. Every other UDP port is not probed.
UDP_PROBES = {
    53: ("DNS query", _dns_query()),
    123: ("NTP client request", _ntp_request()),
}

DETAILS = {
    "open": "connected",
    "udp_open": "replied to the %s",
    "refused": "nothing listening, or rejected: a TCP reset or an ICMP port unreachable",
    "timeout": "no answer within %gs: dropped by a firewall, or the host is down",
    "udp_timeout": "no reply to the %s within %gs: dropped by a firewall, or nothing answers",
    "unreachable": "unreachable (ICMP): rejected as prohibited by a firewall, or no host at this address",
    "blocked": "not sent: this host's own firewall drops it (output), so the target's side was not tested",
    "no_route": "no route from this host to the address",
    "udp_unprobed": "not probed: UDP port %d answers no request this module knows (only %s are probed)",
    "skipped": "not probed: %s",
}


class ReachabilityError(ValueError):
    """The flows or the limits are wrong; ``errors`` lists every problem. Nothing was sent."""

    def __init__(self, errors):
        self.errors = errors
        super(ReachabilityError, self).__init__("nothing was probed: " + "; ".join(errors))


def argument_spec():
    return dict(
        flows=dict(type="list", elements="dict", required=True, options=copy.deepcopy(FLOW_SPEC)),
        allowed_targets=dict(type="list", elements="str", required=True),
        timeout=dict(type="float", default=DEFAULTS["timeout"]),
        concurrency=dict(type="int", default=DEFAULTS["concurrency"]),
        max_probes=dict(type="int", default=DEFAULTS["max_probes"]),
        fail_on_mismatch=dict(type="bool", default=DEFAULTS["fail_on_mismatch"]),
    )


def label(flow):
    """How a flow is named: ``host:port/protocol`` (the address when it has no host)."""
    host = flow.get("host") or flow.get("address")
    return "%s:%s/%s" % (host, flow.get("port"), flow.get("protocol", "tcp"))


def unprobed_reason(flow):
    """Why a checked flow is not probed, or None when it is."""
    if not flow["probe"]:
        return "the flow says probe: false"
    if flow["protocol"] == "udp" and flow["port"] not in UDP_PROBES:
        return DETAILS["udp_unprobed"] % (flow["port"], ", ".join("%d (%s)" % (port, UDP_PROBES[port][0])
                                                                  for port in sorted(UDP_PROBES)))
    return None


def check_limits(timeout, concurrency, max_probes):
    errors = []
    if not 0 < timeout <= TIMEOUT_MAX:
        errors.append("timeout %s is outside (0, %g] seconds" % (timeout, TIMEOUT_MAX))
    if not 1 <= concurrency <= CONCURRENCY_MAX:
        errors.append("concurrency %s is outside 1 to %d" % (concurrency, CONCURRENCY_MAX))
    if max_probes < 1:
        errors.append("max_probes %s must be at least 1" % max_probes)
    return errors


def _check_flow(index, flow, allowed, errors):
    name = "flow %d" % (index + 1)
    if not isinstance(flow, dict):
        errors.append("%s must be a mapping, got %s" % (name, _values.describe(flow)))
        return None
    name = "flow %d (%s)" % (index + 1, label(flow))
    before = len(errors)
    for key in sorted(set(flow) - set(FLOW_KEYS), key=str):
        errors.append("%s: unknown key %r: known keys are %s" % (name, key, ", ".join(FLOW_KEYS)))
    checked = dict((key, flow.get(key)) for key in FLOW_KEYS)
    try:
        address = _values.address(flow.get("address"), "address")
    except _values.BadValue as error:
        errors.append("%s: %s" % (name, error))
        address = None
    try:
        checked["port"] = _values.integer(flow.get("port"), "port", 1, 65535)
    except _values.BadValue as error:
        errors.append("%s: %s" % (name, error))
    checked["protocol"] = flow.get("protocol") or "tcp"
    if checked["protocol"] not in PROTOCOLS:
        errors.append("%s: protocol %s: expected tcp or udp" % (name, _values.describe(flow.get("protocol"))))
    if flow.get("expect") not in EXPECTATIONS:
        errors.append("%s: expect %s: expected open or closed" % (name, _values.describe(flow.get("expect"))))
    for key in ("host", "why", "service", "kind"):
        if flow.get(key) is not None and not isinstance(flow[key], str):
            errors.append("%s: %s must be a string, got %s" % (name, key, _values.describe(flow[key])))
    checked["probe"] = flow.get("probe", True)
    if not isinstance(checked["probe"], bool):
        errors.append("%s: probe must be true or false, got %s" % (name, _values.describe(flow.get("probe"))))
    if len(errors) > before:
        return None
    checked["address"] = str(address)
    if unprobed_reason(checked) is None and not any(address in network for network in allowed):
        errors.append("%s: %s is not in allowed_targets (the inventory's addresses): refused, this module sends "
                      "traffic only to inventory hosts" % (name, address))
        return None
    return checked


def check_flows(flows, allowed_targets, max_probes):
    """The flows checked and normalised (port an int, protocol and probe
    filled in), or ReachabilityError naming every bad flow, every target
    outside ``allowed_targets`` (addresses or CIDRs) and probes beyond
    ``max_probes``."""
    errors = []
    allowed = []
    for item in allowed_targets:
        try:
            allowed.append(_values.network(item, "allowed_targets item"))
        except _values.BadValue as error:
            errors.append(str(error))
    if not isinstance(flows, list):
        raise ReachabilityError(errors + ["flows must be a list, got %s" % _values.describe(flows)])
    checked = [_check_flow(index, flow, allowed, errors) for index, flow in enumerate(flows)]
    if not errors:
        probes = len([flow for flow in checked if unprobed_reason(flow) is None])
        if probes > max_probes:
            errors.append("%d probes exceed max_probes %d: probe fewer hosts or ports, or raise max_probes"
                          % (probes, max_probes))
    if errors:
        raise ReachabilityError(errors)
    return checked


def _family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _os_error(error):
    """A failed connect or receive to ``(result, detail)``."""
    code = getattr(error, "errno", None)
    if code == errno.ECONNREFUSED:
        return "refused", DETAILS["refused"]
    if code in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "filtered", DETAILS["unreachable"]
    if code in (errno.EPERM, errno.EACCES):
        return "filtered", DETAILS["blocked"]
    if code == errno.ENETUNREACH:
        return "error", DETAILS["no_route"]
    return "error", "%s: %s" % (type(error).__name__, error)


def probe(flow, timeout, sockets=socket, udp_probes=None):
    """One probe of a checked flow: ``(result, detail)``. ``sockets`` is the
    socket module (a stand-in in tests); ``udp_probes`` the UDP requests by
    port (``UDP_PROBES``)."""
    udp_probes = UDP_PROBES if udp_probes is None else udp_probes
    address, port = flow["address"], flow["port"]
    udp = flow["protocol"] == "udp"
    sock = sockets.socket(_family(address), sockets.SOCK_DGRAM if udp else sockets.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            if not udp:
                return "open", DETAILS["open"]
            name, request = udp_probes[port]
            sock.send(request)
            sock.recv(4096)
            return "open", DETAILS["udp_open"] % name
        except sockets.timeout:
            if udp:
                return "filtered", DETAILS["udp_timeout"] % (udp_probes[port][0], timeout)
            return "filtered", DETAILS["timeout"] % timeout
        except (OSError, IOError) as error:
            return _os_error(error)
    finally:
        sock.close()


def probe_all(flows, timeout, concurrency, probe_one=probe):
    """Each checked flow with ``result``, ``detail``, ``elapsed_ms`` and ``ok``
    (True or False against its expectation; None when not probed), in the
    input order; at most ``concurrency`` probes at once."""
    todo = [flow for flow in flows if unprobed_reason(flow) is None]

    def timed(flow):
        started = time.monotonic()
        result, detail = probe_one(flow, timeout)
        return result, detail, int(round((time.monotonic() - started) * 1000))

    answers = {}
    if todo:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(todo))) as pool:
            for flow, answer in zip(todo, pool.map(timed, todo)):
                answers[id(flow)] = answer
    results = []
    for flow in flows:
        if id(flow) in answers:
            result, detail, elapsed = answers[id(flow)]
            ok = result in SATISFIES[flow["expect"]]
        else:
            result, detail, elapsed, ok = "not_probed", DETAILS["skipped"] % unprobed_reason(flow), 0, None
        results.append(dict(flow, result=result, detail=detail, elapsed_ms=elapsed, ok=ok))
    return results


def mismatch_message(item):
    """What a failed flow says: what it is, why, what was expected and what was found."""
    what = item.get("why") or label(item)
    return "%s [%s]: expected %s, got %s (%s)" % (what, item["address"], item["expect"], item["result"], item["detail"])


def summary(results):
    """``(counts, mismatches)``: how many flows found each result, passed,
    failed and were not probed; and a message for each failed flow."""
    counts = dict((result, 0) for result in RESULTS)
    for item in results:
        counts[item["result"]] += 1
    counts["flows"] = len(results)
    counts["probed"] = len(results) - counts["not_probed"]
    counts["ok"] = len([item for item in results if item["ok"] is True])
    mismatches = [mismatch_message(item) for item in results if item["ok"] is False]
    counts["mismatch"] = len(mismatches)
    return counts, mismatches
