# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of a port registry and every conflict in it: overlapping
ports (sort and sweep, not all pairs), ports outside their declared range or
inside the ephemeral range, and, against the live listeners, occupied ports
and undeclared listeners.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import difflib
import heapq
import ipaddress
import os
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _nginx_proxy
from ansible_collections.portcullis.ports.plugins.module_utils import _port_resolver as resolver

REGISTRY_KEYS = ("name", "port", "protocol", "bind", "range", "environment", "expose", "allow_from", "domain", "process",
                 "upstream", "proxy")
EXPOSE_CHOICES = ("public", "internal", "private")
PROTOCOLS = {"tcp": ("tcp",), "udp": ("udp",), "both": ("tcp", "udp")}
DEFAULT_BIND = "0.0.0.0"
# RFC 1123 host names, with an optional leading "*." wildcard label.
_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")
_PROCESS_NAME = re.compile(r"^[^\s/\0]{1,255}$")

KINDS = ("duplicate", "out_of_range", "ephemeral", "occupied", "undeclared")


class RegistryError(ValueError):
    """The registry is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors):
        self.errors = errors
        super(RegistryError, self).__init__("invalid port registry: " + "; ".join(errors))


class Bind:
    """A bind address and which sockets it shares a port with."""

    __slots__ = ("address", "version", "wildcard", "dual_stack")

    def __init__(self, address, dual_stack=False):
        parsed = ipaddress.ip_address(address)
        self.address = str(parsed)
        self.version = parsed.version
        self.wildcard = parsed.is_unspecified
        self.dual_stack = self.wildcard and self.version == 6 and dual_stack

    def clashes_with(self, other):
        """Whether the kernel refuses both on one port: the same family with a
        wildcard or the same address, or a dual-stack ``::`` against any IPv4."""
        if self.version == other.version:
            return self.wildcard or other.wildcard or self.address == other.address
        return self.dual_stack or other.dual_stack

    def covers(self, other):
        """Whether a service declared on this bind accounts for a listener on
        ``other``: a declared wildcard covers every address of either family
        (a service "on all addresses"); a specific address only itself."""
        if self.wildcard:
            return True
        return self.version == other.version and self.address == other.address


class Service:
    __slots__ = ("index", "name", "protocols", "ranges", "bind", "range_name", "process", "entry")

    def __init__(self, index, name, protocols, ranges, bind, range_name, process, entry):
        self.index = index
        self.name = name
        self.protocols = protocols
        self.ranges = ranges  # {protocol: [(start, end), ...]} merged
        self.bind = bind
        self.range_name = range_name
        self.process = process
        self.entry = entry


def _label(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name:
        return "service %r (entry %d)" % (name, index + 1)
    return "entry %d" % (index + 1)


def _check_string(value, what, label, errors, pattern=None, hint=""):
    if not isinstance(value, str) or not value.strip():
        errors.append("%s: %s must be a non-empty string, got %r" % (label, what, value))
        return False
    if pattern is not None and not pattern.match(value):
        errors.append("%s: invalid %s %r%s" % (label, what, value, hint))
        return False
    return True


def _check_proxy(entry, label, errors):
    """upstream and proxy are the nginx_proxy role's; checked the way it checks them."""
    try:
        if "upstream" in entry:
            upstream = entry["upstream"]
            for item in upstream if isinstance(upstream, list) else [upstream]:
                _nginx_proxy.check_upstream_server(item, "upstream")
        if "proxy" in entry:
            _nginx_proxy.check_proxy_options(entry["proxy"], "proxy")
    except _nginx_proxy.NginxProxyError as error:
        errors.append("%s: %s" % (label, error))


def validate_registry(services, policy, bindv6only=False):
    """Every entry checked before anything else; raises RegistryError listing all problems."""
    if not isinstance(services, list):
        raise RegistryError(["services must be a list of service entries, got %s" % type(services).__name__])
    errors = []
    result = []
    seen = {}
    for index, entry in enumerate(services):
        label = _label(index, entry)
        if not isinstance(entry, dict):
            errors.append("%s: must be a mapping with at least name and port, got %r" % (label, entry))
            continue
        problems_before = len(errors)
        for key in sorted(set(entry) - set(REGISTRY_KEYS), key=str):
            close = difflib.get_close_matches(str(key), REGISTRY_KEYS, n=1, cutoff=0.6)
            errors.append("%s: unknown key %r%s" % (label, key, " (did you mean %s?)" % close[0] if close else ""))
        name = entry.get("name")
        if "name" not in entry:
            errors.append("%s: missing name" % label)
        elif _check_string(name, "name", label, errors):
            if name in seen:
                errors.append("%s: duplicate name %r, already used by entry %d" % (label, name, seen[name] + 1))
            else:
                seen[name] = index
        protocol = entry.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            errors.append("%s: invalid protocol %r: expected tcp, udp or both" % (label, protocol))
            protocol = None
        ranges = {}
        if "port" not in entry:
            errors.append("%s: missing port" % label)
        elif protocol is not None:
            for proto in PROTOCOLS[protocol]:
                try:
                    ranges[proto] = resolver.merge_ranges(resolver.resolve(entry["port"], proto, policy))
                except resolver.PortSpecError as error:
                    errors.append("%s: %s" % (label, error))
                    break
        bind = None
        bind_text = entry.get("bind", DEFAULT_BIND)
        try:
            bind = Bind(bind_text, dual_stack=not bindv6only)
        except ValueError:
            errors.append("%s: invalid bind address %r: expected an IP address such as 0.0.0.0, :: or 127.0.0.1"
                          % (label, bind_text))
        range_name = entry.get("range")
        if range_name is not None:
            if not isinstance(range_name, str) or resolver.normalize_range_name(range_name) not in policy:
                errors.append("%s: unknown range %r: known ranges are %s" % (label, range_name, ", ".join(sorted(policy))))
                range_name = None
        if "expose" in entry and entry["expose"] not in EXPOSE_CHOICES:
            errors.append("%s: invalid expose %r: expected public, internal or private" % (label, entry["expose"]))
        if "environment" in entry:
            _check_string(entry["environment"], "environment", label, errors)
        if "domain" in entry:
            _check_string(entry["domain"], "domain", label, errors, _DOMAIN, ": expected a host name such as app.example.com")
        if "process" in entry:
            _check_string(entry["process"], "process", label, errors, _PROCESS_NAME, ": expected a process name without spaces or slashes")
        if "allow_from" in entry:
            _check_allow_from(entry["allow_from"], label, errors)
        _check_proxy(entry, label, errors)
        if len(errors) == problems_before:
            result.append(Service(index, name, PROTOCOLS[protocol], ranges, bind, range_name, entry.get("process"), entry))
    if errors:
        raise RegistryError(errors)
    return result


def _check_allow_from(value, label, errors):
    if not isinstance(value, list):
        errors.append("%s: allow_from must be a list of hosts, groups or CIDRs, got %r" % (label, value))
        return
    for item in value:
        if not isinstance(item, str) or not item.strip():
            errors.append("%s: allow_from item %r must be a host, group or CIDR" % (label, item))
            continue
        try:
            ipaddress.ip_network(item, strict=False)
            continue
        except ValueError:
            pass
        if re.match(r"^[0-9.:/]+$", item) or not _HOST_NAME.match(item):
            errors.append("%s: allow_from item %r is neither a network (CIDR) nor a host or group name" % (label, item))


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


def find_live(services, listeners):
    """Occupied ports and undeclared listeners, given the live listeners."""
    index = _PortIndex(services)
    conflicts = []
    reported = set()
    for listener in listeners:
        bind = Bind(listener["address"], dual_stack=listener.get("dual_stack", False))
        candidates = index.services_on(listener["protocol"], listener["port"])
        where = "%s:%d" % ("[%s]" % bind.address if bind.version == 6 else bind.address, listener["port"])
        holder = listener.get("process") or "an unknown process"
        if listener.get("pid") is not None:
            holder = "%s (pid %d)" % (holder, listener["pid"])
        for service in candidates:
            if not service.process or listener.get("pid") is None:
                continue
            if not (service.bind.covers(bind) or service.bind.clashes_with(bind)):
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
        if not any(service.bind.covers(bind) for service in candidates):
            key = ("undeclared", listener["protocol"], listener["port"], bind.address)
            if key not in reported:
                reported.add(key)
                conflicts.append(_conflict(
                    "undeclared", listener["port"], listener["protocol"], [],
                    "%s listens on %s %s, which no service declares" % (holder, listener["protocol"], where),
                    address=bind.address, pid=listener.get("pid"), process=listener.get("process")))
    return conflicts


def find_conflicts(validated, full_policy, ephemeral=None, reserved=(), listeners=None):
    """Every conflict of a validated registry, in the order of KINDS."""
    conflicts = find_duplicates(validated)
    conflicts.extend(find_out_of_range(validated, full_policy))
    conflicts.extend(find_ephemeral(validated, ephemeral, reserved))
    if listeners is not None:
        conflicts.extend(find_live(validated, listeners))
    return conflicts


def check(services, policy=None, ephemeral=None, reserved=(), bindv6only=False, listeners=None):
    """Validate, then find every conflict: ``(services, conflicts)``."""
    full_policy = resolver.build_policy(policy)
    validated = validate_registry(services, full_policy, bindv6only)
    return validated, find_conflicts(validated, full_policy, ephemeral, reserved, listeners)


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
