# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network plan of the inventory, on the controller: the one owner of
"who reaches what, where".

Built once per run from the inventory (``_inventory.read``: every host's
registry, addresses and host settings) and cached for the run under the
fingerprint of those inputs (``cached``), so a changed inventory is never
served stale. It alone decides:

- each host's addresses, per family (``portcullis_address``, an IP
  ``ansible_host``, else the gathered default addresses), in the order given;
- each flow from a client to a server: ``connects_to`` (client side),
  ``allow_from`` hosts, groups and CIDRs (server side), and every proxy of
  the ``proxies`` group to the backend of each service with a ``domain``
  (its host and port, or each server of its ``upstream``). For a flow
  between two inventory hosts the family is decided once, for the whole
  flow: the client uses **the first of the service's addresses, in the
  server's order, of a family the client has** (``choose``), and the server
  admits the client's addresses of that family, nothing else. A service's
  addresses are its bind address, or for a wildcard bind the host's
  addresses of the families it listens on (``0.0.0.0``: IPv4; ``::``: both,
  unless IPv6-only). A flow whose two ends share no family, or whose
  given address (an ``upstream`` IP, a bind address) is of a family the other
  end lacks or the service does not listen on, is an ``address_family``
  problem naming both hosts and the service;
- each host's firewall rules (``_firewall_plan``: the registry, the flows,
  and the host settings ``SETTINGS``, extra rules included);
- each proxy's routes and their upstream servers (``_proxy_plan`` makes the
  sites from them);
- the problems the audit reports as plan conflicts.

The reachability expectations and the port map read the same plan.
Problems never raise while the plan is built; each slice raises what
concerns it (``rules``, ``routes``), and the audit lists them all.

Host settings: the firewall role's settings that other hosts' plans depend on
(the SSH admin sources and port, the chain policies, the extra rules) are
inventory variables read here, by ``SETTINGS`` alone, with their defaults;
the role states none of them again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress
import json
import os
import pickle
import tempfile

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _inventory
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError

# The group whose hosts run the reverse proxy (site.yml's nginx play): they
# connect to the backend of every service with a domain.
PROXY_GROUP = "proxies"
# The ports nginx itself listens on for the sites it publishes.
PROXY_PORTS = (80, 443)

# Kinds of plan problem found here (all are errors in the plan: the audit stops on them).
UNKNOWN_DEPENDENCY = "unknown_dependency"
UNREACHABLE_DEPENDENCY = "unreachable_dependency"
ADDRESS_FAMILY = "address_family"
UNKNOWN_SOURCE = "unknown_source"
UNKNOWN_ADDRESS = "unknown_address"
UNREACHABLE_UPSTREAM = "unreachable_upstream"
SELF_PROXY = "self_proxy"
DUPLICATE_DOMAIN = "duplicate_domain"
SHARED_PUBLIC_PORT = "shared_public_port"
INVALID_SETTING = "invalid_setting"
PROXY_PORT = "proxy_port"
KINDS = (UNKNOWN_DEPENDENCY, UNREACHABLE_DEPENDENCY, ADDRESS_FAMILY, UNKNOWN_SOURCE, UNKNOWN_ADDRESS,
         UNREACHABLE_UPSTREAM, SELF_PROXY, DUPLICATE_DOMAIN, SHARED_PUBLIC_PORT, INVALID_SETTING, PROXY_PORT)
# A proxy's registry entries that are nginx itself, on PROXY_PORTS: process nginx, or no process and one of these names.
PROXY_SELF_NAMES = ("http", "https", "nginx")
# Problems that make every host's rules wrong (a flow that drops out of the plan would close what works today):
# no host's firewall rules are made while one stands.
FLOW_KINDS = (UNKNOWN_DEPENDENCY, UNREACHABLE_DEPENDENCY, ADDRESS_FAMILY, UNREACHABLE_UPSTREAM)


class Setting:
    """One host setting the plan reads from the inventory: ``variable``, its ``default`` and ``meaning``."""

    __slots__ = ("key", "variable", "default", "meaning")

    def __init__(self, key, variable, default, meaning):
        self.key = key
        self.variable = variable
        self.default = default
        self.meaning = meaning


# The one place these variables are named and their defaults given: (key, inventory variable, default, meaning),
# literals only. The firewall role, the reachability check and the role's README (tools/role_docs.py) read them here.
SETTING_TABLE = (
    ("admin_sources", "portcullis_firewall_admin_sources", [],
     "Hosts, groups or CIDRs that may reach SSH besides what the registry's `ssh` service allows (empty: only the "
     "registry decides)."),
    ("ssh_port", "portcullis_firewall_ssh_port", None,
     "The SSH port the admin sources may reach. Unset: the registry's `ssh` service's port, else 22."),
    ("policy", "portcullis_firewall_policy", {},
     "The chains' policies, over the firewall module's defaults (`input: drop`, `output: accept`, `forward: accept`, "
     "`dnat: drop`); `output: drop` lets out only what the registry's `connects_to` and the proxies' backends need."),
    ("extra_rules", "portcullis_firewall_extra_rules", [],
     "More rules, in the firewall module's `rules` format, after the registry's. They are part of the plan: the "
     "reachability check expects what they open, and names them as the reason."),
)
SETTINGS = tuple(Setting(*row) for row in SETTING_TABLE)
SETTING_VARIABLES = tuple(setting.variable for setting in SETTINGS)


class PlanError(ValueError):
    """A slice of the plan cannot be made; the message names the host, the value and the way out."""


class Flow:
    """One flow from a client to a server.

    ``kind``: ``dependency`` (a ``connects_to``), ``allow_from`` or
    ``proxy``. ``client_host`` (None for an ``allow_from`` CIDR) and
    ``client_service`` (None for the proxy: its nginx) connect to
    ``server_host`` and ``server_service`` (None outside the inventory, or
    for an upstream port no entry declares) on ``ranges`` (per protocol).
    ``address`` is the server address the client uses (an ip_network; one
    address unless the server's inventory address is a network), ``family``
    its version; ``sources`` the client networks the server admits;
    ``networks`` and ``names`` where the client's outbound rule goes (the
    address, or the networks and DNS names outside the inventory);
    ``server`` the proxy's upstream ``host:port``; ``local`` when client and
    server are one host (over loopback: no rule needed).
    """

    __slots__ = ("kind", "client_host", "client_service", "server_host", "server_service", "ranges", "comment",
                 "address", "family", "sources", "networks", "names", "server", "local", "domain")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))
        for key in ("sources", "networks", "names"):
            if getattr(self, key) is None:
                setattr(self, key, [])

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
        return "Flow(%s: %s -> %s %s at %s)" % (self.kind, self.client_label(), self.target_label(),
                                                self.ports_text(), self.address)


class HostPlan:
    """One host of the plan: its ``networks`` (addresses or CIDRs, in the
    order given) or the ``address_error`` saying why none is known; its
    validated ``services`` (None when the registry is invalid, with
    ``registry_errors``); its ``settings`` (SETTINGS by key, checked, or
    ``setting_errors``)."""

    __slots__ = ("name", "raw", "networks", "address_error", "registry", "services", "registry_errors", "settings",
                 "setting_errors")

    def __init__(self, name, raw):
        self.name = name
        self.raw = raw
        self.networks = []
        self.address_error = None
        self.registry = raw.get(_inventory.REGISTRY_VARIABLE) or []
        self.services = None
        self.registry_errors = []
        self.settings = {}
        self.setting_errors = []

    @property
    def addresses(self):
        """The single addresses (ip_address), in order."""
        return [network.network_address for network in self.networks if network.num_addresses == 1]

    def families(self):
        return set(network.version for network in self.networks)

    def service(self, name):
        return next((service for service in self.services or () if service.name == name), None)


def listen_families(service):
    """The address families a listening service accepts connections on."""
    bind = service.bind
    if not bind.wildcard:
        return {bind.version}
    if bind.version == 4:
        return {4}
    return {4, 6} if bind.dual_stack else {6}


def choose(candidates, families):
    """The one rule of which address a client uses for a service: the first of
    the service's addresses (``candidates``, in the server's order) of a family
    the client has (``families``); None when they share none."""
    return next((network for network in candidates if network.version in families), None)


def _family_text(networks):
    if not networks:
        return "no address"
    return ", ".join("%s (IPv%d)" % (network.network_address if network.num_addresses == 1 else network,
                                     network.version) for network in networks)


def _endpoint(address, port):
    address = address.network_address if isinstance(address, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
        else address
    return "[%s]:%d" % (address, port) if address.version == 6 else "%s:%d" % (address, port)


def _problem(kind, message, host=None, services=(), **extra):
    result = {"kind": kind, "message": message, "host": host, "services": list(services)}
    result.update(extra)
    return result


class Plan:
    """The plan of one inventory (``inputs`` from ``_inventory.read``)."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.fingerprint = _inventory.fingerprint(inputs)
        try:
            self.policy = resolver.build_policy(inputs.get("policy") or {})
        except resolver.PortSpecError as error:
            raise PlanError("port policy: %s" % error)
        self.groups = dict((name, list(members or [])) for name, members in (inputs.get("groups") or {}).items())
        self.hosts = dict((host, HostPlan(host, raw)) for host, raw in inputs["hosts"].items())
        self.names = sorted(self.hosts)
        self.problems = []
        # Per host: the messages that stop its rules (an unknown allow_from, a client without an address...).
        self.host_errors = {}
        self.flows = []
        self._owners = None
        self.rules = None  # each host's rules, made once the flows are known
        for host in self.names:
            self._read_host(self.hosts[host])
        for host in self.names:
            self._read_settings(self.hosts[host])
        self._dependency_flows()
        self._allow_from_flows()
        self.routes = {}
        self.route_errors = {}
        self._proxy_flows()
        self._cross_checks()
        self.inbound = {}
        self.outbound = {}
        for flow in self.flows:
            if flow.local:
                continue
            if flow.server_host is not None:
                self.inbound.setdefault(flow.server_host, []).append(flow)
            if flow.client_host is not None and flow.kind != "allow_from":
                self.outbound.setdefault(flow.client_host, []).append(flow)
        # Each host's rules (and where its extra rules start), or what stops them: made once, here.
        from ansible_collections.portcullis.ports.plugins.plugin_utils import _firewall_plan
        self.rules = {}
        self.normalized = {}
        self.first_extra = {}
        self.rule_errors = {}
        for host in self.names:
            try:
                self.rules[host], self.normalized[host], self.first_extra[host] = _firewall_plan.host_rules(self, host)
            except _registry.RegistryError as error:
                self.rule_errors[host] = ("registry", list(error.errors))
            except InventoryError as error:
                self.rule_errors[host] = ("inventory", str(error))
            except (PlanError, _rules.RuleError) as error:
                self.rule_errors[host] = ("plan", "; ".join(error.errors) if isinstance(error, _rules.RuleError)
                                          else str(error))

    @classmethod
    def of(cls, hostvars, groups=None, policy=None):
        """The plan of ``hostvars`` and ``groups`` (mappings as a play has them), built now, not cached."""
        return cls(_inventory.read(hostvars, groups, SETTING_VARIABLES, policy))

    # -- hosts -------------------------------------------------------------------------------------------------

    def _read_host(self, host):
        raw = host.raw
        explicit = raw.get(_inventory.ADDRESS_VARIABLE)
        try:
            if explicit:
                items = explicit if isinstance(explicit, list) else [explicit]
                host.networks = [_values.network(str(item), "%s of %s" % (_inventory.ADDRESS_VARIABLE, host.name))
                                 for item in items]
            elif _values.looks_like_address(str(raw.get("ansible_host", ""))):
                host.networks = [ipaddress.ip_network(_values.address(str(raw["ansible_host"]),
                                                                      "ansible_host of %s" % host.name))]
            elif raw.get("ansible_host") is None and _values.looks_like_address(host.name):
                # A host named by its address (an inventory given inline, -i 192.0.2.10,): Ansible connects to it.
                host.networks = [ipaddress.ip_network(_values.address(host.name, "the inventory name %s" % host.name))]
            else:
                host.networks = [ipaddress.ip_network(raw[fact]) for fact in _inventory.FACT_ADDRESSES
                                 if raw.get(fact)]
                if not host.networks:
                    host.address_error = ("host %r has no known address: gather its facts in this play or set %s "
                                          "for it" % (host.name, _inventory.ADDRESS_VARIABLE))
        except (_values.BadValue, ValueError) as error:
            host.networks = []
            host.address_error = str(error)
        if not host.registry:
            host.services = []
            return
        try:
            host.services = _registry.validate(host.registry, self.policy)
        except _registry.RegistryError as error:
            host.services = None
            host.registry_errors = ["host %s: %s" % (host.name, message) for message in error.errors]

    def _read_settings(self, host):
        raw = host.raw
        for setting in SETTINGS:
            value = raw.get(setting.variable, setting.default)
            if value is None:
                value = setting.default
            what = "%s of %s" % (setting.variable, host.name)
            try:
                host.settings[setting.key] = getattr(self, "_setting_" + setting.key)(host, value, what)
            except (_values.BadValue, resolver.PortSpecError, _rules.RuleError, InventoryError, PlanError) as error:
                text = "; ".join(error.errors) if isinstance(error, _rules.RuleError) else str(error)
                host.setting_errors.append("%s: %s" % (what, text))
                self.problems.append(_problem(INVALID_SETTING, "%s: %s" % (what, text), host.name))

    def _setting_admin_sources(self, host, value, what):
        items = _registry.sources(value, what)
        return {"items": items, "networks": self.sources(items, what)}

    def _setting_ssh_port(self, host, value, what):
        if value is None:
            return _registry.ssh_endpoint(host.registry if isinstance(host.registry, list) else None)["port"]
        return resolver.service_port(value, "tcp")

    def _setting_policy(self, host, value, what):
        if not isinstance(value, dict):
            raise PlanError("must be a mapping of chains to accept or drop, got %s" % _values.describe(value))
        return _rules.normalize_policy(value)

    def _setting_extra_rules(self, host, value, what):
        if not isinstance(value, list):
            raise PlanError("must be a list of rules in the firewall module's format, got %s"
                            % _values.describe(value))
        _verdict_rules(value, self.policy)  # every problem of every rule, now
        return value

    def host(self, name, what="host"):
        if name not in self.hosts:
            close = difflib.get_close_matches(str(name), self.names, n=1)
            raise PlanError("%s%s is not a host of the inventory%s" % (
                "" if what == "host" else what + " ", _values.describe(name),
                " (did you mean %s?)" % close[0] if close else ""))
        return self.hosts[name]

    def networks_of(self, name, what):
        """The networks of inventory host ``name``, or InventoryError naming why none is known."""
        host = self.hosts.get(name)
        if host is None:
            raise InventoryError("%s: %r is neither a CIDR nor a host or group of the inventory" % (what, name))
        if host.address_error:
            raise InventoryError("%s: %s" % (what, host.address_error))
        return host.networks

    def is_known(self, name):
        return name in self.groups or name in self.hosts

    def sources(self, items, what):
        """Hostnames, group names and CIDRs to sorted network texts, IPv4 first."""
        networks = set()
        for item in _checked_sources(items, what):
            if _values.looks_like_address(item):
                networks.add(ipaddress.ip_network(item))
            elif item in self.groups:
                for member in self.groups[item]:
                    networks.update(self.networks_of(member, what))
            else:
                networks.update(self.networks_of(item, what))
        return _network_texts(networks)

    def check_seen(self, host, variable, seen, what="plan"):
        _inventory.check_seen(self.inputs, host, variable, seen, what)

    # -- where a service is reached ----------------------------------------------------------------------------

    def service_networks(self, host, service):
        """Where another host reaches ``service`` of ``host``: its bind address,
        or the host's addresses of the families it listens on, in order;
        [] for loopback. Raises InventoryError when the host has no known address."""
        bind = service.bind
        if bind.loopback:
            return []
        if not bind.wildcard:
            return [ipaddress.ip_network(bind.address)]
        families = listen_families(service)
        return [network for network in self.networks_of(host, "host %s service %s" % (host, service.name))
                if network.version in families]

    def _listen_text(self, host, service, networks):
        if networks:
            return _family_text(networks)
        return "%s (IPv%s), where %s has no address of that family (it has %s)" % (
            service.bind.address, " and IPv".join(str(version) for version in sorted(listen_families(service))), host,
            _family_text(self.hosts[host].networks))

    def _no_family(self, what, label, client, client_networks, server, service, server_networks):
        """Why ``client`` cannot reach ``service`` of ``server``: the hosts share no family, or they do and the
        service's bind leaves it out (then the fix is the bind)."""
        shared = set(network.version for network in client_networks) & self.hosts[server].families()
        if shared and service.bind.wildcard:
            family = min(shared)
            return ("%s: %s reaches %s over IPv%d only, but %s service %s listens on %s (IPv%s only); bind %s to %s "
                    "(both families), or give %s an address of IPv%s (%s)" % (
                        what, label, server, family, server, service.name, service.bind.address,
                        " and IPv".join(str(version) for version in sorted(listen_families(service))), service.name,
                        "'::'" if service.bind.version == 4 else "'::' with bindv6only off", client,
                        " or IPv".join(str(version) for version in sorted(listen_families(service))),
                        _inventory.ADDRESS_VARIABLE))
        return ("%s: %s and %s share no address family: %s service %s listens on %s, and %s has %s; give both an "
                "address of one family (%s), or bind %s to an address %s reaches" % (
                    what, label, server, server, service.name, self._listen_text(server, service, server_networks),
                    client, _family_text(client_networks), _inventory.ADDRESS_VARIABLE, service.name, client))

    def owner_of(self, address):
        """The inventory host one of whose single addresses is ``address``, or None."""
        if self._owners is None:
            self._owners = {}
            for name in self.names:
                for found in self.hosts[name].addresses:
                    self._owners.setdefault(found, name)
        return self._owners.get(address)

    # -- flows -------------------------------------------------------------------------------------------------

    def _host_error(self, host, message):
        messages = self.host_errors.setdefault(host, [])
        if message not in messages:
            messages.append(message)

    def _flow_error(self, hosts, message):
        """A flow between ``hosts`` that cannot be planned: the rules of both stop, naming why (their firewalls
        would otherwise be made without it, and the site behind it would be dead with every check calling it
        fine). Only while the plan is built; a proxy planned later (a role run on a host outside the proxies)
        has no firewall rules of its own for this flow."""
        if self.rules is None:
            for host in hosts:
                self._host_error(host, message)

    def _between(self, kind, client, client_service, server, service, what, comment=None, ranges=None):
        """A flow from inventory host ``client`` to ``service`` of inventory host
        ``server``: the family and address decided once (``choose``). None, with
        the problem recorded, when it cannot be made."""
        flow = Flow(kind=kind, client_host=client, client_service=client_service, server_host=server,
                    server_service=service.name, ranges=ranges or service.ranges, comment=comment)
        if client == server:
            flow.local = True
            return flow
        try:
            client_networks = self.networks_of(client, what)
            server_networks = self.service_networks(server, service)
        except InventoryError as error:
            self.problems.append(_problem(UNKNOWN_ADDRESS, str(error), client if kind != "allow_from" else server,
                                          [service.name] if kind == "allow_from" else
                                          [client_service] if client_service else []))
            for host in (client, server):
                self._host_error(host, str(error))
            return None
        chosen = choose(server_networks, set(network.version for network in client_networks))
        if chosen is None:
            self.problems.append(_problem(
                ADDRESS_FAMILY, self._no_family(what, client, client, client_networks, server, service,
                                                server_networks),
                client, [client_service or service.name], server=server, server_service=service.name))
            return None
        flow.address = chosen
        flow.family = chosen.version
        flow.sources = [network for network in client_networks if network.version == chosen.version]
        flow.networks = [str(chosen)]
        return flow

    def _targets(self, name, what, host, service):
        if name in self.groups:
            targets = sorted(self.groups[name])
            if not targets:
                self.problems.append(_problem(UNKNOWN_DEPENDENCY, "%s the group %r, which has no hosts" % (what, name),
                                              host, [service]))
            return targets
        if name in self.hosts:
            return [name]
        close = difflib.get_close_matches(name, sorted(set(self.names) | set(self.groups)), n=1)
        self.problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %r, which is neither a host nor a group of the "
                                      "inventory%s" % (what, name, " (did you mean %s?)" % close[0] if close else ""),
                                      host, [service]))
        return []

    def _dependency_flows(self):
        for host in self.names:
            for service in self.hosts[host].services or ():
                for dependency in service.connects_to:
                    self._dependency(host, service, dependency)

    def _dependency(self, host, service, dependency):
        what = "%s: service %s connects_to" % (host, service.name)
        if dependency.external:
            self.flows.append(Flow(kind="dependency", client_host=host, client_service=service.name,
                                   networks=list(dependency.networks), names=list(dependency.names),
                                   ranges=dependency.ranges, comment=dependency.comment))
            return
        for server in self._targets(dependency.host, what, host, service.name):
            target = self.hosts[server]
            if target.services is None:
                continue  # an invalid registry is reported as such
            if not target.registry:
                self.problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %s service %r, but %s has no registry (%s)" % (
                    what, server, dependency.service, server, _inventory.REGISTRY_VARIABLE), host, [service.name]))
                continue
            found = target.service(dependency.service)
            if found is None:
                names = [item.name for item in target.services]
                close = difflib.get_close_matches(dependency.service, names, n=1)
                self.problems.append(_problem(UNKNOWN_DEPENDENCY, "%s %s service %r, which %s does not declare%s" % (
                    what, server, dependency.service, server,
                    " (did you mean %s?)" % close[0] if close else " (it declares %s)" % ", ".join(names)
                    if names else ""), host, [service.name]))
                continue
            if not found.listens:
                self.problems.append(_problem(UNREACHABLE_DEPENDENCY, "%s %s service %s, which listens nowhere (it "
                                              "has no port)" % (what, server, found.name), host, [service.name]))
                continue
            if server != host and (found.expose == "private" or found.bind.loopback):
                self.problems.append(_problem(UNREACHABLE_DEPENDENCY, "%s %s service %s, which listens on %s only: no "
                                              "other host can reach it; expose it as internal on an address %s "
                                              "reaches" % (what, server, found.name, found.bind.address, host),
                                              host, [service.name]))
                continue
            flow = self._between("dependency", host, service.name, server, found, "%s %s service %s"
                                 % (what, server, found.name), comment=dependency.comment)
            if flow is not None:
                self.flows.append(flow)

    def _allow_from_flows(self):
        for server in self.names:
            for service in self.hosts[server].services or ():
                if not service.listens or service.expose != "internal" or service.bind.loopback:
                    continue
                for item in service.allow_from:
                    self._allow_from(server, service, item)

    def _allow_from(self, server, service, item):
        what = "%s: service %s allow_from %s" % (server, service.name, item)
        if _values.looks_like_address(item):
            network = ipaddress.ip_network(item)
            server_state = self.hosts[server]
            if (network.version in listen_families(service) and service.bind.wildcard and server_state.networks
                    and network.version not in server_state.families()):
                self.problems.append(_problem(
                    ADDRESS_FAMILY, "%s: %s is IPv%d, but %s has %s: no client there can reach %s; remove it, or "
                    "give %s an address of that family (%s)" % (
                        what, item, network.version, server, _family_text(server_state.networks), service.name,
                        server, _inventory.ADDRESS_VARIABLE),
                    server, [service.name], server=server, server_service=service.name))
                return
            if network.version not in listen_families(service):
                self.problems.append(_problem(
                    ADDRESS_FAMILY, "%s: %s is IPv%d, but %s listens on %s (IPv%s only): no client there can reach it; "
                    "remove it, or bind %s to an address of that family" % (
                        what, item, network.version, service.name, service.bind.address,
                        " and IPv".join(str(version) for version in sorted(listen_families(service))), service.name),
                    server, [service.name], server=server, server_service=service.name))
                return
            self.flows.append(Flow(kind="allow_from", server_host=server, server_service=service.name,
                                   ranges=service.ranges, sources=[network], family=network.version))
            return
        if item in self.groups:
            clients = sorted(self.groups[item])
        elif item in self.hosts:
            clients = [item]
        else:
            message = "%s: service %s allows %r, which is neither a CIDR nor a host or group of the inventory" % (
                server, service.name, item)
            self.problems.append(_problem(UNKNOWN_SOURCE, message, server, [service.name], value=item))
            self._host_error(server, "service %r allow_from: %r is neither a CIDR nor a host or group of the inventory"
                             % (service.name, item))
            return
        for client in clients:
            flow = self._between("allow_from", client, None, server, service, what)
            if flow is not None:
                self.flows.append(flow)

    # -- the proxies -------------------------------------------------------------------------------------------

    def _proxy_flows(self):
        """Each proxy's routes (one per service with a domain) and their upstream servers."""
        for proxy in sorted(self.groups.get(PROXY_GROUP) or ()):
            routes, errors, flows, problems = self._proxy_plan(proxy)
            self.routes[proxy] = routes
            self.route_errors[proxy] = errors
            self.flows += flows
            for problem in problems:
                if problem not in self.problems:
                    self.problems.append(problem)

    def _proxy_plan(self, proxy):
        """``(routes, errors, flows, problems)`` of ``proxy``: what it publishes and how it reaches each backend."""
        routes, errors, flows, problems = [], [], [], []
        for host in self.names:
            for service in self.hosts[host].services or ():
                if not service.domain:
                    continue
                servers = []
                what = "host %s service %r" % (host, service.name)
                for item in service.upstream or [None]:
                    try:
                        flow = self._proxy_flow(proxy, host, service, item, what, problems)
                    except PlanError as error:
                        errors.append((str(error), host))
                        continue
                    if flow is None:
                        continue
                    if not flow.local:
                        flows.append(flow)
                    params = service.upstream_params.get(item, {}) if item else {}
                    servers.append(dict(params, server=flow.server))
                routes.append({"host": host, "service": service, "servers": servers})
        return routes, errors, flows, problems

    def _proxy_flow(self, proxy, host, service, item, what, problems):
        """The flow from ``proxy`` to one backend server of ``service`` (``item``:
        an ``upstream`` server, or None for the service's own host and port)."""
        if item is None:
            port = service.single_port("tcp")
            flow = Flow(kind="proxy", client_host=proxy, server_host=host, server_service=service.name,
                        ranges={"tcp": [(port, port)]}, comment=service.domain, domain=service.domain)
            if host == proxy:
                if self_proxied(service):
                    raise PlanError("%s: port %d is where nginx on %s listens itself, so the site would proxy to "
                                    "itself; give the backend as upstream: host:port" % (what, port, host))
                flow.local = True
                flow.server = self._local_endpoint(service, port)
                return flow
            if service.bind.loopback:
                raise PlanError("%s: it listens on %s of %s only, which the proxy on %s cannot reach; bind it to an "
                                "address the proxy reaches or give upstream" % (what, service.bind.address, host, proxy))
            return self._upstream_to(flow, proxy, host, service, None, what, problems)
        address, _sep, port = item.rpartition(":")
        port = int(port)
        address = address.strip("[]")
        flow = Flow(kind="proxy", client_host=proxy, ranges={"tcp": [(port, port)]}, comment=service.domain,
                    domain=service.domain, server=item)
        fixed = None
        if _values.looks_like_address(address):
            fixed = ipaddress.ip_address(address)
            target = self.owner_of(fixed)
            if target is None:
                proxy_state = self.hosts.get(proxy)
                if proxy_state is not None and proxy_state.networks and fixed.version not in proxy_state.families():
                    message = "%s upstream %s: %s is IPv%d, but the proxy %s has %s; give an address of a family it " \
                              "has" % (what, item, fixed, fixed.version, proxy, _family_text(proxy_state.networks))
                    self._flow_error((proxy,), message)
                    _refuse(problems, ADDRESS_FAMILY, message, proxy, [service.name], server=None,
                            server_service=service.name)
                flow.networks = [str(ipaddress.ip_network(fixed))]
                return flow
        elif address in self.hosts:
            target = address
        else:
            flow.names = [address]
            return flow
        upstream = "%s upstream %s" % (what, item)
        hosted = self.hosts[target]
        if hosted.services is None:
            return None  # an invalid registry is reported as such
        found = next((candidate for candidate in hosted.services
                      if any(start <= port <= end for start, end in candidate.ranges.get("tcp", ()))), None)
        if found is None:
            _refuse(problems, UNREACHABLE_UPSTREAM, "%s: %s declares no TCP service on port %d, so its firewall admits "
                    "nobody there and the proxy %s cannot reach it; declare the service in %s's %s" % (
                        upstream, target, port, proxy, target, _inventory.REGISTRY_VARIABLE), host, [service.name])
        flow.server_host = target
        flow.server_service = found.name
        if target == proxy:
            flow.local = True
            flow.server = item if fixed is not None else self._local_endpoint(found, port)
            return flow
        if found.expose == "private" or found.bind.loopback:
            _refuse(problems, UNREACHABLE_UPSTREAM, "%s: %s service %s listens on %s only, which the proxy on %s cannot "
                    "reach" % (upstream, target, found.name, found.bind.address, proxy), host, [service.name])
        return self._upstream_to(flow, proxy, target, found, fixed, upstream, problems)

    def _upstream_to(self, flow, proxy, host, service, fixed, what, problems):
        """Complete a proxy flow to ``service`` of inventory host ``host``: the
        address, at ``fixed`` when the upstream gives one."""
        try:
            proxy_networks = self.networks_of(proxy, "proxy %s" % proxy)
            server_networks = self.service_networks(host, service)
        except InventoryError as error:
            self._flow_error((proxy, host), str(error))
            _refuse(problems, UNKNOWN_ADDRESS, str(error), host, [service.name])
        families = set(network.version for network in proxy_networks)
        if fixed is not None:
            listens = any(fixed in network for network in server_networks) or (
                service.bind.wildcard and fixed.version in listen_families(service))
            if fixed.version not in families or not listens:
                message = "%s: %s is IPv%d, but %s; give an address both have" % (
                    what, fixed, fixed.version, "the proxy %s has %s" % (proxy, _family_text(proxy_networks))
                    if fixed.version not in families else "%s service %s listens on %s" % (
                        host, service.name, _family_text(server_networks) if server_networks
                        else service.bind.address))
                _refuse(problems, ADDRESS_FAMILY, message, proxy, [service.name], server=host,
                        server_service=service.name)
            chosen = ipaddress.ip_network(fixed)
        else:
            chosen = choose(server_networks, families)
            if chosen is None:
                message = self._no_family(what, "the proxy %s" % proxy, proxy, proxy_networks, host, service,
                                          server_networks)
                _refuse(problems, ADDRESS_FAMILY, message, proxy, [service.name], server=host,
                        server_service=service.name)
            if chosen.num_addresses != 1:
                message = ("%s: %s's address is the network %s, so nginx has no address to connect to; give its "
                           "address in %s or the backend as upstream" % (
                               what, host, chosen, _inventory.ADDRESS_VARIABLE))
                self._flow_error((proxy, host), message)
                _refuse(problems, UNKNOWN_ADDRESS, message, host, [service.name])
        flow.address = chosen
        flow.family = chosen.version
        flow.sources = [network for network in proxy_networks if network.version == chosen.version]
        flow.networks = [str(chosen)]
        flow.server = _endpoint(chosen, flow.ranges["tcp"][0][0])
        return flow

    @staticmethod
    def _local_endpoint(service, port):
        """Where nginx on the service's own host connects: its bind, or loopback of a family it listens on."""
        if not service.bind.wildcard:
            return service.bind.endpoint(port)
        return "127.0.0.1:%d" % port if 4 in listen_families(service) else "[::1]:%d" % port

    # -- across hosts ------------------------------------------------------------------------------------------

    def _cross_checks(self):
        domains = {}
        public = {}
        proxies = set(self.groups.get(PROXY_GROUP) or ())
        for host in self.names:
            for service in self.hosts[host].services or ():
                sources = [("allows", item) for item in service.allow_from if service.expose != "internal"
                           or not service.listens or service.bind.loopback]
                sources += [("proxy %s" % key, item) for key in ("allow", "deny") for item in service.proxy.get(key, ())]
                for where, item in sources:
                    self._check_source(host, service, where, item)
                if service.domain:
                    domains.setdefault((service.domain, service.path), []).append((host, service.name))
                    if host in proxies and self_proxied(service):
                        self.problems.append(_problem(
                            SELF_PROXY, "%s: service %s (%s) is on port %d of a proxy, where nginx listens itself, so "
                            "the site would proxy to itself; give the backend as upstream" % (
                                host, service.name, service.domain, service.single_port("tcp")), host, [service.name]))
                    if proxies and host not in proxies and service.bind.loopback and not service.upstream:
                        self.problems.append(_problem(
                            UNREACHABLE_UPSTREAM, "%s: service %s (%s) listens on %s only, which the proxies (%s) "
                            "cannot reach; bind it to an address they reach, or give upstream" % (
                                host, service.name, service.domain, service.bind.address, ", ".join(sorted(proxies))),
                            host, [service.name]))
                self._check_listen_family(host, service)
                if host in proxies and service.listens and not service.domain:
                    self._check_proxy_ports(host, service)
                if service.listens and service.expose == "public":
                    try:
                        networks = self.service_networks(host, service)
                    except InventoryError:
                        networks = []  # no known address: nothing to compare
                    for network in networks:
                        if network.num_addresses != 1 or network.network_address.is_loopback:
                            continue  # hosts reached through a forwarded loopback port share nothing
                        for protocol, ranges in service.ranges.items():
                            for start, end in ranges:
                                public.setdefault((str(network.network_address), protocol), []).append(
                                    (start, end, host, service.name))
        for domain, path in sorted(domains):
            owners = domains[(domain, path)]
            if len(owners) > 1:
                self.problems.append(_problem(
                    DUPLICATE_DOMAIN, "domain %s%s is published by %s" % (
                        domain, " path %s" % path if path != _registry.ROOT_PATH else "",
                        " and ".join("%s service %s" % owner for owner in owners)),
                    domain=domain, path=path, owners=["%s/%s" % owner for owner in owners]))
        for (address, protocol) in sorted(public):
            claims = sorted(public[(address, protocol)])
            for position, (start, end, host, name) in enumerate(claims):
                for other_start, other_end, other_host, other_name in claims[position + 1:]:
                    if other_host != host and other_start <= end and start <= other_end:
                        owners = sorted([(host, name), (other_host, other_name)])
                        self.problems.append(_problem(
                            SHARED_PUBLIC_PORT, "%s %s port %s is claimed as public by %s service %s and %s service %s"
                            % (address, protocol, resolver.format_range((max(start, other_start), min(end, other_end))),
                               owners[0][0], owners[0][1], owners[1][0], owners[1][1]),
                            address=address, protocol=protocol, owners=["%s/%s" % owner for owner in owners]))

    def _check_listen_family(self, host, service):
        """A service on every address of families its host has none of: nobody can reach it (a flow into it says
        so already, naming the client; this says it for the rest, public services first of all)."""
        state = self.hosts[host]
        if (not service.listens or service.expose == "private" or not service.bind.wildcard
                or service.bind.loopback or not state.networks):
            return
        families = listen_families(service)
        if families & state.families():
            return
        if any(problem["kind"] == ADDRESS_FAMILY and problem.get("server") == host
               and problem.get("server_service") == service.name for problem in self.problems):
            return
        self.problems.append(_problem(
            ADDRESS_FAMILY, "%s: service %s listens on %s (IPv%s only), but %s has %s: no client can reach it; bind "
            "it to %s, or give %s an address of that family (%s)" % (
                host, service.name, service.bind.address, " and IPv".join(str(version) for version in sorted(families)),
                host, _family_text(state.networks), "'::' (both families)" if families == {4} else "'0.0.0.0'", host,
                _inventory.ADDRESS_VARIABLE),
            host, [service.name], server=host, server_service=service.name))

    def _check_proxy_ports(self, host, service):
        """nginx listens on PROXY_PORTS (TCP, every address) of a proxy: another service there (sshd on 443)
        would keep nginx from starting, after sshd and the firewall changed the host."""
        if service.process == "nginx" or (not service.process and service.name in PROXY_SELF_NAMES):
            return
        for port in PROXY_PORTS:
            if any(start <= port <= end for start, end in service.ranges.get("tcp", ())):
                self.problems.append(_problem(
                    PROXY_PORT, "%s: service %s is on tcp port %d, where nginx listens on a proxy for the sites it "
                    "publishes: move the service to another port (nginx's own entries are named %s, or give process: "
                    "nginx)" % (host, service.name, port, ", ".join(PROXY_SELF_NAMES[:-1]) + " or " +
                                PROXY_SELF_NAMES[-1]), host, [service.name], port=port))

    def _check_source(self, host, service, where, item):
        """An allow_from item (of a service no flow comes from) or a proxy allow/deny item: known, with addresses."""
        if _values.looks_like_address(item):
            return
        if not self.is_known(item):
            self.problems.append(_problem(
                UNKNOWN_SOURCE, "%s: service %s %s %r, which is neither a CIDR nor a host or group of the inventory" % (
                    host, service.name, where, item), host, [service.name], value=item))
            return
        for named in (self.groups[item] if item in self.groups else [item]):
            problem = self.hosts[named].address_error if named in self.hosts else "it is not a host of the inventory"
            if problem:
                self.problems.append(_problem(
                    UNKNOWN_ADDRESS, "%s: service %s %s %r, but %s" % (host, service.name, where, item, problem),
                    host, [service.name], value=named))

    # -- slices ------------------------------------------------------------------------------------------------

    def flow_problems(self):
        return [problem for problem in self.problems if problem["kind"] in FLOW_KINDS]

    def host_rules(self, host):
        """The firewall rules of ``host`` (the module's ``rules`` format, extra
        rules last). Raises PlanError, RegistryError or InventoryError naming why
        none can be made."""
        self.host(host)
        problems = self.flow_problems()
        if problems:
            # Anywhere in the inventory: a flow that cannot be planned drops out, and the server it meant would lose
            # what it has today. No host's rules are made from such a plan.
            raise PlanError("the inventory's flows are wrong, so no rules are made for any host: %s"
                            % "; ".join(problem["message"] for problem in problems))
        if host in self.rule_errors:
            kind, payload = self.rule_errors[host]
            if kind == "registry":
                raise _registry.RegistryError(payload)
            raise InventoryError(payload) if kind == "inventory" else PlanError(payload)
        return [dict(rule) for rule in self.rules[host]]

    def settings(self, host):
        """The host settings of ``host`` (SETTINGS by key). Raises PlanError naming a bad one."""
        plan = self.host(host)
        if plan.setting_errors:
            raise PlanError("; ".join(plan.setting_errors))
        return plan.settings

    def registry(self, host):
        """The validated services of ``host``; RegistryError when invalid."""
        plan = self.host(host)
        if plan.services is None:
            raise _registry.RegistryError(plan.registry_errors)
        return plan.services

    def listener_clashes(self, host, name, proxy=True):
        """Why the registry entry ``name`` of ``host`` cannot be listened on as declared, before a role installs
        its daemon there (not nginx): the entries it shares a port with on clashing binds (port_conflicts' duplicate
        check), with ``proxy`` (nginx runs on the host, in the proxies group or not) nginx's PROXY_PORTS, and the
        plan's problems that name it. ``[message]``, empty when none; RegistryError for an invalid registry."""
        services = self.registry(host)
        service = next((item for item in services if item.name == name), None)
        if service is None:
            return []
        duplicates = [conflict for conflict in _conflicts.find_duplicates(services) if name in conflict["services"]]
        found = [conflict["message"] for conflict in duplicates]
        if proxy:
            # nginx's own entries too (the daemon is not nginx), unless one on that port was named already.
            shared = set(conflict["port"] for conflict in duplicates if conflict["protocol"] == "tcp")
            found += ["%s is on tcp port %d, where nginx listens on a proxy" % (name, port) for port in PROXY_PORTS
                      if port not in shared and any(start <= port <= end for start, end in service.ranges.get("tcp", ()))]
        found += [problem["message"] for problem in self.problems
                  if problem["host"] == host and name in problem["services"] and problem["kind"] != PROXY_PORT]
        return found

    def proxy_routes(self, proxy, hosts=None):
        """``[{"host", "service" (a Service), "servers": [{"server", ...nginx parameters}]}]``, one per service
        with a domain of ``hosts`` (None: every host), as ``proxy`` reaches them. A host outside the proxies group
        (a role run on it directly) is planned the same way, but no backend's firewall admits it. Raises
        PlanError, or RegistryError for an invalid registry of ``hosts``."""
        hosts = self.names if hosts is None else [self.host(host).name for host in hosts]
        invalid = [message for host in sorted(set(hosts)) for message in self.hosts[host].registry_errors]
        if invalid:
            raise _registry.RegistryError(invalid)
        self.host(proxy, "proxy")
        if proxy in self.routes:
            routes, errors = self.routes[proxy], self.route_errors[proxy]
        else:
            routes, errors, _flows, _problems = self._proxy_plan(proxy)
        wanted = set(hosts)
        errors = [message for message, host in errors if host in wanted]
        if errors:
            raise PlanError(errors[0])
        return [route for route in routes if route["host"] in wanted]


def _refuse(problems, kind, message, host=None, services=(), **extra):
    """Record a problem of a proxy's plan and stop planning that backend."""
    problem = _problem(kind, message, host, services, **extra)
    if problem not in problems:
        problems.append(problem)
    raise PlanError(message)


def self_proxied(service):
    """Whether a service on a proxy host, published without an upstream, is
    on a port nginx itself listens on: the proxy would proxy to itself."""
    return not service.upstream and service.single_port("tcp") in PROXY_PORTS


def _verdict_rules(rules, policy):
    """``rules`` (the firewall module's format) checked and normalised for the
    verdicts: rules with a ``destination_name`` (resolved on the host at each
    run) are checked but left out, since where they go is not known here."""
    if not isinstance(rules, list):
        raise _rules.RuleError(["rules must be a list, got %s" % _values.type_name(rules)])
    named = set()
    stripped = []
    errors = []
    for index, rule in enumerate(rules):
        if isinstance(rule, dict) and rule.get("destination_name") is not None:
            items = rule["destination_name"] if isinstance(rule["destination_name"], list) else [
                rule["destination_name"]]
            for item in items:
                try:
                    _values.domain(item, "destination_name")
                except _values.BadValue as error:
                    errors.append("rule %d: %s" % (index + 1, error))
            named.add(index)
            rule = dict((key, value) for key, value in rule.items() if key != "destination_name")
        stripped.append(rule)
    try:
        normalized = _rules.normalize_rules(stripped, policy)
    except _rules.RuleError as error:
        errors += error.errors
        normalized = []
    if errors:
        raise _rules.RuleError(errors)
    return [rule for rule in normalized if rule.index not in named]


def _checked_sources(items, what):
    try:
        return _registry.sources(items, what)
    except _values.BadValue as error:
        raise InventoryError(str(error))


def _network_texts(networks):
    return [str(network) for network in sorted(networks, key=lambda net: (net.version, net))]


def literal_sources(items, what):
    """``Plan.sources`` of ``items`` that are all addresses or CIDRs, which
    need no plan (no host or group to resolve): the same sorted network
    texts; None when an item names a host or a group."""
    items = _checked_sources(items, what)
    if not all(_values.looks_like_address(item) for item in items):
        return None
    return _network_texts(set(ipaddress.ip_network(item) for item in items))


# -- the plan of a run -----------------------------------------------------------------------------------------

# Plans built in this process, by fingerprint (the last few: a run has one, a test several).
_MEMORY = {}
_MEMORY_SIZE = 8
CACHE_PREFIX = "portcullis-plan-"


def cached(hostvars, groups, policy=None, cache_dir=None):
    """The plan of the inventory in ``hostvars`` and ``groups``, built once per
    run: kept in this process and, with ``cache_dir`` (the run's own temporary
    directory on the controller, which Ansible removes at the end of the run),
    in a file named after the fingerprint of the inputs, so the worker
    processes of later tasks load it instead of building it again. Inputs that
    changed have another fingerprint: a new plan."""
    inputs, key = _inventory.read_with_fingerprint(hostvars, groups, SETTING_VARIABLES, policy)
    return _plan_for(inputs, key, cache_dir)


def cached_host_rules(hostvars, groups, host, policy=None, cache_dir=None, seen=None):
    """``host``'s rules (``Plan.host_rules``) from the plan of the run, as
    ``cached`` finds it, but from the run's small file of every host's rules
    when the plan is not in this process: a worker asks for one host's rules,
    and need not load the whole plan. ``seen`` maps inventory variables to
    their values as the role on ``host`` sees them (``check_seen``)."""
    inputs, key = _inventory.read_with_fingerprint(hostvars, groups, SETTING_VARIABLES, policy)
    for variable in sorted(seen or {}):
        _inventory.check_seen(inputs, host, variable, seen[variable])
    if key not in _MEMORY and cache_dir and os.path.isdir(cache_dir):
        found = _load_json(os.path.join(cache_dir, CACHE_PREFIX + key + RULES_SUFFIX))
        if found is not None and found.get("fingerprint") == key and host in found["hosts"]:
            kind, payload = found["hosts"][host]
            if kind == "rules":
                return payload
            _raise(kind, payload)
    return _plan_for(inputs, key, cache_dir).host_rules(host)


RULES_SUFFIX = ".rules.json"


def _raise(kind, payload):
    if kind == "registry":
        raise _registry.RegistryError(payload)
    raise InventoryError(payload) if kind == "inventory" else PlanError(payload)


def _rules_slice(plan):
    """Every host's rules or the error that stops them, as plain data."""
    hosts = {}
    for host in plan.names:
        try:
            hosts[host] = ("rules", plan.host_rules(host))
        except _registry.RegistryError as error:
            hosts[host] = ("registry", list(error.errors))
        except InventoryError as error:
            hosts[host] = ("inventory", str(error))
        except PlanError as error:
            hosts[host] = ("plan", str(error))
    return {"fingerprint": plan.fingerprint, "hosts": hosts}


def _plan_for(inputs, key, cache_dir):
    if key in _MEMORY:
        return _MEMORY[key]
    plan = None
    path = os.path.join(cache_dir, CACHE_PREFIX + key) if cache_dir and os.path.isdir(cache_dir) else None
    if path:
        plan = _load(path, key)
        if plan is None:
            plan = _build_once(path, key, inputs)
    if plan is None:
        plan = Plan(inputs)
    if len(_MEMORY) >= _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = plan
    return plan


def _load(path, key):
    try:
        with open(path, "rb") as handle:
            plan = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None
    return plan if isinstance(plan, Plan) and plan.fingerprint == key else None


def _load_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write(path, write):
    """Write a file of the run's cache in one rename (a reader never sees half of it)."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=CACHE_PREFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        if os.path.exists(temporary):
            os.unlink(temporary)


def _build_once(path, key, inputs):
    """Build and store the plan, one process at a time: workers that ask at
    once wait for the first and load its plan."""
    try:
        import fcntl
    except ImportError:  # not on a POSIX controller: each process builds its own
        return None
    try:
        lock = open(path + ".lock", "a")
    except OSError:
        return None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        plan = _load(path, key)
        if plan is not None:
            return plan
        plan = Plan(inputs)
        _write(path + RULES_SUFFIX, lambda stream: stream.write(json.dumps(_rules_slice(plan)).encode("utf-8")))
        _write(path, lambda stream: pickle.dump(plan, stream, protocol=pickle.HIGHEST_PROTOCOL))
        return plan
