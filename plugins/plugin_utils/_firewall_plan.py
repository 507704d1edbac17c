# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's registry to firewall rules, on the controller: public services
open to all, internal ones to their allow_from (hosts resolved to addresses,
groups expanded, CIDRs kept), private ones to nobody, SSH to the admin
sources. A service published by a container runtime (``publish: dnat``) gets
the same rule twice: on INPUT (the runtime's proxy, loopback and IPv6 paths)
and on FORWARD, where the DNATed connections go. The rules are in the
firewall module's ``rules`` format.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry


def registry_rules(services, inventory, admin_sources=None, ssh_port=_registry.DEFAULT_SSH_PORT, policy=None):
    """``services`` is the raw registry, validated here by the registry model;
    ``inventory`` an Inventory. Raises RegistryError or InventoryError."""
    validated = _registry.validate(services or [], policy)
    rules = []
    if admin_sources:
        rules.append({"port": ssh_port, "source": inventory.sources(admin_sources, "admin sources"),
                      "comment": "ssh from the admin sources"})
    for service in validated:
        if service.expose == "private" or service.bind.loopback:
            continue
        rule = {"port": service.port, "protocol": service.protocol}
        if not service.bind.wildcard:
            rule["destination"] = service.bind.address
        if service.expose == "public":
            rule["comment"] = "%s public" % service.name
        else:
            sources = inventory.sources(service.allow_from, "service %r allow_from" % service.name)
            if not service.bind.wildcard:
                # Bound to one address: only sources of its family can reach it.
                sources = [item for item in sources if ipaddress.ip_network(item).version == service.bind.version]
            if not sources:
                continue  # internal with nobody allowed: nothing to open
            rule["source"] = sources
            rule["comment"] = "%s internal" % service.name
        rules.append(rule)
        if service.publish == "dnat":
            # The same flow where a container runtime DNATs it (FORWARD, on the port the client sent).
            rules.append(dict(rule, direction="forward"))
    return rules
