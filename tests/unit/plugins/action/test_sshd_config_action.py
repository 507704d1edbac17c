# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin's model of the next login, with the real OpenSSH client
and a real ssh-agent on this machine (no connection is made)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import time
import types

import pytest

from ansible_collections.portcullis.ports.plugins.action.sshd_config import ActionModule
from ansible_collections.portcullis.ports.plugins.plugin_utils import _ssh_client

TOOLS = ("ssh", "ssh-agent", "ssh-add", "ssh-keygen")
pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in TOOLS), reason="needs the OpenSSH client")


class FakeConnection:
    """What the action plugin asks of Ansible's ssh connection."""
    transport = "ssh"

    def __init__(self, args, password=None):
        self.args = args
        self.host = "192.0.2.10"
        self._play_context = types.SimpleNamespace(password=password)
        self.options = {"password": password, "ssh_executable": "ssh", "host": None}

    def get_option(self, name):
        return self.options[name]

    def _build_command(self, binary, subsystem, *other):
        assert subsystem == "ssh"
        return [b"sshpass", b"-d12"] + [binary.encode()] + [arg.encode() for arg in self.args] + \
            [arg.encode() for arg in other]


@pytest.fixture
def agent(tmp_path):
    keys = []
    for name in ("other1", "other2", "other3", "deploy"):
        path = str(tmp_path / name)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], check=True)
        keys.append(path)
    socket = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", socket], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(100):
            if os.path.exists(socket):
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q"] + keys, check=True, env=dict(os.environ, SSH_AUTH_SOCK=socket),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield socket, keys
    finally:
        process.terminate()
        process.wait()


def fingerprint(path):
    with open(path + ".pub") as handle:
        return _ssh_client.fingerprint(_ssh_client.public_key_line(handle.read())[1])


def offered(args, password=None):
    return ActionModule._offered_keys(types.SimpleNamespace(_connection=FakeConnection(args, password)))


def test_three_agent_keys_come_before_a_deploy_key_file(agent):
    socket, keys = agent
    subprocess.run(["ssh-add", "-q", "-d", keys[3] + ".pub"], check=True, env=dict(os.environ, SSH_AUTH_SOCK=socket),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = offered(["-o", "IdentityAgent=%s" % socket, "-o", 'IdentityFile="%s"' % keys[3]])
    assert [key["fingerprint"] for key in found] == [fingerprint(path) for path in keys]
    assert [key["origin"] for key in found] == ["ssh-agent (other1)", "ssh-agent (other2)", "ssh-agent (other3)",
                                                "identity file %s" % keys[3]]


def test_the_deploy_key_in_the_agent_and_given_as_a_file_goes_first(agent):
    socket, keys = agent
    found = offered(["-o", "IdentityAgent=%s" % socket, "-o", 'IdentityFile="%s"' % keys[3]])
    assert found[0]["fingerprint"] == fingerprint(keys[3]) and len(found) == 4


def test_identities_only_and_no_agent(agent):
    socket, keys = agent
    found = offered(["-o", "IdentityAgent=%s" % socket, "-o", "IdentitiesOnly=yes", "-o", 'IdentityFile="%s"' % keys[3]])
    assert [key["fingerprint"] for key in found] == [fingerprint(keys[3])]
    assert offered(["-o", "IdentityAgent=none", "-o", 'IdentityFile="%s"' % keys[0]])[0]["origin"] == \
        "identity file %s" % keys[0]


def test_no_model_for_a_password_login(agent):
    assert offered(["-o", "IdentityAgent=%s" % agent[0]], password="secret") is None
