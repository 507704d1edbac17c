#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: firewall
short_description: Enforce a whole firewall rule set, atomically, in a scope the module owns
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - The task states the whole rule set. The module makes the host's ruleset in its own scope equal to it; it adds
    what is missing and removes what is not declared, including rules added by hand inside its scope.
  - Everything outside its scope is left alone, so Docker, kube-proxy and fail2ban tables and chains survive.
  - With nftables the scope is C(table inet portcullis), replaced in one C(nft -f) transaction after an
    C(nft -c) check; the module never flushes the whole ruleset.
  - With iptables the scope is the chains C(PORTCULLIS-INPUT), C(PORTCULLIS-OUTPUT) and C(PORTCULLIS-FORWARD) of
    the filter table, jumped to first from the built-in chains, replaced with C(iptables-restore --noflush) and
    C(ip6tables-restore --noflush) after a C(--test) run.
  - Established and related connections, loopback and essential ICMP and ICMPv6 are accepted before the rules
    unless switched off.
  - Every value is validated before anything runs on the host; a failed apply leaves the previous ruleset.
  - Idempotent - after each apply the module records what it rendered and what the kernel then listed, in
    C(/var/lib/portcullis/). A run is unchanged only when both still match, so drift made by hand shows as a change
    (also in check mode) and is removed.
  - Before applying, it checks that a new SSH connection like the one Ansible uses (C(SSH_CONNECTION)) would
    still be accepted, and refuses otherwise.
  - With O(rollback_timeout), the previous ruleset is restored on the host after that many seconds unless the
    controller confirms over a new connection (the action plugin does this), so a rule set that cuts the
    connection undoes itself.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
  - portcullis.ports.attributes.LINUX
options:
  rules:
    description:
      - The whole rule set, in order (the first matching rule decides).
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description:
          - A port number, a V(start-end) range, a service name (V(ssh), V(postgresql)), a policy range name, or a list
            of them, resolved like P(portcullis.ports.port_ranges#filter). Leave it out to match every port.
        type: raw
      protocol:
        description: The protocol; V(both) means TCP and UDP.
        type: str
        choices: [tcp, udp, both, icmp]
        default: tcp
      source:
        description:
          - Source address or CIDR, or a list of them. IPv4 and IPv6 entries are split into rules of their own
            family. Leave it out to match any source.
        type: raw
      destination:
        description: Destination address or CIDR, or a list of them, as for O(rules[].source).
        type: raw
      direction:
        description: V(in) for the input chain, V(out) for the output chain.
        type: str
        choices: [in, out]
        default: in
      action:
        description: What to do with matching packets.
        type: str
        choices: [accept, drop, reject]
        default: accept
      rate_limit:
        description: Only match up to this rate, for example V(10/second) or V(10/second burst 20).
        type: str
      log:
        description: Log matching packets with this prefix (printable ASCII, no quotes or backslashes, at most 29 characters).
        type: str
      comment:
        description: A comment kept with the rule (printable ASCII, no quotes or backslashes, at most 128 characters).
        type: str
  policy:
    description:
      - What happens to packets no rule matches, per chain. Chains left out keep their defaults,
        V(input=drop), V(output=accept), V(forward=accept).
      - The forward default is V(accept) because Docker and kube-proxy route their containers' traffic through it;
        set V(forward=drop) on hosts that route nothing.
    type: dict
    default: {}
  port_policy:
    description: Named port ranges that override or extend the defaults, for range names in O(rules[].port).
    type: dict
    default: {}
  backend:
    description: Which firewall to program; V(auto) prefers nftables.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  persist:
    description:
      - Also write the ruleset where the distribution loads it at boot and enable that service. For nftables,
        C(/etc/nftables.d/portcullis.nft) included from C(/etc/nftables.conf) and C(nftables.service); for iptables,
        C(/etc/iptables/rules.v4) and C(rules.v6) of iptables-persistent (an existing file not written by this module
        is never replaced).
    type: bool
    default: true
  protect_ssh:
    description: Refuse a rule set that would drop a new SSH connection like the one Ansible uses.
    type: bool
    default: true
  rollback_timeout:
    description:
      - Seconds after which the host restores the previous ruleset unless the controller confirms over a new
        connection. V(0) turns it off.
    type: int
    default: 0
  allow_established:
    description: Accept packets of established and related connections first, and drop invalid ones.
    type: bool
    default: true
  allow_loopback:
    description: Accept traffic on the loopback interface.
    type: bool
    default: true
  allow_icmp:
    description: Accept the ICMP and ICMPv6 messages networks need (unreachable, too big, time exceeded, echo, neighbour discovery).
    type: bool
    default: true
  state:
    description: V(absent) removes everything the module owns, including its boot files.
    type: str
    choices: [present, absent]
    default: present
  confirm:
    description: Internal, set by the action plugin to confirm an apply armed with O(rollback_timeout).
    type: str
seealso:
  - module: portcullis.ports.port_conflicts
  - module: ansible.builtin.iptables
    description: One rule per task, no removal of undeclared rules.
notes:
  - Check mode renders the rule set and compares it with the live one, so it reports the same change a real run would
    make; nothing is written. The diff shows the live ruleset of the module's scope before and the declared one after.
  - Needs root and C(CAP_NET_ADMIN). Needs C(nft), or C(iptables-restore) and C(ip6tables-restore).
"""

EXAMPLES = r"""
- name: Web server with SSH from the admin network
  portcullis.ports.firewall:
    rules:
      - {port: ssh, source: 203.0.113.0/24, comment: admin ssh}
      - {port: [http, https], comment: public web}
      - {port: 5432, source: [10.0.1.5, "2001:db8::5"], comment: app to db}
      - {port: 8000-8010, source: 10.0.0.0/8, rate_limit: 10/second burst 20}
      - {protocol: icmp, action: drop, source: 198.51.100.0/24, log: "icmp-bad "}
  become: true

- name: Apply, and roll back by itself unless Ansible can still reconnect within 60 seconds
  portcullis.ports.firewall:
    rules: "{{ my_rules }}"
    rollback_timeout: 60
  become: true

- name: Remove everything the module owns
  portcullis.ports.firewall:
    state: absent
  become: true
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
rules:
  description: How many rules were declared.
  returned: always
  type: int
  sample: 12
ruleset_changed:
  description: Whether the live ruleset of the module's scope was (or in check mode would be) replaced.
  returned: always
  type: bool
boot_changed:
  description: Boot files written, and C(service:NAME) for a service enabled.
  returned: always
  type: list
  elements: str
  sample: [/etc/nftables.d/portcullis.nft]
rollback_token:
  description: The token of the armed rollback, confirmed by the action plugin.
  returned: when rollback_timeout is set and the ruleset changed
  type: str
diff:
  description: The live ruleset before and the declared one after, when the ruleset changes.
  returned: when the ruleset changes
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply as _firewall
from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.firewall._backends import BackendError
from ansible_collections.portcullis.ports.plugins.module_utils.firewall._rules import RuleError


def main():
    module = AnsibleModule(argument_spec=_firewall.argument_spec(), supports_check_mode=True)
    # Options the user left out arrive as None from the suboption spec; drop them
    # so the rules keep only what was said.
    params = dict(module.params)
    params["rules"] = [dict((key, value) for key, value in rule.items() if value is not None)
                       for rule in module.params["rules"]]
    firewall = _firewall.Firewall(_host.Runner(module, binary_data=True, encoding="utf-8"), params)
    try:
        result = firewall.run(module.check_mode)
    except (RuleError, BackendError, _firewall.FirewallError) as error:
        module.fail_json(msg=str(error))
    for warning in firewall.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
