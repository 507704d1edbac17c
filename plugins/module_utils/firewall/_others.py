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
- another nftables base chain on the input or output hook has a drop policy
  or ends in a drop or reject that matches everything,
- iptables-legacy holds such rules while the module writes nftables (the
  legacy hooks run beside nftables).

Ban tools (fail2ban, sshguard, crowdsec) drop only the addresses they ban:
their drops match a set or an address, never everything, so they are not
reported. Docker's chains are on the forward hook, which is not examined here
(the module's forward rules only narrow what Docker accepts).

Each finding names the manager and the way out; ufw and firewalld can be
taken over (disabled in the same change and restored when the apply or its
rollback fails).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

HOOKS = ("input", "output")
# Statements that do not narrow what a rule matches.
_NON_MATCHING = ("counter", "log", "limit", "comment")


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
                    "run 'ufw disable', or set other_firewalls: takeover to hand the host to the registry",
                    ([ufw, "--force", "disable"], [ufw, "--force", "enable"]))]


def find_firewalld(runner):
    result = _run(runner, ["firewall-cmd", "--state"])
    if result is None or result[0] != 0 or "running" not in result[1]:
        return []
    systemctl = runner.which("systemctl")
    takeover = ([systemctl, "disable", "--now", "firewalld.service"],
                [systemctl, "enable", "--now", "firewalld.service"]) if systemctl else None
    return [Finding("firewalld", "firewalld is running, and its zones reject what they do not allow",
                    "run 'systemctl disable --now firewalld', or set other_firewalls: takeover to hand the host to "
                    "the registry", takeover)]


def _catch_all_drop(rule):
    """Whether a rule (nft JSON) drops or rejects every packet it sees."""
    verdict = None
    for statement in rule.get("expr", []):
        kind = next(iter(statement))
        if kind in ("drop", "reject"):
            verdict = kind
        elif kind not in _NON_MATCHING:
            return None
    return verdict


def foreign_base_chains(ruleset, own_table, own_chains=()):
    """Findings for base chains of other tables (or of the iptables-nft tables,
    beside the module's own chains) on the input and output hooks whose policy
    is drop or that end in a drop or reject matching everything. ``ruleset`` is
    ``nft -j list ruleset`` output."""
    items = json.loads(ruleset).get("nftables", []) if ruleset else []
    chains = {}
    rules = {}
    for item in items:
        if "chain" in item:
            chain = item["chain"]
            chains[(chain["family"], chain["table"], chain["name"])] = chain
        elif "rule" in item:
            rule = item["rule"]
            rules.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(rule)
    findings = []
    for key, chain in sorted(chains.items()):
        family, table, name = key
        if (family, table) == ("inet", own_table) or chain.get("hook") not in HOOKS or chain.get("type") != "filter":
            continue
        manager = "ufw" if any(other[2].startswith("ufw") for other in chains if other[:2] == (family, table)) else \
            "firewalld" if table == "firewalld" else "nftables"
        reasons = []
        if chain.get("policy") == "drop":
            reasons.append("policy drop")
        for rule in rules.get(key, []):
            verdict = _catch_all_drop(rule)
            if verdict:
                reasons.append("a rule that %ss everything" % verdict)
                break
        if reasons:
            findings.append(Finding(
                manager, "the %s chain %s of table %s %s has %s, so it drops what the module accepts"
                % (chain["hook"], name, family, table, " and ".join(reasons)),
                "remove that table or chain (or its drop), or manage those rules through the registry"))
    return findings


def legacy_rules(saved):
    """Findings for iptables-legacy filter rules that drop on input or output
    (``iptables-legacy-save -t filter`` output) while the module uses nftables."""
    findings = []
    for line in saved.splitlines():
        parts = line.split()
        if line.startswith(":INPUT ") or line.startswith(":OUTPUT "):
            if len(parts) > 1 and parts[1] == "DROP":
                findings.append("%s policy DROP" % parts[0][1:])
        elif parts[:1] == ["-A"] and parts[1:2] in (["INPUT"], ["OUTPUT"]):
            # Only a rule that matches everything: "-A INPUT -j DROP", "-A INPUT -j REJECT --reject-with ...".
            if parts[2:3] == ["-j"] and parts[3:4] in (["DROP"], ["REJECT"]):
                findings.append("'%s'" % line)
    return findings


def detect(runner, backend_name, own_table="portcullis"):
    """Every other firewall that would make the module's rules ineffective."""
    findings = find_ufw(runner) + find_firewalld(runner)
    managed = set(finding.manager for finding in findings)
    nft = _run(runner, ["nft", "-j", "list", "ruleset"])
    if nft is not None and nft[0] == 0:
        for finding in foreign_base_chains(nft[1], own_table):
            if finding.manager not in managed:
                findings.append(finding)
    if backend_name == "nftables":
        for command, family in (("iptables-legacy-save", "IPv4"), ("ip6tables-legacy-save", "IPv6")):
            saved = _run(runner, [command, "-t", "filter"])
            if saved is None or saved[0] != 0:
                continue
            found = legacy_rules(saved[1])
            if found:
                findings.append(Finding(
                    "iptables-legacy", "%s iptables-legacy rules run beside nftables and drop: %s"
                    % (family, ", ".join(found)),
                    "remove them (iptables-legacy -F; iptables-legacy -P INPUT ACCEPT), or use backend: iptables "
                    "on a host that keeps legacy iptables"))
    return findings
