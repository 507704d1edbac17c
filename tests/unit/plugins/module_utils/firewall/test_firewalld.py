# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld backend against a fake firewall-cmd: a daemon that loads
the XML files under its configuration directory at --reload (as firewalld
does), prints its objects the way firewall-cmd 1.3 does, and keeps runtime
changes made by hand until the next reload."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from xml.etree import ElementTree

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply as _firewall
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _firewalld
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as fw

PUBLIC = "\n".join(["public", "  target: default", "  icmp-block-inversion: no", "  interfaces:", "  sources:",
                    "  services: dhcpv6-client ssh", "  ports:", "  protocols:", "  forward: yes", "  masquerade: no",
                    "  forward-ports:", "  source-ports:", "  icmp-blocks:", "  rich rules:"])


def _rich_text(rule):
    """A rich rule XML element as firewall-cmd prints it (core/rich.py's order)."""
    parts = ["rule"]
    if rule.get("priority") not in (None, "0"):
        parts.append('priority="%s"' % rule.get("priority"))
    if rule.get("family"):
        parts.append('family="%s"' % rule.get("family"))
    for side in ("source", "destination"):
        element = rule.find(side)
        if element is not None:
            key = "address" if element.get("address") else "ipset"
            parts.append('%s %s="%s"' % (side, key, element.get(key)))
    for child in rule:
        if child.tag == "port":
            parts.append('port port="%s" protocol="%s"' % (child.get("port"), child.get("protocol")))
        elif child.tag == "protocol":
            parts.append('protocol value="%s"' % child.get("value"))
        elif child.tag == "icmp-type":
            parts.append('icmp-type name="%s"' % child.get("name"))
        elif child.tag == "log":
            parts.append('log prefix="%s"' % child.get("prefix") if child.get("prefix") else "log")
    for child in rule:
        if child.tag in ("accept", "drop", "reject"):
            limit = child.find("limit")
            parts.append(child.tag + (' limit value="%s"' % limit.get("value") if limit is not None else ""))
    return " ".join(parts)


def _info(kind, name, root):
    """What firewall-cmd --info-KIND=NAME prints for a file firewalld loaded."""
    if kind == "ipset":
        options = " ".join("%s=%s" % (item.get("name"), item.get("value")) for item in root.findall("option"))
        return [name, "  type: %s" % root.get("type"), "  options: %s" % options,
                "  entries: %s" % " ".join(item.text for item in root.findall("entry"))]
    ports = " ".join("%s/%s" % (item.get("port"), item.get("protocol")) for item in root.findall("port"))
    protocols = " ".join(sorted(item.get("value") for item in root.findall("protocol")))
    rules = sorted(root.findall("rule"), key=lambda rule: int(rule.get("priority", "0")))
    lines = [name]
    if kind == "policy":
        lines += ["  priority: %s" % root.get("priority"), "  target: %s" % root.get("target"),
                  "  ingress-zones: %s" % root.find("ingress-zone").get("name"),
                  "  egress-zones: %s" % root.find("egress-zone").get("name")]
    else:
        lines += ["  target: %s" % root.get("target", "default"), "  icmp-block-inversion: no", "  interfaces:",
                  "  sources:"]
    lines += ["  services:", "  ports: %s" % ports, "  protocols: %s" % protocols]
    if kind == "zone":
        lines.append("  forward: no")
    lines += ["  masquerade: no", "  forward-ports:", "  source-ports:", "  icmp-blocks:", "  rich rules:"]
    lines += ["\t" + _rich_text(rule) for rule in rules]
    return lines


class FakeFirewalld:
    """firewall-cmd over a configuration directory: --reload loads the XML
    files (ours and those a test puts there) into both the permanent and the
    runtime configuration; runtime-only changes last until the next reload."""

    def __init__(self, config_dir, running=True):
        self.config_dir = config_dir
        self.running = running
        self.default_zone = "public"
        self.calls = []
        self.fail_reload = False
        self.active_zones = ""
        self.foreign = {("zone", "public"): PUBLIC.splitlines(),
                        ("zone", "docker"): PUBLIC.replace("public", "docker").splitlines(),
                        ("ipset", "f2b-sshd"): ["f2b-sshd", "  type: hash:ip", "  options:", "  entries: 198.51.100.7"]}
        self.permanent = {}
        self.runtime = {}
        self.reload()

    def which(self, name):
        return "/usr/bin/%s" % name if name in ("firewall-cmd", "systemctl") else None

    def _load(self):
        loaded = dict(self.foreign)
        for kind, directory in _firewalld.DIRS.items():
            folder = os.path.join(self.config_dir, directory)
            for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
                if entry.endswith(".xml"):
                    root = ElementTree.parse(os.path.join(folder, entry)).getroot()
                    loaded[(kind, entry[:-4])] = _info(kind, entry[:-4], root)
        return loaded

    def reload(self):
        self.permanent = self._load()
        self.runtime = dict((key, list(value)) for key, value in self.permanent.items())

    def run(self, argv, data=None):
        self.calls.append(argv)
        if os.path.basename(argv[0]) == "systemctl":
            return (1, "disabled\n", "") if argv[1] == "is-enabled" else (0, "", "")
        assert os.path.basename(argv[0]) == "firewall-cmd", argv
        args = argv[1:]
        if args == ["--state"]:
            return (0, "running\n", "") if self.running else (252, "not running\n", "")
        permanent = "--permanent" in args
        args = [arg for arg in args if arg != "--permanent"]
        zone = next((arg.split("=", 1)[1] for arg in args if arg.startswith("--zone=")), self.default_zone)
        args = [arg for arg in args if not arg.startswith("--zone=")]
        config = self.permanent if permanent else self.runtime
        option, _sep, value = args[0].partition("=")
        if option == "--get-default-zone":
            return 0, self.default_zone + "\n", ""
        if option == "--set-default-zone":
            if ("zone", value) not in self.runtime:
                return 112, "", "Error: INVALID_ZONE: %s" % value
            self.default_zone = value
            return 0, "success\n", ""
        if option in ("--get-zones", "--get-policies", "--get-ipsets"):
            kind = {"--get-zones": "zone", "--get-policies": "policy", "--get-ipsets": "ipset"}[option]
            return 0, " ".join(sorted(name for (item, name) in config if item == kind)) + "\n", ""
        if option.startswith("--info-"):
            key = (option[len("--info-"):], value)
            if key not in config:
                return 112, "", "Error: INVALID_%s: %s" % (key[0].upper(), value)
            lines = list(config[key])
            if key[0] == "zone" and value == self.default_zone:
                lines[0] += " (default, active)"
            # firewall-cmd leaves a blank after an empty list
            return 0, "\n".join(line + (" " if line.endswith(":") else "") for line in lines) + "\n", ""
        if option == "--check-config":
            try:
                self._load()
            except ElementTree.ParseError as error:
                return 111, "", "Error: INVALID_CONFIG: %s" % error
            return 0, "", ""
        if option == "--reload":
            if self.fail_reload:
                return 1, "", "Error: COMMAND_FAILED: 'python-nftables' failed"
            self.reload()
            return 0, "success\n", ""
        if option == "--get-active-zones":
            return 0, self.active_zones, ""
        if option in ("--add-port", "--add-rich-rule"):
            lines = config[("zone", zone)]
            if option == "--add-port":
                index = next(number for number, line in enumerate(lines) if line.startswith("  ports:"))
                lines[index] = (lines[index] + " " + value).replace(":  ", ": ")
            else:
                lines.append("\t" + value)
            return 0, "success\n", ""
        raise AssertionError("unexpected firewall-cmd %r" % argv)


@pytest.fixture(autouse=True)
def no_real_sleeper(monkeypatch):
    monkeypatch.setattr(_host.subprocess, "Popen", lambda argv, **_options: type("P", (), {"pid": 999999})())


@pytest.fixture
def host(tmp_path, monkeypatch):
    config_dir = str(tmp_path / "etc" / "firewalld")
    monkeypatch.setattr(_firewalld.Firewalld, "config_dir", config_dir)
    return FakeFirewalld(config_dir)


def make(runner, tmp_path, **params):
    params.setdefault("persist", False)
    params.setdefault("backend", "firewalld")
    return _firewall.Firewall(runner, params, state_dir=str(tmp_path / "state"), root=str(tmp_path / "root"))


def zone_file(host):
    with open(os.path.join(host.config_dir, "zones", "portcullis.xml")) as handle:
        return handle.read()


RULES = [
    {"port": "http", "comment": "public web"},
    {"port": 5432, "source": "10.0.1.5", "comment": "app to db"},
    {"port": "8000-8010", "source": ["10.0.0.0/8", "192.168.0.0/16"]},
    {"port": 9100, "source": ["10.0.0.0/8", "2001:db8::/32"], "rate_limit": "10/second", "log": "node "},
]


def test_rules_become_a_zone_ports_rich_rules_and_ipsets(host, tmp_path):
    result = make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert result["changed"] and result["backend"] == "firewalld" and host.default_zone == "portcullis"
    zone = host.runtime[("zone", "portcullis")]
    assert "  target: DROP" in zone
    assert "  ports: 80/tcp" in zone  # a port open to everyone is a port of the zone
    rich = [line.strip() for line in zone if line.startswith("\t")]
    ours = [line for line in rich if "icmp-type" not in line]
    assert ours == [
        'rule priority="14" family="ipv4" port port="68" protocol="udp" accept',
        'rule priority="15" family="ipv6" source address="fe80::/10" destination address="fe80::/10" '
        'port port="546" protocol="udp" accept',
        'rule priority="16" family="ipv4" source address="10.0.1.5/32" port port="5432" protocol="tcp" accept',
        'rule priority="17" family="ipv4" source ipset="portcullis-in-3" port port="8000-8010" protocol="tcp" '
        'accept',
        'rule priority="18" family="ipv4" source address="10.0.0.0/8" port port="9100" protocol="tcp" '
        'log prefix="node " accept limit value="10/s"',
        'rule priority="19" family="ipv6" source address="2001:db8::/32" port port="9100" protocol="tcp" '
        'log prefix="node " accept limit value="10/s"',
    ]
    assert 'rule priority="1" family="ipv4" icmp-type name="destination-unreachable" accept' in rich
    ipset = host.runtime[("ipset", "portcullis-in-3")]
    assert ipset[1:] == ["  type: hash:net", "  options: family=inet", "  entries: 10.0.0.0/8 192.168.0.0/16"]
    # The default zone before is kept, to be set back by state=absent.
    assert "Default zone before: public" in zone_file(host)
    # Nothing of ours outputs when output is accepted and no rule says more.
    assert ("policy", "portcullis-out") not in host.runtime


def test_what_is_declared_and_what_firewalld_shows_are_the_same_text(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    declared = host.runtime[("zone", "portcullis")]
    backend = _firewalld.Firewalld(host)
    rules, policy, defaults = make(host, tmp_path, rules=RULES).validate()
    assert backend.render(rules, policy, defaults) == backend.live()
    assert "\n".join(line.rstrip() for line in declared) in backend.live()


def test_second_run_is_unchanged_and_runs_no_reload(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    host.calls = []
    result = make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert result["changed"] is False
    assert not [argv for argv in host.calls if argv[1:] in (["--reload"], ["--check-config"])]


def test_a_port_added_by_hand_is_drift_reported_and_removed(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert host.run(["/usr/bin/firewall-cmd", "--add-port=9999/tcp"])[0] == 0
    assert "  ports: 80/tcp 9999/tcp" in host.runtime[("zone", "portcullis")]
    checked = make(host, tmp_path, rules=RULES).run(check_mode=True)
    assert checked["changed"] and "ports: 80/tcp 9999/tcp" in checked["diff"]["before"]
    assert "9999/tcp" not in checked["diff"]["after"]
    assert "  ports: 80/tcp 9999/tcp" in host.runtime[("zone", "portcullis")]  # check mode changed nothing
    applied = make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert applied["changed"] and "  ports: 80/tcp" in host.runtime[("zone", "portcullis")]
    assert make(host, tmp_path, rules=RULES).run(check_mode=False)["changed"] is False


BAN = 'rule family="ipv4" source address="10.0.1.5" port port="5432" protocol="tcp" reject type="icmp-port-unreachable"'


def test_a_fail2ban_ban_in_our_zone_is_not_drift_and_comes_before_our_accepts(host, tmp_path):
    # fail2ban's firewallcmd-rich-rules action: a runtime rich rule, no priority, in the default zone (ours).
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert host.run(["/usr/bin/firewall-cmd", "--add-rich-rule=" + BAN])[0] == 0
    host.calls = []
    result = make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert result["changed"] is False
    assert not [argv for argv in host.calls if argv[1:] == ["--reload"]]  # a reload would drop the ban
    assert "\t" + BAN in host.runtime[("zone", "portcullis")]
    # firewalld runs a zone's rich rules of priority 0 that reject or drop (the ban) before its ports and before
    # those of a positive priority: every rule of ours that is not a port has one, so the ban holds on every port,
    # as bans do with the other backends.
    ours = [line.strip() for line in host.runtime[("zone", "portcullis")] if line.startswith("\trule priority")]
    assert ours and all(int(line.split('"')[1]) > 0 for line in ours)


def test_a_rich_rule_that_opens_added_by_hand_is_drift(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    opening = 'rule family="ipv4" source address="203.0.113.7" port port="22" protocol="tcp" accept'
    assert host.run(["/usr/bin/firewall-cmd", "--add-rich-rule=" + opening])[0] == 0
    checked = make(host, tmp_path, rules=RULES).run(check_mode=True)
    assert checked["changed"] and opening in checked["diff"]["before"]


def test_objects_we_do_not_own_are_left_alone(host, tmp_path):
    host.runtime[("zone", "public")].append('\trule family="ipv4" source address="198.51.100.7" reject')
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    # Loaded again by the reload: only what is permanent; ours never touched theirs.
    assert host.permanent[("zone", "public")] == PUBLIC.splitlines()
    assert ("zone", "docker") in host.runtime and ("ipset", "f2b-sshd") in host.runtime
    live = _firewalld.Firewalld(host).live()
    assert "public" not in live.replace("Default zone before: public", "") and "f2b-sshd" not in live


def test_undeclared_objects_of_ours_are_removed(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert os.path.exists(os.path.join(host.config_dir, "ipsets", "portcullis-in-3.xml"))
    make(host, tmp_path, rules=RULES[:2]).run(check_mode=False)
    assert not os.path.exists(os.path.join(host.config_dir, "ipsets", "portcullis-in-3.xml"))
    assert ("ipset", "portcullis-in-3") not in host.runtime
    assert "8000-8010" not in "\n".join(host.runtime[("zone", "portcullis")])


def test_output_drop_is_a_policy_with_the_connects_to_and_dns(host, tmp_path):
    host_rules = RULES + [{"port": 5432, "direction": "out", "destination": "10.0.2.7", "comment": "to db"}]
    make(host, tmp_path, rules=host_rules, policy={"output": "drop"}).run(check_mode=False)
    out = host.runtime[("policy", "portcullis-out")]
    assert out[1:5] == ["  priority: -100", "  target: DROP", "  ingress-zones: HOST", "  egress-zones: ANY"]
    rich = [line.strip() for line in out if line.startswith("\t")]
    assert 'rule priority="16" family="ipv4" destination address="10.0.2.7/32" port port="5432" ' \
           'protocol="tcp" accept' in rich
    assert any('port port="67" protocol="udp" accept' in line for line in rich)


def test_output_drop_lets_the_essential_icmp_out_first_neighbour_discovery_too(host, tmp_path):
    # As the nftables and iptables backends do: without neighbour solicitations and advertisements out, IPv6
    # stops working altogether under output drop (no neighbour resolves), in and out.
    make(host, tmp_path, rules=RULES, policy={"output": "drop"}).run(check_mode=False)
    out = host.runtime[("policy", "portcullis-out")]
    rich = [line.strip() for line in out if line.startswith("\t")]
    icmp = [line for line in rich if "icmp-type" in line]
    assert icmp == ['rule priority="%d" family="%s" icmp-type name="%s" accept' % (_firewalld.FIRST_PRIORITY + index, family, name)
                    for index, (family, name) in enumerate(
                        [("ipv4", name) for name in _firewalld.ICMP_TYPES["ipv4"]]
                        + [("ipv6", name) for name in _firewalld.ICMP_TYPES["ipv6"]])]
    assert rich[:len(icmp)] == icmp
    # The input side keeps its own.
    zone = host.runtime[("zone", "portcullis")]
    assert sum("icmp-type" in line for line in zone) == len(icmp)


def test_order_is_kept_an_accept_after_a_drop_is_a_rich_rule_after_it(host, tmp_path):
    rules = [{"port": 22, "source": "203.0.113.9", "action": "drop"}, {"port": 22}]
    make(host, tmp_path, rules=rules).run(check_mode=False)
    zone = host.runtime[("zone", "portcullis")]
    rich = [line.strip() for line in zone if line.startswith("\t") and "icmp-type" not in line]
    # A port of the zone comes before every rich rule of ours and would lose the first-match order.
    assert "  ports: " in zone
    assert rich[-2:] == ['rule priority="16" family="ipv4" source address="203.0.113.9/32" port port="22" '
                         'protocol="tcp" drop',
                         'rule priority="17" port port="22" protocol="tcp" accept']


def test_an_accept_before_a_drop_is_a_port_which_comes_first_as_declared(host, tmp_path):
    rules = [{"port": 22}, {"port": 22, "source": "203.0.113.9", "action": "drop"}]
    make(host, tmp_path, rules=rules).run(check_mode=False)
    zone = host.runtime[("zone", "portcullis")]
    assert "  ports: 22/tcp" in zone
    assert [line.strip() for line in zone if line.startswith("\t") and "icmp-type" not in line][-1] == \
        'rule priority="16" family="ipv4" source address="203.0.113.9/32" port port="22" protocol="tcp" drop'


def test_check_config_failure_puts_the_files_back_and_changes_nothing(host, tmp_path, monkeypatch):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    before, runtime = zone_file(host), dict(host.runtime)
    monkeypatch.setattr(_firewalld, "zone_xml", lambda *args: "<zone BROKEN")
    with pytest.raises(backends.BackendError, match="--check-config refused"):
        make(host, tmp_path, rules=RULES[:1]).run(check_mode=False)
    assert zone_file(host) == before and host.runtime == runtime
    assert not [argv for argv in host.calls if argv[1:] == ["--reload"]][1:]


def test_failed_reload_puts_the_previous_files_back(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    before = zone_file(host)
    host.fail_reload = True
    with pytest.raises(_firewall.FirewallError, match="previous files were put back"):
        make(host, tmp_path, rules=RULES[:1]).run(check_mode=False)
    assert zone_file(host) == before
    assert os.path.exists(os.path.join(host.config_dir, "ipsets", "portcullis-in-3.xml"))


def test_rollback_plan_restores_the_previous_files_and_default_zone(host, tmp_path):
    backend = _firewalld.Firewalld(host)
    assert backend.live() is None
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    previous = backend.listing(backend.live())
    make(host, tmp_path, rules=RULES[:1]).run(check_mode=False)
    plan = backend.rollback_plan(previous)
    assert plan["default_zone"] == "portcullis"
    assert plan["files"][os.path.join(host.config_dir, "ipsets", "portcullis-in-3.xml")].startswith("<?xml")
    backend.apply(plan)
    assert backend.live() == previous
    files, script = backend.restore_script(plan, "/var/lib/portcullis", "T")
    assert script.endswith("/usr/bin/firewall-cmd --reload\n/usr/bin/firewall-cmd --set-default-zone=portcullis\n")
    assert len(files) == 2 and "cp /var/lib/portcullis/rollback-T.firewalld-0.xml" in script
    # Files of ours made after the plan (an ipset of the failed apply) go too.
    assert "rm -f %s/ipsets/portcullis*.xml\n" % host.config_dir in script


def test_absent_sets_the_default_zone_back_and_removes_only_ours(host, tmp_path):
    make(host, tmp_path, rules=RULES, policy={"output": "drop"}).run(check_mode=False)
    result = make(host, tmp_path, state="absent").run(check_mode=False)
    assert result["changed"] and host.default_zone == "public"
    assert not [key for key in host.runtime if key[1].startswith("portcullis")]
    assert ("zone", "public") in host.runtime and ("ipset", "f2b-sshd") in host.runtime
    assert make(host, tmp_path, state="absent").run(check_mode=False)["changed"] is False


def test_what_the_rules_do_not_govern_is_named(host, tmp_path):
    host.active_zones = "docker\n  interfaces: docker0\ntrusted\n  sources: 10.9.0.0/16\nportcullis (default)\n" \
                        "  interfaces: eth0\n"
    firewall = make(host, tmp_path, rules=RULES)
    firewall.run(check_mode=False)
    assert any("does not govern forwarded traffic" in warning and "forward (accept) and dnat (drop)" in warning
               for warning in firewall.warnings)
    named = [warning for warning in firewall.warnings if "is firewalld's zone" in warning]
    assert named == ["traffic through interface docker0 is firewalld's zone docker, not portcullis: the registry's "
                     "input rules do not apply to it",
                     "traffic through source 10.9.0.0/16 is firewalld's zone trusted, not portcullis: the registry's "
                     "input rules do not apply to it"]


def test_what_firewalld_cannot_express_is_refused_before_anything_changes(host, tmp_path):
    rules = [{"port": 8081, "direction": "forward"}, {"port": 80, "rate_limit": "10/second burst 20"}]
    with pytest.raises(backends.BackendError) as caught:
        make(host, tmp_path, rules=rules).run(check_mode=False)
    assert "rule 1: forwarded traffic" in str(caught.value) and "rule 2: a rate limit burst" in str(caught.value)
    assert not os.path.exists(os.path.join(host.config_dir, "zones"))
    assert host.default_zone == "public"


def test_firewalld_is_not_another_firewall_for_its_own_backend_and_not_running_is_named(host, tmp_path):
    result = make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert result["took_over"] == []
    host.running = False
    with pytest.raises(backends.BackendError, match="firewalld backend needs firewalld running"):
        make(host, tmp_path, rules=RULES).run(check_mode=False)


def test_persistence_is_firewalld_s_own_and_our_unit_from_another_backend_goes(host, tmp_path):
    (tmp_path / "root" / "run" / "systemd" / "system").mkdir(parents=True)
    unit = tmp_path / "root" / "etc" / "systemd" / "system" / backends.BOOT_UNIT
    unit.parent.mkdir(parents=True)
    unit.write_text(backends.Backend.unit("old", ["/usr/sbin/nft -f /etc/portcullis/firewall.nft"]))
    result = make(host, tmp_path, rules=RULES, persist=True).run(check_mode=False)
    assert backends.BOOT_UNIT_PATH in result["boot_changed"] and not unit.exists()
    assert ["/usr/bin/systemctl", "disable", backends.BOOT_UNIT] in host.calls
    assert make(host, tmp_path, rules=RULES, persist=True).run(check_mode=False)["changed"] is False


def test_module_choices_offer_firewalld():
    assert "firewalld" in _firewall.argument_spec()["backend"]["choices"]
    assert set(fw.DEFAULT_POLICY) == {"input", "output", "forward", "dnat"}


def test_commit_confirmed_arms_a_script_that_puts_the_previous_files_back(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    previous = zone_file(host)
    result = make(host, tmp_path, rules=RULES[:1], rollback_timeout=60).run(check_mode=False)
    state = tmp_path / "state"
    script = (state / ("rollback-%s.sh" % result["rollback_token"])).read_text()
    zone_path = os.path.join(host.config_dir, "zones", "portcullis.xml")
    saved = [line.split()[1] for line in script.splitlines() if line.startswith("cp ") and line.endswith(zone_path)]
    assert len(saved) == 1 and open(saved[0]).read() == previous
    assert "/usr/bin/firewall-cmd --reload" in script


def test_several_destinations_of_a_dependency_are_an_ipset(host, tmp_path):
    rules = [{"port": 443, "direction": "out", "destination": ["192.0.2.10", "192.0.2.20"], "comment": "api"}]
    make(host, tmp_path, rules=rules, policy={"output": "drop"}).run(check_mode=False)
    rich = [line.strip() for line in host.runtime[("policy", "portcullis-out")] if line.startswith("\t")]
    assert [line for line in rich if "443" in line] == [
        'rule priority="16" family="ipv4" destination ipset="portcullis-out-1-dst" port port="443" protocol="tcp" '
        'accept']
    assert host.runtime[("ipset", "portcullis-out-1-dst")][3] == "  entries: 192.0.2.10/32 192.0.2.20/32"


def test_a_first_apply_that_fails_after_taking_the_default_zone_gives_it_back(host, tmp_path, monkeypatch):
    real = host.run

    def failing(argv, data=None):
        if argv[1:] == ["--set-default-zone=portcullis"]:
            real(argv, data)  # taken, then the command reports a failure
            return 1, "", "Error: COMMAND_FAILED"
        return real(argv, data)

    monkeypatch.setattr(host, "run", failing)
    with pytest.raises(_firewall.FirewallError, match="previous ruleset was put back"):
        make(host, tmp_path, rules=RULES).run(check_mode=False)
    assert host.default_zone == "public"
    assert not os.path.exists(os.path.join(host.config_dir, "zones", "portcullis.xml"))
    assert not [key for key in host.runtime if key[1].startswith("portcullis")]
