# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one vantage must reach and what it must not, on the controller: the
flows the reachability module probes, read from the plan (``_plan``).

The vantage is an inventory host (its addresses, and its own firewall on the
way out) or an IP address outside the inventory (an outsider: only its
address counts). For every other host of the input that has a registry:

- each port of each service that listens, at the address the plan's one
  rule gives (``_plan.choose``: the first of the service's addresses of a
  family the vantage has; a flow of the plan from the vantage, such as a
  proxy's fixed upstream address, gives its own): ``open`` when the host's
  firewall lets the vantage in and, for an inventory host as vantage, its
  own firewall lets the connection out; else ``closed``. Both answers are
  the firewall's own verdict (``_rules.verdict``) on the rules the plan
  made for each host: the registry's, the flows', the host settings
  (admin sources, chain policies) and the extra rules
  (``portcullis_firewall_extra_rules``), which are part of the plan: a port
  only an extra rule opens is expected open, and ``why`` names that rule.
  Not modelled: rules to or from DNS names (``destination_name``, resolved
  on the host at each run) and the firewall module's own accepts for DNS to
  the host's resolvers and DHCP; a flow only these would let out is
  expected ``closed``. A private service, or one bound to loopback, is
  ``closed`` on the host's address;
- SSH from the admin sources (the host setting), when no entry declares it;
- each port an extra rule accepts on input that no entry declares, at the
  host's address the vantage uses: ``open`` (kind ``extra``) when the
  verdict lets the vantage in and out, ``why`` naming the rule; a rule for
  every port, or one whose destinations hold none of the host's addresses,
  gives no flow;
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
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan

# Ports that are often left open by accident and that no registry here
# declares: file sharing, remote desktops, databases, caches, container and
# cluster APIs. Each must be closed on every target that does not declare it.
UNDECLARED_SAMPLE = (21, 23, 25, 111, 135, 139, 445, 1433, 2375, 2379, 3306, 3389, 5432, 5900, 6379, 8080, 9200,
                     10250, 11211, 27017)
# Where each flow comes from.
KINDS = ("public", "allowed", "admin", "extra", "denied", "private", "undeclared", "listed")


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


def vantage_of(plan, vantage):
    """An inventory host name or an IP address to a Vantage."""
    if isinstance(vantage, str) and vantage in plan.hosts:
        networks = plan.networks_of(vantage, "vantage %s" % vantage)
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
    close = difflib.get_close_matches(str(vantage), plan.names, n=1)
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


def _closed_ports_for(plan, closed_ports, host, policy):
    """The caller's ``closed_ports`` that apply to ``host``: a list for every
    host, or a mapping of host and group names to lists."""
    if isinstance(closed_ports, (list, tuple)):
        return _port_list(closed_ports, "closed_ports", policy)
    if not isinstance(closed_ports, dict):
        raise ReachabilityPlanError("closed_ports must be a list of ports or a mapping of hosts and groups to lists "
                                    "of ports, got %s" % _values.describe(closed_ports))
    ports = set()
    for name in sorted(closed_ports, key=str):
        if not plan.is_known(name):
            raise ReachabilityPlanError("closed_ports: %s is neither a host nor a group of the inventory"
                                        % _values.describe(name))
        if name == host or host in (plan.groups.get(name) or ()):
            ports.update(_port_list(closed_ports[name], "closed_ports %s" % name, policy))
    return sorted(ports)


def _versions(found):
    """``{4, 6}`` as "4 and IPv6" (after an "IPv")."""
    return " and IPv".join(str(version) for version in sorted(found))


class _Target:
    """One host's side of the plan: its rules as the firewall gets them, its addresses, its services."""

    def __init__(self, plan, host):
        self.host = host
        self.services = plan.registry(host)
        settings = plan.settings(host)
        self.admin_sources = settings["admin_sources"]["items"]
        self.admin_networks = settings["admin_sources"]["networks"]
        self.ssh_port = settings["ssh_port"]
        self.policy = settings["policy"]
        plan.host_rules(host)  # what stops this host's rules stops its expectations
        self.rules = [rule for rule in plan.normalized[host] if rule.chain == "input"]
        self.first_extra = plan.first_extra[host]
        self.addresses = plan.hosts[host].addresses
        if not self.addresses:
            raise ReachabilityPlanError("target %s: its addresses are networks only, so no address can be probed; set "
                                        "portcullis_address or ansible_host to its address" % host)
        self.flows = plan.inbound.get(host, [])

    def declares(self, port, protocol="tcp"):
        return any(start <= port <= end for service in self.services
                   for start, end in service.ranges.get(protocol, ()))

    def label(self, rule):
        """How a reason names one of this host's rules: an extra rule as such."""
        return _extra_label(rule, self.first_extra)


def _extra_label(rule, first_extra):
    if rule.index is not None and rule.index >= first_extra:
        return "%s item %d%s" % (_plan.SETTINGS[3].variable, rule.index - first_extra + 1,
                                 " (%s)" % rule.comment if rule.comment else "")
    return _rules.rule_label(rule)


class _Outbound:
    """The vantage's way out, as its firewall gets it: the outbound rules the plan made for it (``connects_to``,
    the proxies' backends, its extra rules; rules to DNS names are not modelled) and its output policy. An outsider
    (no inventory host) has none: everything leaves."""

    def __init__(self, plan, vantage):
        self.rules = []
        self.policy = dict(_rules.DEFAULT_POLICY)
        self.first_extra = 0
        if vantage.host is None:
            return
        self.policy = plan.settings(vantage.host)["policy"]
        plan.host_rules(vantage.host)
        self.rules = [rule for rule in plan.normalized[vantage.host] if rule.chain == "output"]
        self.first_extra = plan.first_extra[vantage.host]

    def label(self, rule):
        return _extra_label(rule, self.first_extra)


class _Planner:
    def __init__(self, plan, vantage):
        self.plan = plan
        self.vantage = vantage
        self.outbound = _Outbound(plan, vantage)
        self.flows = []

    def add(self, target, address, port, protocol, expect, kind, text, service=None, probe=True):
        self.flows.append({
            "host": target.host, "address": str(address), "port": port, "protocol": protocol, "expect": expect,
            "why": "%s:%d/%s %s" % (target.host, port, protocol, text), "service": service, "kind": kind,
            "probe": probe})

    def primary(self, target):
        """Where the vantage reaches the host itself (SSH, the closed samples): the plan's one rule
        (``_plan.choose``) over its addresses; None when they share no family."""
        chosen = _plan.choose([ipaddress.ip_network(address) for address in target.addresses], self.vantage.families())
        return chosen.network_address if chosen is not None else None

    def service_addresses(self, target, service):
        """Where the vantage reaches ``service``: each address the plan's flows from it use (a proxy may reach one
        backend at two, by name and by a fixed upstream address), else the plan's one rule (``_plan.choose``) over
        the service's addresses. [] when they share no family."""
        found = []
        for flow in target.flows:
            if flow.client_host == self.vantage.host and flow.server_service == service.name and flow.address:
                if flow.address.network_address not in found:
                    found.append(flow.address.network_address)
        if found:
            return found
        try:
            chosen = _plan.choose(self.plan.service_networks(target.host, service), self.vantage.families())
        except _plan.InventoryError:
            return []
        return [chosen.network_address] if chosen is not None and chosen.num_addresses == 1 else []

    def admitted(self, target, address, port, protocol):
        """``(accepted, reason)``: whether the target's rules let a new connection from the vantage in."""
        return self._verdict(target.rules, target.policy, "input", address, port, protocol, target.label)

    def leaves(self, address, port, protocol):
        """``(accepted, reason)``: whether the vantage's own firewall lets a new connection to ``address`` out."""
        accepted, reason = self._verdict(self.outbound.rules, self.outbound.policy, "output", address, port, protocol,
                                         self.outbound.label)
        return accepted, reason if accepted else "the firewall of %s: %s" % (self.vantage.label, reason)

    def reaches(self, target, address, port, protocol):
        """``(accepted, reason)``: out of the vantage and into the target."""
        accepted, reason = self.admitted(target, address, port, protocol)
        if not accepted:
            return False, reason
        leaves, out_reason = self.leaves(address, port, protocol)
        return (True, reason) if leaves else (False, out_reason)

    def _verdict(self, rules, policy, chain, address, port, protocol, label):
        reason = "the vantage has no IPv%d address" % address.version
        for source in self.vantage.addresses:
            if source.version != address.version:
                continue
            accepted, reason = _rules.verdict(rules, policy, chain, source, address, port, protocol, label)
            if accepted:
                return True, reason
        return False, reason

    def _holds_vantage(self, networks):
        return any(address in ipaddress.ip_network(network) for network in networks for address in self.vantage.addresses)

    def grounds(self, target, service, port, protocol):
        """The registry entries that admit the vantage to ``service``: allow_from items, connects_to, the proxy."""
        found = []
        for item in service.allow_from:
            if self._holds_vantage(self.plan.sources([item], "service %r allow_from" % service.name)):
                found.append("allow_from %s" % item)
        for flow in target.flows:
            if flow.server_service != service.name or flow.client_host != self.vantage.host:
                continue
            if flow.kind == "proxy":
                found.append("proxy for %s (%s is in %s)" % (flow.comment, flow.client_host, _plan.PROXY_GROUP))
            elif flow.kind == "dependency":
                found.append("connects_to from %s %s" % (flow.client_host, flow.client_service))
        if self.admin(target, port, protocol):
            found.append("admin_sources")
        return sorted(set(found), key=found.index)

    def admin(self, target, port, protocol):
        return (protocol == "tcp" and port == target.ssh_port and bool(target.admin_sources)
                and self._holds_vantage(target.admin_networks))

    @staticmethod
    def who_may(target, service, port):
        """Who the registry opens an internal service to, for the message of a closed flow."""
        parts = []
        if service.allow_from:
            parts.append("allow_from %s" % ", ".join(service.allow_from))
        clients = sorted(set(flow.client_host for flow in target.flows
                             if flow.server_service == service.name and flow.kind == "dependency"))
        if clients:
            parts.append("connects_to from %s" % ", ".join(clients))
        proxies = sorted(set(flow.client_host for flow in target.flows
                             if flow.server_service == service.name and flow.kind == "proxy"))
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
        addresses = self.service_addresses(target, service)
        if not addresses:
            versions = _versions
            text = "%s: listens on %s (IPv%s), %s has IPv%s, and the vantage %s has IPv%s only; not probed" % (
                service.name, service.bind.address, versions(_plan.listen_families(service)), target.host,
                versions(set(address.version for address in target.addresses)), self.vantage.label,
                versions(self.vantage.families()))
            self.add(target, target.addresses[0], start, protocol, "closed", "denied", text, service.name, probe=False)
            return
        for address in addresses:
            self.address_flows(target, service, protocol, start, end, address)

    def address_flows(self, target, service, protocol, start, end, address):
        both_ends = [start] if start == end else [start, end]
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

    def extra_flows(self, target):
        """Ports only an extra rule opens: expected open where its verdict lets the vantage through."""
        address = self.primary(target)
        if address is None:
            return
        for rule in target.rules:
            if rule.index is None or rule.index < target.first_extra or rule.action != "accept" or not rule.ports:
                continue
            protocols = ("tcp", "udp") if rule.protocol == "both" else (rule.protocol,)
            for protocol in protocols:
                if protocol not in ("tcp", "udp"):
                    continue
                for start, _end in rule.ports:
                    if target.declares(start, protocol):
                        continue  # the entry's own flow says it, naming the rule when it is what admits
                    accepted, reason = self.reaches(target, address, start, protocol)
                    if accepted and target.label(rule) in reason:
                        self.add(target, address, start, protocol, "open", "extra", reason)

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


def expected_flows(plan, hosts, vantage, undeclared_ports=None, closed_ports=None):
    """The flows the vantage must reach and a sample of those it must not,
    over the hosts ``hosts`` (checked to be in the inventory): a list of
    ``{host, address, port, protocol, expect, why, service, kind, probe}``
    sorted by host, port and protocol.

    ``plan`` is the inventory's Plan; ``undeclared_ports`` None is
    ``UNDECLARED_SAMPLE``; ``closed_ports`` a list for every host or a
    mapping of host and group names to lists. Raises ReachabilityPlanError,
    PlanError, RegistryError or InventoryError naming the value."""
    vantage = vantage_of(plan, vantage)
    undeclared = _port_list(UNDECLARED_SAMPLE if undeclared_ports is None else undeclared_ports, "undeclared_ports",
                            plan.policy)
    planner = _Planner(plan, vantage)
    for host in sorted(set(hosts)):
        plan.host(host, "reachability host")
        if host == vantage.host or not plan.hosts[host].registry:
            continue
        target = _Target(plan, host)
        if set(target.addresses) & set(vantage.addresses):
            continue  # the vantage's own address: its probes would go over loopback
        for service in target.services:
            if service.listens:
                planner.service_flows(target, service)
        planner.ssh_flow(target)
        planner.extra_flows(target)
        planner.sample_flows(target, undeclared, _closed_ports_for(plan, closed_ports or [], host, plan.policy))
    seen = set()
    flows = []
    for flow in planner.flows:
        key = (flow["host"], flow["address"], flow["port"], flow["protocol"])
        if key not in seen:
            seen.add(key)
            flows.append(flow)
    return sorted(flows, key=lambda flow: (flow["host"], flow["port"], flow["protocol"]))


def _vantage(plan, client, source):
    if source is None:
        return vantage_of(plan, client)
    return Vantage(client if isinstance(client, str) and client in plan.hosts else None,
                   [ipaddress.ip_address(source)])


def flow_verdict(plan, client, host, address, port, protocol="tcp", source=None):
    """``(accepted, reason)``: whether the rules the plan makes let a new connection from ``client`` (an inventory
    host or an IP address) to ``host``'s ``address:port`` through: out of the client (for an inventory client, its
    own firewall) and into ``host``. The firewall's own verdict (``_rules.verdict``), as for the expectations.
    ``source``: the address the connection leaves from, when it is known (a flow seen), instead of every address
    the inventory gives the client - one the inventory does not give is then admitted only by what admits it."""
    planner = _Planner(plan, _vantage(plan, client, source))
    return planner.reaches(_Target(plan, host), ipaddress.ip_address(address), port, protocol)


def leaves_verdict(plan, client, address, port, protocol="tcp", source=None):
    """``(accepted, reason)``: whether inventory host ``client``'s own firewall lets a new connection to ``address``
    (outside the inventory) out, from ``source`` when it is known."""
    planner = _Planner(plan, _vantage(plan, client, source))
    return planner.leaves(ipaddress.ip_address(address), port, protocol)
