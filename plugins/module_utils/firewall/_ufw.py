# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ufw backend: the registry expressed as ufw's own rules, with ufw
staying in charge of the host.

What ufw is (0.36, read from its source): its user rules live in
``/etc/ufw/user.rules`` and ``user6.rules``, iptables-restore files in which
every rule is a ``### tuple ###`` line (action, protocol, ports, addresses,
direction, hex comment) followed by the ``-A ufw-user-*`` lines ufw derived
from it. Every ``ufw`` command reads the tuples, writes both files again and
changes the live chains; ``ufw reload`` and boot load the files. ufw has no
transaction: a set of commands against the live firewall is applied one by
one.

Scope: a ufw rule is ours when its comment starts with ``portcullis``
(``MARK``). An unmarked rule that opens something (``allow``, ``limit``) is
drift in our scope: it makes the network do more than the registry says, so
it is listed and removed, like a rule added by hand inside the nftables
table. Unmarked ``deny`` and ``reject`` rules (fail2ban's and sshguard's ufw
actions, a colleague's block) are left alone wherever they stand: they only
narrow what the registry opens, as bans do with the other backends. ``state:
absent`` removes the marked rules only.

Whole-set apply: ufw itself computes the new files, in a scratch copy of its
configuration (``ufw --datadir=SCRATCH``, with ``ENABLED=no`` there so no
command touches the live firewall): the rules in our scope are cut out of
the copied files, our rules are added in order with ufw's own commands, and
the default policies the registry declares are set. The files are then
checked (``iptables-restore --test``), installed, and loaded the way ufw
loads them, ``iptables-restore -n`` per family: one commit replaces the
contents of ufw's user chains. A changed default policy is loaded with
``ufw reload``. The rollback puts the previous files back and loads them the
same way; the commit-confirmed rollback script cuts our rules out of the files
as they are when it runs, puts the previous ones back, and runs ``ufw reload``
(so a ban made while it was pending stays).

Ordering: ufw keeps one ordered list per family and the first matching rule
decides. Our rules keep the registry's order and come after the unmarked
deny/reject rules already there (fail2ban inserts its bans at the top).

What ufw cannot say is refused before anything runs (ICMP rules, rate
limits, log prefixes), changed where only a comment is concerned (a ``'``
in a comment, which ufw refuses, is written as a backquote), or named in a warning (ufw's ``before.rules`` accept
established, loopback, ICMP and DHCP replies whatever the ``allow_*``
switches say). Persistence is ufw's: ``ufw.service`` loads the files at boot.

Forwarded and published traffic is not ufw's here: Docker publishes ports
with iptables DNAT rules and accepts them in its own FORWARD rules, which
come before ufw's (``ufw route`` rules never see them: "Docker ignores
ufw"). ``Ufw`` adds the forward part (``_forward``): forward rules and the
``forward`` and ``dnat`` policies in the iptables backend's chains
PORTCULLIS-FORWARD (hooked from DOCKER-USER, which Docker passes forwarded
packets through first) and PORTCULLIS-PREROUTING, loaded at boot by the
module's unit. ``ufw reload`` leaves those chains alone (it touches ufw's own).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import ipaddress
import os
import shlex
import shutil
import tempfile

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _forward
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as rules_mod

MARK = "portcullis"
RULES_FILES = {4: "/etc/ufw/user.rules", 6: "/etc/ufw/user6.rules"}
DEFAULTS_FILE = "/etc/default/ufw"
CONF_FILE = "/etc/ufw/ufw.conf"
# Our policy chains, their word in `ufw default`, and their key in /etc/default/ufw.
POLICIES = (("input", "incoming", "DEFAULT_INPUT_POLICY"), ("output", "outgoing", "DEFAULT_OUTPUT_POLICY"),
            ("forward", "routed", "DEFAULT_FORWARD_POLICY"))
VERDICTS = {"accept": "allow", "drop": "deny", "reject": "reject"}
FILE_VERDICTS = {"ACCEPT": "allow", "DROP": "deny", "REJECT": "reject"}
ANY = {4: "0.0.0.0/0", 6: "::/0"}
# iptables' multiport takes 15 ports; a range counts as two.
MULTIPORT_MAX = 15
OPENING = ("allow", "limit")
# What a "'" in a rule's comment is written as (ufw refuses the quote itself).
QUOTE_IN_COMMENT = "`"
_TUPLE = _values.pattern(r"### tuple ### (.*)")
_ASSIGN = _values.pattern(r'\s*([A-Z_0-9]+)\s*=\s*"?([^"\s]*)"?\s*')
_ENABLED = _values.pattern(r"\s*ENABLED\s*=.*")
# The rollback script's awk program, over a rules file: the rule blocks of ours (``mark`` matches their tuple line) cut
# out, the blocks in file ``ours`` added before "### END RULES ###" (what ``cut`` and ufw's append do).
CUT_AWK = ('/^### tuple ### / { drop = ($0 ~ mark) } '
           '/^### END RULES ###/ { while ((getline kept < ours) > 0) print kept; drop = 0 } '
           '!drop { print }')


class Entry:
    """One ufw rule of one family, as its ``### tuple ###`` line holds it."""

    __slots__ = ("action", "route", "log", "protocol", "dport", "dst", "sport", "src", "direction", "apps", "comment")

    def __init__(self, action, protocol, dport, dst, sport, src, direction="in", route=False, log="", apps=None,
                 comment=""):
        self.action, self.protocol, self.dport, self.dst = action, protocol, dport, dst
        self.sport, self.src, self.direction, self.route = sport, src, direction, route
        self.log, self.apps, self.comment = log, apps, comment

    @classmethod
    def parse(cls, tuple_text):
        """An Entry from the text after ``### tuple ###``, or None when malformed."""
        comment = ""
        if " comment=" in tuple_text:
            tuple_text, encoded = tuple_text.split(" comment=", 1)
            try:
                comment = binascii.unhexlify(encoded.strip()).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                comment = encoded.strip()
        fields = tuple_text.split()
        if len(fields) not in (7, 9):
            return None
        action, route = fields[0], False
        if action.startswith("route:"):
            action, route = action[len("route:"):], True
        log = ""
        if "_" in action:
            action, log = action.split("_", 1)
        apps = tuple(fields[6:8]) if len(fields) == 9 else None
        return cls(action, fields[1], fields[2], fields[3], fields[4], fields[5], fields[-1], route, log, apps, comment)

    def ours(self):
        return self.comment == MARK or self.comment.startswith(MARK + ":")

    def in_scope(self):
        """Ours, or an unmarked rule that opens something (drift)."""
        return self.ours() or self.action in OPENING

    @staticmethod
    def _address(address):
        return "any" if address in ANY.values() else address

    def argv(self):
        """The ufw command that makes this rule (without ``ufw`` itself)."""
        argv = (["route"] if self.route else []) + [self.action] + ([self.log] if self.log else [])
        direction = self.direction
        if "_" in direction:  # in_eth0, out_eth0, in_eth0!out_eth1 (interfaces: never ours)
            for part in direction.split("!"):
                side, name = part.split("_", 1)
                argv += [side, "on", name]
        elif direction == "out":
            argv.append("out")
        if self.protocol != "any":
            argv += ["proto", self.protocol]
        argv += ["from", self._address(self.src)]
        if self.apps and self.apps[1] != "-":
            argv += ["app", self.apps[1].replace("%20", " ")]
        elif self.sport != "any":
            argv += ["port", self.sport]
        argv += ["to", self._address(self.dst)]
        if self.apps and self.apps[0] != "-":
            argv += ["app", self.apps[0].replace("%20", " ")]
        elif self.dport != "any":
            argv += ["port", self.dport]
        if self.comment:
            argv += ["comment", self.comment]
        return argv

    def line(self):
        argv = self.argv()
        if self.comment:
            argv[-1] = "'%s'" % argv[-1]
        return "ufw " + " ".join("'%s'" % part if " " in part and not part.startswith("'") else part for part in argv)


def _hex(text):
    """A comment as ufw writes it in a tuple line."""
    return binascii.hexlify(text.encode("utf-8")).decode("ascii")


def _address(network):
    """An address as ufw stores it: no /32 or /128 on a single address."""
    parsed = ipaddress.ip_network(network)
    return str(parsed.network_address) if parsed.prefixlen == parsed.max_prefixlen else str(parsed)


def _port_groups(ports):
    """Port ranges as ufw's ``port`` values (``80``, ``80,443``, ``8000:8010``),
    at most MULTIPORT_MAX items each, in ufw's order (by first port)."""
    if not ports:
        return ["any"]
    groups, current, weight = [], [], 0
    for start, end in sorted(ports):
        item, cost = (str(start), 1) if start == end else ("%d:%d" % (start, end), 2)
        if current and weight + cost > MULTIPORT_MAX:
            groups.append(",".join(current))
            current, weight = [], 0
        current.append(item)
        weight += cost
    groups.append(",".join(current))
    return groups


class Spec:
    """One ufw command of ours: the Entry it makes in each family it applies
    to (``family`` None: both, with ``any`` addresses)."""

    def __init__(self, family, action, protocol, dport, dst, sport, src, direction, route, comment):
        self.family = family
        self.fields = dict(action=action, protocol=protocol, dport=dport, dst=dst, sport=sport, src=src,
                           direction=direction, route=route, comment=comment)

    def entry(self, family):
        fields = dict(self.fields)
        for key in ("src", "dst"):
            fields[key] = ANY[family] if fields[key] == "any" else fields[key]
        return Entry(**fields)

    def argv(self):
        return Entry(**self.fields).argv()


def _outside_scope(entry):
    return not entry.in_scope()


def _not_ours(entry):
    return not entry.ours()


class UfwRules(backends.Backend):
    """ufw's own rules: input and output (``Ufw`` adds the forward part)."""

    name = "ufw"
    commands = ("ufw", "iptables-restore", "ip6tables-restore")
    # Where the host's files are read and written (tests point it elsewhere).
    root = "/"
    # Which policy chains the registry declared (set by the orchestrator); None: all.
    policy_declared = None

    def __init__(self, runner):
        super(UfwRules, self).__init__(runner)
        self.notes = []
        self.snapshot = None

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _read(self, path):
        return _host.read(self._path(path))

    def usable(self):
        rc, _out, _err = self.runner.run([self.paths["ufw"], "status"])
        return rc == 0

    def active(self):
        rc, out, _err = self.runner.run([self.paths["ufw"], "status"])
        return rc == 0 and "Status: active" in out

    def _settings(self, read=None):
        found = {}
        for line in ((read or self._read)(DEFAULTS_FILE) or "").splitlines():
            match = _ASSIGN.fullmatch(line)
            if match:
                found[match.group(1)] = match.group(2)
        return found

    def ipv6(self):
        return self._settings().get("IPV6", "yes").lower() == "yes"

    def _declared(self):
        declared = self.policy_declared
        return [item for item in POLICIES if declared is None or item[0] in declared]

    # Rendering

    @staticmethod
    def _comment(rule):
        """MARK, or ``MARK: COMMENT``; ufw 0.36 refuses a "'" in a comment (its parser's own TODO), so one is
        written as a backquote: the rule stays what the other backends make of it."""
        return "%s: %s" % (MARK, rule.comment.replace("'", QUOTE_IN_COMMENT)) if rule.comment else MARK

    def specs(self, rules, defaults):
        """The ufw commands of the rule set, in order, without duplicates
        (ufw skips a rule it already has). RuleError names what ufw cannot say."""
        errors, specs, seen = [], [], set()
        for rule in rules:
            if rule.chain == "forward":
                continue  # the forward part's (PORTCULLIS-FORWARD, as with the iptables backend)
            label = rules_mod.rule_label(rule)
            if rule.protocol == "icmp":
                errors.append("%s: ufw rules cannot match ICMP (ufw's before.rules accept the essential ICMP "
                              "messages); use backend nftables or iptables for it" % label)
                continue
            if rule.rate is not None:
                errors.append("%s: ufw has no rate_limit (its 'limit' is a fixed 6 connections in 30 seconds)" % label)
                continue
            if rule.log is not None:
                errors.append("%s: ufw rules cannot log with a prefix of their own (log)" % label)
                continue
            protocols = ("tcp", "udp") if rule.protocol == "both" and rule.ports else \
                ("any",) if rule.protocol == "both" else (rule.protocol,)
            families = [rule.family] if rule.family else [None]
            for family in families:
                sources = [_address(net) for net in rule.sources] if rule.sources else ["any"]
                destinations = [_address(net) for net in rule.destinations] if rule.destinations else ["any"]
                for protocol in protocols:
                    for source in sources:
                        for destination in destinations:
                            for ports in _port_groups(rule.ports):
                                spec = Spec(family, VERDICTS[rule.action], protocol, ports, destination, "any",
                                            source, "out" if rule.chain == "output" else "in", False,
                                            self._comment(rule))
                                # ufw keeps one rule per match: a later one differing only in its action
                                # or comment would replace the first (which decides anyway).
                                key = (family, rule.chain, protocol, source, destination, ports)
                                if key not in seen:
                                    seen.add(key)
                                    specs.append(spec)
        # The DHCP client's requests under output drop (ufw's before.rules accept the replies).
        for dhcp in rules_mod.dhcp_rules("output", defaults):
            for destination in dhcp.destinations or ("any",):
                specs.append(Spec(dhcp.family, "allow", "udp", str(dhcp.dport), _address(destination)
                                  if destination != "any" else destination, str(dhcp.sport), "any", "out", False,
                                  "%s: %s" % (MARK, dhcp.comment)))
        if errors:
            raise rules_mod.RuleError(errors)
        return specs

    def _text(self, entries, policies):
        out = []
        for version in (4, 6):
            out.append("# IPv%d" % version)
            out += [entry.line() for entry in entries.get(version, [])]
        if policies:
            out.append("# default policies")
            out += ["ufw default %s %s" % (verdict, word) for word, verdict in policies]
        return "\n".join(out) + "\n"

    def _desired_entries(self, specs):
        families = (4, 6) if self.ipv6() else (4,)
        entries = dict((version, []) for version in families)
        for spec in specs:
            for version in families:
                if spec.family in (None, version):
                    entries[version].append(spec.entry(version))
        return entries

    def render(self, rules, policy, defaults):
        if not self.active():
            raise backends.BackendError("ufw is not active (ufw status): the rules would not be enforced. Enable it "
                                        "(ufw enable) first; the module leaves ufw's state to you")
        specs = self.specs(rules, defaults)
        if not self.ipv6() and any(spec.family == 6 for spec in specs):
            raise backends.BackendError("IPv6 rules were declared, but ufw's IPv6 is off (IPV6=no in %s)"
                                        % DEFAULTS_FILE)
        self.notes = []
        switches = (("allow_established", defaults.established), ("allow_loopback", defaults.loopback),
                    ("allow_icmp", defaults.icmp))
        off = [name for name, value in switches if not value]
        if off:
            self.notes.append("with backend ufw, %s cannot be switched off: ufw's before.rules accept that traffic "
                              "before any rule" % ", ".join(off))
        policies = [(word, VERDICTS[policy[chain]]) for chain, word, _key in self._declared()]
        if not specs and not policies:
            return ""
        return self._text(self._desired_entries(specs), policies)

    def limits(self, policy):
        return list(self.notes)

    # Live state

    def _entries(self, read, keep):
        """{version: [Entry that ``keep`` accepts]} of the rules files ``read`` gives."""
        found = {}
        for version, path in sorted(RULES_FILES.items()):
            text = read(path)
            if text is None:
                continue
            found[version] = []
            for line in text.splitlines():
                match = _TUPLE.fullmatch(line)
                if match:
                    entry = Entry.parse(match.group(1))
                    if entry is not None and keep(entry):
                        found[version].append(entry)
        return found

    def _state(self, read):
        """Our rules and the unmarked rules that open something, per family,
        and the declared default policies, as ufw lines; '' when there is no
        rule of ours and no policy is declared (an unmarked rule is drift
        only while the registry manages ufw)."""
        entries = self._entries(read, Entry.in_scope)
        settings = self._settings(read)
        policies = [(word, FILE_VERDICTS.get(settings.get(key, "").upper(), settings.get(key, "?").lower()))
                    for _chain, word, key in self._declared()]
        if not any(entry.ours() for found in entries.values() for entry in found) and not policies:
            return ""
        if settings.get("IPV6", "yes").lower() != "yes":
            entries.pop(6, None)
        return self._text(entries, policies)

    def live(self):
        return self._state(self._read)

    def listing(self, live):
        """The ufw lines are readable as they are; the files behind them are
        kept for the rollback."""
        self.snapshot = self._files()
        return live or ""

    def _files(self):
        return dict((path, self._read(path)) for path in list(RULES_FILES.values()) + [DEFAULTS_FILE])

    # Plans: {path: content} of ufw's files, computed by ufw in a scratch copy.

    @staticmethod
    def cut(text, keep):
        """``text`` (a rules file) without the rule blocks (tuple line and the
        lines ufw derived from it) whose Entry ``keep`` refuses."""
        out, dropping = [], False
        for line in text.splitlines():
            match = _TUPLE.fullmatch(line)
            if match:
                entry = Entry.parse(match.group(1))
                dropping = entry is not None and not keep(entry)
            elif line.startswith("### END RULES ###"):
                dropping = False
            if not dropping:
                out.append(line)
        return "\n".join(out) + "\n"

    def _scratch(self, keep, specs=(), policies=()):
        """The rules and defaults files after ``keep`` filtered the rules and
        ufw (in a scratch copy, disabled) added ``specs`` and set ``policies``."""
        directory = tempfile.mkdtemp(prefix="portcullis-ufw-", dir=self._path("/run"))
        try:
            shutil.copytree(self._path("/etc/ufw"), os.path.join(directory, "etc/ufw"))
            os.makedirs(os.path.join(directory, "etc/default"))
            os.makedirs(os.path.join(directory, "lib/ufw"))
            scratch = dict((path, os.path.join(directory, path.lstrip("/")))
                           for path in list(RULES_FILES.values()) + [DEFAULTS_FILE, CONF_FILE])
            shutil.copy2(self._path(DEFAULTS_FILE), scratch[DEFAULTS_FILE])
            # Disabled in the copy: ufw then only writes its files, never the live chains.
            conf = self._read(CONF_FILE) or ""
            conf = "".join("%s\n" % line for line in conf.splitlines() if not _ENABLED.fullmatch(line)) + "ENABLED=no\n"
            _host.write_atomic(scratch[CONF_FILE], conf, 0o644)
            for path in RULES_FILES.values():
                if os.path.exists(scratch[path]):
                    with open(scratch[path]) as handle:
                        text = handle.read()
                    _host.write_atomic(scratch[path], self.cut(text, keep), 0o640)
            ufw = [self.paths["ufw"], "--datadir=%s" % directory]
            for spec in specs:
                self._run(ufw + spec.argv(), what="ufw %s (in a scratch copy)" % " ".join(spec.argv()))
            for word, verdict in policies:
                self._run(ufw + ["default", verdict, word], what="ufw default %s %s (in a scratch copy)" % (verdict, word))
            files = {}
            for path in list(RULES_FILES.values()) + [DEFAULTS_FILE]:
                if os.path.exists(scratch[path]):
                    with open(scratch[path]) as handle:
                        files[path] = handle.read()
            return files
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _kept(self, read, keep):
        return dict((version, [entry.line() for entry in found]) for version, found in self._entries(read, keep).items())

    def _verified(self, files, keep, desired=None):
        """``files`` when they hold what was planned: ``desired`` (when
        given) in our scope, and every rule ``keep`` leaves where it was
        (ufw replaces a rule that differs from a new one only in action or
        comment, in place). BackendError naming the difference otherwise."""
        def read(path):
            return files.get(path)
        before, after = self._kept(self._read, keep), self._kept(read, keep)
        if before != after:
            lost = [line for version in before for line in before[version] if line not in after.get(version, [])]
            raise backends.BackendError("ufw would change rules that are not ours (%s): a rule of the registry "
                                        "differs from one of them only in its action. Remove or change that rule "
                                        "by hand" % "; ".join(lost or ["their order"]))
        if desired is not None and self._state(read) != desired:
            raise backends.BackendError("ufw did not store the rules as planned (a bug of this backend):\n%s\n"
                                        "instead of\n%s" % (self._state(read), desired))
        return files

    def apply_plan(self, rules, policy, defaults, desired):
        specs = self.specs(rules, defaults)
        policies = [(word, VERDICTS[policy[chain]]) for chain, word, _key in self._declared()]
        return self._verified(self._scratch(_outside_scope, specs, policies), _outside_scope, desired)

    def remove_plan(self):
        return self._verified(self._scratch(_not_ours), _not_ours)

    def rollback_plan(self, previous_listing):
        return dict((path, content) for path, content in (self.snapshot or self._files()).items() if content is not None)

    def _restore_tool(self, path):
        return self.paths["ip6tables-restore" if path == RULES_FILES[6] else "iptables-restore"]

    def _loads(self, plan):
        return [path for path in (RULES_FILES[4], RULES_FILES[6]) if path in plan and (path != RULES_FILES[6] or
                                                                                       self.ipv6())]

    def check(self, plan):
        for path in self._loads(plan):
            self._run([self._restore_tool(path), "--test", "-n"], data=plan[path],
                      what="%s --test (ufw's new %s did not validate)" % (os.path.basename(self._restore_tool(path)), path))

    def apply(self, plan):
        """Install the files; load the rules files with one commit per family
        (what ufw's reload does to its user chains), or ``ufw reload`` when a
        default policy changed."""
        policy_changed = DEFAULTS_FILE in plan and plan[DEFAULTS_FILE] != self._read(DEFAULTS_FILE)
        for path, content in sorted(plan.items()):
            if self._read(path) != content:
                mode = os.stat(self._path(path)).st_mode & 0o7777 if os.path.exists(self._path(path)) else 0o640
                try:
                    _host.write_atomic(self._path(path), content, mode)
                except (IOError, OSError) as error:
                    raise backends.BackendError("could not write %s: %s" % (path, error))
        if not self.active():
            return
        if policy_changed:
            self._run([self.paths["ufw"], "reload"], what="ufw reload")
            return
        for path in self._loads(plan):
            self._run([self._restore_tool(path), "-n"], data=plan[path],
                      what="%s -n %s" % (os.path.basename(self._restore_tool(path)), path))

    # Persistence is ufw's own (ufw.service loads its files at boot).

    def boot_files(self, rules, policy, defaults, desired):
        return {}

    def boot_unit(self):
        return None

    def legacy_boot(self, read):
        return {}

    def restore_script(self, plan, directory, token):
        """Our rules as they were, in the rules files as they are when the
        script runs: the rules of ours are cut out, and the rules that were in
        our scope before (ours, and unmarked ones that open, which the apply
        removed) go back before ``### END RULES ###``; every other rule
        (fail2ban's bans, made before the rollback was armed or while it was
        pending) stays. The default policies the registry declares are set
        back, and ufw reloads the files."""
        files, script = {}, ""
        mark = " comment=%s(%s[0-9a-f]*)?[ \t]*$" % (_hex(MARK), _hex(":"))
        for path in (RULES_FILES[4], RULES_FILES[6]):
            if plan.get(path) is None:
                continue
            saved = "%s/rollback-%s.ufw%s" % (directory, token, path.replace("/", "-"))
            files[saved] = self.blocks(plan[path], Entry.in_scope)
            target = shlex.quote(self._path(path))
            script += "[ -f %s ] && awk -v mark=%s -v ours=%s %s %s > %s.portcullis-tmp && cat %s.portcullis-tmp > %s\n" % (
                target, shlex.quote(mark), shlex.quote(saved), shlex.quote(CUT_AWK), target, target, target, target)
            script += "rm -f %s.portcullis-tmp\n" % target
        previous = dict((key, line) for line in (plan.get(DEFAULTS_FILE) or "").splitlines()
                        for key in [line.split("=", 1)[0].strip()] if "=" in line)
        for _chain, _word, key in self._declared():
            if key in previous:
                script += "sed -i %s %s\n" % (shlex.quote("s|^%s=.*|%s|" % (key, previous[key])),
                                              shlex.quote(self._path(DEFAULTS_FILE)))
        script += "%s reload\n" % self.paths["ufw"]
        return files, script

    @staticmethod
    def blocks(text, keep):
        """The rule blocks (tuple line and the lines ufw derived from it) of a
        rules file whose Entry ``keep`` accepts, the complement of ``cut``."""
        out, keeping = [], False
        for line in (text or "").splitlines():
            match = _TUPLE.fullmatch(line)
            if match:
                entry = Entry.parse(match.group(1))
                keeping = entry is not None and keep(entry)
            elif line.startswith("### END RULES ###"):
                break
            if keeping:
                out.append(line)
        return "".join(line + "\n" for line in out)


class Ufw(_forward.WithForward, UfwRules):
    """ufw in charge of input and output; forwarded and published traffic in
    the iptables backend's chains PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING
    (``_forward``): Docker's FORWARD rules accept published connections
    before ufw's route rules see them, DOCKER-USER comes before Docker's."""
