# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall backends: each renders the normalised rules into its own scope
(nftables: ``table inet portcullis``; iptables: chains PORTCULLIS-* hooked
from INPUT, OUTPUT and DOCKER-USER), reads back what is live in that scope,
and replaces it in one transaction. Nothing outside that scope is touched.

Both backends give the same meaning to a rule set:

- Accepting is not final. In nftables a drop in any base chain wins; the
  iptables chains end an accepted packet with RETURN, so the rest of INPUT
  (a fail2ban, sshguard or crowdsec ban) still applies, wherever the ban
  tool put its rules and whenever it started.
- Forward rules govern forwarded connections by the destination the client
  sent (conntrack's original destination port and address): a port a
  container runtime publishes gets the same ``expose``/``allow_from`` as a
  port of the host. With the ``dnat`` policy drop, what is closed is told by
  what the connection is, never by an interface name:

  * published: a new connection sent to an address of this host (the
    routing table's verdict, ``fib daddr type local`` / ``addrtype LOCAL``,
    taken before any DNAT and kept as bit ``LOCAL_MARK`` of the conntrack
    mark) that was then DNATed and forwarded, whichever runtime DNATed it
    (Docker with any bridge name, Podman's CNI or netavark, a Kubernetes
    hostPort or NodePort) and whichever interface it leaves by, is dropped
    unless a forward rule accepts it. DNAT to an address that is not the
    host's (a kube-proxy service address) follows the ``forward`` policy.
  * routed: a new connection forwarded without DNAT into a bridge (the
    kind of interface every bridge-based runtime puts its containers
    behind) from an interface that is not a bridge, so a neighbour that
    routes a container subnet via the host does not reach the container by
    its own address, is dropped unless a forward rule accepts it.
    Containers' own connections (from a bridge) pass, to the outside and to
    each other. nftables matches the interface kind in the kernel
    (``meta iifkind``/``oifkind``); iptables cannot, so it names the bridges
    present at each run, and says so.

  ``limits()`` names what this cannot govern on the host as found.
- At boot the module's own unit (portcullis-firewall.service) loads only the
  module's scope; other tools' tables are never flushed.

The runner passed in provides ``run(argv, data=None) -> (rc, out, err)`` and
``which(name) -> path or None``; the module gives AnsibleModule's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc
import ipaddress
import json

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as rules_mod
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

ICMP_ESSENTIAL = ("destination-unreachable", "echo-request", "parameter-problem", "time-exceeded")
ICMPV6_ESSENTIAL = ("destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem", "echo-request",
                    "nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert")
CHAINS = ("input", "forward", "output")
# The bit of the conntrack mark that says "this connection was sent to an
# address of this host": set before DNAT (prerouting, mangle priority) on new
# connections only, read in the forward chain. No runtime we know uses it;
# the other 31 bits are left as they are.
LOCAL_MARK = 0x20000000
PUBLISHED_COMMENT = "published ports no rule opens"
ROUTED_COMMENT = "container addresses no rule opens"
BOOT_DIR = "/etc/portcullis"
BOOT_UNIT = "portcullis-firewall.service"
BOOT_UNIT_PATH = "/etc/systemd/system/" + BOOT_UNIT
MARKER = "# Written by portcullis.ports firewall; the whole file is replaced on every run."
# Where versions before 0.1.0's release kept the boot files (removed when
# found). The include line they added to /etc/nftables.conf is left: the
# file is not ours, and a user may include that directory too.
LEGACY_BOOT = {"nftables": ("/etc/nftables.d/portcullis.nft",), "iptables": ("/etc/iptables/rules.v4", "/etc/iptables/rules.v6")}


# Run after the chains are loaded when the unit is bound to a service that flushes every iptables chain (firewalld):
# when Docker runs, it makes its chains again once firewalld signals it started, inserting its FORWARD rules above
# the jump to DOCKER-USER; wait (at most 20 s) until its chains are back and FORWARD reads the same twice, then put
# the jump first again. At boot Docker is not running yet, and this returns at once. ($$ is systemd's $.)
RUNTIME_SETTLE = ("/bin/sh -c 'systemctl is-active -q docker.service || exit 0; previous=; for step in $$(seq 40); do "
                  "now=$$(iptables -S FORWARD 2>/dev/null); if [ -n \"$$now\" ] && [ \"$$now\" = \"$$previous\" ] && "
                  "iptables -n -L DOCKER >/dev/null 2>&1; then break; fi; previous=$$now; sleep 0.5; done; "
                  "for tool in iptables ip6tables; do while $$tool -D FORWARD -j DOCKER-USER 2>/dev/null; do :; done; "
                  "$$tool -N DOCKER-USER 2>/dev/null; $$tool -I FORWARD 1 -j DOCKER-USER; done'")


class BackendError(Exception):
    pass


class Backend(metaclass=abc.ABCMeta):
    """What the firewall module (``_apply.Firewall``) needs of a backend; each
    plan is in the backend's own input format, opaque to the caller."""

    name = None
    commands = ()
    # Why usable() says no, as select_backend names it.
    unusable = "cannot read the kernel's ruleset (run as root, with CAP_NET_ADMIN)"

    def __init__(self, runner):
        self.runner = runner
        self.paths = {}
        # What an apply could not keep of other tools' state, for the run's warnings.
        self.apply_warnings = []
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

    def interfaces(self):
        """``(links, routes)`` as ``ip -j -d link show`` and ``ip -j route show``
        (both families) print them, or None when they cannot be read."""
        if getattr(self, "_interfaces", None) is None:
            ip = self.runner.which("ip")
            if ip is None:
                return None
            rc, out, _err = self.runner.run([ip, "-j", "-d", "link", "show"])
            if rc != 0:
                return None
            links, routes = json.loads(out or "[]"), []
            for family in ("-4", "-6"):
                rc, out, _err = self.runner.run([ip, "-j", family, "route", "show"])
                if rc == 0:
                    routes += json.loads(out or "[]")
            self._interfaces = (links, routes)
        return self._interfaces

    def bridges(self):
        """Names of the host's bridges now (the kind of interface container runtimes put containers behind)."""
        found = self.interfaces()
        return sorted(link["ifname"] for link in (found[0] if found else ())
                      if link.get("linkinfo", {}).get("info_kind") == "bridge")

    def limits(self, policy):
        """Warnings naming the paths the ``dnat`` policy drop cannot govern on
        this host as it is now (none when that policy is accept)."""
        if policy["dnat"] != "drop":
            return []
        found = self.interfaces()
        if found is None:
            return ["the host's interfaces could not be read (ip -j link show): the run cannot say which container "
                    "paths it does not govern"]
        links, routes = found
        kinds = dict((link["ifname"], link.get("linkinfo", {}).get("info_kind", "")) for link in links)
        enslaved = set(link["ifname"] for link in links if link.get("master"))
        uplinks = sorted(set(route.get("dev") for route in routes if route.get("dst") == "default" and route.get("dev")))
        warnings = []
        for dev in uplinks:
            if kinds.get(dev) == "bridge":
                warnings.append("the default route leaves through %s, a bridge: connections routed from it straight to "
                                "container addresses look like containers' own (both come from a bridge), so the dnat "
                                "policy does not close them" % dev)
        routed = {}
        for route in routes:
            dev = route.get("dev")
            if route.get("dst") not in (None, "default") and kinds.get(dev) == "veth" and dev not in enslaved \
                    and dev not in uplinks:
                routed.setdefault(dev, []).append(route["dst"])
        for dev, destinations in sorted(routed.items()):
            warnings.append("%s routes through %s, a veth with no bridge (containers routed one by one, as Calico "
                            "does): new connections routed to those addresses are not closed by the dnat policy, "
                            "which recognises containers behind bridges only" % (", ".join(destinations), dev))
        return warnings

    def iptables_chains(self):
        """The keys (input, forward, output, prerouting) of the iptables chains
        PORTCULLIS-* this backend governs: the iptables backend all of them, a
        manager's forward part forward and prerouting."""
        return ()

    def cede(self, claimed):
        """Stop governing the iptables chains ``claimed`` (keys): the backend
        in charge, or another scope, governs them, so this one neither lists
        nor removes them."""

    @abc.abstractmethod
    def usable(self):
        """Whether the kernel's ruleset can be read (root, CAP_NET_ADMIN)."""

    @abc.abstractmethod
    def render(self, rules, policy, defaults):
        """The whole scope as text: the comparable desired state."""

    @abc.abstractmethod
    def live(self):
        """The live scope as comparable text, or None when it does not exist
        ('' for a manager's shared rule list holding nothing of ours)."""

    @abc.abstractmethod
    def listing(self, live):
        """The live scope as the tool prints it ('' when ``live`` is None)."""

    def comparable(self, text):
        """A desired or live text recorded by an earlier version, in the form
        ``render`` and ``live`` give now (so an upgrade alone is no change)."""
        return text

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
    def boot_files(self, rules, policy, defaults, desired):
        """``{path: content}`` the boot unit loads: the scope and nothing else."""

    @abc.abstractmethod
    def boot_unit(self):
        """The text of portcullis-firewall.service for this backend, or None
        when the manager it writes through loads its own rules at boot (ufw)."""

    @abc.abstractmethod
    def restore_script(self, plan, directory, token):
        """Files and a shell script that apply ``plan``, for the rollback timer."""

    def legacy_boot(self, read):
        """Boot files and lines earlier versions wrote for this backend that
        are still there: ``{path: new content, or None to remove the file}``."""
        changes = {}
        for path in LEGACY_BOOT[self.name]:
            content = read(path)
            if content is not None and (self.name == "nftables" or content.startswith(MARKER)):
                changes[path] = None
        return changes

    @staticmethod
    def unit(description, start, stop=(), bound_to=None):
        """``bound_to``: ``(service, command)``, a service that flushes our
        chains when it starts (firewalld), and a command that returns once
        it has: this unit starts after it, and waits for that command."""
        after = "nftables.service netfilter-persistent.service" + (" %s" % bound_to[0] if bound_to else "")
        lines = ["# %s" % MARKER[2:], "[Unit]", "Description=%s" % description, "DefaultDependencies=no",
                 "Wants=network-pre.target", "Before=network-pre.target shutdown.target",
                 # After a distribution unit that may flush the whole ruleset at boot.
                 "After=%s" % after, "Conflicts=shutdown.target"]
        lines += ["", "[Service]", "Type=oneshot", "RemainAfterExit=yes"]
        lines += ["ExecStartPre=-%s" % bound_to[1]] if bound_to else []
        lines += ["ExecStart=%s" % command for command in start]
        lines += ["ExecStartPost=-%s" % RUNTIME_SETTLE] if bound_to else []
        lines += ["ExecStop=-%s" % command for command in stop]
        lines += ["", "[Install]", "WantedBy=sysinit.target", ""]
        return "\n".join(lines)


class Nftables(Backend):
    name = "nftables"
    commands = ("nft",)
    table = "portcullis"
    boot_path = BOOT_DIR + "/firewall.nft"

    def usable(self):
        rc, _out, _err = self.runner.run([self.paths["nft"], "list", "tables"])
        return rc == 0

    # Rendering

    @staticmethod
    def _addresses(networks):
        # One address is written as nft lists it (no /32 or /128), so a diff shows only real changes.
        items = []
        for text in networks:
            network = ipaddress.ip_network(text)
            items.append(str(network.network_address) if network.prefixlen == network.max_prefixlen else text)
        return items[0] if len(items) == 1 else "{ %s }" % ", ".join(items)

    def _rule(self, rule):
        parts = []
        prefix = {4: "ip", 6: "ip6"}.get(rule.family)
        forward = rule.chain == "forward"
        if rule.sources:
            parts.append("%s saddr %s" % (prefix, self._addresses(rule.sources)))
        if rule.destinations:
            parts.append("%s%s daddr %s" % ("ct original " if forward else "", prefix, self._addresses(rule.destinations)))
        port = "ct original proto-dst" if forward else None
        if rule.protocol == "icmp":
            parts.append({4: "meta l4proto icmp", 6: "meta l4proto ipv6-icmp"}.get(rule.family, "meta l4proto { icmp, ipv6-icmp }"))
        elif rule.protocol == "both":
            parts.append("meta l4proto { tcp, udp }")
            if rule.ports:
                parts.append("%s %s" % (port or "th dport", resolver.nft_set(rule.ports)))
        elif rule.ports:
            if forward:
                parts.append("meta l4proto %s %s %s" % (rule.protocol, port, resolver.nft_set(rule.ports)))
            else:
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
        if defaults.established:
            lines.append("ct state established,related accept")
            if chain != "forward":
                lines.append("ct state invalid drop")
        if chain == "forward":
            return lines
        if defaults.loopback:
            lines.append('%s "lo" accept' % ("iif" if chain == "input" else "oif"))
        if defaults.icmp:
            lines.append("meta l4proto icmp icmp type { %s } accept" % ", ".join(ICMP_ESSENTIAL))
            lines.append("meta l4proto ipv6-icmp icmpv6 type { %s } accept" % ", ".join(ICMPV6_ESSENTIAL))
        for dhcp in rules_mod.dhcp_rules(chain, defaults):
            prefix = {4: "ip", 6: "ip6"}[dhcp.family]
            # A rule naming no address is kept to its family by nfproto (the table is inet).
            parts = [] if dhcp.sources or dhcp.destinations else ["meta nfproto ipv%d" % dhcp.family]
            parts += ["%s saddr %s" % (prefix, self._addresses(dhcp.sources))] if dhcp.sources else []
            parts += ["%s daddr %s" % (prefix, self._addresses(dhcp.destinations))] if dhcp.destinations else []
            parts.append('udp sport %d udp dport %d accept comment "%s"' % (dhcp.sport, dhcp.dport, dhcp.comment))
            lines.append(" ".join(parts))
        return lines

    def render(self, rules, policy, defaults):
        out = ["table inet %s {" % self.table]
        # Before any DNAT (priority mangle): remember that a new connection was sent to an address of this host.
        out.append("\tchain prerouting {")
        out.append("\t\ttype filter hook prerouting priority mangle; policy accept;")
        if policy["dnat"] == "drop":
            out.append('\t\tct state new fib daddr type local ct mark set ct mark | 0x%08x comment "sent to this host"'
                       % LOCAL_MARK)
        out.append("\t}")
        for chain in CHAINS:
            out.append("\tchain %s {" % chain)
            out.append("\t\ttype filter hook %s priority filter; policy %s;" % (chain, policy[chain]))
            lines = self._defaults(chain, defaults) + [self._rule(rule) for rule in rules if rule.chain == chain]
            if chain == "forward" and policy["dnat"] == "drop":
                lines.append('ct state new ct status dnat ct mark & 0x%08x == 0x%08x drop comment "%s"'
                             % (LOCAL_MARK, LOCAL_MARK, PUBLISHED_COMMENT))
                lines.append('ct state new ct status ! dnat meta iifkind != "bridge" meta oifkind "bridge" drop '
                             'comment "%s"' % ROUTED_COMMENT)
            for line in lines:
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

    def boot_files(self, rules, policy, defaults, desired):
        return {self.boot_path: "#!/usr/sbin/nft -f\n%s\n%s" % (MARKER, self.transaction(desired))}

    def boot_unit(self):
        return self.unit("portcullis.ports firewall: table inet portcullis only (other tables are left alone)",
                         ["%s -f %s" % (self.paths["nft"], self.boot_path)])

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
    filter table, hooked from INPUT, OUTPUT and DOCKER-USER (the chain Docker
    passes every forwarded packet through first and never flushes; created,
    and hooked from FORWARD, when Docker has not), and PORTCULLIS-PREROUTING
    in the mangle table, hooked from PREROUTING; replaced with
    iptables-restore --noflush (one transaction per family).

    Where the jumps stand is part of the state: each must come before every
    rule of its chain that can accept (ACCEPT, or a chain that can), since an
    accept there would skip ours. ``systemctl restart docker`` may put its
    rules above them (Docker 20.10's ip6tables rules do): live() shows it,
    and the next apply moves the jumps back to the top."""

    name = "iptables"
    commands = ("iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore")
    all_chains = {"input": "PORTCULLIS-INPUT", "output": "PORTCULLIS-OUTPUT", "forward": "PORTCULLIS-FORWARD",
                  "prerouting": "PORTCULLIS-PREROUTING"}
    hooks = {"input": "INPUT", "output": "OUTPUT", "forward": "DOCKER-USER", "prerouting": "PREROUTING"}
    all_tables = (("filter", CHAINS), ("mangle", ("prerouting",)))
    docker_user = "DOCKER-USER"
    boot_paths = {4: BOOT_DIR + "/firewall.v4", 6: BOOT_DIR + "/firewall.v6"}
    unit_description = "portcullis.ports firewall: the PORTCULLIS-* chains only (other chains are left alone)"
    # (service, command): a service that flushes every iptables chain when it starts (firewalld), and a command that
    # returns once it has; the unit starts after it.
    bound_to = None
    # The chains this instance governs (IptablesForward: the forward part only).
    governed = ("input", "forward", "output", "prerouting")

    def __init__(self, runner):
        Backend.__init__(self, runner)
        self._govern(self.governed)

    def _govern(self, governed):
        """Govern only ``governed`` of our chains, with their hooks: the others
        are neither written, read, nor removed by this instance."""
        self.governed = tuple(chain for chain in governed)
        self.chains = dict((key, name) for key, name in self.all_chains.items() if key in self.governed)
        self.tables = tuple((table, tuple(chain for chain in chains if chain in self.governed))
                            for table, chains in self.all_tables if any(chain in self.governed for chain in chains))

    def iptables_chains(self):
        return self.governed

    def cede(self, claimed):
        self._govern([chain for chain in self.governed if chain not in claimed])

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
        forward = rule.chain == "forward"
        if rule.destinations and not forward:
            base += ["-d", ",".join(rule.destinations)]
        variants = []
        if rule.protocol == "icmp":
            icmp = ["-p", "icmp" if version == 4 else "ipv6-icmp"]
            if not forward:
                variants.append(icmp)
            for destination in ((rule.destinations or [None]) if forward else ()):
                # As in nftables: by the destination the client sent (before any DNAT).
                where = ["-m", "conntrack", "--ctorigdst", destination] if destination else []
                variants.append(where + icmp)
        elif forward:
            # The destination the client sent (before any DNAT): one rule per protocol and port range.
            for protocol in (("tcp", "udp") if rule.protocol == "both" else (rule.protocol,)):
                ct = ["-m", "conntrack", "--ctproto", protocol]
                for destination in (rule.destinations or [None]):
                    where = ["--ctorigdst", destination] if destination else []
                    for ports in (rule.ports or [None]):
                        port = [] if ports is None else ["--ctorigdstport", resolver.format_range(ports, ":")]
                        variants.append(ct + where + port)
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
        if defaults.established:
            lines.append(["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"])
            if chain != "forward":
                lines.append(["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"])
        if chain == "forward":
            return lines
        if defaults.loopback:
            lines.append(["-i" if chain == "input" else "-o", "lo", "-j", "RETURN"])
        if defaults.icmp:
            if version == 4:
                lines += [["-p", "icmp", "-m", "icmp", "--icmp-type", kind, "-j", "RETURN"] for kind in ICMP_ESSENTIAL]
            else:
                names = dict(zip(ICMPV6_ESSENTIAL, ICMPV6_ESSENTIAL))
                names.update({"nd-router-solicit": "router-solicitation", "nd-router-advert": "router-advertisement",
                              "nd-neighbor-solicit": "neighbour-solicitation", "nd-neighbor-advert": "neighbour-advertisement"})
                lines += [["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", names[kind], "-j", "RETURN"]
                          for kind in ICMPV6_ESSENTIAL]
        for dhcp in rules_mod.dhcp_rules(chain, defaults):
            if dhcp.family == version:
                lines.append((["-s", ",".join(dhcp.sources)] if dhcp.sources else [])
                             + (["-d", ",".join(dhcp.destinations)] if dhcp.destinations else [])
                             + ["-p", "udp", "-m", "udp", "--sport", str(dhcp.sport), "--dport", str(dhcp.dport),
                                "-m", "comment", "--comment", self._quote(dhcp.comment), "-j", "RETURN"])
        return lines

    def chain_lines(self, rules, policy, defaults, version):
        """``-A`` lines of our filter chains for one family (without the hooks).
        An accepted packet RETURNs: what follows in the built-in chain (a ban)
        still applies; a dropped or rejected one stops here."""
        lines = []
        for chain in CHAINS:
            if chain not in self.chains:
                continue
            name = self.chains[chain]
            for parts in self._defaults(chain, defaults, version):
                lines.append(" ".join(["-A", name] + parts))
            for rule in rules:
                if rule.chain != chain or rule.family not in (None, version):
                    continue
                verdict = "RETURN" if rule.action == "accept" else rule.action.upper()
                for match in self._matches(rule, version):
                    if rule.log is not None:
                        lines.append(" ".join(["-A", name] + match + ["-j", "LOG", "--log-prefix", self._quote(rule.log)]))
                    lines.append(" ".join(["-A", name] + match + ["-j", verdict]))
            if chain == "forward" and policy["dnat"] == "drop":
                lines += self._closing_lines(name, policy)
            if policy[chain] == "drop":
                lines.append("-A %s -j DROP" % name)
        return lines

    def _closing_lines(self, name, policy):
        """What the ``dnat`` policy drop closes: DNATed connections sent to this
        host (the mark PORTCULLIS-PREROUTING set before the DNAT), and new
        connections routed into a bridge from elsewhere. iptables cannot match
        an interface's kind, so the bridges are the ones present now."""
        lines = ['-A %s -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -m connmark --mark 0x%08x/0x%08x '
                 '-m comment --comment "%s" -j DROP' % (name, LOCAL_MARK, LOCAL_MARK, PUBLISHED_COMMENT)]
        if policy["forward"] == "accept":  # with forward drop, the chain's last rule closes them anyway
            bridges = self.bridges()
            lines += ["-A %s -i %s -j RETURN" % (name, bridge) for bridge in bridges]
            lines += ['-A %s -o %s -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -m comment --comment "%s" '
                      '-j DROP' % (name, bridge, ROUTED_COMMENT) for bridge in bridges]
        return lines

    def mangle_lines(self, policy):
        """``-A`` lines of PORTCULLIS-PREROUTING: before any DNAT, mark a new
        connection sent to an address of this host."""
        if policy["dnat"] != "drop" or "prerouting" not in self.chains:
            return []
        return ['-A %s -m conntrack --ctstate NEW -m addrtype --dst-type LOCAL -m comment --comment "sent to this '
                'host" -j CONNMARK --or-mark 0x%08x' % (self.chains["prerouting"], LOCAL_MARK)]

    def limits(self, policy):
        warnings = Backend.limits(self, policy)
        if policy["dnat"] == "drop" and policy["forward"] == "accept":
            warnings.append("iptables cannot match an interface's kind, so new connections routed straight to "
                            "container addresses are closed on the bridges present at this run (%s); a bridge made "
                            "later is closed from the next run (the nftables backend closes it at once)"
                            % (", ".join(self.bridges()) or "none"))
        return warnings

    def _by_table(self, rules, policy, defaults, version):
        return {"filter": self.chain_lines(rules, policy, defaults, version), "mangle": self.mangle_lines(policy)}

    def _governs(self, name):
        return name in self.chains.values()

    def render(self, rules, policy, defaults):
        """Both families' chain contents, as one text (the comparable desired state)."""
        out = ""
        for version in (4, 6):
            tables = self._by_table(rules, policy, defaults, version)
            out += "# IPv%d\n%s\n*mangle\n%s\n" % (version, "\n".join(tables["filter"]), "\n".join(tables["mangle"]))
        return out

    def _tools(self, version):
        suffix = "" if version == 4 else "6"
        return self.paths["ip%stables-save" % suffix], self.paths["ip%stables-restore" % suffix]

    def read_table(self, version, table="filter"):
        """iptables-save output of one table, one family (BackendError when it fails)."""
        return self._save(version, table)

    def _save(self, version, table="filter"):
        return self._run([self._tools(version)[0], "-t", table],
                         what="ip%stables-save -t %s" % ("" if version == 4 else "6", table))

    def _is_hook(self, line):
        parts = line.split()
        return len(parts) == 4 and parts[0] == "-A" and parts[2] == "-j" and parts[3] in self.chains.values()

    def _jumps(self, table):
        """(chain, target) of every jump that must come first: ours, and FORWARD's to DOCKER-USER."""
        if table == "mangle":
            return [(self.hooks["prerouting"], self.chains["prerouting"])] if "prerouting" in self.chains else []
        jumps = [("input", self.hooks["input"], self.all_chains["input"]), ("forward", "FORWARD", self.docker_user),
                 ("forward", self.hooks["forward"], self.all_chains["forward"]),
                 ("output", self.hooks["output"], self.all_chains["output"])]
        return [(chain, target) for key, chain, target in jumps if key in self.chains]

    @classmethod
    def _can_accept(cls, line, rules, seen):
        """Whether a rule accepts, or jumps to a chain with a rule that can."""
        parts = line.split()
        for flag in ("-j", "-g"):
            if flag in parts[:-1]:
                target = parts[parts.index(flag) + 1]
                if target == "ACCEPT":
                    return True
                if target in rules and target not in seen:
                    return any(cls._can_accept(item, rules, seen | {target}) for item in rules[target])
        return False

    def jump_status(self, saved, table):
        """``[(chain, target, count, preceding)]``: how many times each jump of
        ``_jumps(table)`` is in ``saved`` (iptables-save output), and the rules
        above its first occurrence that can accept."""
        rules = {}
        for line in saved.splitlines():
            if line.startswith("-A "):
                rules.setdefault(line.split()[1], []).append(line)
        status = []
        for chain, target in self._jumps(table):
            lines = rules.get(chain, [])
            jump = "-A %s -j %s" % (chain, target)
            count = lines.count(jump)
            preceding = [line for line in lines[:lines.index(jump)] if self._can_accept(line, rules, {chain})] \
                if count else []
            status.append((chain, target, count, preceding))
        return status

    def _ours(self, saved, table):
        """Lines of iptables-save output in our scope: our chains, and the
        jumps to them (and FORWARD's to DOCKER-USER) with where they stand."""
        lines = []
        for line in saved.splitlines():
            if line.startswith(":PORTCULLIS-") and self._governs(line.split()[0][1:]):
                lines.append(line.split()[0])
            elif line.startswith("-A PORTCULLIS-") and self._governs(line.split()[1]):
                lines.append(line)
        if not lines:
            return []
        for chain, target, count, preceding in self.jump_status(saved, table):
            if count:
                times = "  # %d times" % count if count > 1 else ""
                below = "  # below rules that accept: %s" % " | ".join(preceding) if preceding else ""
                lines.append("-A %s -j %s%s%s" % (chain, target, times, below))
        return lines

    def live(self):
        sections, found = [], False
        for version in (4, 6):
            section = ["# IPv%d" % version]
            for table, _chains in self.tables:
                ours = self._ours(self._save(version, table), table)
                found = found or bool(ours)
                section += (["*%s" % table] if table != "filter" else []) + ours
            sections.append("\n".join(section))
        return "\n".join(sections) if found else None

    def listing(self, live):
        """iptables-save lines are already readable: the listing is ``live`` itself."""
        return live or ""

    def _hook_lines(self, saved, table):
        """(declarations, insertions) so that each jump of ``_jumps(table)`` is
        there exactly once and above every rule that can accept: missing ones
        inserted at the top, misplaced or doubled ones moved there;
        DOCKER-USER created when Docker has not made it (declaring an
        existing chain would flush it)."""
        present = set(line.split()[0][1:] for line in saved.splitlines() if line.startswith(":"))
        declarations, insertions = [], []
        if table == "filter" and "forward" in self.chains and self.docker_user not in present:
            declarations.append(":%s - [0:0]" % self.docker_user)
        for chain, target, count, preceding in self.jump_status(saved, table):
            if count == 1 and not preceding:
                continue
            insertions += ["-D %s -j %s" % (chain, target)] * count
            insertions.append("-I %s 1 -j %s" % (chain, target))
        return declarations, insertions

    def transaction(self, ruleset_by_version):
        """iptables-restore --noflush input per family, ``{version: {table:
        lines}}``: declaring our chains flushes them, the jumps are added or
        moved only where needed."""
        result = {}
        for version, tables in ruleset_by_version.items():
            out = []
            for table, chains in self.tables:
                declarations, insertions = self._hook_lines(self._save(version, table), table)
                out.append("*%s" % table)
                out += [":%s - [0:0]" % self.chains[chain] for chain in chains] + declarations
                out += tables.get(table, [])
                out += insertions
                out.append("COMMIT")
            result[version] = "\n".join(out) + "\n"
        return result

    def removal_transaction(self):
        result = {}
        for version in (4, 6):
            out = []
            for table, _chains in self.tables:
                saved = self._save(version, table)
                present = set(line.split()[0][1:] for line in saved.splitlines()
                              if line.startswith(":PORTCULLIS-") and self._governs(line.split()[0][1:]))
                if not present:
                    continue
                out.append("*%s" % table)
                out += ["-D" + line[2:] for line in saved.splitlines() if self._is_hook(line)]
                out += ["-F %s" % name for name in sorted(present)]
                out += ["-X %s" % name for name in sorted(present)]
                out.append("COMMIT")
            if out:
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

    @staticmethod
    def sections(previous_live):
        """``{version: {table: lines}}`` of a text live() returned."""
        sections = {}
        current = table = None
        for line in (previous_live or "").splitlines():
            if line.startswith("# IPv"):
                current, table = int(line[5:]), "filter"
                sections[current] = {}
            elif line.startswith("*") and current is not None:
                table = line[1:]
            elif current is not None:
                sections[current].setdefault(table, []).append(line)
        return sections

    def rollback_transaction(self, previous_live):
        """iptables-restore --noflush input per family that puts back what
        live() returned before the apply (or removes our chains and hooks)."""
        result = {}
        sections = self.sections(previous_live)
        for version in (4, 6):
            out = []
            for table, chains in self.tables:
                out.append("*%s" % table)
                lines = sections.get(version, {}).get(table, [])
                if lines:
                    out += [":%s - [0:0]" % self.chains[chain] for chain in chains]
                    out += [line for line in lines if line.startswith("-A PORTCULLIS-")]
                else:
                    out += ["-D %s -j %s" % (self.hooks[chain], self.chains[chain]) for chain in chains]
                    out += ["-F %s" % self.chains[chain] for chain in chains]
                    out += ["-X %s" % self.chains[chain] for chain in chains]
                out.append("COMMIT")
            result[version] = "\n".join(out) + "\n"
        return result

    def ruleset(self, rules, policy, defaults):
        """``{version: {table: lines}}``: our chains' lines, what transaction() takes."""
        return dict((version, self._by_table(rules, policy, defaults, version)) for version in (4, 6))

    def apply_plan(self, rules, policy, defaults, desired):
        return self.transaction(self.ruleset(rules, policy, defaults))

    def remove_plan(self):
        return self.removal_transaction()

    def rollback_plan(self, previous_listing):
        return self.rollback_transaction(previous_listing)

    def boot_files(self, rules, policy, defaults, desired):
        """Our chains and their hooks (at the top), for iptables-restore
        --noflush at boot (the unit's stop removes the hooks, so a restart
        does not double them)."""
        files = {}
        for version in (4, 6):
            out = [MARKER, "*filter"]
            out += [":%s - [0:0]" % self.chains[chain] for chain in CHAINS if chain in self.chains]
            out += self.chain_lines(rules, policy, defaults, version)
            out += ["-I %s 1 -j %s" % (self.hooks[chain], self.chains[chain]) for chain in ("input", "output")
                    if chain in self.chains]
            out.append("COMMIT")
            if "prerouting" in self.chains:
                out += ["*mangle", ":%s - [0:0]" % self.chains["prerouting"]]
                out += self.mangle_lines(policy)
                out += ["-I %s 1 -j %s" % (self.hooks["prerouting"], self.chains["prerouting"]), "COMMIT"]
            files[self.boot_paths[version]] = "\n".join(out) + "\n"
        return files

    def boot_unit(self):
        start, stop = [], []
        for version in (4, 6):
            save, restore = self._tools(version)
            tool = restore.replace("-restore", "")
            # DOCKER-USER may not exist yet at boot (Docker starts later and keeps it).
            start += ["-%s -N %s" % (tool, self.docker_user),
                      "/bin/sh -c '%s -C FORWARD -j %s 2>/dev/null || %s -I FORWARD 1 -j %s'"
                      % (tool, self.docker_user, tool, self.docker_user),
                      "%s --noflush %s" % (restore, self.boot_paths[version]),
                      "%s -I %s 1 -j %s" % (tool, self.docker_user, self.chains["forward"])]
            stop += ["%s -D %s -j %s" % (tool, self.hooks[chain], self.chains[chain]) for chain in CHAINS
                     if chain in self.chains]
            stop.append("%s -t mangle -D %s -j %s" % (tool, self.hooks["prerouting"], self.chains["prerouting"]))
        return self.unit(self.unit_description, start, stop, self.bound_to)

    def rehook_script(self, load):
        """After a manager's reload flushed every iptables chain (firewalld): shell lines that wait until the
        container runtimes have made their chains again (RUNTIME_SETTLE, as the boot unit does), make DOCKER-USER
        and FORWARD's jump to it when none has, run ``load`` (the lines that declare and fill our chains), then put
        each of our chains' jumps at the top of its hook, once."""
        before, after = [RUNTIME_SETTLE.replace("$$", "$")], []
        for version in (4, 6):
            tool = self._tools(version)[1].replace("-restore", "")
            if "forward" in self.chains:
                before += ["%s -N %s 2>/dev/null" % (tool, self.docker_user),
                           "%s -C FORWARD -j %s 2>/dev/null || %s -I FORWARD 1 -j %s"
                           % (tool, self.docker_user, tool, self.docker_user)]
            for table, chains in self.tables:
                option = "" if table == "filter" else "-t %s " % table
                for chain in chains:
                    jump = "%s -j %s" % (self.hooks[chain], self.chains[chain])
                    after.append("%s %s-C %s 2>/dev/null || %s %s-I %s" % (
                        tool, option, jump, tool, option, jump.replace(" -j ", " 1 -j ", 1)))
        return "".join("%s\n" % line for line in before) + load + "".join("%s\n" % line for line in after)

    def restore_script(self, plan, directory, token):
        files = {}
        script = ""
        for version, text in sorted(plan.items()):
            path = "%s/rollback-%s.v%d" % (directory, token, version)
            files[path] = text
            script += "%s --noflush < %s\n" % (self._tools(version)[1], path)
        return files, script


class IptablesForward(Iptables):
    """The forward part of the iptables backend alone: PORTCULLIS-FORWARD
    (hooked from DOCKER-USER) and PORTCULLIS-PREROUTING (mangle), with the
    same lines, hooks, transactions and boot unit as the iptables backend
    (the one owner of that logic), for the managers (ufw, firewalld) that
    stay in charge of input and output.

    Why there: Docker publishes ports with iptables(-nft) DNAT rules and
    passes every forwarded packet through DOCKER-USER first; neither
    firewalld's zones and policies nor ufw's route rules see those packets
    before Docker's own FORWARD rules accept them. DOCKER-USER is the one
    place every backend can govern them."""

    governed = ("forward", "prerouting")
    boot_paths = {4: BOOT_DIR + "/forward.v4", 6: BOOT_DIR + "/forward.v6"}
    unit_description = ("portcullis.ports firewall: the chains PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING only "
                        "(the manager in charge loads its own rules)")
