# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's filters: thin wrappers that turn errors into
AnsibleFilterError naming the filter. The work is in module_utils/ports
(resolver, registry model) and plugin_utils (planning over the inventory);
documentation is in the sidecar YAML file named after each filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils import _firewall_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _inventory as _inventory_mod
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _reachability_plan

SYNTAXES = ("list", "nft", "iptables", "firewalld")
_PLAN_ERRORS = (_registry.RegistryError, _inventory_mod.InventoryError, _proxy_plan.ProxyPlanError, resolver.PortSpecError,
                _values.BadValue, _firewall_plan.FirewallPlanError, _reachability_plan.ReachabilityPlanError)


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


def _inventory(hostvars, groups):
    return _inventory_mod.Inventory(hostvars, groups)


def firewall_rules(services, hostvars=None, groups=None, admin_sources=None, ssh_port=_registry.DEFAULT_SSH_PORT,
                   policy=None, host=None):
    try:
        return _firewall_plan.registry_rules(services, _inventory(hostvars, groups), admin_sources,
                                             resolver.service_port(ssh_port), resolver.build_policy(policy), host)
    except _PLAN_ERRORS as error:
        raise _filter_error("firewall_rules", error)


def proxy_sites(hosts, hostvars=None, groups=None, proxy_host=None, defaults=None, certificate_dir="/etc/ssl/portcullis",
                certbot=False, certbot_ready=None, policy=None, services=_inventory_mod.UNSET):
    inventory = _inventory(hostvars, groups)
    try:
        hosts = inventory.hosts(hosts)
        return _proxy_plan.sites_from_registry(inventory, hosts, proxy_host, defaults, certificate_dir, certbot,
                                               certbot_ready or [], resolver.build_policy(policy), services)
    except _PLAN_ERRORS as error:
        raise _filter_error("proxy_sites", error)


def health_targets(hosts, hostvars=None, groups=None, proxy_host=None, policy=None):
    inventory = _inventory(hostvars, groups)
    try:
        return _proxy_plan.health_targets(inventory, inventory.hosts(hosts), proxy_host, resolver.build_policy(policy))
    except _PLAN_ERRORS as error:
        raise _filter_error("health_targets", error)


def port_map(hosts, hostvars=None, groups=None, policy=None, listening_var="portcullis_audit_live",
             check_var="portcullis_audit_check", services_var="portcullis_audit_registry",
             seen_var="portcullis_audit_seen", health_var="portcullis_audit_health_answers"):
    inventory = _inventory(hostvars, groups)
    try:
        return _audit.audit_inventory(inventory, inventory.hosts(hosts), policy, listening_var, check_var,
                                      services_var, seen_var, health_var)
    except _PLAN_ERRORS as error:
        raise _filter_error("port_map", error)


def ssh_endpoint(services, default_port=_registry.DEFAULT_SSH_PORT, hostvars=None, groups=None):
    try:
        endpoint = _registry.ssh_endpoint(services, default_port)
        if hostvars is not None:
            endpoint["sources"] = _inventory(hostvars, groups).sources(endpoint["allow_from"], "ssh allow_from")
        return endpoint
    except _PLAN_ERRORS as error:
        raise _filter_error("ssh_endpoint", error)


def reachability_flows(hosts, hostvars=None, groups=None, vantage=None, admin_sources=None, undeclared_ports=None,
                       closed_ports=None, policy=None):
    inventory = _inventory(hostvars, groups)
    try:
        return _reachability_plan.expected_flows(inventory, inventory.hosts(hosts), vantage, resolver.build_policy(policy),
                                                 admin_sources, undeclared_ports, closed_ports)
    except _PLAN_ERRORS as error:
        raise _filter_error("reachability_flows", error)


def inventory_addresses(hosts, hostvars=None, groups=None):
    inventory = _inventory(hostvars, groups)
    try:
        return inventory.sources(inventory.hosts(hosts), "inventory_addresses")
    except _PLAN_ERRORS as error:
        raise _filter_error("inventory_addresses", error)


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
            "health_targets": health_targets,
            "ssh_endpoint": ssh_endpoint,
            "reachability_flows": reachability_flows,
            "inventory_addresses": inventory_addresses,
        }
