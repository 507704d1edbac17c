#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: reachability
short_description: Probe from the target which registry flows are open and which are closed
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Runs on a vantage host (a bastion, a probe container, any inventory host) and probes each flow of O(flows)
    from there - a destination address, port and protocol with the expectation V(open) or V(closed). The flows of
    the registry come from the P(portcullis.ports.reachability_flows#filter) filter; the role
    C(portcullis.ports.reachability) runs both. Probing changes nothing, so check mode probes too.
  - B(TCP) is probed with a connect and the O(timeout); nothing is written on the connection, which is closed at
    once. The result is V(open) (connected), V(refused) (a reset or an ICMP port unreachable - nothing listens,
    or a firewall rejects), V(filtered) (no answer within the timeout; an ICMP unreachable such as a firewall's
    reject with admin-prohibited; or this host's own firewall refusing to send it) or V(error) (no route to the
    address, or another local error).
  - B(UDP) has no handshake, so silence proves nothing. Only ports where a request any client may send gets a
    reply are probed, with that request - 53 (a DNS query for the root zone's NS records) and 123 (an SNTP client
    request) - where a reply is V(open), an ICMP port unreachable V(refused) and silence V(filtered). Every other
    UDP flow, and every flow with C(probe=false), is V(not_probed) - counted apart, never as passed.
  - A flow passes when an V(open) flow is found V(open), or a V(closed) flow V(refused) or V(filtered). An
    V(open) flow found V(refused) has the firewall letting it in and nothing listening, or a rejecting firewall.
    An V(error) never passes.
  - The module fails, naming every flow that did not pass (its C(why), address, expectation and result), unless
    O(fail_on_mismatch=false).
  - Bounded - it sends traffic only to the addresses of O(allowed_targets) (the inventory's), at most
    O(max_probes) probes, O(concurrency) at a time, each waiting at most O(timeout). Every flow is checked first;
    a bad flow, a target outside O(allowed_targets) or more probes than O(max_probes) fail before anything is
    sent. The worst case takes about (probes / concurrency) x timeout seconds.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
  - portcullis.ports.attributes.LINUX
options:
  flows:
    description:
      - The flows to probe, as P(portcullis.ports.reachability_flows#filter) returns them.
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description: The IP address to probe (no host names, nothing is resolved).
        type: str
        required: true
      port:
        description: The port, 1 to 65535.
        type: int
        required: true
      protocol:
        description: V(tcp) or V(udp).
        type: str
        choices: [tcp, udp]
        default: tcp
      expect:
        description: V(open) (a connection must succeed) or V(closed) (it must not).
        type: str
        choices: [open, closed]
        required: true
      host:
        description: The inventory host the address belongs to, for messages.
        type: str
      why:
        description: Why the flow is expected so (the registry entry), named in messages.
        type: str
      service:
        description: The registry service, if any.
        type: str
      kind:
        description: What the filter derived the flow from (V(public), V(allowed), V(denied), ...); reported back.
        type: str
      probe:
        description: V(false) reports the flow as V(not_probed) without sending anything.
        type: bool
        default: true
  allowed_targets:
    description:
      - The only addresses probes may go to, as addresses or CIDR networks; the inventory's addresses
        (P(portcullis.ports.inventory_addresses#filter)). A flow to be probed to any other address fails the module
        before anything is sent; a flow that is not probed is only reported.
    type: list
    elements: str
    required: true
  timeout:
    description: Seconds each probe waits for a connection (TCP) or a reply (UDP); more than 0, at most 60.
    type: float
    default: 2.0
  concurrency:
    description: How many probes run at the same time (threads), 1 to 256.
    type: int
    default: 32
  max_probes:
    description:
      - The most probes one run sends; more fail the module before anything is sent. Flows that are not probed
        do not count.
    type: int
    default: 2000
  fail_on_mismatch:
    description: Fail when a flow does not pass. With V(false) the mismatches are only returned.
    type: bool
    default: true
seealso:
  - module: portcullis.ports.firewall
  - module: portcullis.ports.listening_ports
notes:
  - No privileges are needed. Run it where the probes should come from; the source address is the one the
    vantage's routing picks for each target.
  - A host probing its own addresses goes over loopback, which the firewall accepts; the filter leaves the vantage
    out of the targets.
"""

EXAMPLES = r"""
- name: Probe what the registry says, from this host
  portcullis.ports.reachability:
    flows: >-
      {{ groups['all'] | portcullis.ports.reachability_flows(hostvars=hostvars, groups=groups,
                                                            vantage=inventory_hostname) }}
    allowed_targets: "{{ groups['all'] | portcullis.ports.inventory_addresses(hostvars=hostvars, groups=groups) }}"

- name: Two flows by hand, half a second each, without failing
  portcullis.ports.reachability:
    flows:
      - {host: db, address: 10.0.0.13, port: 5432, expect: open, why: "db:5432/tcp postgresql connects_to from api"}
      - {host: db, address: 10.0.0.13, port: 6379, expect: closed, why: "db:6379/tcp undeclared"}
      - {host: dns, address: 10.0.0.2, port: 53, protocol: udp, expect: open}
    allowed_targets: [10.0.0.0/24]
    timeout: 0.5
    fail_on_mismatch: false
  register: reach

- name: Show the ones that differ
  ansible.builtin.debug:
    msg: "{{ reach.mismatches }}"
"""

RETURN = r"""
flows:
  description: Each flow as checked, in the order given, with what its probe found.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The inventory host, as given.
      type: str
      sample: orchestrator.internal
    address:
      description: The address probed.
      type: str
      sample: 172.30.90.12
    port:
      description: The port probed.
      type: int
      sample: 8000
    protocol:
      description: V(tcp) or V(udp).
      type: str
      sample: tcp
    expect:
      description: V(open) or V(closed).
      type: str
      sample: open
    why:
      description: Why, as given.
      type: str
      sample: "orchestrator.internal:8000/tcp orchestrator internal: allow_from proxies"
    result:
      description: V(open), V(refused), V(filtered), V(error) or V(not_probed).
      type: str
      sample: refused
    detail:
      description: What the result means here (the error, the timeout, why it was not probed).
      type: str
      sample: "nothing listening, or rejected: a TCP reset or an ICMP port unreachable"
    ok:
      description: Whether the result meets the expectation; null when not probed.
      type: bool
      sample: false
    elapsed_ms:
      description: Milliseconds the probe took (0 when not probed).
      type: int
      sample: 3
counts:
  description: How many flows found each result, and how many passed, failed and were probed.
  returned: always
  type: dict
  sample: {flows: 12, probed: 11, open: 5, refused: 4, filtered: 2, error: 0, not_probed: 1, ok: 10, mismatch: 1}
mismatches:
  description: One message per flow that did not pass, naming it.
  returned: always
  type: list
  elements: str
  sample:
    - "orchestrator.internal:8000/tcp orchestrator internal: allow_from proxies [172.30.90.12]: expected open, got
      refused (nothing listening, or rejected: a TCP reset or an ICMP port unreachable)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _reachability


def main():
    module = AnsibleModule(argument_spec=_reachability.argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        errors = _reachability.check_limits(params["timeout"], params["concurrency"], params["max_probes"])
        if errors:
            raise _reachability.ReachabilityError(errors)
        flows = _reachability.check_flows(params["flows"], params["allowed_targets"], params["max_probes"])
    except _reachability.ReachabilityError as error:
        module.fail_json(msg=str(error), errors=error.errors)
    results = _reachability.probe_all(flows, params["timeout"], params["concurrency"])
    counts, mismatches = _reachability.summary(results)
    result = dict(changed=False, flows=results, counts=counts, mismatches=mismatches)
    if mismatches and params["fail_on_mismatch"]:
        message = "%d of %d flows differ from the registry: %s" % (len(mismatches), len(results), "; ".join(mismatches))
        module.fail_json(msg=message, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
