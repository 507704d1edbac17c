# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keys the controller's next login offers, in OpenSSH's order."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import struct

from ansible_collections.portcullis.ports.plugins.plugin_utils import _ssh_client as client

# A public key and the fingerprint `ssh-keygen -l` printed for it.
DEPLOY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIn+CiOzIztSaBmYRRx3SL03+np0NDanshDLgDtqrwEW deploy"
DEPLOY_FP = "SHA256:Obr2v+k273zQ6OxfUEBCpQbqkbrxm9XdCQfoIronVls"


def other(number):
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + bytes([number]) * 32
    return "ssh-ed25519 %s other%d" % (base64.b64encode(blob).decode(), number)


def fp(line):
    return client.fingerprint(client.public_key_line(line)[1])


def test_fingerprint_is_the_one_ssh_keygen_prints():
    assert fp(DEPLOY) == DEPLOY_FP


def test_the_public_key_of_an_openssh_private_key_is_read_without_its_passphrase():
    blob = client.public_key_line(DEPLOY)[1]

    def string(data):
        return struct.pack(">I", len(data)) + data
    raw = (b"openssh-key-v1\0" + string(b"aes256-ctr") + string(b"bcrypt") + string(b"salt-and-rounds")
           + struct.pack(">I", 1) + string(blob) + string(b"encrypted part"))
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n" % base64.b64encode(raw).decode()
    assert client.private_key_public_blob(pem.encode()) == blob
    assert client.private_key_public_blob(b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n") is None


def test_client_config_keeps_values_with_spaces_and_their_order():
    config = client.parse_client_config("user deploy\nidentityfile /keys/a key\nidentityfile ~/.ssh/id_ed25519\n"
                                        "identitiesonly no\n")
    assert config["identityfile"] == ["/keys/a key", "~/.ssh/id_ed25519"]


def test_agent_socket():
    environ = {"SSH_AUTH_SOCK": "/run/agent", "OTHER": "/run/other", "HOME": "/root"}
    assert client.agent_socket({}, environ) == "/run/agent"
    assert client.agent_socket({"identityagent": ["SSH_AUTH_SOCK"]}, environ) == "/run/agent"
    assert client.agent_socket({"identityagent": ["none"]}, environ) is None
    assert client.agent_socket({"identityagent": ["$OTHER"]}, environ) == "/run/other"
    assert client.agent_socket({"identityagent": ["~/agent.sock"]}, environ) == "/root/agent.sock"


def reader(files):
    def read(path):
        return files.get(path)
    return read


AGENT = client.agent_keys("\n".join([other(1), other(2), other(3), DEPLOY]))


def origins(keys):
    return [key["origin"] for key in keys]


def test_agent_keys_come_in_the_agents_order_before_the_files():
    # The workstation: three unrelated keys in the agent before the deploy key, no key file given.
    config = client.parse_client_config("identitiesonly no\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\n")
    keys = client.offered_keys(config, AGENT, read=reader({}), home="/root")
    assert [key["fingerprint"] for key in keys] == [fp(other(1)), fp(other(2)), fp(other(3)), DEPLOY_FP]
    assert origins(keys) == ["ssh-agent (other1)", "ssh-agent (other2)", "ssh-agent (other3)", "ssh-agent (deploy)"]


def test_a_key_file_that_is_also_in_the_agent_goes_first():
    config = client.parse_client_config("identitiesonly no\nidentityfile /keys/deploy\n")
    keys = client.offered_keys(config, AGENT, read=reader({"/keys/deploy": ("ssh-ed25519", DEPLOY_FP)}))
    assert [key["fingerprint"] for key in keys] == [DEPLOY_FP, fp(other(1)), fp(other(2)), fp(other(3))]


def test_a_key_file_not_in_the_agent_comes_after_every_agent_key():
    agent = client.agent_keys("\n".join([other(1), other(2), other(3)]))
    config = client.parse_client_config("identitiesonly no\nidentityfile /keys/deploy\nidentityfile /keys/missing\n")
    keys = client.offered_keys(config, agent, read=reader({"/keys/deploy": ("ssh-ed25519", DEPLOY_FP)}))
    assert origins(keys) == ["ssh-agent (other1)", "ssh-agent (other2)", "ssh-agent (other3)",
                             "identity file /keys/deploy"]


def test_identities_only_offers_the_files_alone():
    config = client.parse_client_config("identitiesonly yes\nidentityfile /keys/deploy\n")
    keys = client.offered_keys(config, AGENT, read=reader({"/keys/deploy": ("ssh-ed25519", DEPLOY_FP)}))
    assert [key["fingerprint"] for key in keys] == [DEPLOY_FP]


def test_a_certificate_next_to_a_key_file_is_offered_after_it():
    config = client.parse_client_config("identitiesonly yes\nidentityfile /keys/deploy\n")
    keys = client.offered_keys(config, [], read=reader({"/keys/deploy": ("ssh-ed25519", DEPLOY_FP),
                                                        "/keys/deploy-cert": ("ssh-ed25519-cert-v01@openssh.com",
                                                                              "SHA256:cert")}))
    assert origins(keys) == ["identity file /keys/deploy", "certificate /keys/deploy-cert.pub"]


def test_read_identity_prefers_the_pub_file_and_skips_a_missing_key(tmp_path):
    key = tmp_path / "id"
    assert client.read_identity(str(key)) is None
    (tmp_path / "id.pub").write_text(DEPLOY + "\n")
    assert client.read_identity(str(key)) == ("ssh-ed25519", DEPLOY_FP)
    old = tmp_path / "old"
    old.write_text("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    # Offered, but which key it is stays unknown.
    assert client.read_identity(str(old)) == (None, None)
