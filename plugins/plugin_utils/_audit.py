# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory-wide audit behind the port map, on the controller: every
host's registry with its live status, the conflicts only visible across
hosts, what could not be checked, and how full each policy range is.

``audit_inventory`` reads each host's registry, live listeners (from
listening_ports) and host conflicts (from port_conflicts), or what
host_facts read of its ports, out of hostvars; ``audit`` does the work on
plain data, checking a host_facts read by port_conflicts' rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts, _host_read
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _graph
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError

# Kinds that are errors in the plan itself; live drift (occupied, exposure, undeclared) is reported, not an error.
PLAN_KINDS = ("invalid", "duplicate", "out_of_range", "ephemeral", "proxy_plan") + _plan.KINDS


def _ports_text(ranges):
    return ", ".join(resolver.format_range(item) for item in ranges)


_PID = _values.pattern(r" \(pid [0-9]+\)")


def _conflict(kind, message, **extra):
    result = {"kind": kind, "message": message}
    result.update(extra)
    return result


def audit_inventory(plan, hostvars, hosts, listening_var="portcullis_audit_live", check_var="portcullis_audit_check",
                    health=None, listeners=None, read_var=None):
    """The audit of ``hosts`` (the play's) against the inventory's plan,
    with what each host's tasks found, read from ``hostvars``:
    ``listening_var`` (a variable name, or a list of them of which the first
    a host defines counts: listeners, or a result holding ``listening``) and
    ``check_var`` (a port_conflicts result); ``health`` is the registered
    result of the health requests (a loop whose items are health targets
    with the ``proxy`` that asked); ``listeners`` maps hosts to listeners
    read for the report, ahead of the variables. ``read_var`` names a
    host_facts result: a host without a port_conflicts result is checked
    here from its ``ports`` (listeners last of all, after ``listening_var``).
    Every other inventory host with a registry counts for the checks across
    hosts."""
    names = [listening_var] if isinstance(listening_var, str) else list(listening_var or [])
    live = {}
    for host in hosts:
        plan.host(host)
        variables = hostvars[host]
        found = (listeners or {}).get(host)
        if found is None:
            found = next((variables[name] for name in names if _has_listeners(variables, name)), None)
        if isinstance(found, dict):  # a registered listening_ports, port_conflicts or port_metrics result
            found = found.get("listening")
        check = variables[check_var] if check_var in variables else None
        checked = isinstance(check, dict) and "conflicts" in check
        read = variables[read_var] if read_var and read_var in variables else None
        ports = read.get("ports") if isinstance(read, dict) and not checked else None
        if not isinstance(ports, dict):
            ports = None
        if found is None and ports is not None:
            found = ports.get("listening")
        live[host] = {
            "listening": found,
            # None: not checked on the host, so the registry is checked here instead.
            "conflicts": check.get("conflicts") if checked else None,
            "unknown": check.get("unknown") if isinstance(check, dict) else None,
            # What host_facts read, for the checks port_conflicts would have made on the host.
            "ports": ports,
        }
    answers = []
    for answer in (health or {}).get("results", []) if isinstance(health, dict) else []:
        target = answer.get("item") if isinstance(answer, dict) else None
        if isinstance(target, dict):
            status, detail = _proxy_plan.health_status(answer)
            answers.append(dict(target, status=status, detail=detail))
    return audit(plan, live, health=answers)


def _has_listeners(variables, name):
    """Whether ``name`` holds listeners in ``variables``: a list, or a result holding ``listening``."""
    if name not in variables or variables[name] is None:
        return False
    value = variables[name]
    return not isinstance(value, dict) or value.get("listening") is not None


def audit(plan, live=None, health=()):
    """The port map of the inventory's plan. ``live`` maps a host checked in
    this run to ``listening`` (listening_ports), ``conflicts`` and
    ``unknown`` (port_conflicts); hosts not in it are not checked (their
    registry alone counts). ``health`` holds what the proxies found asking
    each backend's health path. Returns hosts with rows, conflicts,
    unknowns, the range table and the dependency graph (``graph``, and drawn
    as ``mermaid`` and ``svg``)."""
    live = live or {}
    report = {"hosts": [], "conflicts": [], "ranges": [], "unknown": []}
    checks = {}
    for item in health:
        checks.setdefault((item.get("host"), item.get("service")), []).append(item)
    edges = [flow for flow in plan.flows if flow.kind in ("dependency", "proxy")]
    flows_out, flows_in = {}, {}
    for edge in edges:
        flows_out.setdefault((edge.client_host, edge.client_service), []).append(
            "%s %s" % (edge.target_label(), edge.ports_text()))
        if edge.server_host is not None:
            flows_in.setdefault((edge.server_host, edge.server_service), []).append(edge.client_label())
    validated = {}
    for host in plan.names:
        state = plan.hosts[host]
        if host not in live and not state.registry:
            continue
        data = live.get(host) or {}
        checked = data.get("listening") is not None
        entry = {"name": host, "checked": checked, "rows": [], "conflicts": []}
        if state.services is None:
            for message in state.registry_errors:
                entry["conflicts"].append(_conflict("invalid", message, host=host))
            report["hosts"].append(entry)
            continue
        services = state.services
        ports = data.get("ports")
        if ports is not None and ports.get("bindv6only"):
            # The host's IPv6 sockets accept IPv6 only: a '::' bind does not cover IPv4 there.
            services = _registry.validate(state.registry, plan.policy, True)
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
                # The policy range it must fall in, with its ports: "proxies 8000-8999".
                "range": "%s %s" % (service.range_name, resolver.format_range(plan.policy[service.range_name]))
                         if service.range_name else "",
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
        found_live, live_unknown = _conflicts.check_live(services, listeners) if checked else ([], [])
        for conflict in found_live:
            if conflict["kind"] == "undeclared":
                entry["rows"].append({
                    "port": str(conflict["port"]), "protocol": conflict["protocol"], "service": "",
                    "bind": conflict.get("address", ""), "environment": "", "range": "", "domain": "", "expose": "",
                    "allow_from": "",
                    "clients": "", "connects_to": "", "health": "",
                    "status": "undeclared", "processes": [conflict.get("process") or "unknown process"],
                    "detail": "", "first_port": conflict["port"],
                })
        if data.get("conflicts") is None and ports is not None:
            # Read on the host (host_facts), checked here by port_conflicts' own rules (the live ones above).
            host_conflicts = _host_read.verdict(services, plan.policy, ports, live=False)[0]
        elif data.get("conflicts") is None:
            # Not checked on the host in this run: what the registry alone shows.
            host_conflicts = _host_read.verdict(services, plan.policy, {}, live=False)[0]
        else:
            host_conflicts = [item for item in data["conflicts"] if item.get("kind") not in _conflicts.LISTENER_KINDS]
        for conflict in host_conflicts + found_live:
            # No pids: the map changes when the plan or the hosts do, not when a process restarts.
            message = _PID.sub("", str(conflict.get("message", conflict.get("kind"))))
            entry["conflicts"].append(dict(conflict, host=host, message="%s: %s" % (host, message)))
        if data.get("unknown") is not None:
            unknown = data["unknown"]
        elif ports is not None:
            unknown = list(ports.get("unknown") or []) + live_unknown
        else:
            unknown = live_unknown
        seen = set()
        for item in unknown:
            message = "%s: %s" % (host, _PID.sub("", str(item.get("message"))))
            if message not in seen:
                seen.add(message)
                report["unknown"].append(dict(item, host=host, message=message))
        entry["rows"].sort(key=lambda row: (row["first_port"], row["protocol"], row["service"]))
        report["hosts"].append(entry)
    report["conflicts"] = [_conflict(problem["kind"], problem["message"], **dict(
        (key, value) for key, value in problem.items() if key not in ("kind", "message")))
        for problem in plan.problems]
    if not [item for item in report["conflicts"] if item["kind"] in _PROXY_KINDS]:
        # What is left for the nginx play to refuse (the checks above name the rest more precisely).
        report["conflicts"] += _proxy_plan_problems(plan)
    report["ranges"] = _range_fill(validated, plan.policy)
    report["graph"] = _graph.build(validated, edges)
    report["mermaid"] = _graph.mermaid(report["graph"])
    report["svg"] = _graph.svg(report["graph"])
    all_conflicts = report["conflicts"] + [item for entry in report["hosts"] for item in entry["conflicts"]]
    report["plan_conflicts"] = [item for item in all_conflicts if item["kind"] in PLAN_KINDS]
    report["drift"] = [item for item in all_conflicts if item["kind"] not in PLAN_KINDS]
    return report


# Kinds found across hosts that the proxies' plan would also refuse.
_PROXY_KINDS = (_plan.DUPLICATE_DOMAIN, _plan.SELF_PROXY, _plan.UNREACHABLE_UPSTREAM, _plan.UNKNOWN_SOURCE,
                _plan.UNKNOWN_ADDRESS, _plan.ADDRESS_FAMILY)


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


def _proxy_plan_problems(plan):
    """What the nginx play would refuse, found here first: each proxy's sites
    (routes, aliases, redirects, the values of a whole site)."""
    found = []
    for proxy in sorted(plan.groups.get(_plan.PROXY_GROUP) or ()):
        if proxy not in plan.hosts:
            continue
        try:
            # Rendered too: a word nginx cannot read (a value thousands of characters long) is found here, before
            # any host changes, not by nginx -t at the end of the run.
            _nginx_config.Renderer(_proxy_plan.sites(plan, proxy)).render()
        except (_proxy_plan.ProxyPlanError, _plan.PlanError, InventoryError, _nginx_config.NginxProxyError) as error:
            message = "proxy %s: %s" % (proxy, error)
            # Once for all proxies.
            if message.split(": ", 1)[1] not in [item["message"].split(": ", 1)[1] for item in found]:
                found.append(_conflict("proxy_plan", message, host=proxy))
        except _registry.RegistryError:
            continue  # each host's invalid registry is reported as such
    return found


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
