#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: health_check
short_description: Ask a backend for its health path, the whole request bounded by one timeout
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Sends one C(GET) of O(url) from the target and returns the HTTP status.
  - O(timeout) bounds the whole request - connecting, sending, and reading the status line and headers - not each
    read, so a backend that trickles its answer a byte at a time cannot hold the run past it (the timeout of
    M(ansible.builtin.uri) bounds each read).
  - The answer's body is not read. A backend that gives no complete answer in time is RV(status) V(-1) with the
    reason in RV(msg); the module itself does not fail, so a loop over many backends reports every one.
  - The port_audit role asks each backend's health path with it, from the proxy that publishes the backend.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
attributes:
  platform:
    support: full
    platforms: posix
options:
  url:
    description: The C(http://) URL to ask (the proxies reach backends over plain HTTP).
    type: str
    required: true
  timeout:
    description: Seconds for the whole request.
    type: int
    default: 5
seealso:
  - module: ansible.builtin.uri
    description: Any method, HTTPS, bodies; its timeout bounds each read.
"""

EXAMPLES = r"""
- name: Ask a backend for its health path from the proxy
  portcullis.ports.health_check:
    url: http://10.0.0.5:8080/health
    timeout: 5
  delegate_to: proxy-1
  register: health

- name: Show it
  ansible.builtin.debug:
    msg: "{{ 'up' if health.status == 200 else 'down: ' ~ (health.msg or health.status) }}"
"""

RETURN = r"""
status:
  description: The HTTP status of the answer, or V(-1) when there was no complete answer in time.
  returned: always
  type: int
  sample: 200
msg:
  description: Why there is no status (refused, timed out, not HTTP); empty with a status.
  returned: always
  type: str
  sample: no complete answer within 5 s
elapsed:
  description: Seconds the request took.
  returned: always
  type: float
  sample: 0.012
url:
  description: The URL asked.
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _health


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout %d is not valid: expected 1 second or more" % module.params["timeout"])
    started = time.monotonic()
    status, detail = _health.get_status(module.params["url"], module.params["timeout"])
    module.exit_json(changed=False, status=-1 if status is None else status, msg=detail,
                     elapsed=round(time.monotonic() - started, 3), url=module.params["url"])


if __name__ == "__main__":
    main()
