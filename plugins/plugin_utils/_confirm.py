# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commit-confirmed, on the controller: run a module that may arm a rollback
on the host, then confirm it over a new connection. If the change cut Ansible
off, the confirmation cannot arrive and the host undoes the change by itself.
The firewall and sshd_config action plugins both run through here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def run_confirmed(action, module_name, task_vars, what, extra_args=None):
    """What ``action`` (an ActionBase) returns for ``module_name``: the
    module's result, confirmed over a new connection when it armed a rollback.
    ``what`` names what the host restores, for the message; ``extra_args``
    are module arguments the action plugin adds (found on the controller)."""
    result = {}
    module_args = action._task.args.copy()
    if module_args.get("confirm"):
        result.update(failed=True, msg="confirm is set by the action plugin itself; leave it out")
        return result
    module_args.update(extra_args or {})
    result.update(action._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars))
    token = result.get("rollback_token")
    if result.get("failed") or not token:
        return result
    timeout = module_args.get("rollback_timeout")
    # A new connection proves the change lets Ansible in.
    try:
        action._connection.reset()
        confirmed = action._execute_module(module_name=module_name, module_args={"confirm": token}, task_vars=task_vars)
    except Exception as error:  # pylint: disable=broad-except  # any failure to reach the host means no confirmation
        confirmed = {"failed": True, "msg": str(error)}
    if confirmed.get("failed") or confirmed.get("unreachable"):
        # The host cannot be reached: leave no remote temp dir for the task's cleanup to try.
        action._connection._shell.tmpdir = None
        reason = str(confirmed.get("msg", "unreachable")).strip()
        if "deserialization failed" in reason or "No start of json" in reason:
            reason = ("a new connection got in, but Ansible's module could not run in it - the change alters what a "
                      "session runs (ForceCommand, a chroot, the shell): %s" % reason)
        if "the rollback already ran" in reason:
            # Reached, but too late: the host had already undone the change.
            after = "the host already restored %s (the rollback_timeout of %s seconds had passed)" % (what, timeout)
        else:
            after = "the host restores %s within %s seconds of the apply" % (what, timeout)
        result.update(failed=True, changed=True,
                      msg="applied, but could not reconnect to confirm it (%s); %s" % (reason, after))
    else:
        result["rollback_confirmed"] = True
    return result
