# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.modules import health_check


def test_status_of_a_backend_in_check_mode_too(run_module, health_backend):
    for check_mode in (False, True):
        failed, result = run_module(health_check, url="http://%s/health" % health_backend, timeout=2,
                                    _ansible_check_mode=check_mode)
        assert not failed and result["changed"] is False
        assert (result["status"], result["msg"]) == (200, "")
    assert run_module(health_check, url="http://%s/broken" % health_backend)[1]["status"] == 503


def test_no_answer_is_status_minus_one_with_the_reason_not_a_failure(run_module):
    failed, result = run_module(health_check, url="http://127.0.0.1:1/health", timeout=1)
    assert not failed and result["status"] == -1 and result["msg"]


def test_a_timeout_below_one_second_is_refused(run_module):
    failed, result = run_module(health_check, url="http://127.0.0.1:1/health", timeout=0)
    assert failed and result["msg"] == "timeout 0 is not valid: expected 1 second or more"
