# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld backend: the rules expressed in firewalld's own objects, so
firewalld stays in charge of the host.

What it owns (every name starts with ``portcullis``):

- the zone ``portcullis``, made firewalld's default zone: inbound rules.
  Interfaces and sources not bound to another zone fall into it; its target
  is the ``input`` policy (DROP or ACCEPT). A rule that only opens ports
  to everyone is a ``port`` of the zone (``firewall-cmd --add-port``); any
  other rule is a rich rule, with a priority that keeps the rules' order
  (the first rule that matches decides, as with the other backends). The
  priorities are positive: firewalld runs them after the zone's rich rules
  of priority 0 that reject or drop (where fail2ban's firewallcmd actions
  put their bans) and after its ports, so a ban holds on every port the
  registry opens, as with the other backends; a rule that opens ports to
  everyone is a port only when no deny or reject rule comes before it.
- the policy ``portcullis-out`` (ingress HOST, egress ANY): output rules,
  its target the ``output`` policy (DROP, or CONTINUE for accept); made
  only when there is something to say about output.
- ipsets ``portcullis-<in|out>-<rule>[-v6][-dst]``: the sources, or the
  destinations (a dependency's named destinations), of a rule that names
  more than one network on that side.

Nothing else is written or removed: other zones, services, policies and
ipsets (fail2ban's, Docker's zone) are left alone, and so are rich rules in
our zone and policy that only narrow what the registry opens (reject or
drop, with no priority of ours: fail2ban's bans); they are not drift. The default zone set
before is recorded in the zone's description and set back by state=absent.

Permanent and runtime are kept equal: the objects are written as XML files
under /etc/firewalld, ``firewall-cmd --check-config`` validates them, and
``firewall-cmd --reload`` loads them into the runtime. A reload that fails
puts the previous files back and reloads again. ``live()`` reads the
runtime configuration of our objects through firewall-cmd (the default zone,
``--list-all-zones``, ``--list-all-policies``, and each ipset of ours: a few
calls, each one costs a second on a busy host) and the permanent one from our
files (firewalld writes every ``--permanent`` change to them), so a port
added by hand (``firewall-cmd --add-port``, runtime or ``--permanent``)
shows as drift and is removed by the next run. A reload drops every runtime-only change, other tools' too:
the bans fail2ban's firewallcmd actions add (rich rules that name a source
and drop or reject, in any zone, and direct rules) are read before it and
added back after it, and are not drift. The text is in firewall-cmd's own terms (``--info-zone``,
``--info-policy``, ``--info-ipset``), followed by the files.

Forwarded and published traffic is not firewalld's here: Docker publishes
ports with iptables(-nft) DNAT rules, and firewalld's forward chain accepts
every DNATed connection (``ct status dnat accept``) whatever its zones and
policies say. ``Firewalld`` adds the forward part (``_forward``): forward
rules and the ``forward`` and ``dnat`` policies in the iptables backend's
chains PORTCULLIS-FORWARD (hooked from DOCKER-USER, which Docker passes
forwarded packets through first) and PORTCULLIS-PREROUTING.

What it does not govern: traffic firewalld gives to another zone (an
interface or a source bound to it), established/related, loopback and
invalid packets (firewalld always accepts the first two and drops the
last). ``limits()`` names them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
from xml.etree import ElementTree

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _forward
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as rules_mod

ZONE = "portcullis"
OUTPUT_POLICY = "portcullis-out"
PREFIX = "portcullis"
CONFIG_DIR = "/etc/firewalld"
KINDS = ("zone", "policy", "ipset")
DIRS = {"zone": "zones", "policy": "policies", "ipset": "ipsets"}
LIST_OPTIONS = {"zone": "--get-zones", "policy": "--get-policies", "ipset": "--get-ipsets"}
# Every zone's and policy's runtime configuration in one call each (as --info-zone and --info-policy print them).
LIST_ALL = {"zone": "--list-all-zones", "policy": "--list-all-policies"}
# How earlier versions' state texts listed an object's permanent configuration (``comparable`` leaves it out).
PERMANENT_SECTION = "# firewall-cmd --permanent --info-"
FALLBACK_ZONE = "public"
OUTPUT_PRIORITY = -100
# Rich rules are ordered by priority; ours start here, one step per rule, so
# they keep the order they were declared in and come after the zone's ports and
# its rich rules of priority 0 that reject or drop (bans).
FIRST_PRIORITY = 1
ICMP_TYPES = {"ipv4": ("destination-unreachable", "echo-request", "parameter-problem", "time-exceeded"),
              "ipv6": ("destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
                       "echo-request", "neighbour-solicitation", "neighbour-advertisement", "router-solicitation",
                       "router-advertisement")}
FAMILIES = {4: "ipv4", 6: "ipv6", None: None}
DESCRIPTION = "Written by portcullis.ports firewall; the whole file is replaced on every run."
PREVIOUS = "Default zone before: "
# A rich rule that bans addresses: a source address or ipset, then drop or reject (fail2ban's firewallcmd-rich-rules
# and firewallcmd-rich-logging actions add these at runtime, to the default zone when they name none). Written so
# that it is both a Python pattern (fullmatch) and a POSIX extended one (the rollback script's awk, anchored).
BAN_TEXT = ('rule (priority="-?[0-9]+" )?(family="ipv[46]" )?source (address|ipset)="[^"]+" '
            '(.* )?(drop|reject)( .*)?')
BAN = _values.pattern(BAN_TEXT)
# The rollback script's awk program: from `firewall-cmd --permanent --list-all-zones` (lines prefixed "P ") then
# `firewall-cmd --list-all-zones` ("R "), the ban rich rules of the runtime that the permanent configuration does not
# hold, one "ZONE<tab>RULE" line each (what ``runtime_only`` finds, at the time the script runs).
BANS_AWK = ('{ side = substr($0, 1, 1); line = substr($0, 3) } '
            'line ~ /^[^ \t]/ { split(line, word, " "); zone = word[1]; next } '
            'line ~ /^\t/ { rule = line; sub(/^[ \t]+/, "", rule); sub(/[ \t]+$/, "", rule); '
            'if (side == "P") kept[zone SUBSEP rule] = 1; '
            'else if (!((zone SUBSEP rule) in kept) && rule ~ ban) print zone "\t" rule }')


def _xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class RichRule:
    """One firewalld rich rule, printed as firewall-cmd prints it and as XML."""

    __slots__ = ("priority", "family", "source", "source_ipset", "destination", "destination_ipset", "element", "log",
                 "action", "limit")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    def text(self):
        parts = ["rule"]
        if self.priority:
            parts.append('priority="%d"' % self.priority)
        if self.family:
            parts.append('family="%s"' % self.family)
        if self.source:
            parts.append('source address="%s"' % self.source)
        elif self.source_ipset:
            parts.append('source ipset="%s"' % self.source_ipset)
        if self.destination:
            parts.append('destination address="%s"' % self.destination)
        elif self.destination_ipset:
            parts.append('destination ipset="%s"' % self.destination_ipset)
        if self.element:
            kind = self.element[0]
            if kind == "port":
                parts.append('port port="%s" protocol="%s"' % self.element[1:])
            elif kind == "protocol":
                parts.append('protocol value="%s"' % self.element[1])
            else:
                parts.append('icmp-type name="%s"' % self.element[1])
        if self.log is not None:
            parts.append('log prefix="%s"' % self.log if self.log else "log")
        parts.append(self.action + (' limit value="%s"' % self.limit if self.limit else ""))
        return " ".join(parts)

    def xml(self):
        attrs = ""
        if self.family:
            attrs += ' family="%s"' % self.family
        if self.priority:
            attrs += ' priority="%d"' % self.priority
        lines = ["  <rule%s>" % attrs]
        if self.source:
            lines.append('    <source address="%s"/>' % self.source)
        elif self.source_ipset:
            lines.append('    <source ipset="%s"/>' % self.source_ipset)
        if self.destination:
            lines.append('    <destination address="%s"/>' % self.destination)
        elif self.destination_ipset:
            lines.append('    <destination ipset="%s"/>' % self.destination_ipset)
        if self.element:
            kind = self.element[0]
            if kind == "port":
                lines.append('    <port port="%s" protocol="%s"/>' % self.element[1:])
            elif kind == "protocol":
                lines.append('    <protocol value="%s"/>' % self.element[1])
            else:
                lines.append('    <icmp-type name="%s"/>' % self.element[1])
        if self.log is not None:
            lines.append('    <log prefix="%s"/>' % _xml_escape(self.log) if self.log else "    <log/>")
        if self.limit:
            lines += ["    <%s>" % self.action, '      <limit value="%s"/>' % self.limit, "    </%s>" % self.action]
        else:
            lines.append("    <%s/>" % self.action)
        lines.append("  </rule>")
        return lines


class Scope:
    """The objects one chain renders into: ports, protocols, rich rules and ipsets."""

    def __init__(self):
        self.ports = []
        self.protocols = []
        self.rich = []
        self.ipsets = {}  # name: (family, entries)

    def add_rich(self, **values):
        values["priority"] = FIRST_PRIORITY + len(self.rich)
        self.rich.append(RichRule(**values))


def _port_text(ports):
    start, end = ports
    return str(start) if start == end else "%d-%d" % (start, end)


def _elements(rule, family=None):
    """The rich rule elements of a rule (for one family): ("port", port, protocol) or ("protocol", name)."""
    if rule.protocol == "icmp":
        return [("protocol", "icmp" if (family or rule.family) == 4 else "ipv6-icmp")]
    protocols = ("tcp", "udp") if rule.protocol == "both" else (rule.protocol,)
    if not rule.ports:
        return [("protocol", protocol) for protocol in protocols]
    return [("port", _port_text(ports), protocol) for protocol in protocols for ports in rule.ports]


def _ipset_name(rule, chain, side):
    """portcullis-in-3 (the sources of rule 3 of the input chain), portcullis-out-2-v6-dst (the IPv6
    destinations of rule 2 of the output chain), portcullis-out-e-dst (those of an essential rule)."""
    index = "e" if rule.index == rules_mod.ESSENTIAL_INDEX else str(rule.index + 1)
    return "%s-%s-%s%s%s" % (PREFIX, "in" if chain == "input" else "out", index, "-v6" if rule.family == 6 else "",
                             "-dst" if side == "destination" else "")


def _problems(rules, policy):
    """What firewalld cannot express as the other backends do: refused, naming the rule."""
    problems = []
    for rule in rules:
        if rule.burst and rule.chain != "forward":
            problems.append("%s: a rate limit burst cannot be expressed in a firewalld rich rule; leave the burst out"
                            % rules_mod.rule_label(rule))
    return problems


def chain_scope(rules, chain, defaults):
    """The firewalld objects of one chain (input or output), in order."""
    scope = Scope()
    # Both ways, as the other backends: under output drop, IPv6 needs its neighbour discovery out.
    if defaults.icmp:
        for family in ("ipv4", "ipv6"):
            for name in ICMP_TYPES[family]:
                scope.add_rich(family=family, element=("icmp-type", name), action="accept")
    for dhcp in rules_mod.dhcp_rules(chain, defaults):
        family = FAMILIES[dhcp.family]
        for source in dhcp.sources or (None,):
            for destination in dhcp.destinations or (None,):
                scope.add_rich(family=family, source=source, destination=destination,
                               element=("port", str(dhcp.dport), "udp"), action="accept")
    ours = [rule for rule in rules if rule.chain == chain]
    for position, rule in enumerate(ours):
        # A port of the zone comes before every rich rule of ours: only when no deny or reject comes before it.
        denied_earlier = any(earlier.action != "accept" for earlier in ours[:position])
        simple = (rule.action == "accept" and not rule.sources and not rule.destinations and rule.family is None
                  and rule.rate is None and rule.log is None and rule.protocol != "icmp" and not denied_earlier)
        elements = _elements(rule)
        if simple:
            for element in elements:
                item = "%s/%s" % element[1:] if element[0] == "port" else element[1]
                target = scope.ports if element[0] == "port" else scope.protocols
                if item not in target:
                    target.append(item)
            continue
        # Several networks on one side (a rule's sources, a dependency's named destinations): an ipset.
        sets = {}
        sides = {"source": list(rule.sources or ()), "destination": list(rule.destinations or ())}
        for side, networks in sides.items():
            if len(networks) > 1:
                sets[side] = _ipset_name(rule, chain, side)
                scope.ipsets[sets[side]] = ("inet6" if rule.family == 6 else "inet", networks)
                sides[side] = [None]
        limit = "%d/%s" % (rule.rate, rule.rate_unit[0]) if rule.rate is not None else None
        families = [rule.family] if rule.family is not None or rule.protocol != "icmp" else [4, 6]
        for family in families:
            for element in _elements(rule, family):
                for source in sides["source"] or [None]:
                    for destination in sides["destination"] or [None]:
                        scope.add_rich(family=FAMILIES[family], source=source, source_ipset=sets.get("source"),
                                       destination=destination, destination_ipset=sets.get("destination"),
                                       element=element, log=rule.log, action=rule.action,
                                       limit=limit)
    return scope


# How firewall-cmd prints our objects (firewall-cmd --info-zone/--info-policy/--info-ipset).

def zone_info(name, target, scope):
    lines = [name, "  target: %s" % target, "  icmp-block-inversion: no", "  interfaces:", "  sources:", "  services:",
             "  ports: %s" % " ".join(scope.ports), "  protocols: %s" % " ".join(sorted(scope.protocols)),
             "  forward: no", "  masquerade: no", "  forward-ports:", "  source-ports:", "  icmp-blocks:",
             "  rich rules:"]
    lines += ["\t" + rule.text() for rule in scope.rich]
    return _clean("\n".join(lines))


def policy_info(name, priority, target, ingress, egress, scope):
    lines = [name, "  priority: %d" % priority, "  target: %s" % target, "  ingress-zones: %s" % ingress,
             "  egress-zones: %s" % egress, "  services:", "  ports: %s" % " ".join(scope.ports),
             "  protocols: %s" % " ".join(sorted(scope.protocols)), "  masquerade: no", "  forward-ports:",
             "  source-ports:", "  icmp-blocks:", "  rich rules:"]
    lines += ["\t" + rule.text() for rule in scope.rich]
    return _clean("\n".join(lines))


def ipset_info(name, family, entries):
    return _clean("\n".join([name, "  type: hash:net", "  options: family=%s" % family,
                             "  entries: %s" % " ".join(entries)]))


def _clean(text):
    """firewall-cmd's output made comparable: no trailing blanks, the name
    without its (default, active) attributes."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if lines:
        lines[0] = lines[0].split(" ")[0]
    return "\n".join(lines)


# The XML files firewalld reads.

def _header(kind, attrs, previous_default=None):
    description = DESCRIPTION + (" %s%s" % (PREVIOUS, previous_default) if previous_default else "")
    return ['<?xml version="1.0" encoding="utf-8"?>', "<%s%s>" % (kind, attrs),
            "  <short>portcullis.ports</short>", "  <description>%s</description>" % _xml_escape(description)]


def _body(scope):
    lines = []
    for port in scope.ports:
        number, protocol = port.split("/")
        lines.append('  <port port="%s" protocol="%s"/>' % (number, protocol))
    lines += ['  <protocol value="%s"/>' % protocol for protocol in sorted(scope.protocols)]
    for rule in scope.rich:
        lines += rule.xml()
    return lines


def zone_xml(target, scope, previous_default):
    lines = _header("zone", ' target="%s"' % target, previous_default) + _body(scope) + ["</zone>"]
    return "\n".join(lines) + "\n"


def policy_xml(priority, target, ingress, egress, scope):
    lines = _header("policy", ' target="%s" priority="%d"' % (target, priority))
    lines += ['  <ingress-zone name="%s"/>' % ingress, '  <egress-zone name="%s"/>' % egress]
    lines += _body(scope) + ["</policy>"]
    return "\n".join(lines) + "\n"


def ipset_xml(family, entries):
    lines = _header("ipset", ' type="hash:net"') + ['  <option name="family" value="%s"/>' % family]
    lines += ["  <entry>%s</entry>" % entry for entry in entries] + ["</ipset>"]
    return "\n".join(lines) + "\n"


def path(kind, name, config_dir=CONFIG_DIR):
    return "%s/%s/%s.xml" % (config_dir, DIRS[kind], name)


def previous_default_of(content):
    """The default zone recorded in our zone file's description, or None."""
    if not content or PREVIOUS not in content:
        return None
    return content.split(PREVIOUS, 1)[1].split("<", 1)[0].strip() or None


def desired_state(rules, policy, defaults, previous_default, config_dir=CONFIG_DIR):
    """``(objects, files)``: ``objects`` is ``[(kind, name, info)]`` in
    firewall-cmd's terms, ``files`` is ``{path: content}``."""
    objects, files = [], {}
    inbound = chain_scope(rules, "input", defaults)
    target = "DROP" if policy["input"] == "drop" else "ACCEPT"
    objects.append(("zone", ZONE, zone_info(ZONE, target, inbound)))
    files[path("zone", ZONE, config_dir)] = zone_xml(target, inbound, previous_default)
    ipsets = dict(inbound.ipsets)
    outbound = chain_scope(rules, "output", defaults)
    if policy["output"] == "drop" or any(rule.chain == "output" for rule in rules):
        target = "DROP" if policy["output"] == "drop" else "CONTINUE"
        objects.append(("policy", OUTPUT_POLICY, policy_info(OUTPUT_POLICY, OUTPUT_PRIORITY, target, "HOST", "ANY",
                                                             outbound)))
        files[path("policy", OUTPUT_POLICY, config_dir)] = policy_xml(OUTPUT_PRIORITY, target, "HOST", "ANY", outbound)
        ipsets.update(outbound.ipsets)
    for name in sorted(ipsets):
        family, entries = ipsets[name]
        objects.append(("ipset", name, ipset_info(name, family, entries)))
        files[path("ipset", name, config_dir)] = ipset_xml(family, entries)
    return objects, files


def state_text(default_zone, objects, files):
    """The comparable text: the default zone, each object as firewall-cmd
    shows it at runtime, then our files (the permanent configuration)."""
    out = ["# firewall-cmd --get-default-zone", default_zone or ""]
    for kind, name, info in objects:
        out += ["# firewall-cmd --info-%s=%s" % (kind, name), info if info is not None else "(missing)"]
    for file_path in sorted(files):
        out += ["# file %s" % file_path] + files[file_path].rstrip("\n").splitlines()
    return "\n".join(out) + "\n"


def comparable(text):
    """A state text as ``state_text`` writes it now: earlier versions also
    listed each object's permanent configuration through firewall-cmd
    (``# firewall-cmd --permanent --info-...`` sections), which the files
    hold; those sections are left out."""
    if not text or PERMANENT_SECTION not in text:
        return text
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("# "):
            skipping = line.startswith(PERMANENT_SECTION)
        if not skipping:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def file_rich_rules(content):
    """The rich rules of an object's XML file, as firewall-cmd prints them (the permanent ones)."""
    try:
        root = ElementTree.fromstring(content or "")
    except ElementTree.ParseError:
        return set()
    found = set()
    for rule in root.findall("rule"):
        try:
            values = {"family": rule.get("family"), "priority": int(rule.get("priority") or 0)}
        except ValueError:
            continue
        for side in ("source", "destination"):
            element = rule.find(side)
            if element is not None:
                if element.get("address"):
                    values[side] = element.get("address")
                elif element.get("ipset"):
                    values[side + "_ipset"] = element.get("ipset")
        for child in rule:
            if child.tag == "port":
                values["element"] = ("port", child.get("port"), child.get("protocol"))
            elif child.tag == "protocol":
                values["element"] = ("protocol", child.get("value"))
            elif child.tag == "icmp-type":
                values["element"] = ("icmp-type", child.get("name"))
            elif child.tag == "log":
                values["log"] = child.get("prefix") or ""
            elif child.tag in ("accept", "drop", "reject"):
                limit = child.find("limit")
                values["action"], values["limit"] = child.tag, limit.get("value") if limit is not None else None
        if values.get("action"):
            found.add(RichRule(**values).text())
    return found


def rich_rules(info):
    """The rich rules of a zone or policy as firewall-cmd's --info or --list-all print them (tab-indented)."""
    return [line.strip() for line in (info or "").splitlines() if line.startswith("\t")]


def runtime_bans(runtime, permanent):
    """The ban rich rules in ``runtime`` (--info text) that ``permanent`` does not hold."""
    kept = set(rich_rules(permanent))
    return [rule for rule in rich_rules(runtime) if rule not in kept and BAN.fullmatch(rule)]


def without(info, rules):
    """``info`` without the lines of these rich rules."""
    drop = set(rules)
    return "\n".join(line for line in info.splitlines() if not (line.startswith("\t") and line.strip() in drop))


def zones_listing(text):
    """``{zone: info}`` from ``firewall-cmd --list-all-zones`` (blocks, each a name line then indented lines)."""
    found, name = {}, None
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            name = line.split()[0]
            found[name] = line
        elif name is not None:
            found[name] += "\n" + line
    return found


def active_zones(text):
    """``{zone: ["interface eth0", "source 10.0.0.0/8", ...]}`` from ``firewall-cmd --get-active-zones``."""
    found, zone = {}, None
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            zone = line.split()[0]
            found.setdefault(zone, [])
        elif zone is not None and ":" in line:
            kind, values = line.split(":", 1)
            found[zone] += ["%s %s" % (kind.strip().rstrip("s"), value) for value in values.split()]
    return found


def files_of(text):
    """``{path: content}`` of the files a state text lists, and its default zone."""
    files, current, default_zone, lines = {}, None, None, (text or "").splitlines()
    for index, line in enumerate(lines):
        if line.startswith("# file "):
            current = line[len("# file "):]
            files[current] = ""
        elif line.startswith("# firewall-cmd"):
            current = None
            if line == "# firewall-cmd --get-default-zone" and index + 1 < len(lines):
                default_zone = lines[index + 1] or None
        elif current is not None:
            files[current] += line + "\n"
    return files, default_zone


class FirewalldObjects(backends.Backend):
    """firewalld's own objects: input and output (``Firewalld`` adds the forward part)."""

    name = "firewalld"
    commands = ("firewall-cmd",)
    config_dir = CONFIG_DIR
    unusable = "needs firewalld running (firewall-cmd --state says it is not)"

    def __init__(self, runner, read=None, write=None, remove=None, listdir=None):
        super(FirewalldObjects, self).__init__(runner)
        self.read = read or _read_file
        self.write = write or _write_file
        self.remove = remove or _remove_file
        self.listdir = listdir or _listdir

    def cmd(self, *args):
        return self._run([self.paths["firewall-cmd"]] + list(args), what="firewall-cmd %s" % " ".join(args))

    def usable(self):
        rc, out, _err = self.runner.run([self.paths["firewall-cmd"], "--state"])
        return rc == 0 and out.strip() == "running"

    def limits(self, policy):
        """What the rules do not govern here: traffic that firewalld gives to
        another zone (an interface or source bound to it, as NetworkManager
        or Docker bind theirs)."""
        warnings = []
        rc, out, _err = self.runner.run([self.paths["firewall-cmd"], "--get-active-zones"])
        if rc != 0:
            return warnings + ["firewall-cmd --get-active-zones failed: the run cannot say which traffic firewalld "
                               "gives to other zones than %s" % ZONE]
        for zone, bindings in sorted(active_zones(out).items()):
            if zone != ZONE and bindings:
                warnings.append("traffic through %s is firewalld's zone %s, not %s: the registry's input rules do not "
                                "apply to it" % (", ".join(bindings), zone, ZONE))
        return warnings

    # Desired state

    def previous_default(self):
        """The default zone to set back on removal: firewalld's now, unless it is ours."""
        current = self.cmd("--get-default-zone").strip()
        if current != ZONE:
            return current
        return previous_default_of(self.read(path("zone", ZONE, self.config_dir))) or FALLBACK_ZONE

    def desired(self, rules, policy, defaults):
        problems = _problems(rules, policy)
        if problems:
            raise backends.BackendError("the firewalld backend cannot express: " + "; ".join(problems))
        return desired_state(rules, policy, defaults, self.previous_default(), self.config_dir)

    def render(self, rules, policy, defaults):
        objects, files = self.desired(rules, policy, defaults)
        return state_text(ZONE, objects, files)

    # Live state

    def _names(self, kind, permanent):
        argv = (["--permanent"] if permanent else []) + [LIST_OPTIONS[kind]]
        return [name for name in self.cmd(*argv).split() if name.startswith(PREFIX)]

    def _info(self, kind, name, permanent):
        argv = (["--permanent"] if permanent else []) + ["--info-%s=%s" % (kind, name)]
        rc, out, _err = self.runner.run([self.paths["firewall-cmd"]] + argv)
        return _clean(out) if rc == 0 else None

    def _files(self):
        found = {}
        for kind in KINDS:
            directory = "%s/%s" % (self.config_dir, DIRS[kind])
            for entry in sorted(self.listdir(directory)):
                if entry.startswith(PREFIX) and entry.endswith(".xml"):
                    content = self.read("%s/%s" % (directory, entry))
                    if content is not None:
                        found["%s/%s" % (directory, entry)] = content
        return found

    def live(self):
        default_zone = self.cmd("--get-default-zone").strip()
        runtime = {}
        for kind, option in LIST_ALL.items():
            for name, info in zones_listing(self.cmd(option)).items():
                if name.startswith(PREFIX):
                    runtime[(kind, name)] = _clean(info)
        for name in self._names("ipset", False):
            runtime[("ipset", name)] = self._info("ipset", name, False)
        files = self._files()
        # The permanent configuration of ours is our files: firewalld writes every --permanent change to them.
        permanent = {}
        for file_path, content in files.items():
            kind = next(kind for kind in KINDS if file_path.startswith("%s/%s/" % (self.config_dir, DIRS[kind])))
            permanent[(kind, os.path.basename(file_path)[:-len(".xml")])] = content
        objects = []
        for kind in KINDS:
            names = set(name for item, name in list(runtime) + list(permanent) if item == kind)
            for name in sorted(names, key=lambda item: (item != ZONE, item)):
                info = runtime.get((kind, name))
                if info is not None:
                    # Bans another tool (fail2ban) adds at runtime are its, not drift of ours.
                    kept = file_rich_rules(permanent.get((kind, name)))
                    info = without(info, [rule for rule in rich_rules(info) if rule not in kept and BAN.fullmatch(rule)])
                objects.append((kind, name, info))
        if not objects and not files and default_zone != ZONE:
            return None
        return state_text(default_zone, objects, files)

    def comparable(self, text):
        return comparable(text)

    def listing(self, live):
        return live or ""

    # Plans: {"files": {path: content}, "default_zone": name}: our files
    # become exactly these (any other file of ours found when the plan runs
    # is removed), and the default zone this one.

    def apply_plan(self, rules, policy, defaults, desired):
        wanted, _default = files_of(desired)
        return self._plan(wanted, ZONE)

    @staticmethod
    def _plan(wanted, default_zone):
        return {"files": dict(wanted), "default_zone": default_zone}

    def _changes(self, plan):
        """``{path: content or None}``: the plan's files, and ours that are there now and not in it, removed."""
        files = dict((file_path, None) for file_path in self._files())
        files.update(plan["files"])
        return files

    def remove_plan(self):
        """Our files gone, and the default zone firewalld had before ours
        (also when it is taken now, before an apply that fails half-way)."""
        return self._plan({}, self.previous_default())

    def rollback_plan(self, previous_listing):
        if not previous_listing:
            return FirewalldObjects.remove_plan(self)
        files, default_zone = files_of(previous_listing)
        return self._plan(files, default_zone)

    def _write_files(self, files):
        """Write ``files``; returns what was there before, to put back."""
        before = {}
        for file_path, content in sorted(files.items()):
            before[file_path] = self.read(file_path)
            if content is None:
                self.remove(file_path)
            else:
                self.write(file_path, content)
        return before

    def _restore(self, before):
        for file_path, content in sorted(before.items()):
            if content is None:
                self.remove(file_path)
            else:
                self.write(file_path, content)

    def check(self, plan):
        """Write the files, ``firewall-cmd --check-config``, and put the previous ones back whatever it says."""
        before = self._write_files(self._changes(plan))
        try:
            self.cmd("--check-config")
        except backends.BackendError as error:
            raise backends.BackendError("firewall-cmd --check-config refused the new objects: %s" % error)
        finally:
            self._restore(before)

    def apply(self, plan):
        """Moving the default zone away from ours comes first (a zone in use
        cannot go); writing, checking, reloading; then the default zone."""
        current = self.cmd("--get-default-zone").strip()
        wanted = plan.get("default_zone")
        if wanted and wanted != ZONE and current != wanted:
            self.cmd("--set-default-zone=%s" % wanted)
        before = self._write_files(self._changes(plan))
        bans = self.runtime_only()
        try:
            self.cmd("--check-config")
            self.cmd("--reload")
        except backends.BackendError as error:
            self._restore(before)
            rc, _out, err = self.runner.run([self.paths["firewall-cmd"], "--reload"])
            self.put_back(bans)
            raise backends.BackendError("%s; the previous files were put back%s" % (
                error, "" if rc == 0 else " (and their reload failed too: %s)" % err.strip()))
        if wanted == ZONE and current != ZONE:
            self.cmd("--set-default-zone=%s" % ZONE)
        self.put_back(bans)

    def runtime_only(self):
        """What a reload would lose of other tools' runtime state: ban rich
        rules in any zone, and direct rules (fail2ban's firewallcmd-ipset
        action), that the permanent configuration does not hold.
        ``[(argv, label)]`` to give them back with."""
        found = []
        runtime = zones_listing(self.cmd("--list-all-zones"))
        permanent = zones_listing(self.cmd("--permanent", "--list-all-zones"))
        for zone, info in sorted(runtime.items()):
            for rule in runtime_bans(info, permanent.get(zone)):
                found.append((["--zone=%s" % zone, "--add-rich-rule=%s" % rule], "%s in zone %s" % (rule, zone)))
        rc, out, _err = self.runner.run([self.paths["firewall-cmd"], "--direct", "--get-all-rules"])
        if rc == 0:
            _rc, kept, _err = self.runner.run([self.paths["firewall-cmd"], "--permanent", "--direct", "--get-all-rules"])
            kept = set((kept or "").splitlines())
            for line in out.splitlines():
                if line.strip() and line not in kept:
                    found.append((["--direct", "--add-rule"] + shlex.split(line), "direct rule %s" % line))
        return found

    def put_back(self, items):
        """Add the runtime state ``runtime_only`` found again, after a reload;
        what cannot be added back is named (a warning of the run)."""
        for argv, label in items:
            rc, _out, err = self.runner.run([self.paths["firewall-cmd"]] + argv)
            if rc != 0:
                self.apply_warnings.append("firewall-cmd --reload dropped %s, and adding it back failed: %s" % (label, err.strip()))

    # Persistence: firewalld's permanent configuration is what boots.

    def boot_files(self, rules, policy, defaults, desired):
        return {}

    def boot_unit(self):
        return None

    def legacy_boot(self, read):
        return {}

    def restore_script(self, plan, directory, token):
        """Our previous files back and firewalld reloaded. A reload drops every
        runtime-only change: the bans other tools hold at the time the script
        runs (those ``runtime_only`` names, made before the rollback was armed
        or while it was pending) are read first and added back after it."""
        files = {}
        firewall_cmd = shlex.quote(self.paths["firewall-cmd"])
        bans = shlex.quote("%s/rollback-%s.firewalld-bans" % (directory, token))
        script = "".join(line + "\n" for line in [
            "{ %s --permanent --list-all-zones | sed 's/^/P /'; %s --list-all-zones | sed 's/^/R /'; } | "
            "awk -v ban=%s %s > %s" % (firewall_cmd, firewall_cmd, shlex.quote("^%s$" % BAN_TEXT),
                                       shlex.quote(BANS_AWK), bans),
            "%s --permanent --direct --get-all-rules | grep . > %s.kept" % (firewall_cmd, bans),
            "%s --direct --get-all-rules | grep -vxF -f %s.kept > %s.direct" % (firewall_cmd, bans, bans)])
        wanted = plan.get("default_zone")
        if wanted and wanted != ZONE:
            script += "%s --set-default-zone=%s\n" % (firewall_cmd, wanted)
        script += "".join("rm -f %s/%s/%s*.xml\n" % (self.config_dir, DIRS[kind], PREFIX) for kind in KINDS)
        for index, (file_path, content) in enumerate(sorted(plan["files"].items())):
            saved = "%s/rollback-%s.firewalld-%d.xml" % (directory, token, index)
            files[saved] = content
            script += "cp %s %s\n" % (saved, file_path)
        script += "%s --reload\n" % firewall_cmd
        if wanted == ZONE:
            script += "%s --set-default-zone=%s\n" % (firewall_cmd, ZONE)
        script += "".join(line + "\n" for line in [
            "while IFS=\"$(printf '\\t')\" read -r zone rule; do %s --zone=\"$zone\" --add-rich-rule=\"$rule\"; "
            "done < %s" % (firewall_cmd, bans),
            "set -f; while read -r line; do %s --direct --add-rule $line; done < %s.direct; set +f"
            % (firewall_cmd, bans)])
        return files, script


def _read_file(file_path):
    try:
        with open(file_path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _write_file(file_path, content):
    directory = os.path.dirname(file_path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o750)
    temporary = file_path + ".portcullis-tmp"
    with open(temporary, "w") as handle:
        handle.write(content)
    os.chmod(temporary, 0o640)
    os.rename(temporary, file_path)


def _remove_file(file_path):
    if os.path.lexists(file_path):
        os.unlink(file_path)


def _listdir(directory):
    try:
        return os.listdir(directory)
    except (IOError, OSError):
        return []


class Firewalld(_forward.WithForward, FirewalldObjects):
    """firewalld in charge of input and output; forwarded and published
    traffic in the iptables backend's chains PORTCULLIS-FORWARD and
    PORTCULLIS-PREROUTING (``_forward``): Docker publishes ports with
    iptables(-nft) DNAT rules and passes forwarded packets through
    DOCKER-USER, which firewalld's zones and policies do not see first.

    firewalld (1.3, also with its nftables backend) flushes every iptables
    chain when it starts or reloads (``-F``, ``-X`` on each table; Docker
    makes its own again when told of the reload): our apply writes the
    forward chains after firewalld's reload; the boot unit starts after
    firewalld.service and waits until firewalld has flushed (``firewall-cmd
    --state`` answers only then), and a drop-in of firewalld.service runs
    it again whenever firewalld starts or reloads through systemd; a
    ``firewall-cmd --reload`` run by hand removes them until the next run,
    which reports it and writes them again."""

    flushes_iptables = "firewalld.service"

    @property
    def flushed_when(self):
        # firewall-cmd waits until firewalld has started (and flushed): it answers D-Bus only then.
        return "%s --state" % self.paths["firewall-cmd"]
