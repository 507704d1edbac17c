# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A systemd service (an exporter: mtail, node-exporter) kept enabled and running, and proven to stay up after it
was started: the service_running module's work.

``systemctl start`` of a ``Type=simple`` unit returns as soon as the process
is forked, so a daemon that then fails (its port taken, its bind address not
on the host) leaves a run that reported "started"; with ``Restart=`` systemd
starts it again until it gives up, and the next run starts it again. Here,
after a start or restart, the unit is watched until its process listens on
the given TCP port (or, without one, until it has run unchanged for the
settle time; so too when the socket's owner cannot be read, root lacking
CAP_SYS_PTRACE in a container, but the socket is of the process's user): a unit that exits, fails or is restarted by systemd meanwhile,
or does not listen in time, fails the run with the unit's own journal lines
since the start. A unit systemd is about to restart (``auto-restart``) is not
running. One ``systemctl show`` on an unchanged host. No Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening

PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID", "NRestarts")
# ActiveState values of a unit that runs; a SubState among AUTO_RESTART is a process that exited, to be started again.
RUNNING = ("active", "reloading", "activating")
AUTO_RESTART = ("auto-restart",)
STOPPED = ("inactive", "failed", "deactivating")
ENABLED = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked", "linked-runtime")
POLL = 0.2
SYSTEMD_DIR = "/run/systemd/system"


class ServiceError(Exception):
    pass


def parse_show(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _uid(pid, proc_root):
    try:
        with open(os.path.join(proc_root, str(pid), "status")) as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError, IndexError):
        return None
    return None


def listens(pid, port, proc_root="/proc"):
    """Whether the process ``pid`` holds a listening TCP socket (IPv4 or IPv6) on ``port``: True or False when
    the sockets' owners can be read, else None when a socket on the port belongs to the process's user (root
    without CAP_SYS_PTRACE, as in a container, cannot read another user's /proc/PID/fd)."""
    try:
        sockets = [entry for entry in _listening.read_sockets(proc_root, ("tcp",)) if entry["port"] == port]
    except _listening.ListenerReadError as error:
        raise ServiceError(str(error))
    if not sockets or not pid:
        return False
    owners = _listening.socket_owners([entry["inode"] for entry in sockets], proc_root)
    if pid in [owner for found in owners.values() for owner in found]:
        return True
    unread = [entry for entry in sockets if entry["inode"] not in owners]
    if unread and any(entry["uid"] == _uid(pid, proc_root) for entry in unread):
        return None
    return False


class ServiceRunning:
    """``runner`` runs commands (``run(argv)``, ``which(name)``); ``params``: name, restart, enabled, port,
    timeout, settle, journal_lines."""

    def __init__(self, runner, params, proc_root="/proc", systemd_dir=None, clock=time.monotonic,
                 sleep=time.sleep, wall=time.time):
        self.runner = runner
        self.params = params
        self.proc_root = proc_root
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.name = params["name"]
        self.systemctl = runner.which("systemctl")
        if not self.systemctl or not os.path.isdir(systemd_dir or SYSTEMD_DIR):
            raise ServiceError("cannot manage the service %s: systemd is not running on this host" % self.name)

    def show(self):
        rc, out, err = self.runner.run([self.systemctl, "show"] + ["--property=%s" % item for item in PROPERTIES]
                                       + [self.name])
        if rc != 0:
            raise ServiceError("could not read the state of the service %s: %s" % (self.name, (err or out).strip()))
        return parse_show(out)

    def _do(self, verb, since):
        rc, out, err = self.runner.run([self.systemctl, verb, self.name])
        if rc != 0:
            output = (err or out or "exit code %d" % rc).strip()
            raise ServiceError("systemctl %s %s failed: %s%s" % (verb, self.name, output, self._journal(since)))

    def _journal(self, since):
        """The unit's journal lines since ``since`` (seconds since the epoch), as a block to append to a message."""
        journalctl = self.runner.which("journalctl")
        if not journalctl:
            return ""
        lines = []
        # journald may not have written the daemon's last lines yet: asked again, briefly, when there are none.
        for _attempt in range(3):
            rc, out, _err = self.runner.run([journalctl, "--unit", self.name, "--since", "@%d" % int(since),
                                             "--no-pager", "--quiet", "--output", "cat", "--lines",
                                             str(self.params["journal_lines"])])
            lines = [line for line in (out or "").splitlines() if line.strip()] if rc == 0 else []
            if lines or not self.params["journal_lines"]:
                break
            self.sleep(0.3)
        return ("\n%s's journal since the start:\n%s" % (self.name, "\n".join(lines))) if lines else ""

    def run(self, check_mode):
        state = self.show()
        if state.get("LoadState") == "not-found":
            raise ServiceError("the service %s does not exist on this host (systemd knows no such unit)" % self.name)
        running = state.get("ActiveState") in RUNNING and state.get("SubState") not in AUTO_RESTART
        actions = []
        if not running:
            actions.append("start")
        elif self.params["restart"]:
            actions.append("restart")
        if self.params["enabled"] and state.get("UnitFileState") not in ENABLED:
            actions.append("enable")
        result = {"changed": bool(actions), "name": self.name, "actions": actions,
                  "diff": {"before": "%s\n" % self._describe(running, state.get("UnitFileState") in ENABLED),
                           "after": "%s\n" % self._describe(True, self.params["enabled"]
                                                            or state.get("UnitFileState") in ENABLED),
                           "before_header": "service %s" % self.name, "after_header": "service %s" % self.name}}
        if check_mode or not actions:
            return result
        since = self.wall() - 1
        if state.get("ActiveState") == "failed" and ("start" in actions or "restart" in actions):
            # A unit that failed too often in a row is refused even a start by hand until its start limit's
            # interval passes: the failure is forgotten first, as the cause may be gone (a port freed).
            self._do("reset-failed", since)
        for action in actions:
            self._do(action, since)
        if "start" in actions or "restart" in actions:
            result["listening"] = self._watch(since)
        return result

    @staticmethod
    def _describe(running, enabled):
        return "%s, %s" % ("running" if running else "stopped", "enabled" if enabled else "not enabled")

    def _watch(self, since):
        """After a start or restart: until the unit's process listens on ``port`` (True), or without a port until
        it ran unchanged for ``settle`` seconds (None); ServiceError with its journal when it stops, fails, is
        started again by systemd, or does not listen within ``timeout`` seconds."""
        port, timeout, settle = self.params.get("port"), self.params["timeout"], self.params["settle"]
        started = self.clock()
        first = self.show()
        pid, restarts = first.get("MainPID"), first.get("NRestarts")
        state = first
        while True:
            stopped = (state.get("ActiveState") in STOPPED or state.get("SubState") in AUTO_RESTART
                       or state.get("NRestarts") != restarts or (pid not in (None, "0") and state.get("MainPID") != pid))
            if stopped:
                raise ServiceError("the service %s did not stay up after it was started (now %s/%s, restarted by "
                                   "systemd %s times)%s" % (self.name, state.get("ActiveState"), state.get("SubState"),
                                                            state.get("NRestarts", "?"), self._journal(since)))
            if state.get("ActiveState") == "active" and state.get("MainPID") not in (None, "0"):
                found = listens(int(state["MainPID"]), port, self.proc_root) if port is not None else None
                if found:
                    return True
                # Without a port, or a socket on it whose owner cannot be read: the same process for settle seconds.
                if found is None and self.clock() - started >= settle:
                    return None if port is None else True
            if self.clock() - started >= timeout:
                raise ServiceError("the service %s runs but did not listen on tcp port %s within %d s%s"
                                   % (self.name, port, timeout, self._journal(since)))
            self.sleep(POLL)
            state = self.show()
