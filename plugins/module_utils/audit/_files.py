# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text files written side by side in one directory, each replaced whole and
atomically (a new file in the same directory, then ``os.replace``), only
when its content or mode differs. The controller_files action writes the
port map's documents with it on the controller, where Ansible runs, without
a module execution per file.

``check`` validates the arguments (errors are FilesError naming the value),
``plan`` reads what is there and says what would change, ``apply`` makes
it so. Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import tempfile

from ansible_collections.portcullis.ports.plugins.module_utils import _values

# The argument spec of portcullis.ports.controller_files (its action plugin validates with it; the module's
# documentation describes it).
ARGUMENT_SPEC = dict(
    directory=dict(type="path", required=True),
    files=dict(type="dict", required=True),
    mode=dict(type="raw", default="0644"),
    directory_mode=dict(type="raw", default="0755"),
)

_MODE = _values.pattern(r"0?[0-7]{3}")
# A diff larger than this (bytes, either side) is left out of the diff, as Ansible's own
# max_file_size_for_diff default does.
MAX_DIFF_SIZE = 104448


class FilesError(ValueError):
    pass


def _mode(value, name):
    if isinstance(value, int) and not isinstance(value, bool):
        raise FilesError("%s %r is a number, which YAML may have read as decimal or octal: quote the octal mode, "
                         "such as '0644'" % (name, value))
    if not isinstance(value, str) or not _MODE.fullmatch(value):
        raise FilesError("%s %r is not a file mode: expected octal digits as a string, such as '0644'" % (name, value))
    return int(value, 8)


def check(directory, files, mode="0644", directory_mode="0755"):
    """``(directory, [(name, bytes)], mode, directory_mode)`` from the
    arguments: a directory (a relative one is made absolute against the
    working directory, the controller's where ansible-playbook runs), a non-empty mapping of plain file
    names (no ``/``, not ``.`` or ``..``) to text, octal modes as strings."""
    if not isinstance(directory, str) or not directory.strip() or "\0" in directory:
        raise FilesError("directory %r is not a path" % (directory,))
    directory = os.path.abspath(directory)
    if not isinstance(files, dict) or not files:
        raise FilesError("files must be a mapping of file names to their text, with at least one file, got %r"
                         % (files,))
    found = []
    for name in sorted(files):
        if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", ".."):
            raise FilesError("file name %r is not a plain file name (no '/', not '.' or '..')" % (name,))
        text = files[name]
        if not isinstance(text, str):
            raise FilesError("the content of %s must be text, got %s" % (name, type(text).__name__))
        found.append((name, text.encode("utf-8")))
    return directory, found, _mode(mode, "mode"), _mode(directory_mode, "directory_mode")


def _read(path):
    """``(bytes or None, mode or None)`` of a regular file; FilesError when the path is something else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None
    if not stat.S_ISREG(info.st_mode):
        raise FilesError("%s exists and is not a regular file: it is left alone" % path)
    with open(path, "rb") as handle:
        return handle.read(), stat.S_IMODE(info.st_mode)


def plan(directory, files, mode, directory_mode):
    """What ``apply`` would do, as ``{"directory": None or "create" or "mode", "files": [...]}``:
    each file ``{"name", "path", "before", "after", "content", "mode"}`` where ``content`` and
    ``mode`` say whether each differs."""
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise FilesError("%s exists and is not a directory" % directory)
    to_do = {"directory": None, "files": []}
    if not os.path.isdir(directory):
        to_do["directory"] = "create"
    elif stat.S_IMODE(os.stat(directory).st_mode) != directory_mode:
        to_do["directory"] = "mode"
    for name, after in files:
        path = os.path.join(directory, name)
        before, before_mode = _read(path) if to_do["directory"] != "create" else (None, None)
        to_do["files"].append({"name": name, "path": path, "before": before, "after": after,
                               "content": before != after, "mode": before_mode != mode})
    return to_do


def changed(to_do):
    return bool(to_do["directory"]) or any(item["content"] or item["mode"] for item in to_do["files"])


def diffs(to_do):
    """Ansible's diff entries, one per file that changes."""
    entries = []
    for item in to_do["files"]:
        if not (item["content"] or item["mode"]):
            continue
        before = item["before"] or b""
        if max(len(before), len(item["after"])) > MAX_DIFF_SIZE:
            entries.append({"before_header": item["path"], "after_header": item["path"],
                            "before": "", "after": "(larger than %d bytes: not shown)\n" % MAX_DIFF_SIZE})
            continue
        entries.append({"before_header": item["path"] if item["before"] is not None else "(absent)",
                        "after_header": item["path"],
                        "before": before.decode("utf-8", "replace"), "after": item["after"].decode("utf-8")})
    return entries


def apply(to_do, directory, mode, directory_mode):
    """Makes ``to_do`` so: the directory (with its parents), then every file that differs written whole to a new
    file in the same directory, and only when all are written, each moved over the old one. A reader never sees
    half a file, and a write that fails (disk full) leaves every old file as it was."""
    if to_do["directory"] == "create":
        os.makedirs(directory)
    if to_do["directory"]:
        os.chmod(directory, directory_mode)
    written = []
    try:
        for item in to_do["files"]:
            if item["content"]:
                handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + item["name"] + ".")
                written.append((temporary, item["path"]))
                with os.fdopen(handle, "wb") as out:
                    out.write(item["after"])
                os.chmod(temporary, mode)
    except BaseException:
        for temporary, _path in written:
            if os.path.exists(temporary):
                os.unlink(temporary)
        raise
    for temporary, path in written:
        os.replace(temporary, path)
    for item in to_do["files"]:
        if item["mode"] and not item["content"]:
            os.chmod(item["path"], mode)
