# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the network plan is made from, read out of a play's ``hostvars`` and
``groups`` on the controller, as plain data, and its fingerprint.

Only the inventory variables the plan reads are read (``INPUTS``: each
host's registry, its addresses and the plan's host settings), each once per
host and call, through ``hostvars[host]`` (which templates them); nothing
else of a host is touched, so a host outside the play needs no facts unless
its address is known only from them. The result holds plain Python types
(no Ansible tagged values), so it hashes the same in every process and the
plan built from it can be cached for the run (``_plan.cached``).

Where a registry must live: the planners read other hosts' registries from
``hostvars``, which hold inventory variables and facts but not a play's
``vars``/``vars_files`` or role and task variables. ``check_seen`` refuses,
naming the host and the place to put it, when what a role sees on its own
host is not what ``hostvars`` hold for that host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.portcullis.ports.plugins.module_utils import _values

REGISTRY_VARIABLE = "portcullis_services"
ADDRESS_VARIABLE = "portcullis_address"
# The gathered default addresses, used when neither portcullis_address nor an IP ansible_host is given.
FACT_ADDRESSES = ("ansible_default_ipv4", "ansible_default_ipv6")
# "Not given", as opposed to None ("undefined where the role runs").
UNSET = object()


class InventoryError(ValueError):
    pass


def _plain(value):
    """``value`` as plain JSON types (Ansible's tagged strings, lists and mappings become str, list, dict)."""
    return json.loads(json.dumps(value, default=str))


def read(hostvars, groups, settings, policy=None):
    """``{"hosts": {host: {variable: value}}, "groups": {...}, "policy": {...}}``
    for every host of ``hostvars``: its registry, ``portcullis_address``,
    ``ansible_host``, the address of each default-route fact, and each of
    ``settings`` (inventory variable names) it defines. Undefined variables
    are left out. Raises InventoryError naming the host and the variable
    whose value cannot be templated."""
    return read_with_fingerprint(hostvars, groups, settings, policy)[0]


def read_with_fingerprint(hostvars, groups, settings, policy=None):
    """``(inputs, fingerprint)``: ``read``, and the digest of what it read, from one serialisation."""
    if not hasattr(hostvars, "keys") or not hasattr(hostvars, "__getitem__"):
        raise InventoryError("hostvars must be the play's hostvars (a mapping of hosts to their variables), got %s"
                             % _values.describe(hostvars))
    if groups is not None and not isinstance(groups, dict):
        raise InventoryError("groups must be the play's groups (a mapping of group names to hosts), got %s"
                             % _values.describe(groups))
    names = (REGISTRY_VARIABLE, ADDRESS_VARIABLE, "ansible_host") + tuple(settings)
    hosts = {}
    for host in sorted(hostvars.keys(), key=str):
        variables = hostvars[host]
        found = {}
        for name in names + FACT_ADDRESSES:
            if name not in variables:
                continue
            try:
                value = variables[name]
            except Exception as error:  # a template that fails: Ansible's own error, named
                raise InventoryError("host %s: %s cannot be read: %s" % (host, name, error))
            if name in FACT_ADDRESSES:
                value = value.get("address") if isinstance(value, dict) else None
            found[name] = value
        if not any(name in found for name in FACT_ADDRESSES) and "ansible_facts" in variables:
            # Facts not injected as variables (INJECT_FACTS_AS_VARS off): read them where they are.
            facts = variables["ansible_facts"]
            for name in FACT_ADDRESSES:
                fact = facts.get(name[len("ansible_"):]) if isinstance(facts, dict) else None
                if isinstance(fact, dict) and fact.get("address"):
                    found[name] = fact["address"]
        hosts[str(host)] = found
    text = json.dumps({"hosts": hosts, "groups": dict(groups or {}), "policy": policy or {}}, default=str,
                      sort_keys=True, separators=(",", ":"))
    return json.loads(text), hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(inputs):
    """A digest of plain ``inputs``: equal inputs, equal digests, in every process."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_seen(inputs, host, variable, seen, what="plan"):
    """Refuse, naming the host and where to put it, when ``seen`` (the value of
    ``variable`` as a role on ``host`` sees it; None when undefined there)
    differs from what ``hostvars`` hold for the host."""
    if seen is UNSET:
        return
    found = inputs["hosts"].get(host, {}).get(variable)
    seen = _plain(seen)
    if seen != found and (seen or found):  # unset, null and empty agree
        raise InventoryError(
            "%s of %s is set where other hosts cannot read it (a play's vars or vars_files, or a role, block or "
            "task variable): the %s is made from every host's inventory variables (hostvars). Define it in the "
            "inventory instead: host_vars/%s.yml, group_vars, or the inventory file" % (variable, host, what, host))
