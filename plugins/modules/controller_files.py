#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: controller_files
short_description: Write text files in one directory on the controller, without a module run per file
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Writes each of O(files) into O(directory) on the controller (where C(ansible-playbook) runs), as the user
    running Ansible. It runs in its action plugin only - it never connects to the host the task runs for, and
    executes no module, so writing a report costs no Python start and no module payload per file (a
    M(ansible.builtin.template) delegated to C(localhost) runs two modules per file).
  - A file is written only when its content or mode differs, whole, to a new file in the same directory that then
    replaces the old one; when one file cannot be written, none is replaced.
  - The directory and its parents are created when missing; O(directory_mode) is set on the directory itself.
  - The port_audit role writes the port map's Markdown and HTML documents with it.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
attributes:
  platform:
    support: full
    platforms: posix
    details:
      - The files are written on the controller, whatever the task's host.
options:
  directory:
    description: The directory on the controller; a relative path is taken from the directory C(ansible-playbook) runs in.
    type: path
    required: true
  files:
    description:
      - File names (plain names, no C(/)) mapped to their text, written as UTF-8. At least one.
      - Render a template into a value with C(lookup('ansible.builtin.template', NAME)).
    type: dict
    required: true
  mode:
    description: The octal mode of every file, as a quoted string (a bare number is refused, since YAML reads it
      as decimal or octal depending on its form).
    type: raw
    default: '0644'
  directory_mode:
    description: The octal mode of the directory, as a quoted string.
    type: raw
    default: '0755'
notes:
  - With C(--diff) each changed file's old and new text are shown; a file over 104448 bytes (Ansible's default
    C(max_file_size_for_diff)) is named without its text.
seealso:
  - module: ansible.builtin.template
    description: Writes on the target, one module run (or two) per file.
"""

EXAMPLES = r"""
- name: Write a report beside the inventory, once for the play
  portcullis.ports.controller_files:
    directory: "{{ inventory_dir }}/reports"
    files:
      hosts.md: "{{ lookup('ansible.builtin.template', 'hosts.md.j2') }}"
      hosts.txt: "{{ ansible_play_hosts | join('\n') }}\n"
    mode: "0640"
  run_once: true
"""

RETURN = r"""
directory:
  description: The directory written to.
  returned: success
  type: str
  sample: /srv/inventory/port-map
files:
  description: The paths of all the files, written or not.
  returned: success
  type: list
  elements: str
  sample: [/srv/inventory/port-map/port-map.html, /srv/inventory/port-map/port-map.md]
written:
  description: The paths of the files whose content or mode changed (or would, in check mode).
  returned: success
  type: list
  elements: str
  sample: [/srv/inventory/port-map/port-map.md]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _files


def main():
    # The action plugin does the work on the controller; a module run means the action plugin was bypassed.
    module = AnsibleModule(argument_spec=_files.ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="portcullis.ports.controller_files runs on the controller through its action plugin; it "
                         "was run as a module instead, so nothing was written")


if __name__ == "__main__":
    main()
