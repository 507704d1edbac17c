# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the plan over generated inventories: IPv4-only,
IPv6-only and dual-stack hosts (addresses in either order), binds of every
kind, ``connects_to`` hosts, groups and CIDRs, domains with paths, aliases,
redirects, health paths and balanced ``upstream`` lists (inventory names,
inventory addresses, names outside), ``publish``, extra rules and output
drop. For every inventory the audit accepts:

- every planner accepts it: each host's rules (and the firewall module
  normalises and renders them), each proxy's sites (and nginx's
  configuration renders), each vantage's reachability expectations, the
  health targets;
- every upstream server a proxy is sent to at an inventory address is
  admitted there, from that proxy, by the server's own rules, and the
  service listens on that address;
- every flow the registry declares with both sides (a ``connects_to``, a
  proxy's backend) is expected open from its client, at the address the
  plan chose;
- reachability expects exactly what the firewall's own verdict says, for
  both ends, computed here from the rules the firewall module is given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as nginx_config
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit, _proxy_plan, _reachability_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan

HOSTS = ("h0", "h1", "h2", "h3")
GROUPS = {"all": list(HOSTS), "proxies": ["h0"], "apps": ["h1", "h2"], "data": ["h3"]}
OUTSIDER = "192.0.2.50"
OUTSIDER6 = "2001:db8::50"
# Where names outside the inventory resolve for the module (never an inventory address).
EXTERNAL = "198.18.0.1"


def _addresses(number):
    v4, v6 = "10.0.0.%d" % (number + 1), "fd00::%d" % (number + 1)
    return st.sampled_from([[v4], [v6], [v4, v6], [v6, v4], [v4, v6], [v6, v4]])


_PORTS = [4001, 4002, 5432, 8000, 9100, "8100-8105", 6000]
_GROUP_OF = {"h1": "apps", "h2": "apps", "h3": "data"}
_CIDRS = {4: ["10.9.0.0/16", "10.0.0.0/24"], 6: ["fd09::/48", "fd00::/120"]}
_EXTERNAL_DEPENDENCY = st.fixed_dictionaries({
    "to": st.sampled_from(["192.0.2.0/24", "2001:db8::/32", "updates.example.test"]),
    "port": st.sampled_from([443, "http", "5000-5010"])})
_EXTERNAL_UPSTREAMS = ["backend.example.net:8080", "198.51.100.7:80"]
_EXTRA = st.lists(st.sampled_from([
    {"port": 7777, "source": "10.9.0.0/16", "comment": "vendor"},
    {"port": 4001, "action": "drop", "comment": "late drop"},
    {"port": 6001, "comment": "opened by hand"},
    {"direction": "out", "port": 443, "destination": "192.0.2.0/24", "comment": "out by hand"},
    {"direction": "out", "port": 8000, "comment": "out to any"},
]), max_size=2, unique_by=lambda rule: rule["comment"])


def _families(bind, addresses):
    """The families a bind listens on (as the registry reads it: :: is dual-stack)."""
    if bind in ("0.0.0.0", "127.0.0.1") or "." in bind:
        return {4}
    if bind == "::":
        return {4, 6}
    return {6}


@st.composite
def _listener(draw, number, port, addresses):
    """A service's own keys: port, protocol, bind, expose (the relations come later)."""
    entry = {"name": "s%d" % number, "port": port}
    if draw(st.integers(0, 2)) == 0:
        entry["protocol"] = draw(st.sampled_from(["udp", "both"]))
    entry["expose"] = draw(st.sampled_from(["public", "internal", "internal", "internal", "private"]))
    if entry["expose"] == "private":
        if draw(st.booleans()):
            entry["bind"] = draw(st.sampled_from(["127.0.0.1", "::1"]))
    elif draw(st.integers(0, 2)):
        entry["bind"] = draw(st.sampled_from(["0.0.0.0", "::", "::", "127.0.0.1"] + list(addresses)))
    return entry


def _reachable(entry):
    return entry["expose"] != "private" and entry.get("bind") not in ("127.0.0.1", "::1")


@st.composite
def inventories(draw):
    """Hosts and their services first, then the relations between what exists (mostly), so that many
    inventories pass the audit and reach the planners; some relations still point at what cannot be reached."""
    hostvars = {}
    for number, host in enumerate(HOSTS):
        addresses = draw(_addresses(number))
        ports = draw(st.permutations(_PORTS))[:draw(st.integers(0, 3))]
        services = [draw(_listener(index, port, addresses)) for index, port in enumerate(ports)]
        hostvars[host] = {"portcullis_address": addresses, "portcullis_services": services}
    # Who can be reached, and where: (host, service entry).
    targets = [(host, entry) for host in HOSTS for entry in hostvars[host]["portcullis_services"]
               if _reachable(entry) and entry.get("protocol", "tcp") != "udp"]
    for host in HOSTS:
        addresses = hostvars[host]["portcullis_address"]
        for entry in hostvars[host]["portcullis_services"]:
            families = _families(entry.get("bind", "0.0.0.0"), addresses)
            if entry["expose"] == "internal":
                cidrs = [cidr for family in sorted(families) for cidr in _CIDRS[family]]
                entry["allow_from"] = draw(st.lists(st.sampled_from(list(HOSTS) + ["apps", "data"] + cidrs),
                                                    max_size=3, unique=True))
            if draw(st.integers(0, 2)) == 0:
                items = []
                for _index in range(draw(st.integers(1, 2))):
                    if targets and draw(st.integers(0, 3)):
                        server, service = draw(st.sampled_from(targets))
                        name = _GROUP_OF.get(server, server) if draw(st.integers(0, 3)) == 0 else server
                        items.append({"host": name, "service": service["name"]})
                    else:
                        items.append(draw(_EXTERNAL_DEPENDENCY))
                entry["connects_to"] = items
            if (entry.get("protocol", "tcp") != "udp" and not isinstance(entry["port"], str) and _reachable(entry)
                    and draw(st.booleans())):
                entry["domain"] = draw(st.sampled_from(["a.example.test", "b.example.test", "c.example.test"]))
                entry["path"] = draw(st.sampled_from(["/", "/", "/api/"]))
                if draw(st.integers(0, 2)) == 0:
                    choices = list(_EXTERNAL_UPSTREAMS)
                    for server, service in targets:
                        if isinstance(service["port"], int):
                            choices.append("%s:%d" % (server, service["port"]))
                            for address in hostvars[server]["portcullis_address"]:
                                if (":" in address and 6 in _families(service.get("bind", "0.0.0.0"), ())) or (
                                        "." in address and 4 in _families(service.get("bind", "0.0.0.0"), ())):
                                    choices.append(("[%s]:%d" if ":" in address else "%s:%d") % (address,
                                                                                                 service["port"]))
                    entry["upstream"] = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
                if draw(st.integers(0, 3)) == 0:
                    entry["aliases"] = ["www.%s" % entry["domain"]]
                if draw(st.integers(0, 3)) == 0:
                    entry["redirect_from"] = ["old.%s" % entry["domain"]]
                if draw(st.booleans()):
                    entry["health"] = "/health"
            if draw(st.integers(0, 3)) == 0:
                entry["publish"] = "dnat"
        policy = draw(st.sampled_from([None, None, {"output": "drop"}, {"output": "drop", "input": "drop"}]))
        if policy:
            hostvars[host]["portcullis_firewall_policy"] = policy
        extra = draw(_EXTRA)
        if extra:
            hostvars[host]["portcullis_firewall_extra_rules"] = extra
        if draw(st.integers(0, 3)) == 0:
            admin = draw(st.sampled_from([["h0"], ["10.9.0.0/16", "fd09::/48"]]))
            hostvars[host]["portcullis_firewall_admin_sources"] = admin
    return hostvars


class _Runner:
    def which(self, name):
        return "/usr/sbin/" + name


def _module_rules(plan, host):
    """The host's rules as the firewall module normalises them (names resolved on the host)."""
    return _rules.normalize_rules(plan.host_rules(host), plan.policy, resolve=lambda name: [EXTERNAL])


def _accepted(rules, policy, chain, sources, address, port, protocol):
    return any(_rules.verdict(rules, policy, chain, source, address, port, protocol)[0]
               for source in sources if source.version == address.version)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_the_plan_is_one_answer_everywhere(hostvars):
    plan = Plan.of(hostvars, GROUPS)
    report = _audit.audit(plan)
    if report["plan_conflicts"]:
        return  # the audit stops the run here: nothing is enforced
    module_rules = {}
    for host in HOSTS:
        module_rules[host] = _module_rules(plan, host)
        backends.Nftables(_Runner()).render(module_rules[host], plan.settings(host)["policy"], _rules.Defaults())
    sites = _proxy_plan.sites(plan, "h0")
    nginx_config.Renderer(sites).render()
    _proxy_plan.health_targets(plan, "h0")
    policies = dict((host, plan.settings(host)["policy"]) for host in HOSTS)
    addresses = dict((host, plan.hosts[host].addresses) for host in HOSTS)

    # The proxy's upstream at an inventory address is admitted there from the proxy, where the service listens.
    for site in sites:
        for route in site["routes"]:
            for upstream in route["upstreams"]:
                text, _sep, port = upstream["server"].rpartition(":")
                try:
                    address = ipaddress.ip_address(text.strip("[]"))
                except ValueError:
                    continue  # a name outside the inventory: nginx resolves it
                owner = plan.owner_of(address)
                if owner is None or owner == "h0":
                    continue
                assert _accepted(module_rules[owner], policies[owner], "input", addresses["h0"], address, int(port),
                                 "tcp"), (site["domain"], upstream, owner)
                service = next(service for service in plan.registry(owner)
                               if any(start <= int(port) <= end for start, end in service.ranges.get("tcp", ())))
                assert any(address in network for network in plan.service_networks(owner, service)), (upstream, owner)

    expected = {}
    for vantage in HOSTS + (OUTSIDER, OUTSIDER6):
        flows = _reachability_plan.expected_flows(plan, list(HOSTS), vantage, undeclared_ports=[])
        sources = addresses[vantage] if vantage in HOSTS else [ipaddress.ip_address(vantage)]
        for flow in flows:
            if flow["kind"] not in ("public", "allowed", "denied", "admin") or not flow["probe"]:
                continue
            target, address = flow["host"], ipaddress.ip_address(flow["address"])
            inside = _accepted(module_rules[target], policies[target], "input", sources, address, flow["port"],
                               flow["protocol"])
            outside = vantage not in HOSTS or _accepted(module_rules[vantage], policies[vantage], "output", sources,
                                                        address, flow["port"], flow["protocol"])
            assert flow["expect"] == ("open" if inside and outside else "closed"), (vantage, flow)
            expected[(vantage, target, flow["service"], flow["protocol"], flow["address"])] = flow["expect"]

    # What the registry declares with both sides is expected open from its client, where the plan sends it.
    for flow in plan.flows:
        if flow.kind not in ("dependency", "proxy") or flow.local or flow.server_host is None:
            continue
        for protocol in flow.ranges:
            found = expected.get((flow.client_host, flow.server_host, flow.server_service, protocol))
            if found is None:
                continue  # a range: not probed
            assert found == (str(flow.address.network_address), "open"), (flow, protocol, found)
