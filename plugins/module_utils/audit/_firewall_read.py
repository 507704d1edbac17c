# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ports the firewall in force on this host opens to whom, read from
the managers a team may have typed its rules into: ufw (``ufw status
verbose``), firewalld (the zones of ``firewall-cmd --list-all-zones``),
nftables (the input base chains of ``nft -j list ruleset``) and iptables
(the INPUT chain of ``iptables-save``, with the chains it jumps to).

Each manager gives a *layer*: its rules in order (protocol, ports, sources,
action) and its default for new connections. A rule this reader does not
understand (an interface match, a mark, a rate limit...) is kept as
*opaque*: a port it may touch gets the verdict ``unknown``, never ``open``
or ``closed``. A layer that could not be read at all is ``unknown`` too.

``exposure`` answers, for one port: ``open`` to every source, ``open`` to
some sources (listed), ``closed``, or ``unknown``, with the rule that
decided. Every layer sees each packet (a drop in any is final), so the
layers are combined by the narrowest answer.

Read-only and plain Python, no Ansible import; the caller runs the commands.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import shlex

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values

ANYWHERE = ("0.0.0.0/0", "::/0")
# What a layer's verdict for a port can be.
OPEN, SOME, CLOSED, UNKNOWN = "open", "some", "closed", "unknown"
# The tables iptables-nft writes: read through iptables-save, not as nftables.
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")


class Rule:
    """One rule of a layer. ``protocol`` None is every protocol, ``ports``
    None every port (else ``[(start, end)]``), ``sources`` the networks it
    matches (``ANYWHERE`` for any); ``action`` is ``accept``, ``drop``
    (reject too) or ``opaque`` (not understood: ``text`` says what)."""

    __slots__ = ("protocol", "ports", "sources", "action", "text")

    def __init__(self, protocol, ports, sources, action, text):
        self.protocol = protocol
        self.ports = ports
        self.sources = list(sources)
        self.action = action
        self.text = text

    def touches(self, protocol, port):
        if self.protocol is not None and self.protocol != protocol:
            return False
        return self.ports is None or any(start <= port <= end for start, end in self.ports)

    def everyone(self):
        return any(source in ANYWHERE for source in self.sources)

    def __repr__(self):
        return "Rule(%s %s %s from %s)" % (self.action, self.protocol, self.ports, self.sources)


class Layer:
    """One firewall manager's input rules: ``manager``, ``rules`` in order,
    ``default`` (``accept``, ``drop`` or None when unknown), ``error`` when
    it could not be read."""

    def __init__(self, manager, rules=None, default=None, error=None):
        self.manager = manager
        self.rules = rules or []
        self.default = default
        self.error = error

    def verdict(self, protocol, port):
        """``(state, sources, evidence, refused)`` for new connections to ``port``. ``refused`` are the sources a
        drop before the accepting rule (or policy) refuses among those it opens to: bans the registry's
        ``allow_from`` cannot state, so that a registry drafted from ``sources`` lets them in."""
        if self.error:
            return UNKNOWN, [], "%s: %s" % (self.manager, self.error), []
        sources = []
        evidence = []
        bans = []
        for rule in self.rules:
            if not rule.touches(protocol, port):
                continue
            if rule.action == "opaque":
                return UNKNOWN, [], "%s rule not understood: %s" % (self.manager, rule.text), []
            if rule.action == "accept":
                if rule.everyone():
                    return OPEN, list(ANYWHERE), self._evidence([rule.text], bans), _banned(bans, ANYWHERE)
                sources.extend(source for source in rule.sources if source not in sources)
                evidence.append(rule.text)
            elif rule.everyone():
                if sources:
                    break
                return CLOSED, [], "%s: %s" % (self.manager, rule.text), []
            else:
                # a drop from some sources only (a ban): it narrows what a later rule or the policy opens
                bans.append(rule)
        if sources:
            return SOME, sources, self._evidence(evidence, bans), _banned(bans, sources)
        if self.default == "accept":
            return (OPEN, list(ANYWHERE), self._evidence(["no rule for the port, the input policy accepts"], bans),
                    _banned(bans, ANYWHERE))
        if self.default == "drop":
            return CLOSED, [], "%s: no rule opens the port, the input policy drops" % self.manager, []
        return UNKNOWN, [], "%s: no rule for the port and the input policy is not known" % self.manager, []

    def _evidence(self, texts, bans):
        return "%s: %s" % (self.manager, "; ".join([rule.text for rule in bans] + list(texts)))

    def as_dict(self):
        return {"manager": self.manager, "default": self.default, "error": self.error,
                "rules": [{"protocol": rule.protocol, "ports": [list(item) for item in rule.ports] if rule.ports else None,
                           "sources": rule.sources, "action": rule.action, "text": rule.text} for rule in self.rules]}


def _banned(bans, opened):
    """The sources of ``bans`` (drop rules) that fall in the networks ``opened``, in order, each once."""
    networks = [ipaddress.ip_network(item) for item in opened]
    found = []
    for rule in bans:
        for source in rule.sources:
            network = ipaddress.ip_network(source)
            if source not in found and any(network.version == item.version and network.subnet_of(item)
                                           for item in networks):
                found.append(source)
    return found


def exposure(layers, protocol, port):
    """The combined verdict of every layer for ``port``: ``{state, sources,
    evidence, by_policy}``. ``state`` is ``open`` (every source), ``some``
    (only ``sources``), ``closed``, ``unknown`` or ``none`` (no firewall:
    every source). ``by_policy`` is true when the port is open only because
    a policy accepts what no rule names (not a rule someone typed for it)."""
    if not layers:
        return {"state": "none", "sources": list(ANYWHERE), "evidence": ["no firewall is in force"], "by_policy": True,
                "refused": []}
    state, sources, evidence, by_policy, refused = OPEN, list(ANYWHERE), [], True, []
    for layer in layers:
        verdict, found, why, banned = layer.verdict(protocol, port)
        evidence.append(why)
        refused.extend(source for source in banned if source not in refused)
        if verdict == CLOSED or state == CLOSED:
            state, sources = CLOSED, []
            continue
        if verdict == UNKNOWN or state == UNKNOWN:
            state, sources = UNKNOWN, []
            continue
        if not why.endswith("the input policy accepts"):
            by_policy = False
        if verdict == SOME:
            sources = found if state == OPEN else [item for item in sources if item in found]
            state = SOME if sources else CLOSED
    return {"state": state, "sources": sources, "evidence": evidence, "by_policy": state == OPEN and by_policy,
            "refused": refused if state in (OPEN, SOME) else []}


def _ports(text):
    """``80``, ``80,443``, ``6000:6999`` or ``5000-5010`` to ``[(start, end)]``."""
    found = []
    for part in text.split(","):
        bounds = part.strip().replace(":", "-").split("-")
        start = int(bounds[0])
        found.append((start, int(bounds[-1])))
    return found


def _network(text):
    network = ipaddress.ip_network(text, strict=False)
    if network.prefixlen == 0:
        return "0.0.0.0/0" if network.version == 4 else "::/0"
    return str(network)


# -- ufw ------------------------------------------------------------------------------------------------------

_UFW_DEFAULT = _values.pattern(r"Default: ([a-z]+) \(incoming\).*")
_UFW_RULE = _values.pattern(r"(?P<to>.+?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)(?: IN)?\s+(?P<from>.+?)\s*")
_UFW_TO = _values.pattern(
    r"(?:(?P<address>[0-9a-fA-F.:/]+) )?(?P<ports>[0-9][0-9,:]*)(?:/(?P<protocol>tcp|udp))?(?: \(v6\))?")


def parse_ufw(text):
    """``ufw status verbose`` to a Layer; None when ufw is inactive."""
    if "Status: active" not in text:
        return None
    default = next((match for match in (_UFW_DEFAULT.fullmatch(line) for line in text.splitlines()) if match), None)
    policy = None
    if default:
        policy = "accept" if default.group(1) == "allow" else "drop"
    rules = []
    table = False
    for line in text.splitlines():
        if line.startswith("--"):
            table = True
            continue
        if not table or not line.strip():
            continue
        match = _UFW_RULE.fullmatch(line)
        if not match or "OUT" in line.split():
            if " OUT " not in line and " FWD " not in line:
                rules.append(Rule(None, None, ANYWHERE, "opaque", line.strip()))
            continue
        target, origin, action = match.group("to").strip(), match.group("from").strip(), match.group("action")
        v6 = "(v6)" in target or "(v6)" in origin
        origin = origin.replace(" (v6)", "")
        if origin == "Anywhere":
            sources = ["::/0" if v6 else "0.0.0.0/0"]
        else:
            try:
                sources = [_network(origin)]
            except ValueError:
                rules.append(Rule(None, None, ANYWHERE, "opaque", line.strip()))
                continue
        target = target.replace(" (v6)", "")
        if target == "Anywhere":
            protocol, ports = None, None
        else:
            to = _UFW_TO.fullmatch(target)
            if not to or (to.group("address") and to.group("address") not in ANYWHERE):
                rules.append(Rule(None, None, sources, "opaque", line.strip()))
                continue
            protocol, ports = to.group("protocol"), _ports(to.group("ports"))
        # LIMIT accepts (with a rate limit): a flow that works today stays.
        rules.append(Rule(protocol, ports, sources, "accept" if action in ("ALLOW", "LIMIT") else "drop", line.strip()))
    return Layer("ufw", rules, policy)


# -- firewalld ------------------------------------------------------------------------------------------------

def parse_firewalld_services(text):
    """``firewall-cmd --info-service=NAME`` outputs (each after a ``== NAME``
    line) to ``{name: [(protocol, start, end)]}``."""
    services = {}
    name = None
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:].strip()
            services[name] = []
        elif name and line.strip().startswith("ports:"):
            for item in line.split(":", 1)[1].split():
                ports, protocol = item.split("/")
                start, end = _ports(ports)[0]
                services[name].append((protocol, start, end))
    return services


def parse_firewalld_zones(text):
    """``firewall-cmd --list-all-zones`` to ``{zone: {key: value}}``; rich rules as a list."""
    zones = {}
    zone = None
    key = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            zone = line.split()[0]
            zones[zone] = {"active": "(active)" in line, "rich rules": []}
            key = None
            continue
        stripped = line.strip()
        if key == "rich rules" and stripped.startswith("rule "):
            zones[zone]["rich rules"].append(stripped)
            continue
        key, _sep, value = stripped.partition(":")
        if key != "rich rules":
            zones[zone][key] = value.split()
    return zones


_RICH = _values.pattern(
    r'rule (?:family="ipv[46]" )?source address="(?P<source>[^"]+)" port port="(?P<ports>[0-9-]+)" '
    r'protocol="(?P<protocol>tcp|udp)" (?P<action>accept|drop|reject)')


def firewalld_layer(default_zone, zones, services):
    """The zones in force as a Layer: a zone bound to sources admits those
    sources; the default zone (and any zone bound to interfaces) admits
    everyone else. A service whose ports are not known, a rich rule not of
    the plain ``source ... port ... accept`` form, or a zone whose target
    is not ``default``/``DROP``/``REJECT`` makes its ports opaque."""
    rules = []
    order = sorted(zones, key=lambda name: (not zones[name].get("sources"), name))
    for name in order:
        zone = zones[name]
        bound = zone.get("sources") or []
        if not bound and not zone.get("interfaces") and name != default_zone:
            continue
        sources = [_network(item) for item in bound] if bound else list(ANYWHERE)
        what = "zone %s" % name
        for service in zone.get("services", []):
            if service not in services:
                rules.append(Rule(None, None, sources, "opaque", "%s service %s (its ports are not known)" % (what, service)))
                continue
            for protocol, start, end in services[service]:
                rules.append(Rule(protocol, [(start, end)], sources, "accept", "%s service %s" % (what, service)))
        for item in zone.get("ports", []):
            ports, protocol = item.split("/")
            rules.append(Rule(protocol, _ports(ports), sources, "accept", "%s port %s" % (what, item)))
        for rich in zone.get("rich rules", []):
            match = _RICH.fullmatch(rich)
            if not match:
                rules.append(Rule(None, None, sources, "opaque", "%s rich rule %s" % (what, rich)))
                continue
            rules.append(Rule(match.group("protocol"), _ports(match.group("ports")), [_network(match.group("source"))],
                              "accept" if match.group("action") == "accept" else "drop", "%s rich rule %s" % (what, rich)))
        target = (zone.get("target") or ["default"])[0]
        if target in ("ACCEPT", "%%REJECT%%", "DROP", "REJECT", "default"):
            rules.append(Rule(None, None, sources, "accept" if target == "ACCEPT" else "drop", "%s target %s" % (what, target)))
        else:
            rules.append(Rule(None, None, sources, "opaque", "%s target %s" % (what, target)))
    return Layer("firewalld", rules, "drop")


# -- iptables -------------------------------------------------------------------------------------------------

def _iptables_rule(line, family):
    """One ``-A CHAIN ...`` line to ``(rule or None, jump)``: None when the
    rule never matches a new TCP or UDP connection from another host."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    protocol = None
    ports = None
    sources = [ANYWHERE[0] if family == "ipv4" else ANYWHERE[1]]
    target = None
    unknown = []
    index = 2
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word == "-p":
            protocol = value
            index += 2
        elif word == "-m" and value in ("tcp", "udp", "multiport", "comment"):
            index += 2
        elif word in ("--dport", "--dports"):
            ports = _ports(value)
            index += 2
        elif word == "-s":
            sources = [_network(value)]
            index += 2
        elif word == "-i" and value == "lo":
            return None, None
        elif word == "-m" and value in ("conntrack", "state"):
            states = words[index + 3] if index + 3 < len(words) else ""
            if words[index + 2:index + 3] not in (["--ctstate"], ["--state"]):
                unknown.append(" ".join(words[index:index + 4]))
            elif "NEW" not in states.split(","):
                return None, None
            # `--ctstate NEW` (or NEW with others): the rule decides new connections, as one without it does.
            index += 4
        elif word == "--comment":
            index += 2
        elif word == "--syn" or (word == "--tcp-flags" and value == "FIN,SYN,RST,ACK"
                                 and words[index + 2:index + 3] == ["SYN"]):
            # SYN alone, the first packet of a new TCP connection (iptables-save writes --syn so).
            index += 1 if word == "--syn" else 3
        elif word in ("-j", "-g"):
            target = value
            index += 2
            break
        else:
            unknown.append(word if not value or value.startswith("-") else "%s %s" % (word, value))
            index += 2 if value and not value.startswith("-") else 1
    if protocol is not None and protocol not in ("tcp", "udp"):
        return None, None  # icmp and the like: no port
    text = line.strip()
    if target in ("ACCEPT", "DROP", "REJECT") and not unknown:
        return Rule(protocol, ports, sources, "accept" if target == "ACCEPT" else "drop", text), None
    if target == "LOG":
        return None, None  # logs, decides nothing
    if target and target not in ("ACCEPT", "DROP", "REJECT", "LOG", "RETURN") and not unknown and ports is None \
            and protocol is None and sources[0] in ANYWHERE:
        return None, target  # an unconditional jump: its rules are read in place
    if target is None:
        return None, None  # a counting rule
    return Rule(protocol, ports, sources, "opaque", text), None


def parse_iptables(saved, family="ipv4", manager="iptables"):
    """``iptables-save`` (or ``ip6tables-save``) to the INPUT chain's Layer,
    with the user chains it jumps to unconditionally read in place; None when
    INPUT has no rule and policy ACCEPT (nothing typed there)."""
    chains = {}
    policies = {}
    table = None
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table == "filter" and line.startswith(":"):
            name, policy = line[1:].split()[:2]
            policies[name] = policy
            chains.setdefault(name, [])
        elif table == "filter" and line.startswith("-A "):
            chains.setdefault(line.split()[1], []).append(line)
    if "INPUT" not in policies:
        return None
    rules = []

    def walk(chain, depth):
        for line in chains.get(chain, []):
            rule, jump = _iptables_rule(line, family)
            if jump is not None:
                if depth < 8 and jump in chains:
                    walk(jump, depth + 1)
                continue
            if rule is not None:
                rules.append(rule)

    walk("INPUT", 0)
    default = "accept" if policies["INPUT"] == "ACCEPT" else "drop"
    if not rules and default == "accept":
        return None
    return Layer(manager, rules, default)


# -- nftables -------------------------------------------------------------------------------------------------

def _nft_values(right):
    """A match's right side to a list of scalars or ``("range", a, b)`` / ``("prefix", addr, len)``."""
    if isinstance(right, dict) and "set" in right:
        items = right["set"]
    elif isinstance(right, list):
        items = right
    else:
        items = [right]
    values = []
    for item in items:
        if isinstance(item, dict) and "range" in item:
            values.append(("range", item["range"][0], item["range"][1]))
        elif isinstance(item, dict) and "prefix" in item:
            values.append(("prefix", item["prefix"]["addr"], item["prefix"]["len"]))
        elif isinstance(item, (int, str)):
            values.append(item)
        else:
            raise ValueError("value %s" % json.dumps(item))
    return values


def _nft_rule(expressions, family):
    """``(rule or None, jump)`` for one rule's expressions."""
    protocol, ports, sources, unknown = None, None, None, []
    verdict = None
    for expression in expressions:
        (kind, body), = expression.items()
        if kind in ("counter", "log", "comment"):
            continue
        if kind in ("accept", "drop", "reject"):
            verdict = "accept" if kind == "accept" else "drop"
            continue
        if kind in ("jump", "goto"):
            verdict = ("jump", body["target"])
            continue
        if kind != "match":
            unknown.append(kind)
            continue
        left, right, op = body["left"], body["right"], body.get("op", "==")
        try:
            values = _nft_values(right)
        except ValueError as error:
            unknown.append(str(error))
            continue
        if "meta" in left and left["meta"]["key"] in ("iif", "iifname") and op == "==" and values == ["lo"]:
            return None, None
        if "ct" in left and left["ct"]["key"] == "state" and op in ("==", "in"):
            if "new" not in values:
                return None, None
            continue
        if "meta" in left and left["meta"]["key"] in ("l4proto", "nfproto") and op == "==":
            if left["meta"]["key"] == "l4proto":
                if values[0] not in ("tcp", "udp"):
                    return None, None
                protocol = values[0]
            continue
        payload = left.get("payload") or {}
        if payload.get("field") == "dport" and payload.get("protocol") in ("tcp", "udp") and op in ("==", "in"):
            protocol = payload["protocol"]
            ports = [(value[1], value[2]) if isinstance(value, tuple) else (int(value), int(value)) for value in values]
            continue
        if payload.get("field") == "saddr" and payload.get("protocol") in ("ip", "ip6") and op in ("==", "in"):
            sources = [_network("%s/%s" % (value[1], value[2])) if isinstance(value, tuple) else _network(value)
                       for value in values if not (isinstance(value, tuple) and value[0] == "range")]
            if len(sources) != len(values):
                unknown.append("an address range")
            continue
        if payload.get("protocol") in ("icmp", "icmpv6"):
            return None, None
        unknown.append(json.dumps(body, sort_keys=True))
    if sources is None:
        sources = list(ANYWHERE) if family == "inet" else [ANYWHERE[0] if family == "ip" else ANYWHERE[1]]
    if verdict is None:
        return None, None
    if isinstance(verdict, tuple):
        if unknown or ports is not None or protocol is not None or sources[0] not in ANYWHERE:
            return Rule(protocol, ports, sources, "opaque", "jump to %s with conditions" % verdict[1]), None
        return None, verdict[1]
    if unknown:
        return Rule(protocol, ports, sources, "opaque", "; ".join(unknown)), None
    return Rule(protocol, ports, sources, verdict, None), None


def _describe(rule):
    """A rule nft printed as JSON, told in nft's words: ``tcp dport 4020 ip saddr 172.30.100.0/24 accept``."""
    words = []
    if rule.protocol:
        words.append(rule.protocol)
    if rule.ports:
        ports = ", ".join(str(start) if start == end else "%d-%d" % (start, end) for start, end in rule.ports)
        words.append("dport %s" % (ports if len(rule.ports) == 1 else "{ %s }" % ports))
    if not rule.everyone():
        words.append("saddr %s" % ", ".join(rule.sources))
    words.append(rule.action)
    return " ".join(words)


def parse_nft(text, skip_iptables=True):
    """``nft -j list ruleset`` to one Layer per input base chain (tables
    iptables-nft writes are skipped when ``skip_iptables``: iptables-save
    reads them)."""
    chains, rules = _host.nft_chains_and_rules(text)
    layers = []
    for key, chain in sorted(chains.items()):
        family, table, name = key
        if chain.get("hook") != "input" or family not in ("inet", "ip", "ip6"):
            continue
        if skip_iptables and family in ("ip", "ip6") and table in IPTABLES_TABLES:
            continue
        found = []

        def walk(chain_key, depth):
            for rule in rules.get(chain_key, []):
                parsed, jump = _nft_rule(rule["expr"], family)
                if jump is not None:
                    if depth < 8:
                        walk((family, table, jump), depth + 1)
                    continue
                if parsed is not None:
                    parsed.text = "chain %s handle %s: %s" % (chain_key[2], rule.get("handle"),
                                                              parsed.text or _describe(parsed))
                    found.append(parsed)

        walk(key, 0)
        layers.append(Layer("nftables %s %s %s" % (family, table, name), found, chain.get("policy", "accept")))
    return layers


# -- on the host ----------------------------------------------------------------------------------------------

def read_layers(run, which):
    """``(layers, managers)``: the input layers in force, and each manager
    found with how it was read. ``run(argv)`` gives ``(rc, out, err)``;
    ``which(name)`` a path or None."""
    layers = []
    managers = []

    def command(argv):
        binary = which(argv[0])
        if binary is None:
            return None
        return run([binary] + argv[1:])

    ufw = command(["ufw", "status", "verbose"])
    ufw_active = False
    if ufw is not None:
        if ufw[0] != 0:
            layers.append(Layer("ufw", error="ufw status failed: %s" % (ufw[2] or ufw[1]).strip()))
        else:
            layer = parse_ufw(ufw[1])
            if layer is not None:
                layers.append(layer)
                ufw_active = True
        managers.append({"manager": "ufw", "active": ufw_active})
    state = command(["firewall-cmd", "--state"])
    firewalld = state is not None and state[0] == 0 and state[1].strip() == "running"
    if state is not None:
        managers.append({"manager": "firewalld", "active": firewalld})
    if firewalld:
        default = command(["firewall-cmd", "--get-default-zone"])
        zones = command(["firewall-cmd", "--list-all-zones"])
        if default is None or default[0] != 0 or zones is None or zones[0] != 0:
            layers.append(Layer("firewalld", error="firewall-cmd could not list its zones"))
        else:
            parsed = parse_firewalld_zones(zones[1])
            names = sorted(set(service for zone in parsed.values() for service in zone.get("services", [])))
            text = []
            for name in names:
                info = command(["firewall-cmd", "--info-service=%s" % name])
                if info is not None and info[0] == 0:
                    text.append("== %s\n%s" % (name, info[1]))
            layers.append(firewalld_layer(default[1].strip(), parsed, parse_firewalld_services("\n".join(text))))
    nft = command(["nft", "-j", "list", "ruleset"])
    if nft is not None:
        if nft[0] != 0:
            layers.append(Layer("nftables", error="nft -j list ruleset failed: %s" % (nft[2] or nft[1]).strip()))
        elif not firewalld:
            try:
                found = parse_nft(nft[1])
            except (ValueError, KeyError) as error:
                found = [Layer("nftables", error="nft -j output not understood: %s" % error)]
            layers.extend(found)
            managers.append({"manager": "nftables", "active": bool(found)})
    if not ufw_active and not firewalld:
        for argv, family in ((["iptables-save", "-t", "filter"], "ipv4"), (["ip6tables-save", "-t", "filter"], "ipv6")):
            saved = command(argv)
            if saved is None:
                continue
            if saved[0] != 0:
                layers.append(Layer(argv[0], error="%s failed: %s" % (argv[0], (saved[2] or saved[1]).strip())))
                continue
            layer = parse_iptables(saved[1], family, argv[0].replace("-save", ""))
            managers.append({"manager": argv[0].replace("-save", ""), "active": layer is not None})
            if layer is not None:
                layers.append(layer)
    return layers, managers


def for_family(layers, family):
    """The layers that see ``family`` (``ipv4``/``ipv6``) packets."""
    return [layer for layer in layers if not (family == "ipv4" and layer.manager == "ip6tables")
            and not (family == "ipv6" and layer.manager == "iptables")
            and not (family == "ipv4" and layer.manager.startswith("nftables ip6 "))
            and not (family == "ipv6" and layer.manager.startswith("nftables ip "))]
