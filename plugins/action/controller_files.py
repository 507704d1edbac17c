# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writes text files in one directory on the controller, in the worker
process itself: no connection, no module execution (a delegated template or
copy runs two modules per file on the controller, each paying for Python
and Ansible's module imports). The work is in module_utils/_files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _files


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=_files.ARGUMENT_SPEC)
        try:
            directory, files, mode, directory_mode = _files.check(
                args["directory"], args["files"], args["mode"], args["directory_mode"])
            to_do = _files.plan(directory, files, mode, directory_mode)
            changed = _files.changed(to_do)
            if changed and not self._task.check_mode:
                _files.apply(to_do, directory, mode, directory_mode)
        except (_files.FilesError, OSError) as error:
            result.update(failed=True, msg="portcullis.ports.controller_files: %s" % error)
            return result
        result.update(changed=changed, directory=directory,
                      files=[item["path"] for item in to_do["files"]],
                      written=[item["path"] for item in to_do["files"] if item["content"] or item["mode"]])
        if self._task.diff and changed:
            result["diff"] = _files.diffs(to_do)
        return result
