# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 27 fault 8: site.yml's rollout keywords (serial, max_fail_percentage)
given as inventory variables, where AWX users put them. Ansible templates a
play keyword once per play, without a host, so a host's variables are not
in scope: they must still be honoured, or the run stops naming where they
go. Real ansible-playbook runs of playbooks/site.yml over local hosts, with
every task skipped by tags: only the plays and their batches run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ENFORCING_PLAYS = ("Harden sshd", "Enforce the firewall", "Publish the registry's domains")


# Every task skipped: only the plays and their batches run.
NO_TASK = ("--skip-tags", "always", "--tags", "portcullis-no-task")


def run_site(ansible_playbook, tmp_path, group_vars=None, host_vars=None, extra_vars=None, options=NO_TASK):
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    (inventory / "hosts.ini").write_text(u"[proxies]\nh1\nh2\nh3\n\n[all:vars]\nansible_connection=local\n")
    if group_vars:
        (inventory / "group_vars" / "all.yml").write_text(json.dumps(group_vars))
    for host, variables in (host_vars or {}).items():
        (inventory / "host_vars" / ("%s.yml" % host)).write_text(json.dumps(variables))
    arguments = ["-i", inventory, os.path.join(REPO, "playbooks", "site.yml")] + list(options)
    if extra_vars:
        arguments += ["-e", json.dumps(extra_vars)]
    return ansible_playbook(arguments)


def batches(output, play):
    """How many times a play started: once per batch."""
    return sum(1 for line in output.splitlines() if line.startswith("PLAY [%s" % play))


def test_without_a_serial_each_enforcing_play_runs_once_over_every_host(ansible_playbook, tmp_path):
    rc, output = run_site(ansible_playbook, tmp_path)
    assert rc == 0, output
    assert [batches(output, play) for play in ENFORCING_PLAYS] == [1, 1, 1], output


def test_a_serial_in_group_vars_all_is_honoured(ansible_playbook, tmp_path):
    rc, output = run_site(ansible_playbook, tmp_path, group_vars={"portcullis_site_serial": [1, "100%"]})
    assert rc == 0, output
    # A canary of one host, then the other two.
    assert [batches(output, play) for play in ENFORCING_PLAYS] == [2, 2, 2], output


def test_a_serial_as_an_extra_var_still_wins(ansible_playbook, tmp_path):
    rc, output = run_site(ansible_playbook, tmp_path, group_vars={"portcullis_site_serial": [1, "100%"]},
                          extra_vars={"portcullis_site_serial": [2]})
    assert rc == 0, output
    assert [batches(output, play) for play in ENFORCING_PLAYS] == [2, 2, 2], output


@pytest.mark.parametrize("variable, everywhere, on_h2", [
    ("portcullis_site_serial", [1, "100%"], 1),
    ("portcullis_site_max_fail_percentage", 100, 0),
])
def test_a_keyword_that_differs_between_hosts_stops_the_run_naming_where_it_goes(ansible_playbook, tmp_path, variable, everywhere, on_h2):
    rc, output = run_site(ansible_playbook, tmp_path, group_vars={variable: everywhere}, host_vars={"h2": {variable: on_h2}})
    assert rc != 0, output
    assert variable in output and "h2" in output and "group_vars/all" in output and "-e" in output, output
    assert batches(output, "Harden sshd") == 0, output


def test_a_syntax_check_has_no_host_variables_and_passes(ansible_playbook, tmp_path):
    rc, output = run_site(ansible_playbook, tmp_path, group_vars={"portcullis_site_serial": [1, "100%"]}, options=["--syntax-check"])
    assert rc == 0, output
