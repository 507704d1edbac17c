# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory as the planners read it, on the controller: each host's
registry and its addresses, and host, group and CIDR sources expanded to
networks.

Where a registry must live: the planners read other hosts' registries from
``hostvars``, which hold inventory variables and facts but not a play's
``vars``/``vars_files`` or role and task variables. ``Inventory.registry``
refuses, naming the host and the place to put it, when the registry a role
sees on its own host is not the one ``hostvars`` hold for that host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry

REGISTRY_VARIABLE = "portcullis_services"
# "Not given", as opposed to None ("undefined where the role runs").
UNSET = object()
ADDRESS_VARIABLE = "portcullis_address"


class InventoryError(ValueError):
    pass


class Inventory:
    """``hostvars`` and ``groups`` of a play, read the one way every planner reads them."""

    def __init__(self, hostvars=None, groups=None, registries=None):
        self.hostvars = hostvars or {}
        self.groups = groups or {}
        # Registries read instead of hostvars' (what the audit checked on each host).
        self.overrides = dict(registries or {})

    def with_registries(self, registries):
        """The same inventory, with ``registries`` (host to raw registry) read instead of hostvars'."""
        return Inventory(self.hostvars, self.groups, dict(self.overrides, **registries))

    def hosts(self, hosts):
        """The input hosts, each checked to be in the inventory."""
        if not isinstance(hosts, (list, tuple)):
            raise InventoryError("the input must be a list of inventory hosts, got %r" % (hosts,))
        for host in hosts:
            if host not in self.hostvars:
                raise InventoryError("%r is not a host of the inventory" % (host,))
        return list(hosts)

    def variables(self, host):
        return self.hostvars[host]

    def registry(self, host, seen=UNSET):
        """The raw registry of ``host`` ([] when it has none).

        ``seen`` is ``portcullis_services`` as a role on ``host`` sees it (None
        when undefined there); when it differs from ``hostvars``, the registry
        comes from a place other hosts cannot read, and the plan would differ
        per host: refused, naming where it must be.
        """
        found = self.hostvars[host].get(REGISTRY_VARIABLE) if host in self.hostvars else None
        if host in self.overrides and seen is UNSET:
            return self.overrides[host] or []
        if seen is not UNSET and seen != found:
            raise InventoryError(
                "%s of %s is set where other hosts cannot read it (a play's vars or vars_files, or a role, block or "
                "task variable): the proxy, the audit and the firewall read every host's registry from hostvars. "
                "Define it in the inventory instead: host_vars/%s.yml, group_vars, or the inventory file"
                % (REGISTRY_VARIABLE, host, host))
        return found or []

    def registries(self, hosts):
        return dict((host, self.registry(host)) for host in hosts)

    def addresses(self, host, what):
        """A host's addresses: ``portcullis_address`` (addresses or CIDRs), an IP
        ``ansible_host``, or the gathered default IPv4/IPv6 addresses."""
        if host not in self.hostvars:
            raise InventoryError("%s: %r is neither a CIDR nor a host or group of the inventory" % (what, host))
        variables = self.hostvars[host]
        explicit = variables.get(ADDRESS_VARIABLE)
        if explicit:
            items = explicit if isinstance(explicit, list) else [explicit]
            result = []
            for item in items:
                try:
                    result.append(_values.network(str(item), "%s: %s of %s" % (what, ADDRESS_VARIABLE, host)))
                except _values.BadValue as error:
                    raise InventoryError(str(error))
            return result
        candidate = variables.get("ansible_host", "")
        if _values.looks_like_address(str(candidate)):
            try:
                return [ipaddress.ip_network(_values.address(str(candidate), "ansible_host of %s" % host))]
            except _values.BadValue as error:
                raise InventoryError("%s: %s" % (what, error))
        found = []
        for fact in ("ansible_default_ipv4", "ansible_default_ipv6"):
            address = (variables.get(fact) or {}).get("address")
            if address:
                found.append(ipaddress.ip_network(address))
        if not found:
            raise InventoryError("%s: host %r has no known address: gather its facts in this play or set %s for it"
                                 % (what, host, ADDRESS_VARIABLE))
        return found

    def address(self, host, what):
        """The first address of a host, as an address (a /32 or /128 network's one address)."""
        network = self.addresses(host, what)[0]
        return network.network_address

    def is_known(self, name):
        return name in self.groups or name in self.hostvars

    def sources(self, items, what):
        """Hostnames, group names and CIDRs to sorted network texts, IPv4 first."""
        try:
            items = _registry.sources(items, what)
        except _values.BadValue as error:
            raise InventoryError(str(error))
        networks = set()
        for item in items:
            if _values.looks_like_address(item):
                networks.add(ipaddress.ip_network(item))
            elif item in self.groups:
                for host in self.groups[item]:
                    networks.update(self.addresses(host, what))
            else:
                networks.update(self.addresses(host=item, what=what))
        return [str(network) for network in sorted(networks, key=lambda net: (net.version, net))]
