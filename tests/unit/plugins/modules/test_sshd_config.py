# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.modules import sshd_config


def test_rsa_sizes_are_checked_before_the_host_is_asked(run_module, mocker):
    probe = mocker.patch.object(sshd_config._sshd.Sshd, "run")
    failed, result = run_module(sshd_config, rsa_bits=2048)
    assert failed and result["msg"] == "rsa_bits (2048) is smaller than rsa_min_bits (3072)"
    failed, result = run_module(sshd_config, rsa_min_bits=1024, rsa_bits=2048)
    assert failed and "rsa_min_bits 1024 is too small" in result["msg"]
    assert not probe.called


def test_an_unknown_profile_is_refused_by_name(run_module):
    failed, result = run_module(sshd_config, crypto_profile="paranoid")
    assert failed and "paranoid" in result["msg"]


def test_errors_become_failures_and_warnings_are_passed_on(run_module, mocker):
    def refuse(self, check_mode):
        self.warnings.append("a warning")
        raise sshd_config._sshd.SshdError("refusing to apply: deploy would be locked out")

    mocker.patch.object(sshd_config._sshd.Sshd, "run", refuse)
    failed, result = run_module(sshd_config)
    assert failed and result["msg"] == "refusing to apply: deploy would be locked out"


def test_the_result_carries_the_service_and_drops_the_diff_without_diff_mode(run_module, mocker):
    mocker.patch.object(sshd_config._sshd.Sshd, "run", return_value=dict(changed=True, diff={"before": "", "after": "x"}))
    mocker.patch.object(sshd_config._sshd, "service_state", return_value=("ssh.service", True, False))
    failed, result = run_module(sshd_config)
    assert not failed
    assert (result["service"], result["service_active"], result["socket_active"]) == ("ssh.service", True, False)
    assert "diff" not in result
