# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ports a container runtime publishes by DNAT (Docker's ``-p``), read from
the nat table, and what the registry says of them.

A published port's connections cross FORWARD, not INPUT, so only a service
declared with ``publish: dnat`` has its forwarded path governed by the
firewall. Docker's rules look like
``-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80``.

Plain Python, no Ansible import; the caller runs the commands.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values

_DNAT = _values.pattern(r"-A (\S+) (?:.* )?-p (tcp|udp) (?:.* )?--dport ([0-9]+)(?::([0-9]+))? (?:.* )?-j DNAT "
                        r"--to-destination (\S+)(?: .*)?")
_DESTINATION = _values.pattern(r"(?:.* )?-d (\S+?)(?:/(?:32|128))? .*")


def parse_nat(saved, family):
    """DNAT rules of ``iptables-save -t nat`` output: protocol, ports, target."""
    found = []
    for line in saved.splitlines():
        match = _DNAT.fullmatch(line.strip())
        if not match:
            continue
        destination = _DESTINATION.fullmatch(line.strip())
        if _loopback(match.group(5).rsplit(":", 1)[0].strip("[]")):
            continue  # to loopback: a redirect inside the host (Docker's embedded DNS in a container), not a container
        start = int(match.group(3))
        found.append({"protocol": match.group(2), "port": start, "end": int(match.group(4) or start),
                      "to": match.group(5), "chain": match.group(1), "family": family,
                      "address": destination.group(1) if destination else None})
    return found


def _loopback(text):
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def read(run, which):
    """``(published, unknown)``: DNAT rules of both families, or an unknown
    saying why they could not be read."""
    published = []
    unknown = []
    for command, family in (("iptables-save", "ipv4"), ("ip6tables-save", "ipv6")):
        binary = which(command)
        if binary is None:
            continue
        rc, out, err = run([binary, "-t", "nat"])
        if rc != 0:
            unknown.append({"check": "published", "services": [],
                            "message": "the nat table could not be read (%s -t nat: %s): ports published by DNAT "
                                       "are not known" % (command, (err or out).strip())})
            continue
        published += parse_nat(out, family)
    return published, unknown


def check(services, published):
    """Conflicts of kind ``published``: a DNAT-published port no service
    declares, or one declared as a port of the host (``publish: host``),
    whose forwarded path the firewall then does not govern."""
    conflicts = []
    seen = set()
    for rule in published:
        key = (rule["protocol"], rule["port"], rule["end"])
        if key in seen:
            continue
        seen.add(key)
        owners = [service for service in services
                  if any(start <= rule["end"] and rule["port"] <= end for start, end in service.ranges.get(rule["protocol"], ()))]
        ports = "%d" % rule["port"] if rule["port"] == rule["end"] else "%d-%d" % (rule["port"], rule["end"])
        if not owners:
            message = "%s port %s is published by DNAT (to %s), which no service declares" % (
                rule["protocol"], ports, rule["to"])
        else:
            host_declared = [service.name for service in owners if service.publish != "dnat"]
            if not host_declared:
                continue
            message = ("%s port %s is published by DNAT (to %s), but %s declares publish: host, so the firewall does "
                       "not govern its forwarded path; declare publish: dnat" % (rule["protocol"], ports, rule["to"],
                                                                                 ", ".join(host_declared)))
        conflicts.append({"kind": "published", "port": rule["port"], "protocol": rule["protocol"],
                          "services": [service.name for service in owners], "message": message, "to": rule["to"]})
    return conflicts
