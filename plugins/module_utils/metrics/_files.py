# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the port_metrics module and its timer write files as root into
directories that other users may control, for a reader that is not root.

The textfile directory of node-exporter is often under a directory its user
owns (Debian makes ``/var/lib/prometheus`` the prometheus user's), so that
user can rename entries on the way or in it while root writes. Rules:

- the path is walked one component at a time from ``/`` with ``O_NOFOLLOW``;
  a symbolic link is followed only where it sits in a directory that only
  root can change (owned by root, no group or other write bit), else the
  write is refused naming it;
- missing directories are made and given mode 0755 on their own descriptor
  (``fchmod``), whatever the umask of the run;
- the temporary file is created in the target's directory through that
  directory's descriptor with ``O_CREAT | O_EXCL | O_NOFOLLOW``, written,
  given its mode with ``fchmod`` on its descriptor, and renamed within the
  same directory descriptor only when the name still refers to that file
  (else nothing is renamed and the write fails naming the directory).

So no write, chmod or rename of root's goes through a name another user can
point elsewhere: the worst such a user can do is replace entries in its own
directory, which it can do anyway.

``unreadable`` says whether a user (node-exporter's) can read a file there:
every directory on the way searchable, the file's directory listable, the
file readable, from the permission bits and owners (POSIX ACLs are not read).

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import grp
import os
import pwd
import stat

MAX_LINKS = 40
DIRECTORY_MODE = 0o755
TEMPORARY_PREFIX = ".portcullis-"


class UnsafePathError(OSError):
    """A path whose walk would follow a link another user controls, or whose temporary file was replaced."""


def _only_root_changes(info):
    """Whether only root can add, remove or rename entries of a directory with this stat."""
    return info.st_uid == 0 and not info.st_mode & 0o022


def _describe(info):
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return "%s, owner %s" % (stat.filemode(info.st_mode), owner)


def open_directory(path, create=False):
    """A descriptor of directory ``path`` (absolute), reached as described above; missing directories are made
    (mode 0755) when ``create``, else FileNotFoundError. The caller closes it."""
    if not os.path.isabs(path):
        raise UnsafePathError("%s is not an absolute path" % path)
    pending = [part for part in os.path.normpath(path).split("/") if part]
    where = "/"
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            here = os.path.join(where, name)
            created = False
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o700, dir_fd=fd)
                    created = True
                except FileExistsError:
                    pass
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                parent = os.fstat(fd)
                if not _only_root_changes(parent):
                    raise UnsafePathError("%s is a symbolic link in %s (%s), which another user than root can change: "
                                          "it is not followed" % (here, where, _describe(parent)))
                links += 1
                if links > MAX_LINKS:
                    raise UnsafePathError("%s: too many symbolic links" % path)
                target = os.path.normpath(os.path.join(where, os.readlink(name, dir_fd=fd)))
                pending = [part for part in target.split("/") if part] + pending
                os.close(fd)
                fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
                where = "/"
                continue
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
            where = here
            if created and os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, DIRECTORY_MODE)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _same(first, second):
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def write_file(path, data, mode):
    """Replace ``path`` with ``data`` (text or bytes) and permission bits ``mode`` in one rename, the reader seeing
    the old file or the new one, never half of either."""
    directory, name = os.path.split(os.path.normpath(path))
    data = data if isinstance(data, bytes) else data.encode("utf-8")
    dir_fd = open_directory(directory, create=True)
    try:
        while True:
            temporary = TEMPORARY_PREFIX + binascii.hexlify(os.urandom(6)).decode("ascii")
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dir_fd)
                break
            except FileExistsError:
                continue
        try:
            ours = os.fstat(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)
            os.fsync(fd)
            try:
                now = os.stat(temporary, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            if now is None or not _same(now, ours):
                holder = os.fstat(dir_fd)
                raise UnsafePathError("the temporary file %s was replaced while it was written: another user can "
                                      "change %s (%s); nothing was renamed" % (os.path.join(directory, temporary),
                                                                               directory, _describe(holder)))
            os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                if _same(os.stat(temporary, dir_fd=dir_fd, follow_symlinks=False), ours):
                    os.unlink(temporary, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)


def _reader(user):
    """``(uid, gids)`` of ``user``; ``(None, ())`` when it does not exist here (then only the bits for others count)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None, ()
    gids = set([entry.pw_gid])
    gids.update(group.gr_gid for group in grp.getgrall() if user in group.gr_mem)
    return entry.pw_uid, gids


def _allows(info, uid, gids, wanted):
    """Whether the permission bits of ``info`` give ``wanted`` (r=4, x=1, summed) to ``uid`` in ``gids``."""
    if uid == 0:
        return True
    if uid is not None and info.st_uid == uid:
        bits = info.st_mode >> 6
    elif info.st_gid in gids:
        bits = info.st_mode >> 3
    else:
        bits = info.st_mode
    return bits & wanted == wanted


def unreadable(path, user):
    """None when ``user`` can read the file ``path``, else why not, naming the first part of the path that stops
    it. Parts that do not exist yet are not judged (``write_file`` makes directories 0755)."""
    uid, gids = _reader(user)
    who = user if uid is not None else "other users (%s does not exist here)" % user
    path = os.path.normpath(path)
    directory = os.path.dirname(path)
    steps = []
    current = "/"
    for part in [part for part in directory.split("/") if part]:
        steps.append((current, 1))
        current = os.path.join(current, part)
    steps += [(directory, 5), (path, 4)]
    for step, wanted in steps:
        try:
            info = os.stat(step)
        except OSError:
            return None
        if not _allows(info, uid, gids, wanted):
            return "%s is not readable by %s (%s)" % (step, who, _describe(info))
    return None
