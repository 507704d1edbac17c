# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.portcullis.ports.plugins.module_utils import _host


def test_ssh_connection_found_in_a_parent(tmp_path):
    proc = tmp_path / "proc"
    for pid, parent, environ in ((os.getpid(), 200, b"HOME=/root\0"), (200, 100, b"SUDO_USER=x\0"),
                                 (100, 1, b"USER=a\0SSH_CONNECTION=192.0.2.1 1234 192.0.2.2 22\0")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "status").write_text("Name:\tx\nPPid:\t%d\n" % parent)
        (proc / str(pid) / "environ").write_bytes(environ)
    assert _host.find_ssh_connection({}, str(proc)) == "192.0.2.1 1234 192.0.2.2 22"
    assert _host.find_ssh_connection({"SSH_CONNECTION": "a b c d"}, str(proc)) == "a b c d"
