# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory-wide audit behind the port map, on the controller: every
host's registry with its live status, the conflicts only visible across
hosts, what could not be checked, and how full each policy range is.

``audit_inventory`` reads each host's registry, live listeners (from
listening_ports) and host conflicts (from port_conflicts) out of hostvars;
``audit`` does the work on plain data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _dependencies
from ansible_collections.portcullis.ports.plugins.plugin_utils import _graph
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError

# Kinds that are errors in the plan itself; live drift (occupied, exposure, undeclared) is reported, not an error.
PLAN_KINDS = ("invalid", "duplicate", "out_of_range", "ephemeral", "unknown_source", "unknown_address", "duplicate_domain",
              "shared_public_port", "unreachable_upstream", "self_proxy", "proxy_plan") + _dependencies.KINDS


def _ports_text(ranges):
    return ", ".join(resolver.format_range(item) for item in ranges)


_PID = _values.pattern(r" \(pid [0-9]+\)")


def _conflict(kind, message, **extra):
    result = {"kind": kind, "message": message}
    result.update(extra)
    return result


def audit_inventory(inventory, hosts, policy=None, listening_var="portcullis_audit_live",
                    check_var="portcullis_audit_check", services_var="portcullis_audit_registry",
                    seen_var="portcullis_audit_seen", health_var="portcullis_audit_health_answers"):
    """The audit of ``hosts`` from hostvars: ``services_var`` (the registry the
    audit checked), ``listening_var`` (listeners or a listening_ports result),
    ``check_var`` (a port_conflicts result), and ``seen_var`` (the host's
    ``portcullis_services`` as the role saw it, checked against hostvars),
    and on the proxies ``health_var`` (the registered health requests).
    Every other inventory host with a registry counts for the checks across
    hosts."""
    data = {}
    for host in hosts:
        variables = inventory.variables(host)
        if seen_var in variables:
            inventory.registry(host, variables.get(seen_var))
        live = variables.get(listening_var)
        if isinstance(live, dict):  # a registered listening_ports result
            live = live.get("listening")
        check = variables.get(check_var)
        services = variables.get(services_var)
        data[host] = {
            "services": (services if services is not None else inventory.registry(host)) or [],
            "listening": live,
            # None: not checked on the host, so the registry is checked here instead.
            "conflicts": check.get("conflicts") if isinstance(check, dict) and "conflicts" in check else None,
            "unknown": check.get("unknown") if isinstance(check, dict) else None,
        }
    # Hosts outside this run (--limit) still count for the checks across hosts.
    for host in inventory.hostvars.keys():
        if host not in data and inventory.registry(host):
            data[host] = {"services": inventory.registry(host), "listening": None, "conflicts": None}
    health = []
    for host in hosts:
        answers = inventory.variables(host).get(health_var)
        for answer in (answers or {}).get("results", []) if isinstance(answers, dict) else []:
            target = answer.get("item") if isinstance(answer, dict) else None
            if isinstance(target, dict):
                status, detail = _proxy_plan.health_status(answer)
                health.append(dict(target, proxy=host, status=status, detail=detail))
    return audit(data, policy, inventory, health=health)


def audit(hosts, policy=None, inventory=None, proxy_group=_proxy_plan.PROXY_GROUP, health=()):
    """``hosts`` maps a host name to a mapping with ``services`` (the registry),
    and when the host was checked in this run ``listening`` (listening_ports),
    ``conflicts`` and ``unknown`` (port_conflicts). ``inventory`` (an
    Inventory) gives groups and addresses for the checks across hosts; the
    hosts of ``proxy_group`` are the reverse proxies that publish domains;
    ``health`` holds what they found asking each backend's health path.
    Returns hosts with rows, conflicts, unknowns, the range table and the
    dependency graph (``graph``, and drawn as ``mermaid`` and ``svg``)."""
    full_policy = resolver.build_policy(policy)
    report = {"hosts": [], "conflicts": [], "ranges": [], "unknown": []}
    edges, dependency_problems = [], []
    if inventory is not None:
        overrides = dict((host, (hosts[host] or {}).get("services") or []) for host in hosts)
        edges, dependency_problems = _dependencies.plan(inventory, full_policy, proxy_group, overrides=overrides)
    checks = {}
    for item in health:
        checks.setdefault((item.get("host"), item.get("service")), []).append(item)
    flows_out, flows_in = {}, {}
    for edge in edges:
        flows_out.setdefault((edge.client_host, edge.client_service), []).append(
            "%s %s" % (edge.target_label(), edge.ports_text()))
        if edge.server_host is not None:
            flows_in.setdefault((edge.server_host, edge.server_service), []).append(edge.client_label())
    validated = {}
    for host in sorted(hosts):
        data = hosts[host] or {}
        checked = data.get("listening") is not None
        entry = {"name": host, "checked": checked, "rows": [], "conflicts": []}
        try:
            services = _registry.validate(data.get("services") or [], full_policy)
        except _registry.RegistryError as error:
            for message in error.errors:
                entry["conflicts"].append(_conflict("invalid", "%s: %s" % (host, message), host=host))
            report["hosts"].append(entry)
            continue
        validated[host] = services
        listeners = data.get("listening") or []
        for service in services:
            if not service.listens:
                status, processes, detail = "client", [], ""
            elif checked:
                status, processes, detail = _conflicts.live_status(service, listeners)
            else:
                status, processes, detail = "not checked", [], ""
            entry["rows"].append({
                "port": service.ports_text(),
                "protocol": "/".join(sorted(service.ranges)),
                "service": service.name,
                "bind": service.bind.address if service.listens else "",
                "environment": service.environment or "",
                "domain": (service.domain or "") + (service.path if service.domain and service.path != "/" else ""),
                "expose": service.expose if service.listens else "",
                "allow_from": ", ".join(service.allow_from),
                "clients": ", ".join(sorted(set(flows_in.get((host, service.name), [])))),
                "health": _health_text(service, checks.get((host, service.name), [])),
                "connects_to": ", ".join(flows_out.get((host, service.name), [])),
                "status": status,
                "processes": processes,
                "detail": detail,
                "first_port": service.first_port if service.listens else resolver.MAX_PORT + 1,
            })
        # Live drift from the listeners themselves, so the map alone (no port_conflicts run) shows it too.
        live, live_unknown = _conflicts.check_live(services, listeners) if checked else ([], [])
        for conflict in live:
            if conflict["kind"] == "undeclared":
                entry["rows"].append({
                    "port": str(conflict["port"]), "protocol": conflict["protocol"], "service": "",
                    "bind": conflict.get("address", ""), "environment": "", "domain": "", "expose": "", "allow_from": "",
                    "clients": "", "connects_to": "", "health": "",
                    "status": "undeclared", "processes": [conflict.get("process") or "unknown process"],
                    "detail": "", "first_port": conflict["port"],
                })
        if data.get("conflicts") is None:
            # Not checked on the host in this run: what the registry alone shows.
            host_conflicts = _conflicts.find_conflicts(services, full_policy)[0]
        else:
            host_conflicts = [item for item in data["conflicts"] if item.get("kind") not in _conflicts.LISTENER_KINDS]
        for conflict in host_conflicts + live:
            # No pids: the map changes when the plan or the hosts do, not when a process restarts.
            message = _PID.sub("", str(conflict.get("message", conflict.get("kind"))))
            entry["conflicts"].append(dict(conflict, host=host, message="%s: %s" % (host, message)))
        unknown = data.get("unknown") if data.get("unknown") is not None else live_unknown
        seen = set()
        for item in unknown:
            message = "%s: %s" % (host, _PID.sub("", str(item.get("message"))))
            if message not in seen:
                seen.add(message)
                report["unknown"].append(dict(item, host=host, message=message))
        entry["rows"].sort(key=lambda row: (row["first_port"], row["protocol"], row["service"]))
        report["hosts"].append(entry)
    report["conflicts"] = _cross_host(validated, inventory, proxy_group) + [
        _conflict(problem["kind"], problem["message"], host=problem["host"], services=problem["services"])
        for problem in dependency_problems]
    if not [item for item in report["conflicts"] if item["kind"] in _PROXY_KINDS]:
        # What is left for the nginx play to refuse (the checks above name the rest more precisely).
        report["conflicts"] += _proxy_plan_problems(
            validated, inventory.with_registries(dict((host, (hosts[host] or {}).get("services") or []) for host in hosts))
            if inventory is not None else None, proxy_group, full_policy)
    report["ranges"] = _range_fill(validated, full_policy)
    report["graph"] = _graph.build(validated, edges)
    report["mermaid"] = _graph.mermaid(report["graph"])
    report["svg"] = _graph.svg(report["graph"])
    all_conflicts = report["conflicts"] + [item for entry in report["hosts"] for item in entry["conflicts"]]
    report["plan_conflicts"] = [item for item in all_conflicts if item["kind"] in PLAN_KINDS]
    report["drift"] = [item for item in all_conflicts if item["kind"] not in PLAN_KINDS]
    return report


def _cross_host(validated, inventory, proxy_group):
    conflicts = []
    domains = {}
    public = {}
    proxies = set(inventory.groups.get(proxy_group) or ()) if inventory is not None else set()
    for host in sorted(validated):
        for service in validated[host]:
            sources = [("allows", item) for item in service.allow_from]
            sources += [("proxy %s" % key, item) for key in ("allow", "deny") for item in service.proxy.get(key, ())]
            for where, item in sources:
                if inventory is None or _values.looks_like_address(item):
                    continue
                if not inventory.is_known(item):
                    conflicts.append(_conflict(
                        "unknown_source", "%s: service %s %s %r, which is neither a CIDR nor a host or group of the "
                        "inventory" % (host, service.name, where, item), host=host, services=[service.name], value=item))
                    continue
                for named in (inventory.groups[item] if item in inventory.groups else [item]):
                    problem = _address_problem(inventory, named)
                    if problem:
                        conflicts.append(_conflict(
                            "unknown_address", "%s: service %s %s %r, but %s" % (host, service.name, where, item, problem),
                            host=host, services=[service.name], value=named))
            if service.domain:
                domains.setdefault((service.domain, service.path), []).append((host, service.name))
                if host in proxies and _proxy_plan.self_proxied(service):
                    conflicts.append(_conflict(
                        "self_proxy", "%s: service %s (%s) is on port %d of a proxy, where nginx listens itself, so the "
                        "site would proxy to itself; give the backend as upstream" % (
                            host, service.name, service.domain, service.single_port("tcp")),
                        host=host, services=[service.name]))
                if proxies and host not in proxies and not service.upstream and service.bind.wildcard:
                    problem = _address_problem(inventory, host)
                    if problem:
                        conflicts.append(_conflict(
                            "unknown_address", "%s: service %s (%s) is published by the proxies, but %s" % (
                                host, service.name, service.domain, problem), host=host, services=[service.name]))
                if proxies and host not in proxies and service.bind.loopback and not service.upstream:
                    conflicts.append(_conflict(
                        "unreachable_upstream", "%s: service %s (%s) listens on %s only, which the proxies (%s) cannot "
                        "reach; bind it to an address they reach, or give upstream" % (
                            host, service.name, service.domain, service.bind.address, ", ".join(sorted(proxies))),
                        host=host, services=[service.name]))
            if service.expose == "public":
                for address in _public_addresses(host, service, inventory):
                    for protocol, ranges in service.ranges.items():
                        for start, end in ranges:
                            public.setdefault((address, protocol), []).append((start, end, host, service.name))
    for domain, path in sorted(domains):
        owners = domains[(domain, path)]
        if len(owners) > 1:
            conflicts.append(_conflict(
                "duplicate_domain", "domain %s%s is published by %s" % (
                    domain, " path %s" % path if path != _registry.ROOT_PATH else "",
                    " and ".join("%s service %s" % owner for owner in owners)),
                domain=domain, path=path, owners=["%s/%s" % owner for owner in owners]))
    for (address, protocol) in sorted(public):
        claims = sorted(public[(address, protocol)])
        for position, (start, end, host, name) in enumerate(claims):
            for other_start, other_end, other_host, other_name in claims[position + 1:]:
                if other_host != host and other_start <= end and start <= other_end:
                    owners = sorted([(host, name), (other_host, other_name)])
                    conflicts.append(_conflict(
                        "shared_public_port", "%s %s port %s is claimed as public by %s service %s and %s service %s" % (
                            address, protocol, resolver.format_range((max(start, other_start), min(end, other_end))),
                            owners[0][0], owners[0][1], owners[1][0], owners[1][1]),
                        address=address, protocol=protocol, owners=["%s/%s" % owner for owner in owners]))
    return conflicts


# Kinds found across hosts that the proxies' plan would also refuse.
_PROXY_KINDS = ("duplicate_domain", "self_proxy", "unreachable_upstream", "unknown_source", "unknown_address")


def _health_text(service, checks):
    """The health column: each proxy's answer from each backend server."""
    if not service.health:
        return ""
    if not checks:
        return "%s not checked" % service.health

    def listed(status):
        return "; ".join(sorted("%s from %s: %s" % (item.get("server"), item.get("proxy"), item.get("detail"))
                                for item in checks if item.get("status") == status))

    if any(item.get("status") == "failing" for item in checks):
        return "%s failing (%s)" % (service.health, listed("failing"))
    if any(item.get("status") != "ok" for item in checks):
        # A check that could not be made is not a pass.
        return "%s unknown (%s)" % (service.health, listed("unknown"))
    return "%s ok" % service.health


def _proxy_plan_problems(validated, inventory, proxy_group, full_policy):
    """What the nginx play would refuse, found here first: the proxies' plan
    of every site (routes, aliases, redirects, the values of a whole site)."""
    if inventory is None:
        return []
    found = []
    for proxy in sorted(inventory.groups.get(proxy_group) or ()):
        try:
            _proxy_plan.sites_from_registry(inventory, sorted(validated), proxy, policy=full_policy)
        except (_proxy_plan.ProxyPlanError, InventoryError) as error:
            message = "proxy %s: %s" % (proxy, error)
            # Once for all proxies.
            if message.split(": ", 1)[1] not in [item["message"].split(": ", 1)[1] for item in found]:
                found.append(_conflict("proxy_plan", message, host=proxy))
        except _registry.RegistryError:
            continue  # each host's invalid registry is reported as such
    return found


def _address_problem(inventory, host):
    """Why the planners could not find an address for ``host``, or None."""
    try:
        inventory.addresses(host, "host %s" % host)
    except InventoryError as error:
        return str(error).split(": ", 1)[-1]
    return None


def _public_addresses(host, service, inventory):
    if not service.bind.wildcard:
        return [] if service.bind.loopback else [service.bind.address]
    if inventory is None:
        return []
    try:
        found = inventory.addresses(host, "public port check")
    except InventoryError:
        return []  # no known address: nothing to compare
    # Hosts reached through a forwarded loopback port share nothing.
    return [str(network.network_address) for network in found if not network.network_address.is_loopback]


def _range_fill(validated, full_policy):
    claims = []
    for host in validated:
        for service in validated[host]:
            for ranges in service.ranges.values():
                claims.extend((start, end, "%s/%s" % (host, service.name)) for start, end in ranges)
    table = []
    for name, (low, high) in sorted(full_policy.items(), key=lambda item: (item[1][0], item[1][1], item[0])):
        inside = [(max(start, low), min(end, high), owner) for start, end, owner in claims if start <= high and low <= end]
        used = sum(end - start + 1 for start, end in resolver.merge_ranges([(start, end) for start, end, _owner in inside]))
        size = high - low + 1
        table.append({
            "name": name, "range": resolver.format_range((low, high)), "size": size, "used": used,
            "percent": round(100.0 * used / size, 2), "services": sorted(set(owner for _start, _end, owner in inside)),
        })
    return table
