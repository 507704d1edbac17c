# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port registry to firewall rules: public services open to all,
internal ones to their allow_from (hosts resolved to addresses, groups
expanded, CIDRs kept), private ones to nobody, SSH to the admin sources.

Plain Python; the caller passes how to find a host's addresses and a group's
members (the filter does that from hostvars and groups).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

EXPOSE_CHOICES = ("public", "internal", "private")


class RegistryRuleError(ValueError):
    pass


def is_network(text):
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def expand_sources(items, addresses_of, groups, what):
    """Hostnames, group names and CIDRs to a sorted list of CIDRs/addresses."""
    if not isinstance(items, list):
        raise RegistryRuleError("%s must be a list of hosts, groups or CIDRs, got %r" % (what, items))
    result = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise RegistryRuleError("%s: %r is not a host, group or CIDR" % (what, item))
        if is_network(item):
            result.append(str(ipaddress.ip_network(item, strict=False)))
        elif item in groups:
            for host in groups[item]:
                result.extend(_networks(addresses_of(host, what), host, what))
        else:
            result.extend(_networks(addresses_of(item, what), item, what))
    networks = sorted(set(ipaddress.ip_network(text, strict=False) for text in result), key=lambda net: (net.version, net))
    return [str(network) for network in networks]


def _networks(addresses, host, what):
    for address in addresses:
        if not is_network(str(address)):
            raise RegistryRuleError("%s: host %r has the address %r, which is not an IP address" % (what, host, address))
    return [str(address) for address in addresses]


def _destination(service):
    bind = service.get("bind")
    if not bind:
        return None
    address = ipaddress.ip_address(bind)
    return None if address.is_unspecified else str(address)


def registry_rules(services, addresses_of, groups, admin_sources=None, ssh_port=22):
    rules = []
    if admin_sources:
        rules.append({"port": ssh_port, "source": expand_sources(admin_sources, addresses_of, groups, "admin sources"),
                      "comment": "ssh from the admin sources"})
    for index, service in enumerate(services or []):
        if not isinstance(service, dict) or "name" not in service or "port" not in service:
            raise RegistryRuleError("service entry %d needs at least a name and a port: %r" % (index + 1, service))
        name = service["name"]
        expose = service.get("expose", "internal")
        if expose not in EXPOSE_CHOICES:
            raise RegistryRuleError("service %r: invalid expose %r: expected public, internal or private" % (name, expose))
        try:
            destination = _destination(service)
        except ValueError:
            raise RegistryRuleError("service %r: invalid bind address %r" % (name, service.get("bind")))
        if expose == "private" or (destination and ipaddress.ip_address(destination).is_loopback):
            continue
        rule = {"port": service["port"], "protocol": service.get("protocol", "tcp")}
        if destination:
            rule["destination"] = destination
        if expose == "public":
            rule["comment"] = "%s public" % name
        else:
            sources = expand_sources(service.get("allow_from", []), addresses_of, groups,
                                     "service %r allow_from" % name)
            if not sources:
                continue  # internal with nobody allowed: nothing to open
            rule["source"] = sources
            rule["comment"] = "%s internal" % name
        rules.append(rule)
    return rules
