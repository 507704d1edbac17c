# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Play keywords (serial, max_fail_percentage) from inventory variables.

Ansible templates a play keyword once for the play, before any host runs,
with the play's variables and extra vars but without any host's: a
``serial: "{{ portcullis_site_serial }}"`` never sees the variable in
group_vars/all, where AWX and Tower users put it. ``one_value`` reads the
variable from every host of the play (extra vars are in each host's
variables too) and gives the one value they agree on, or raises
PlayKeywordError naming the hosts and where the variable must go.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class PlayKeywordError(ValueError):
    pass


def _text(value):
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def one_value(hosts, variable, hostvars, default):
    """The value of ``variable`` that every host of ``hosts`` has in
    ``hostvars`` (``default`` when none has it)."""
    found = {}
    for host in hosts:
        variables = hostvars[host]
        value = variables[variable] if variable in variables else None
        found.setdefault(_text(value), (value, []))[1].append(host)
    if not found:
        return default
    if len(found) == 1:
        value = list(found.values())[0][0]
        return default if value is None else value

    def described(text, host_list):
        names = sorted(host_list)
        shown = ", ".join(names[:5]) + (" and %d more" % (len(names) - 5) if len(names) > 5 else "")
        return "%s on %s" % ("unset" if text == "null" else text, shown)

    groups = sorted(found.items(), key=lambda item: (-len(item[1][1]), item[0]))
    raise PlayKeywordError(
        "%s is %s: a play keyword has one value for the whole play (Ansible reads it before any host runs), so set "
        "it once, in group_vars/all of the inventory or as an extra var (-e), not per host or group"
        % (variable, "; ".join(described(text, host_list) for text, (_value, host_list) in groups)))
