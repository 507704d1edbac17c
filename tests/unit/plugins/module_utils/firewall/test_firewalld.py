# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld backend against a fake firewall-cmd (the firewalld_host
fixture of conftest.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import shlex

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply as _firewall
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _firewalld
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _forward
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _others
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as fw


@pytest.fixture(autouse=True)
def no_real_sleeper(monkeypatch):
    monkeypatch.setattr(_host.subprocess, "Popen", lambda argv, **_options: type("P", (), {"pid": 999999})())


@pytest.fixture
def host(firewalld_host):
    return firewalld_host


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
    assert host.permanent[("zone", "public")] == host.foreign[("zone", "public")]
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
    assert plan["forward"] is None  # no iptables here: no forward part
    assert plan["manager"]["default_zone"] == "portcullis"
    assert plan["manager"]["files"][os.path.join(host.config_dir, "ipsets", "portcullis-in-3.xml")].startswith("<?xml")
    backend.apply(plan)
    assert backend.live() == previous
    files, script = backend.restore_script(plan, "/var/lib/portcullis", "T")
    lines = script.splitlines()
    assert lines.index("/usr/bin/firewall-cmd --set-default-zone=portcullis") == \
        lines.index("/usr/bin/firewall-cmd --reload") + 1
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
    # No iptables on this host: the dnat policy drop (the default) cannot be enforced, and says so.
    assert any("dnat policy drop is enforced in the iptables chains PORTCULLIS-FORWARD" in warning
               and "not enforced here" in warning for warning in firewall.warnings)
    named = [warning for warning in firewall.warnings if "is firewalld's zone" in warning]
    assert named == ["traffic through interface docker0 is firewalld's zone docker, not portcullis: the registry's "
                     "input rules do not apply to it",
                     "traffic through source 10.9.0.0/16 is firewalld's zone trusted, not portcullis: the registry's "
                     "input rules do not apply to it"]


def test_what_firewalld_cannot_express_is_refused_before_anything_changes(host, tmp_path):
    rules = [{"port": 8081, "direction": "forward"}, {"port": 80, "rate_limit": "10/second burst 20"}]
    with pytest.raises(backends.BackendError) as caught:
        make(host, tmp_path, rules=rules).run(check_mode=False)
    assert "rule 2: a rate limit burst" in str(caught.value) and "rule 1" not in str(caught.value)
    # A forward rule goes to the iptables chains PORTCULLIS-FORWARD: refused only where iptables is missing.
    with pytest.raises(backends.BackendError) as caught:
        make(host, tmp_path, rules=rules[:1]).run(check_mode=False)
    assert "PORTCULLIS-FORWARD" in str(caught.value) and "iptables-save, which is not installed" in str(caught.value)
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


F2B_BAN = 'rule family="ipv4" source address="198.51.100.9" port port="8000" protocol="tcp" reject type="icmp-port-unreachable"'
F2B_DIRECT = "ipv4 filter INPUT_direct 0 -p tcp -m multiport --dports 22 -m set --match-set f2b-sshd src -j REJECT"


def test_fail2ban_bans_are_not_drift_and_outlive_our_reload(host, tmp_path):
    # fail2ban's firewallcmd actions add runtime-only state: a rich rule in the default zone (ours) or another zone,
    # and direct rules. Before, the ban in our zone was drift (the next run reloaded it away) and any of them was
    # lost at our reload.
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    host.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % F2B_BAN])  # no --zone: the default zone, ours
    host.run(["/usr/bin/firewall-cmd", "--zone=public", "--add-rich-rule=%s" % F2B_BAN])
    host.run(["/usr/bin/firewall-cmd", "--direct", "--add-rule"] + F2B_DIRECT.split())
    assert make(host, tmp_path, rules=RULES).run(check_mode=False)["changed"] is False
    result = make(host, tmp_path, rules=RULES + [{"port": 9200}]).run(check_mode=False)
    assert result["changed"] is True and ["/usr/bin/firewall-cmd", "--reload"] in host.calls
    for zone in ("portcullis", "public"):
        assert "\t" + F2B_BAN in host.runtime[("zone", zone)]
    assert host.direct == [F2B_DIRECT]
    assert make(host, tmp_path, rules=RULES + [{"port": 9200}]).run(check_mode=False)["changed"] is False


def test_a_port_added_by_hand_beside_a_ban_is_still_drift(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    host.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % F2B_BAN])
    host.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % 'rule family="ipv4" source address="203.0.113.0/24" accept'])
    assert make(host, tmp_path, rules=RULES).run(check_mode=True)["changed"] is True


# The forward part: forwarded and published traffic in the iptables chains PORTCULLIS-FORWARD and
# PORTCULLIS-PREROUTING (hooked from DOCKER-USER), as with the iptables backend; firewalld's reload flushes them.

FORWARD = [{"port": "http", "comment": "public web"},
           {"port": 8081, "direction": "forward", "source": "10.0.1.5", "comment": "web from app"}]
ADMITTED = ('-A PORTCULLIS-FORWARD -s 10.0.1.5/32 -m conntrack --ctproto tcp --ctorigdstport 8081 -m comment '
            '--comment "web from app" -j RETURN')
CLOSED = ('-A PORTCULLIS-FORWARD -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -m connmark --mark '
          '0x20000000/0x20000000 -m comment --comment "published ports no rule opens" -j DROP')


@pytest.fixture
def both(host, with_iptables):
    return with_iptables(host)


def test_a_forward_rule_lands_in_portcullis_forward_written_after_firewalld_s_reload(both, tmp_path):
    firewall = make(both, tmp_path, rules=FORWARD, policy={"dnat": "drop"})
    first = firewall.run(check_mode=False)
    assert first["changed"] and first["backend"] == "firewalld"
    filter4 = both.iptables.lines(4)
    # Our reload flushed every iptables chain; the forward chains were written after it.
    assert ADMITTED in filter4 and CLOSED in filter4 and CLOSED in both.iptables.lines(6)
    assert filter4.index("-A DOCKER-USER -j PORTCULLIS-FORWARD") < filter4.index("-A DOCKER-USER -j RETURN")
    assert "-A PREROUTING -j PORTCULLIS-PREROUTING" in both.iptables.lines(4, "mangle")
    assert "8081" not in zone_file(both)  # firewalld keeps input: the forward rule is not a port of the zone
    assert not any("does not govern forwarded traffic" in warning for warning in firewall.warnings)
    assert any("firewall-cmd --reload" in warning and "PORTCULLIS-FORWARD" in warning for warning in firewall.warnings)
    both.calls[:] = []
    assert not make(both, tmp_path, rules=FORWARD, policy={"dnat": "drop"}).run(check_mode=False)["changed"]
    assert ["/usr/bin/firewall-cmd", "--reload"] not in both.calls


def test_a_reload_by_hand_removes_the_chains_and_the_next_run_writes_them_again(both, tmp_path):
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    both.run(["/usr/bin/firewall-cmd", "--reload"])
    assert both.iptables.ours() == []
    result = make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    assert result["changed"] and ADMITTED in both.iptables.lines(4)
    assert not make(both, tmp_path, rules=FORWARD).run(check_mode=False)["changed"]


def test_the_forward_chains_boot_after_firewalld_and_again_when_it_restarts(both, tmp_path):
    (tmp_path / "root" / "run" / "systemd" / "system").mkdir(parents=True)
    result = make(both, tmp_path, rules=FORWARD, persist=True).run(check_mode=False)
    root = tmp_path / "root"
    unit = (root / backends.BOOT_UNIT_PATH.lstrip("/")).read_text()
    assert "After=nftables.service netfilter-persistent.service firewalld.service" in unit
    assert "ExecStartPre=-/usr/bin/firewall-cmd --state" in unit
    assert "--noflush /etc/portcullis/forward.v4" in unit and "PORTCULLIS-INPUT" not in unit
    assert ADMITTED in (root / "etc/portcullis/forward.v4").read_text()
    dropin = root / "etc/systemd/system/firewalld.service.d/50-portcullis-forward.conf"
    assert "ExecStartPost=-/usr/bin/systemctl --no-block restart portcullis-firewall.service" in dropin.read_text()
    assert "service:" + backends.BOOT_UNIT in result["boot_changed"]
    assert not make(both, tmp_path, rules=FORWARD, persist=True).run(check_mode=False)["changed"]
    # Nothing forward to say: no unit, no boot file, no drop-in (firewalld boots its own configuration).
    make(both, tmp_path, rules=FORWARD[:1], policy={"dnat": "accept"}, persist=True).run(check_mode=False)
    assert both.iptables.ours() == [] and not dropin.exists() and not dropin.parent.exists()
    assert not (root / backends.BOOT_UNIT_PATH.lstrip("/")).exists()
    assert not (root / "etc/portcullis/forward.v4").exists()


def test_absent_removes_the_forward_chains(both, tmp_path):
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    assert make(both, tmp_path, state="absent").run(check_mode=False)["changed"]
    assert both.iptables.ours() == [] and both.default_zone == "public"
    assert "-A FORWARD -j DOCKER-USER" in both.iptables.lines(4)
    assert not make(both, tmp_path, state="absent").run(check_mode=False)["changed"]


def test_our_forward_chains_are_not_another_firewall(both, tmp_path):
    # As iptables-nft lists them: table ip filter (FORWARD -> DOCKER-USER -> PORTCULLIS-FORWARD, which drops),
    # table ip mangle (PREROUTING -> PORTCULLIS-PREROUTING).
    def chain(table, name, hook=None):
        item = {"family": "ip", "table": table, "name": name}
        item.update({"type": "filter", "hook": hook, "prio": 0, "policy": "accept"} if hook else {})
        return {"chain": item}

    def rule(table, name, *expr):
        return {"rule": {"family": "ip", "table": table, "chain": name, "expr": list(expr)}}

    ruleset = json.dumps({"nftables": [
        chain("filter", "FORWARD", "forward"), chain("filter", "DOCKER-USER"), chain("filter", "PORTCULLIS-FORWARD"),
        chain("mangle", "PREROUTING", "prerouting"), chain("mangle", "PORTCULLIS-PREROUTING"),
        rule("filter", "FORWARD", {"jump": {"target": "DOCKER-USER"}}),
        rule("filter", "DOCKER-USER", {"jump": {"target": "PORTCULLIS-FORWARD"}}),
        rule("filter", "PORTCULLIS-FORWARD", {"drop": None}),
        rule("mangle", "PREROUTING", {"jump": {"target": "PORTCULLIS-PREROUTING"}})]})

    class Host:
        def which(self, name):
            return "/usr/sbin/nft" if name == "nft" else both.which(name)

        def run(self, argv, data=None):
            return (0, ruleset, "") if argv[0] == "/usr/sbin/nft" else both.run(argv, data)

    assert _others.detect(Host(), "firewalld") == []
    both.manager.running = False
    assert _others.detect(Host(), "ufw") == []


DOCKER_FORWARD = ["-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                  "-A FORWARD -o docker0 -j DOCKER"]


class LateDocker:
    """The fake iptables of ``both``, with a Docker that makes its chains
    again only a few iptables-save reads after firewalld's reload flushed
    them, inserting its FORWARD rules at the top (as Docker does when
    firewalld signals its reload)."""

    def __init__(self, iptables, reads=3):
        self.iptables, self.reads, self.pending = iptables, reads, None
        self.original = iptables.run
        self.original_flush = iptables.flush
        iptables.run, iptables.flush = self.run, self.flush
        self.make_chains()

    def make_chains(self):
        for version in (4,):
            table = self.iptables.tables[version]["filter"]
            table.insert(1, ":DOCKER - [0:0]")
            for line in reversed(DOCKER_FORWARD):
                table.insert(next(number for number, item in enumerate(table) if item.startswith("-A ")), line)

    def flush(self):
        self.original_flush()
        self.pending = self.reads

    def run(self, argv, data=None):
        if argv[0].endswith("-save") and self.pending is not None:
            self.pending -= 1
            if self.pending <= 0:
                self.pending = None
                self.make_chains()
        return self.original(argv, data)


def test_after_firewalld_s_reload_the_forward_chains_wait_for_docker_and_stay_above_its_rules(
        both, tmp_path, monkeypatch):
    # Before: the chains were written at once after the reload; Docker's rules then landed above their jump, the
    # run recorded that as applied, published ports were open to everyone and the next run said unchanged.
    monkeypatch.setattr(_forward.time, "sleep", lambda seconds: None)
    LateDocker(both.iptables)
    rules = FORWARD
    make(both, tmp_path, rules=rules, policy={"dnat": "drop"}).run(check_mode=False)
    both.run(["/usr/bin/firewall-cmd", "--zone=portcullis", "--add-port=9999/tcp"])
    assert make(both, tmp_path, rules=rules, policy={"dnat": "drop"}).run(check_mode=False)["changed"] is True
    forward = [line for line in both.iptables.lines(4) if line.startswith("-A FORWARD ")]
    assert forward[0] == "-A FORWARD -j DOCKER-USER" and forward.count("-A FORWARD -j DOCKER-USER") == 1, forward
    assert set(DOCKER_FORWARD) <= set(forward)
    assert make(both, tmp_path, rules=rules, policy={"dnat": "drop"}).run(check_mode=False)["changed"] is False


@pytest.fixture
def run_script(run_in_sh):
    """``run_script(host, path)``: a rollback script run by /bin/sh, its commands answered by the fake host."""
    def run(host, path):
        done = run_in_sh(host, open(str(path)).read(), os.path.dirname(str(path)))
        assert done.returncode == 0, (done.stdout, done.stderr)
    return run


def test_a_rollback_puts_back_fail2ban_s_bans_and_the_forward_chains_hooked_after_firewalld_s_reload(
        both, tmp_path, run_script):
    # Before, the rollback script's firewall-cmd --reload dropped fail2ban's runtime bans (the module's own apply
    # puts them back), and left the forward chains unhooked: the reload flushed every iptables chain, and the
    # script wrote the chains without their jumps from DOCKER-USER and PREROUTING (published ports open to all).
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    both.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % F2B_BAN])
    before = _firewalld.Firewalld(both).live()
    result = make(both, tmp_path, rules=FORWARD[:1] + [{"port": 9200}], rollback_timeout=60).run(check_mode=False)
    assert _firewalld.Firewalld(both).live() != before and "\t" + F2B_BAN in both.runtime[("zone", "portcullis")]
    run_script(both, tmp_path / "state" / ("rollback-%s.sh" % result["rollback_token"]))
    assert _firewalld.Firewalld(both).live() == before
    assert "\t" + F2B_BAN in both.runtime[("zone", "portcullis")]
    filter4 = both.iptables.lines(4)
    assert filter4.count("-A DOCKER-USER -j PORTCULLIS-FORWARD") == 1
    assert filter4.index("-A DOCKER-USER -j PORTCULLIS-FORWARD") < filter4.index("-A DOCKER-USER -j RETURN")
    assert both.iptables.lines(6, "mangle").count("-A PREROUTING -j PORTCULLIS-PREROUTING") == 1
    assert not glob.glob(str(tmp_path / "state" / "rollback-*"))


BAN_LATER = ('rule family="ipv4" source address="198.51.100.23" port port="80" protocol="tcp" reject '
             'type="icmp-port-unreachable"')
DIRECT_LATER = "ipv4 filter INPUT 0 -s 198.51.100.24 -j DROP"


def test_a_rollback_keeps_the_bans_made_while_it_was_pending(both, tmp_path, run_script):
    # Before, the script added back only the bans there when it was armed: one fail2ban made while the rollback was
    # pending (a rich rule in any zone, a direct rule) was dropped by the rollback's reload.
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    both.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % F2B_BAN])
    before = _firewalld.Firewalld(both).live()
    result = make(both, tmp_path, rules=FORWARD[:1] + [{"port": 9200}], rollback_timeout=60).run(check_mode=False)
    both.run(["/usr/bin/firewall-cmd", "--add-rich-rule=%s" % BAN_LATER])
    both.run(["/usr/bin/firewall-cmd", "--zone=public", "--add-rich-rule=%s" % BAN_LATER])
    both.run(["/usr/bin/firewall-cmd", "--direct", "--add-rule"] + DIRECT_LATER.split())
    run_script(both, tmp_path / "state" / ("rollback-%s.sh" % result["rollback_token"]))
    assert _firewalld.Firewalld(both).live() == before
    zone = both.runtime[("zone", "portcullis")]
    assert "\t" + F2B_BAN in zone and "\t" + BAN_LATER in zone
    assert "\t" + BAN_LATER in both.runtime[("zone", "public")]
    assert both.direct == [DIRECT_LATER]
    # Our own rich rules are not bans: none is added twice, and a rule that opens is not taken for one.
    assert len(zone) == len(set(zone))


def test_the_ban_pattern_is_the_same_for_python_and_the_script_s_awk(tmp_path, run_in_sh):
    rules = [F2B_BAN, BAN_LATER, 'rule family="ipv6" source address="2001:db8::7" drop',
             'rule priority="-1" source ipset="f2b-sshd" reject',
             'rule family="ipv4" source address="10.0.0.5/32" port port="22" protocol="tcp" accept',
             'rule family="ipv4" source address="10.0.0.5" log prefix="f2b-drop" accept',
             'rule family="ipv4" port port="22" protocol="tcp" reject']
    listing = "".join("R public\nR \t%s\n" % rule for rule in rules)
    done = run_in_sh(None, "printf '%%s' %s | awk -v ban=%s %s" % (
        shlex.quote(listing), shlex.quote("^%s$" % _firewalld.BAN_TEXT), shlex.quote(_firewalld.BANS_AWK)), tmp_path)
    assert [line.split("\t", 1)[1] for line in done.stdout.splitlines()] == \
        [rule for rule in rules if _firewalld.BAN.fullmatch(rule)] == rules[:4]


def test_the_rollback_timer_starts_after_the_apply_and_the_wait_for_docker(both, tmp_path, monkeypatch):
    # Before, the timer was started before the apply: with a short rollback_timeout it fired while firewalld was
    # still reloading (or the apply waited for Docker's chains), and the controller's window was shorter than asked.
    events = []
    monkeypatch.setattr(_host.subprocess, "Popen", lambda argv, **_options: events.append(
        ("guard" if argv[-1] == "guard" else "timer", argv[4])) or type("P", (), {"pid": 999999})())
    monkeypatch.setattr(_forward.time, "sleep", lambda seconds: events.append(("wait", seconds)))
    run = both.run

    def recording(argv, data=None):
        events.append(("run", " ".join(argv)))
        return run(argv, data)

    monkeypatch.setattr(both, "run", recording)
    make(both, tmp_path, rules=FORWARD).run(check_mode=False)
    LateDocker(both.iptables)
    del events[:]
    result = make(both, tmp_path, rules=FORWARD[:1] + [{"port": 9200}], rollback_timeout=5).run(check_mode=False)
    assert result["rollback_token"]
    timer = events.index(("timer", "5"))
    assert timer == len(events) - 1, events[timer:]
    # The guard, for a module that dies in the middle of the apply, starts before it.
    assert events.index(("guard", "5")) < events.index(("run", "/usr/bin/firewall-cmd --reload"))
    assert [event for event in events if event[0] == "wait"]


def test_after_a_rollback_the_next_run_compares_with_what_is_in_force(host, tmp_path, run_script):
    # Before, the state file kept the unconfirmed rule set after the rollback: the next run with the registry in
    # force reported a change, and one with the unconfirmed registry reported none although it was not in force.
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    state = tmp_path / "state" / "firewall-firewalld.json"
    previous = state.read_text()
    result = make(host, tmp_path, rules=RULES[:1], rollback_timeout=60).run(check_mode=False)
    assert state.read_text() != previous
    run_script(host, tmp_path / "state" / ("rollback-%s.sh" % result["rollback_token"]))
    assert state.read_text() == previous
    assert make(host, tmp_path, rules=RULES).run(check_mode=True)["changed"] is False
    assert make(host, tmp_path, rules=RULES[:1]).run(check_mode=True)["changed"] is True


def test_the_live_read_costs_a_few_firewall_cmd_calls(host, tmp_path):
    # Before, live() asked firewall-cmd for the names of each kind at runtime and permanent, then for each object's
    # runtime and permanent configuration: 13 calls for a zone, a policy and an ipset (the port metrics' refresh, every
    # minute, spent about 20 seconds in firewall-cmd on the firewall_managers host). The permanent configuration of
    # ours is our files; the runtime one is two listings, and one call per ipset of ours.
    rules = RULES + [{"port": 443, "direction": "out", "destination": ["192.0.2.10", "192.0.2.20"]}]
    make(host, tmp_path, rules=rules, policy={"output": "drop"}).run(check_mode=False)
    backend = _firewalld.Firewalld(host)
    host.calls = []
    live = backend.live()
    ipsets = [name for kind, name in host.runtime if kind == "ipset" and name.startswith("portcullis")]
    assert len(ipsets) == 2
    assert [argv[1:] for argv in host.calls] == [
        ["--get-default-zone"], ["--list-all-zones"], ["--list-all-policies"], ["--get-ipsets"]] + [
        ["--info-ipset=%s" % name] for name in sorted(ipsets)]
    rendered = backend.render(*make(host, tmp_path, rules=rules, policy={"output": "drop"}).validate())
    assert live == rendered


def test_a_permanent_change_by_hand_is_drift(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    # firewall-cmd --permanent --add-port=9999/tcp: firewalld writes the zone's file again, with the port.
    zone_path = os.path.join(host.config_dir, "zones", "portcullis.xml")
    with open(zone_path) as handle:
        content = handle.read()
    with open(zone_path, "w") as handle:
        handle.write(content.replace("</zone>", '  <port port="9999" protocol="tcp"/>\n</zone>'))
    checked = make(host, tmp_path, rules=RULES).run(check_mode=True)
    assert checked["changed"] and '<port port="9999" protocol="tcp"/>' in checked["diff"]["before"]


def test_a_state_recorded_with_the_permanent_listings_of_earlier_versions_is_no_change(host, tmp_path):
    make(host, tmp_path, rules=RULES).run(check_mode=False)
    state = tmp_path / "state" / "firewall-firewalld.json"
    saved = json.loads(state.read_text())

    def earlier(text):
        """The text as earlier versions wrote it: each object's permanent configuration after its runtime one."""
        out, pending = [], None
        for line in text.splitlines() + ["# end"]:
            if line.startswith("# ") and pending:
                out += ["# firewall-cmd --permanent --info-" + pending, "(the same as the runtime)"]
                pending = None
            if line.startswith("# firewall-cmd --info-"):
                pending = line[len("# firewall-cmd --info-"):]
            out.append(line)
        return "\n".join(out[:-1]) + "\n"

    saved["desired"], saved["live"] = earlier(saved["desired"]), earlier(saved["live"])
    assert saved["live"].count("# firewall-cmd --permanent --info-") == saved["live"].count("# firewall-cmd --info-")
    state.write_text(json.dumps(saved))
    host.calls = []
    assert make(host, tmp_path, rules=RULES).run(check_mode=False)["changed"] is False
    assert not [argv for argv in host.calls if argv[1:] == ["--reload"]]
    assert _firewalld.comparable(saved["live"]) == _firewalld.Firewalld(host).live()
