# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every host-side feature shares: reading and atomically replacing the
files a module owns, running commands (argument lists, never a shell), and
finding the SSH session Ansible runs in.

The features (firewall, nginx, sshd, audit) import from here and from
``ports``; never from each other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def read(path, binary=False):
    """The file's content, or None when it is missing or unreadable."""
    try:
        with open(path, "rb" if binary else "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_atomic(path, data, mode=0o600):
    """Replace path with data (text or bytes) in one rename, so a reader sees
    the old file or the new one, never half of either."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".portcullis-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Runner:
    """Commands through the module; ``run_options`` go to every run_command."""

    def __init__(self, module, **run_options):
        self.module = module
        self.run_options = run_options

    def run(self, argv, data=None):
        return self.module.run_command(argv, data=data, **self.run_options)

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])


def find_ssh_session(environ=None, proc_root="/proc"):
    """The environment of the SSH session the module runs in (the one holding
    SSH_CONNECTION), or None. sudo drops it from the environment, so look at
    the parent processes too."""
    environ = os.environ if environ is None else environ
    if environ.get("SSH_CONNECTION"):
        return dict(environ)
    pid = os.getpid()
    for _depth in range(16):
        try:
            with open(os.path.join(proc_root, str(pid), "status")) as handle:
                pid = int(next(line.split()[1] for line in handle if line.startswith("PPid:")))
        except (IOError, OSError, StopIteration, ValueError):
            return None
        if pid <= 1:
            return None
        try:
            with open(os.path.join(proc_root, str(pid), "environ"), "rb") as handle:
                data = handle.read()
        except (IOError, OSError):
            continue
        values = dict(item.decode("utf-8", "replace").split("=", 1) for item in data.split(b"\0") if b"=" in item)
        if values.get("SSH_CONNECTION"):
            return values
    return None


def find_ssh_connection(environ=None, proc_root="/proc"):
    """SSH_CONNECTION of the session the module runs in, or None."""
    session = find_ssh_session(environ, proc_root)
    return session["SSH_CONNECTION"] if session else None
