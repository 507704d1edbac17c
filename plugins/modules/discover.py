#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: discover
short_description: Read what a server that grew by hand does today, to draft its port registry
version_added: 0.2.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Reads, without changing anything, what the adoption of a running server needs to draft its
    C(portcullis_services) (the P(portcullis.ports.registry_draft#filter) filter writes the draft from it).
  - What listens, with the process and the bind address, read from the kernel as
    M(portcullis.ports.listening_ports) reads it.
  - The ports container runtimes publish (C(docker ps), C(podman ps)) and the container behind each. A published
    port of Docker is reported open to every source unless Docker's C(DOCKER-USER) chain holds rules, which make it
    V(unknown).
  - The firewall in force, as who may reach each port (RV(services[].exposure)) - from C(ufw status verbose) when
    ufw is active, the zones of C(firewall-cmd) when firewalld runs, the input base chains of
    C(nft -j list ruleset) (but the tables iptables-nft writes) and the INPUT chain of C(iptables-save). A rule
    this module does not understand makes the ports it may touch V(unknown), never open or closed.
  - nginx's server blocks from C(nginx -T) - names, listen ports, TLS, redirects, and each location's upstream
    servers. nginx itself is the only parser needed on the host.
  - The SSH port (C(sshd -T), else the listener of process sshd).
  - The TCP connections established now and the connected UDP sockets and, with O(window), over a sampling
    window; with the C(conntrack) tool also those DNATed to containers, those that closed a moment ago and UDP
    flows (TCP connections that were never answered are left out; a UDP flow without a reply, one-way by design
    like syslog, counts out of the host, and into it to a UDP listener or a DNAT).
  - What could not be read is listed in RV(unknown), with a warning each.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
  - portcullis.ports.attributes.LINUX
options:
  window:
    description:
      - Seconds over which connections are sampled; V(0) reads them once.
    type: int
    default: 0
  samples:
    description:
      - How many times connections are read over O(window) (the first at once, the last at its end).
    type: int
    default: 1
seealso:
  - module: portcullis.ports.listening_ports
  - module: portcullis.ports.port_conflicts
notes:
  - Run as root (C(become)), which the processes of other users, C(sshd -T), C(nft), C(iptables-save) and
    C(conntrack) need. Without root, what these would give is reported in RV(unknown).
"""

EXAMPLES = r"""
- name: What this server does today, with connections sampled over a minute
  portcullis.ports.discover:
    window: 60
    samples: 7
  become: true
  register: found

- name: The ports open to everyone
  ansible.builtin.debug:
    msg: "{{ found.services | selectattr('exposure.state', 'equalto', 'open') | map(attribute='port') | list }}"
"""

RETURN = r"""
listening:
  description: Every listening socket, as M(portcullis.ports.listening_ports) returns them.
  returned: always
  type: list
  elements: dict
services:
  description: One entry per listening protocol and port and per port a container runtime publishes.
  returned: always
  type: list
  elements: dict
  contains:
    protocol:
      description: V(tcp) or V(udp).
      type: str
    port:
      description: The (first) port.
      type: int
      sample: 4020
    end:
      description: The last port of a published range; the port otherwise.
      type: int
    bind:
      description: The address it listens on, as the registry's C(bind) writes it.
      type: str
      sample: 0.0.0.0
    processes:
      description: The names of the processes holding it (empty for a published container port).
      type: list
      elements: str
    pids:
      description: The pids of the processes holding it (empty when they are not visible, and for a published port).
      type: list
      elements: int
    publish:
      description: V(host) or V(dnat) (a container runtime publishes it).
      type: str
    container:
      description: For a published port, the C(runtime), C(name), C(image) and container C(port); else null.
      type: dict
    exposure:
      description:
        - Who may reach it. C(state) is V(open) (every source), V(some) (only C(sources)), V(closed), V(private)
          (loopback only), V(none) (no firewall in force) or V(unknown); C(evidence) lists the rules that decided;
          C(by_policy) is true when it is open only because a policy accepts what no rule names.
      type: dict
      sample: {state: some, sources: [172.30.100.0/24], by_policy: false, evidence: ["ufw: 4020/tcp ALLOW IN 172.30.100.0/24"]}
containers:
  description: The containers of docker and podman with their published ports.
  returned: always
  type: list
  elements: dict
firewall:
  description: The firewall managers found (C(managers)) and each input layer read (C(layers)) with its rules.
  returned: always
  type: dict
nginx:
  description:
    - nginx's server blocks, each with C(file), C(listen) (C(address), C(port), C(ssl)), C(names), C(tls),
      C(certificate), C(redirect) (C(code), C(target)) and C(locations) (C(path), C(match), C(proxy_pass),
      C(upstreams), C(known)).
  returned: always
  type: list
  elements: dict
ssh:
  description: The SSH C(ports) and the C(evidence) they were read from.
  returned: always
  type: dict
  sample: {ports: [22], evidence: sshd -T}
addresses:
  description: The host's addresses.
  returned: always
  type: list
  elements: str
connections:
  description:
    - Connections seen, one per C(direction) (V(in) to this host, V(out) from it), C(protocol), C(client),
      C(server) and C(port); C(to) is the container a DNATed connection went to, C(via) where it was seen
      (V(socket), V(conntrack), V(conntrack-one-way) for a UDP flow that got no reply), C(samples) in how many
      reads.
    - For a connection from this host's own socket, C(process) is the client's process name and C(pids) its pid
      followed by its parents' up to (without) init; the draft hangs the connection on the entry of the nearest
      of them that listens. Otherwise C(process) is null and C(pids) empty.
  returned: always
  type: list
  elements: dict
unknown:
  description: What could not be read (C(check), C(message)), each also a warning.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _discover


def main():
    module = AnsibleModule(
        argument_spec=dict(
            window=dict(type="int", default=0),
            samples=dict(type="int", default=1),
        ),
        supports_check_mode=True,
    )
    runner = _host.Runner(module, environ_update={"LC_ALL": "C"})
    try:
        found = _discover.discover(runner.run, runner.which, module.params["window"], module.params["samples"])
    except _discover.DiscoverError as error:
        module.fail_json(msg=str(error))
    for item in found["unknown"]:
        module.warn("unknown: %s" % item["message"])
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
