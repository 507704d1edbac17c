#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_running
short_description: Keep a systemd service enabled and running, and prove it stays up after a start
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Starts the systemd unit O(name) when it does not run, restarts it when it runs and O(restart) is true (after a
    change of its configuration), and enables it at boot with O(enabled).
  - After a start or restart it watches the unit until its main process listens on O(port) (TCP, IPv4 or IPv6), or
    without O(port) until it has run O(settle) seconds with the same process (so too when the socket's owner
    cannot be read - root without C(CAP_SYS_PTRACE), as in a container - but the socket is of the process's user). A unit that exits, fails, is started
    again by systemd (C(Restart=)) or does not listen within O(timeout) seconds fails the task with the unit's own
    journal lines since the start (the daemon's error - a port another process holds, a bind address the host does
    not have) - where M(ansible.builtin.systemd_service) reports a C(Type=simple) unit started as soon as it is
    forked, and the next run starts it again.
  - A unit that systemd is about to start again (C(auto-restart), its process exited) counts as not running; a
    failed one has its failure reset (C(systemctl reset-failed)) before the start, since systemd refuses even a
    start by hand to a unit that hit its start limit, when the cause may be gone.
  - An unchanged host costs one C(systemctl show). Needs systemd.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
  - portcullis.ports.attributes.LINUX
notes:
  - Check mode reports the C(start), C(restart) or C(enable) that would be done, and the diff the service's state
    before and after; nothing is run or watched.
options:
  name:
    description: The systemd unit, such as C(mtail.service).
    type: str
    required: true
  restart:
    description: Restart the unit when it runs (its configuration changed); it is started anyway when it does not.
    type: bool
    default: false
  enabled:
    description: Enable the unit at boot when it is not.
    type: bool
    default: true
  port:
    description: The TCP port the unit's main process must listen on after a start or restart.
    type: int
  timeout:
    description: Seconds a started unit has to listen on O(port) (or to run O(settle) seconds without one).
    type: int
    default: 15
  settle:
    description: Without O(port), seconds a started unit must keep running with the same process.
    type: int
    default: 2
  journal_lines:
    description: At most this many of the unit's journal lines since the start are given when it does not stay up.
    type: int
    default: 20
seealso:
  - module: ansible.builtin.systemd_service
    description: Any systemd state; reports a unit started once it is forked.
"""

EXAMPLES = r"""
- name: Keep mtail running, restarted after a change of its files, and listening on its port
  portcullis.ports.service_running:
    name: mtail.service
    restart: "{{ mtail_files is changed }}"
    port: 3903
  become: true
"""

RETURN = r"""
name:
  description: The unit.
  returned: always
  type: str
  sample: mtail.service
actions:
  description: What was (or, in check mode, would be) done - C(start), C(restart), C(enable).
  returned: always
  type: list
  elements: str
  sample: [restart]
listening:
  description: After a start or restart, true once its process listened on O(port), null without O(port).
  returned: when the unit was started or restarted
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _running


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            restart=dict(type="bool", default=False),
            enabled=dict(type="bool", default=True),
            port=dict(type="int"),
            timeout=dict(type="int", default=15),
            settle=dict(type="int", default=2),
            journal_lines=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for key, low in (("timeout", 1), ("settle", 0), ("journal_lines", 0)):
        if params[key] < low:
            module.fail_json(msg="%s %d is not valid: expected %d or more" % (key, params[key], low))
    if params["port"] is not None and not 1 <= params["port"] <= 65535:
        module.fail_json(msg="port %d is not valid: expected 1 to 65535" % params["port"])
    try:
        result = _running.ServiceRunning(_host.Runner(module), params).run(module.check_mode)
    except _running.ServiceError as error:
        module.fail_json(msg=str(error))
    diff = result.pop("diff")
    if module._diff and result["changed"]:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
