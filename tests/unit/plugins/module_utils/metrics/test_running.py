# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""service_running's work against a fake systemd and a fake /proc: issue 29's fault 1, an mtail that could not
listen (its port taken, its bind address absent) reported as started at every run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _running

PARAMS = {"name": "mtail.service", "restart": False, "enabled": True, "port": 3903, "timeout": 5, "settle": 2,
          "journal_lines": 20}
# One listening socket on 0.0.0.0:3903 (0x0F3F), inode 4242.
TCP_TABLE = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: 00000000:0F3F 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 4242\n")


class FakeSystemd:
    """systemctl and journalctl. ``after_start``: the states the unit goes through after a start or restart, one per
    ``systemctl show``; the last one stays. ``listener``: the pid that holds the socket of TCP_TABLE once the unit
    runs, written into the fake /proc."""

    def __init__(self, proc, state, after_start=(), listener=None, journal="", start_rc=0):
        self.proc = proc
        self.state = dict(state)
        self.after_start = list(after_start)
        self.listener = listener
        self.journal = journal
        self.start_rc = start_rc
        self.calls = []
        self.started = False

    def which(self, name):
        return "/usr/bin/" + name

    def run(self, argv, data=None):
        command = os.path.basename(argv[0])
        self.calls.append(" ".join([command] + [item for item in argv[1:] if not item.startswith("--property")]))
        if command == "journalctl":
            return 0, self.journal, ""
        verb = argv[1]
        if verb == "show":
            if self.started and self.after_start:
                self.state.update(self.after_start.pop(0))
            if self.listener and self.state.get("MainPID") == str(self.listener):
                self._listen(self.listener)
            return 0, "".join("%s=%s\n" % item for item in sorted(self.state.items())), ""
        if verb in ("start", "restart"):
            self.started = True
            return self.start_rc, "", "Job failed" if self.start_rc else ""
        if verb == "enable":
            self.state["UnitFileState"] = "enabled"
        return 0, "", ""

    def _listen(self, pid):
        fd = os.path.join(self.proc, str(pid), "fd")
        if not os.path.isdir(fd):
            os.makedirs(fd)
            os.symlink("socket:[4242]", os.path.join(fd, "3"))


@pytest.fixture
def proc(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(TCP_TABLE.splitlines()[0] + "\n")
    (tmp_path / "systemd").mkdir()
    return tmp_path


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(fake, proc, check_mode=False, **params):
    clock = Clock()
    return _running.ServiceRunning(fake, dict(PARAMS, **params), proc_root=str(proc), systemd_dir=str(proc / "systemd"),
                                   clock=clock, sleep=clock.sleep, wall=lambda: 1000.0).run(check_mode)


RUNNING = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "UnitFileState": "enabled",
           "MainPID": "77", "NRestarts": "0"}
STOPPED = dict(RUNNING, ActiveState="inactive", SubState="dead", MainPID="0", UnitFileState="disabled")


def listening(proc):
    (proc / "net" / "tcp").write_text(TCP_TABLE)


def test_an_unchanged_running_service_costs_one_show(proc):
    fake = FakeSystemd(str(proc), RUNNING)
    result = run(fake, proc)
    assert not result["changed"] and result["actions"] == [] and fake.calls == ["systemctl show mtail.service"]


def test_a_stopped_service_is_started_enabled_and_watched_until_its_process_listens(proc):
    listening(proc)
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, ActiveState="activating", MainPID="0"),
                                                        dict(RUNNING, MainPID="88")], listener=88)
    result = run(fake, proc)
    assert result["changed"] and result["actions"] == ["start", "enable"] and result["listening"] is True
    assert fake.calls[:3] == ["systemctl show mtail.service", "systemctl start mtail.service",
                              "systemctl enable mtail.service"]


def test_check_mode_reports_and_runs_nothing(proc):
    fake = FakeSystemd(str(proc), STOPPED)
    result = run(fake, proc, check_mode=True)
    assert result["changed"] and result["actions"] == ["start", "enable"]
    assert fake.calls == ["systemctl show mtail.service"]
    assert result["diff"]["before"] == "stopped, not enabled\n" and result["diff"]["after"] == "running, enabled\n"


def test_restart_is_asked_for_after_a_change(proc):
    listening(proc)
    fake = FakeSystemd(str(proc), RUNNING, after_start=[dict(RUNNING, MainPID="90")], listener=90)
    result = run(fake, proc, restart=True)
    assert result["actions"] == ["restart"] and result["listening"] is True


# The port taken by nginx: mtail exits, systemd starts it again (Restart=on-failure), and gives up.
def test_a_service_that_exits_and_is_restarted_by_systemd_fails_with_its_journal(proc):
    listening(proc)  # nginx holds the port: the socket is there, but not mtail's
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88"),
                                                        dict(RUNNING, ActiveState="activating", SubState="auto-restart",
                                                             MainPID="0", NRestarts="1")],
                       listener=None, journal="listen tcp :443: bind: address already in use\n")
    with pytest.raises(_running.ServiceError) as error:
        run(fake, proc)
    message = str(error.value)
    assert "mtail.service did not stay up after it was started" in message
    assert "listen tcp :443: bind: address already in use" in message
    assert "journalctl --unit mtail.service --since @999" in " ".join(fake.calls)


def test_a_failed_unit_fails_with_its_journal(proc):
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(STOPPED, ActiveState="failed", SubState="failed")],
                       journal="listen tcp 10.9.9.9:9144: bind: cannot assign requested address\n")
    with pytest.raises(_running.ServiceError, match="(?s)now failed/failed.*cannot assign requested address"):
        run(fake, proc)


def test_a_unit_about_to_be_restarted_is_not_running_and_is_started(proc):
    listening(proc)
    fake = FakeSystemd(str(proc), dict(RUNNING, ActiveState="activating", SubState="auto-restart", MainPID="0"),
                       after_start=[dict(RUNNING, MainPID="99")], listener=99)
    assert run(fake, proc)["actions"] == ["start"]


def test_a_service_that_never_listens_fails_after_the_timeout(proc):
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88")], journal="loading programs\n")
    with pytest.raises(_running.ServiceError, match="(?s)runs but did not listen on tcp port 3903 within 5 s.*loading"):
        run(fake, proc)


def test_without_a_port_it_must_keep_its_process_for_the_settle_time(proc):
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88")])
    assert run(fake, proc, port=None)["listening"] is None
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88"), dict(RUNNING, MainPID="89")])
    with pytest.raises(_running.ServiceError, match="did not stay up"):
        run(fake, proc, port=None)


def test_a_start_systemd_refuses_fails_with_the_journal(proc):
    fake = FakeSystemd(str(proc), STOPPED, start_rc=1, journal="ExecCondition failed\n")
    with pytest.raises(_running.ServiceError, match="(?s)systemctl start mtail.service failed: Job failed.*ExecCondition"):
        run(fake, proc)


def test_an_unknown_unit_is_named(proc):
    fake = FakeSystemd(str(proc), dict(STOPPED, LoadState="not-found"))
    with pytest.raises(_running.ServiceError, match="the service mtail.service does not exist"):
        run(fake, proc)


def test_a_failed_unit_has_its_failure_forgotten_before_the_start(proc):
    # systemd refuses even a start by hand to a unit that hit its start limit, until the limit's interval passed.
    listening(proc)
    fake = FakeSystemd(str(proc), dict(STOPPED, ActiveState="failed", SubState="failed", UnitFileState="enabled"),
                       after_start=[dict(RUNNING, MainPID="88")], listener=88)
    assert run(fake, proc)["actions"] == ["start"]
    assert fake.calls[1:3] == ["systemctl reset-failed mtail.service", "systemctl start mtail.service"]


def status(proc, pid, uid):
    (proc / str(pid)).mkdir(exist_ok=True)
    (proc / str(pid) / "status").write_text("Name:\tmtail\nUid:\t%d\t%d\t%d\t%d\n" % ((uid,) * 4))


def test_a_socket_whose_owner_cannot_be_read_counts_when_it_is_the_process_users_and_the_process_stays(proc):
    # No fd link (root without CAP_SYS_PTRACE in a container): the socket's uid, 999, is the process's.
    listening(proc)
    status(proc, 88, 999)
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88")])
    assert run(fake, proc)["listening"] is True
    assert len([call for call in fake.calls if call == "systemctl show mtail.service"]) > 5  # watched for settle


def test_a_socket_of_another_user_on_the_port_is_not_the_services(proc):
    listening(proc)
    status(proc, 88, 0)
    fake = FakeSystemd(str(proc), STOPPED, after_start=[dict(RUNNING, MainPID="88")])
    with pytest.raises(_running.ServiceError, match="did not listen on tcp port 3903 within 5 s"):
        run(fake, proc)
