# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.portcullis.ports.plugins.modules import port_metrics
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics

LISTENER = {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 8080, "pid": 2, "process": "python3",
            "cmdline": [], "dual_stack": False, "user": "root", "inode": 2}


@pytest.fixture
def host(mocker, tmp_path):
    """A host whose listeners are read by a counting stand-in; no nft, no iptables, no nginx."""
    reads = mocker.patch.object(_metrics._listening, "listening", return_value=[LISTENER])
    mocker.patch.object(_metrics._listening, "read_bindv6only", return_value=False)
    mocker.patch.object(_metrics, "published_series", return_value=True)
    mocker.patch.object(_metrics, "firewall_series", return_value=None)
    return {"reads": reads, "args": dict(
        services=[{"name": "web", "port": 8080}], path=str(tmp_path / "textfile" / "portcullis.prom"),
        config_path=str(tmp_path / "port-metrics.json"), library_dir="", state_dir=str(tmp_path),
        nginx_config=str(tmp_path / "absent.conf"), ignore_addresses=[],
        files=[{"path": str(tmp_path / "units" / "refresh.timer"), "content": "[Timer]\n"},
               {"path": str(tmp_path / "refresh-script"), "content": "import sys\n", "mode": "0755"}])}


def test_listeners_are_read_once_and_returned(run_module, host):
    failed, result = run_module(port_metrics, **host["args"])
    assert not failed, result
    assert host["reads"].call_count == 1
    assert result["listening"] == [LISTENER]
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 1' in result["metrics"]


def test_files_written_in_the_same_round_trip_only_when_they_differ(run_module, host, tmp_path):
    timer, script = (item["path"] for item in host["args"]["files"])
    failed, result = run_module(port_metrics, _ansible_check_mode=True, **host["args"])
    assert not failed and result["changed"] and sorted(result["files"]) == sorted([timer, script])
    assert not os.path.exists(timer) and not os.path.exists(script)

    failed, result = run_module(port_metrics, **host["args"])
    assert not failed and result["changed"] and sorted(result["files"]) == sorted([timer, script])
    with open(timer) as handle:
        assert handle.read() == "[Timer]\n"
    assert stat.S_IMODE(os.stat(timer).st_mode) == 0o644 and stat.S_IMODE(os.stat(script).st_mode) == 0o755

    failed, result = run_module(port_metrics, **host["args"])
    assert not failed and not result["changed"] and result["files"] == []

    # An unquoted YAML 0644 arrives as the integer 420: the same bits, nothing to write.
    files = [dict(item, mode=420) if item["path"] == timer else item for item in host["args"]["files"]]
    failed, result = run_module(port_metrics, **dict(host["args"], files=files))
    assert not failed and not result["changed"], result

    # A mode changed by hand is put back, and only that file is written.
    os.chmod(script, 0o600)
    failed, result = run_module(port_metrics, **host["args"])
    assert result["changed"] and result["files"] == [script]
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o755


@pytest.mark.parametrize("files, message", [
    ([{"path": "/tmp/x", "content": "", "mode": "rw"}], "mode 'rw' of /tmp/x is not permission bits"),
    ([{"path": "/tmp/x", "content": "", "mode": "100644"}], "mode '100644' of /tmp/x is not permission bits"),
    ([{"path": "/tmp/x", "content": ""}, {"path": "/tmp//x", "content": "y"}], "/tmp/x is given twice"),
    ([{"path": "relative/x", "content": ""}], "relative/x is not an absolute path"),
    ([{"path": "CONFIG", "content": ""}], "is one of the module's own files"),
])
def test_bad_files_fail_before_anything_is_written(run_module, host, files, message):
    files = [dict(item, path=item["path"].replace("CONFIG", host["args"]["config_path"].replace("/", "/./", 1)))
             for item in files]
    failed, result = run_module(port_metrics, **dict(host["args"], files=files))
    assert failed and message in result["msg"]
    assert not os.path.exists(host["args"]["path"]) and not os.path.exists(host["args"]["config_path"])
