# -*- coding: utf-8 -*-
"""On each target: what sshd really runs with, read through sshd -T for the
connecting user, and the files the role owns."""

import re

import pytest

testinfra_hosts = ["portcullis-sshd-bullseye", "portcullis-sshd-bookworm", "portcullis-sshd-trixie"]

HARDENED = {
    "permitrootlogin": "no",
    "passwordauthentication": "no",
    "kbdinteractiveauthentication": "no",
    "pubkeyauthentication": "yes",
    "permitemptypasswords": "no",
    "hostbasedauthentication": "no",
    # Every login method is stated, so a distribution drop-in (40-distribution.conf turns GSSAPI on) cannot add one.
    "gssapiauthentication": "no",
    "kerberosauthentication": "no",
    "ignorerhosts": "yes",
    "x11forwarding": "no",
    "allowtcpforwarding": "no",
    "allowagentforwarding": "no",
    "permittunnel": "no",
    "gatewayports": "no",
    "permituserenvironment": "no",
    "maxauthtries": "3",
    "logingracetime": "30",
    "maxstartups": "10:30:60",
    "clientaliveinterval": "300",
    "clientalivecountmax": "2",
    "loglevel": "VERBOSE",
    "strictmodes": "yes",
    "port": "22",
    "banner": "/etc/ssh/portcullis-banner",
    "printlastlog": "no",
}
SAFE_MACS = {"hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"}
SAFE_CIPHERS = {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                "aes256-ctr", "aes192-ctr", "aes128-ctr"}


def effective(host, spec="user=deploy,host=172.30.79.1,addr=172.30.79.1"):
    out = host.check_output("sshd -T -C %s" % spec)
    values = {}
    for line in out.splitlines():
        key, _sep, value = line.partition(" ")
        values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("keyword,value", sorted(HARDENED.items()))
def test_hardened_setting_is_effective(host, keyword, value):
    assert effective(host)[keyword] == [value]


def test_crypto_is_from_the_modern_profile(host):
    values = effective(host)
    macs = set(values["macs"][0].split(","))
    ciphers = set(values["ciphers"][0].split(","))
    host_keys = values["hostkeyalgorithms"][0].split(",")
    assert macs <= SAFE_MACS and macs
    assert ciphers <= SAFE_CIPHERS and ciphers
    assert not [name for name in host_keys if "ecdsa" in name or "dss" in name or name == "ssh-rsa"]
    kex = values["kexalgorithms"][0].split(",")
    supported = host.check_output("ssh -Q kex").split()
    pq = [name for name in ("mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com")
          if name in supported]
    # Post-quantum hybrids only where sshd has them; curve25519 only where it has none (bullseye).
    assert kex == (pq or ["curve25519-sha256", "curve25519-sha256@libssh.org"])
    # Nothing written that this sshd does not know.
    for query, key in (("cipher", "ciphers"), ("mac", "macs"), ("kex", "kexalgorithms")):
        assert set(values[key][0].split(",")) <= set(host.check_output("ssh -Q %s" % query).split())


def test_access_lists_and_match_blocks(host):
    assert effective(host)["allowgroups"] == ["sudo sftponly"] or \
        effective(host)["allowgroups"] == ["sudo", "sftponly"]
    assert effective(host, "user=deploy,host=a,addr=172.30.79.20")["maxauthtries"] == ["2"]
    sftp = effective(host, "user=filedrop,host=a,addr=172.30.79.20")
    assert sftp["chrootdirectory"] == ["%h"]
    assert sftp["forcecommand"] == ["internal-sftp"]
    assert sftp["permittty"] == ["no"]


def test_host_keys(host):
    bits = int(host.check_output("ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub").split()[0])
    assert bits >= 3072
    assert effective(host)["hostkey"] == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]


def test_small_dh_groups_are_gone(host):
    sizes = [int(line.split()[4]) for line in host.file("/etc/ssh/moduli").content_string.splitlines()
             if line.strip() and not line.startswith("#")]
    assert sizes and min(sizes) >= 3071


def test_dropin_is_read_first(host):
    main = [line for line in host.file("/etc/ssh/sshd_config").content_string.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    assert main[0] == "Include /etc/ssh/sshd_config.d/*.conf"
    dropins = host.check_output("ls /etc/ssh/sshd_config.d").split()
    assert dropins[0] == "00-portcullis-hardening.conf"
    dropin = host.file("/etc/ssh/sshd_config.d/00-portcullis-hardening.conf")
    # Readable like sshd_config itself: nothing in it is secret, and --diff may show it.
    assert dropin.user == "root" and dropin.mode == 0o644
    # The cloud-init drop-in is still there; it loses.
    assert "PasswordAuthentication yes" in host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf").content_string


def test_sshd_runs_the_way_the_host_started_it(host):
    if host.backend.get_hostname() == "portcullis-sshd-trixie":
        assert host.service("ssh.socket").is_running
        assert not host.service("ssh.service").is_enabled
    else:
        assert host.service("ssh.service").is_running


def test_the_admin_sources_are_exempt_from_penalties_where_sshd_has_them(host):
    major, minor = re.search(r"OpenSSH_([0-9]+)\.([0-9]+)", host.check_output("ssh -V 2>&1")).groups()
    values = effective(host)
    if (int(major), int(minor)) >= (9, 8):
        # With the IPv4-mapped form a socket-activated (dual-stack) sshd sees.
        assert values["persourcepenaltyexemptlist"] == ["172.30.79.0/24,::ffff:172.30.79.0/120"]
    else:
        assert "persourcepenaltyexemptlist" not in values
