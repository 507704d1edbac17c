# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attribute descriptions every module shares; modules state their support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and tell whether it would change anything, without changing it.
  diff_mode:
    description: Shows what changes (or would change, in check mode) when run with C(--diff).
  idempotent:
    description: A second run with the same arguments reports no change and leaves the target as it was.
  platform:
    description: The target systems the module can work on.
"""

    # For modules that only read the target.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module only reads the target; check mode returns the same result.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing, so there is nothing to diff.
  idempotent:
    support: full
"""

    # For modules that change the target: check mode, diff mode and idempotence in full.
    # What each module's check mode and diff show is in its own notes.
    CHANGES = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
"""

    # For modules that read or program the Linux kernel (/proc, netfilter).
    LINUX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: linux
"""
