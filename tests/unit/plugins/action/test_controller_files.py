# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""portcullis.ports.controller_files: the files' logic on a real directory,
and the action as ansible-playbook runs it (check mode, diff, idempotence,
bad values named before anything is written), with no module run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _files as files


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def write(directory, contents, mode="0644", directory_mode="0755", check_mode=False):
    checked = files.check(str(directory), contents, mode, directory_mode)
    to_do = files.plan(*checked)
    if files.changed(to_do) and not check_mode:
        files.apply(to_do, checked[0], checked[2], checked[3])
    return to_do


@pytest.mark.parametrize("arguments, named", [
    (("", {"a": "x"}), "directory '' is not a path"),
    ((None, {"a": "x"}), "directory None is not a path"),
    (("/tmp/x", {}), "at least one file"),
    (("/tmp/x", {"../a": "x"}), "'../a' is not a plain file name"),
    (("/tmp/x", {"..": "x"}), "'..' is not a plain file name"),
    (("/tmp/x", {"a": 3}), "the content of a must be text"),
    (("/tmp/x", {"a": "x"}, "644x"), "mode '644x' is not a file mode"),
    (("/tmp/x", {"a": "x"}, 420), "mode 420 is a number"),
    (("/tmp/x", {"a": "x"}, "0644", "rwx"), "directory_mode 'rwx' is not a file mode"),
])
def test_bad_values_are_named(arguments, named):
    with pytest.raises(files.FilesError) as error:
        files.check(*arguments)
    assert named in str(error.value)


def test_a_relative_directory_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(str(tmp_path))
    assert files.check("reports/map", {"a": "x"})[0] == str(tmp_path / "reports" / "map")


def test_creates_the_directory_and_writes_each_file_once(tmp_path):
    directory = tmp_path / "a" / "map"
    to_do = write(directory, {"m.md": "# map\n", "m.html": "<p>map</p>\n"})
    assert to_do["directory"] == "create"
    assert (directory / "m.md").read_text() == "# map\n"
    assert mode_of(directory / "m.html") == 0o644 and mode_of(directory) == 0o755
    again = write(directory, {"m.md": "# map\n", "m.html": "<p>map</p>\n"})
    assert not files.changed(again)
    assert sorted(os.listdir(str(directory))) == ["m.html", "m.md"]  # no temporary file left


def test_a_changed_file_is_replaced_and_only_it(tmp_path):
    write(tmp_path, {"a": "one\n", "b": "two\n"})
    inode_b = os.stat(str(tmp_path / "b")).st_ino
    to_do = write(tmp_path, {"a": "ONE\n", "b": "two\n"})
    assert [item["name"] for item in to_do["files"] if item["content"]] == ["a"]
    assert (tmp_path / "a").read_text() == "ONE\n"
    assert os.stat(str(tmp_path / "b")).st_ino == inode_b
    assert files.diffs(to_do) == [{"before_header": str(tmp_path / "a"), "after_header": str(tmp_path / "a"),
                                   "before": "one\n", "after": "ONE\n"}]


def test_a_mode_alone_is_changed_without_rewriting(tmp_path):
    write(tmp_path, {"a": "one\n"})
    inode = os.stat(str(tmp_path / "a")).st_ino
    to_do = write(tmp_path, {"a": "one\n"}, mode="0600")
    assert files.changed(to_do)
    assert mode_of(tmp_path / "a") == 0o600 and os.stat(str(tmp_path / "a")).st_ino == inode


def test_check_mode_changes_nothing(tmp_path):
    directory = tmp_path / "map"
    to_do = write(directory, {"a": "one\n"}, check_mode=True)
    assert files.changed(to_do) and not directory.exists()


def test_a_failed_write_leaves_every_old_file(tmp_path, monkeypatch):
    write(tmp_path, {"a": "one\n", "b": "two\n"})
    checked = files.check(str(tmp_path), {"a": "ONE\n", "b": "TWO\n"})
    to_do = files.plan(*checked)
    real_fdopen = os.fdopen
    calls = []

    def failing_fdopen(handle, *args, **kwargs):
        calls.append(handle)
        if len(calls) == 2:
            os.close(handle)
            raise OSError(28, "No space left on device")
        return real_fdopen(handle, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", failing_fdopen)
    with pytest.raises(OSError):
        files.apply(to_do, checked[0], checked[2], checked[3])
    assert (tmp_path / "a").read_text() == "one\n" and (tmp_path / "b").read_text() == "two\n"
    assert sorted(os.listdir(str(tmp_path))) == ["a", "b"]


def test_something_else_in_the_way_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(files.FilesError) as error:
        write(tmp_path, {"a": "one\n"})
    assert "is not a regular file" in str(error.value)


# -- the action, as ansible-playbook runs it ---------------------------------------------------------------------

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Write
      portcullis.ports.controller_files:
        directory: "{{ target }}"
        files: "{{ contents }}"
        mode: "{{ file_mode }}"
      run_once: true
"""


def run(ansible_playbook, tmp_path, target, contents, file_mode="0644", options=()):
    if not (tmp_path / "play.yml").exists():
        (tmp_path / "play.yml").write_text(PLAYBOOK)
        # Hosts that cannot be reached: the action must not connect to them.
        (tmp_path / "hosts.ini").write_text(u"h1 ansible_host=192.0.2.1 ansible_connection=ssh\nh2 ansible_host=192.0.2.2\n")
    code, output = ansible_playbook(["-i", tmp_path / "hosts.ini", tmp_path / "play.yml", "-e", json.dumps(
        {"target": str(target), "contents": contents, "file_mode": file_mode})] + list(options), "ansible.builtin.json")
    try:
        report = json.loads(output)
        result = report["plays"][0]["tasks"][0]["hosts"]["h1"]
    except (ValueError, KeyError, IndexError):
        result = None
    return code, output, result


def test_the_action_writes_on_the_controller_without_connecting(ansible_playbook, tmp_path):
    target = tmp_path / "out" / "map"
    contents = {"m.md": "# map\n", "m.html": "<p>map</p>\n"}
    rc, output, result = run(ansible_playbook, tmp_path, target, contents, options=["--check", "--diff"])
    assert rc == 0, output
    assert result["changed"] is True and not target.exists(), output
    assert {"before_header": "(absent)", "after_header": str(target / "m.md"), "before": "",
            "after": "# map\n"} in result["diff"], output
    rc, output, result = run(ansible_playbook, tmp_path, target, contents)
    assert rc == 0 and result["changed"] is True, output
    assert (target / "m.md").read_text() == "# map\n"
    assert result["written"] == [str(target / "m.html"), str(target / "m.md")]
    rc, output, result = run(ansible_playbook, tmp_path, target, contents)
    assert rc == 0 and result["changed"] is False and result["written"] == [], output


def test_the_action_names_a_bad_value_and_writes_nothing(ansible_playbook, tmp_path):
    target = tmp_path / "map"
    rc, output, _result = run(ansible_playbook, tmp_path, target, {"../escape": "x"})
    assert rc != 0 and "'../escape' is not a plain file name" in output, output
    assert not target.exists() and not (tmp_path / "escape").exists()
