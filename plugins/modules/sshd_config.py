#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sshd_config
short_description: Hardened sshd settings in a drop-in read first, validated and lockout-checked before they apply
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Writes O(settings), the crypto of O(crypto_profile) and O(match_blocks) to a drop-in file of its own
    (O(dropin_path)) and makes sure the main file includes the drop-in directory before anything else, so
    nothing overrides them (sshd keeps the first value it reads). With an sshd that has no C(Include)
    (OpenSSH before 8.2) the settings go to a marked block at the top of the main file instead.
  - Algorithms come from what the installed sshd lists in C(ssh -Q); one it does not know is never written.
  - Every option name is checked against the installed sshd first; an unknown one fails the task, named.
  - Before anything is written, the candidate files are checked in a staging copy with C(sshd -t), and their
    effective result for the connecting user with C(sshd -T -C user=,host=,addr=,lport=) must show every
    hardening, crypto and access setting as asked; otherwise the task fails and names the file that wins.
  - The lockout guard evaluates the candidate for the session that is running (C(sshd -T -C) with its user, the
    controller's address and the local address and port) and refuses, naming the keyword and value, when the next
    session would fail - no listener covers the session's local address, port and family (sshd binds V(::) for IPv6
    only and V(0.0.0.0) for IPv4 only); the user is denied (C(AllowUsers), C(DenyUsers), C(AllowGroups),
    C(DenyGroups), in Match blocks too) or is root under C(PermitRootLogin no); C(ForceCommand) is set;
    C(ChrootDirectory) holds no login shell or python; C(MaxSessions 0); no C(AuthenticationMethods) chain one
    public key satisfies; C(PubkeyAuthentication no); the key the session logged in with (found in sshd's log) is no
    longer in C(AuthorizedKeysFile) or of a type C(PubkeyAcceptedAlgorithms) allows; the controller's next login
    offers more refused keys before its authorized one than C(MaxAuthTries) allows (the action plugin reads the
    client's resolved configuration with C(ssh -G) and its agent's keys with C(ssh-add -L), in the client's order).
  - With O(rollback_timeout) the change is commit-confirmed - the module reloads sshd, the controller must log in
    over a new connection within that many seconds (the action plugin does it), or the host puts back every file it
    replaced and reloads sshd by itself. This catches what no static check foresees.
  - On OpenSSH 9.8 and later, O(penalty_exempt) and the controller's own address (O(penalty_exempt_controller))
    become C(PerSourcePenaltyExemptList), so the admin sources are not penalised after unauthenticated connections
    (a scanner run from them, say).
  - Host keys of O(host_keys) are generated when missing; an RSA key shorter than O(rsa_min_bits) is replaced.
    DH groups smaller than O(moduli_min_bits) are removed from the moduli file.
  - Files are replaced atomically, keeping the mode of a file that exists (a 0600 C(sshd_config) stays 0600; a new
    drop-in is 0644, like C(sshd_config)); if C(sshd -t) on the written configuration fails, every file is put back.
  - The diff never shows the content of a file that is not world-readable.
  - Without O(rollback_timeout) the module does not reload sshd; it returns what changed and which unit runs sshd,
    for a handler.
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
  - portcullis.ports.attributes.LINUX
options:
  settings:
    description:
      - Top-level sshd_config keywords and values. Booleans become V(yes)/V(no), lists are joined the way sshd
        reads that keyword; C(Port), C(ListenAddress) and C(HostKey) take a list, one line each.
      - Values are printable ASCII without quotes or C(#); anything else is refused, named.
    type: dict
    default: {}
  match_blocks:
    description: Match blocks, written after the top-level settings.
    type: list
    elements: dict
    default: []
    suboptions:
      criteria:
        description: "Criteria as a mapping (V({User: alice, Address: 10.0.0.0/8})) or a string (V(User alice))."
        type: raw
        required: true
      settings:
        description: Keywords and values inside the block.
        type: dict
        required: true
  crypto_profile:
    description:
      - V(modern) - post-quantum hybrid key exchange where sshd has it (curve25519 only where it has none),
        AEAD and CTR ciphers, encrypt-then-MAC MACs, Ed25519 and RSA-SHA2 host key algorithms.
      - V(compatible) - modern plus curve25519 and DH group16, group18 and group exchange with SHA-256.
      - V(none) - no algorithm lists are written.
    type: str
    choices: [modern, compatible, none]
    default: modern
  kex_algorithms:
    description: Key exchange algorithms instead of the profile's; unsupported ones are left out with a warning.
    type: list
    elements: str
  ciphers:
    description: Ciphers instead of the profile's.
    type: list
    elements: str
  macs:
    description: MACs instead of the profile's.
    type: list
    elements: str
  host_key_algorithms:
    description: Host key algorithms instead of the profile's.
    type: list
    elements: str
  host_keys:
    description: Host key types sshd loads (C(HostKey)); the others, DSA and ECDSA among them, are not offered.
    type: list
    elements: str
    choices: [ed25519, rsa]
    default: [ed25519, rsa]
  rsa_min_bits:
    description: An RSA host key shorter than this is regenerated.
    type: int
    default: 3072
  rsa_bits:
    description: Size of a generated RSA host key.
    type: int
    default: 4096
  moduli_min_bits:
    description: Diffie-Hellman groups smaller than this are removed from O(moduli_path); V(0) leaves it alone.
    type: int
    default: 3072
  moduli_path:
    description: The moduli file.
    type: path
    default: /etc/ssh/moduli
  banner:
    description: Text shown before login; written to O(banner_path) and set as C(Banner).
    type: str
  banner_path:
    description: Where the banner text goes.
    type: path
    default: /etc/ssh/portcullis-banner
  layout:
    description:
      - V(dropin) - a file in the drop-in directory, read first; V(main) - a marked block in the main file.
      - V(auto) - V(dropin) when sshd has C(Include) (OpenSSH 8.2 and later), else V(main).
    type: str
    choices: [auto, dropin, main]
    default: auto
  config_path:
    description: The main sshd configuration file.
    type: path
    default: /etc/ssh/sshd_config
  dropin_path:
    description: The drop-in file; its directory's C(*.conf) is what the main file includes.
    type: path
    default: /etc/ssh/sshd_config.d/00-portcullis-hardening.conf
  lockout_guard:
    description: Refuse a configuration that would keep the connecting user out.
    type: bool
    default: true
  connect_user:
    description: The user who must keep access; by default the user of the SSH session the module runs in.
    type: str
  connect_address:
    description: The address that user connects from; by default that of the SSH session.
    type: str
  rollback_timeout:
    description:
      - Seconds within which the controller must log in again over a new connection after the module reloaded sshd,
        or the host restores the previous files and reloads sshd. V(0) turns it off (and the module does not reload).
    type: int
    default: 0
  penalty_exempt:
    description:
      - Addresses or CIDRs (no host bits) for C(PerSourcePenaltyExemptList) where sshd is OpenSSH 9.8 or later;
        ignored on older sshd, which has no per-source penalties. Each IPv4 network is also written in its
        IPv4-mapped IPv6 form (C(::ffff:192.0.2.0/120)), the address sshd sees when it accepts on a dual-stack socket
        (socket activation with C(ListenStream=22)). Empty on OpenSSH 9.8 or later gives a warning.
    type: list
    elements: str
    default: []
  penalty_exempt_controller:
    description:
      - Add the address the controller's SSH session comes from, as this host sees it (C(SSH_CONNECTION), after any
        NAT), to C(PerSourcePenaltyExemptList) unless O(penalty_exempt) already covers it, so that unauthenticated
        connections from the controller (a scan, a probe) do not lock its next logins out.
      - Behind a NAT that address stands for every client behind it. A run from another controller writes that one's
        address instead; list every controller in O(penalty_exempt) when several run the module.
    type: bool
    default: true
  offered_keys:
    description:
      - Internal, set by the action plugin - the keys the controller's next login offers, in order (its ssh-agent's,
        unless C(IdentitiesOnly), and its identity files). The lockout guard refuses a C(MaxAuthTries) that the keys
        offered before the one that logs in would exhaust.
    type: list
    elements: dict
    suboptions:
      fingerprint:
        description: SHA256 fingerprint, or null when unknown.
        type: str
      type:
        description: Key type.
        type: str
      origin:
        description: Where the client takes it from.
        type: str
        required: true
  confirm:
    description: Internal, set by the action plugin to confirm a change armed with O(rollback_timeout).
    type: str
notes:
  - Check mode validates the candidate and runs the lockout guard too, and leaves nothing behind (not even the
    C(/run/sshd) directory C(sshd -t) needs). The diff has one part per file, under its name - the drop-in, the
    main file when it changes, the banner - and a summary of the moduli file.
  - Replacing a weak RSA host key changes the host's fingerprint; clients that pinned it will warn.
  - The role P(portcullis.ports.sshd_hardening#role) wraps it with variables for every setting and the reload.
"""

EXAMPLES = r"""
- name: Key-only sshd with modern crypto, for the user Ansible connects as
  portcullis.ports.sshd_config:
    settings:
      PermitRootLogin: "no"
      PasswordAuthentication: false
      PubkeyAuthentication: true
      AllowGroups: [ssh-users, sftponly]
    match_blocks:
      - criteria: {Group: sftponly}
        settings: {ChrootDirectory: "%h", ForceCommand: internal-sftp}
  become: true
  register: sshd
  notify: Reload sshd
"""

RETURN = r"""
rollback_token:
  description: The token of the armed rollback, confirmed by the action plugin.
  returned: when rollback_timeout is set and something changed
  type: str
reloaded:
  description: Whether the module reloaded sshd itself (with rollback_timeout).
  returned: when rollback_timeout is set and something changed
  type: bool
changed_files:
  description: Files replaced (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/ssh/sshd_config.d/00-portcullis-hardening.conf]
layout:
  description: Where the settings went, V(dropin) or V(main).
  returned: always
  type: str
openssh_version:
  description: The installed OpenSSH version.
  returned: always
  type: str
  sample: "9.2"
settings:
  description: Everything written at top level, with the chosen algorithms and host keys.
  returned: always
  type: dict
connect_user:
  description: The user the lockout guard checked, or null when there was none.
  returned: always
  type: str
conflicts:
  description:
    - Other files, the main C(sshd_config) included, that set one of these keywords (or an older name of it, such
      as C(ChallengeResponseAuthentication)) to another value. At top level they are read later and lose; inside a
      Match block (C(match) holds its criteria) they override this module's value for the sessions they match.
  returned: always
  type: list
  elements: dict
  sample: [{file: /etc/ssh/sshd_config.d/50-cloud-init.conf, line: 1, keyword: PasswordAuthentication,
            value: "yes", ours: "no", match: null}]
host_keys_generated:
  description: Host key types generated or replaced.
  returned: always
  type: list
  elements: str
moduli_removed:
  description: How many groups were removed from the moduli file.
  returned: always
  type: int
service:
  description: The systemd service that runs sshd, or null.
  returned: always
  type: str
  sample: ssh.service
service_active:
  description: Whether that service is running (a reload reaches it).
  returned: always
  type: bool
socket_active:
  description: Whether sshd is socket-activated (ssh.socket).
  returned: always
  type: bool
listen_streams:
  description:
    - The systemd C(ListenStream=) values that listen like the C(Port) and C(ListenAddress) written (C(host:port) and
      C([v6]:port) read as sshd reads them); the ports alone when no address is given.
  returned: always
  type: list
  elements: str
  sample: ["0.0.0.0:22", "0.0.0.0:2222"]
session_port:
  description: The port of the SSH session the module ran in, as the host sees it, or null.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.sshd import _apply as _sshd
from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.sshd._config import SshdConfigError


def main():
    module = AnsibleModule(argument_spec=_sshd.argument_spec(), supports_check_mode=True)
    params = module.params
    if params["rsa_bits"] < params["rsa_min_bits"]:
        module.fail_json(msg="rsa_bits (%d) is smaller than rsa_min_bits (%d)" % (params["rsa_bits"],
                                                                                  params["rsa_min_bits"]))
    if params["rsa_min_bits"] < 2048:
        module.fail_json(msg="rsa_min_bits %d is too small: 2048 is the least sshd accepts" % params["rsa_min_bits"])
    runner = _host.Runner(module)
    sshd = _sshd.Sshd(runner, params)
    try:
        result = sshd.run(module.check_mode)
    except (SshdConfigError, _sshd.SshdError) as error:
        module.fail_json(msg=str(error))
    for warning in sshd.warnings:
        module.warn(warning)
    result["service"], result["service_active"], result["socket_active"] = _sshd.service_state(runner)
    if not module._diff or not result["changed"]:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
