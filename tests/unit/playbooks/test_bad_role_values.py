# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 29's new-user trial: role values that the argument specs let through (they convert a value for their check
only) must fail in the role's first check, naming the variable and the value, before anything changes. Real
ansible-playbook runs over local hosts, one host per bad value."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

PACKAGES = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: portcullis.ports.packages
        rolespec_validate: false
      vars:
        # As the roles build it from their package variables.
        portcullis_packages_wanted: "{{ [['nginx'], wanted] | flatten(levels=1) }}"
"""

EDGE_RULES = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: portcullis.ports.nginx_proxy
        tasks_from: edge_rules
"""


def run(ansible_playbook, tmp_path, playbook, hosts):
    """One host per case (``hosts``: name -> its variables), in check mode (the hosts are this machine);
    ``{host: failure message or None}``."""
    (tmp_path / "play.yml").write_text(playbook)
    (tmp_path / "hosts.ini").write_text(u"".join("%s ansible_connection=local\n" % host for host in hosts))
    (tmp_path / "host_vars").mkdir()
    for host, variables in hosts.items():
        variables = dict(variables, ansible_python_interpreter="{{ ansible_playbook_python }}")
        (tmp_path / "host_vars" / ("%s.json" % host)).write_text(json.dumps(variables))
    _code, output = ansible_playbook(["-i", tmp_path / "hosts.ini", tmp_path / "play.yml", "--check"],
                                     "ansible.builtin.json")
    report = json.loads(output)
    found = dict((host, None) for host in hosts)
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            if result.get("failed"):
                found[host] = result.get("msg")
    return found


def test_a_package_list_that_is_no_list_of_names_is_named(ansible_playbook, tmp_path):
    # Tried as a new user would: portcullis_nginx_edge_packages as a number failed in the packages role with
    # "can only concatenate list (not int) to list", naming nothing; a name given as a string is that package.
    installed = {"portcullis_host_facts": {"packages": ["mtail", "nginx"]}}
    found = run(ansible_playbook, tmp_path, PACKAGES, {
        "one_name": dict(installed, wanted="mtail"),
        "a_number": dict(installed, wanted=5),
        "a_mapping": dict(installed, wanted={"mtail": 1}),
        "an_empty_name": dict(installed, wanted=[""]),
        "a_nested_list": dict(installed, wanted=[["mtail"]]),
        # Re-tried as a new user would: the argument specs split "mtail,curl" for their check only.
        "names_with_a_comma": dict(installed, wanted="mtail,curl"),
        "names_with_a_space": dict(installed, wanted="mtail curl"),
    })
    assert found["one_name"] is None
    for host, shown in (("a_number", '["nginx", 5]'), ("a_mapping", '["nginx", {"mtail": 1}]'),
                        ("an_empty_name", '["nginx", ""]'), ("a_nested_list", '["nginx", ["mtail"]]'),
                        ("names_with_a_comma", '["nginx", "mtail,curl"]'), ("names_with_a_space", '["nginx", "mtail curl"]')):
        assert "the packages the play wants (portcullis_packages_wanted, its *_packages variables one level flattened) " \
               "must be a list of package names, one name per item, not %s" % shown in (found[host] or ""), \
            (host, found[host])


def test_each_wrong_edge_alert_value_is_named_before_the_rule_file_changes(ansible_playbook, tmp_path):
    # Tried as a new user would: a rate window of 0s passed the check and failed only in promtool; a relative rule
    # file path failed in the template task ("Destination directory rules does not exist"); and the message listed
    # every condition whichever one was wrong.
    found = run(ansible_playbook, tmp_path, EDGE_RULES, {
        "zero_window": {"portcullis_nginx_edge_rate_window": "0s"},
        "relative_path": {"portcullis_nginx_edge_rules_path": "rules/edge.yml"},
        "a_directory": {"portcullis_nginx_edge_rules_path": "/etc/prometheus/"},
        "two_wrong": {"portcullis_nginx_edge_error_ratio": 1.5, "portcullis_nginx_edge_alert_for": "5 minutes"},
        "not_a_bucket": {"portcullis_nginx_edge_latency_p95": 0.7},
        # Prometheus durations of several units pass, one unit at zero too; the check stops at the next step.
        "long_window": {"portcullis_nginx_edge_rate_window": "1h0m", "portcullis_nginx_edge_alert_for": "1d12h",
                        "portcullis_nginx_edge_rules_path": str(tmp_path / "rules" / "edge.yml")},
        # Units out of Prometheus's order, or twice, fail here, named, not in promtool's check of a scratch file.
        "out_of_order": {"portcullis_nginx_edge_rate_window": "30m1h", "portcullis_nginx_edge_alert_for": "5m5m"},
        "zero_hours": {"portcullis_nginx_edge_rate_window": "0h0m"},
        # Re-tried as a new user would: an existing directory without a trailing / got the rule file written into
        # it under the template's own name, which Prometheus never loads.
        "a_directory_there": {"portcullis_nginx_edge_rules_path": str(tmp_path)},
    })
    assert "portcullis_nginx_edge_rate_window (0s) must be a Prometheus duration over zero" in found["zero_window"]
    assert "portcullis_nginx_edge_rules_path (rules/edge.yml) must be the absolute path of a file" in \
        found["relative_path"]
    assert "portcullis_nginx_edge_rules_path (/etc/prometheus/) must be" in found["a_directory"]
    assert "portcullis_nginx_edge_error_ratio (1.5) must be between 0 and 1; portcullis_nginx_edge_alert_for " \
           "(5 minutes) must be a Prometheus duration" in found["two_wrong"]
    assert "latency_p95" not in found["two_wrong"] and "rate_window" not in found["two_wrong"]
    assert "portcullis_nginx_edge_latency_p95 (0.7) must be one of portcullis_nginx_edge_buckets (0.005, 0.01, " \
           "0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), so that the p95 alert is exact" in found["not_a_bucket"]
    assert "portcullis_nginx_edge_rate_window (30m1h) must be a Prometheus duration over zero" in \
        found["out_of_order"]
    assert "portcullis_nginx_edge_alert_for (5m5m) must be a Prometheus duration" in found["out_of_order"]
    assert "portcullis_nginx_edge_rate_window (0h0m) must be" in found["zero_hours"]
    assert "portcullis_nginx_edge_rules_path (%s) is a directory on a_directory_there" % tmp_path in \
        found.pop("a_directory_there")
    assert "\n" not in "".join(found[host] or "" for host in found)
    assert "the edge alerts cannot be written" not in (found.pop("long_window") or "")
    for message in found.values():
        assert message.startswith("the edge alerts cannot be written: ")


def test_each_adoption_setting_that_is_no_number_is_named_before_any_host_is_read(ansible_playbook, tmp_path):
    # Tried as a new user would: `-e portcullis_adopt_window=abc` went through `| int` as 0 (one read, no word),
    # and a probe timeout of "zero" was reported as "timeout 0.0 is outside (0, 60] seconds".
    settings = {"portcullis_adopt_window": "abc", "portcullis_adopt_samples": "7", "portcullis_adopt_probe_max": True,
                "portcullis_adopt_probe_concurrency": "32", "portcullis_adopt_probe_timeout": "zero"}
    code, output = ansible_playbook(["-i", "localhost,", "-c", "local", "--check", "-e", json.dumps(settings),
                                     "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
                                     "portcullis.ports.adopt"])
    assert code != 0
    assert ('portcullis_adopt_window must be a whole number of seconds, not "abc"; portcullis_adopt_probe_max must be '
            'a whole number of probes, not true; portcullis_adopt_probe_timeout must be a number of seconds, not '
            '"zero"') in output, output[-3000:]
    assert "Discover listeners" not in output
