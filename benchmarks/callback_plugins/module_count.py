"""Count, per host, the tasks that executed a module on that host, and the
task evaluations (every task result the host got: ok, changed, skipped or
failed, controller-only actions included; those of run_once tasks, evaluated
on one host for the whole play, apart).

Enabled by the site benchmark (``ANSIBLE_CALLBACKS_ENABLED=module_count``);
writes ``{host: {"executions": N, "tasks": {task name: n}, "evaluations": M,
"evaluated": [task names], "controller": {task name: n}}}`` (``controller``: the
controller-only actions that ran, not skipped) as JSON to the file named by
``PORTCULLIS_MODULE_COUNT``.

A task counts once for the host it ran on when it was not skipped and its
action does not run on the controller only (set_fact, assert, include_*,
meta, portcullis.ports.controller_files, ...). A task delegated elsewhere counts for the host it was delegated
to. An action plugin that runs several modules for one task (an unchanged
template or copy runs stat, then file) counts once: the number is a lower
bound of round trips, the same rule for both stacks (the anchor's roles use
more templates, so its count is the more understated). Work done on the
controller only (filters, lookups, templating) is not counted.
"""

import collections
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: module_count
type: aggregate
short_description: count module executions per host
description: Count, per host, the tasks that executed a module on it.
requirements: [PORTCULLIS_MODULE_COUNT names the JSON file to write]
"""

CONTROLLER_ONLY = frozenset(
    "ansible.builtin." + name if "." not in name else name
    for name in ("set_fact", "assert", "debug", "fail", "meta", "include_tasks", "import_tasks", "include_role",
                 "import_role", "include_vars", "add_host", "group_by", "set_stats", "pause", "validate_argument_spec",
                 "ansible.legacy.set_fact", "ansible.legacy.assert", "ansible.legacy.debug", "ansible.legacy.fail",
                 "ansible.legacy.include_vars", "ansible.legacy.validate_argument_spec", "ansible.legacy.meta",
                 # An action that writes on the controller itself, no module run.
                 "portcullis.ports.controller_files"))
SHORT = frozenset(name.rsplit(".", 1)[-1] for name in CONTROLLER_ONLY)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "module_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.counts = collections.defaultdict(collections.Counter)
        self.evaluated = collections.defaultdict(list)
        self.controller = collections.defaultdict(collections.Counter)

    def _evaluated(self, result):
        # A run_once task is evaluated on one host for the whole play: marked, so it can be told apart.
        name = result._task.get_name()
        self.evaluated[result._host.get_name()].append(("once: " + name) if result._task.run_once else name)

    def _count(self, result):
        action = result._task.action
        if action in CONTROLLER_ONLY or action in SHORT:
            self.controller[result._host.get_name()][result._task.get_name()] += 1
            return
        delegated = result._result.get("_ansible_delegated_vars") or {}
        host = delegated.get("ansible_delegated_host") or result._task.delegate_to or result._host.get_name()
        if result._result.get("results") is not None:
            # a loop: one execution per item that was not skipped
            items = [item for item in result._result["results"] if not item.get("skipped")]
            self.counts[host][result._task.get_name()] += len(items)
        else:
            self.counts[host][result._task.get_name()] += 1

    def v2_runner_on_ok(self, result):
        self._evaluated(result)
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._evaluated(result)
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._evaluated(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("PORTCULLIS_MODULE_COUNT")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as handle:
            hosts = sorted(set(self.counts) | set(self.evaluated))
            json.dump({host: {"executions": sum(self.counts[host].values()), "tasks": dict(self.counts[host]),
                              "evaluations": len([name for name in self.evaluated[host] if not name.startswith("once: ")]),
                              "evaluations_once": len([name for name in self.evaluated[host]
                                                       if name.startswith("once: ")]),
                              "evaluated": self.evaluated[host], "controller": dict(self.controller[host])}
                       for host in hosts}, handle, indent=1)
