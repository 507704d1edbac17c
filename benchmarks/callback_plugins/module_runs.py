"""Count every module an action plugin runs on a host, one line per run.

Enabled by the firewall benchmark (``ANSIBLE_CALLBACKS_ENABLED=module_runs``);
appends ``HOST<TAB>MODULE`` to the file named by ``PORTCULLIS_MODULE_RUNS``
for each call of ``ActionBase._execute_module``, whichever action plugin makes
it: a task whose action plugin runs its module twice (the firewall module
confirming a rollback it armed) counts twice, where ``module_count`` counts the
task once. The method is wrapped when Ansible loads this callback, in the
controller's main process, before it forks the workers that run the tasks
(ansible-core forks them), so every worker inherits the wrapper; each line is
one ``write`` to a file opened for appending, so workers do not interleave.
"""

import os

from ansible.plugins.action import ActionBase
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: module_runs
type: aggregate
short_description: count the modules run on each host
description: Append one line per module run (host, module) to a file.
requirements: [PORTCULLIS_MODULE_RUNS names the file to append to]
"""

_EXECUTE_MODULE = ActionBase._execute_module


def _counted(self, *args, **kwargs):
    path = os.environ.get("PORTCULLIS_MODULE_RUNS")
    if path:
        module_name = kwargs.get("module_name", args[0] if args else None)
        task_vars = kwargs.get("task_vars", args[3] if len(args) > 3 else None)
        host = (task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr
        line = "%s\t%s\n" % (host, module_name or self._task.action)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode("utf-8"))
        finally:
            os.close(descriptor)
    return _EXECUTE_MODULE(self, *args, **kwargs)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "module_runs"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        ActionBase._execute_module = _counted
