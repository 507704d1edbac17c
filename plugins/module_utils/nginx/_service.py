# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx service, for the nginx_proxy module: kept enabled and running,
and reloaded only after ``nginx -t`` accepted what the module wrote.

Under systemd (``/run/systemd/system`` exists) its state is read with one
``systemctl show``; without it, the init script (``service NAME status``)
says whether it runs, and enabling at boot is left alone, with a warning.
Commands go through the runner as argument lists. No Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError

SYSTEMD_DIR = "/run/systemd/system"
# systemd's ActiveState values of a unit that runs (or is on its way), and UnitFileState values that need no enable.
RUNNING = ("active", "reloading", "activating")
ENABLED = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked", "linked-runtime")


class Service:
    def __init__(self, runner, name, systemd_dir=SYSTEMD_DIR):
        self.runner = runner
        self.name = name
        self.systemctl = runner.which("systemctl") if os.path.isdir(systemd_dir) else None
        self.script = None if self.systemctl else runner.which("service")
        if not self.systemctl and not self.script:
            raise NginxProxyError("cannot manage the service %s: neither systemd (systemctl) nor an init script "
                                  "runner (service) is on this host" % name)
        self.warnings = []

    def status(self):
        """``(running, enabled)``; ``enabled`` is None when it cannot be known (no systemd)."""
        if self.systemctl:
            rc, out, err = self.runner.run([self.systemctl, "show", "--property=ActiveState",
                                            "--property=UnitFileState", self.name])
            if rc != 0:
                raise NginxProxyError("could not read the state of the service %s: %s" % (self.name, (err or out).strip()))
            values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            return values.get("ActiveState") in RUNNING, values.get("UnitFileState") in ENABLED
        rc, _out, _err = self.runner.run([self.script, self.name, "status"])
        self.warnings.append("no systemd on this host: whether the service %s starts at boot is not checked" % self.name)
        return rc == 0, None

    def _do(self, verb):
        argv = [self.systemctl, verb, self.name] if self.systemctl else [self.script, self.name, verb]
        rc, out, err = self.runner.run(argv)
        if rc != 0:
            raise NginxProxyError("%s failed: %s" % (" ".join([os.path.basename(argv[0])] + argv[1:]),
                                                     (err or out or "exit code %d" % rc).strip()))

    def start(self):
        self._do("start")

    def reload(self):
        self._do("reload")

    def enable(self):
        self._do("enable")
