# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ufw backend against a fake host: ufw's files in a temporary root, and
a ufw command that, like ufw 0.36 with --datadir and ENABLED=no, only writes
the tuples of the rules it is given (the real one runs in the firewall_managers
Molecule scenario)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import json
import os
import re

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply as _firewall
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _others
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as fw
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _ufw
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics

TEMPLATE = """*filter
:ufw-user-input - [0:0]
:ufw-user-output - [0:0]
:ufw-user-forward - [0:0]
### RULES ###
%s
### END RULES ###
COMMIT
"""
DEFAULTS = 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\nDEFAULT_FORWARD_POLICY="DROP"\n'


def tuple_block(text, comment=None, chain="ufw-user-input"):
    line = "### tuple ### %s" % text
    if comment is not None:
        line += " comment=%s" % binascii.hexlify(comment.encode()).decode()
    return "\n%s\n-A %s -j ACCEPT\n" % (line, chain)


class FakeUfw:
    def __init__(self, root):
        self.root = root
        self.calls = []
        self.loaded = {}
        self.active = True
        self.fail_load = None
        self.reloads = 0
        for path, content in ((_ufw.RULES_FILES[4], TEMPLATE % ""), (_ufw.RULES_FILES[6], TEMPLATE % ""),
                              (_ufw.DEFAULTS_FILE, DEFAULTS), (_ufw.CONF_FILE, "ENABLED=yes\nLOGLEVEL=low\n")):
            self.write(path, content)
        os.makedirs(os.path.join(root, "run"))

    def path(self, path, base=None):
        return os.path.join(base or self.root, path.lstrip("/"))

    def read(self, path, base=None):
        return _host.read(self.path(path, base))

    def write(self, path, content, base=None):
        full = self.path(path, base)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        with open(full, "w") as handle:
            handle.write(content)

    def add_rule(self, text, comment=None, version=4):
        path = _ufw.RULES_FILES[version]
        self.write(path, self.read(path).replace("\n### END RULES ###", tuple_block(text, comment) + "\n### END RULES ###"))

    def which(self, name):
        return "/usr/sbin/" + name if name in ("ufw", "iptables-restore", "ip6tables-restore") else None

    def run(self, argv, data=None):
        self.calls.append((argv, data))
        tool = os.path.basename(argv[0])
        if tool == "ufw":
            if argv[1:] == ["status"]:
                return 0, "Status: %s\n" % ("active" if self.active else "inactive"), ""
            if argv[1:] == ["reload"]:
                self.reloads += 1
                return 0, "Firewall reloaded\n", ""
            assert argv[1].startswith("--datadir="), argv
            base = argv[1].split("=", 1)[1]
            assert "ENABLED=no" in self.read(_ufw.CONF_FILE, base)
            return self._ufw(argv[2:], base)
        if tool in ("iptables-restore", "ip6tables-restore"):
            if "--test" in argv:
                return 0, "", ""
            if self.fail_load == tool:
                return 1, "", "%s: line 9 failed" % tool
            self.loaded[tool] = data
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)

    def _ufw(self, args, base):
        if args[0] == "default":
            key = dict((word, key) for _chain, word, key in _ufw.POLICIES)[args[2]]
            verdict = {"deny": "DROP", "allow": "ACCEPT", "reject": "REJECT"}[args[1]]
            text = re.sub(r'(?m)^%s=.*$' % key, '%s="%s"' % (key, verdict), self.read(_ufw.DEFAULTS_FILE, base))
            self.write(_ufw.DEFAULTS_FILE, text, base)
            return 0, "", ""
        args = list(args)
        route = args[0] == "route"
        if route:
            args.pop(0)
        action = args.pop(0)
        direction = "in"
        if args[0] in ("in", "out"):
            direction = args.pop(0)
        values = {"proto": "any", "from": "any", "to": "any", "comment": None}
        ports = {}
        last = None
        while args:
            key, value = args.pop(0), args.pop(0)
            if key == "port":
                ports[last] = value
            else:
                values[key] = value
                last = key
        if "'" in (values["comment"] or ""):
            # ufw 0.36's parser: 'Comment may not contain "'"', raised as a ValueError: "ERROR: Invalid syntax".
            return 1, "", "ERROR: Invalid syntax\n"
        for version in (4, 6):
            addresses = [values["from"], values["to"]]
            if any(item != "any" and (":" in item) != (version == 6) for item in addresses):
                continue
            anywhere = _ufw.ANY[version]
            fields = ["route:" + action if route else action, values["proto"], ports.get("to", "any"),
                      anywhere if values["to"] == "any" else values["to"], ports.get("from", "any"),
                      anywhere if values["from"] == "any" else values["from"], direction]
            text = " ".join(fields)
            path = _ufw.RULES_FILES[version]
            current = self.read(path, base)
            block = tuple_block(text, values["comment"])
            if block.split("\n")[1] in current:
                continue  # ufw: "Skipping adding existing rule"
            # ufw: a rule that differs only in action or comment is replaced where it stands.
            same = re.search(r"\n### tuple ### [a-z:]+ %s( comment=[0-9a-f]+)?\n[^\n]*\n" % re.escape(text.split(" ", 1)[1]),
                             current)
            if same:
                self.write(path, current.replace(same.group(0), block), base)
                continue
            self.write(path, current.replace("\n### END RULES ###", block + "\n### END RULES ###"), base)
        return 0, "Rules updated\n", ""

    def tuples(self, version=4):
        return [line[len("### tuple ### "):] for line in self.read(_ufw.RULES_FILES[version]).splitlines()
                if line.startswith("### tuple ###")]

    def scratch_calls(self):
        return [argv for argv, _data in self.calls if len(argv) > 1 and argv[1].startswith("--datadir=")]


class _Sleeper:
    """Stands in for the detached rollback sleeper (no process may outlive a unit test)."""

    def __init__(self, argv, **_options):
        self.pid = 999999


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setattr(_host.subprocess, "Popen", _Sleeper)
    root = str(tmp_path / "root")
    monkeypatch.setattr(_ufw.Ufw, "root", root)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    return FakeUfw(root)


def make(host, tmp_path, **params):
    params.setdefault("backend", "ufw")
    return _firewall.Firewall(host, params, state_dir=str(tmp_path / "state"), root=host.root)


REGISTRY = [
    {"port": "ssh", "comment": "ssh"},
    {"port": 80, "comment": "public web"},
    {"port": 5432, "source": "10.77.0.0/24", "comment": "db from app"},
    {"port": "8000-8010", "protocol": "both", "comment": "range"},
    {"port": 9100, "source": ["10.77.0.5", "2001:db8::5"], "action": "drop"},
    {"port": 8081, "direction": "forward", "source": "10.77.0.9"},
    {"port": 443, "direction": "out", "destination": "192.0.2.10"},
]


def test_render_in_ufw_terms(host, tmp_path):
    firewall = make(host, tmp_path, rules=REGISTRY, policy={"output": "drop"}, allow_dhcp=False)
    rules, policy, defaults = firewall.validate()
    backend = _ufw.Ufw(host)
    backend.policy_declared = {"output"}
    # The forward rule belongs to the iptables chain PORTCULLIS-FORWARD (test_ufw_forward.py), which this host
    # (no iptables-save) cannot write: refused, naming why.
    with pytest.raises(_firewall.backends.BackendError, match="PORTCULLIS-FORWARD"):
        backend.render(rules, policy, defaults)
    rules = [rule for rule in rules if rule.chain != "forward"]
    text = backend.render(rules, policy, defaults)
    v4, v6 = text.split("# IPv6\n")
    assert v4.splitlines()[1:] == [
        "ufw allow proto tcp from any to any port 22 comment 'portcullis: ssh'",
        "ufw allow proto tcp from any to any port 80 comment 'portcullis: public web'",
        "ufw allow proto tcp from 10.77.0.0/24 to any port 5432 comment 'portcullis: db from app'",
        "ufw allow proto tcp from any to any port 8000:8010 comment 'portcullis: range'",
        "ufw allow proto udp from any to any port 8000:8010 comment 'portcullis: range'",
        "ufw deny proto tcp from 10.77.0.5 to any port 9100 comment 'portcullis'",
        "ufw allow out proto tcp from any to 192.0.2.10 port 443 comment 'portcullis'",
    ]
    # Rules naming no address are in both families (as ufw stores them); the output policy is declared, the others not.
    assert v6.splitlines()[:6] == [
        "ufw allow proto tcp from any to any port 22 comment 'portcullis: ssh'",
        "ufw allow proto tcp from any to any port 80 comment 'portcullis: public web'",
        "ufw allow proto tcp from any to any port 8000:8010 comment 'portcullis: range'",
        "ufw allow proto udp from any to any port 8000:8010 comment 'portcullis: range'",
        "ufw deny proto tcp from 2001:db8::5 to any port 9100 comment 'portcullis'",
        "# default policies",
    ]
    assert v6.splitlines()[6:] == ["ufw default deny outgoing"]
    assert "route" not in text and "PORTCULLIS-FORWARD" not in text


def test_a_quote_in_a_comment_is_written_as_a_backquote(host, tmp_path):
    # ufw 0.36 refuses a "'" in a comment; the other backends keep the rule (the plan writes connects_to comments).
    rules = [{"port": 5432, "direction": "out", "destination": "192.0.2.20", "comment": "the client's database"}]
    result = make(host, tmp_path, rules=rules).run(check_mode=False)
    assert result["changed"]
    assert "ufw allow out proto tcp from any to 192.0.2.20 port 5432 comment 'portcullis: the client`s database'" \
        in result["diff"]["after"]
    assert not make(host, tmp_path, rules=rules).run(check_mode=False)["changed"]


def test_long_port_lists_are_split_at_fifteen_items():
    groups = _ufw._port_groups([(port, port) for port in range(1, 20)] + [(100, 110)])
    assert groups == [",".join(str(port) for port in range(1, 16)), "16,17,18,19,100:110"]
    assert _ufw._port_groups(None) == ["any"]


@pytest.mark.parametrize("rule, named", [
    ({"protocol": "icmp"}, "cannot match ICMP"),
    ({"port": 22, "rate_limit": "10/second"}, "no rate_limit"),
    ({"port": 22, "log": "ssh "}, "prefix"),
])
def test_what_ufw_cannot_say_is_refused_before_anything_changes(host, tmp_path, rule, named):
    with pytest.raises(fw.RuleError) as error:
        make(host, tmp_path, rules=[rule]).run(check_mode=False)
    assert named in str(error.value) and "rule 1" in str(error.value)
    assert not host.scratch_calls() and not host.loaded


def test_apply_then_unchanged(host, tmp_path):
    first = make(host, tmp_path, rules=REGISTRY[:4]).run(check_mode=False)
    assert first["changed"] and first["ruleset_changed"] and first["backend"] == "ufw"
    assert "allow tcp 5432 0.0.0.0/0 any 10.77.0.0/24 in comment=%s" % binascii.hexlify(
        b"portcullis: db from app").decode() in host.tuples(4)
    assert len(host.tuples(6)) == 4  # the CIDR rule is IPv4 only
    # Loaded the way ufw loads its user chains: one restore per family, without flushing other chains.
    assert host.loaded["iptables-restore"] == host.read(_ufw.RULES_FILES[4])
    assert host.loaded["ip6tables-restore"] == host.read(_ufw.RULES_FILES[6])
    assert host.read(_ufw.CONF_FILE) == "ENABLED=yes\nLOGLEVEL=low\n"
    assert host.read(_ufw.DEFAULTS_FILE) == DEFAULTS  # no policy declared: ufw's defaults stay
    assert first["boot_changed"] == []  # ufw loads its own files at boot
    host.calls[:] = []
    second = make(host, tmp_path, rules=REGISTRY[:4]).run(check_mode=False)
    assert not second["changed"] and not host.scratch_calls()


def test_check_mode_shows_ufw_lines_and_writes_nothing(host, tmp_path):
    result = make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=True)
    assert result["changed"]
    assert "ufw allow proto tcp from any to any port 80 comment 'portcullis: public web'" in result["diff"]["after"]
    assert result["diff"]["before"] == ""
    assert not host.scratch_calls() and not host.loaded and host.tuples(4) == []


def test_a_hand_allow_is_drift_and_removed_a_hand_deny_stays(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    host.add_rule("allow tcp 9999 0.0.0.0/0 any 0.0.0.0/0 in")
    host.add_rule("deny any any 0.0.0.0/0 any 198.51.100.7 in", comment="by Fail2Ban after 5 attempts against sshd")
    result = make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=True)
    assert result["changed"]
    assert "ufw allow proto tcp from any to any port 9999" in result["diff"]["before"]
    assert "9999" not in result["diff"]["after"] and "198.51.100.7" not in result["diff"]["before"]
    make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    tuples = host.tuples(4)
    assert not any("9999" in item for item in tuples)
    # The ban is kept, and stays above our rules.
    assert tuples[0].startswith("deny any any 0.0.0.0/0 any 198.51.100.7 in")
    assert not make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)["changed"]


def test_a_marked_rule_made_by_hand_is_drift_too(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    host.add_rule("allow tcp 7777 0.0.0.0/0 any 0.0.0.0/0 in", comment="portcullis: x", version=6)
    result = make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    assert result["changed"] and "7777" in result["diff"]["before"]
    assert not any("7777" in item for item in host.tuples(6))


def test_a_registry_rule_ufw_would_merge_into_a_foreign_one_is_refused(host, tmp_path):
    host.add_rule("deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", comment="colleague")
    before = host.read(_ufw.RULES_FILES[4])
    with pytest.raises(Exception) as error:
        make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    assert "not ours" in str(error.value) and "ufw deny proto tcp from any to any port 22 comment 'colleague'" in str(
        error.value)
    assert host.read(_ufw.RULES_FILES[4]) == before and not host.loaded


def test_a_later_rule_with_the_same_match_is_left_out(host, tmp_path):
    rules = [{"port": 22, "source": "10.0.0.0/8", "action": "drop"}, {"port": 22, "source": "10.0.0.0/8"}]
    result = make(host, tmp_path, rules=rules).run(check_mode=False)
    assert result["changed"] and host.tuples(4) == ["deny tcp 22 0.0.0.0/0 any 10.0.0.0/8 in comment=%s"
                                                    % binascii.hexlify(b"portcullis").decode()]
    assert not make(host, tmp_path, rules=rules).run(check_mode=False)["changed"]


def test_order_changes_are_changes(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    result = make(host, tmp_path, rules=[REGISTRY[1], REGISTRY[0]]).run(check_mode=False)
    assert result["changed"]
    assert [item.split()[2] for item in host.tuples(4)] == ["80", "22"]


def test_default_policies_only_when_declared_and_loaded_by_reload(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    assert host.reloads == 0 and host.read(_ufw.DEFAULTS_FILE) == DEFAULTS
    result = make(host, tmp_path, rules=REGISTRY[:1], policy={"output": "drop"}).run(check_mode=False)
    assert result["changed"] and "ufw default allow outgoing" in result["diff"]["before"]
    assert "ufw default deny outgoing" in result["diff"]["after"]
    assert 'DEFAULT_OUTPUT_POLICY="DROP"' in host.read(_ufw.DEFAULTS_FILE)
    assert 'DEFAULT_INPUT_POLICY="DROP"' in host.read(_ufw.DEFAULTS_FILE)
    assert host.reloads == 1
    # Output drop brings the DHCP client's requests (ufw's before.rules accept the replies only).
    assert any(item.startswith("allow udp 67 255.255.255.255 68 0.0.0.0/0 out") for item in host.tuples(4))
    assert not make(host, tmp_path, rules=REGISTRY[:1], policy={"output": "drop"}).run(check_mode=False)["changed"]


def test_a_failed_load_puts_the_previous_files_back(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    before = dict((version, host.read(path)) for version, path in _ufw.RULES_FILES.items())
    host.fail_load = "ip6tables-restore"
    with pytest.raises(_firewall.FirewallError) as error:
        make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    assert "previous ruleset was put back" in str(error.value)
    assert dict((version, host.read(path)) for version, path in _ufw.RULES_FILES.items()) == before
    assert host.loaded["iptables-restore"] == before[4]  # the IPv4 chains, already loaded, were loaded back


def test_absent_removes_only_marked_rules(host, tmp_path):
    make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    host.add_rule("allow tcp 9999 0.0.0.0/0 any 0.0.0.0/0 in")
    result = make(host, tmp_path, state="absent").run(check_mode=False)
    assert result["changed"]
    assert host.tuples(4) == ["allow tcp 9999 0.0.0.0/0 any 0.0.0.0/0 in"] and host.tuples(6) == []
    assert not make(host, tmp_path, state="absent").run(check_mode=False)["changed"]


def test_inactive_ufw_is_refused(host, tmp_path):
    host.active = False
    with pytest.raises(Exception) as error:
        make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=True)
    assert "ufw is not active" in str(error.value)


def test_ufw_is_not_another_firewall_for_its_own_backend(host):
    assert _others.detect(host, "ufw") == []
    assert [finding.manager for finding in _others.detect(host, "nftables")] == ["ufw"]


@pytest.mark.parametrize("text, line", [
    ("route:allow tcp 8081 0.0.0.0/0 any 10.0.0.9 in", "ufw route allow proto tcp from 10.0.0.9 to any port 8081"),
    ("allow_log any any ::/0 any ::/0 out_eth0", "ufw allow log out on eth0 from any to any"),
    ("allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 Apache - in", "ufw allow proto tcp from any to any app Apache"),
    ("deny udp 53 192.0.2.1 any 0.0.0.0/0 out comment=706f7274", "ufw deny out proto udp from any to 192.0.2.1 port 53 "
                                                                 "comment 'port'"),
])
def test_tuples_read_back_as_ufw_commands(text, line):
    assert _ufw.Entry.parse(text).line() == line


def test_rollback_script_puts_our_previous_rules_back_and_reloads(host):
    backend = _ufw.Ufw(host)
    backend.policy_declared = {"output"}
    previous = (TEMPLATE % tuple_block("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "portcullis: ssh")).replace(
        "### RULES ###\n", "### RULES ###\n" + tuple_block("deny any any 0.0.0.0/0 any 198.51.100.7 in", "f2b"))
    files, script = backend.restore_script({"manager": {_ufw.RULES_FILES[4]: previous, _ufw.DEFAULTS_FILE: DEFAULTS},
                                            "forward": None}, "/var/lib/portcullis", "t1")
    # Only the rules of our scope are kept for the rollback; the others are taken as they are when it runs.
    assert list(files.values()) == [tuple_block("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "portcullis: ssh")[1:] + "\n"]
    lines = script.splitlines()
    assert lines[-2:] == ["sed -i 's|^DEFAULT_OUTPUT_POLICY=.*|DEFAULT_OUTPUT_POLICY=\"ACCEPT\"|' %s"
                          % host.path(_ufw.DEFAULTS_FILE), "/usr/sbin/ufw reload"]
    assert "user6.rules" not in script and "DEFAULT_INPUT_POLICY" not in script


def test_commit_confirmed_rollback_keeps_the_bans_made_while_it_was_pending(host, tmp_path, run_in_sh):
    # Before, the rollback wrote back the whole files as they were when it was armed: a ban fail2ban's ufw action
    # inserted while the rollback was pending was lost, and the state file kept the unconfirmed rule set.
    host.add_rule("deny any any 0.0.0.0/0 any 198.51.100.7 in", comment="by Fail2Ban after 5 attempts against sshd")
    make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=False)
    previous = dict((path, host.read(path)) for path in list(_ufw.RULES_FILES.values()) + [_ufw.DEFAULTS_FILE])
    state = tmp_path / "state" / "firewall-ufw.json"
    previous_state = state.read_text()
    result = make(host, tmp_path, rules=REGISTRY[:2], policy={"output": "drop"}, rollback_timeout=600).run(
        check_mode=False)
    assert host.read(_ufw.RULES_FILES[4]) != previous[_ufw.RULES_FILES[4]]
    assert 'DEFAULT_OUTPUT_POLICY="DROP"' in host.read(_ufw.DEFAULTS_FILE)
    # fail2ban's ufw action: ufw insert 1 deny from ADDRESS (both files, above every rule).
    later = tuple_block("deny any any 0.0.0.0/0 any 198.51.100.23 in", "by Fail2Ban after 5 attempts against sshd")
    for version in (4, 6):
        path = _ufw.RULES_FILES[version]
        host.write(path, host.read(path).replace("### RULES ###\n", "### RULES ###\n" + later, 1))
    reloads = host.reloads
    script = (tmp_path / "state" / ("rollback-%s.sh" % result["rollback_token"])).read_text()
    done = run_in_sh(host, script, str(tmp_path / "state"))
    assert done.returncode == 0, done.stderr
    assert host.reloads == reloads + 1
    expected = previous[_ufw.RULES_FILES[4]].replace("### RULES ###\n", "### RULES ###\n" + later, 1)
    assert host.read(_ufw.RULES_FILES[4]) == expected
    assert host.tuples(4)[:2] == ["deny any any 0.0.0.0/0 any 198.51.100.23 in comment=%s" % _ufw._hex(
        "by Fail2Ban after 5 attempts against sshd"), "deny any any 0.0.0.0/0 any 198.51.100.7 in comment=%s"
        % _ufw._hex("by Fail2Ban after 5 attempts against sshd")]
    assert host.read(_ufw.DEFAULTS_FILE) == previous[_ufw.DEFAULTS_FILE]
    assert state.read_text() == previous_state
    assert not [name for name in os.listdir(str(tmp_path / "state")) if name.startswith("rollback-")]
    # The next run compares the registry with what is in force.
    assert make(host, tmp_path, rules=REGISTRY[:1]).run(check_mode=True)["changed"] is False
    assert make(host, tmp_path, rules=REGISTRY[:2], policy={"output": "drop"}).run(check_mode=True)["changed"]


# The forward part: forwarded and published traffic in the iptables chains PORTCULLIS-FORWARD and
# PORTCULLIS-PREROUTING (hooked from DOCKER-USER and mangle PREROUTING), as with the iptables backend.

FORWARD = [{"port": "ssh", "comment": "ssh"},
           {"port": 8081, "direction": "forward", "source": "10.77.0.9", "comment": "web from app"}]
ADMITTED = ('-A PORTCULLIS-FORWARD -s 10.77.0.9/32 -m conntrack --ctproto tcp --ctorigdstport 8081 -m comment '
            '--comment "web from app" -j RETURN')
CLOSED = ('-A PORTCULLIS-FORWARD -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -m connmark --mark '
          '0x20000000/0x20000000 -m comment --comment "published ports no rule opens" -j DROP')


@pytest.fixture
def both(host, with_iptables):
    return with_iptables(host)


def test_a_forward_rule_lands_in_portcullis_forward_not_in_a_route_rule(both, tmp_path):
    first = make(both, tmp_path, rules=FORWARD, policy={"dnat": "drop"}).run(check_mode=False)
    assert first["changed"] and first["backend"] == "ufw"
    assert not [line for line in both.tuples(4) + both.tuples(6) if line.startswith("route:")]
    filter4 = both.iptables.lines(4)
    # Where Docker passes forwarded packets first, above its own accepts; dnat drop closes what no rule opens.
    assert ADMITTED in filter4 and CLOSED in filter4
    assert filter4.index("-A DOCKER-USER -j PORTCULLIS-FORWARD") < filter4.index("-A DOCKER-USER -j RETURN")
    assert CLOSED in both.iptables.lines(6)
    assert "-A PREROUTING -j PORTCULLIS-PREROUTING" in both.iptables.lines(4, "mangle")
    # ufw keeps input and output: no chain of ours for them.
    assert not [line for line in both.iptables.ours() if "PORTCULLIS-INPUT" in line or "PORTCULLIS-OUTPUT" in line]
    assert "# forwarded and published traffic" in first["diff"]["after"] and ADMITTED in first["diff"]["after"]
    second = make(both, tmp_path, rules=FORWARD, policy={"dnat": "drop"}).run(check_mode=False)
    assert not second["changed"]


def test_dnat_drop_alone_closes_published_ports_and_nothing_forward_removes_the_chains(both, tmp_path):
    make(both, tmp_path, rules=FORWARD[:1]).run(check_mode=False)  # the dnat policy is drop by default
    assert CLOSED in both.iptables.lines(4)
    result = make(both, tmp_path, rules=FORWARD[:1], policy={"dnat": "accept"}).run(check_mode=False)
    assert result["changed"] and both.iptables.ours() == []
    assert "# forwarded and published traffic" not in result["diff"]["after"]
    assert not make(both, tmp_path, rules=FORWARD[:1], policy={"dnat": "accept"}).run(check_mode=False)["changed"]


def test_a_jump_moved_or_removed_by_hand_is_drift_and_put_back(both, tmp_path):
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    both.iptables.tables[4]["filter"].remove("-A DOCKER-USER -j PORTCULLIS-FORWARD")
    result = make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    assert result["changed"] and "-A DOCKER-USER -j PORTCULLIS-FORWARD" in both.iptables.lines(4)


def test_absent_removes_the_forward_chains_and_their_hooks(both, tmp_path):
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    result = make(both, tmp_path, state="absent").run(check_mode=False)
    assert result["changed"] and both.iptables.ours() == []
    assert "-A FORWARD -j DOCKER-USER" in both.iptables.lines(4)  # Docker's, left alone
    assert both.tuples(4) == [] and not make(both, tmp_path, state="absent").run(check_mode=False)["changed"]


def test_switching_between_ufw_and_iptables_leaves_nothing_of_the_old_one(both, tmp_path):
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    boot = os.path.join(both.root, "etc/portcullis")
    assert sorted(os.listdir(boot)) == ["forward.v4", "forward.v6"]  # the forward chains' boot files (persist)
    both.manager.active = False  # ufw disabled, its files still hold our rules
    to_iptables = make(both, tmp_path, rules=FORWARD, backend="iptables").run(check_mode=False)
    assert to_iptables["removed_scope"] == "ufw" and both.tuples(4) == [] and both.tuples(6) == []
    # The iptables backend governs the forward chains now, with its input and output chains.
    assert ADMITTED in both.iptables.lines(4) and "-A INPUT -j PORTCULLIS-INPUT" in both.iptables.lines(4)
    assert sorted(os.listdir(boot)) == ["firewall.v4", "firewall.v6"]
    assert not make(both, tmp_path, rules=FORWARD, backend="iptables").run(check_mode=False)["changed"]
    both.manager.active = True
    back = make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    assert back["removed_scope"] == "iptables"
    assert not [line for line in both.iptables.ours() if "INPUT" in line or "OUTPUT" in line]
    assert ADMITTED in both.iptables.lines(4) and both.tuples(4)
    assert sorted(os.listdir(boot)) == ["forward.v4", "forward.v6"]
    assert not make(both, tmp_path, rules=FORWARD).run(check_mode=False)["changed"]
    make(both, tmp_path, state="absent").run(check_mode=False)
    assert both.iptables.ours() == [] and both.tuples(4) == [] and not os.path.exists(boot)


@pytest.mark.parametrize("policy", [{}, {"output": "drop"}])
def test_the_drift_metric_reads_ufw_as_the_module_applied_it(host, tmp_path, policy):
    # Before, the collector read ufw with every default policy declared (policy_declared None), the module with
    # only the registry's: on a ufw host the metric said drift right after an apply, and at every refresh.
    state_dir = str(tmp_path / "state")
    make(host, tmp_path, rules=REGISTRY[:2], policy=policy).run(check_mode=False)

    def drift():
        out = _metrics.Exposition()
        assert _metrics.firewall_series(out, host, state_dir) is True
        return [line for line in out.text().splitlines() if line.startswith("portcullis_firewall_drift{")]

    assert drift() == ['portcullis_firewall_drift{backend="ufw"} 0']
    host.add_rule("allow tcp 9999 0.0.0.0/0 any 0.0.0.0/0 in")
    assert drift() == ['portcullis_firewall_drift{backend="ufw"} 1']
    make(host, tmp_path, rules=REGISTRY[:2], policy=policy).run(check_mode=False)
    assert drift() == ['portcullis_firewall_drift{backend="ufw"} 0']


def test_a_state_file_without_the_declared_policies_is_an_unknown_drift_until_the_next_run(host, tmp_path):
    state_dir = tmp_path / "state"
    make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)
    path = state_dir / "firewall-ufw.json"
    saved = json.loads(path.read_text())
    del saved["policy_declared"]
    path.write_text(json.dumps(saved))  # as an earlier version wrote it
    out = _metrics.Exposition()
    assert _metrics.firewall_series(out, host, str(state_dir)) is False and "portcullis_firewall_drift{" not in out.text()
    # The next run, unchanged, records them.
    assert not make(host, tmp_path, rules=REGISTRY[:2]).run(check_mode=False)["changed"]
    out = _metrics.Exposition()
    assert _metrics.firewall_series(out, host, str(state_dir)) is True
    assert 'portcullis_firewall_drift{backend="ufw"} 0' in out.text()
