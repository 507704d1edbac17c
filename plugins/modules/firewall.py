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
    the filter table, jumped to from C(INPUT), C(OUTPUT) and C(DOCKER-USER) (the chain Docker sends every forwarded
    packet through first and never flushes; created and jumped to from C(FORWARD) when Docker has not), and
    C(PORTCULLIS-PREROUTING) of the mangle table, jumped to from C(PREROUTING); replaced with
    C(iptables-restore --noflush) and C(ip6tables-restore --noflush) after a C(--test) run.
  - Where those jumps stand is part of the state. Each (and C(FORWARD)'s jump to C(DOCKER-USER)) must come before
    every rule of its chain that can accept (C(ACCEPT), or a jump to a chain that can; a ban chain cannot), in both
    families. When something puts such a rule above one (C(systemctl restart docker) does with Docker 20.10's
    ip6tables rules), the next run, check mode included, reports a change naming those rules, and the apply moves
    the jump back to the top; the metrics' C(firewall_drift) shows it between runs.
  - Accepting is never final, so ban tools keep precedence. In nftables a drop in any base chain wins; the iptables
    chains end an accepted packet with C(RETURN), so a fail2ban, sshguard or crowdsec ban in C(INPUT) still applies,
    whether the ban tool started before or after the apply.
  - Forwarded traffic is governed too, by what a connection is, never by an interface name. Rules with
    O(rules[].direction=forward) match forwarded connections on the port and address the client sent (the conntrack
    original destination, so the port a runtime publishes, before its DNAT). With O(policy) C(dnat=drop) (the
    default), two kinds of new connection are dropped unless such a rule accepts them.
  - Published ports - a connection sent to an address of this host (as the routing table says before any DNAT, with
    C(fib daddr type local), or C(addrtype LOCAL) with iptables; the module keeps that as bit C(0x20000000) of the
    conntrack mark and leaves the other bits alone) and then DNATed and forwarded, whichever runtime DNATed it (Docker
    with any bridge name, Podman with CNI or netavark, a Kubernetes hostPort or NodePort) and wherever it goes. DNAT to
    an address that is not the host's (a kube-proxy service address) follows C(forward).
  - Routed to a container - a connection forwarded without DNAT into a bridge (where container runtimes put their
    containers) from an interface that is not a bridge, such as a neighbour that routes a container subnet via the
    host and connects to a container's own address. Containers' own connections come from a bridge and pass, to
    the outside and to each other. nftables tells bridges by their kind (C(meta iifkind), C(meta oifkind)) at every
    packet; iptables cannot match a kind, so it names the bridges present at the run (a bridge made later is
    covered from the next run), and says so in a warning at every run.
  - What the C(dnat) policy cannot govern on the host as found is named in a warning at every run - a default route
    through a bridge (connections from it look like containers' own), containers routed one by one through veth
    interfaces with no bridge (as Calico does), interfaces that cannot be read. The rules hold after
    C(systemctl restart docker) and for containers started after the apply.
  - Before anything changes it looks for other firewalls that would make the rules ineffective - ufw active,
    firewalld running, another nftables base chain on the input or output hook with a drop policy or a drop of
    everything, iptables-legacy rules that drop while the module writes nftables - and fails naming each and the
    way out (O(other_firewalls)). Ban tools, which drop only the addresses they ban, are not reported.
  - Switching O(backend) removes the other backends' scopes (and boot files) in the same run.
  - Established and related connections, loopback, essential ICMP and ICMPv6 (with router advertisements and
    neighbour discovery) and the replies of the host's DHCP client (O(allow_dhcp)) are accepted before the rules
    unless switched off.
  - "With the output policy V(drop), what every host needs keeps working: loopback, replies on established
    connections (the SSH session, the rollback confirmation, which arrives over a new inbound SSH connection), DNS
    to the host's resolvers (O(allow_dns)), and the DHCP client's requests (O(allow_dhcp)). Anything else the host
    connects to (package mirrors, NTP servers, other hosts' services) needs an output rule: O(rules[].direction=out)."
  - Every value is validated before anything runs on the host; a failed apply leaves the previous ruleset.
  - Idempotent - after each apply the module records what it rendered and what the kernel then listed, in
    C(/var/lib/portcullis/). A run is unchanged only when both still match, so drift made by hand shows as a change
    (also in check mode) and is removed.
  - Before applying, it checks every chain the SSH session Ansible uses (C(SSH_CONNECTION)) crosses, in both
    directions and either address family - the client's packets in the input chain and, with
    O(allow_established=false), the server's replies in the output chain - and refuses naming the chain and rule.
  - Once the new ruleset is live, a later failure (a state or boot file that cannot be written) still reports
    C(changed) and says what was left as it was. A state file that cannot be read is rebuilt by applying again,
    with a warning.
  - With O(rollback_timeout), the previous ruleset is restored on the host after that many seconds unless the
    controller confirms over a new connection (the action plugin does this), so a rule set that cuts the
    connection undoes itself. The timer starts once the apply has ended (however long a firewalld reload and the
    wait for Docker's chains took), so the whole timeout is the controller's to confirm in. Should the module's
    process die during the apply (killed, or its session cut), a guard timer started before the apply restores
    all the same, O(rollback_timeout) seconds after the apply began or once the process is gone. The restore puts back
    only what the module owns - other tools' rules and bans (fail2ban's, also those made while the rollback was
    pending) stay; with O(backend=firewalld) it reloads firewalld, then adds back the runtime bans there when it
    runs, and hooks the forward chains again once Docker has made its chains; with O(backend=ufw) it cuts the
    rules of ours out of ufw's files as they are then and puts the previous ones back. The module's state
    becomes the previous one too, so the next run reports the difference between the registry and what is in
    force.
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
          - An IPv4-mapped IPv6 address (V(::ffff:10.77.0.1)) is refused, naming it - it would be an IPv6 rule that
            IPv4 packets never match; write the IPv4 address.
        type: raw
      destination:
        description: Destination address or CIDR, or a list of them, as for O(rules[].source).
        type: raw
      destination_name:
        description:
          - A DNS name, or a list of them, resolved on the host (its own resolver, C(getaddrinfo), both families) at
            every run; the addresses join O(rules[].destination) and are returned in RV(resolved).
          - Names are resolved before anything changes. After each run the addresses of each name are recorded in
            C(/var/lib/portcullis/firewall-names.json); a name that stops resolving keeps that last good set, with a
            warning naming it (RV(names_kept)), so a run can still apply the rule that makes DNS work again. A name
            with no recorded set that does not resolve fails the run before anything changes, naming it.
          - An answer no rule should go to - unspecified, loopback, multicast, link-local or IPv4-mapped - fails the
            run, naming the name and the answer.
          - When the answer changes (a CDN, a round-robin name) the next run replaces the rule set, so run the role
            regularly (or give CIDRs) for destinations whose addresses move.
        type: raw
      direction:
        description:
          - V(in) for the input chain, V(out) for the output chain.
          - V(forward) for forwarded connections (published ports, containers' addresses) - O(rules[].port) and
            O(rules[].destination) match the port and address the client connected to (before any DNAT),
            O(rules[].source) the client.
        type: str
        choices: [forward, in, out]
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
        V(input=drop), V(output=accept), V(forward=accept), V(dnat=drop).
      - The forward default is V(accept) because Docker and kube-proxy route their containers' traffic through it;
        set V(forward=drop) on hosts that route nothing.
      - C(dnat) is for new forwarded connections no forward rule accepts that were sent to an address of this host
        and DNATed (published ports, whatever the runtime or bridge name), or routed without DNAT into a bridge
        from an interface that is not one (a container reached by its own address); V(drop) closes them. DNAT to an
        address that is not the host's (kube-proxy services) and other routed traffic follow C(forward).
    type: dict
    default: {}
  port_policy:
    description: Named port ranges that override or extend the defaults, for range names in O(rules[].port).
    type: dict
    default: {}
  backend:
    description:
      - Which firewall to program. V(auto) keeps the distribution's manager in charge when one is active (firewalld
        running, else ufw active - V(firewalld) or V(ufw) then), and otherwise picks nftables, else iptables. With
        O(other_firewalls=takeover) V(auto) never picks a manager - it picks nftables or iptables and takes the
        host over.
      - Switching backends removes the old backend's scope in the same run - every backend's whose tools work here.
        A manager's scope (firewalld's objects) goes while it still runs, before a takeover stops it; a table's after
        the new rule set is live. The scope of a firewalld that is not running cannot be read, and is left.
      - V(firewalld) keeps firewalld in charge (it must be running). The scope is firewalld's objects named
        C(portcullis*) - the zone C(portcullis) (made the default zone; the one before is set back by
        O(state=absent)) holds the input rules, the policy C(portcullis-out) (C(HOST) to C(ANY)) the output rules,
        ipsets C(portcullis-in-N), C(portcullis-out-N) and C(portcullis-out-N-dst) a rule's several sources or
        destinations. They are written as XML files under C(/etc/firewalld), checked with
        C(firewall-cmd --check-config) and loaded with C(firewall-cmd --reload),
        so permanent and runtime agree; a failed reload puts the previous files back. Other zones, policies, services
        and ipsets (fail2ban's, Docker's) are left alone, and so are rich rules in our zone that only reject or drop
        (fail2ban's firewallcmd-rich-rules bans), which firewalld runs before ours, so a ban holds on every port. A
        port added by hand to the zone (runtime or permanent) is drift - reported and removed by the next run. The
        diff shows C(firewall-cmd --info-zone) and the files.
      - With V(firewalld) and V(ufw), forwarded and published-container traffic - O(rules[].direction=forward), the
        C(forward) and C(dnat) policies - is governed exactly as with V(iptables), by its chains C(PORTCULLIS-FORWARD)
        (hooked from C(DOCKER-USER)) and C(PORTCULLIS-PREROUTING) (mangle), written by the iptables backend's own code.
        Docker publishes ports with iptables(-nft) DNAT rules and passes every forwarded packet through
        C(DOCKER-USER) first; neither firewalld's zones and policies (firewalld accepts every DNATed connection) nor
        ufw's route rules see those packets before Docker's own rules accept them, so C(DOCKER-USER) is the one place
        all four backends can govern them. The manager stays in charge of input and output. The chains are written
        only when there is something forward to say (a forward rule, C(forward=drop) or C(dnat=drop)); otherwise
        they are removed. The diff shows them after the manager's lines. With O(persist) the module's unit loads only
        these chains at boot (C(/etc/portcullis/forward.v4), C(forward.v6)); the manager loads its own rules. They
        need iptables; without it only the C(dnat) policy can be left unenforced (a warning says so), a forward rule
        or C(forward=drop) is refused.
      - firewalld (1.3, also with its nftables backend) flushes every iptables chain when it starts or reloads. The
        module writes the forward chains after its own reload, its unit starts after C(firewalld.service) and waits
        until firewalld has started, and a drop-in of C(firewalld.service) runs it again whenever firewalld starts
        or reloads through systemd. A C(firewall-cmd --reload) run by hand removes them until the next run, which
        reports it and writes them again (a warning says so).
      - With V(firewalld), a rate limit burst is refused before anything changes.
        Traffic through an interface or
        source bound to another zone follows that zone; a warning names it at every run. Established, related and
        loopback traffic are always accepted and invalid packets dropped by firewalld itself. A reload drops the
        runtime-only changes of other tools; it runs only when our objects change, and the bans other tools
        added at runtime (fail2ban's rich rules in any zone, direct rules) are added back after it - they are not
        drift either.
      - "V(ufw) keeps ufw in charge (it must be active; the module does not enable it). The rules become ufw rules
        whose comment starts with C(portcullis) (C(portcullis: COMMENT) when the rule has one), in the registry's
        order, in C(/etc/ufw/user.rules) and C(user6.rules); ufw's own C(before.rules) still accept established,
        loopback, ICMP and DHCP replies. V(out) rules become C(ufw allow out) rules; no C(ufw route) rule is made
        (forward rules go to C(PORTCULLIS-FORWARD), as above)."
      - "With V(ufw) the scope is the marked rules plus any unmarked rule that opens something (C(allow), C(limit)):
        a C(ufw allow) made by hand shows as a change and is removed. Unmarked C(deny) and C(reject) rules (fail2ban's
        and sshguard's ufw actions) are left where they are, above ours. O(state=absent) removes the marked rules only."
      - With V(ufw) the whole set is computed by ufw itself in a scratch copy of its files (C(ufw --datadir)), checked
        with C(iptables-restore --test), installed and loaded with one C(iptables-restore -n) per family, the way
        ufw loads its user chains; a failure puts the previous files back. C(ufw default) policies are set only for
        the chains O(policy) names (then loaded by C(ufw reload)). ufw loads its files at boot; O(persist) adds the
        module's unit only for the forward chains.
      - With V(ufw), a C(') in O(rules[].comment) is written as a backquote (ufw refuses quotes in comments).
      - With V(ufw), ICMP rules, O(rules[].rate_limit) and O(rules[].log) on input and output rules are refused (ufw
        cannot say them); forward rules can have them (they are iptables rules).
      - The diff and check mode show C(ufw) command lines per address family.
    type: str
    choices: [auto, nftables, iptables, firewalld, ufw]
    default: auto
  persist:
    description:
      - Load the ruleset at boot with the module's own unit, C(portcullis-firewall.service), which loads only the
        module's scope (C(/etc/portcullis/firewall.nft), or C(firewall.v4) and C(firewall.v6) with
        C(iptables-restore --noflush)) and never flushes other tools' tables or chains.
      - When C(nftables.service) is installed, a drop-in makes it load and remove only the tables
        C(/etc/nftables.conf) declares (its C(flush ruleset) and its stop would delete Docker's, fail2ban's and the
        module's tables). C(/etc/nftables.conf) itself is not edited; after an edit, C(nftables.service) refuses to
        start until the module runs again.
      - Files earlier versions wrote (C(/etc/nftables.d/portcullis.nft), C(/etc/iptables/rules.v4) and C(rules.v6)
        when marked as written by this module) are removed; files not written by the module are never touched (the
        include line earlier versions added to C(/etc/nftables.conf) stays, since a user may include that directory too).
      - A table C(/etc/nftables.conf) declares that iptables-nft also uses (C(ip nat), C(ip filter), ...) is never
        deleted by the scoped C(nftables.service) (that would delete Docker's rules); the run warns, naming it.
      - V(false) removes what an earlier run set up for boot (the unit is disabled), so a reboot does not bring back
        an older rule set.
    type: bool
    default: true
  other_firewalls:
    description:
      - What to do when another firewall would make the rules ineffective.
      - V(fail) stops before anything changes, naming it and the way out.
      - V(takeover) hands the host to the registry - ufw and firewalld are disabled in the same change, and enabled
        again when the apply fails or its rollback runs. Other findings (a foreign nftables chain, iptables-legacy
        rules) still fail, since the module does not own them.
      - V(warn) applies anyway and warns; the network may then not do what the rules say.
    type: str
    choices: [fail, takeover, warn]
    default: fail
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
  allow_dns:
    description:
      - With the output policy V(drop), accept DNS (TCP and UDP port 53) to the resolvers the host uses, before the
        rules. They are read from C(/etc/resolv.conf) at every run. Behind a local stub on loopback, the servers it
        forwards to as well - systemd-resolved (V(127.0.0.53), V(127.0.0.54)) from
        C(/run/systemd/resolve/resolv.conf); dnsmasq (the process listening there) from its command line,
        C(conf-file), C(conf-dir), C(server=), C(servers-file) and C(resolv-file). Docker's embedded DNS
        (V(127.0.0.11)) needs none. Any other stub (unbound, named) is named in a warning; declare its servers with
        a rule. Returned in RV(resolvers).
    type: bool
    default: true
  allow_dhcp:
    description:
      - Accept the host's DHCPv4 and DHCPv6 client exchanges, so a lease is renewed and the address kept. The replies
        to a multicast Solicit or a broadcast Discover never match the request in conntrack, so they are accepted in
        by their ports - DHCPv4 UDP 67 to 68, DHCPv6 UDP 547 to 546 between link-local addresses.
      - With the output policy V(drop), the requests are accepted out from the client port to the server port of the
        exchange's addresses only - DHCPv4 68 to 67 of V(255.255.255.255) and of the servers named in the host's
        leases (systemd-networkd, NetworkManager, dhclient; renewals go to them by unicast), DHCPv6 546 to 547 of
        V(ff02::1:2). Returned in RV(dhcp_servers).
      - A DHCPv6 server that tells clients to renew by unicast to its global address (the Server Unicast option) is
        not known; its clients fall back to multicast when that fails.
    type: bool
    default: true
  state:
    description: V(absent) removes everything the module owns, for both backends, including its boot unit and files.
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
  - Needs root and C(CAP_NET_ADMIN). Needs C(nft), or C(iptables-restore) and C(ip6tables-restore), or a running
    firewalld (1.0 or later, for policies) with C(firewall-cmd).
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
  description: Boot files written or removed, C(daemon-reload), C(service:NAME) for a unit enabled and
    C(disable:NAME) for one disabled.
  returned: always
  type: list
  elements: str
  sample: [/etc/portcullis/firewall.nft, /etc/systemd/system/portcullis-firewall.service, daemon-reload,
           "service:portcullis-firewall.service"]
removed_scope:
  description: The other backends whose scope (left from a run with them) was removed, comma-separated, or null.
  returned: always
  type: str
  sample: iptables
took_over:
  description: The other firewalls disabled with O(other_firewalls=takeover).
  returned: always
  type: list
  elements: str
  sample: [ufw]
resolved:
  description: The addresses each O(rules[].destination_name) resolved to in this run.
  returned: always
  type: dict
  sample: {"sii.cl": ["200.10.252.55"]}
names_kept:
  description: The names that did not resolve in this run, with the last good addresses kept for them.
  returned: always
  type: dict
  sample: {"api.example.com": ["192.0.2.44"]}
resolvers:
  description: The DNS servers accepted out with the output policy V(drop) and O(allow_dns).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.2"]
dhcp_servers:
  description: The IPv4 DHCP servers of the host's leases, accepted out with the output policy V(drop) and O(allow_dhcp).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.1"]
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
        # What was found before the failure is still said.
        for warning in firewall.warnings:
            module.warn(warning)
        module.fail_json(msg=str(error), changed=getattr(error, "changed", False))
    for warning in firewall.warnings:
        module.warn(warning)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
