# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit tests that run a real ``ansible-playbook`` share."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def ansible_playbook(tmp_path):
    """``ansible_playbook(arguments, callback="default")`` runs ``ansible-playbook ARGUMENTS`` in ``tmp_path``, with
    this tree as the collection portcullis.ports and no user configuration (no ansible.cfg, its own temporary and
    home directories), and returns ``(exit code, output)``: stdout and stderr together."""
    collections = tmp_path / "collections" / "ansible_collections" / "portcullis"
    collections.mkdir(parents=True)
    os.symlink(REPO, str(collections / "ports"))

    def run(arguments, callback="default"):
        environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_NOCOLOR="1",
                           ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_RETRY_FILES_ENABLED="0",
                           ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
        environment.pop("ANSIBLE_CONFIG", None)
        done = subprocess.run([sys.executable, "-m", "ansible.cli.playbook"] + [str(item) for item in arguments],
                              cwd=str(tmp_path), env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=120, check=False)
        return done.returncode, done.stdout
    return run
