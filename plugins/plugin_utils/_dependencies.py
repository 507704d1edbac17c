# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who connects to what, across the inventory, on the controller: the edges
of the dependency graph, each declared once.

Two kinds of edge:

- ``dependency``: a registry entry's ``connects_to`` (the client side), to a
  service of an inventory host or group, or to networks and DNS names
  outside the inventory.
- ``proxy``: every host of the proxy group to the backend of each service
  with a ``domain`` (its ``upstream``, or where it listens).

From one edge the firewall plan makes the client's outbound allow and, for a
server in the inventory, the server's inbound allow; the port map draws the
graph. Problems (a host, group or service that does not exist, a service
nobody outside its host can reach) are audit conflicts naming the value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError

# Kinds of audit conflict found here (both are errors in the plan).
UNKNOWN_DEPENDENCY = "unknown_dependency"
UNREACHABLE_DEPENDENCY = "unreachable_dependency"
KINDS = (UNKNOWN_DEPENDENCY, UNREACHABLE_DEPENDENCY)


class Edge:
    """One client -> server flow.

    ``client_host`` and ``client_service`` (None for the proxy, which is the
    host's nginx) say who connects; ``server_host`` and ``server_service``
    name the inventory service it reaches (None outside the inventory);
    ``networks`` (text) and ``names`` (DNS names, resolved on the client
    host) say where, ``ranges`` (per protocol) on which ports.
    """

    __slots__ = ("kind", "client_host", "client_service", "server_host", "server_service", "networks", "names",
                 "ranges", "comment")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    def client_label(self):
        return "%s %s" % (self.client_host, self.client_service or "(proxy)")

    def target_label(self):
        if self.server_host is not None:
            return "%s %s" % (self.server_host, self.server_service) if self.server_service else self.server_host
        return ", ".join(self.networks + self.names)

    def ports_text(self):
        return ", ".join("%s/%s" % (resolver.format_range(item), protocol)
                         for protocol in sorted(self.ranges) for item in self.ranges[protocol])

    def __repr__(self):
        return "Edge(%s: %s -> %s %s)" % (self.kind, self.client_label(), self.target_label(), self.ports_text())


def _problem(kind, message, host, service):
    return {"kind": kind, "message": message, "host": host, "services": [service] if service else []}


def _validated(inventory, policy, overrides):
    """Every inventory host's registry that validates (others are reported by the audit)."""
    result = {}
    for host in sorted(inventory.hostvars.keys()):
        services = overrides[host] if host in overrides else inventory.registry(host)
        if not services:
            continue
        try:
            result[host] = _registry.validate(services, policy)
        except _registry.RegistryError:
            continue
    return result


def _service_networks(inventory, host, service, what):
    """Where ``service`` of ``host`` is reached from another host: its bind
    address, or the host's addresses of the families it listens on."""
    if not service.bind.wildcard:
        return [str(ipaddress.ip_network(service.bind.address))]
    networks = inventory.addresses(host, what)
    if service.bind.version == 4 and not service.bind.dual_stack:
        networks = [network for network in networks if network.version == 4]
    return [str(network) for network in networks]


def _dependency_edges(inventory, validated, host, service, dependency, edges, problems):
    what = "%s: service %s connects_to" % (host, service.name)
    if dependency.external:
        edges.append(Edge(kind="dependency", client_host=host, client_service=service.name, server_host=None,
                          server_service=None, networks=list(dependency.networks), names=list(dependency.names),
                          ranges=dependency.ranges, comment=dependency.comment))
        return
    target = dependency.host
    if target in inventory.groups:
        targets = sorted(inventory.groups[target])
        if not targets:
            problems.append(_problem(UNKNOWN_DEPENDENCY, "%s the group %r, which has no hosts" % (what, target),
                                     host, service.name))
            return
    elif target in inventory.hostvars:
        targets = [target]
    else:
        close = difflib.get_close_matches(target, sorted(set(inventory.hostvars.keys()) | set(inventory.groups)), n=1)
        problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %r, which is neither a host nor a group of the inventory%s"
                                 % (what, target, " (did you mean %s?)" % close[0] if close else ""),
                                 host, service.name))
        return
    for server in targets:
        if server not in validated:
            if not inventory.registry(server):
                problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %s service %r, but %s has no registry (%s)"
                                         % (what, server, dependency.service, server, "portcullis_services"),
                                         host, service.name))
            continue  # an invalid registry is reported by the audit
        found = [item for item in validated[server] if item.name == dependency.service]
        if not found:
            names = [item.name for item in validated[server]]
            close = difflib.get_close_matches(dependency.service, names, n=1)
            problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %s service %r, which %s does not declare%s" % (
                what, server, dependency.service, server,
                " (did you mean %s?)" % close[0] if close else " (it declares %s)" % ", ".join(names) if names else ""),
                host, service.name))
            continue
        target_service = found[0]
        if not target_service.listens:
            problems.append(_problem(UNREACHABLE_DEPENDENCY, "%s %s service %s, which listens nowhere (it has no port)"
                                     % (what, server, target_service.name), host, service.name))
            continue
        if server != host and (target_service.expose == "private" or target_service.bind.loopback):
            problems.append(_problem(UNREACHABLE_DEPENDENCY, "%s %s service %s, which listens on %s only: no other "
                                     "host can reach it; expose it as internal on an address %s reaches"
                                     % (what, server, target_service.name, target_service.bind.address, host),
                                     host, service.name))
            continue
        try:
            networks = _service_networks(inventory, server, target_service, what)
        except InventoryError as error:
            problems.append(_problem(UNKNOWN_DEPENDENCY, str(error), host, service.name))
            continue
        edges.append(Edge(kind="dependency", client_host=host, client_service=service.name, server_host=server,
                          server_service=target_service.name, networks=networks, names=[],
                          ranges=target_service.ranges, comment=dependency.comment))


def _listening_on(services, port):
    for service in services:
        if any(start <= port <= end for start, end in service.ranges.get("tcp", ())):
            return service
    return None


def _proxy_edges(inventory, validated, proxy_group, edges, problems):
    proxies = sorted(inventory.groups.get(proxy_group) or ())
    for proxy in proxies:
        for host in sorted(validated):
            for service in validated[host]:
                if not service.domain:
                    continue
                what = "%s: service %s (%s)" % (host, service.name, service.domain)
                if service.upstream:
                    for upstream in service.upstream:
                        address, _sep, port = upstream.rpartition(":")
                        address = address.strip("[]")
                        ranges = {"tcp": [(int(port), int(port))]}
                        edge = Edge(kind="proxy", client_host=proxy, client_service=None, server_host=None,
                                    server_service=None, networks=[], names=[], ranges=ranges,
                                    comment=service.domain)
                        if _values.looks_like_address(address):
                            edge.networks = [str(ipaddress.ip_network(address))]
                        elif address in inventory.hostvars:
                            if address == proxy:
                                continue
                            try:
                                edge.networks = [str(item) for item in inventory.addresses(address, what + " upstream")]
                            except InventoryError as error:
                                problems.append(_problem(UNKNOWN_DEPENDENCY, str(error), host, service.name))
                                continue
                            edge.server_host = address
                            target = _listening_on(validated.get(address, ()), int(port))
                            edge.server_service = target.name if target else None
                        else:
                            edge.names = [address]
                        edges.append(edge)
                    continue
                if host == proxy or service.bind.loopback:
                    continue  # on the proxy itself; or unreachable, which the audit reports
                try:
                    networks = _service_networks(inventory, host, service, what)
                except InventoryError as error:
                    problems.append(_problem(UNKNOWN_DEPENDENCY, str(error), host, service.name))
                    continue
                edges.append(Edge(kind="proxy", client_host=proxy, client_service=None, server_host=host,
                                  server_service=service.name, networks=networks, names=[],
                                  ranges={"tcp": [(service.single_port("tcp"),) * 2]}, comment=service.domain))


def plan(inventory, full_policy=None, proxy_group=_proxy_plan.PROXY_GROUP, overrides=None):
    """``(edges, problems)`` for the whole inventory. ``full_policy`` is from
    ``resolver.build_policy`` (None: the defaults); ``overrides`` maps a host
    to the registry to use for it instead of its hostvars (the role's own
    view of its host)."""
    full_policy = resolver.build_policy() if full_policy is None else full_policy
    validated = _validated(inventory, full_policy, overrides or {})
    edges = []
    problems = []
    for host in sorted(validated):
        for service in validated[host]:
            for dependency in service.connects_to:
                _dependency_edges(inventory, validated, host, service, dependency, edges, problems)
    _proxy_edges(inventory, validated, proxy_group, edges, problems)
    return edges, problems
