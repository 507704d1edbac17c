# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The timer steps of the port_metrics module, decided from systemctl show."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _apply

RUNNING = {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled", "NeedDaemonReload": "no"}


@pytest.mark.parametrize("path, unit", [
    ("/etc/systemd/system/portcullis-port-metrics.timer", True),
    ("/etc/systemd/system/portcullis-port-metrics.service", True),
    ("/etc/systemd/system/portcullis-port-metrics.service.d/override.conf", True),
    ("/usr/local/sbin/portcullis-port-metrics", False),
    ("/etc/portcullis/port-metrics.json", False),
])
def test_unit_files_are_told_by_their_names(path, unit):
    assert _apply.is_unit_file(path) is unit


def test_show_is_read_one_block_per_unit_in_order():
    text = "Id=a.timer\nLoadState=loaded\n\nId=b.service\nLoadState=not-found\nUnitFileState=\n"
    assert _apply.parse_show(text, ["a.timer", "b.service"]) == {
        "a.timer": {"Id": "a.timer", "LoadState": "loaded"},
        "b.service": {"Id": "b.service", "LoadState": "not-found", "UnitFileState": ""}}
    with pytest.raises(_apply.MetricsError, match="gave 1 blocks for 2 units"):
        _apply.parse_show("Id=a.timer\n", ["a.timer", "b.service"])


@pytest.mark.parametrize("state, units_written, files_written, steps", [
    ({"t.timer": RUNNING, "t.service": RUNNING}, False, False, []),
    ({"t.timer": RUNNING, "t.service": RUNNING}, False, True, [["restart", "t.timer"]]),
    ({"t.timer": RUNNING, "t.service": RUNNING}, True, True, [["daemon-reload"], ["restart", "t.timer"]]),
    ({"t.timer": RUNNING, "t.service": dict(RUNNING, NeedDaemonReload="yes")}, False, False,
     [["daemon-reload"], ["restart", "t.timer"]]),
    ({"t.timer": dict(RUNNING, ActiveState="inactive"), "t.service": RUNNING}, False, False, [["start", "t.timer"]]),
    ({"t.timer": dict(RUNNING, ActiveState="failed", UnitFileState="disabled"), "t.service": RUNNING}, False, False,
     [["start", "t.timer"], ["enable", "t.timer"]]),
    # Enabled until the next boot only: enabled for good.
    ({"t.timer": dict(RUNNING, UnitFileState="enabled-runtime"), "t.service": RUNNING}, False, False,
     [["enable", "t.timer"]]),
    # A service with no [Install] section is static; only the timer is enabled.
    ({"t.timer": RUNNING, "t.service": dict(RUNNING, UnitFileState="static")}, False, False, []),
    ({"t.timer": dict(RUNNING, LoadState="not-found", ActiveState="inactive", UnitFileState=""),
      "t.service": dict(RUNNING, LoadState="not-found")}, False, False,
     [["daemon-reload"], ["restart", "t.timer"], ["enable", "t.timer"]]),
])
def test_the_timer_steps(state, units_written, files_written, steps):
    assert _apply.timer_steps("t.timer", state, ["t.service", "t.timer"], units_written, files_written) == steps
