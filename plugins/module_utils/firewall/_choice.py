# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every firewall backend by name, and which one a host gets: the one place
the firewall module and the metrics collector read them from.

``auto`` keeps a distribution's manager in charge when one is active
(firewalld running, then ufw active: the baselines that require them, and
the tools that call them, keep working) and otherwise prefers nftables, then
iptables. With ``other_firewalls: takeover`` the user asked for the host to
be handed to the module's own table, so ``auto`` never picks a manager then.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _firewalld
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _others
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _ufw

BACKENDS = {
    _backends.Nftables.name: _backends.Nftables,
    _backends.Iptables.name: _backends.Iptables,
    _firewalld.Firewalld.name: _firewalld.Firewalld,
    _ufw.Ufw.name: _ufw.Ufw,
}
# The managers ``auto`` keeps in charge, in this order, with how to see that one is active.
MANAGERS = (("firewalld", _others.find_firewalld), ("ufw", _others.find_ufw))
# The module's own tables, in ``auto``'s order of preference.
TABLES = ("nftables", "iptables")


def _make(runner, name):
    """The backend, or the reason it cannot be used here (BackendError)."""
    backend = BACKENDS[name](runner)
    if not backend.usable():
        raise _backends.BackendError("the %s backend %s" % (name, backend.unusable))
    return backend


def select_backend(runner, wanted="auto", takeover=False):
    """The backend to use: ``wanted``, or for ``auto`` the active manager
    (unless ``takeover``), else nftables, else iptables. BackendError names
    why none can be used."""
    if wanted != "auto":
        return _make(runner, wanted)
    if not takeover:
        for name, find in MANAGERS:
            if find(runner):
                return _make(runner, name)
    reasons = []
    for name in TABLES:
        try:
            return _make(runner, name)
        except _backends.BackendError as error:
            reasons.append(str(error))
    raise _backends.BackendError("no usable firewall backend: " + "; ".join(reasons))


def other_backends(runner, backend):
    """The other backends whose tools work here, in a stable order: a scope
    of theirs may be left from a run with another backend, and goes."""
    found = []
    for name in sorted(BACKENDS):
        if name == backend.name:
            continue
        try:
            other = BACKENDS[name](runner)
        except _backends.BackendError:
            continue
        if other.usable():
            found.append(other)
    share_chains(backend, found)
    return found


def share_chains(backend, others):
    """The iptables chains PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING are
    written by the iptables backend and by the managers' forward part: only
    one scope lists and removes each chain, the backend in charge's first,
    then the iptables backend's, then the other managers' in order."""
    claimed = set(backend.iptables_chains())
    for other in sorted(others, key=lambda item: item.name != _backends.Iptables.name):
        other.cede(claimed)
        claimed |= set(other.iptables_chains())
