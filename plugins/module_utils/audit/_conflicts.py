# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every conflict in a validated port registry: overlapping ports (sort and
sweep, not all pairs), ports outside their declared range or inside the
ephemeral range, and, against the live listeners, ports held by another
process, listeners no service declares, and services listening wider than
they are declared (a private service on a wildcard address).

A check whose input cannot be read (the owner of a socket without root, the
ephemeral range) is reported as ``unknown``, never passed silently.

Entries are validated by ``ports._registry``, the one owner of their rules.
Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import heapq
import os

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import Bind

# Plan kinds first, then what only the live host shows.
KINDS = ("duplicate", "out_of_range", "ephemeral", "occupied", "exposure", "undeclared", "published")
# What the live listeners show (the port map recomputes these from them).
LISTENER_KINDS = ("occupied", "exposure", "undeclared")


def _conflict(kind, port, protocol, services, message, **extra):
    result = {"kind": kind, "port": port, "protocol": protocol, "services": services, "message": message}
    result.update(extra)
    return result


def find_duplicates(services):
    """Pairs of services whose ports overlap on one protocol with clashing binds.

    Sort and sweep: each interval meets only the intervals still open at its
    start, so distinct ports cost O(n log n), not n squared.
    """
    conflicts = []
    for protocol in ("tcp", "udp"):
        intervals = sorted(
            (start, end, service.index, service)
            for service in services if protocol in service.ranges
            for start, end in service.ranges[protocol]
        )
        open_intervals = []  # heap of (end, start, index, service)
        for start, end, index, service in intervals:
            while open_intervals and open_intervals[0][0] < start:
                heapq.heappop(open_intervals)
            for other_end, other_start, _other_index, other in open_intervals:
                if other is service or not other.bind.clashes_with(service.bind):
                    continue
                low, high = max(start, other_start), min(end, other_end)
                overlap = resolver.format_range((low, high))
                conflicts.append(_conflict(
                    "duplicate", low, protocol, [other.name, service.name],
                    "%s and %s both use %s port %s (%s and %s)" % (
                        other.name, service.name, protocol, overlap, other.bind.address, service.bind.address),
                    ports=overlap))
            heapq.heappush(open_intervals, (end, start, index, service))
    return conflicts


def find_out_of_range(services, policy):
    conflicts = []
    for service in services:
        if service.range_name is None:
            continue
        low, high = policy[resolver.normalize_range_name(service.range_name)]
        for protocol in service.protocols:
            for start, end in service.ranges.get(protocol, ()):
                if start >= low and end <= high:
                    continue
                port = start if start < low or start > high else high + 1
                conflicts.append(_conflict(
                    "out_of_range", port, protocol, [service.name],
                    "%s uses %s port %s, outside its range %s (%d-%d)" % (
                        service.name, protocol, resolver.format_range((start, end)), service.range_name, low, high)))
    return conflicts


def _subtract(ranges, holes):
    """Parts of sorted merged ``ranges`` not covered by sorted merged ``holes``."""
    result = []
    for start, end in ranges:
        position = start
        for hole_start, hole_end in holes:
            if hole_end < position or hole_start > end:
                continue
            if hole_start > position:
                result.append((position, hole_start - 1))
            position = max(position, hole_end + 1)
        if position <= end:
            result.append((position, end))
    return result


def find_ephemeral(services, ephemeral, reserved=()):
    """Declared ports the kernel may hand out to outgoing connections."""
    if ephemeral is None:
        return []
    low, high = ephemeral
    reserved = resolver.merge_ranges(reserved)
    conflicts = []
    for service in services:
        for protocol in service.protocols:
            for start, end in service.ranges.get(protocol, ()):
                inside = [(max(start, low), min(end, high))] if start <= high and end >= low else []
                exposed = _subtract(inside, reserved)
                if exposed:
                    conflicts.append(_conflict(
                        "ephemeral", exposed[0][0], protocol, [service.name],
                        "%s listens on %s port %s, inside the ephemeral range %d-%d where outgoing connections "
                        "can take it first (move it, or reserve it in net.ipv4.ip_local_reserved_ports)" % (
                            service.name, protocol, ", ".join(resolver.format_range(item) for item in exposed), low, high)))
    return conflicts


class _PortIndex:
    """Services by protocol and port, for looking up live listeners quickly."""

    def __init__(self, services):
        self.single = {}
        self.spans = {}
        for service in services:
            for protocol, ranges in service.ranges.items():
                for start, end in ranges:
                    if start == end:
                        self.single.setdefault((protocol, start), []).append(service)
                    else:
                        self.spans.setdefault(protocol, []).append((start, end, service.index, service))
        for spans in self.spans.values():
            spans.sort()
        self.span_starts = dict((protocol, [span[0] for span in spans]) for protocol, spans in self.spans.items())

    def services_on(self, protocol, port):
        found = list(self.single.get((protocol, port), ()))
        spans = self.spans.get(protocol, ())
        for position in range(bisect.bisect_right(self.span_starts.get(protocol, ()), port)):
            start, end, _index, service = spans[position]
            if start <= port <= end:
                found.append(service)
        return found


def process_matches(expected, listener):
    """Declared process name against a listener: comm is cut to 15 characters
    by the kernel; the command's own name counts too."""
    names = set()
    if listener.get("process"):
        names.add(listener["process"])
    if listener.get("cmdline"):
        names.add(os.path.basename(listener["cmdline"][0]))
    return expected in names or expected[:15] in names


def exposure(service, bind):
    """How a listener on ``bind`` is wider than ``service`` is declared, or None:
    a private or loopback service heard beyond loopback, or a service declared
    on one address heard on a wildcard."""
    if service.bind.covers(bind):
        return None
    if service.bind.loopback and not bind.loopback:
        return "declared %s" % ("private" if service.expose == "private" else "on %s" % service.bind.address)
    if not service.bind.wildcard and bind.wildcard:
        return "declared on %s" % service.bind.address
    return None


def serves(listener_bind, declared):
    """Whether a listener accepts connections for the declared bind: on it
    (or inside it, for a declared wildcard), or wider (a wildcard of its
    family, or a dual-stack ``::``)."""
    if declared.covers(listener_bind):
        return True
    return listener_bind.wildcard and (listener_bind.version == declared.version or listener_bind.dual_stack)


def live_status(service, listeners):
    """('listening', processes, detail) or ('not listening', [], '').

    detail says when only part of the declaration listens (loopback only
    for a service declared on every address, one protocol of two, some
    ports of a range), when it listens wider than declared, and when its
    process could not be verified."""
    holders = set()
    heard = {}
    loopback_only = True
    wider = []
    unverified = False
    for listener in listeners:
        ranges = service.ranges.get(listener["protocol"], ())
        if not any(start <= listener["port"] <= end for start, end in ranges):
            continue
        bind = Bind(listener["address"], dual_stack=listener.get("dual_stack", False))
        how_wide = exposure(service, bind)
        if how_wide:
            wider.append("%s, listening on %s" % (how_wide, bind.endpoint(listener["port"])))
        elif not serves(bind, service.bind):
            continue
        holders.add(listener.get("process") or "unknown process")
        heard.setdefault(listener["protocol"], set()).add(listener["port"])
        loopback_only = loopback_only and bind.loopback
        unverified = unverified or (service.process is not None and listener.get("pid") is None)
    if not holders:
        return "not listening", [], ""
    details = sorted(set(wider))
    if unverified:
        details.append("process unknown (owner not readable)")
    if service.bind.wildcard and loopback_only:
        details.append("loopback only")
    if len(heard) < len(service.ranges):
        details.append("%s only" % "/".join(sorted(heard)))
    declared = sum(end - start + 1 for protocol in heard for start, end in service.ranges[protocol])
    listening = sum(len(ports) for ports in heard.values())
    if listening < declared:
        details.append("%d of %d ports" % (listening, declared))
    return "listening", sorted(holders), ", ".join(details)


def check_live(services, listeners):
    """Conflicts and unknowns the live listeners show: ``(conflicts, unknown)``.

    ``occupied``: a declared port held by another process than the entry's
    ``process``. ``exposure``: a service listening wider than declared.
    ``undeclared``: a listener no service accounts for. An owner that could
    not be read (no root) makes the process check ``unknown`` for that port.
    """
    index = _PortIndex(services)
    conflicts = []
    unknown = []
    reported = set()
    for listener in listeners:
        bind = Bind(listener["address"], dual_stack=listener.get("dual_stack", False))
        candidates = index.services_on(listener["protocol"], listener["port"])
        where = bind.endpoint(listener["port"])
        holder = listener.get("process") or "an unknown process"
        if listener.get("pid") is not None:
            holder = "%s (pid %d)" % (holder, listener["pid"])
        covered = False
        for service in candidates:
            wider = exposure(service, bind)
            if wider:
                key = ("exposure", service.name, listener["protocol"], listener["port"], bind.address)
                if key not in reported:
                    reported.add(key)
                    conflicts.append(_conflict(
                        "exposure", listener["port"], listener["protocol"], [service.name],
                        "%s is %s, but %s listens on %s %s" % (service.name, wider, holder, listener["protocol"], where),
                        address=bind.address, pid=listener.get("pid"), process=listener.get("process")))
                covered = True
                continue
            if not service.bind.covers(bind):
                continue
            covered = True
            if not service.process:
                continue
            if listener.get("pid") is None:
                key = ("unknown", service.name, listener["protocol"], listener["port"], bind.address)
                if key not in reported:
                    reported.add(key)
                    unknown.append({
                        "check": "process", "services": [service.name], "port": listener["port"],
                        "protocol": listener["protocol"], "address": bind.address,
                        "message": "the owner of %s %s is not visible here (without root, or held outside this PID "
                                   "namespace): that %s is %s is unknown" % (listener["protocol"], where, service.name,
                                                                             service.process)})
                continue
            if process_matches(service.process, listener):
                continue
            key = ("occupied", service.name, listener["protocol"], listener["port"], bind.address, listener["pid"])
            if key not in reported:
                reported.add(key)
                conflicts.append(_conflict(
                    "occupied", listener["port"], listener["protocol"], [service.name],
                    "%s port %d of %s is held by %s on %s, not by %s" % (
                        listener["protocol"], listener["port"], service.name, holder, where, service.process),
                    address=bind.address, pid=listener.get("pid"), process=listener.get("process")))
        if not covered:
            key = ("undeclared", listener["protocol"], listener["port"], bind.address)
            if key not in reported:
                reported.add(key)
                conflicts.append(_conflict(
                    "undeclared", listener["port"], listener["protocol"], [],
                    "%s listens on %s %s, which no service declares" % (holder, listener["protocol"], where),
                    address=bind.address, pid=listener.get("pid"), process=listener.get("process")))
    return conflicts, unknown


EPHEMERAL_UNKNOWN = {
    "check": "ephemeral", "services": [],
    "message": "the ephemeral port range could not be read (net.ipv4.ip_local_port_range): no declared port was "
               "checked against it"}


def find_conflicts(validated, full_policy, ephemeral=None, reserved=(), listeners=None):
    """Every conflict of a validated registry, in the order of KINDS:
    ``(conflicts, unknown)``. Without ``ephemeral`` the ephemeral check is not
    made (the caller says why: EPHEMERAL_UNKNOWN when the host's range could
    not be read); without ``listeners`` no live check is."""
    conflicts = find_duplicates(validated)
    conflicts.extend(find_out_of_range(validated, full_policy))
    conflicts.extend(find_ephemeral(validated, ephemeral, reserved))
    unknown = []
    if listeners is not None:
        live, live_unknown = check_live(validated, listeners)
        conflicts.extend(live)
        unknown.extend(live_unknown)
    order = dict((kind, position) for position, kind in enumerate(KINDS))
    conflicts.sort(key=lambda item: order[item["kind"]])
    return conflicts, unknown


def check(services, policy=None, ephemeral=None, reserved=(), bindv6only=False, listeners=None):
    """Validate, then find every conflict: ``(services, conflicts, unknown)``."""
    full_policy = resolver.build_policy(policy)
    validated = _registry.validate(services, full_policy, bindv6only)
    return (validated,) + find_conflicts(validated, full_policy, ephemeral, reserved, listeners)


def parse_port_list(text):
    """``ip_local_reserved_ports`` syntax (``8080,9000-9100``) to ranges."""
    ranges = []
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if item:
            ranges.extend(resolver.resolve(item))
    return ranges


def read_ephemeral(proc_root="/proc"):
    """``((low, high), reserved ranges)`` of this host's network namespace."""
    base = os.path.join(proc_root, "sys", "net", "ipv4")
    try:
        with open(os.path.join(base, "ip_local_port_range")) as handle:
            low, high = (int(part) for part in handle.read().split())
    except (IOError, OSError, ValueError):
        return None, []
    try:
        with open(os.path.join(base, "ip_local_reserved_ports")) as handle:
            reserved = parse_port_list(handle.read())
    except (IOError, OSError):
        reserved = []
    return (low, high), reserved
