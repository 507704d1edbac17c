#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: port_conflicts
short_description: Validate a port registry and report every conflict in it at once
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Checks the port registry of a host (the C(portcullis_services) inventory variable) and reports every
    conflict in one run, instead of stopping at the first.
  - Every entry is validated first (unknown keys, bad ports, protocols, bind addresses, ranges, domains,
    missing or duplicate names, and the proxy keys C(upstream) and C(proxy)) by the same rules every role and
    filter of the collection uses; invalid input fails with a message naming each bad entry, before anything else.
  - C(duplicate) - two services whose ports or ranges overlap on the same protocol with clashing bind addresses.
    V(0.0.0.0) clashes with every IPv4 address; V(::) with every IPv6 address and, unless the target sets
    C(net.ipv6.bindv6only), with IPv4 too. Different protocols never clash.
  - C(out_of_range) - a port outside the service's declared C(range).
  - C(ephemeral) - a declared port inside the target's ephemeral range (C(net.ipv4.ip_local_port_range)), where
    outgoing connections can take it first. Ports listed in C(net.ipv4.ip_local_reserved_ports) are exempt.
  - C(occupied) - with O(check_listening), a declared port held by a process other than the service's
    C(process) of the entry.
  - C(exposure) - with O(check_listening), a service listening wider than it is declared, for example a
    V(private) service (loopback only) heard on V(0.0.0.0), or a service declared on one address heard on a
    wildcard address.
  - C(published) - with O(check_listening), a port a container runtime publishes by DNAT (Docker's C(-p), read
    from the nat table) that no service declares, or that a service declares as a port of the host (C(publish)
    left at V(host)), so the firewall would not govern its forwarded path.
  - C(undeclared) - with O(check_listening), a live listener that no service accounts for. A service bound
    to a wildcard address accounts for listeners on every address of its port. Reported, but fails only with
    O(fail_on_undeclared).
  - A check whose input cannot be read is never passed silently - it is listed in RV(unknown) and warned about.
    Without root the owners of other users' sockets cannot be seen, so a C(process) expectation on them is
    unknown; an unreadable ephemeral range leaves the C(ephemeral) check unknown.
  - Overlaps are found by sorting and sweeping, so 10,000 services take a fraction of a second.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
  - portcullis.ports.attributes.LINUX
options:
  services:
    description:
      - The port registry, the C(portcullis_services) inventory variable - a list of mappings with the keys
        C(name) and C(port) (required), C(protocol), C(bind), C(range), C(environment), C(expose), C(allow_from),
        C(domain), C(process), C(upstream) and C(proxy), as documented in the collection's README
        (section "The port registry").
      - The module validates the entries itself so that every problem is reported at once and names its entry.
    type: list
    elements: raw
    required: true
  policy:
    description: Named ranges that override or extend the default allocation policy, as V(name) to V(start-end).
    type: dict
    default: {}
  check_listening:
    description: Also compare the registry with what really listens on the target.
    type: bool
    default: false
  fail_on_conflict:
    description: Fail when any conflict other than C(undeclared) is found (all of them are listed in one message).
    type: bool
    default: true
  ignore_addresses:
    description:
      - Listener addresses left out of the comparison and of RV(listening) (with O(check_listening)). Unset,
        Docker's embedded DNS (V(127.0.0.11)) when the target is a Docker container (the engine listens there for
        the container's processes; it is not the host's), as M(portcullis.ports.port_metrics) does.
    type: list
    elements: str
  fail_on_undeclared:
    description: Fail when C(undeclared) listeners are found, whatever O(fail_on_conflict) says.
    type: bool
    default: false
seealso:
  - module: portcullis.ports.listening_ports
  - plugin: portcullis.ports.port_ranges
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check the registry, and the live host against it
  portcullis.ports.port_conflicts:
    services: "{{ portcullis_services }}"
    policy: "{{ portcullis_port_policy | default({}) }}"
    check_listening: true
  become: true

- name: Report without failing, for a dashboard
  portcullis.ports.port_conflicts:
    services: "{{ portcullis_services }}"
    fail_on_conflict: false
  register: report

- name: Show them
  ansible.builtin.debug:
    msg: "{{ report.conflicts | map(attribute='message') }}"
"""

RETURN = r"""
conflicts:
  description: Every conflict found, duplicates first, then out-of-range, ephemeral, occupied, exposure and undeclared.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: One of V(duplicate), V(out_of_range), V(ephemeral), V(occupied), V(exposure), V(undeclared),
        V(published).
      type: str
      sample: duplicate
    port:
      description: The (first) port concerned.
      type: int
      sample: 8080
    protocol:
      description: V(tcp) or V(udp).
      type: str
      sample: tcp
    services:
      description: The names of the services involved (empty for C(undeclared)).
      type: list
      elements: str
      sample: [api, admin]
    message:
      description: A sentence that says what is wrong and where.
      type: str
      sample: "api and admin both use tcp port 8080 (0.0.0.0 and 127.0.0.1)"
    ports:
      description: For C(duplicate), the overlapping port or range.
      type: str
      returned: for duplicate
      sample: "8080"
    address:
      description: For C(occupied), C(exposure) and C(undeclared), the listener's address.
      type: str
      returned: for occupied, exposure and undeclared
      sample: "127.0.0.1"
    pid:
      description: For C(occupied), C(exposure) and C(undeclared), the listener's process id, or null.
      type: int
      returned: for occupied, exposure and undeclared
    process:
      description: For C(occupied), C(exposure) and C(undeclared), the listener's process name, or null.
      type: str
      returned: for occupied, exposure and undeclared
unknown:
  description:
    - Checks that could not be made because their input could not be read; each is also a warning. Never counted
      as passed.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: V(process) (a socket's owner is not visible), V(ephemeral) (the range is not readable) or
        V(published) (the nat table is not readable).
      type: str
      sample: process
    services:
      description: The services whose check is unknown.
      type: list
      elements: str
      sample: [web]
    message:
      description: What could not be read and what is therefore unknown.
      type: str
      sample: "the owner of tcp 0.0.0.0:80 is not visible here (without root, or held outside this PID namespace): that
        web is nginx is unknown"
services:
  description: How many services the registry holds.
  returned: always
  type: int
  sample: 21
registry:
  description:
    - The registry as given in O(services), so that a report made from another source (the inventory's plan) can
      tell whether it checked the same one.
  returned: success
  type: list
  elements: raw
ephemeral_range:
  description: The target's ephemeral port range, or null when it cannot be read.
  returned: always
  type: str
  sample: 32768-60999
listening:
  description: With O(check_listening), the live listeners as M(portcullis.ports.listening_ports) returns them.
  returned: when check_listening is true
  type: list
  elements: dict
published:
  description: With O(check_listening), the ports published by DNAT, from the nat table.
  returned: when check_listening is true
  type: list
  elements: dict
  contains:
    protocol:
      description: V(tcp) or V(udp).
      type: str
    port:
      description: The (first) published port.
      type: int
    end:
      description: The last port of a published range (the same as RV(published[].port) for one port).
      type: int
    to:
      description: Where the connections go, as the DNAT rule gives it.
      type: str
      sample: "172.17.0.2:80"
    chain:
      description: The nat chain holding the rule (C(DOCKER) for Docker).
      type: str
    family:
      description: V(ipv4) or V(ipv6).
      type: str
    address:
      description: The host address the rule is limited to, or null for every address.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _host_read, _listening
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError, build_policy, format_range


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # Entries are validated by ports._registry so that every bad one is named at once.
            services=dict(type="list", elements="raw", required=True),
            policy=dict(type="dict", default={}),
            check_listening=dict(type="bool", default=False),
            fail_on_conflict=dict(type="bool", default=True),
            fail_on_undeclared=dict(type="bool", default=False),
            ignore_addresses=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    ports = {}
    try:
        policy = build_policy(params["policy"])
        # The registry is checked before the host is read (its binds need bindv6only).
        services = _registry.validate(params["services"], policy, _listening.read_bindv6only())
        ports = _host_read.read(module.run_command, lambda name: module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"]),
                                params["ignore_addresses"], live=params["check_listening"], strict=True)
        conflicts, unknown = _host_read.verdict(services, policy, ports, live=params["check_listening"])
    except (_registry.RegistryError, PortSpecError, _listening.ListenerReadError) as error:
        module.fail_json(msg=str(error), conflicts=[], unknown=[])

    for item in unknown:
        module.warn("unknown: %s" % item["message"])
    result = dict(
        changed=False,
        conflicts=conflicts,
        unknown=unknown,
        services=len(services),
        registry=params["services"],
        ephemeral_range=format_range(tuple(ports["ephemeral_range"])) if ports["ephemeral_range"] else None,
    )
    if params["check_listening"]:
        result["listening"] = ports["listening"]
        result["published"] = ports["published"]
    failing = [item for item in conflicts if params["fail_on_undeclared" if item["kind"] == "undeclared" else "fail_on_conflict"]]
    if failing:
        module.fail_json(
            msg="%d port conflict(s): %s" % (len(failing), "; ".join(
                "[%s] %s" % (item["kind"], item["message"]) for item in failing)),
            **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
