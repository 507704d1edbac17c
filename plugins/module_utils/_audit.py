# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory-wide audit behind the port map: every host's registry with
its live status, the conflicts only visible across hosts, and how full each
policy range is.

Plain Python; the filter passes each host's registry, live listeners (from
listening_ports) and host conflicts (from port_conflicts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils import _port_resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils import _registry_rules

# Kinds that are errors in the plan itself; live drift (occupied, undeclared) is reported, not an error.
PLAN_KINDS = ("invalid", "duplicate", "out_of_range", "ephemeral", "unknown_source", "duplicate_domain", "shared_public_port")


def _ports_text(ranges):
    return ", ".join(resolver.format_range(item) for item in ranges)


def _serves(listener_bind, declared):
    """Whether a listener accepts connections for the declared bind: on it
    (or inside it, for a declared wildcard), or wider (a wildcard of its
    family, or a dual-stack ``::``)."""
    if declared.covers(listener_bind):
        return True
    return listener_bind.wildcard and (listener_bind.version == declared.version or listener_bind.dual_stack)


def _live_status(service, listeners):
    """('listening', processes, detail) or ('not listening', [], '').

    detail says when only part of the declaration listens: loopback only
    for a service declared on every address, one protocol of two, some
    ports of a range."""
    holders = set()
    heard = {}
    loopback_only = True
    for listener in listeners:
        ranges = service.ranges.get(listener["protocol"], ())
        if not any(start <= listener["port"] <= end for start, end in ranges):
            continue
        bind = _conflicts.Bind(listener["address"], dual_stack=listener.get("dual_stack", False))
        if not _serves(bind, service.bind):
            continue
        holders.add(listener.get("process") or "unknown process")
        heard.setdefault(listener["protocol"], set()).add(listener["port"])
        loopback_only = loopback_only and ipaddress.ip_address(bind.address).is_loopback
    if not holders:
        return "not listening", [], ""
    details = []
    if service.bind.wildcard and loopback_only:
        details.append("loopback only")
    if len(heard) < len(service.ranges):
        details.append("%s only" % "/".join(sorted(heard)))
    declared = sum(end - start + 1 for protocol in heard for start, end in service.ranges[protocol])
    listening = sum(len(ports) for ports in heard.values())
    if listening < declared:
        details.append("%d of %d ports" % (listening, declared))
    return "listening", sorted(holders), ", ".join(details)


_PID = re.compile(r" \(pid [0-9]+\)")


def _conflict(kind, message, **extra):
    result = {"kind": kind, "message": message}
    result.update(extra)
    return result


def audit(hosts, policy=None, groups=None, addresses_of=None, inventory_hosts=None):
    """``hosts`` maps a host name to a mapping with ``services`` (the registry),
    and when the host was checked in this run ``listening`` (listening_ports)
    and ``conflicts`` (port_conflicts). ``inventory_hosts`` are every host an
    ``allow_from`` may name. Returns hosts with rows, conflicts and the range
    table."""
    groups = groups or {}
    known_hosts = set(inventory_hosts or ()) | set(hosts)
    full_policy = resolver.build_policy(policy)
    report = {"hosts": [], "conflicts": [], "ranges": []}
    validated = {}
    for host in sorted(hosts):
        data = hosts[host] or {}
        checked = data.get("listening") is not None
        entry = {"name": host, "checked": checked, "rows": [], "conflicts": []}
        try:
            services = _conflicts.validate_registry(data.get("services") or [], full_policy)
        except _conflicts.RegistryError as error:
            for message in error.errors:
                entry["conflicts"].append(_conflict("invalid", "%s: %s" % (host, message), host=host))
            report["hosts"].append(entry)
            continue
        validated[host] = services
        listeners = data.get("listening") or []
        for service in services:
            protocols = sorted(service.ranges)
            status, processes, detail = _live_status(service, listeners) if checked else ("not checked", [], "")
            entry["rows"].append({
                "port": _ports_text(resolver.merge_ranges([item for ranges in service.ranges.values() for item in ranges])),
                "protocol": "/".join(protocols),
                "service": service.name,
                "bind": service.bind.address,
                "environment": service.entry.get("environment", ""),
                "domain": service.entry.get("domain", ""),
                "expose": service.entry.get("expose", "internal"),
                "allow_from": ", ".join(str(item) for item in service.entry.get("allow_from", [])),
                "status": status,
                "processes": processes,
                "detail": detail,
                "first_port": min(start for ranges in service.ranges.values() for start, _end in ranges),
            })
        # Live drift from the listeners themselves, so the map alone (no port_conflicts run) shows it too.
        live = _conflicts.find_live(services, listeners) if checked else []
        for conflict in live:
            if conflict["kind"] == "undeclared":
                entry["rows"].append({
                    "port": str(conflict["port"]), "protocol": conflict["protocol"], "service": "",
                    "bind": conflict.get("address", ""), "environment": "", "domain": "", "expose": "", "allow_from": "",
                    "status": "undeclared", "processes": [conflict.get("process") or "unknown process"],
                    "detail": "", "first_port": conflict["port"],
                })
        if data.get("conflicts") is None:
            # Not checked on the host in this run: what the registry alone shows.
            host_conflicts = _conflicts.find_conflicts(services, full_policy)
        else:
            host_conflicts = [item for item in data["conflicts"] if item.get("kind") not in ("undeclared", "occupied")]
        for conflict in host_conflicts + live:
            # No pids: the map changes when the plan or the hosts do, not when a process restarts.
            message = _PID.sub("", str(conflict.get("message", conflict.get("kind"))))
            entry["conflicts"].append(dict(conflict, host=host, message="%s: %s" % (host, message)))
        entry["rows"].sort(key=lambda row: (row["first_port"], row["protocol"], row["service"]))
        report["hosts"].append(entry)
    report["conflicts"] = _cross_host(known_hosts, validated, groups, addresses_of)
    report["ranges"] = _range_fill(validated, full_policy)
    all_conflicts = report["conflicts"] + [item for entry in report["hosts"] for item in entry["conflicts"]]
    report["plan_conflicts"] = [item for item in all_conflicts if item["kind"] in PLAN_KINDS]
    report["drift"] = [item for item in all_conflicts if item["kind"] not in PLAN_KINDS]
    return report


def _cross_host(hosts, validated, groups, addresses_of):
    conflicts = []
    domains = {}
    public = {}
    for host in sorted(validated):
        for service in validated[host]:
            for item in service.entry.get("allow_from", []) or []:
                if not (_registry_rules.is_network(str(item)) or item in groups or item in hosts):
                    conflicts.append(_conflict(
                        "unknown_source", "%s: service %s allows %r, which is neither a CIDR nor a host or group of the "
                        "inventory" % (host, service.name, item), host=host, services=[service.name], value=item))
            domain = service.entry.get("domain")
            if domain:
                domains.setdefault(str(domain).lower(), []).append((host, service.name))
            if service.entry.get("expose") == "public":
                for address in _public_addresses(host, service, addresses_of):
                    for protocol, ranges in service.ranges.items():
                        for start, end in ranges:
                            public.setdefault((address, protocol), []).append((start, end, host, service.name))
    for domain in sorted(domains):
        owners = domains[domain]
        if len(owners) > 1:
            conflicts.append(_conflict(
                "duplicate_domain", "domain %s is published by %s" % (
                    domain, " and ".join("%s service %s" % owner for owner in owners)),
                domain=domain, owners=["%s/%s" % owner for owner in owners]))
    for (address, protocol) in sorted(public):
        claims = sorted(public[(address, protocol)])
        for position, (start, end, host, name) in enumerate(claims):
            for other_start, other_end, other_host, other_name in claims[position + 1:]:
                if other_host != host and other_start <= end and start <= other_end:
                    owners = sorted([(host, name), (other_host, other_name)])
                    conflicts.append(_conflict(
                        "shared_public_port", "%s %s port %s is claimed as public by %s service %s and %s service %s" % (
                            address, protocol, resolver.format_range((max(start, other_start), min(end, other_end))),
                            owners[0][0], owners[0][1], owners[1][0], owners[1][1]),
                        address=address, protocol=protocol, owners=["%s/%s" % owner for owner in owners]))
    return conflicts


def _public_addresses(host, service, addresses_of):
    if not service.bind.wildcard:
        return [] if ipaddress.ip_address(service.bind.address).is_loopback else [service.bind.address]
    if addresses_of is None:
        return []
    try:
        found = addresses_of(host, "public port check")
    except ValueError:
        return []  # no known address: nothing to compare
    result = []
    for address in found:
        try:
            parsed = ipaddress.ip_interface(str(address)).ip
        except ValueError:
            continue
        if not parsed.is_loopback:  # hosts reached through a forwarded loopback port share nothing
            result.append(str(parsed))
    return result


def _range_fill(validated, full_policy):
    claims = []
    for host in validated:
        for service in validated[host]:
            for ranges in service.ranges.values():
                claims.extend((start, end, "%s/%s" % (host, service.name)) for start, end in ranges)
    table = []
    for name, (low, high) in sorted(full_policy.items(), key=lambda item: (item[1][0], item[1][1], item[0])):
        inside = [(max(start, low), min(end, high), owner) for start, end, owner in claims if start <= high and low <= end]
        used = sum(end - start + 1 for start, end in resolver.merge_ranges([(start, end) for start, end, _owner in inside]))
        size = high - low + 1
        table.append({
            "name": name, "range": resolver.format_range((low, high)), "size": size, "used": used,
            "percent": round(100.0 * used / size, 2), "services": sorted(set(owner for _start, _end, owner in inside)),
        })
    return table
