# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the sshd_config module and, when it armed a rollback (with
rollback_timeout), confirms it over a new SSH connection: if the new sshd
configuration does not let Ansible log in, the confirmation cannot arrive and
the host restores the previous configuration and reloads sshd by itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.portcullis.ports.plugins.plugin_utils._confirm import run_confirmed


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(run_confirmed(self, "portcullis.ports.sshd_config", task_vars,
                                    "the previous sshd configuration (and reloads sshd)"))
        return result
