# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import stat

import pytest

from ansible_collections.portcullis.ports.plugins.modules import port_metrics
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics

# node-exporter's user in these tests: the one running them, who can read what it writes under tmp_path.
ME = pwd.getpwuid(os.getuid()).pw_name
LISTENER = {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 8080, "pid": 2, "process": "python3",
            "cmdline": [], "dual_stack": False, "user": "root", "inode": 2}


@pytest.fixture
def host(mocker, tmp_path):
    """A host whose listeners are read by a counting stand-in; no nft, no iptables, no nginx."""
    reads = mocker.patch.object(_metrics._listening, "listening", return_value=[LISTENER])
    mocker.patch.object(_metrics._listening, "read_bindv6only", return_value=False)
    mocker.patch.object(_metrics, "published_series", return_value=True)
    mocker.patch.object(_metrics, "firewall_series", return_value=None)
    return {"reads": reads, "args": dict(
        services=[{"name": "web", "port": 8080}], path=str(tmp_path / "textfile" / "portcullis.prom"),
        config_path=str(tmp_path / "port-metrics.json"), library_dir="", state_dir=str(tmp_path),
        nginx_config=str(tmp_path / "absent.conf"), ignore_addresses=[], exporter_user=ME,
        files=[{"path": str(tmp_path / "units" / "refresh.timer"), "content": "[Timer]\n"},
               {"path": str(tmp_path / "refresh-script"), "content": "import sys\n", "mode": "0755"}])}


def test_listeners_are_read_once_and_returned(run_module, host):
    failed, result = run_module(port_metrics, **host["args"])
    assert not failed, result
    assert host["reads"].call_count == 1
    assert result["listening"] == [LISTENER]
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 1' in result["metrics"]


def test_the_listeners_returned_leave_out_the_ignored_addresses(run_module, host):
    # The port map reads them: Docker's embedded DNS must not show up there as an undeclared listener.
    docker_dns = dict(LISTENER, address="127.0.0.11", port=53, process=None)
    host["reads"].return_value = [LISTENER, docker_dns]
    assert run_module(port_metrics, **host["args"])[1]["listening"] == [LISTENER, docker_dns]
    assert run_module(port_metrics, **dict(host["args"], ignore_addresses=["127.0.0.11"]))[1]["listening"] == [LISTENER]


def test_files_written_in_the_same_round_trip_only_when_they_differ(run_module, host, tmp_path):
    timer, script = (item["path"] for item in host["args"]["files"])
    failed, result = run_module(port_metrics, _ansible_check_mode=True, **host["args"])
    assert not failed and result["changed"] and sorted(result["files"]) == sorted([timer, script])
    assert not os.path.exists(timer) and not os.path.exists(script)

    failed, result = run_module(port_metrics, **host["args"])
    assert not failed and result["changed"] and sorted(result["files"]) == sorted([timer, script])
    with open(timer) as handle:
        assert handle.read() == "[Timer]\n"
    assert stat.S_IMODE(os.stat(timer).st_mode) == 0o644 and stat.S_IMODE(os.stat(script).st_mode) == 0o755

    failed, result = run_module(port_metrics, **host["args"])
    assert not failed and not result["changed"] and result["files"] == []

    # An unquoted YAML 0644 arrives as the integer 420: the same bits, nothing to write.
    files = [dict(item, mode=420) if item["path"] == timer else item for item in host["args"]["files"]]
    failed, result = run_module(port_metrics, **dict(host["args"], files=files))
    assert not failed and not result["changed"], result

    # A mode changed by hand is put back, and only that file is written.
    os.chmod(script, 0o600)
    failed, result = run_module(port_metrics, **host["args"])
    assert result["changed"] and result["files"] == [script]
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o755


@pytest.mark.parametrize("files, message", [
    ([{"path": "/tmp/x", "content": "", "mode": "rw"}], "mode 'rw' of /tmp/x is not permission bits"),
    ([{"path": "/tmp/x", "content": "", "mode": "100644"}], "mode '100644' of /tmp/x is not permission bits"),
    ([{"path": "/tmp/x", "content": ""}, {"path": "/tmp//x", "content": "y"}], "/tmp/x is given twice"),
    ([{"path": "relative/x", "content": ""}], "relative/x is not an absolute path"),
    ([{"path": "CONFIG", "content": ""}], "is one of the module's own files"),
])
def test_bad_files_fail_before_anything_is_written(run_module, host, files, message):
    files = [dict(item, path=item["path"].replace("CONFIG", host["args"]["config_path"].replace("/", "/./", 1)))
             for item in files]
    failed, result = run_module(port_metrics, **dict(host["args"], files=files))
    assert failed and message in result["msg"]
    assert not os.path.exists(host["args"]["path"]) and not os.path.exists(host["args"]["config_path"])


class FakeSystemd:
    """systemctl as the module sees it through run_command: units with their state; a daemon-reload loads the unit
    files written under ``unit_dir``."""

    def __init__(self, unit_dir, **units):
        self.unit_dir = unit_dir
        self.units = dict((name, dict(state)) for name, state in units.items())
        self.calls = []
        self.fail = {}

    def state(self, unit):
        return self.units.setdefault(unit, {"LoadState": "not-found", "ActiveState": "inactive", "UnitFileState": "",
                                            "NeedDaemonReload": "no"})

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/systemctl" if name == "systemctl" else None

    def run_command(self, argv, data=None, **options):
        assert isinstance(argv, list) and argv[0] == "/usr/bin/systemctl", argv
        verb, names = argv[1], [arg for arg in argv[2:] if not arg.startswith("--")]
        self.calls.append(" ".join(argv[1:]) if verb != "show" else "show " + " ".join(names))
        if verb in self.fail:
            return 1, "", self.fail[verb]
        if verb == "show":
            properties = [arg.split("=", 1)[1] for arg in argv[2:] if arg.startswith("--property=")]
            blocks = ["".join("%s=%s\n" % (name, unit if name == "Id" else self.state(unit)[name])
                              for name in properties) for unit in names]
            return 0, "\n".join(blocks), ""
        if verb == "daemon-reload":
            for name in os.listdir(self.unit_dir):
                state = self.state(name)
                state.update(LoadState="loaded", NeedDaemonReload="no", UnitFileState=state["UnitFileState"] or "disabled")
        elif verb in ("start", "restart"):
            self.state(names[0])["ActiveState"] = "active"
        elif verb == "enable":
            self.state(names[0])["UnitFileState"] = "enabled"
        return 0, "", ""


@pytest.fixture
def systemd(mocker, tmp_path):
    fake = FakeSystemd(str(tmp_path / "units"))
    (tmp_path / "units").mkdir()
    mocker.patch.object(port_metrics.AnsibleModule, "run_command", fake.run_command)
    mocker.patch.object(port_metrics.AnsibleModule, "get_bin_path", fake.get_bin_path)
    return fake


SHOW = "show refresh.timer"


def test_the_timer_is_installed_then_an_unchanged_host_costs_one_systemctl_show(run_module, host, systemd):
    args = dict(host["args"], timer="refresh.timer", interval=60)
    failed, result = run_module(port_metrics, **args)
    assert not failed, result
    assert result["changed"] and result["systemctl"] == ["daemon-reload", "restart refresh.timer",
                                                         "enable refresh.timer"]
    assert systemd.calls == [SHOW] + result["systemctl"]
    assert systemd.units["refresh.timer"] == {"LoadState": "loaded", "ActiveState": "active",
                                              "UnitFileState": "enabled", "NeedDaemonReload": "no"}

    systemd.calls = []
    failed, result = run_module(port_metrics, **args)
    assert not failed and not result["changed"] and result["systemctl"] == [], result
    assert systemd.calls == [SHOW]


def test_check_mode_on_a_new_host_runs_nothing_but_show(run_module, host, systemd):
    failed, result = run_module(port_metrics, _ansible_check_mode=True, _ansible_diff=True,
                                **dict(host["args"], timer="refresh.timer"))
    assert not failed and result["changed"]
    assert result["systemctl"] == ["daemon-reload", "restart refresh.timer", "enable refresh.timer"]
    assert [item["before_header"] for item in result["diff"]] == [host["args"]["config_path"], "systemd: refresh.timer"]
    assert result["diff"][1]["after"] == "ActiveState=active\nUnitFileState=enabled\n"
    assert systemd.calls == [SHOW]
    assert not os.path.exists(host["args"]["path"]) and not os.path.exists(host["args"]["config_path"])


def test_a_stopped_disabled_timer_is_a_change_in_check_mode_and_is_started_and_enabled(run_module, host, systemd):
    args = dict(host["args"], timer="refresh.timer")
    failed, result = run_module(port_metrics, **args)
    assert not failed
    systemd.units["refresh.timer"].update(ActiveState="inactive", UnitFileState="disabled")
    systemd.calls = []

    failed, result = run_module(port_metrics, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert not failed and result["changed"] and result["files"] == [] and result["library"] == []
    assert result["systemctl"] == ["start refresh.timer", "enable refresh.timer"]
    assert result["diff"] == [{"before": "ActiveState=inactive\nUnitFileState=disabled\n",
                               "after": "ActiveState=active\nUnitFileState=enabled\n",
                               "before_header": "systemd: refresh.timer", "after_header": "systemd: refresh.timer"}]
    assert systemd.calls == [SHOW] and systemd.units["refresh.timer"]["ActiveState"] == "inactive"

    failed, result = run_module(port_metrics, **args)
    assert not failed and result["changed"] and result["systemctl"] == ["start refresh.timer", "enable refresh.timer"]
    assert "diff" not in result  # only with --diff
    assert systemd.units["refresh.timer"]["ActiveState"] == "active"
    assert systemd.units["refresh.timer"]["UnitFileState"] == "enabled"


@pytest.mark.parametrize("change, steps", [
    # New inputs: the timer runs them now; no unit file changed, so no daemon-reload.
    (lambda args, systemd: args["services"].append({"name": "api", "port": 8081}), ["restart refresh.timer"]),
    # A unit written by an earlier run that stopped before its daemon-reload.
    (lambda args, systemd: systemd.units["refresh.timer"].update(NeedDaemonReload="yes"),
     ["daemon-reload", "restart refresh.timer"]),
    # Only the script changed: a restart, no daemon-reload.
    (lambda args, systemd: args["files"].__setitem__(1, dict(args["files"][1], content="import os\n")),
     ["restart refresh.timer"]),
])
def test_daemon_reload_only_for_units_and_restart_only_for_the_timers_files(run_module, host, systemd, change, steps):
    args = dict(host["args"], timer="refresh.timer", services=list(host["args"]["services"]),
                files=list(host["args"]["files"]))
    failed, result = run_module(port_metrics, **args)
    assert not failed
    systemd.calls = []
    change(args, systemd)
    failed, result = run_module(port_metrics, **args)
    assert not failed and result["changed"] and result["systemctl"] == steps, result
    assert systemd.calls == [SHOW] + steps


@pytest.mark.parametrize("interval", [4, 301, 900])
def test_an_interval_the_stale_alert_cannot_tell_from_a_stopped_timer_fails_before_anything(
        run_module, host, systemd, interval):
    failed, result = run_module(port_metrics, **dict(host["args"], timer="refresh.timer", interval=interval))
    assert failed
    assert result["msg"] == ("interval is %d: it must be 5 to 300 seconds, so that PortcullisAuditStale (no refresh "
                             "for 15 minutes) means the timer stopped" % interval)
    assert systemd.calls == [] and not os.path.exists(host["args"]["config_path"])


@pytest.mark.parametrize("timer, message", [
    ("-refresh.timer", "'-refresh.timer' is not the name of a systemd timer unit"),
    ("refresh.service", "'refresh.service' is not the name of a systemd timer unit"),
    ("other.timer", "the timer other.timer is not-found and no file in files is its unit"),
])
def test_a_timer_that_cannot_be_managed_fails_before_anything(run_module, host, systemd, timer, message):
    failed, result = run_module(port_metrics, **dict(host["args"], timer=timer))
    assert failed and message in result["msg"], result
    assert systemd.calls in ([], ["show " + timer + " refresh.timer"])
    assert not os.path.exists(host["args"]["config_path"]) and not os.path.exists(host["args"]["path"])


def test_without_systemctl_a_timer_fails_before_anything(run_module, host, systemd, mocker):
    mocker.patch.object(port_metrics.AnsibleModule, "get_bin_path", lambda *args, **kwargs: None)
    failed, result = run_module(port_metrics, **dict(host["args"], timer="refresh.timer"))
    assert failed and "systemctl is not on this host: the timer refresh.timer needs systemd" in result["msg"]
    assert not os.path.exists(host["args"]["config_path"])


def test_a_failed_systemctl_step_fails_naming_it_after_the_files_were_written(run_module, host, systemd):
    systemd.fail["enable"] = "Failed to enable unit: Unit file refresh.timer is masked."
    failed, result = run_module(port_metrics, **dict(host["args"], timer="refresh.timer"))
    assert failed and result["changed"]
    assert result["msg"] == "systemctl enable refresh.timer failed: Failed to enable unit: Unit file refresh.timer is masked."
    assert os.path.exists(host["args"]["config_path"])


def test_a_textfile_directory_made_under_umask_027_is_readable_by_the_exporter(run_module, host, tmp_path):
    """Issue 27, fault 4: a CIS umask must not make the directory the module creates unreadable."""
    old = os.umask(0o027)
    try:
        failed, result = run_module(port_metrics, **host["args"])
    finally:
        os.umask(old)
    assert not failed, result
    assert stat.S_IMODE(os.stat(str(tmp_path / "textfile")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(host["args"]["path"]).st_mode) == 0o644


def test_a_textfile_directory_the_exporter_cannot_read_fails_before_anything_is_written(run_module, host, tmp_path):
    (tmp_path / "textfile").mkdir()
    os.chmod(str(tmp_path / "textfile"), 0o750)
    for check_mode in (True, False):
        failed, result = run_module(port_metrics, _ansible_check_mode=check_mode,
                                    **dict(host["args"], exporter_user="no-such-user-here"))
        assert failed and not result["changed"]
        # The first directory on the way that stops it (pytest's own is 0700) is named.
        assert " is not readable by other users (no-such-user-here does not exist here)" in result["msg"]
        assert "node-exporter, running as no-such-user-here, cannot read the metrics" in result["msg"]
        assert not os.path.exists(host["args"]["path"]) and not os.path.exists(host["args"]["config_path"])


@pytest.mark.parametrize("entry, listen", [
    ({"name": "node-exporter", "port": 9100}, ":9100"),
    ({"name": "node-exporter", "port": 9100, "bind": "::"}, ":9100"),
    ({"name": "node-exporter", "port": 9100, "bind": "172.30.83.10"}, "172.30.83.10:9100"),
    ({"name": "node-exporter", "port": 9101, "bind": "fd00::10"}, "[fd00::10]:9101"),
])
def test_the_exporter_listens_on_its_registry_entry(run_module, host, entry, listen):
    """Issue 27, fault 8: the exporter the role installs must be the registry's node-exporter, not an undeclared
    listener on 9100."""
    args = dict(host["args"], services=host["args"]["services"] + [entry], exporter_service="node-exporter")
    failed, result = run_module(port_metrics, **args)
    assert not failed, result
    assert result["exporter_listen"] == listen
    assert run_module(port_metrics, **host["args"])[1]["exporter_listen"] is None


@pytest.mark.parametrize("entry, message", [
    (None, "the registry declares no service named node-exporter, so the node-exporter the role installs would be "
           "an undeclared listener"),
    ({"name": "node-exporter", "port": "9100-9101"}, "must listen on one TCP port for node-exporter, not tcp 9100-9101"),
    ({"name": "node-exporter", "port": 9100, "protocol": "udp"}, "not udp 9100"),
])
def test_an_exporter_the_registry_does_not_declare_fails_before_anything_is_written(run_module, host, entry, message):
    services = host["args"]["services"] + ([entry] if entry else [])
    for check_mode in (True, False):
        failed, result = run_module(port_metrics, _ansible_check_mode=check_mode,
                                    **dict(host["args"], services=services, exporter_service="node-exporter"))
        assert failed and message in result["msg"], result
        assert not os.path.exists(host["args"]["path"]) and not os.path.exists(host["args"]["config_path"])
