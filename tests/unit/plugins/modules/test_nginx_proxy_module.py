# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.modules import nginx_proxy

SITE = {"domain": "docs.example.com", "upstreams": ["10.0.0.5:4001"], "certificate": "/etc/ssl/d.crt",
        "certificate_key": "/etc/ssl/d.key"}


def test_rate_limit_given_as_a_string_boolean(run_module, mocker):
    seen = {}

    def capture(self, check_mode):
        seen.update(self.params["sites"][0])
        return {"changed": False, "diff": []}

    mocker.patch.object(nginx_proxy._nginx.NginxProxy, "run", capture)
    failed, result = run_module(nginx_proxy, sites=[dict(SITE, rate_limit="true")])
    assert not failed and seen["rate_limit"] is True


def test_nonsense_rate_limit_string_is_named(run_module):
    failed, result = run_module(nginx_proxy, sites=[dict(SITE, rate_limit="sometimes")])
    assert failed and "rate_limit 'sometimes' is not valid" in result["msg"]


def test_errors_become_failures_and_warnings_pass_on(run_module, mocker):
    def refuse(self, check_mode):
        self.warnings.append("a warning")
        raise nginx_proxy.NginxProxyError("nginx -t refused the new configuration")

    mocker.patch.object(nginx_proxy._nginx.NginxProxy, "run", refuse)
    failed, result = run_module(nginx_proxy, sites=[SITE])
    assert failed and result["msg"] == "nginx -t refused the new configuration"


def test_diff_dropped_without_diff_mode(run_module, mocker):
    mocker.patch.object(nginx_proxy._nginx.NginxProxy, "run", return_value={"changed": True, "diff": [{"before": ""}]})
    failed, result = run_module(nginx_proxy, sites=[SITE])
    assert not failed and result["changed"] and "diff" not in result


def test_missing_certificate_option_is_refused_by_the_argument_spec(run_module):
    site = dict(SITE)
    del site["certificate"]
    failed, result = run_module(nginx_proxy, sites=[site])
    assert failed and "certificate" in result["msg"]


def test_the_certificate_and_service_options_reach_the_host_steps(run_module, mocker):
    seen = {}

    def capture(self, check_mode):
        seen.update(self.params)
        return {"changed": False, "diff": []}

    mocker.patch.object(nginx_proxy._nginx.NginxProxy, "run", capture)
    failed, _result = run_module(nginx_proxy, sites=[dict(SITE, self_signed=True)], service="nginx",
                                 self_signed_renew_days=10)
    assert not failed and seen["service"] == "nginx" and seen["self_signed_renew_days"] == 10
    assert seen["self_signed_days"] == 365 and seen["sites"][0]["self_signed"] is True


def test_the_service_is_left_alone_unless_named(run_module, mocker):
    seen = {}

    def capture(self, check_mode):
        seen.update(self.params)
        return {"changed": False, "diff": []}

    mocker.patch.object(nginx_proxy._nginx.NginxProxy, "run", capture)
    failed, _result = run_module(nginx_proxy, sites=[SITE])
    assert not failed and seen["service"] is None
