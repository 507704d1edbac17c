# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _running
from ansible_collections.portcullis.ports.plugins.modules import service_running

STOPPED = "LoadState=loaded\nActiveState=failed\nSubState=failed\nUnitFileState=enabled\nMainPID=0\nNRestarts=5\n"


@pytest.fixture
def systemctl(mocker, tmp_path):
    calls = []

    def run_command(self, argv, **kwargs):
        calls.append(argv[1])
        return 0, STOPPED if argv[1] == "show" else "", ""

    mocker.patch.object(service_running.AnsibleModule, "run_command", run_command)
    mocker.patch.object(service_running.AnsibleModule, "get_bin_path", lambda self, name, **kwargs: "/bin/" + name)
    mocker.patch.object(_running, "SYSTEMD_DIR", str(tmp_path))
    return calls


def test_check_mode_reports_the_start_with_a_diff_and_runs_only_show(run_module, systemctl):
    failed, result = run_module(service_running, name="mtail.service", port=3903, _ansible_check_mode=True,
                                _ansible_diff=True)
    assert not failed and result["changed"] and result["actions"] == ["start"]
    assert result["diff"]["before"] == "stopped, enabled\n" and result["diff"]["after"] == "running, enabled\n"
    assert systemctl == ["show"]


@pytest.mark.parametrize("args, message", [
    ({"timeout": 0}, "timeout 0 is not valid: expected 1 or more"),
    ({"port": 70000}, "port 70000 is not valid: expected 1 to 65535"),
])
def test_bad_arguments_are_refused_before_systemd_is_asked(run_module, systemctl, args, message):
    failed, result = run_module(service_running, name="mtail.service", **args)
    assert failed and result["msg"] == message and systemctl == []
