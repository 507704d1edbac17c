# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Port specifications to port numbers and ranges.

A port specification is a port number (``5432`` or ``"5432"``), a range
(``"8000-8010"``), a service name (``"postgresql"``) or a policy range name
(``"monitoring"``). Everything here is plain Python with no Ansible import;
errors are PortSpecError (a ValueError) whose message names the bad value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _service_table

MIN_PORT = 0
MAX_PORT = 65535

# iptables' multiport match takes at most 15 ports, a range counting as two.
IPTABLES_MULTIPORT_LIMIT = 15

# The allocation policy of the seeds' port table, then the IANA blocks (RFC 6335).
DEFAULT_POLICY = {
    "development": (3000, 3999),
    "production": (4000, 4999),
    "testing": (6000, 6999),
    "microservices": (7000, 7999),
    "proxies": (8000, 8999),
    "monitoring": (9000, 9999),
    "messaging": (11000, 11999),
    "load_balancing": (13000, 13999),
    "backup": (14000, 14999),
    "well_known": (0, 1023),
    "registered": (1024, 49151),
    "dynamic": (49152, 65535),
}

# Digits are ASCII only: "٢٢" or "９０００" are not ports.
_RANGE_TEXT = _values.pattern(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*")
_NUMBER_TEXT = _values.pattern(r"\s*-?[0-9]+\s*")
PROTOCOL_CHOICES = ("tcp", "udp", "both")


class PortSpecError(ValueError):
    """A port, range, service or range name that cannot be resolved."""


_describe = _values.describe


def _check_bounds(number, original, allow_zero):
    lowest = MIN_PORT if allow_zero else 1
    if not lowest <= number <= MAX_PORT:
        raise PortSpecError("port %s is out of range: a port is a number from %d to %d"
                            % (_describe(original), lowest, MAX_PORT))
    return number


def parse_port(value, allow_zero=False):
    """A single port number from an int or a string of digits.

    Port 0 is not a port a service can be reached on, so it is refused unless
    ``allow_zero`` (range boundaries such as the IANA well-known block).
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PortSpecError("invalid port %s: expected a number from 1 to %d" % (_describe(value), MAX_PORT))
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            raise PortSpecError("invalid port %s: expected a number from 1 to %d" % (_describe(value), MAX_PORT))
        return _check_bounds(int(value), value, allow_zero)
    return _check_bounds(value, value, allow_zero)


def parse_range_text(text):
    """``"start-end"`` to ``(start, end)``; None when ``text`` is not of that form."""
    match = _RANGE_TEXT.fullmatch(text)
    if not match:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    for number in (start, end):
        if number > MAX_PORT:
            raise PortSpecError("range %r is out of bounds: port %d is above %d" % (text, number, MAX_PORT))
    if start > end:
        raise PortSpecError("range %r is reversed: its start %d is above its end %d" % (text, start, end))
    return (start, end)


def check_protocol(protocol):
    if protocol is not None and protocol not in PROTOCOL_CHOICES:
        raise PortSpecError("unknown protocol %s: expected one of %s" % (_describe(protocol), ", ".join(PROTOCOL_CHOICES)))


def normalize_range_name(name):
    return name.strip().lower().replace("-", "_")


def build_policy(overrides=None):
    """The default policy with a user's ranges laid over it.

    ``overrides`` maps a range name to ``"start-end"`` or a single port.
    """
    policy = dict(DEFAULT_POLICY)
    if overrides is None:
        return policy
    if not isinstance(overrides, dict):
        raise PortSpecError("policy must be a mapping of range names to 'start-end', got %s" % _describe(overrides))
    for name, value in overrides.items():
        if not isinstance(name, str) or not name.strip():
            raise PortSpecError("policy range name %s must be a non-empty string" % _describe(name))
        bounds = parse_range_text(value) if isinstance(value, str) else None
        if bounds is None:
            try:
                port = parse_port(value, allow_zero=True)
            except PortSpecError:
                raise PortSpecError("policy range %r has invalid value %s: expected 'start-end' such as '9000-9999'"
                                    % (name, _describe(value)))
            bounds = (port, port)
        key = normalize_range_name(name)
        if key not in DEFAULT_POLICY and _service_table.lookup(key) is not None:
            raise PortSpecError("policy range %r has the name of a service (%s), which a port written %r would mean; "
                                "give the range another name" % (name, key, name))
        policy[key] = bounds
    return policy


def _suggest(name, candidates):
    matches = difflib.get_close_matches(name.strip().lower(), sorted(candidates), n=3, cutoff=0.75)
    if not matches:
        return ""
    return " (did you mean %s?)" % " or ".join(matches)


def _unknown_name(value, policy):
    candidates = _service_table.known_names() | set(policy)
    if not value.strip() or any(char.isspace() for char in value.strip()):
        reason = "not a port number, a 'start-end' range, a service name or a range name"
    else:
        reason = "no such service or range name"
    return PortSpecError("unknown port %r: %s%s" % (value, reason, _suggest(value, candidates)))


def _service_ranges(name, protocol):
    """Ranges of a service name, or None when the name is not a service."""
    ports = _service_table.lookup(name, protocol)
    if ports is None:
        return None
    if not ports:
        raise PortSpecError("service %r has no %s port" % (name, protocol))
    return [port_range for protocol_ranges in ports.values() for port_range in protocol_ranges]


def resolve(value, protocol=None, policy=None):
    """One port specification to a list of ``(start, end)`` ranges.

    ``policy`` is a full policy from build_policy(); None means the defaults.
    """
    policy = DEFAULT_POLICY if policy is None else policy
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PortSpecError("invalid port %s: expected a port number, 'start-end', a service or range name"
                            % _describe(value))
    check_protocol(protocol)
    if isinstance(value, int) or _NUMBER_TEXT.fullmatch(value):
        port = parse_port(value)
        return [(port, port)]
    bounds = parse_range_text(value)
    if bounds is not None:
        if bounds[0] == 0:
            raise PortSpecError("range %r starts at port 0, which no service can be reached on: start it at 1" % value)
        return [bounds]
    service = _service_ranges(value, protocol)
    if service is not None:
        return service
    range_name = normalize_range_name(value)
    if range_name in policy:
        return [policy[range_name]]
    raise _unknown_name(value, policy)


def merge_ranges(ranges):
    """Sorted ranges with overlapping and adjacent ones joined."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def format_range(bounds, separator="-"):
    start, end = bounds
    return str(start) if start == end else "%d%s%d" % (start, separator, end)


def service_port(value, protocol=None):
    """Exactly one port for a number or a service name.

    A name with several ports (or a range) is an error listing them: which one
    is meant is the caller's decision, never ours.
    """
    if isinstance(value, str) and parse_range_text(value) is not None:
        raise PortSpecError("%r is a range; a single port is expected here" % value)
    ranges = resolve(value, protocol)
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return ranges[0][0]
    merged = merge_ranges(ranges)
    if len(merged) == 1 and merged[0][0] == merged[0][1]:
        return merged[0][0]
    if _service_table.lookup(value) is None:
        raise PortSpecError("%r is a port range name (%s); a single port is expected here"
                            % (value, format_range(merged[0])))
    raise PortSpecError("service %r maps to several ports (%s); name the one you mean by its number"
                        % (value, ", ".join(format_range(item) for item in sorted(set(ranges)))))


def port_range(name, policy=None):
    """A range name to ``"start-end"``."""
    full_policy = build_policy(policy)
    if not isinstance(name, str):
        raise PortSpecError("range name must be a string, got %s" % _describe(name))
    key = normalize_range_name(name)
    if key not in full_policy:
        raise PortSpecError("unknown port range %r: known ranges are %s%s"
                            % (name, ", ".join(sorted(full_policy)), _suggest(key, full_policy)))
    return format_range(full_policy[key])


def port_ranges(values, protocol=None, policy=None):
    """A list of port specifications to sorted, merged ``"start-end"`` strings."""
    full_policy = build_policy(policy)
    if isinstance(values, (str, int)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise PortSpecError("expected a list of ports, ranges, service or range names, got %s" % _describe(values))
    ranges = []
    for value in values:
        ranges.extend(resolve(value, protocol, full_policy))
    return [format_range(item) for item in merge_ranges(ranges)]


def parse_ranges(texts):
    """The output of port_ranges() back to ``(start, end)`` tuples."""
    return [parse_range_text(text) or (int(text), int(text)) for text in texts]


# Backend syntaxes, written once here for the firewall backends and templates.

def nft_set(ranges):
    """nftables: ``22`` for one element, ``{ 22, 80-90 }`` for several."""
    merged = merge_ranges(ranges)
    items = [format_range(item) for item in merged]
    if len(items) == 1:
        return items[0]
    return "{ %s }" % ", ".join(items)


def iptables_multiport(ranges):
    """iptables: ``--dports`` values of at most 15 ports each (a range counts as two)."""
    chunks = []
    current = []
    weight = 0
    for item in merge_ranges(ranges):
        cost = 1 if item[0] == item[1] else 2
        if weight + cost > IPTABLES_MULTIPORT_LIMIT:
            chunks.append(",".join(current))
            current, weight = [], 0
        current.append(format_range(item, ":"))
        weight += cost
    if current:
        chunks.append(",".join(current))
    return chunks


def firewalld_ports(ranges, protocol):
    """firewalld: ``80-90/tcp`` strings, one per range and protocol."""
    protocols = _service_table.PROTOCOLS if protocol == "both" else (protocol,)
    for proto in protocols:
        if proto not in _service_table.PROTOCOLS:
            raise PortSpecError("firewalld ports need protocol tcp, udp or both, got %s" % _describe(protocol))
    return ["%s/%s" % (format_range(item), proto) for proto in protocols for item in merge_ranges(ranges)]
