# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the audit reads from a host to check its registry against it: the
live listeners, the ports container runtimes publish by DNAT, the ephemeral
port range with its reserved ports, and ``net.ipv6.bindv6only``. One reader
for port_conflicts (which checks on the host) and host_facts (whose read the
controller's audit checks), so both check the same things."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts, _listening, _published


def kept(listeners, ignore_addresses=None):
    """``listeners`` without those on ``ignore_addresses``; None (unset) leaves out Docker's embedded DNS
    inside a Docker container (the engine listens there for the container's processes, not the host)."""
    if ignore_addresses is None:
        ignore_addresses = [_host.DOCKER_EMBEDDED_DNS] if _host.in_docker_container() else []
    return [item for item in listeners if item["address"] not in ignore_addresses]


def read(run, which, ignore_addresses=None, proc_root="/proc", live=True, strict=False):
    """``{listening, published, ephemeral_range, reserved, bindv6only, unknown}``
    of this host. ``run(argv) -> (rc, out, err)``, ``which(name) -> path or
    None``. ``ephemeral_range`` is ``[low, high]``, or None when it cannot be
    read (then ``unknown`` says so); ``reserved`` the reserved ranges as
    ``[low, high]`` pairs. ``listening`` is None when the socket tables
    cannot be read (``unknown`` says why; with ``strict`` the
    ListenerReadError is raised instead). Without ``live`` neither the
    listeners nor the published ports are read (both None)."""
    ephemeral, reserved = _conflicts.read_ephemeral(proc_root)
    unknown = [] if ephemeral is not None else [dict(_conflicts.EPHEMERAL_UNKNOWN)]
    listeners = published = None
    published_unknown = []
    if live:
        try:
            listeners = kept(_listening.listening(proc_root), ignore_addresses)
        except _listening.ListenerReadError as error:
            if strict:
                raise
            unknown.append({"check": "listening", "services": [],
                            "message": "the listeners could not be read (%s): no live check was made" % error})
        published, published_unknown = _published.read(run, which)
    return {
        "listening": listeners,
        "published": published,
        "ephemeral_range": list(ephemeral) if ephemeral else None,
        "reserved": [list(item) for item in reserved],
        "bindv6only": _listening.read_bindv6only(proc_root),
        "unknown": unknown + published_unknown,
    }


def verdict(services, policy, ports, live=True):
    """port_conflicts' rules over a host read (``read``'s result) and a
    validated registry, wherever they run (the module on the host, the audit
    on the controller for host_facts' read): ``(conflicts, unknown)``, the
    conflicts in the order of ``_conflicts.KINDS`` then the published ones,
    the read's unknowns then the live check's. ``live`` checks the listeners
    too (the audit checks those itself, against the freshest read of the run)."""
    ephemeral = tuple(ports["ephemeral_range"]) if ports.get("ephemeral_range") else None
    reserved = [tuple(item) for item in ports.get("reserved") or []]
    conflicts, live_unknown = _conflicts.find_conflicts(services, policy, ephemeral, reserved,
                                                        ports.get("listening") if live else None)
    if ports.get("published") is not None:
        conflicts += _published.check(services, ports["published"])
    return conflicts, list(ports.get("unknown") or []) + live_unknown
