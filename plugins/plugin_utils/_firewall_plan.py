# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's firewall rules, from the plan (``_plan``), in the firewall
module's ``rules`` format; the plan calls ``host_rules`` once per host when
it is built, and nothing else makes rules from a registry.

In order: SSH from the host's admin sources; each service that listens on
more than loopback, public ones open to all, internal ones to the sources
the plan's flows into it admit (its ``allow_from``, the clients of its
``connects_to`` dependents, the proxies), each client at the address of the
family the plan chose for the flow; private ones to nobody. A service
published by a container runtime (``publish: dnat``) gets the same rule
twice: on INPUT (the runtime's proxy, loopback and IPv6 paths) and on
FORWARD, where the DNATed connections go. Then an outbound rule
(``direction: out``) for each flow the host starts, to the address the plan
chose, or to the CIDRs and DNS names (``destination_name``, resolved on the
host) outside the inventory. Then the host's extra rules, as given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError


def _sorted_networks(items):
    networks = set(ipaddress.ip_network(item) for item in items)
    return [str(network) for network in sorted(networks, key=lambda net: (net.version, net))]


def _port_rules(ranges):
    """``[(protocol, [ports])]`` for a rule's port and protocol: one rule when
    TCP and UDP share the ports."""
    texts = dict((protocol, [resolver.format_range(item) for item in ranges[protocol]]) for protocol in sorted(ranges))
    if set(texts) == {"tcp", "udp"} and texts["tcp"] == texts["udp"]:
        return [("both", texts["tcp"])]
    return sorted(texts.items())


def _comment(text):
    """A rule comment the firewall module accepts (it is shown in the ruleset)."""
    return text if len(text) <= _rules.COMMENT_MAX else text[:_rules.COMMENT_MAX - 3] + "..."


def host_rules(plan, host):
    """``(rules, normalized, first_extra)`` of ``host``: the rules, the same as
    the firewall module normalises them for verdicts (rules with a
    ``destination_name`` left out), and the index of the first extra rule.
    Raises RegistryError, InventoryError or RuleError naming what stops them."""
    # Imported here: _plan imports this module.
    from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan
    state = plan.hosts[host]
    if state.services is None:
        raise _registry.RegistryError(state.registry_errors)
    if state.setting_errors:
        raise _plan.PlanError("; ".join(state.setting_errors))
    if plan.host_errors.get(host):
        raise InventoryError("; ".join(plan.host_errors[host]))
    settings = state.settings
    clients = {}
    for flow in plan.inbound.get(host, ()):
        if flow.server_service is not None:
            clients.setdefault(flow.server_service, set()).update(str(network) for network in flow.sources)
    rules = []
    if settings["admin_sources"]["networks"]:
        rules.append({"port": settings["ssh_port"], "source": settings["admin_sources"]["networks"],
                      "comment": "ssh from the admin sources"})
    for service in state.services:
        if not service.listens or service.expose == "private" or service.bind.loopback:
            continue
        rule = {"port": service.port, "protocol": service.protocol}
        if not service.bind.wildcard:
            rule["destination"] = service.bind.address
        if service.expose == "public":
            rule["comment"] = "%s public" % service.name
        else:
            sources = _sorted_networks(clients.get(service.name, ()))
            if not sources:
                continue  # internal with nobody allowed: nothing to open
            rule["source"] = sources
            rule["comment"] = "%s internal" % service.name
        rules.append(rule)
        if service.publish == "dnat":
            # The same flow where a container runtime DNATs it (FORWARD, on the port the client sent).
            rules.append(dict(rule, direction="forward"))
    seen = set()
    for flow in plan.outbound.get(host, ()):
        for protocol, ports in _port_rules(flow.ranges):
            why = " (%s)" % flow.comment if flow.comment else ""
            rule = {"direction": "out", "port": ports, "protocol": protocol,
                    "comment": _comment("%s -> %s%s" % (flow.client_service or "nginx", flow.target_label(), why))}
            if flow.networks:
                rule["destination"] = _sorted_networks(flow.networks)
            if flow.names:
                rule["destination_name"] = sorted(flow.names)
            key = repr(sorted(rule.items()))
            if key not in seen:
                seen.add(key)
                rules.append(rule)
    first_extra = len(rules)
    rules += [dict(rule) if isinstance(rule, dict) else rule for rule in settings["extra_rules"]]
    try:
        normalized = _plan._verdict_rules(rules, plan.policy)
    except _rules.RuleError as error:
        raise _rules.RuleError(["%s: %s" % (host, message) for message in error.errors])
    return rules, normalized, first_extra
