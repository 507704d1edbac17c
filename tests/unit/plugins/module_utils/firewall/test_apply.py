# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall orchestrator and both backends against fake nft/iptables
commands that keep a ruleset in memory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply as _firewall
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as fw


class FakeNft:
    """nft with one table: its text as applied, plus foreign tables we must not touch."""

    def __init__(self):
        self.table = None
        self.foreign = "table ip docker { }"
        self.calls = []
        self.fail_apply = False
        self.handle = 0

    def which(self, name):
        return "/usr/sbin/" + name if name in ("nft",) else None

    def run(self, argv, data=None):
        self.calls.append((argv, data))
        args = argv[1:]
        if args == ["list", "tables"]:
            return 0, "", ""
        if args[:3] == ["-j", "list", "table"]:
            if self.table is None:
                return 1, "", "Error: No such file or directory"
            self.handle += 1
            return 0, json.dumps({"nftables": [{"metainfo": {"version": "1"}},
                                               {"table": {"family": "inet", "name": "portcullis", "handle": self.handle,
                                                          "text": self.table}}]}), ""
        if args[:2] == ["list", "table"]:
            return (0, self.table, "") if self.table is not None else (1, "", "Error: No such file or directory")
        if args == ["-c", "-f", "-"]:
            return (1, "", "Error: syntax error") if "BROKEN" in data else (0, "", "")
        if args == ["-f", "-"]:
            if self.fail_apply:
                return 1, "", "Error: Could not process rule"
            assert data.startswith("table inet portcullis\ndelete table inet portcullis\n")
            remainder = data.split("\n", 2)[2]
            self.table = remainder or None
            return 0, "", ""
        raise AssertionError("unexpected command %r" % argv)


def make(runner, tmp_path, **params):
    params.setdefault("persist", False)
    return _firewall.Firewall(runner, params, state_dir=str(tmp_path / "state"), root=str(tmp_path / "root"))


RULES = [{"port": "ssh", "source": "203.0.113.0/24", "comment": "admin"}, {"port": ["http", "https"]}]


def test_apply_then_unchanged_then_drift(tmp_path):
    nft = FakeNft()
    first = make(nft, tmp_path, rules=RULES).run(check_mode=False)
    assert first["changed"] and first["ruleset_changed"] and first["backend"] == "nftables"
    assert 'ip saddr 203.0.113.0/24 tcp dport 22 accept comment "admin"' in nft.table
    assert "tcp dport { 80, 443 } accept" in nft.table
    assert nft.foreign == "table ip docker { }"
    applies = [call for call in nft.calls if call[0][1:] == ["-f", "-"]]
    checks = [call for call in nft.calls if call[0][1:] == ["-c", "-f", "-"]]
    assert len(applies) == 1 and len(checks) == 1 and checks[0][1] == applies[0][1]

    nft.calls = []
    second = make(nft, tmp_path, rules=RULES).run(check_mode=False)
    assert second["changed"] is False
    assert not [call for call in nft.calls if "-f" in call[0]]

    nft.table += "\n# a rule added by hand\n"
    checked = make(nft, tmp_path, rules=RULES).run(check_mode=True)
    assert checked["changed"] is True and "a rule added by hand" in checked["diff"]["before"]
    assert "a rule added by hand" in nft.table  # check mode wrote nothing
    make(nft, tmp_path, rules=RULES).run(check_mode=False)
    assert "a rule added by hand" not in nft.table


def test_check_mode_on_a_new_host_writes_nothing(tmp_path):
    nft = FakeNft()
    result = make(nft, tmp_path, rules=RULES, persist=True).run(check_mode=True)
    assert result["changed"] and result["diff"]["before"] == ""
    assert nft.table is None
    assert not os.path.exists(str(tmp_path / "state")) and not os.path.exists(str(tmp_path / "root"))


def test_changed_rules_replace_the_table(tmp_path):
    nft = FakeNft()
    make(nft, tmp_path, rules=RULES).run(check_mode=False)
    result = make(nft, tmp_path, rules=RULES[:1]).run(check_mode=False)
    assert result["changed"] and "80, 443" not in nft.table


def test_bad_input_runs_no_command(tmp_path):
    nft = FakeNft()
    with pytest.raises(fw.RuleError, match="port 70000"):
        make(nft, tmp_path, rules=[{"port": 70000}]).run(check_mode=False)
    assert nft.calls == []


def test_failed_apply_leaves_previous(tmp_path):
    nft = FakeNft()
    make(nft, tmp_path, rules=RULES).run(check_mode=False)
    before = nft.table
    nft.fail_apply = True
    with pytest.raises(_firewall.FirewallError, match="previous ruleset was put back"):
        make(nft, tmp_path, rules=RULES[:1]).run(check_mode=False)
    assert nft.table == before


def test_validation_failure_stops_before_apply(tmp_path, monkeypatch):
    nft = FakeNft()
    monkeypatch.setattr(backends.Nftables, "render", lambda self, rules, policy, defaults: "BROKEN\n")
    with pytest.raises(backends.BackendError, match="did not validate"):
        make(nft, tmp_path, rules=RULES).run(check_mode=False)
    assert nft.table is None


def test_protect_ssh_refuses_and_names_the_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.9 40000 10.0.0.2 22")
    nft = FakeNft()
    with pytest.raises(_firewall.FirewallError, match="from 198.51.100.9 to 10.0.0.2 port 22"):
        make(nft, tmp_path, rules=RULES).run(check_mode=False)
    assert nft.table is None
    assert make(nft, tmp_path, rules=RULES, protect_ssh=False).run(check_mode=False)["changed"]


def test_persist_writes_boot_files_once(tmp_path):
    nft = FakeNft()
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "nftables.conf").write_text("#!/usr/sbin/nft -f\nflush ruleset\n")
    first = make(nft, tmp_path, rules=RULES, persist=True).run(check_mode=False)
    assert sorted(first["boot_changed"]) == ["/etc/nftables.conf", "/etc/nftables.d/portcullis.nft"]
    assert (root / "etc" / "nftables.conf").read_text().endswith('include "/etc/nftables.d/*.nft"\n')
    assert "tcp dport { 80, 443 } accept" in (root / "etc" / "nftables.d" / "portcullis.nft").read_text()
    again = make(nft, tmp_path, rules=RULES, persist=True).run(check_mode=False)
    assert again["changed"] is False and again["boot_changed"] == []


def test_absent_removes_only_ours(tmp_path):
    nft = FakeNft()
    make(nft, tmp_path, rules=RULES).run(check_mode=False)
    result = make(nft, tmp_path, state="absent").run(check_mode=False)
    assert result["changed"] and nft.table is None and nft.foreign
    assert make(nft, tmp_path, state="absent").run(check_mode=False)["changed"] is False


class FakeIptables:
    def __init__(self):
        self.saved = {4: self._base(), 6: self._base()}
        self.calls = []

    @staticmethod
    def _base():
        return ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER", "COMMIT"]

    def which(self, name):
        return "/usr/sbin/" + name if "tables" in name else None

    def run(self, argv, data=None):
        self.calls.append((argv, data))
        tool = os.path.basename(argv[0])
        version = 6 if tool.startswith("ip6") else 4
        if tool.endswith("-save"):
            return 0, "\n".join(self.saved[version]) + "\n", ""
        if "--test" in argv:
            return 0, "", ""
        lines = [line for line in self.saved[version] if line != "COMMIT"]
        for line in data.splitlines():
            if line in ("*filter", "COMMIT"):
                continue
            if line.startswith(":"):
                name = line.split()[0]
                lines = [item for item in lines if not item.startswith("-A %s " % name[1:])]
                if name not in [item.split()[0] for item in lines]:
                    lines.append(line)
            elif line.startswith("-I "):
                parts = line.split()
                lines.append("-A %s %s" % (parts[1], " ".join(parts[3:])))
            elif line.startswith("-D "):
                lines.remove("-A" + line[2:])
            elif line.startswith("-F "):
                lines = [item for item in lines if not item.startswith("-A %s " % line.split()[1])]
            elif line.startswith("-X "):
                lines = [item for item in lines if not item.startswith(":%s " % line.split()[1])]
            else:
                lines.append(line)
        self.saved[version] = lines + ["COMMIT"]
        return 0, "", ""


def test_iptables_backend_round_trip(tmp_path):
    ipt = FakeIptables()
    rules = RULES + [{"port": "5432", "source": "2001:db8::5"}, {"port": "dns", "protocol": "both", "direction": "out"}]
    first = make(ipt, tmp_path, rules=rules, backend="iptables").run(check_mode=False)
    assert first["changed"] and first["backend"] == "iptables"
    v4, v6 = ipt.saved[4], ipt.saved[6]
    assert "-A INPUT -j PORTCULLIS-INPUT" in v4 and "-A FORWARD -j DOCKER-USER" in v4
    assert '-A PORTCULLIS-INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -m comment --comment "admin" -j ACCEPT' in v4
    assert "-A PORTCULLIS-INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT" in v4
    assert "-A PORTCULLIS-INPUT -s 2001:db8::5/128 -p tcp -m tcp --dport 5432 -j ACCEPT" in v6
    assert not [line for line in v4 if "5432" in line]
    assert "-A PORTCULLIS-OUTPUT -p udp -m udp --dport 53 -j ACCEPT" in v4
    assert "-A PORTCULLIS-INPUT -j DROP" in v4 and "-A PORTCULLIS-OUTPUT -j DROP" not in v4
    assert make(ipt, tmp_path, rules=rules, backend="iptables").run(check_mode=False)["changed"] is False
    assert v4.count("-A INPUT -j PORTCULLIS-INPUT") == 1

    removed = make(ipt, tmp_path, backend="iptables", state="absent").run(check_mode=False)
    assert removed["changed"]
    assert ipt.saved[4] == FakeIptables._base() and ipt.saved[6] == FakeIptables._base()


def test_iptables_multiport_splits_long_lists():
    rules = fw.normalize_rules([{"port": list(range(1000, 1040, 2))}])
    lines = backends.Iptables(FakeIptables()).chain_lines(rules, fw.DEFAULT_POLICY, backends.Defaults(False, False, False), 4)
    ports = [line for line in lines if "multiport" in line]
    assert len(ports) == 2 and all(len(line.split("--dports ")[1].split()[0].split(",")) <= 15 for line in ports)


def test_select_backend(tmp_path):
    assert backends.select_backend(FakeNft()).name == "nftables"
    assert backends.select_backend(FakeIptables()).name == "iptables"

    class Nothing:
        def which(self, name):
            return None

    with pytest.raises(backends.BackendError, match="no usable firewall backend: nftables needs nft"):
        backends.select_backend(Nothing())


def test_rollback_armed_and_confirmed(tmp_path):
    nft = FakeNft()
    make(nft, tmp_path, rules=RULES).run(check_mode=False)
    previous = nft.table

    result = make(nft, tmp_path, rules=RULES[:1], rollback_timeout=3600).run(check_mode=False)
    token = result["rollback_token"]
    state = tmp_path / "state"
    script = (state / ("rollback-%s.sh" % token)).read_text()
    assert "nft -f %s/rollback-%s.nft" % (state, token) in script
    assert (state / ("rollback-%s.nft" % token)).read_text().endswith(previous)
    assert make(nft, tmp_path, confirm=token).run(check_mode=False) == {"changed": False, "confirmed": token}
    assert not [name for name in os.listdir(str(state)) if name.startswith("rollback-")]
    with pytest.raises(_firewall.FirewallError, match="nothing to confirm"):
        make(nft, tmp_path, confirm=token).run(check_mode=False)
    with pytest.raises(_firewall.FirewallError, match="invalid confirm token"):
        make(nft, tmp_path, confirm="../../etc").run(check_mode=False)


def test_boot_files_wait_for_the_confirmation(tmp_path):
    nft = FakeNft()
    root = tmp_path / "root"
    boot = root / "etc" / "nftables.d" / "portcullis.nft"
    result = make(nft, tmp_path, rules=RULES, persist=True, rollback_timeout=3600).run(check_mode=False)
    assert nft.table is not None and not boot.exists()
    make(nft, tmp_path, confirm=result["rollback_token"]).run(check_mode=False)
    assert "tcp dport { 80, 443 } accept" in boot.read_text()


def test_absent_keeps_boot_files_it_did_not_write(tmp_path):
    ipt = FakeIptables()
    foreign = tmp_path / "root" / "etc" / "iptables" / "rules.v4"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("*filter\n-A INPUT -s 192.0.2.0/24 -j DROP\nCOMMIT\n")
    with pytest.raises(_firewall.FirewallError, match="refusing to replace /etc/iptables/rules.v4"):
        make(ipt, tmp_path, rules=RULES, backend="iptables", persist=True).run(check_mode=False)
    make(ipt, tmp_path, rules=RULES, backend="iptables").run(check_mode=False)
    make(ipt, tmp_path, backend="iptables", state="absent").run(check_mode=False)
    assert foreign.read_text().startswith("*filter\n-A INPUT -s 192.0.2.0/24")
