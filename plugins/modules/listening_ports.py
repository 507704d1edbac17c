#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: listening_ports
short_description: List what really listens on the target, read from the kernel
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Reads the kernel's socket tables C(/proc/net/tcp), C(tcp6), C(udp) and C(udp6), and finds the processes
    holding each socket through C(/proc/<pid>/fd). Needs no C(ss), C(netstat) or C(psutil), so it works in
    minimal containers.
  - A TCP socket listens when it is in the LISTEN state; a UDP socket counts when it is bound to a port and has
    no peer.
  - A socket held by several processes (pre-fork servers), and several sockets on one port (C(SO_REUSEPORT)),
    give one entry per socket and process.
  - Whether an IPv6 wildcard socket also accepts IPv4 (C(IPV6_V6ONLY) off) is read per socket from the
    C(sock_diag) netlink interface; where that is unavailable the host default
    C(/proc/sys/net/ipv6/bindv6only) is assumed.
  - Processes that cannot be inspected (another user's, when not root, or gone meanwhile) leave C(pid),
    C(process) null rather than failing; RV(unknown) says so, with a warning (without root, other users' sockets;
    as root, sockets held outside this PID namespace or by the kernel), so a consumer never takes a null owner
    for "no process".
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
  - portcullis.ports.attributes.LINUX
options:
  protocol:
    description: Only sockets of this protocol.
    type: str
    choices: [tcp, udp, both]
    default: both
  family:
    description: Only sockets of this address family.
    type: str
    choices: [ipv4, ipv6, both]
    default: both
  port:
    description:
      - Only these ports. Each item is a port number, a V(start-end) range, a service name or a policy range
        name, as for P(portcullis.ports.port_ranges#filter).
    type: list
    elements: raw
  address:
    description:
      - Only sockets bound to these addresses or inside these networks (CIDR). V(0.0.0.0) and V(::) match the
        wildcard sockets themselves, not every address.
    type: list
    elements: str
seealso:
  - module: portcullis.ports.port_conflicts
  - module: community.general.listen_ports_facts
    description: Does the same by running C(ss) or C(netstat) and parsing their output.
notes:
  - Run as root (C(become)) to see the processes of every user.
"""

EXAMPLES = r"""
- name: Everything that listens
  portcullis.ports.listening_ports:
  register: live

- name: Who holds the web ports
  portcullis.ports.listening_ports:
    protocol: tcp
    port: [http, https, 8000-8999]
  register: web

- name: Show them
  ansible.builtin.debug:
    msg: "{{ web.listening | map(attribute='process') | unique }}"

- name: Listeners on loopback only
  portcullis.ports.listening_ports:
    address: [127.0.0.0/8, "::1"]
"""

RETURN = r"""
listening:
  description: The listening sockets, one entry per socket and process, sorted by protocol, port and address.
  returned: always
  type: list
  elements: dict
  contains:
    protocol:
      description: V(tcp) or V(udp).
      type: str
      sample: tcp
    family:
      description: V(ipv4) or V(ipv6).
      type: str
      sample: ipv6
    address:
      description: The bound address in full text form (IPv6 compressed as RFC 5952 says, never truncated).
      type: str
      sample: "::"
    port:
      description: The port number.
      type: int
      sample: 22
    dual_stack:
      description: True for an IPv6 wildcard socket that also accepts IPv4 connections.
      type: bool
      sample: true
    pid:
      description: The process holding the socket, or null when it cannot be found.
      type: int
      sample: 812
    process:
      description: The process name (C(/proc/<pid>/comm), at most 15 characters), or null.
      type: str
      sample: sshd
    cmdline:
      description: The process's command line, empty when unknown.
      type: list
      elements: str
      sample: ["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"]
    user:
      description: The user that owns the socket (its name, or the uid when it has none).
      type: str
      sample: root
    inode:
      description: The socket's inode number; the same socket held by several processes shares it.
      type: int
      sample: 18352
unknown:
  description: What could not be read, each also a warning; empty when run as root.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: V(process) - the owners of some sockets are not visible here.
      type: str
    message:
      description: How many sockets are affected.
      type: str
      sample: "the processes of 3 of 7 listening sockets are not visible (they cannot be read without root): their pid,
        process and cmdline are null"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            protocol=dict(type="str", choices=["tcp", "udp", "both"], default="both"),
            family=dict(type="str", choices=["ipv4", "ipv6", "both"], default="both"),
            port=dict(type="list", elements="raw"),
            address=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    try:
        wanted = _listening.ListenerFilter(module.params["protocol"], module.params["family"],
                                           module.params["port"], module.params["address"])
    except PortSpecError as error:
        module.fail_json(msg=str(error))
    try:
        found = _listening.listening(protocols=wanted.protocols)
    except _listening.ListenerReadError as error:
        module.fail_json(msg=str(error))
    listening = [entry for entry in found if wanted.matches(entry)]
    unknown = _listening.unknown_owners(listening)
    for item in unknown:
        module.warn("unknown: %s" % item["message"])
    module.exit_json(changed=False, listening=listening, unknown=unknown)


if __name__ == "__main__":
    main()
