# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the firewall module and, when it armed a rollback, confirms it over a
new connection: if the new ruleset cut Ansible off, the confirmation cannot
arrive and the host restores the previous ruleset by itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        module_args = self._task.args.copy()
        if module_args.get("confirm"):
            result.update(failed=True, msg="confirm is set by the action plugin itself; leave it out")
            return result
        result.update(self._execute_module(module_name="portcullis.ports.firewall", module_args=module_args,
                                           task_vars=task_vars))
        token = result.get("rollback_token")
        if result.get("failed") or not token:
            return result
        timeout = module_args.get("rollback_timeout")
        # A new connection proves the new ruleset lets Ansible in.
        try:
            self._connection.reset()
            confirmed = self._execute_module(module_name="portcullis.ports.firewall",
                                             module_args={"confirm": token}, task_vars=task_vars)
        except Exception as error:  # any failure to reach the host means no confirmation
            confirmed = {"failed": True, "msg": str(error)}
        if confirmed.get("failed") or confirmed.get("unreachable"):
            # The host cannot be reached: leave no remote temp dir for the task's cleanup to try.
            self._connection._shell.tmpdir = None
            result.update(
                failed=True, changed=True,
                msg="applied, but could not reconnect to confirm it (%s); the host restores the previous ruleset "
                    "within %s seconds of the apply" % (confirmed.get("msg", "unreachable").strip(), timeout))
        else:
            result["rollback_confirmed"] = True
        return result
