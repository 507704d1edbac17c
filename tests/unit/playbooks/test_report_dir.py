# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection writes on the controller by default - the port map
(port_audit's portcullis_audit_report_dir) and the adoption's drafts
(playbooks/adopt.yml's portcullis_adopt_base) - templated by a real
ansible-playbook: next to an inventory file, and in the current directory
for an inline inventory (-i host,), where Ansible gives inventory_dir as the
text 'None' (the map went to ./None/port-map, the drafts to None/host_vars)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
with open(os.path.join(REPO, "playbooks", "adopt.yml")) as handle:
    ADOPT_BASES = sorted(set(play["vars"]["portcullis_adopt_base"] for play in yaml.safe_load(handle)
                             if "portcullis_adopt_base" in play.get("vars", {})))
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_vars:
        file: %s
        name: defaults
    - ansible.builtin.debug:
        msg: "{{ [defaults.portcullis_audit_report_dir] + adopt_bases }}"
      vars:
        adopt_bases: %s
""" % (os.path.join(REPO, "roles", "port_audit", "defaults", "main.yml"), json.dumps(ADOPT_BASES))


def report_dir(ansible_playbook, tmp_path, inventory):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    code, output = ansible_playbook(["-i", inventory, "-c", "local", tmp_path / "play.yml"], "ansible.builtin.json")
    assert code == 0, output
    hosts = json.loads(output)["plays"][0]["tasks"][1]["hosts"]
    return list(hosts.values())[0]["msg"]


def test_an_inline_inventory_writes_the_map_in_the_current_directory(ansible_playbook, tmp_path):
    assert len(ADOPT_BASES) == 1
    assert report_dir(ansible_playbook, tmp_path, "localhost,") == [str(tmp_path / "port-map"), str(tmp_path)]


def test_an_inventory_file_gets_the_map_beside_it(ansible_playbook, tmp_path):
    inventory = tmp_path / "inventories" / "prod"
    inventory.mkdir(parents=True)
    (inventory / "hosts.ini").write_text(u"localhost\n")
    found = report_dir(ansible_playbook, tmp_path, str(inventory / "hosts.ini"))
    assert found == [str(inventory / "port-map"), str(inventory)]
