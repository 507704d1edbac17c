# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import tempfile

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _files


def mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.fixture
def searchable():
    """A directory every user can reach (pytest's tmp_path is under a 0700 one)."""
    path = tempfile.mkdtemp(dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def test_missing_directories_and_the_file_get_their_modes_whatever_the_umask(tmp_path, umask_027):
    path = tmp_path / "a" / "textfile" / "portcullis.prom"
    _files.write_file(str(path), "x 1\n", 0o644)
    assert path.read_text() == "x 1\n"
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "textfile"), mode(path)) == (0o755, 0o755, 0o644)
    # Replaced in one rename; no temporary file is left.
    _files.write_file(str(path), b"x 2\n", 0o600)
    assert path.read_text() == "x 2\n" and mode(path) == 0o600
    assert os.listdir(str(path.parent)) == ["portcullis.prom"]


def test_an_existing_directory_keeps_its_mode(tmp_path):
    (tmp_path / "textfile").mkdir(mode=0o700)
    os.chmod(str(tmp_path / "textfile"), 0o700)
    _files.write_file(str(tmp_path / "textfile" / "m.prom"), "", 0o644)
    assert mode(tmp_path / "textfile") == 0o700


def test_a_temporary_file_swapped_for_a_link_is_neither_chmodded_through_nor_renamed(tmp_path, monkeypatch):
    """The race of issue 27 (fault 6), made certain: the owner of the directory replaces the temporary file by a
    link to a file of root's between its creation and its chmod."""
    directory = tmp_path / "textfile"
    directory.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("secret")
    os.chmod(str(victim), 0o600)
    real_write = os.write
    swapped = []

    def write_then_swap(fd, data):
        name = os.readlink("/proc/self/fd/%d" % fd)
        if name.startswith(str(directory) + "/" + _files.TEMPORARY_PREFIX) and not swapped:
            temporary = name.split(" (deleted)")[0]
            os.unlink(temporary)
            os.symlink(str(victim), temporary)
            swapped.append(temporary)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_then_swap)
    with pytest.raises(_files.UnsafePathError, match="was replaced while it was written: another user can change"):
        _files.write_file(str(directory / "portcullis.prom"), "x 1\n", 0o644)
    monkeypatch.undo()
    assert swapped and mode(victim) == 0o600
    assert not (directory / "portcullis.prom").exists()


def test_a_link_in_a_directory_another_user_can_change_is_not_followed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(str(shared), 0o777)
    os.symlink(str(tmp_path / "elsewhere"), str(shared / "textfile"))
    with pytest.raises(_files.UnsafePathError, match="shared/textfile is a symbolic link in .*shared .*drwxrwxrwx"):
        _files.write_file(str(shared / "textfile" / "portcullis.prom"), "x 1\n", 0o644)
    assert os.listdir(str(tmp_path / "elsewhere")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="a directory only root can change needs root")
def test_a_link_in_a_directory_only_root_can_change_is_followed(tmp_path):
    (tmp_path / "real").mkdir()
    os.chmod(str(tmp_path), 0o755)
    os.symlink("real", str(tmp_path / "textfile"))
    _files.write_file(str(tmp_path / "textfile" / "portcullis.prom"), "x 1\n", 0o644)
    assert (tmp_path / "real" / "portcullis.prom").read_text() == "x 1\n"


def test_a_relative_path_is_refused():
    with pytest.raises(_files.UnsafePathError, match="not an absolute path"):
        _files.open_directory("var/lib")


@pytest.mark.parametrize("directory_mode, file_mode, blocked", [
    (0o755, 0o644, None),
    (0o750, 0o644, "textfile"),
    (0o751, 0o644, "textfile"),
    (0o755, 0o640, "textfile/portcullis.prom"),
])
def test_what_the_exporter_user_cannot_read_is_named(searchable, directory_mode, file_mode, blocked):
    directory = os.path.join(searchable, "textfile")
    os.mkdir(directory)
    path = os.path.join(directory, "portcullis.prom")
    open(path, "w").close()
    os.chmod(directory, directory_mode)
    os.chmod(path, file_mode)
    problem = _files.unreadable(path, "nobody")
    if blocked is None:
        assert problem is None
    else:
        assert problem.startswith("%s/%s is not readable by nobody (" % (searchable, blocked)), problem


def test_a_directory_on_the_way_without_search_for_others_is_named(searchable):
    os.chmod(searchable, 0o700)
    path = os.path.join(searchable, "textfile", "portcullis.prom")
    # The textfile directory is not there yet (not judged), but the one above it stops the reader.
    assert _files.unreadable(path, "nobody").startswith("%s is not readable by nobody (drwx------" % searchable)


def test_a_user_that_does_not_exist_is_judged_as_other_users(searchable):
    os.chmod(searchable, 0o750)
    problem = _files.unreadable(os.path.join(searchable, "m.prom"), "no-such-user-here")
    assert problem.startswith("%s is not readable by other users (no-such-user-here does not exist here)"
                              % searchable), problem


def test_root_reads_everything(tmp_path):
    os.chmod(str(tmp_path), 0o700)
    assert _files.unreadable(str(tmp_path / "m.prom"), "root") is None
