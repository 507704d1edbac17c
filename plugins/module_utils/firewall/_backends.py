# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall backends: each renders the normalised rules into its own scope
(nftables: ``table inet portcullis``; iptables: chains PORTCULLIS-* hooked
from the built-in ones), reads back what is live in that scope, and replaces
it in one transaction. Nothing outside that scope is touched.

The runner passed in provides ``run(argv, data=None) -> (rc, out, err)`` and
``which(name) -> path or None``; the module gives AnsibleModule's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc
import json

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

NFT_INCLUDE = 'include "/etc/nftables.d/*.nft"'
ICMP_ESSENTIAL = ("destination-unreachable", "echo-request", "parameter-problem", "time-exceeded")
ICMPV6_ESSENTIAL = ("destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem", "echo-request",
                    "nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert")


class BackendError(Exception):
    pass


class Defaults:
    """The rules every chain starts with, each switchable."""

    def __init__(self, established=True, loopback=True, icmp=True):
        self.established = established
        self.loopback = loopback
        self.icmp = icmp


class Backend(metaclass=abc.ABCMeta):
    """What the firewall module (``_apply.Firewall``) needs of a backend; each
    plan is in the backend's own input format, opaque to the caller."""

    name = None
    commands = ()
    # The service that loads the boot files at boot.
    boot_service = None

    def __init__(self, runner):
        self.runner = runner
        self.paths = {}
        for command in self.commands:
            path = runner.which(command)
            if path is None:
                raise BackendError("%s needs %s, which is not installed" % (self.name, command))
            self.paths[command] = path

    def _run(self, argv, data=None, what=None):
        rc, out, err = self.runner.run(argv, data)
        if rc != 0:
            raise BackendError("%s failed (rc=%d): %s" % (what or " ".join(argv), rc, (err or out).strip()))
        return out

    @abc.abstractmethod
    def usable(self):
        """Whether the kernel's ruleset can be read (root, CAP_NET_ADMIN)."""

    @abc.abstractmethod
    def render(self, rules, policy, defaults):
        """The whole scope as text: the comparable desired state."""

    @abc.abstractmethod
    def live(self):
        """The live scope as comparable text, or None when it does not exist."""

    @abc.abstractmethod
    def listing(self, live):
        """The live scope as the tool prints it ('' when ``live`` is None)."""

    @abc.abstractmethod
    def apply_plan(self, rules, policy, defaults, desired):
        """The transaction that replaces the scope with ``desired``."""

    @abc.abstractmethod
    def remove_plan(self):
        """The transaction that removes the scope and its hooks."""

    @abc.abstractmethod
    def rollback_plan(self, previous_listing):
        """The transaction that puts back what ``listing`` showed before."""

    @abc.abstractmethod
    def check(self, plan):
        """Validate a plan without applying it; BackendError when refused."""

    @abc.abstractmethod
    def apply(self, plan):
        """Apply a plan in one transaction; BackendError when refused."""

    @abc.abstractmethod
    def persist_files(self, rules, policy, defaults, desired):
        """``{path: content}`` of the files that load the scope at boot."""

    @abc.abstractmethod
    def boot_config_changes(self, read, has_files):
        """Other files the boot files need changed: ``{path: content}``.
        ``read(path)`` returns a file's content or None."""

    @abc.abstractmethod
    def owns_boot_file(self, content):
        """Whether an existing boot file with ``content`` may be replaced or removed."""

    @abc.abstractmethod
    def boot_file_mode(self, path):
        """The mode a boot file is written with."""

    @abc.abstractmethod
    def restore_script(self, plan, directory, token):
        """Files and a shell script that apply ``plan``, for the rollback timer."""


class Nftables(Backend):
    name = "nftables"
    commands = ("nft",)
    table = "portcullis"
    persist_path = "/etc/nftables.d/portcullis.nft"
    boot_config = "/etc/nftables.conf"
    boot_service = "nftables.service"

    def usable(self):
        rc, _out, _err = self.runner.run([self.paths["nft"], "list", "tables"])
        return rc == 0

    # Rendering

    @staticmethod
    def _addresses(networks):
        return networks[0] if len(networks) == 1 else "{ %s }" % ", ".join(networks)

    def _rule(self, rule):
        parts = []
        prefix = {4: "ip", 6: "ip6"}.get(rule.family)
        if rule.sources:
            parts.append("%s saddr %s" % (prefix, self._addresses(rule.sources)))
        if rule.destinations:
            parts.append("%s daddr %s" % (prefix, self._addresses(rule.destinations)))
        if rule.protocol == "icmp":
            parts.append({4: "meta l4proto icmp", 6: "meta l4proto ipv6-icmp"}.get(rule.family, "meta l4proto { icmp, ipv6-icmp }"))
        elif rule.protocol == "both":
            parts.append("meta l4proto { tcp, udp }")
            if rule.ports:
                parts.append("th dport %s" % resolver.nft_set(rule.ports))
        elif rule.ports:
            parts.append("%s dport %s" % (rule.protocol, resolver.nft_set(rule.ports)))
        else:
            parts.append("meta l4proto %s" % rule.protocol)
        if rule.rate is not None:
            parts.append("limit rate %d/%s" % (rule.rate, rule.rate_unit) + (" burst %d packets" % rule.burst if rule.burst else ""))
        if rule.log is not None:
            parts.append('log prefix "%s"' % rule.log)
        parts.append(rule.action)
        if rule.comment:
            parts.append('comment "%s"' % rule.comment)
        return " ".join(parts)

    def _defaults(self, chain, defaults):
        lines = []
        if chain == "forward":
            return lines
        if defaults.established:
            lines += ["ct state established,related accept", "ct state invalid drop"]
        if defaults.loopback:
            lines.append('%s "lo" accept' % ("iif" if chain == "input" else "oif"))
        if defaults.icmp:
            lines.append("meta l4proto icmp icmp type { %s } accept" % ", ".join(ICMP_ESSENTIAL))
            lines.append("meta l4proto ipv6-icmp icmpv6 type { %s } accept" % ", ".join(ICMPV6_ESSENTIAL))
        return lines

    def render(self, rules, policy, defaults):
        out = ["table inet %s {" % self.table]
        for chain in ("input", "forward", "output"):
            out.append("\tchain %s {" % chain)
            out.append("\t\ttype filter hook %s priority filter; policy %s;" % (chain, policy[chain]))
            for line in self._defaults(chain, defaults) + [self._rule(rule) for rule in rules if rule.chain == chain]:
                out.append("\t\t" + line)
            out.append("\t}")
        out.append("}")
        return "\n".join(out) + "\n"

    def transaction(self, ruleset):
        """Replace the table in one transaction: create it if missing (so the
        delete cannot fail), delete it, define it anew."""
        return "table inet %s\ndelete table inet %s\n%s" % (self.table, self.table, ruleset)

    def removal(self):
        return "table inet %s\ndelete table inet %s\n" % (self.table, self.table)

    # Live state

    def live(self):
        """Normalised JSON of the live table (handles dropped), or None."""
        rc, out, err = self.runner.run([self.paths["nft"], "-j", "list", "table", "inet", self.table])
        if rc != 0:
            if "No such file or directory" in err or "does not exist" in err:
                return None
            raise BackendError("nft list table inet %s failed: %s" % (self.table, err.strip()))
        return json.dumps(_strip_handles(json.loads(out)["nftables"]), sort_keys=True)

    def listing(self, live):
        """The live table as nft prints it, for diffs and rollback; '' when
        ``live`` (what live() returned) says there is none."""
        if live is None:
            return ""
        rc, out, _err = self.runner.run([self.paths["nft"], "list", "table", "inet", self.table])
        return out if rc == 0 else ""

    def check(self, plan):
        self._run([self.paths["nft"], "-c", "-f", "-"], data=plan, what="nft -c (the new ruleset did not validate)")

    def apply(self, plan):
        self._run([self.paths["nft"], "-f", "-"], data=plan, what="nft -f")

    # The plans the orchestrator runs, in this backend's own input format.

    def apply_plan(self, rules, policy, defaults, desired):
        return self.transaction(desired)

    def remove_plan(self):
        return self.removal()

    def rollback_plan(self, previous_listing):
        return self.transaction(previous_listing) if previous_listing else self.removal()

    def persist_files(self, rules, policy, defaults, desired):
        return {self.persist_path: "#!/usr/sbin/nft -f\n# Written by portcullis.ports firewall.\n" + self.transaction(desired)}

    def boot_config_changes(self, read, has_files):
        """The include line in /etc/nftables.conf that loads our file."""
        if not has_files:
            return {}
        config = read(self.boot_config)
        if config is None:
            return {self.boot_config: "#!/usr/sbin/nft -f\n%s\n" % NFT_INCLUDE}
        if NFT_INCLUDE not in config.splitlines():
            return {self.boot_config: config.rstrip("\n") + "\n" + NFT_INCLUDE + "\n"}
        return {}

    def owns_boot_file(self, content):
        return True  # our own path under /etc/nftables.d

    def boot_file_mode(self, path):
        return 0o755 if path == self.boot_config else 0o600

    def restore_script(self, plan, directory, token):
        """Files and a shell script that put ``plan`` in place, for the rollback timer."""
        path = "%s/rollback-%s.nft" % (directory, token)
        return {path: plan}, "%s -f %s\n" % (self.paths["nft"], path)


def _strip_handles(items):
    result = []
    for item in items:
        if "metainfo" in item:
            continue
        result.append(_without_handle(item))
    return result


def _without_handle(value):
    if isinstance(value, dict):
        return dict((key, _without_handle(item)) for key, item in value.items() if key != "handle")
    if isinstance(value, list):
        return [_without_handle(item) for item in value]
    return value


class Iptables(Backend):
    """iptables and ip6tables: chains PORTCULLIS-INPUT/OUTPUT/FORWARD in the
    filter table, jumped to first from INPUT/OUTPUT/FORWARD, replaced with
    iptables-restore --noflush (one transaction per family)."""

    name = "iptables"
    commands = ("iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore")
    chains = {"input": "PORTCULLIS-INPUT", "output": "PORTCULLIS-OUTPUT", "forward": "PORTCULLIS-FORWARD"}
    builtins = {"input": "INPUT", "output": "OUTPUT", "forward": "FORWARD"}
    persist_paths = {4: "/etc/iptables/rules.v4", 6: "/etc/iptables/rules.v6"}
    boot_service = "netfilter-persistent.service"
    marker = "# Written by portcullis.ports firewall; the whole file is replaced on every run."

    def usable(self):
        rc, _out, _err = self.runner.run([self.paths["iptables-save"], "-t", "filter"])
        return rc == 0

    @staticmethod
    def _quote(text):
        return '"%s"' % text

    def _matches(self, rule, version):
        """The match parts of one rule for one family, one list per rule line."""
        base = []
        if rule.sources:
            base += ["-s", ",".join(rule.sources)]
        if rule.destinations:
            base += ["-d", ",".join(rule.destinations)]
        variants = []
        if rule.protocol == "icmp":
            variants.append(["-p", "icmp" if version == 4 else "ipv6-icmp"])
        else:
            for protocol in (("tcp", "udp") if rule.protocol == "both" else (rule.protocol,)):
                if not rule.ports:
                    variants.append(["-p", protocol])
                elif len(rule.ports) == 1 and rule.ports[0][0] == rule.ports[0][1]:
                    variants.append(["-p", protocol, "-m", protocol, "--dport", str(rule.ports[0][0])])
                else:
                    for chunk in resolver.iptables_multiport(rule.ports):
                        variants.append(["-p", protocol, "-m", "multiport", "--dports", chunk])
        tail = []
        if rule.rate is not None:
            tail += ["-m", "limit", "--limit", "%d/%s" % (rule.rate, rule.rate_unit)]
            if rule.burst:
                tail += ["--limit-burst", str(rule.burst)]
        if rule.comment:
            tail += ["-m", "comment", "--comment", self._quote(rule.comment)]
        return [base + variant + tail for variant in variants]

    def _defaults(self, chain, defaults, version):
        lines = []
        if chain == "forward":
            return lines
        if defaults.established:
            lines += [["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
                      ["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"]]
        if defaults.loopback:
            lines.append(["-i" if chain == "input" else "-o", "lo", "-j", "ACCEPT"])
        if defaults.icmp:
            if version == 4:
                lines += [["-p", "icmp", "-m", "icmp", "--icmp-type", kind, "-j", "ACCEPT"] for kind in ICMP_ESSENTIAL]
            else:
                names = dict(zip(ICMPV6_ESSENTIAL, ICMPV6_ESSENTIAL))
                names.update({"nd-router-solicit": "router-solicitation", "nd-router-advert": "router-advertisement",
                              "nd-neighbor-solicit": "neighbour-solicitation", "nd-neighbor-advert": "neighbour-advertisement"})
                lines += [["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", names[kind], "-j", "ACCEPT"]
                          for kind in ICMPV6_ESSENTIAL]
        return lines

    def chain_lines(self, rules, policy, defaults, version):
        """``-A`` lines of our chains for one family (without the hooks)."""
        lines = []
        for chain in ("input", "forward", "output"):
            name = self.chains[chain]
            for parts in self._defaults(chain, defaults, version):
                lines.append(" ".join(["-A", name] + parts))
            for rule in rules:
                if rule.chain != chain or rule.family not in (None, version):
                    continue
                for match in self._matches(rule, version):
                    if rule.log is not None:
                        lines.append(" ".join(["-A", name] + match + ["-j", "LOG", "--log-prefix", self._quote(rule.log)]))
                    lines.append(" ".join(["-A", name] + match + ["-j", rule.action.upper()]))
            if policy[chain] == "drop":
                lines.append("-A %s -j DROP" % name)
        return lines

    def render(self, rules, policy, defaults):
        """Both families' chain contents, as one text (the comparable desired state)."""
        return "".join("# IPv%d\n%s\n" % (version, "\n".join(self.chain_lines(rules, policy, defaults, version)))
                       for version in (4, 6))

    def _tools(self, version):
        suffix = "" if version == 4 else "6"
        return self.paths["ip%stables-save" % suffix], self.paths["ip%stables-restore" % suffix]

    def _save(self, version):
        return self._run([self._tools(version)[0], "-t", "filter"], what="ip%stables-save" % ("" if version == 4 else "6"))

    def _ours(self, saved):
        """Lines of iptables-save output in our scope: our chains and the jumps to them."""
        lines = []
        for line in saved.splitlines():
            if line.startswith(":PORTCULLIS-"):
                lines.append(line.split()[0])
            elif line.startswith("-A PORTCULLIS-") or (line.startswith("-A ") and line.split()[-1] in self.chains.values()
                                                       and " -j PORTCULLIS-" in line):
                lines.append(line)
        return lines

    def live(self):
        ours = dict((version, self._ours(self._save(version))) for version in (4, 6))
        if not any(ours.values()):
            return None
        return "\n".join("# IPv%d\n%s" % (version, "\n".join(ours[version])) for version in (4, 6))

    def listing(self, live):
        """iptables-save lines are already readable: the listing is ``live`` itself."""
        return live or ""

    def _hooks_present(self, version):
        saved = self._save(version)
        return set(line.split()[1] for line in saved.splitlines()
                   if line.startswith("-A ") and line.split()[-1] in self.chains.values() and line.split()[1] in self.builtins.values())

    def transaction(self, ruleset_by_version):
        """iptables-restore --noflush input per family: declaring our chains
        flushes them, the jumps are added only where missing."""
        result = {}
        for version, lines in ruleset_by_version.items():
            hooked = self._hooks_present(version)
            out = ["*filter"]
            out += [":%s - [0:0]" % self.chains[chain] for chain in ("input", "forward", "output")]
            out += lines
            for chain in ("input", "forward", "output"):
                if self.builtins[chain] not in hooked:
                    out.append("-I %s 1 -j %s" % (self.builtins[chain], self.chains[chain]))
            out.append("COMMIT")
            result[version] = "\n".join(out) + "\n"
        return result

    def removal_transaction(self):
        result = {}
        for version in (4, 6):
            saved = self._save(version)
            present = set(line.split()[0][1:] for line in saved.splitlines() if line.startswith(":PORTCULLIS-"))
            if not present:
                continue
            out = ["*filter"]
            for line in saved.splitlines():
                if line.startswith("-A ") and line.split()[1] in self.builtins.values() and line.split()[-1] in present:
                    out.append("-D" + line[2:])
            out += ["-F %s" % name for name in sorted(present)]
            out += ["-X %s" % name for name in sorted(present)]
            out.append("COMMIT")
            result[version] = "\n".join(out) + "\n"
        return result

    def check(self, plan):
        """``plan``: iptables-restore input per family."""
        for version, text in plan.items():
            self._run([self._tools(version)[1], "--test", "--noflush"], data=text,
                      what="ip%stables-restore --test (the new ruleset did not validate)" % ("" if version == 4 else "6"))

    def apply(self, plan):
        for version, text in sorted(plan.items()):
            self._run([self._tools(version)[1], "--noflush"], data=text,
                      what="ip%stables-restore --noflush" % ("" if version == 4 else "6"))

    def rollback_transaction(self, previous_live):
        """iptables-restore --noflush input per family that puts back what
        live() returned before the apply (or removes our chains and hooks)."""
        result = {}
        sections = {}
        if previous_live:
            current = None
            for line in previous_live.splitlines():
                if line.startswith("# IPv"):
                    current = int(line[5:])
                    sections[current] = []
                elif current is not None:
                    sections[current].append(line)
        for version in (4, 6):
            out = ["*filter"]
            lines = sections.get(version, [])
            if lines:
                out += [":%s - [0:0]" % self.chains[chain] for chain in ("input", "forward", "output")]
                out += [line for line in lines if line.startswith("-A PORTCULLIS-")]
            else:
                out += ["-D %s -j %s" % (self.builtins[chain], self.chains[chain]) for chain in ("input", "forward", "output")]
                out += ["-F %s" % self.chains[chain] for chain in ("input", "forward", "output")]
                out += ["-X %s" % self.chains[chain] for chain in ("input", "forward", "output")]
            out.append("COMMIT")
            result[version] = "\n".join(out) + "\n"
        return result

    def apply_plan(self, rules, policy, defaults, desired):
        return self.transaction(dict((version, self.chain_lines(rules, policy, defaults, version)) for version in (4, 6)))

    def remove_plan(self):
        return self.removal_transaction()

    def rollback_plan(self, previous_listing):
        return self.rollback_transaction(previous_listing)

    def persist_files(self, rules, policy, defaults, desired):
        return dict((self.persist_paths[version], self.boot_file(rules, policy, defaults, version)) for version in (4, 6))

    def boot_config_changes(self, read, has_files):
        return {}

    def owns_boot_file(self, content):
        """iptables-persistent's files may hold someone else's rules: only ours are replaced."""
        return content is None or content.startswith(self.marker)

    def boot_file_mode(self, path):
        return 0o600

    def restore_script(self, plan, directory, token):
        files = {}
        script = ""
        for version, text in sorted(plan.items()):
            path = "%s/rollback-%s.v%d" % (directory, token, version)
            files[path] = text
            script += "%s --noflush < %s\n" % (self._tools(version)[1], path)
        return files, script

    def boot_file(self, rules, policy, defaults, version):
        """A whole filter table for iptables-persistent to load at boot."""
        out = [self.marker, "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        out += [":%s - [0:0]" % self.chains[chain] for chain in ("input", "forward", "output")]
        out += ["-A %s -j %s" % (self.builtins[chain], self.chains[chain]) for chain in ("input", "forward", "output")]
        out += self.chain_lines(rules, policy, defaults, version)
        out.append("COMMIT")
        return "\n".join(out) + "\n"


BACKENDS = {"nftables": Nftables, "iptables": Iptables}


def select_backend(runner, wanted="auto"):
    """The backend to use; ``auto`` prefers nftables."""
    if wanted != "auto":
        backend = BACKENDS[wanted](runner)
        if not backend.usable():
            raise BackendError("the %s backend cannot read the kernel's ruleset (run as root, with CAP_NET_ADMIN)" % wanted)
        return backend
    reasons = []
    for name in ("nftables", "iptables"):
        try:
            backend = BACKENDS[name](runner)
        except BackendError as error:
            reasons.append(str(error))
            continue
        if backend.usable():
            return backend
        reasons.append("%s cannot read the kernel's ruleset" % name)
    raise BackendError("no usable firewall backend: " + "; ".join(reasons))
