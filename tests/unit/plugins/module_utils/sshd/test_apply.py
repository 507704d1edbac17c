# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sshd_config steps against a host tree in a temporary directory and a
fake sshd that reads files the way sshd does: includes in place, globs
sorted, the first value of a keyword wins."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.sshd import _apply as _sshd
from ansible_collections.portcullis.ports.plugins.module_utils.sshd import _config as conf
from ansible_collections.portcullis.ports.plugins.module_utils.sshd._config import SshdConfigError

KNOWN = set(keyword.lower() for keyword in (
    "Include", "Match", "Port", "ListenAddress", "PermitRootLogin", "PasswordAuthentication", "PubkeyAuthentication",
    "KbdInteractiveAuthentication", "UsePAM", "X11Forwarding", "PrintMotd", "AcceptEnv", "Subsystem",
    "AllowUsers", "AllowGroups", "DenyUsers", "DenyGroups", "HostKey", "KexAlgorithms", "Ciphers", "MACs",
    "HostKeyAlgorithms", "Banner", "LogLevel", "MaxAuthTries", "ForceCommand", "ChrootDirectory", "LoginGraceTime",
    "PerSourcePenaltyExemptList"))
DEFAULTS = {"permitrootlogin": "without-password", "passwordauthentication": "yes", "pubkeyauthentication": "yes",
            "authorizedkeysfile": ".ssh/authorized_keys", "authenticationmethods": "any",
            "pubkeyacceptedalgorithms": "ssh-ed25519,rsa-sha2-512,rsa-sha2-256", "port": "22"}
MODULI = ("# moduli\n"
          "20230101000000 2 6 100 2047 2 C0FF\n"
          "20230101000000 2 6 100 4095 2 C2FF\n")
DEBIAN_MAIN = ("# Debian's sshd_config\n"
               "Include /etc/ssh/sshd_config.d/*.conf\n"
               "KbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\n"
               "Subsystem sftp /usr/lib/openssh/sftp-server\n")


class FakeHost:
    def __init__(self, root, version="OpenSSH_9.2p1"):
        self.root = str(root)
        self.version = version
        self.calls = []
        self.fail_live_test = False
        self.socket_active = False
        self.service_inactive = False
        self.fail_reload = 0

    def file(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def which(self, name):
        return "/usr/bin/" + name

    def _resolve(self, path):
        return self.file(path) if path.startswith("/etc/") or path.startswith("/root/") else path

    def _lines(self, path):
        """(file, line number, keyword, args, match) in sshd's reading order."""
        with open(self._resolve(path)) as handle:
            text = handle.read()
        for number, keyword, args, match in conf.parse_config(text):
            if keyword.lower() == "include":
                for pattern in args.split():
                    for included in sorted(glob.glob(self._resolve(pattern))):
                        yield from self._lines(included)
                continue
            yield path, number, keyword, args, match

    def run(self, argv, data=None):
        self.calls.append(argv)
        name, args = os.path.basename(argv[0]), argv[1:]
        if name == "ssh" and args == ["-V"]:
            return 0, "", self.version + " Debian, OpenSSL 3.0\n"
        if name == "ssh" and args[0] == "-Q":
            return 0, "\n".join(sorted({
                "kex": {"curve25519-sha256", "sntrup761x25519-sha512@openssh.com", "diffie-hellman-group16-sha512"},
                "cipher": {"aes256-gcm@openssh.com", "aes128-ctr", "aes128-cbc"},
                "mac": {"hmac-sha2-256-etm@openssh.com", "hmac-sha1"},
                "key-sig": {"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256"},
                "key": {"ssh-ed25519", "ssh-rsa"},
            }[args[1]])), ""
        if name == "sshd" and args[0] == "-t":
            if self.fail_live_test and args[2] == self.file("/etc/ssh/sshd_config"):
                return 255, "", "%s: line 1: something the staging copy did not see\n" % args[2]
            errors = ["%s: line %d: Bad configuration option: %s" % (path, number, keyword)
                      for path, number, keyword, _args, _match in self._lines(args[2]) if keyword.lower() not in KNOWN]
            return (255, "", "\n".join(errors)) if errors else (0, "", "")
        if name == "sshd" and args[0] == "-T":
            spec = dict(item.split("=", 1) for item in args[4].split(","))
            effective, matched = {}, {}
            for _path, _number, keyword, values, match in self._lines(args[2]):
                # The test user is in no Match group (sftponly blocks do not apply to it).
                if match and match != "User " + spec["user"]:
                    continue
                key = keyword.lower()
                target = matched if match else effective
                if key in conf.MULTI_KEYWORDS:
                    target.setdefault(key, []).append(values)
                elif key not in target:
                    target[key] = [values]
            # As sshd: what a matching Match block sets overrides the top level.
            effective.update(matched)
            for key, value in DEFAULTS.items():
                effective.setdefault(key, [value])
            return 0, "".join("%s %s\n" % (key, value) for key, values in effective.items() for value in values), ""
        if name == "systemctl" and args[0] == "show":
            units = {"ssh.service", "ssh.socket"} if self.socket_active else {"ssh.service"}
            running = units - {"ssh.service"} if self.service_inactive else units
            active = "active" if args[-1] in running else "inactive"
            loaded = "loaded" if args[-1] in units else "not-found"
            return 0, "LoadState=%s\nActiveState=%s\n" % (loaded, active), ""
        if name == "systemctl" and args[0] in ("reload", "restart") and self.fail_reload:
            self.fail_reload -= 1
            return 1, "", "Job for ssh.service failed because the control process exited with error code."
        if name in ("systemctl", "systemd-run"):
            return 0, "", ""
        if name == "ssh-keygen" and args[0] == "-l":
            with open(args[2]) as handle:
                return 0, "%s SHA256:x root@host (RSA)\n" % handle.read().split()[1], ""
        if name == "ssh-keygen" and args[0] == "-q":
            target = args[args.index("-f") + 1]
            bits = args[args.index("-b") + 1] if "-b" in args else "256"
            for suffix in ("", ".pub"):
                with open(target + suffix, "w") as handle:
                    handle.write("%s %s new\n" % (args[args.index("-t") + 1].upper(), bits))
            return 0, "", ""
        raise AssertionError("unexpected command %r" % (argv,))


def write(host, path, text):
    target = host.file(path)
    if not os.path.isdir(os.path.dirname(target)):
        os.makedirs(os.path.dirname(target))
    with open(target, "w") as handle:
        handle.write(text)


def read(host, path):
    with open(host.file(path)) as handle:
        return handle.read()


@pytest.fixture
def host(tmp_path):
    fake = FakeHost(tmp_path)
    write(fake, "/etc/ssh/sshd_config", DEBIAN_MAIN)
    write(fake, "/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication yes\n")
    write(fake, "/etc/ssh/moduli", MODULI)
    write(fake, "/etc/ssh/ssh_host_ed25519_key", "ED25519 256 old\n")
    write(fake, "/etc/ssh/ssh_host_rsa_key", "RSA 2048 old\n")
    write(fake, "/etc/ssh/ssh_host_rsa_key.pub", "RSA 2048 old\n")
    write(fake, "/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3 admin\n")
    return fake


def params(**changes):
    values = dict(
        settings={"PermitRootLogin": "prohibit-password", "PasswordAuthentication": False, "X11Forwarding": False,
                  "LogLevel": "VERBOSE", "AllowGroups": ["root", "sftponly"]},
        match_blocks=[{"criteria": {"Group": "sftponly"}, "settings": {"ForceCommand": "internal-sftp"}}],
        crypto_profile="modern", kex_algorithms=None, ciphers=None, macs=None, host_key_algorithms=None,
        host_keys=["ed25519", "rsa"], rsa_min_bits=3072, rsa_bits=4096, moduli_min_bits=3072,
        moduli_path="/etc/ssh/moduli", banner="Authorized use only", banner_path="/etc/ssh/portcullis-banner",
        layout="auto", config_path="/etc/ssh/sshd_config",
        dropin_path="/etc/ssh/sshd_config.d/00-portcullis-hardening.conf",
        lockout_guard=True, connect_user="root", connect_address="192.0.2.10",
    )
    values.update(changes)
    return values


def snapshot(host):
    files = {}
    for directory, _dirs, names in os.walk(host.root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path) as handle:
                files[os.path.relpath(path, host.root)] = handle.read()
    return files


def run(host, check_mode=False, **changes):
    sshd = _sshd.Sshd(host, params(**changes), root=host.root)
    return sshd.run(check_mode), sshd.warnings


def test_first_run_writes_everything_and_the_second_changes_nothing(host):
    result, warnings = run(host)
    assert result["changed"]
    assert sorted(result["changed_files"]) == sorted([
        "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf", "/etc/ssh/portcullis-banner", "/etc/ssh/moduli",
        "/etc/ssh/ssh_host_rsa_key"])
    dropin = read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf")
    assert "KexAlgorithms sntrup761x25519-sha512@openssh.com\n" in dropin
    assert "Ciphers aes256-gcm@openssh.com,aes128-ctr\n" in dropin
    assert "HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256\n" in dropin
    assert dropin.rstrip().endswith("Match Group sftponly\n    ForceCommand internal-sftp")
    assert os.stat(host.file("/etc/ssh/sshd_config.d/00-portcullis-hardening.conf")).st_mode & 0o777 == 0o644
    assert read(host, "/etc/ssh/sshd_config") == DEBIAN_MAIN
    assert "2047" not in read(host, "/etc/ssh/moduli") and result["moduli_removed"] == 1
    assert read(host, "/etc/ssh/ssh_host_rsa_key").split()[:2] == ["RSA", "4096"]
    assert read(host, "/etc/ssh/portcullis-banner") == "Authorized use only\n"
    # Debian's main file says X11Forwarding yes after the Include: ours wins, and the disagreement is told.
    assert result["conflicts"] == [dict(file="/etc/ssh/sshd_config.d/50-cloud-init.conf", line=1,
                                        keyword="PasswordAuthentication", value="yes", ours="no", match=None),
                                   dict(file="/etc/ssh/sshd_config", line=5, keyword="X11Forwarding", value="yes",
                                        ours="no", match=None)]
    assert any("50-cloud-init.conf line 1 sets PasswordAuthentication yes" in item for item in warnings)
    assert any("rsa host key is regenerated (2048 bits, fewer than 3072)" in item for item in warnings)

    before = snapshot(host)
    again, _warnings = run(host)
    assert not again["changed"] and again["changed_files"] == []
    assert snapshot(host) == before


def test_check_mode_writes_nothing_and_shows_the_diff(host):
    before = snapshot(host)
    result, _warnings = run(host, check_mode=True)
    assert result["changed"]
    # One diff per file, each under its own name (found on review: all of them were under the drop-in's name).
    diffs = dict((item["after_header"], item) for item in result["diff"])
    assert "PasswordAuthentication no" in diffs["/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"]["after"]
    assert diffs["/etc/ssh/moduli (summary)"]["after"] == "1 groups (1 under 3072 bits removed)\n"
    assert diffs["/etc/ssh/portcullis-banner"]["after"] == "Authorized use only\n"
    assert all("groups" not in item["after"] for header, item in diffs.items() if "moduli" not in header)
    assert snapshot(host) == before


def test_a_listen_address_list_written_as_one_string_is_refused(host):
    with pytest.raises(_sshd.SshdError, match="ListenAddress '0.0.0.0,::': one address per item"):
        run(host, settings={"ListenAddress": "0.0.0.0,::"})


def test_include_is_placed_first_when_the_main_file_sets_things_before_it(host):
    write(host, "/etc/ssh/sshd_config", "PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n")
    result, _warnings = run(host)
    assert "/etc/ssh/sshd_config" in result["changed_files"]
    assert read(host, "/etc/ssh/sshd_config") == "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n"


def test_a_drop_in_read_before_ours_that_wins_is_refused_and_named(host):
    write(host, "/etc/ssh/sshd_config.d/00-aaa.conf", "PasswordAuthentication yes\n")
    before = snapshot(host)
    with pytest.raises(_sshd.SshdError) as error:
        run(host)
    assert ("PasswordAuthentication is yes, not no (set by /etc/ssh/sshd_config.d/00-aaa.conf line 1"
            in str(error.value))
    assert snapshot(host) == before


def test_lockout_is_refused_before_anything_is_written(host):
    before = snapshot(host)
    with pytest.raises(_sshd.SshdError) as error:
        run(host, settings={"AllowUsers": ["alice"], "PasswordAuthentication": False})
    assert "refusing to apply: root connecting from 192.0.2.10 would be locked out" in str(error.value)
    assert "AllowUsers (alice) does not match root" in str(error.value)
    assert snapshot(host) == before


def test_no_authorized_key_with_passwords_off_is_a_lockout(host):
    write(host, "/root/.ssh/authorized_keys", "# nothing\n")
    with pytest.raises(_sshd.SshdError, match="root has no authorized key in AuthorizedKeysFile"):
        run(host)


def test_an_option_sshd_does_not_know_is_named_and_nothing_written(host):
    before = snapshot(host)
    with pytest.raises(_sshd.SshdError, match=r"does not know the option\(s\) NoSuchOption"):
        run(host, settings={"NoSuchOption": "yes"})
    assert snapshot(host) == before


def test_a_failed_live_check_puts_every_file_back(host):
    host.fail_live_test = True
    before = snapshot(host)
    with pytest.raises(_sshd.SshdError, match="the configuration as written: sshd -t rejects it"):
        run(host)
    assert snapshot(host) == before


def test_an_sshd_without_include_gets_a_marked_block_in_the_main_file(host):
    host.version = "OpenSSH_7.9p1"
    write(host, "/etc/ssh/sshd_config", "UsePAM yes\nX11Forwarding yes\n")
    result, _warnings = run(host)
    assert result["layout"] == "main"
    main = read(host, "/etc/ssh/sshd_config")
    assert main.startswith(conf.BLOCK_BEGIN + "\n")
    assert main.rstrip().endswith(conf.MATCH_END)
    assert not os.path.exists(host.file("/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))
    again, _warnings = run(host)
    assert not again["changed"]


def test_layout_dropin_is_refused_without_include(host):
    host.version = "OpenSSH_7.9p1"
    with pytest.raises(_sshd.SshdError, match="OpenSSH 7.9 has no Include"):
        run(host, layout="dropin")


def test_find_login_reads_the_session_above_sudo(tmp_path):
    proc = tmp_path / "proc"
    me = os.getpid()
    for pid, parent, environ in ((me, 500, b"USER=root\0SUDO_USER=deploy\0"),
                                 (500, 400, b"USER=deploy\0LOGNAME=deploy\0SSH_CONNECTION=192.0.2.5 50000 192.0.2.9 22\0")):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "status").write_text(u"Name:\tx\nPPid:\t%d\n" % parent)
        (proc / str(pid) / "environ").write_bytes(environ)
    assert _sshd.find_login({"USER": "root"}, str(proc)) == ("deploy", "192.0.2.5", "22", "192.0.2.9", "50000")


def test_check_mode_leaves_no_privilege_separation_directory(host):
    # Tried as a new user would: check mode created /run/sshd.
    assert not os.path.exists(host.file("/run/sshd"))
    run(host, check_mode=True)
    assert not os.path.exists(host.file("/run/sshd"))


def test_a_main_file_that_was_0600_stays_0600_and_its_diff_is_not_shown(host):
    os.chmod(host.file("/etc/ssh/sshd_config"), 0o600)
    write(host, "/etc/ssh/sshd_config", "# no include yet\nUsePAM yes\n")
    os.chmod(host.file("/etc/ssh/sshd_config"), 0o600)
    result, _warnings = run(host)
    assert "/etc/ssh/sshd_config" in result["changed_files"]
    assert os.stat(host.file("/etc/ssh/sshd_config")).st_mode & 0o777 == 0o600
    main = [item for item in result["diff"] if item["after_header"] == "/etc/ssh/sshd_config"][0]
    assert main["before"] == main["after"] == _sshd.HIDDEN


def test_commit_confirmed_reloads_and_arms_a_rollback_of_every_file(host):
    os.makedirs(host.file("/run/systemd/system"))
    before = read(host, "/etc/ssh/moduli")
    result, _warnings = run(host, rollback_timeout=30)
    token = result["rollback_token"]
    assert result["reloaded"] and ["/usr/bin/systemctl", "reload", "ssh.service"] in host.calls
    state = host.file("/var/lib/portcullis")
    script = read(host, "/var/lib/portcullis/rollback-%s.sh" % token)
    assert "rm -f '%s'" % host.file("/etc/ssh/sshd_config.d/00-portcullis-hardening.conf") in script
    assert "mv '%s.portcullis-rollback' '%s'" % (host.file("/etc/ssh/moduli"), host.file("/etc/ssh/moduli")) in script
    assert script.rstrip().splitlines()[-2] == "/usr/bin/systemctl reload ssh.service"
    saved = [name for name in os.listdir(state) if name.startswith("rollback-%s.file" % token)]
    assert before in [read(host, "/var/lib/portcullis/" + name) for name in saved]
    assert any(call[0] == "/usr/bin/systemd-run" and "--on-active=30s" in call for call in host.calls)
    confirmed = _sshd.Sshd(host, params(confirm=token), root=host.root).run(False)
    assert confirmed == {"changed": False, "confirmed": token}
    assert not [name for name in os.listdir(state) if name.startswith("rollback-")]


def test_commit_confirmed_restarts_an_sshd_that_systemd_hands_a_socket(host):
    # On trixie a SIGHUP made the socket-activated sshd exit and "systemctl reload" fail.
    os.makedirs(host.file("/run/systemd/system"))
    host.socket_active = True
    result, _warnings = run(host, rollback_timeout=30)
    assert ["/usr/bin/systemctl", "restart", "ssh.service"] in host.calls
    assert ["/usr/bin/systemctl", "reload", "ssh.service"] not in host.calls
    script = read(host, "/var/lib/portcullis/rollback-%s.sh" % result["rollback_token"])
    assert script.rstrip().splitlines()[-2] == "/usr/bin/systemctl try-restart ssh.service"


def test_the_rollback_restarts_an_sshd_the_confirming_connection_started(host):
    # Found by the port move in the Molecule scenario: the socket's handler had stopped ssh.service, the module had
    # nothing to restart, the confirming connection started sshd on the new files, and the rollback put the files
    # back without restarting it - the host stayed locked.
    os.makedirs(host.file("/run/systemd/system"))
    host.socket_active = True
    host.service_inactive = True
    result, _warnings = run(host, rollback_timeout=30)
    assert not [call for call in host.calls if call[1:2] in (["restart"], ["reload"])]
    script = read(host, "/var/lib/portcullis/rollback-%s.sh" % result["rollback_token"])
    assert script.rstrip().splitlines()[-2] == "/usr/bin/systemctl try-restart ssh.service"


def test_a_reload_that_fails_puts_the_old_files_back_and_arms_nothing(host):
    # Tried as a new user would: the reload failed and the locking drop-in stayed behind.
    os.makedirs(host.file("/run/systemd/system"))
    run(host)
    before = snapshot(host)
    host.fail_reload = 1
    host.calls.clear()
    with pytest.raises(_sshd.SshdError, match="reloading sshd failed .*the previous files are back and sshd runs"):
        run(host, rollback_timeout=30, lockout_guard=False, settings={"AllowUsers": ["nobody-at-all"]})
    assert snapshot(host) == before
    assert not any(call[0] == "/usr/bin/systemd-run" for call in host.calls)
    assert [call for call in host.calls if call[1:2] == ["reload"]] == [["/usr/bin/systemctl", "reload", "ssh.service"]] * 2


def test_per_source_penalties_exempt_the_admin_sources_where_sshd_has_them(host):
    host.version = "OpenSSH_9.9p1"
    result, _warnings = run(host, penalty_exempt=["172.30.79.0/24"], connect_address="172.30.79.1")
    # With the IPv4-mapped form: a socket-activated sshd (ListenStream=22, dual-stack) sees ::ffff:172.30.79.x.
    # The controller's address is in the network already: not written twice.
    assert ("PerSourcePenaltyExemptList 172.30.79.0/24,::ffff:172.30.79.0/120\n"
            in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))
    with pytest.raises(_sshd.SshdError, match="has host bits set"):
        run(host, penalty_exempt=["172.30.79.5/24"])


def test_no_penalty_setting_before_openssh_9_8(host):
    run(host, penalty_exempt=["172.30.79.0/24"])
    assert "PerSourcePenalty" not in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf")


def test_without_admin_sources_the_penalty_is_told(host):
    host.version = "OpenSSH_9.9p1"
    _result, warnings = run(host, penalty_exempt_controller=False)
    assert any("penalty_exempt is empty" in warning for warning in warnings)


# The fault 3: no ssh service in the registry, so no admin sources; the controller's own address is exempt.
def test_the_controllers_address_is_exempt_by_default(host):
    host.version = "OpenSSH_9.9p1"
    _result, warnings = run(host, connect_address="198.51.100.7")
    assert ("PerSourcePenaltyExemptList 198.51.100.7/32,::ffff:198.51.100.7/128\n"
            in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))
    assert not any("penalty_exempt is empty" in warning for warning in warnings)
    run(host, penalty_exempt=["10.0.0.0/8"], connect_address="198.51.100.7")
    assert ("PerSourcePenaltyExemptList 10.0.0.0/8,::ffff:10.0.0.0/104,198.51.100.7/32,::ffff:198.51.100.7/128\n"
            in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))


def test_the_controllers_address_as_a_dual_stack_socket_sees_it(host):
    # A dual-stack socket (socket-activated sshd) shows an IPv4 client as ::ffff:a.b.c.d: both forms are written.
    host.version = "OpenSSH_9.9p1"
    run(host, connect_address="::ffff:172.30.79.1")
    assert ("PerSourcePenaltyExemptList 172.30.79.1/32,::ffff:172.30.79.1/128\n"
            in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))


def test_the_controllers_address_can_be_left_out(host):
    host.version = "OpenSSH_9.9p1"
    run(host, penalty_exempt=["10.0.0.0/8"], connect_address="198.51.100.7", penalty_exempt_controller=False)
    assert ("PerSourcePenaltyExemptList 10.0.0.0/8,::ffff:10.0.0.0/104\n"
            in read(host, "/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"))


def test_keys_the_controller_offers_first_refuse_a_low_max_auth_tries(host):
    # The fake ssh-keygen -l gives every authorized key the fingerprint SHA256:x.
    offered = [{"fingerprint": "SHA256:other%d" % number, "type": "ssh-ed25519", "origin": "ssh-agent (k%d)" % number}
               for number in (1, 2, 3)] + [{"fingerprint": "SHA256:x", "type": "ssh-ed25519",
                                           "origin": "identity file /keys/deploy"}]
    before = snapshot(host)
    with pytest.raises(_sshd.SshdError, match="offers root's key as key 4, after 3 keys sshd refuses .*MaxAuthTries 3"):
        run(host, settings=dict(params()["settings"], MaxAuthTries=3), offered_keys=offered)
    assert snapshot(host) == before
    result, _warnings = run(host, settings=dict(params()["settings"], MaxAuthTries=4), offered_keys=offered)
    assert result["changed"]


def test_listen_addresses_with_ports_and_the_socket_they_make(host):
    result, _warnings = run(host, settings={"Port": [22], "ListenAddress": ["0.0.0.0:22", "0.0.0.0:2222"]},
                            check_mode=True)
    assert result["listen_streams"] == ["0.0.0.0:22", "0.0.0.0:2222"]
    result, _warnings = run(host, settings={"Port": [2222, 22]}, check_mode=True)
    assert result["listen_streams"] == ["2222", "22"]
    with pytest.raises(SshdConfigError, match="'22222222' is not a port number"):
        run(host, settings={"ListenAddress": ["0.0.0.0:22222222"]}, check_mode=True)


def test_a_setting_the_roles_own_match_block_changes_for_this_session_is_not_a_failure(host):
    # Found on review: a Match block for the connecting user was always refused as "would not take effect".
    blocks = [{"criteria": {"User": "root"}, "settings": {"X11Forwarding": True}}]
    result, _warnings = run(host, match_blocks=blocks)
    assert result["changed"]


def test_a_vendor_match_block_overriding_a_setting_is_named(host):
    write(host, "/etc/ssh/sshd_config.d/60-vendor.conf", "Match User root\n  X11Forwarding yes\n")
    with pytest.raises(_sshd.SshdError, match="X11Forwarding is yes, not no \\(set by "
                                              "/etc/ssh/sshd_config.d/60-vendor.conf line 2 \\(X11Forwarding yes, "
                                              "inside Match User root\\)\\)"):
        run(host)


def test_the_main_file_disagreeing_is_reported(host):
    write(host, "/etc/ssh/sshd_config", DEBIAN_MAIN)
    result, warnings = run(host)
    assert ("/etc/ssh/sshd_config", "X11Forwarding") in [(item["file"], item["keyword"]) for item in result["conflicts"]]
    assert any("/etc/ssh/sshd_config line 5 sets X11Forwarding yes" in warning for warning in warnings)
