# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Other firewalls on the host that would make the module's rules
ineffective, found before anything changes.

In netfilter every base chain on a hook sees the packet, and a drop in any of
them is final: an accept in ours does not open a port another table drops.
So a port the registry opens stays closed when

- ufw is active (its chains drop what it does not allow),
- firewalld is running (its zones reject what they do not allow),
- another nftables base chain on the input or output hook (or a chain it
  jumps to) has a drop policy, or a drop or reject that is not a ban,
- iptables-legacy holds such rules beside the module's nftables or
  iptables-nft rules (the legacy hooks run too),
- with the iptables backend, INPUT or OUTPUT itself has policy DROP or such a
  rule: the module's chains end an accepted packet with RETURN (so bans
  keep precedence), and the built-in chain then decides.

Ban tools (fail2ban, sshguard, crowdsec) drop only the addresses they ban:
their drops match source addresses (an address or a set of them), so they
are not reported; nor is a drop of invalid packets (the module drops those
too). Docker's chains are on the forward hook, which is not examined here
(the module's forward rules only narrow what Docker accepts).

Each finding names the manager and the way out; ufw and firewalld can be
taken over (disabled in the same change and restored when the apply or its
rollback fails).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _host

HOOKS = ("input", "output")
# The chains of the iptables backend, never reported as another firewall.
OWN_CHAIN_PREFIX = "PORTCULLIS-"
# The tables iptables-nft writes: with the iptables backend they are read
# through iptables-save (the module's own chains are there).
IPTABLES_NFT = set((family, "filter") for family in ("ip", "ip6"))
# Where the kernel lists the legacy iptables tables that exist (reading it
# creates none, unlike running iptables-legacy-save).
LEGACY_TABLES = {"IPv4": ("/proc/net/ip_tables_names", "iptables-legacy-save"),
                 "IPv6": ("/proc/net/ip6_tables_names", "ip6tables-legacy-save")}


class Finding:
    """Another firewall: ``manager`` (ufw, firewalld, nftables, iptables-legacy),
    what shows it, how to get out of the way, and whether the module can take
    it over itself."""

    __slots__ = ("manager", "evidence", "way_out", "takeover")

    def __init__(self, manager, evidence, way_out, takeover=None):
        self.manager = manager
        self.evidence = evidence
        self.way_out = way_out
        self.takeover = takeover  # (disable argv list, restore argv list), or None

    def message(self):
        return "%s: %s; %s" % (self.manager, self.evidence, self.way_out)

    def __repr__(self):
        return "Finding(%r, %r)" % (self.manager, self.evidence)


def _run(runner, argv):
    binary = runner.which(argv[0])
    if binary is None:
        return None
    return runner.run([binary] + argv[1:])


def find_ufw(runner):
    result = _run(runner, ["ufw", "status"])
    if result is None or result[0] != 0 or "Status: active" not in result[1]:
        return []
    ufw = runner.which("ufw")
    return [Finding("ufw", "ufw is active (ufw status), and its chains drop what it does not allow",
                    "run 'ufw disable', or set other_firewalls: takeover (role: portcullis_firewall_other_firewalls) to hand the host to the registry",
                    ([ufw, "--force", "disable"], [ufw, "--force", "enable"]))]


def find_firewalld(runner):
    result = _run(runner, ["firewall-cmd", "--state"])
    if result is None or result[0] != 0 or "running" not in result[1]:
        return []
    systemctl = runner.which("systemctl")
    takeover = ([systemctl, "disable", "--now", "firewalld.service"],
                [systemctl, "enable", "--now", "firewalld.service"]) if systemctl else None
    return [Finding("firewalld", "firewalld is running, and its zones reject what they do not allow",
                    "run 'systemctl disable --now firewalld', or set other_firewalls: takeover (role: portcullis_firewall_other_firewalls) to hand the host to "
                    "the registry", takeover)]


def _drop_kind(statement):
    """"drop" or "reject" when an nft JSON statement is one (iptables-nft keeps REJECT as an xtables target; its
    LOG and others are not), None otherwise."""
    kind = next(iter(statement))
    if kind in ("drop", "reject"):
        return kind
    if kind == "xt" and (statement["xt"] or {}).get("name") in ("REJECT", "DROP"):
        return statement["xt"]["name"].lower()
    return None


def _broad_drop(rule):
    """"drop" or "reject" when a rule (nft JSON) drops or rejects more than
    banned addresses: no match on the source address, and not only invalid
    packets. None otherwise."""
    verdict = None
    for statement in rule.get("expr", []):
        kind = next(iter(statement))
        if _drop_kind(statement):
            verdict = _drop_kind(statement)
        elif kind == "match":
            left = statement["match"].get("left", {})
            payload = left.get("payload", {}) if isinstance(left, dict) else {}
            if payload.get("field") == "saddr" and statement["match"].get("op", "==") in ("==", "in"):
                return None  # a ban: it names the addresses it drops (`! -s X` drops every other one)
            ct = left.get("ct", {}) if isinstance(left, dict) else {}
            if ct.get("key") == "state" and statement["match"].get("right") == "invalid":
                return None
    return verdict


def accepted_sources(rules):
    """What the module's rules accept into the host from named sources: ``[(protocol, ports, networks)]``
    (protocol and ports None for any), from normalised rules (_rules.Rule)."""
    found = []
    for rule in rules or ():
        if getattr(rule, "chain", None) != "input" or getattr(rule, "action", None) != "accept" or not rule.sources:
            continue
        networks = []
        for source in rule.sources:
            try:
                networks.append(ipaddress.ip_network(source, strict=False))
            except ValueError:
                continue
        if networks:
            found.append((rule.protocol, rule.ports, networks))
    return found


def _covered(banned, protocol, ports, accepted):
    """The first source and port of ``accepted`` that a drop of ``banned`` (networks, for ``protocol`` and
    ``ports``: None for any) refuses, as text; None when the drop refuses nothing the rules accept."""
    for accepted_protocol, accepted_ports, networks in accepted:
        if protocol and accepted_protocol and protocol != accepted_protocol:
            continue
        shared = [max(low, start) for start, end in (accepted_ports or ((1, 65535),))
                  for low, high in (ports or ((1, 65535),)) if max(low, start) <= min(high, end)]
        if not shared:
            continue
        for network in networks:
            if any(network.version == ban.version and network.subnet_of(ban) for ban in banned):
                return "%s to port %d%s" % (network, shared[0], "/%s" % accepted_protocol if accepted_protocol else "")
    return None


def _nft_ban(rule):
    """``(networks, protocol, ports)`` a ban (nft JSON) drops: literal source addresses only (a named set, such as
    fail2ban's, changes by itself and is left out); None for anything else."""
    banned, protocol, ports = [], None, None
    for statement in rule.get("expr", []):
        match = statement.get("match") if isinstance(statement, dict) else None
        if not match:
            continue
        left, right = match.get("left", {}), match.get("right")
        payload = left.get("payload", {}) if isinstance(left, dict) else {}
        values = right["set"] if isinstance(right, dict) and "set" in right else [right]
        if payload.get("field") == "saddr":
            for value in values:
                if isinstance(value, dict) and "prefix" in value:
                    value = "%s/%s" % (value["prefix"].get("addr"), value["prefix"].get("len"))
                if not isinstance(value, str) or value.startswith("@"):
                    return None
                try:
                    banned.append(ipaddress.ip_network(value, strict=False))
                except ValueError:
                    return None
        elif payload.get("field") == "dport":
            protocol, ports = payload.get("protocol"), []
            for value in values:
                if isinstance(value, int):
                    ports.append((value, value))
                elif isinstance(value, dict) and "range" in value:
                    ports.append(tuple(value["range"]))
                else:
                    return None
    return (banned, protocol, ports) if banned else None


def _jumps(rule):
    """Names of the chains a rule jumps or goes to."""
    found = []
    for statement in rule.get("expr", []):
        for kind in ("jump", "goto"):
            if kind in statement:
                found.append(statement[kind]["target"])
    return found


def foreign_base_chains(ruleset, own_table, skip_tables=(), accepted=()):
    """Findings for base chains of other tables on the input and output hooks
    whose policy is drop, or that hold (or jump to a chain that holds) a drop
    or reject that is not a ban. ``ruleset`` is ``nft -j list ruleset``
    output; ``skip_tables`` are (family, table) examined another way. A ban that drops a source the module's
    rules accept (``accepted``: accepted_sources) on that port is found too: the flow they declare is refused."""
    chains, rules = _host.nft_chains_and_rules(ruleset) if ruleset else ({}, {})
    findings = []
    for key, chain in sorted(chains.items()):
        family, table, name = key
        # Before routing (raw and mangle PREROUTING, where a hand-typed ban often goes, ahead of conntrack) only
        # bans are looked at: Docker drops there what reaches its containers' addresses from elsewhere.
        bans_only = chain.get("hook") == "prerouting"
        if (family, table) == ("inet", own_table) or (family, table) in skip_tables or \
                (chain.get("hook") not in HOOKS and not bans_only) or chain.get("type") != "filter":
            continue
        manager = "ufw" if any(other[2].startswith("ufw") for other in chains if other[:2] == (family, table)) else \
            "firewalld" if table == "firewalld" else "nftables"
        reasons = []
        if chain.get("policy") == "drop" and not bans_only:
            reasons.append("policy drop")
        todo, seen = [name], set()
        while todo and len(reasons) < 2:
            current = todo.pop(0)
            if current in seen or current.startswith(OWN_CHAIN_PREFIX):
                continue
            seen.add(current)
            for position, rule in enumerate(rules.get((family, table, current), [])):
                verdict = None if bans_only else _broad_drop(rule)
                if verdict:
                    reasons.append("a rule that %ss more than banned addresses (rule %d of chain %s)"
                                   % (verdict, position + 1, current))
                    break
                # fail2ban's chains ban by themselves, for a while: not the hand-typed rules this is about.
                ban = _nft_ban(rule) if not current.startswith("f2b-") and any(
                    _drop_kind(statement) for statement in rule.get("expr", [])) else None
                covered = _covered(ban[0], ban[1], ban[2] or None, accepted) if ban else None
                if covered:
                    reasons.append("a rule that drops %s, which the registry's rules accept (rule %d of chain %s)"
                                   % (covered, position + 1, current))
                    break
                todo += _jumps(rule)
        if reasons:
            findings.append(Finding(
                manager, "the %s chain %s of table %s %s has %s, so it may drop what the module accepts"
                % (chain["hook"], name, family, table, " and ".join(reasons)),
                "remove that table or chain (or its drop), or manage those rules through the registry"))
    return findings


def iptables_drops(saved, accepted=()):
    """What drops in INPUT and OUTPUT of an ``iptables-save -t filter``
    output, besides bans (``-s``) and invalid packets: their policies DROP,
    and DROP or REJECT rules (the module's own chains are not looked at); and
    a ban of a source the module's rules accept on that port (``accepted``)."""
    findings = []
    for line in saved.splitlines():
        parts = line.split()
        if line.startswith(":INPUT ") or line.startswith(":OUTPUT "):
            if len(parts) > 1 and parts[1] == "DROP":
                findings.append("%s policy DROP" % parts[0][1:])
        elif parts[:1] == ["-A"] and parts[1:2] in (["INPUT"], ["OUTPUT"]):
            verdict = parts[parts.index("-j") + 1] if "-j" in parts[:-1] else None
            # A ban names the addresses it drops; `! -s X` drops every other one.
            banned = any(word in ("-s", "--src", "--source") and parts[index - 1] != "!"
                         for index, word in enumerate(parts))
            if verdict not in ("DROP", "REJECT") or "INVALID" in parts:
                continue
            if banned:
                covered = _covered(*(_iptables_ban(parts) + (accepted,))) if parts[1] == "INPUT" else None
                if covered:
                    findings.append("'%s' (it drops %s, which the registry's rules accept)" % (line, covered))
                continue
            findings.append("'%s'" % line)
    return findings


def _iptables_ban(parts):
    """``(networks, protocol, ports)`` of an iptables-save ban's words."""
    banned, protocol, ports = [], None, None
    for index, word in enumerate(parts[:-1]):
        value = parts[index + 1]
        try:
            if word in ("-s", "--src", "--source"):
                banned += [ipaddress.ip_network(item, strict=False) for item in value.split(",")]
            elif word in ("-p", "--protocol"):
                protocol = value
            elif word in ("--dport", "--destination-port", "--dports"):
                ports = [tuple(int(bound) for bound in (item.split(":") * 2)[:2]) for item in value.split(",")]
        except ValueError:
            return [], None, None
    return banned, protocol, ports


def _legacy_tables_exist(read, names_file):
    text = read(names_file)
    return bool(text and "filter" in text.split())


def _iptables_variant(runner):
    """"legacy" or "nf_tables": what the host's iptables command writes."""
    result = _run(runner, ["iptables", "--version"])
    return "legacy" if result is not None and "legacy" in result[1] else "nf_tables"


def detect(runner, backend_name, own_table="portcullis", read=None, rules=None):
    """Every other firewall that would make the module's rules ineffective.
    ``read(path)`` reads a file (for the legacy tables list), None when missing; ``rules`` the module's
    normalised rules, whose accepted sources a ban must not drop."""
    accepted = accepted_sources(rules)
    # The manager the module writes through is not another firewall: its table is where the rules are.
    own = {backend_name} if backend_name in ("ufw", "firewalld") else set()
    findings = [finding for finding in find_ufw(runner) + find_firewalld(runner) if finding.manager not in own]
    managed = set(finding.manager for finding in findings) | own
    variant = _iptables_variant(runner) if backend_name == "iptables" else None
    nft = _run(runner, ["nft", "-j", "list", "ruleset"])
    if nft is not None and nft[0] == 0:
        skip = IPTABLES_NFT if variant == "nf_tables" else ()
        for finding in foreign_base_chains(nft[1], own_table, skip, accepted):
            if finding.manager not in managed:
                findings.append(finding)
    if backend_name == "iptables" and "ufw" not in managed:
        # The module's chains RETURN what they accept into INPUT and OUTPUT, whose own rules then decide.
        for command, family in (("iptables-save", "IPv4"), ("ip6tables-save", "IPv6")):
            saved = _run(runner, [command, "-t", "filter"])
            found = iptables_drops(saved[1], accepted) if saved is not None and saved[0] == 0 else []
            if found:
                findings.append(Finding(
                    "iptables", "%s %s: %s, and the module's chains return what they accept to the built-in chain "
                    "(so that bans keep precedence), where it is then dropped"
                    % (family, command.replace("-save", ""), ", ".join(found)),
                    "set the policy to ACCEPT (%s -P INPUT ACCEPT; the module's own chain drops what it does not "
                    "accept) and remove those rules, or manage them through the registry"
                    % command.replace("-save", "")))
    if variant != "legacy":
        for family, (names_file, command) in sorted(LEGACY_TABLES.items()):
            if read is not None and not _legacy_tables_exist(read, names_file):
                continue  # no legacy filter table: nothing to read (and reading would create one)
            saved = _run(runner, [command, "-t", "filter"])
            if saved is None or saved[0] != 0:
                continue
            found = iptables_drops(saved[1], accepted)
            if found:
                findings.append(Finding(
                    "iptables-legacy", "%s iptables-legacy rules run beside the module's and drop: %s"
                    % (family, ", ".join(found)),
                    "remove them (iptables-legacy -F; iptables-legacy -P INPUT ACCEPT), or use backend: iptables "
                    "on a host that keeps legacy iptables"))
    return findings
