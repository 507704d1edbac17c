# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's registry to firewall rules, on the controller: public services
open to all, internal ones to their allow_from (hosts resolved to addresses,
groups expanded, CIDRs kept) and to every client the dependency graph gives
them, private ones to nobody, SSH to the admin sources. A service published
by a container runtime (``publish: dnat``) gets the same rule twice: on
INPUT (the runtime's proxy, loopback and IPv6 paths) and on FORWARD, where
the DNATed connections go.

With ``host`` given, the host's side of the dependency graph
(``_dependencies``) is added: an inbound allow for each client of its
services, and an outbound rule (``direction: out``) for each flow it starts,
to inventory addresses, CIDRs or DNS names (``destination_name``, resolved
on the host). The rules are in the firewall module's ``rules`` format.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _dependencies


class FirewallPlanError(ValueError):
    pass


def _sorted_networks(items):
    networks = set(ipaddress.ip_network(item) for item in items)
    return [str(network) for network in sorted(networks, key=lambda net: (net.version, net))]


def _port_rules(ranges):
    """``[(protocol, [ports])]`` for a rule's port and protocol: one rule when
    TCP and UDP share the ports."""
    texts = dict((protocol, [resolver.format_range(item) for item in ranges[protocol]]) for protocol in sorted(ranges))
    if set(texts) == {"tcp", "udp"} and texts["tcp"] == texts["udp"]:
        return [("both", texts["tcp"])]
    return sorted(texts.items())


def _comment(text):
    """A rule comment the firewall module accepts (it is shown in the ruleset)."""
    return text if len(text) <= _rules.COMMENT_MAX else text[:_rules.COMMENT_MAX - 3] + "..."


def registry_rules(services, inventory, admin_sources=None, ssh_port=_registry.DEFAULT_SSH_PORT, policy=None,
                   host=None):
    """``services`` is the raw registry of ``host``, validated here by the
    registry model; ``inventory`` an Inventory; ``policy`` a full policy
    (``resolver.build_policy``). Raises RegistryError, InventoryError or
    FirewallPlanError (a dependency that names what does not exist)."""
    policy = resolver.build_policy() if policy is None else policy
    validated = _registry.validate(services or [], policy)
    clients = {}
    outbound = []
    if host is not None:
        edges, problems = _dependencies.plan(inventory, policy, overrides={host: services or []})
        others = [edge for edge in edges if edge.server_host == host]
        if problems:
            # Anywhere in the inventory: a dependency that names what does not exist drops out of the plan, and
            # the server it meant would lose the flow it has today. No host's rules are made from such a plan.
            raise FirewallPlanError("the inventory's dependencies are wrong, so no rules are made for any host: %s"
                                    % "; ".join(problem["message"] for problem in problems))
        for edge in others:
            addresses = inventory.addresses(edge.client_host, "%s, a client of %s" % (edge.client_host, host))
            clients.setdefault(edge.server_service, set()).update(str(item) for item in addresses)
        outbound = [edge for edge in edges if edge.client_host == host]
    rules = []
    if admin_sources:
        rules.append({"port": ssh_port, "source": inventory.sources(admin_sources, "admin sources"),
                      "comment": "ssh from the admin sources"})
    for service in validated:
        if not service.listens or service.expose == "private" or service.bind.loopback:
            continue
        rule = {"port": service.port, "protocol": service.protocol}
        if not service.bind.wildcard:
            rule["destination"] = service.bind.address
        if service.expose == "public":
            rule["comment"] = "%s public" % service.name
        else:
            sources = inventory.sources(service.allow_from, "service %r allow_from" % service.name)
            sources = _sorted_networks(set(sources) | clients.get(service.name, set()))
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
    seen = set()
    for edge in outbound:
        for protocol, ports in _port_rules(edge.ranges):
            why = " (%s)" % edge.comment if edge.comment else ""
            rule = {"direction": "out", "port": ports, "protocol": protocol,
                    "comment": _comment("%s -> %s%s" % (edge.client_service or "nginx", edge.target_label(), why))}
            if edge.networks:
                rule["destination"] = _sorted_networks(edge.networks)
            if edge.names:
                rule["destination_name"] = sorted(edge.names)
            key = repr(sorted(rule.items()))
            if key not in seen:
                seen.add(key)
                rules.append(rule)
    return rules
