#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_facts
short_description: Everything a run reads from a host before changing it, in one module execution
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Reads, in one round trip, what the collection's roles otherwise read in three - Ansible's facts, the
    installed packages and the audit's view of the host's ports. C(playbooks/site.yml) runs it first, on every
    host, registered as C(portcullis_host_facts). The roles then use that result instead of reading again (the
    packages role its package list, the port_audit role its listeners, published ports and ephemeral range, checked
    on the controller by the same rules as M(portcullis.ports.port_conflicts)), so an unchanged host costs fewer
    module executions. A role used on its own, without it, reads for itself.
  - Facts - the subsets of O(gather_subset), collected by Ansible's own fact collectors (those of
    M(ansible.builtin.setup)), are returned as RV(ansible_facts). Only facts go there - the package list and the
    listeners are plain results, which a fact cache never carries into a later run.
  - Packages - the names of the installed packages, from dpkg's database (C(dpkg-query)) or rpm's (C(rpm -qa)); no
    C(python3-apt) needed.
  - Ports - the live listeners (as M(portcullis.ports.listening_ports) returns them), the ports container runtimes
    publish by DNAT (from the nat table), the ephemeral port range with its reserved ports, and
    C(net.ipv6.bindv6only). A read that fails is listed in RV(ports.unknown), never passed as empty.
  - Read-only on the host. It needs root for the owners of other users' sockets and for the nat table.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.READ_ONLY
  - portcullis.ports.attributes.LINUX
options:
  gather_subset:
    description:
      - The fact subsets to collect, as in M(ansible.builtin.setup) (V(!all) and V(!min) leave out the defaults).
        The default holds what the collection's roles read - the OS family (C(distribution)) and the default
        IPv4 and IPv6 addresses (C(network)).
      - An empty list collects no facts.
    type: list
    elements: str
    default: ['!all', '!min', distribution, network]
  gather_timeout:
    description: Seconds each fact collector may take, as in M(ansible.builtin.setup).
    type: int
    default: 10
  packages:
    description: Read the installed packages.
    type: bool
    default: true
  ports:
    description: Read the listeners, the published ports, the ephemeral range and C(net.ipv6.bindv6only).
    type: bool
    default: true
  ignore_addresses:
    description:
      - Listener addresses left out of RV(ports.listening). Unset, Docker's embedded DNS (V(127.0.0.11)) when the
        target is a Docker container, as M(portcullis.ports.port_conflicts) does.
    type: list
    elements: str
seealso:
  - module: ansible.builtin.setup
  - module: portcullis.ports.port_conflicts
  - module: portcullis.ports.listening_ports
"""

EXAMPLES = r"""
# What playbooks/site.yml does first, in a play on every host: one read per host, used by the roles that follow.
- name: Facts, installed packages and ports, in one module execution
  portcullis.ports.host_facts:
  become: true
  register: portcullis_host_facts

- name: The installed packages only
  portcullis.ports.host_facts:
    gather_subset: []
    ports: false
  register: installed
"""

RETURN = r"""
ansible_facts:
  description: The facts of O(gather_subset), named as M(ansible.builtin.setup) names them.
  returned: always
  type: dict
  sample: {"os_family": "Debian", "default_ipv4": {"address": "10.0.0.2"}}
packages:
  description:
    - The names of the installed packages (dpkg's state C(ii)), sorted. Without C(dpkg-query) and C(rpm) the module
      fails, saying so.
  returned: when packages is true
  type: list
  elements: str
  sample: [nftables, openssh-server]
ports:
  description: The audit's view of the host's ports.
  returned: when ports is true
  type: dict
  contains:
    listening:
      description: The live listeners, as M(portcullis.ports.listening_ports) returns them; null when the socket
        tables cannot be read (RV(ports.unknown) says why).
      type: list
      elements: dict
    published:
      description: The ports published by DNAT, as M(portcullis.ports.port_conflicts) returns them.
      type: list
      elements: dict
    ephemeral_range:
      description: The ephemeral port range as V([low, high]), or null when it cannot be read.
      type: list
      elements: int
      sample: [32768, 60999]
    reserved:
      description: The ranges of C(net.ipv4.ip_local_reserved_ports), as V([low, high]) pairs.
      type: list
      elements: list
    bindv6only:
      description: Whether IPv6 sockets accept IPv6 only unless they say otherwise (C(net.ipv6.bindv6only)).
      type: bool
    ignore_addresses:
      description: O(ignore_addresses) as given (null when unset), so a caller can tell which listeners were left out.
      type: list
      elements: str
    unknown:
      description: What could not be read, as M(portcullis.ports.port_conflicts) lists it (C(check), C(services),
        C(message)); each is also a warning.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.facts import ansible_collector, default_collectors
from ansible.module_utils.facts.collector import CollectorNotFoundError, CycleFoundInFactDeps, UnresolvedFactDep
from ansible.module_utils.facts.namespace import PrefixFactNamespace

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _host_read

# What M(ansible.builtin.setup) collects unless told "!min"; the same here, so a subset list means the same to both.
MINIMAL_SUBSET = frozenset(["apparmor", "caps", "cmdline", "date_time", "distribution", "dns", "env", "fips", "local",
                            "lsb", "pkg_mgr", "platform", "python", "selinux", "service_mgr", "ssh_pub_keys", "user"])


def gather_facts(module):
    """The facts of the module's gather_subset, by Ansible's own collectors."""
    if not module.params["gather_subset"]:
        return {}
    try:
        collector = ansible_collector.get_ansible_collector(
            all_collector_classes=default_collectors.collectors,
            namespace=PrefixFactNamespace(namespace_name="ansible", prefix="ansible_"),
            filter_spec=[], gather_subset=module.params["gather_subset"],
            gather_timeout=module.params["gather_timeout"], minimal_gather_subset=MINIMAL_SUBSET)
    except (TypeError, CollectorNotFoundError, CycleFoundInFactDeps, UnresolvedFactDep) as error:
        module.fail_json(msg="gather_subset %s: %s" % (module.params["gather_subset"], error))
    facts = collector.collect(module=module)
    # Only what was asked for: the collector adds the subsets it was given, which a later setup would overwrite.
    facts.pop("gather_subset", None)
    facts.pop("module_setup", None)
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gather_subset=dict(type="list", elements="str", default=["!all", "!min", "distribution", "network"]),
            gather_timeout=dict(type="int", default=10),
            packages=dict(type="bool", default=True),
            ports=dict(type="bool", default=True),
            ignore_addresses=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def which(name):
        return module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])

    result = dict(changed=False, ansible_facts=gather_facts(module))
    if params["packages"]:
        try:
            result["packages"] = _host.installed_packages(module.run_command, which)
        except OSError as error:
            module.fail_json(msg="the installed packages could not be read: %s" % error)
        if result["packages"] is None:
            module.fail_json(msg="neither dpkg-query nor rpm is on this host: the installed packages cannot be read "
                                 "(set packages to false to read the rest)")
    if params["ports"]:
        ports = _host_read.read(module.run_command, which, params["ignore_addresses"])
        ports["ignore_addresses"] = params["ignore_addresses"]
        for item in ports["unknown"]:
            module.warn("unknown: %s" % item["message"])
        result["ports"] = ports
    module.exit_json(**result)


if __name__ == "__main__":
    main()
