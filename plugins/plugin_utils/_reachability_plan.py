# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one vantage must reach and what it must not, on the controller: the
flows the reachability module probes.

The vantage is an inventory host (its addresses, its groups, its
``connects_to`` and, in the ``proxies`` group, the backends it publishes
count) or an IP address outside the inventory (an outsider: only its address
counts). For every other host of the input that has a registry:

- each port of each service that listens: ``open`` when the host's firewall
  would let the vantage in and, for an inventory host as vantage, its own
  firewall would let the connection out; else ``closed``. The firewall's
  answer is the firewall's own: the host's inbound rules and the vantage's
  outbound rules come from ``_firewall_plan.registry_rules`` (public
  services, ``allow_from`` hosts, groups and CIDRs, the clients the
  dependency graph gives, the proxies, the admin sources on the SSH port;
  ``connects_to`` out), the vantage's output policy from its
  ``portcullis_firewall_policy`` (the firewall role's, default ``output:
  accept``), and ``_rules.verdict`` says whether a new connection from the
  vantage's address matches one. Not modelled on the way out: outbound rules
  to DNS names (``destination_name``, resolved on the host at each run) and
  the firewall module's own accepts for DNS to the host's resolvers and
  DHCP; a flow that only these would let out is expected ``closed``.
  Nothing is resolved here a second time; ``why`` only names the registry
  entries behind the answer. A private service, or one bound to loopback, is
  ``closed`` on the host's address;
- SSH from the admin sources (the filter's ``admin_sources``, else the
  host's ``portcullis_firewall_admin_sources``), when no entry declares it;
- a sample of undeclared ports (``UNDECLARED_SAMPLE`` or the caller's list)
  and the caller's ``closed_ports`` (published container ports...):
  ``closed``.

A port range of the registry gives its first and last port when closed,
and its first port, not probed, when open (what listens on a range comes and
goes). The vantage itself is no target: a host reaching its own addresses
goes over loopback, which every firewall accepts. Hosts without a registry
are no targets either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _dependencies, _firewall_plan, _proxy_plan

# Ports that are often left open by accident and that no registry here
# declares: file sharing, remote desktops, databases, caches, container and
# cluster APIs. Each must be closed on every target that does not declare it.
UNDECLARED_SAMPLE = (21, 23, 25, 111, 135, 139, 445, 1433, 2375, 2379, 3306, 3389, 5432, 5900, 6379, 8080, 9200,
                     10250, 11211, 27017)
# What the registry means: a packet no rule accepts is dropped, whatever the host's policy says.
REGISTRY_POLICY = _rules.DEFAULT_POLICY
# The firewall role's variables the plan reads from each target's hostvars.
ADMIN_SOURCES_VARIABLE = "portcullis_firewall_admin_sources"
SSH_PORT_VARIABLE = "portcullis_firewall_ssh_port"
# The firewall role's policy variable, read from the vantage's hostvars (its output chain); its default is the
# module's (_rules.DEFAULT_POLICY: output accept).
FIREWALL_POLICY_VARIABLE = "portcullis_firewall_policy"
# Where each flow comes from.
KINDS = ("public", "allowed", "admin", "denied", "private", "undeclared", "listed")


class ReachabilityPlanError(ValueError):
    pass


class Vantage:
    """Where the probes come from: ``host`` (None for an outsider) and its ``addresses``."""

    def __init__(self, host, addresses):
        self.host = host
        self.addresses = addresses

    @property
    def label(self):
        return self.host or str(self.addresses[0])

    def families(self):
        return set(address.version for address in self.addresses)


def vantage_of(inventory, vantage):
    """An inventory host name or an IP address to a Vantage."""
    if isinstance(vantage, str) and vantage in inventory.hostvars:
        networks = inventory.addresses(vantage, "vantage %s" % vantage)
        addresses = [network.network_address for network in networks if network.num_addresses == 1]
        if not addresses:
            raise ReachabilityPlanError("vantage %s: its addresses are networks (%s), so the address its probes leave "
                                        "from is unknown; give that address as vantage"
                                        % (vantage, ", ".join(str(network) for network in networks)))
        return Vantage(vantage, addresses)
    if _values.looks_like_address(vantage):
        try:
            return Vantage(None, [_values.address(vantage, "vantage")])
        except _values.BadValue as error:
            raise ReachabilityPlanError(str(error))
    close = difflib.get_close_matches(str(vantage), sorted(inventory.hostvars.keys()), n=1)
    raise ReachabilityPlanError("vantage %s is neither a host of the inventory nor an IP address%s"
                                % (_values.describe(vantage), " (did you mean %s?)" % close[0] if close else ""))


def _port_list(values, what, policy):
    """Ports (numbers, names, ranges) to a sorted list of TCP port numbers, every port of a range."""
    if not isinstance(values, (list, tuple)):
        raise ReachabilityPlanError("%s must be a list of ports, got %s" % (what, _values.describe(values)))
    ports = set()
    for value in values:
        try:
            for start, end in resolver.resolve(value, "tcp", policy):
                ports.update(range(start, end + 1))
        except resolver.PortSpecError as error:
            raise ReachabilityPlanError("%s: %s" % (what, error))
    return sorted(ports)


def _closed_ports_for(inventory, closed_ports, host, policy):
    """The caller's ``closed_ports`` that apply to ``host``: a list for every
    host, or a mapping of host and group names to lists."""
    if isinstance(closed_ports, (list, tuple)):
        return _port_list(closed_ports, "closed_ports", policy)
    if not isinstance(closed_ports, dict):
        raise ReachabilityPlanError("closed_ports must be a list of ports or a mapping of hosts and groups to lists "
                                    "of ports, got %s" % _values.describe(closed_ports))
    ports = set()
    for name in sorted(closed_ports, key=str):
        if not inventory.is_known(name):
            raise ReachabilityPlanError("closed_ports: %s is neither a host nor a group of the inventory"
                                        % _values.describe(name))
        if name == host or host in (inventory.groups.get(name) or ()):
            ports.update(_port_list(closed_ports[name], "closed_ports %s" % name, policy))
    return sorted(ports)


class _Target:
    """One host's side of the plan: its rules as the firewall makes them, its addresses, its services."""

    def __init__(self, inventory, host, services, policy, admin_sources, edges):
        self.host = host
        try:
            self.services = _registry.validate(services, policy)
        except _registry.RegistryError as error:
            raise _registry.RegistryError(["host %s: %s" % (host, message) for message in error.errors])
        variables = inventory.variables(host)
        admin = admin_sources if admin_sources is not None else variables.get(ADMIN_SOURCES_VARIABLE) or []
        if not isinstance(admin, (list, tuple)):
            raise ReachabilityPlanError("%s of %s must be a list of hosts, groups or CIDRs, got %s"
                                        % (ADMIN_SOURCES_VARIABLE, host, _values.describe(admin)))
        self.admin_sources = list(admin)
        port = variables.get(SSH_PORT_VARIABLE)
        if port is None:
            port = _registry.ssh_endpoint(services)["port"]
        self.ssh_port = resolver.service_port(port, "tcp")
        rules = _firewall_plan.registry_rules(services, inventory, self.admin_sources, self.ssh_port, policy, host)
        self.rules = _rules.normalize_rules([rule for rule in rules if rule.get("direction", "in") == "in"], policy)
        self.addresses = [network.network_address for network in inventory.addresses(host, "target %s" % host)
                          if network.num_addresses == 1]
        if not self.addresses:
            raise ReachabilityPlanError("target %s: its addresses are networks only, so no address can be probed; set "
                                        "portcullis_address or ansible_host to its address" % host)
        self.edges = [edge for edge in edges if edge.server_host == host]

    def declares(self, port, protocol="tcp"):
        return any(start <= port <= end for service in self.services
                   for start, end in service.ranges.get(protocol, ()))


class _Outbound:
    """The vantage's way out, as its firewall makes it: the outbound rules of its registry (``connects_to``,
    ``destination`` addresses only) and the output policy of its ``portcullis_firewall_policy``. An outsider
    (no inventory host) has none: everything leaves."""

    def __init__(self, inventory, vantage, policy):
        self.rules = []
        self.policy = dict(_rules.DEFAULT_POLICY)
        if vantage.host is None:
            return
        given = inventory.variables(vantage.host).get(FIREWALL_POLICY_VARIABLE)
        # Read as the firewall module reads it (_rules.normalize_policy: its defaults, its chains and verdicts).
        problem = "" if given is None or isinstance(given, dict) else " (not a mapping)"
        if not problem:
            try:
                self.policy = _rules.normalize_policy(given)
            except _rules.RuleError as error:
                problem = " (%s)" % "; ".join(error.errors)
        if problem:
            raise ReachabilityPlanError("%s of %s must be a mapping whose output is accept or drop, got %s%s"
                                        % (FIREWALL_POLICY_VARIABLE, vantage.host, _values.describe(given), problem))
        if self.policy["output"] == "accept":
            return  # no outbound rule drops: the firewall role makes accepts only
        services = inventory.registry(vantage.host)
        rules = _firewall_plan.registry_rules(services, inventory, None, _registry.DEFAULT_SSH_PORT, policy,
                                              vantage.host)
        self.rules = _rules.normalize_rules([rule for rule in rules if rule.get("direction") == "out"
                                             and "destination_name" not in rule], policy)


class _Planner:
    def __init__(self, inventory, vantage, policy):
        self.inventory = inventory
        self.vantage = vantage
        self.policy = policy
        self.outbound = _Outbound(inventory, vantage, policy)
        self.flows = []

    def add(self, target, address, port, protocol, expect, kind, text, service=None, probe=True):
        self.flows.append({
            "host": target.host, "address": str(address), "port": port, "protocol": protocol, "expect": expect,
            "why": "%s:%d/%s %s" % (target.host, port, protocol, text), "service": service, "kind": kind,
            "probe": probe})

    def primary(self, target):
        """The host's first address of a family the vantage has (None if it has none)."""
        families = self.vantage.families()
        return next((address for address in target.addresses if address.version in families), None)

    def service_address(self, target, service):
        """Where the vantage reaches ``service``: its bind address, or the host's address of a family it listens on."""
        bind = service.bind
        if not bind.wildcard:
            candidates = [ipaddress.ip_address(bind.address)]
        elif bind.version == 4 or not bind.dual_stack:
            candidates = [address for address in target.addresses if address.version == bind.version]
        else:
            candidates = target.addresses
        families = self.vantage.families()
        return next((address for address in candidates if address.version in families), None)

    def admitted(self, target, address, port, protocol):
        """``(accepted, reason)``: whether the target's rules let a new connection from the vantage in."""
        return self._verdict(target.rules, REGISTRY_POLICY, "input", address, port, protocol)

    def leaves(self, address, port, protocol):
        """``(accepted, reason)``: whether the vantage's own firewall lets a new connection to ``address`` out."""
        accepted, reason = self._verdict(self.outbound.rules, self.outbound.policy, "output", address, port, protocol)
        return accepted, reason if accepted else "the firewall of %s: %s" % (self.vantage.label, reason)

    def reaches(self, target, address, port, protocol):
        """``(accepted, reason)``: out of the vantage and into the target."""
        accepted, reason = self.admitted(target, address, port, protocol)
        if not accepted:
            return False, reason
        leaves, out_reason = self.leaves(address, port, protocol)
        return (True, reason) if leaves else (False, out_reason)

    def _verdict(self, rules, policy, chain, address, port, protocol):
        reason = "the vantage has no IPv%d address" % address.version
        for source in self.vantage.addresses:
            if source.version != address.version:
                continue
            accepted, reason = _rules.verdict(rules, policy, chain, source, address, port, protocol)
            if accepted:
                return True, reason
        return False, reason

    def _holds_vantage(self, networks):
        return any(address in ipaddress.ip_network(network) for network in networks for address in self.vantage.addresses)

    def grounds(self, target, service, port, protocol):
        """The registry entries that admit the vantage to ``service``: allow_from items, connects_to, the proxy."""
        found = []
        for item in service.allow_from:
            if self._holds_vantage(self.inventory.sources([item], "service %r allow_from" % service.name)):
                found.append("allow_from %s" % item)
        for edge in target.edges:
            if edge.server_service != service.name or edge.client_host != self.vantage.host:
                continue
            if edge.kind == "proxy":
                found.append("proxy for %s (%s is in %s)" % (edge.comment, edge.client_host, _proxy_plan.PROXY_GROUP))
            else:
                found.append("connects_to from %s %s" % (edge.client_host, edge.client_service))
        if self.admin(target, port, protocol):
            found.append("admin_sources")
        return sorted(set(found), key=found.index)

    def admin(self, target, port, protocol):
        return (protocol == "tcp" and port == target.ssh_port and bool(target.admin_sources)
                and self._holds_vantage(self.inventory.sources(target.admin_sources, "admin sources")))

    @staticmethod
    def who_may(target, service, port):
        """Who the registry opens an internal service to, for the message of a closed flow."""
        parts = []
        if service.allow_from:
            parts.append("allow_from %s" % ", ".join(service.allow_from))
        clients = sorted(set(edge.client_host for edge in target.edges
                             if edge.server_service == service.name and edge.kind == "dependency"))
        if clients:
            parts.append("connects_to from %s" % ", ".join(clients))
        proxies = sorted(set(edge.client_host for edge in target.edges
                             if edge.server_service == service.name and edge.kind == "proxy"))
        if proxies:
            parts.append("the proxies %s" % ", ".join(proxies))
        if port == target.ssh_port and target.admin_sources:
            parts.append("admin_sources")
        return "; ".join(parts) or "nobody"

    def service_flows(self, target, service):
        for protocol in sorted(service.ranges):
            for start, end in service.ranges[protocol]:
                self.range_flows(target, service, protocol, start, end)

    def range_flows(self, target, service, protocol, start, end):
        both_ends = [start] if start == end else [start, end]
        if service.expose == "private" or service.bind.loopback:
            address = self.primary(target)
            text = ("%s private: listens on %s only" if service.expose == "private" else
                    "%s bound to %s: loopback only") % (service.name, service.bind.address)
            for port in both_ends:
                self.add(target, address or target.addresses[0], port, protocol, "closed", "private", text,
                         service.name, probe=address is not None)
            return
        address = self.service_address(target, service)
        if address is None:
            text = "%s: listens on %s, of no address family the vantage %s has; not probed" % (
                service.name, service.bind.address, self.vantage.label)
            self.add(target, target.addresses[0], start, protocol, "closed", "denied", text, service.name, probe=False)
            return
        probe = True
        suffix = ""
        if address not in target.addresses:
            probe = False  # the module probes inventory addresses only
            suffix = " (bound to %s, not an address of %s in the inventory: add it to its portcullis_address to " \
                     "probe it; not probed)" % (address, target.host)
        accepted, reason = self.admitted(target, address, start, protocol)
        grounds = self.grounds(target, service, start, protocol)
        if accepted:
            leaves, out_reason = self.leaves(address, start, protocol)
            if not leaves:
                # The target lets the vantage in, but the vantage's firewall does not let it out.
                text = "%s %s, but %s" % (service.name, "public" if service.expose == "public" else
                                          "internal: %s" % (", ".join(grounds) or reason), out_reason)
                for port in both_ends:
                    self.add(target, address, port, protocol, "closed", "denied", text + suffix, service.name,
                             probe=probe)
                return
            kind = "public" if service.expose == "public" else "allowed"
            text = "%s public" % service.name if kind == "public" else "%s internal: %s" % (
                service.name, ", ".join(grounds) or reason)
            if start != end:
                text += " (the range %d-%d: what listens on a range comes and goes; not probed)" % (start, end)
            self.add(target, address, start, protocol, "open", kind, text + suffix, service.name,
                     probe=probe and start == end)
            return
        if grounds:
            text = "%s internal: %s, but %s" % (service.name, ", ".join(grounds), reason)
        else:
            text = "%s internal, open only to %s: not to %s" % (
                service.name, self.who_may(target, service, start), self.vantage.label)
        for port in both_ends:
            self.add(target, address, port, protocol, "closed", "denied", text + suffix, service.name, probe=probe)

    def ssh_flow(self, target):
        """SSH from the admin sources, when no registry entry declares the port (the entry's flow says it then)."""
        address = self.primary(target)
        if not target.admin_sources or target.declares(target.ssh_port) or address is None:
            return
        if self.admitted(target, address, target.ssh_port, "tcp")[0]:
            leaves, reason = self.leaves(address, target.ssh_port, "tcp")
            if leaves:
                self.add(target, address, target.ssh_port, "tcp", "open", "admin", "ssh: admin_sources")
            else:
                self.add(target, address, target.ssh_port, "tcp", "closed", "denied", "ssh: admin_sources, but " + reason)
        else:
            self.add(target, address, target.ssh_port, "tcp", "closed", "denied",
                     "ssh, open only to admin_sources: not to %s" % self.vantage.label)

    def sample_flows(self, target, undeclared, closed_ports):
        address = self.primary(target)
        if address is None:
            return
        for port in closed_ports:
            accepted, reason = self.reaches(target, address, port, "tcp")
            if accepted:
                raise ReachabilityPlanError("closed_ports: port %d of %s must stay closed, but the registry opens it to "
                                            "%s (%s)" % (port, target.host, self.vantage.label, reason))
            if not target.declares(port):
                self.add(target, address, port, "tcp", "closed", "listed", "in closed_ports: must stay closed")
        for port in undeclared:
            if target.declares(port) or port in closed_ports or self.reaches(target, address, port, "tcp")[0]:
                continue
            self.add(target, address, port, "tcp", "closed", "undeclared",
                     "undeclared: no registry entry of %s has it (a sample of ports that must stay closed)" % target.host)


def expected_flows(inventory, hosts, vantage, policy=None, admin_sources=None, undeclared_ports=None,
                   closed_ports=None):
    """The flows the vantage must reach and a sample of those it must not,
    over the hosts ``hosts`` (checked to be in the inventory): a list of
    ``{host, address, port, protocol, expect, why, service, kind, probe}``
    sorted by host, port and protocol.

    ``policy`` is a full policy (``resolver.build_policy``); ``admin_sources``
    None reads each host's ``portcullis_firewall_admin_sources``;
    ``undeclared_ports`` None is ``UNDECLARED_SAMPLE``; ``closed_ports`` a
    list for every host or a mapping of host and group names to lists.
    Raises ReachabilityPlanError, RegistryError, InventoryError or
    FirewallPlanError naming the value."""
    policy = resolver.build_policy() if policy is None else policy
    vantage = vantage_of(inventory, vantage)
    undeclared = _port_list(UNDECLARED_SAMPLE if undeclared_ports is None else undeclared_ports, "undeclared_ports",
                            policy)
    if admin_sources is not None and not isinstance(admin_sources, (list, tuple)):
        raise ReachabilityPlanError("admin_sources must be a list of hosts, groups or CIDRs, got %s"
                                    % _values.describe(admin_sources))
    edges, _problems = _dependencies.plan(inventory, policy)  # the problems stop registry_rules, naming them
    planner = _Planner(inventory, vantage, policy)
    for host in sorted(set(hosts)):
        services = inventory.registry(host)
        if host == vantage.host or not services:
            continue
        target = _Target(inventory, host, services, policy, admin_sources, edges)
        if set(target.addresses) & set(vantage.addresses):
            continue  # the vantage's own address: its probes would go over loopback
        for service in target.services:
            if service.listens:
                planner.service_flows(target, service)
        planner.ssh_flow(target)
        planner.sample_flows(target, undeclared, _closed_ports_for(inventory, closed_ports or [], host, policy))
    seen = set()
    flows = []
    for flow in planner.flows:
        key = (flow["host"], flow["address"], flow["port"], flow["protocol"])
        if key not in seen:
            seen.add(key)
            flows.append(flow)
    return sorted(flows, key=lambda flow: (flow["host"], flow["port"], flow["protocol"]))
