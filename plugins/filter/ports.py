# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's filters: thin wrappers that turn errors into
AnsibleFilterError naming the filter. The work is in module_utils/ports
(resolver, registry model) and plugin_utils (planning over the inventory);
documentation is in the sidecar YAML file named after each filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleFilterError

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _apply as _metrics_apply
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _edge
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _adopt
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils import _inventory as _inventory_mod
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _play_keywords
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _reachability_plan

SYNTAXES = ("list", "nft", "iptables", "firewalld")
_PLAN_ERRORS = (_registry.RegistryError, _inventory_mod.InventoryError, _proxy_plan.ProxyPlanError, resolver.PortSpecError,
                _values.BadValue, _plan.PlanError, _reachability_plan.ReachabilityPlanError, _rules.RuleError,
                _adopt.AdoptError)
UNSET = _inventory_mod.UNSET
# The nginx_proxy role's variable that names the registry entry mtail listens on (edge_exporter's service).
EDGE_SERVICE_VARIABLE = "portcullis_nginx_edge_exporter_service"


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


def _run_directory():
    """The run's own temporary directory on the controller (removed when the run ends), where the plan is cached
    for the worker processes of later tasks; None outside a run."""
    try:
        from ansible import constants
    except ImportError:
        return None
    return getattr(constants, "DEFAULT_LOCAL_TMP", None)


def network_plan(hostvars, groups, policy=None):
    """The inventory's plan, built once per run (``_plan.cached``)."""
    if hostvars is None:
        raise _inventory_mod.InventoryError("hostvars=hostvars is required: the plan is made from every host's "
                                            "inventory variables")
    return _plan.cached(hostvars, groups, policy, _run_directory())


def firewall_rules(host, hostvars=None, groups=None, policy=None, seen=None):
    try:
        if hostvars is None:
            raise _inventory_mod.InventoryError("hostvars=hostvars is required: the plan is made from every host's "
                                                "inventory variables")
        if seen is not None and not isinstance(seen, dict):
            raise _inventory_mod.InventoryError("seen must be a mapping of variable names to values, got %s"
                                                % _values.describe(seen))
        return _plan.cached_host_rules(hostvars, groups, host, policy, _run_directory(), seen)
    except _PLAN_ERRORS as error:
        raise _filter_error("firewall_rules", error)


def proxy_sites(hosts, hostvars=None, groups=None, proxy_host=None, defaults=None, certificate_dir="/etc/ssl/portcullis",
                certbot=False, certbot_ready=None, policy=None, services=UNSET):
    try:
        plan = network_plan(hostvars, groups, policy)
        if services is not UNSET:
            plan.check_seen(proxy_host, _inventory_mod.REGISTRY_VARIABLE, services)
        return _proxy_plan.sites(plan, proxy_host, defaults, certificate_dir, certbot, certbot_ready or [],
                                 hosts=_hosts(plan, hosts))
    except _PLAN_ERRORS as error:
        raise _filter_error("proxy_sites", error)


def _hosts(plan, hosts):
    """The input hosts, each checked to be in the inventory."""
    if not isinstance(hosts, (list, tuple)):
        raise _inventory_mod.InventoryError("the input must be a list of inventory hosts, got %s"
                                            % _values.describe(hosts))
    for host in hosts:
        plan.host(host)
    return list(hosts)


def health_targets(hosts, hostvars=None, groups=None, proxy_host=None, policy=None):
    proxies = proxy_host if isinstance(proxy_host, (list, tuple)) else [proxy_host]
    group = (groups or {}).get(_plan.PROXY_GROUP) or ()
    if not any(proxy in group for proxy in proxies):
        return []  # no proxy asks: the plan is not needed
    try:
        plan = network_plan(hostvars, groups, policy)
        targets = []
        for proxy in proxies:
            targets += [dict(target, proxy=proxy) for target in _proxy_plan.health_targets(plan, proxy, _hosts(plan, hosts))]
        return targets
    except _PLAN_ERRORS as error:
        raise _filter_error("health_targets", error)


def edge_exporter(sites, hostvars=None, groups=None, proxy_host=None, service="mtail", buckets=None, policy=None,
                  latency_p95=None, log=None, program=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        if not isinstance(sites, list) or not all(isinstance(site, dict) and "domain" in site for site in sites):
            raise _edge.EdgeMetricsError("the input must be the proxy's sites (proxy_sites), got %s"
                                         % _values.describe(sites))
        option = "the exporter service (%s)" % EDGE_SERVICE_VARIABLE
        listen = _metrics_apply.exporter_listen(plan.registry(proxy_host), service, exporter="mtail",
                                                option=option, example_port=3903)
        clashes = plan.listener_clashes(proxy_host, service)
        if clashes:
            raise _edge.EdgeMetricsError(
                "%s: mtail could not listen where the registry entry %s of %s declares it: %s; give mtail a port "
                "of its own (its default is 3903)" % (option, service, proxy_host, "; ".join(clashes)))
        address, _sep, port = listen.rpartition(":")
        address, port = address.strip("[]"), int(port)
        facts = hostvars[proxy_host].get("ansible_facts") if proxy_host in hostvars else None
        _edge.check_listen_address(address, proxy_host, facts)
        buckets = _edge.DEFAULT_BUCKETS if buckets is None else buckets
        if latency_p95 is not None:
            _edge.check_threshold(latency_p95, buckets)
        result = {"program": _edge.program(sites, buckets), "address": address, "port": port,
                  "routes": [{"domain": domain, "path": path, "service": name}
                             for domain, path, name in _edge.routes(sites)]}
        if log is not None or program is not None:
            result["environment"] = _edge.environment(address, port, log, program, service, proxy_host)
        return result
    except _PLAN_ERRORS + (_edge.EdgeMetricsError, _metrics_apply.MetricsError) as error:
        raise _filter_error("edge_exporter", error)


def port_map(hosts, hostvars=None, groups=None, policy=None, listening_var="portcullis_audit_live",
             check_var="portcullis_audit_check", seen_var="portcullis_audit_check", health=None, listeners=None,
             read_var=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        hosts = _hosts(plan, hosts)
        for host in hosts:
            variables = hostvars[host]
            if seen_var in variables:
                seen = variables[seen_var]
                if isinstance(seen, dict):  # a port_conflicts result: the registry it checked
                    if "registry" not in seen:
                        continue
                    seen = seen["registry"]
                plan.check_seen(host, _inventory_mod.REGISTRY_VARIABLE, seen, "port map")
        if listeners is not None and not isinstance(listeners, dict):
            raise _inventory_mod.InventoryError("listeners must be a mapping of hosts to their listeners, got %s"
                                                % _values.describe(listeners))
        return _audit.audit_inventory(plan, hostvars, hosts, listening_var, check_var, health, listeners, read_var)
    except _PLAN_ERRORS as error:
        raise _filter_error("port_map", error)


def ssh_endpoint(services, default_port=_registry.DEFAULT_SSH_PORT, hostvars=None, groups=None):
    try:
        endpoint = _registry.ssh_endpoint(services, default_port)
        if hostvars is not None:
            # Addresses and CIDRs alone need no plan (the inventory is not read); a host or group name does.
            sources = _plan.literal_sources(endpoint["allow_from"], "ssh allow_from")
            endpoint["sources"] = sources if sources is not None else network_plan(hostvars, groups).sources(
                endpoint["allow_from"], "ssh allow_from")
        return endpoint
    except _PLAN_ERRORS as error:
        raise _filter_error("ssh_endpoint", error)


def reachability_flows(hosts, hostvars=None, groups=None, vantage=None, undeclared_ports=None, closed_ports=None,
                       policy=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        return _reachability_plan.expected_flows(plan, _hosts(plan, hosts), vantage, undeclared_ports, closed_ports)
    except _PLAN_ERRORS as error:
        raise _filter_error("reachability_flows", error)


def inventory_addresses(hosts, hostvars=None, groups=None):
    try:
        plan = network_plan(hostvars, groups)
        return plan.sources(_hosts(plan, hosts), "inventory_addresses")
    except _PLAN_ERRORS as error:
        raise _filter_error("inventory_addresses", error)


def registry_draft(discovered, hostvars=None, groups=None, policy=None, window=None, probed=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        drafted = _adopt.draft(plan, discovered, policy, probed)
        return dict((host, _adopt.render(host, drafted[host], window)) for host in drafted)
    except _PLAN_ERRORS as error:
        raise _filter_error("registry_draft", error)


def adoption_flows(discovered, probed=None):
    try:
        return _adopt.observed(discovered, probed)
    except _PLAN_ERRORS as error:
        raise _filter_error("adoption_flows", error)


def adoption_cuts(flows, hostvars=None, groups=None, policy=None, accept=False, unknown=None, discovered=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        if unknown is not None and discovered is None:
            raise _adopt.AdoptError("unknown (adoption_probed's) goes with discovered (each host's discover result): "
                                    "the flows the probes could not tell are judged by today's firewall")
        if isinstance(discovered, dict):
            _adopt.check_registries(hostvars, sorted(discovered))
        if unknown is not None and isinstance(flows, list):
            flows = flows + _adopt.unproven(plan, discovered, unknown)
        found = _adopt.accepted_all(_adopt.cuts(plan, flows, discovered), accept)
        return [dict(cut, text=_adopt.cut_text(cut), key=_adopt.cut_key(cut)) for cut in found]
    except _PLAN_ERRORS as error:
        raise _filter_error("adoption_cuts", error)


def adoption_probes(discovered, hostvars=None, groups=None, vantage=None, max_probes=_adopt.PROBE_MAX, policy=None):
    try:
        if not isinstance(max_probes, int) or isinstance(max_probes, bool) or max_probes < 1:
            raise _adopt.AdoptError("max_probes must be a whole number of at least 1, got %s"
                                    % _values.describe(max_probes))
        return _adopt.probe_flows(network_plan(hostvars, groups, policy), discovered, vantage, max_probes)
    except _PLAN_ERRORS as error:
        raise _filter_error("adoption_probes", error)


def adoption_probed(results, hostvars=None, groups=None, policy=None):
    try:
        return _adopt.probed(network_plan(hostvars, groups, policy), results)
    except _PLAN_ERRORS as error:
        raise _filter_error("adoption_probed", error)


def adoption_map(discovered, hostvars=None, groups=None, policy=None, flows=None, unknown=None, probed=None):
    try:
        plan = network_plan(hostvars, groups, policy)
        drafted = _adopt.draft(plan, discovered, policy, probed)
        inputs = _inventory_mod.read(hostvars, groups, _plan.SETTING_VARIABLES, policy)
        if unknown is not None and not isinstance(unknown, list):
            raise _adopt.AdoptError("unknown must be the list of probes not made (adoption_probed's unknown), got %s"
                                    % _values.describe(unknown))
        return _adopt.draft_map(_adopt.draft_plan(inputs, drafted), discovered, drafted, flows or [], unknown or [])
    except _PLAN_ERRORS as error:
        raise _filter_error("adoption_map", error)


def play_keyword(hosts, variable, hostvars=None, default=None):
    if not isinstance(variable, str) or not variable:
        raise _filter_error("play_keyword", "the variable must be a name, got %r" % (variable,))
    if hostvars is None:
        # A syntax check or a listing templates play keywords without any host's variables: nothing runs.
        return default
    try:
        return _play_keywords.one_value(list(hosts or []), variable, hostvars, default)
    except _play_keywords.PlayKeywordError as error:
        raise _filter_error("play_keyword", error)


def controller_dir(inventory_dir):
    """Where the collection writes on the controller: ``inventory_dir``, or the current directory when the
    inventory has no directory (given inline, ``-i host1,host2,``: Ansible's ``inventory_dir`` is then None, or
    the text 'None' once templated)."""
    if isinstance(inventory_dir, str) and inventory_dir.strip() not in ("", "None"):
        return inventory_dir
    return os.getcwd()


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
            "edge_exporter": edge_exporter,
            "ssh_endpoint": ssh_endpoint,
            "reachability_flows": reachability_flows,
            "inventory_addresses": inventory_addresses,
            "play_keyword": play_keyword,
            "registry_draft": registry_draft,
            "adoption_flows": adoption_flows,
            "adoption_cuts": adoption_cuts,
            "adoption_probes": adoption_probes,
            "adoption_probed": adoption_probed,
            "adoption_map": adoption_map,
            "controller_dir": controller_dir,
        }
