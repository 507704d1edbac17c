# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall rules as data: validation of the module's input into normalised
rules (ports resolved, addresses split by family), and the check that a new
SSH connection would still be let in.

Plain Python, no Ansible import: both backends render from these rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

RULE_KEYS = ("port", "protocol", "source", "destination", "destination_name", "direction", "action", "rate_limit", "log",
             "comment")
PROTOCOLS = ("tcp", "udp", "both", "icmp")
# forward: connections the host DNATs to a container (Docker's published
# ports), matched on the destination port and address the client sent.
DIRECTIONS = {"in": "input", "out": "output", "forward": "forward"}
ACTIONS = ("accept", "drop", "reject")
# dnat: connections DNATed to a container (published ports) that no forward
# rule accepts; containers' own forwarded traffic follows "forward".
POLICY_CHAINS = ("input", "output", "forward", "dnat")
POLICY_VERDICTS = ("accept", "drop")
DEFAULT_POLICY = {"input": "drop", "output": "accept", "forward": "accept", "dnat": "drop"}
# What a rule that leaves these out means.
RULE_DEFAULTS = {"protocol": "tcp", "direction": "in", "action": "accept"}
RATE_UNITS = ("second", "minute", "hour", "day")
_RATE = _values.pattern(r"\s*([0-9]+)\s*/\s*(second|minute|hour|day)\s*(?:burst\s+([0-9]+))?\s*")
COMMENT_MAX = 128
# iptables cuts LOG prefixes at 29 characters; keep one limit for both backends.
LOG_PREFIX_MAX = 29


class RuleError(ValueError):
    """Invalid rules; ``errors`` lists every problem found."""

    def __init__(self, errors):
        self.errors = errors
        super(RuleError, self).__init__("invalid firewall rules: " + "; ".join(errors))


class Defaults:
    """The rules every chain starts with, each switchable: established and
    related packets, loopback, essential ICMP, the host's DHCP client
    exchanges (replies in always; requests out with ``dhcp_requests``, to the
    multicast and broadcast addresses and to ``dhcp_servers``, the IPv4
    servers of the host's leases, which renewals go to by unicast)."""

    def __init__(self, established=True, loopback=True, icmp=True, dhcp=True, dhcp_requests=False, dhcp_servers=()):
        self.established = established
        self.loopback = loopback
        self.icmp = icmp
        self.dhcp = dhcp
        self.dhcp_requests = dhcp_requests
        self.dhcp_servers = tuple(dhcp_servers)


# The DHCP client exchanges a host needs under default deny (and output
# drop), narrow by ports and addresses. A reply to a multicast Solicit or a
# broadcast Discover or Rebind never matches the request in conntrack (it
# comes from the server's own address), so the replies need their own rule:
# DHCPv6 from and to link-local addresses (a server or relay on the link
# answers the client's link-local source, RFC 8415), server port to client port; DHCPv4 server port to client port (from a
# server or relay on any address). Requests leave from the client port to the
# server port only: DHCPv6 to All_DHCP_Relay_Agents_and_Servers, DHCPv4 by
# broadcast and, for unicast renewals, to the servers of the host's leases.
DHCP_PORTS = {4: (68, 67), 6: (546, 547)}
DHCPV6_SERVERS = "ff02::1:2/128"
DHCPV6_LINK_LOCAL = "fe80::/10"
DHCPV4_BROADCAST = "255.255.255.255/32"


class DhcpRule:
    """One default DHCP rule for one family: ports and addresses, as data."""

    __slots__ = ("chain", "family", "sources", "destinations", "sport", "dport", "comment")

    def __init__(self, chain, family, sources, destinations, sport, dport, comment):
        self.chain, self.family, self.sources, self.destinations = chain, family, sources, destinations
        self.sport, self.dport, self.comment = sport, dport, comment


def dhcp_rules(chain, defaults):
    """The default DHCP rules of ``chain`` (input or output), IPv4 first."""
    if not defaults.dhcp:
        return []
    if chain == "input":
        return [DhcpRule("input", 4, (), (), DHCP_PORTS[4][1], DHCP_PORTS[4][0], "essential: dhcp replies"),
                DhcpRule("input", 6, (DHCPV6_LINK_LOCAL,), (DHCPV6_LINK_LOCAL,), DHCP_PORTS[6][1], DHCP_PORTS[6][0],
                         "essential: dhcpv6 replies")]
    if chain == "output" and defaults.dhcp_requests:
        servers = [DHCPV4_BROADCAST] + ["%s/32" % server for server in sorted(
            set(ipaddress.IPv4Address(server) for server in defaults.dhcp_servers)) if str(server) + "/32" != DHCPV4_BROADCAST]
        return [DhcpRule("output", 4, (), tuple(servers), DHCP_PORTS[4][0], DHCP_PORTS[4][1], "essential: dhcp requests"),
                DhcpRule("output", 6, (), (DHCPV6_SERVERS,), DHCP_PORTS[6][0], DHCP_PORTS[6][1],
                         "essential: dhcpv6 requests")]
    return []


class Rule:
    """One normalised rule for one address family (4, 6 or None for both)."""

    __slots__ = ("index", "chain", "family", "protocol", "ports", "sources", "destinations", "action",
                 "rate", "burst", "rate_unit", "log", "comment")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    def key(self):
        return tuple(getattr(self, name) for name in self.__slots__ if name != "index")

    def __repr__(self):
        return "Rule(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


# What a host with the output policy drop still needs, added before the
# rules (switchable): DNS to the resolvers it uses. Replies on established
# connections, loopback and the DHCP exchanges are the Defaults.
DNS_PORT = 53
ESSENTIAL_INDEX = -1


def _label(index, rule):
    if isinstance(rule, dict) and isinstance(rule.get("comment"), str) and rule.get("comment"):
        return "rule %d (%s)" % (index + 1, rule["comment"] if check_text(rule["comment"], "", COMMENT_MAX) is None
                                 else "bad comment")
    return "rule %d" % (index + 1)


def check_text(value, what, maximum):
    """A string that will be quoted inside the ruleset, or a reason it cannot be."""
    try:
        _values.quotable(value, what, maximum)
    except _values.BadValue as error:
        return str(error)
    return None


def _networks(value, what, label, errors):
    """A CIDR, an address or a list of them, split into IPv4 and IPv6 tuples.
    A network with host bits set is refused, not widened."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    networks = {4: [], 6: []}
    for item in items:
        try:
            network = _values.network(item, what)
        except _values.BadValue as error:
            errors.append("%s: %s" % (label, error))
            continue
        networks[network.version].append(network)
    if not items:
        errors.append("%s: %s is an empty list; leave it out to mean any address" % (label, what))
    return dict((version, tuple(str(net) for net in ipaddress.collapse_addresses(nets)))
                for version, nets in networks.items() if nets)


def _names(value, label, resolve, errors):
    """destination_name: DNS names resolved (by ``resolve(name)``, to a list of
    addresses) to host networks, or None when not given."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        errors.append("%s: destination_name is an empty list; leave it out" % label)
        return None
    found = []
    for item in items:
        try:
            name = _values.domain(item, "destination_name")
        except _values.BadValue as error:
            errors.append("%s: %s" % (label, error))
            continue
        if name.startswith("*."):
            errors.append("%s: destination_name %r is a wildcard, which cannot be resolved; name the hosts" % (label, item))
            continue
        if resolve is None:
            errors.append("%s: destination_name %r cannot be resolved here" % (label, item))
            continue
        try:
            addresses = resolve(name)
        except _values.BadValue as error:  # a special-purpose answer, named with the name
            errors.append("%s: %s" % (label, error))
            continue
        except (OSError, ValueError) as error:
            errors.append("%s: destination_name %r does not resolve on this host (%s): no rule can be made for it"
                          % (label, item, error))
            continue
        if not addresses:
            errors.append("%s: destination_name %r does not resolve on this host: no rule can be made for it"
                          % (label, item))
            continue
        found += [ipaddress.ip_network(address) for address in addresses]
    return found


def normalize_rules(rules, policy=None, resolve=None):
    """The module's ``rules`` to a list of Rule, each bound to one chain and
    at most one address family. ``resolve(name)`` gives the addresses of a
    rule's ``destination_name`` (the host's resolver, at each run). Raises
    RuleError listing every problem."""
    errors = []
    if not isinstance(rules, list):
        raise RuleError(["rules must be a list, got %s" % type(rules).__name__])
    result = []
    for index, rule in enumerate(rules):
        label = _label(index, rule)
        if not isinstance(rule, dict):
            errors.append("%s: must be a mapping, got %r" % (label, rule))
            continue
        before = len(errors)
        for key in sorted(set(rule) - set(RULE_KEYS), key=str):
            errors.append("%s: unknown key %r" % (label, key))
        protocol = rule.get("protocol", RULE_DEFAULTS["protocol"])
        if protocol not in PROTOCOLS:
            errors.append("%s: invalid protocol %r: expected tcp, udp, both or icmp" % (label, protocol))
        direction = rule.get("direction", RULE_DEFAULTS["direction"])
        if direction not in DIRECTIONS:
            errors.append("%s: invalid direction %r: expected in, out or forward" % (label, direction))
        action = rule.get("action", RULE_DEFAULTS["action"])
        if action not in ACTIONS:
            errors.append("%s: unknown action %r: expected accept, drop or reject" % (label, action))
        # Ports per protocol: a name may have other TCP ports than UDP ones.
        ports = {None: None}
        if rule.get("port") is not None:
            if protocol == "icmp":
                errors.append("%s: icmp has no ports, but port %r is given" % (label, rule["port"]))
            elif protocol in PROTOCOLS and rule["port"] == []:
                errors.append("%s: port is an empty list; leave it out to mean every port" % label)
            elif protocol in PROTOCOLS:
                values = rule["port"] if isinstance(rule["port"], list) else [rule["port"]]
                try:
                    ports = dict((proto, tuple(resolver.merge_ranges(
                        item for value in values for item in resolver.resolve(value, proto, policy))))
                        for proto in (("tcp", "udp") if protocol == "both" else (protocol,)))
                except resolver.PortSpecError as error:
                    errors.append("%s: %s" % (label, error))
                if protocol == "both" and "tcp" in ports and len(set(ports.values())) == 1:
                    ports = {"both": ports["tcp"]}
        sources = _networks(rule.get("source"), "source", label, errors)
        destinations = _networks(rule.get("destination"), "destination", label, errors)
        named = _names(rule.get("destination_name"), label, resolve, errors)
        if named:
            merged = dict((version, [ipaddress.ip_network(net) for net in nets])
                          for version, nets in (destinations or {}).items())
            for network in named:
                merged.setdefault(network.version, []).append(network)
            destinations = dict((version, tuple(str(net) for net in ipaddress.collapse_addresses(nets)))
                                for version, nets in merged.items())
        rate = burst = unit = None
        if rule.get("rate_limit") is not None:
            match = _RATE.fullmatch(str(rule["rate_limit"]))
            if not match or int(match.group(1)) == 0:
                errors.append("%s: invalid rate_limit %r: expected for example '10/second' or '10/second burst 20'"
                              % (label, rule["rate_limit"]))
            else:
                rate, unit = int(match.group(1)), match.group(2)
                burst = int(match.group(3)) if match.group(3) else None
        log = rule.get("log")
        if log is not None:
            problem = check_text(log, "log prefix", LOG_PREFIX_MAX)
            if problem:
                errors.append("%s: %s" % (label, problem))
        comment = rule.get("comment")
        if comment is not None:
            problem = check_text(comment, "comment", COMMENT_MAX)
            if problem:
                errors.append("%s: %s" % (label, problem))
        families = _families(sources, destinations, label, errors)
        if len(errors) > before:
            continue
        for family in families:
            for proto, proto_ports in sorted(ports.items(), key=lambda item: str(item[0])):
                result.append(Rule(
                    index=index, chain=DIRECTIONS[direction], family=family, protocol=proto or protocol,
                    ports=proto_ports, sources=sources.get(family) if sources else None,
                    destinations=destinations.get(family) if destinations else None,
                    action=action, rate=rate, burst=burst, rate_unit=unit, log=log, comment=comment))
    if errors:
        raise RuleError(errors)
    return result


def essential_output_rules(resolvers=()):
    """The rules a host with the output policy drop needs before its own, as
    Rule objects (index ESSENTIAL_INDEX): DNS (TCP and UDP 53) to each of
    ``resolvers`` (addresses). DHCP is in the Defaults (dhcp_rules)."""
    result = []
    by_family = {}
    for address in resolvers:
        parsed = ipaddress.ip_address(address)
        by_family.setdefault(parsed.version, []).append(str(ipaddress.ip_network(parsed)))
    for family in sorted(by_family):
        result.append(Rule(index=ESSENTIAL_INDEX, chain="output", family=family, protocol="both",
                           ports=((DNS_PORT, DNS_PORT),), sources=None, destinations=tuple(sorted(set(by_family[family]))),
                           action="accept", comment="essential: dns to the resolvers"))
    return result


def rule_label(rule):
    """How messages name a rule: its number, or the essential it is."""
    if rule.index == ESSENTIAL_INDEX:
        return "the %s rule" % rule.comment
    return "rule %d%s" % (rule.index + 1, " (%s)" % rule.comment if rule.comment else "")


def _families(sources, destinations, label, errors):
    """Which address families a rule applies to: None (both) unless it names addresses."""
    named = [set(side) for side in (sources, destinations) if side]
    if not named:
        return [None]
    families = set.intersection(*named)
    if not families:
        errors.append("%s: source and destination are of different address families" % label)
        return []
    return sorted(families)


def normalize_policy(policy):
    result = dict(DEFAULT_POLICY)
    errors = []
    for chain, verdict in (policy or {}).items():
        if chain not in POLICY_CHAINS:
            errors.append("policy: unknown chain %r: expected input, output, forward or dnat" % chain)
        elif verdict not in POLICY_VERDICTS:
            errors.append("policy: invalid verdict %r for %s: expected accept or drop" % (verdict, chain))
        else:
            result[chain] = verdict
    if errors:
        raise RuleError(errors)
    return result


def _matches(rule, chain, source, destination, port, port_known=True, protocol="tcp"):
    """Whether a rule of ``chain`` matches a packet of ``protocol`` (tcp or
    udp) source -> destination:port. ``port_known`` False: the destination
    port is an ephemeral one we cannot know, so only a rule for every port
    matches for sure."""
    if rule.chain != chain or rule.protocol not in (protocol, "both"):
        return False
    if rule.family is not None and rule.family != source.version:
        return False
    if rule.ports is not None and not (port_known and any(start <= port <= end for start, end in rule.ports)):
        return False
    for networks, address in ((rule.sources, source), (rule.destinations, destination)):
        if networks is not None and not any(address in ipaddress.ip_network(net) for net in networks):
            return False
    return True


def _chain_verdict(rules, policy, chain, source, destination, port, port_known, what, protocol="tcp", label=None):
    """(accepted, reason) of the first rule of ``chain`` that matches, else the policy."""
    label = label or rule_label
    for rule in rules:
        if not _matches(rule, chain, source, destination, port, port_known, protocol):
            continue
        if rule.action == "accept":
            if rule.rate is None:
                return True, "accepted by %s" % label(rule)
            continue  # a rate-limited accept lets only some packets through
        return False, "%s is %s by %s in the %s chain" % (
            what, "dropped" if rule.action == "drop" else "rejected", label(rule), chain)
    if policy[chain] == "accept":
        return True, "accepted by the %s policy" % chain
    return False, "%s matches no rule of the %s chain and its policy is drop" % (what, chain)


def verdict(rules, policy, chain, source, destination, port, protocol="tcp", label=None):
    """Whether a new connection source -> destination:port (addresses, a
    ``protocol`` of tcp or udp) is accepted by the first rule of ``chain``
    (``input``, ``output`` or ``forward``) that matches it, else by the
    chain's ``policy``: ``(accepted, reason)``, the reason naming the rule.
    A rate-limited accept lets only some packets through, so it never
    counts as accepted. The default rules (established, loopback, ICMP) are
    not consulted. ``label(rule)`` names a rule in the reason (default:
    ``rule_label``)."""
    what = "a new %s connection from %s to %s port %d" % (protocol.upper(), source, destination, port)
    return _chain_verdict(rules, policy, chain, source, destination, port, True, what, protocol, label)


def ssh_verdict(rules, policy, connection, defaults):
    """What the new ruleset does to a new SSH session like ``connection``
    (SSH_CONNECTION: "client_ip client_port server_ip server_port"), in every
    chain it crosses: the client's packets in input, the server's replies in
    output, both for the first packet and for the rest of the session.
    ``defaults`` says whether established packets and loopback are accepted
    first.

    Returns (allowed, reason); the reason names the chain and the rule.
    """
    parts = connection.split()
    client, server = ipaddress.ip_address(parts[0]), ipaddress.ip_address(parts[2])
    client_port, port = int(parts[1]), int(parts[3])
    if defaults.loopback and client.is_loopback:
        return True, "loopback is accepted"
    inbound, reason = _chain_verdict(rules, policy, "input", client, server, port, True,
                                     "a new SSH connection from %s to %s port %d" % (client, server, port))
    if not inbound:
        return False, reason
    if defaults.established:
        return True, "%s; the replies are accepted as established" % reason
    # No established accept: every reply (to the client's ephemeral port) needs an output rule of its own.
    outbound, out_reason = _chain_verdict(rules, policy, "output", server, client, client_port, False,
                                          "the reply from %s port %d to %s (allow_established is off)" % (server, port, client))
    if not outbound:
        return False, out_reason
    return True, "%s; %s" % (reason, out_reason)
