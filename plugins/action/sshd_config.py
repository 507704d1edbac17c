# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the sshd_config module with what only the controller knows about the
next login - the keys its SSH client will offer, in order (the agent's and the
identity files) - so the module's guard can hold them against MaxAuthTries;
and, when the module armed a rollback (rollback_timeout), confirms it over a
new SSH connection: if the new sshd configuration does not let Ansible log
in, the confirmation cannot arrive and the host restores the previous
configuration and reloads sshd by itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.portcullis.ports.plugins.plugin_utils import _ssh_client
from ansible_collections.portcullis.ports.plugins.plugin_utils._confirm import run_confirmed


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        extra = {}
        if "offered_keys" in self._task.args:
            result.update(failed=True, msg="offered_keys is set by the action plugin itself; leave it out")
            return result
        offered = self._offered_keys()
        if offered is not None:
            extra["offered_keys"] = offered
        result.update(run_confirmed(self, "portcullis.ports.sshd_config", task_vars,
                                    "the previous sshd configuration (and reloads sshd)", extra))
        return result

    def _offered_keys(self):
        """The keys the next login over this connection offers, in order, or
        None when it cannot be known (not OpenSSH's client, a password login,
        the client's configuration unreadable)."""
        connection = self._connection
        if not hasattr(connection, "_build_command") or "ssh" not in str(getattr(connection, "transport", "")):
            return None
        try:
            if connection.get_option("password") or connection._play_context.password:
                return None
            executable = connection.get_option("ssh_executable")
            host = connection.get_option("host") or connection.host
            argv = [to_text(arg) for arg in connection._build_command(executable, "ssh", "-G", host)]
        except Exception:  # pylint: disable=broad-except  # no model of the login rather than a failed task
            return None
        argv = argv[argv.index(executable):] if executable in argv else argv
        try:
            client = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if client.returncode != 0:
            return None
        config = _ssh_client.parse_client_config(to_text(client.stdout))
        home = os.path.expanduser("~")
        agent = []
        socket = _ssh_client.agent_socket(config, dict(os.environ, HOME=home))
        ssh_add = shutil.which("ssh-add")
        if socket and ssh_add:
            try:
                listed = subprocess.run([ssh_add, "-L"], stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
                                        check=False, env=dict(os.environ, SSH_AUTH_SOCK=socket))
            except (OSError, subprocess.SubprocessError):
                listed = None
            # 1: the agent holds no key; 2: no agent there.
            if listed is not None and listed.returncode == 0:
                agent = _ssh_client.agent_keys(to_text(listed.stdout))
        return _ssh_client.offered_keys(config, agent, home=home)
