# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the shared port resolver; documentation is in the sidecar
YAML file named after each filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible.errors import AnsibleFilterError

from ansible_collections.portcullis.ports.plugins.module_utils import _port_resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils import _audit
from ansible_collections.portcullis.ports.plugins.module_utils import _nginx_proxy
from ansible_collections.portcullis.ports.plugins.module_utils import _registry_rules

SYNTAXES = ("list", "nft", "iptables", "firewalld")


def _filter_error(name, error):
    return AnsibleFilterError("portcullis.ports.%s: %s" % (name, error))


def service_port(value, protocol=None):
    try:
        return resolver.service_port(value, protocol)
    except resolver.PortSpecError as error:
        raise _filter_error("service_port", error)


def port_range(name, policy=None):
    try:
        return resolver.port_range(name, policy)
    except resolver.PortSpecError as error:
        raise _filter_error("port_range", error)


def port_ranges(values, protocol=None, policy=None):
    try:
        return resolver.port_ranges(values, protocol, policy)
    except resolver.PortSpecError as error:
        raise _filter_error("port_ranges", error)


def port_syntax(values, syntax="list", protocol="tcp", policy=None):
    try:
        if syntax not in SYNTAXES:
            raise resolver.PortSpecError("unknown syntax %r: expected one of %s" % (syntax, ", ".join(SYNTAXES)))
        resolver.check_protocol(protocol)
        ranges = resolver.parse_ranges(resolver.port_ranges(values, protocol, policy))
        if syntax == "nft":
            return resolver.nft_set(ranges)
        if syntax == "iptables":
            return resolver.iptables_multiport(ranges)
        if syntax == "firewalld":
            return resolver.firewalld_ports(ranges, protocol)
        return [resolver.format_range(item) for item in ranges]
    except resolver.PortSpecError as error:
        raise _filter_error("port_syntax", error)


def _ip_literal(value):
    try:
        ipaddress.ip_address(str(value))
        return True
    except ValueError:
        return False


def _host_addresses(hostvars):
    """How the rules find a host's addresses: portcullis_address, an IP
    ansible_host, or the gathered default IPv4/IPv6 addresses."""

    def addresses_of(host, what):
        if host not in hostvars:
            raise _registry_rules.RegistryRuleError("%s: %r is neither a CIDR nor a host or group of the inventory" % (what, host))
        variables = hostvars[host]
        explicit = variables.get("portcullis_address")
        if explicit:
            return explicit if isinstance(explicit, list) else [explicit]
        if _ip_literal(variables.get("ansible_host", "")):
            return [str(variables["ansible_host"])]
        found = []
        for fact in ("ansible_default_ipv4", "ansible_default_ipv6"):
            address = (variables.get(fact) or {}).get("address")
            if address:
                found.append(address)
        if not found:
            raise _registry_rules.RegistryRuleError(
                "%s: host %r has no known address: gather its facts in this play or set portcullis_address for it" % (what, host))
        return found

    return addresses_of


def firewall_rules(services, hostvars=None, groups=None, admin_sources=None, ssh_port=22):
    try:
        return _registry_rules.registry_rules(services, _host_addresses(hostvars or {}), groups or {},
                                              admin_sources, resolver.service_port(ssh_port))
    except (_registry_rules.RegistryRuleError, resolver.PortSpecError) as error:
        raise _filter_error("firewall_rules", error)


def _inventory_variables(name, hosts, hostvars):
    """The input hosts with their variables; a host outside the inventory is named."""
    if not isinstance(hosts, (list, tuple)):
        raise _filter_error(name, "the input must be a list of inventory hosts, got %r" % (hosts,))
    for host in hosts:
        if host not in hostvars:
            raise _filter_error(name, "%r is not a host of the inventory" % (host,))
    return [(host, hostvars[host]) for host in hosts]


def proxy_sites(hosts, hostvars=None, groups=None, proxy_host=None, defaults=None, certificate_dir="/etc/ssl/portcullis",
                certbot=False, certbot_ready=None):
    hostvars = hostvars or {}
    registries = dict((host, variables.get("portcullis_services") or [])
                      for host, variables in _inventory_variables("proxy_sites", hosts, hostvars))
    try:
        return _nginx_proxy.sites_from_registry(registries, proxy_host, _host_addresses(hostvars), groups or {},
                                                defaults, certificate_dir, certbot, certbot_ready or [])
    except (_nginx_proxy.NginxProxyError, _registry_rules.RegistryRuleError) as error:
        raise _filter_error("proxy_sites", error)


def port_map(hosts, hostvars=None, groups=None, policy=None, listening_var="portcullis_audit_live",
             check_var="portcullis_audit_check", services_var="portcullis_audit_registry"):
    hostvars = hostvars or {}
    data = {}
    for host, variables in _inventory_variables("port_map", hosts, hostvars):
        live = variables.get(listening_var)
        if isinstance(live, dict):  # a registered listening_ports result
            live = live.get("listening")
        check = variables.get(check_var)
        services = variables.get(services_var)
        data[host] = {
            "services": (services if services is not None else variables.get("portcullis_services")) or [],
            "listening": live,
            # None: not checked on the host, so the registry is checked here instead.
            "conflicts": check.get("conflicts") if isinstance(check, dict) and "conflicts" in check else None,
        }
    # Hosts outside this run (--limit) still count for the checks across hosts.
    for host in hostvars.keys():
        services = hostvars[host].get("portcullis_services")
        if host not in data and services:
            data[host] = {"services": services, "listening": None, "conflicts": None}
    try:
        return _audit.audit(data, policy, groups or {}, _host_addresses(hostvars), inventory_hosts=list(hostvars.keys()))
    except resolver.PortSpecError as error:
        raise _filter_error("port_map", error)


class FilterModule(object):
    def filters(self):
        return {
            "service_port": service_port,
            "port_range": port_range,
            "port_ranges": port_ranges,
            "port_syntax": port_syntax,
            "firewall_rules": firewall_rules,
            "proxy_sites": proxy_sites,
            "port_map": port_map,
        }
