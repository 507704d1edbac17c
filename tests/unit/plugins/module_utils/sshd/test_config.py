# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sshd configuration as data: rendering, crypto choice, parsing, the
lockout guard's reasoning and the moduli filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.sshd import _config as conf
from ansible_collections.portcullis.ports.plugins.module_utils.sshd._config import SshdConfigError

# What `ssh -Q` printed on the three Debian releases (trimmed to what matters).
BULLSEYE = {
    "kex": {"curve25519-sha256", "curve25519-sha256@libssh.org", "sntrup4591761x25519-sha512@tinyssh.org",
            "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512", "diffie-hellman-group-exchange-sha256",
            "ecdh-sha2-nistp256", "diffie-hellman-group14-sha1"},
    "cipher": {"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
               "chacha20-poly1305@openssh.com", "aes128-cbc", "3des-cbc"},
    "mac": {"hmac-sha1", "hmac-sha2-256", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
            "umac-64-etm@openssh.com", "umac-128-etm@openssh.com"},
    "key-sig": {"ssh-ed25519", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-dss"},
}
POST_QUANTUM = {"mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"}
TRIXIE = dict(BULLSEYE, kex=BULLSEYE["kex"] | POST_QUANTUM)


def test_modern_takes_only_post_quantum_kex_where_sshd_has_it():
    settings, dropped = conf.choose_crypto("modern", TRIXIE)
    assert settings["KexAlgorithms"] == ["mlkem768x25519-sha256", "sntrup761x25519-sha512",
                                         "sntrup761x25519-sha512@openssh.com"]
    assert dropped == []


def test_modern_falls_back_to_curve25519_without_a_post_quantum_kex():
    settings, _dropped = conf.choose_crypto("modern", BULLSEYE)
    # The withdrawn sntrup4591761 is never chosen.
    assert settings["KexAlgorithms"] == ["curve25519-sha256", "curve25519-sha256@libssh.org"]


def test_compatible_adds_curve25519_and_large_dh_groups():
    settings, _dropped = conf.choose_crypto("compatible", TRIXIE)
    assert settings["KexAlgorithms"][:3] == ["mlkem768x25519-sha256", "sntrup761x25519-sha512",
                                             "sntrup761x25519-sha512@openssh.com"]
    assert settings["KexAlgorithms"][3:] == ["curve25519-sha256", "curve25519-sha256@libssh.org",
                                             "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
                                             "diffie-hellman-group-exchange-sha256"]


@pytest.mark.parametrize("supported", [BULLSEYE, TRIXIE])
def test_profiles_keep_only_supported_aead_ctr_etm_and_safe_host_keys(supported):
    for profile in conf.PROFILES:
        settings, _dropped = conf.choose_crypto(profile, supported)
        for keyword, query in conf.CRYPTO_KEYWORDS:
            assert set(settings[keyword]) <= supported[query]
        assert all(name.endswith("-etm@openssh.com") for name in settings["MACs"])
        assert "umac-64-etm@openssh.com" not in settings["MACs"]
        assert all("gcm" in name or "ctr" in name or "poly1305" in name for name in settings["Ciphers"])
        assert settings["HostKeyAlgorithms"] == ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]


def test_explicit_algorithms_unknown_to_sshd_are_dropped_and_named():
    settings, dropped = conf.choose_crypto("modern", BULLSEYE, {"Ciphers": ["aes256-gcm@openssh.com", "aes512-xyz"]})
    assert settings["Ciphers"] == ["aes256-gcm@openssh.com"]
    assert dropped == ["Ciphers aes512-xyz"]


def test_no_supported_algorithm_left_is_an_error():
    with pytest.raises(SshdConfigError, match="none of the MACs hmac-md5-xyz"):
        conf.choose_crypto("modern", BULLSEYE, {"MACs": ["hmac-md5-xyz"]})


def test_unknown_profile_is_named():
    with pytest.raises(SshdConfigError, match="unknown crypto profile 'paranoid'"):
        conf.choose_crypto("paranoid", BULLSEYE)


def test_render_dropin_writes_settings_then_match_blocks():
    text = conf.render_dropin(
        {"PermitRootLogin": "no", "PasswordAuthentication": False, "Port": [22, 2222],
         "AllowGroups": ["sudo", "sftponly"], "Ciphers": ["aes256-ctr", "aes128-ctr"], "MaxAuthTries": 3},
        [{"criteria": {"Group": "sftponly"}, "settings": {"ForceCommand": "internal-sftp", "PermitTTY": False}},
         {"criteria": {"User": ["alice", "bob"], "Address": "10.0.0.0/8"}, "settings": {"MaxAuthTries": 2}}])
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body == [
        "PermitRootLogin no", "PasswordAuthentication no", "Port 22", "Port 2222",
        "AllowGroups sudo sftponly", "Ciphers aes256-ctr,aes128-ctr", "MaxAuthTries 3",
        "Match Group sftponly", "    ForceCommand internal-sftp", "    PermitTTY no",
        "Match User alice,bob Address 10.0.0.0/8", "    MaxAuthTries 2",
    ]


@pytest.mark.parametrize("value", ["/etc/issue\nPermitRootLogin yes", 'a"b', "x # y", "caf\u00e9", "tab\there"])
def test_values_that_could_break_out_of_one_line_are_refused(value):
    with pytest.raises(SshdConfigError) as error:
        conf.render_dropin({"Banner": value}, [])
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("keyword", ["Match", "Include", "Permit Root", "1Port", ""])
def test_keywords_are_checked(keyword):
    with pytest.raises(SshdConfigError):
        conf.render_dropin({keyword: "x"}, [])


def test_list_items_may_not_hide_more_words():
    with pytest.raises(SshdConfigError, match="may not contain a space"):
        conf.render_dropin({"AllowUsers": ["alice bob"]}, [])
    with pytest.raises(SshdConfigError, match="or a comma"):
        conf.render_dropin({"AllowUsers": ["alice,bob"]}, [])


def test_match_criteria_are_checked():
    with pytest.raises(SshdConfigError, match="Match criterion 'Usr' is unknown"):
        conf.match_line({"Usr": "alice"})
    with pytest.raises(SshdConfigError, match="separate patterns with commas"):
        conf.match_line({"User": "alice bob"})
    assert conf.match_line("User alice Address 10.0.0.1") == "Match User alice Address 10.0.0.1"
    assert conf.match_line({"all": True}) == "Match All"
    with pytest.raises(SshdConfigError, match="has no settings"):
        conf.match_lines([{"criteria": {"User": "x"}, "settings": {}}])


def test_include_is_moved_to_the_top_never_doubled():
    main = "# header\nPort 22\nInclude /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"
    moved = conf.place_include_first(main, "/etc/ssh/sshd_config.d/*.conf")
    assert moved == "# header\nInclude /etc/ssh/sshd_config.d/*.conf\nPort 22\nUsePAM yes\n"
    assert conf.place_include_first(moved, "/etc/ssh/sshd_config.d/*.conf") == moved
    added = conf.place_include_first("UsePAM yes\n", "/etc/ssh/sshd_config.d/*.conf")
    assert added == "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"


def test_main_file_layout_puts_settings_first_and_match_blocks_last_and_is_stable():
    main = "# Debian\nUsePAM yes\nX11Forwarding yes\nMatch User old\n    PermitTTY no\n"
    blocks = [{"criteria": {"Group": "sftponly"}, "settings": {"ForceCommand": "internal-sftp"}}]
    once = conf.render_main_block(main, {"X11Forwarding": False}, blocks)
    directives = [(keyword, args, match) for _n, keyword, args, match in conf.parse_config(once)]
    assert directives[0] == ("X11Forwarding", "no", None)
    assert directives[-1] == ("ForceCommand", "internal-sftp", "Group sftponly")
    # Their Match block is untouched and still before ours.
    assert ("PermitTTY", "no", "User old") in directives
    assert conf.render_main_block(once, {"X11Forwarding": False}, blocks) == once


def test_conflicts_name_file_line_and_both_values():
    found = conf.conflicts([("/etc/ssh/sshd_config.d/50-cloud-init.conf",
                             "PasswordAuthentication yes\nMatch User x\n  PasswordAuthentication yes\n"),
                            ("/etc/ssh/sshd_config", "X11Forwarding no\nLoginGraceTime 2m\n")],
                           {"PasswordAuthentication": False, "X11Forwarding": False, "LoginGraceTime": 30})
    assert found == [("/etc/ssh/sshd_config.d/50-cloud-init.conf", 1, "PasswordAuthentication", "yes", "no", None),
                     ("/etc/ssh/sshd_config.d/50-cloud-init.conf", 3, "PasswordAuthentication", "yes", "no", "User x"),
                     ("/etc/ssh/sshd_config", 2, "LoginGraceTime", "2m", "30", None)]


def test_conflicts_see_old_names_and_skip_the_roles_own_block():
    # Found on review: ChallengeResponseAuthentication yes in a drop-in was not reported.
    main = ("%s\nKbdInteractiveAuthentication no\n%s\nChallengeResponseAuthentication yes\n"
            % (conf.BLOCK_BEGIN, conf.BLOCK_END))
    found = conf.conflicts([("/etc/ssh/sshd_config", conf.without_own_blocks(main))],
                           {"KbdInteractiveAuthentication": False})
    assert found == [("/etc/ssh/sshd_config", 4, "ChallengeResponseAuthentication (KbdInteractiveAuthentication)",
                      "yes", "no", None)]


def test_setter_of_names_a_match_block_first():
    files = [("/etc/ssh/sshd_config.d/00-portcullis-hardening.conf", "PasswordAuthentication no\n"),
             ("/etc/ssh/sshd_config.d/60-vendor.conf", "Match Address *\n  PasswordAuthentication yes\n")]
    assert conf.setter_of(files, "passwordauthentication") == (
        "/etc/ssh/sshd_config.d/60-vendor.conf line 2 (PasswordAuthentication yes, inside Match Address *)")


def test_time_values_read_like_sshd():
    assert conf.parse_seconds("90") == 90
    assert conf.parse_seconds("1m30s") == 90
    assert conf.parse_seconds("2h") == 7200
    with pytest.raises(SshdConfigError, match="not an sshd time value"):
        conf.parse_seconds("soon")


EFFECTIVE = """port 22
permitrootlogin without-password
passwordauthentication no
pubkeyauthentication yes
logingracetime 30
loglevel VERBOSE
listenaddress [::]:22
listenaddress 0.0.0.0:22
allowgroups sudo
allowgroups sftponly
authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2
authenticationmethods any
pubkeyacceptedalgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256
ciphers aes256-ctr,aes128-ctr
"""


def test_mismatches_compare_the_way_sshd_prints():
    effective = conf.parse_effective(EFFECTIVE)
    assert conf.mismatches(effective, {
        "PermitRootLogin": "prohibit-password", "PasswordAuthentication": False, "LoginGraceTime": "30s",
        "LogLevel": "verbose", "ListenAddress": ["0.0.0.0", "::"], "AllowGroups": ["sftponly", "sudo"],
        "Ciphers": ["aes256-ctr", "aes128-ctr"], "Port": [22]}) == []
    assert conf.mismatches(effective, {"PubkeyAuthentication": False, "Ciphers": ["aes128-ctr", "aes256-ctr"]}) == [
        ("PubkeyAuthentication", "no", "yes"), ("Ciphers", "aes128-ctr,aes256-ctr", "aes256-ctr,aes128-ctr")]


def test_a_port_another_file_repeats_is_the_same_port():
    # an adopted host whose admin moved sshd by a drop-in (sshd_config.d/port.conf: Port 2222): ours says it too
    twice = conf.parse_effective("port 2222\nport 2222\n")
    assert conf.mismatches(twice, {"Port": [2222]}) == []
    # another port beside ours is still one sshd would listen on: named
    assert conf.mismatches(conf.parse_effective("port 2222\nport 22\n"), {"Port": [2222]}) == [
        ("Port", "2222", "2222 22")]


def effective(**changes):
    values = conf.parse_effective(EFFECTIVE)
    for key, value in changes.items():
        values[key] = [value]
    return values


def test_lockout_nothing_stops_a_user_with_a_key():
    assert conf.lockout_reasons(effective(), "deploy", ["deploy", "sudo"], "10.0.0.5",
                                key_types=["ssh-ed25519"]) == []


@pytest.mark.parametrize("changes,groups,keys,reason", [
    ({"allowusers": "alice bob@10.0.0.0/8"}, ["sudo"], ["ssh-ed25519"], "AllowUsers (alice bob@10.0.0.0/8) does not match deploy"),
    ({"denyusers": "dep*"}, ["sudo"], ["ssh-ed25519"], "DenyUsers (dep*) matches deploy"),
    ({"denygroups": "sudo"}, ["sudo"], ["ssh-ed25519"], "DenyGroups (sudo) matches deploy's group sudo"),
    ({}, ["users"], ["ssh-ed25519"], "AllowGroups (sudo sftponly) matches none of deploy's groups (users)"),
    ({"authenticationmethods": "publickey,password"}, ["sudo"], ["ssh-ed25519"], "has no chain one public key satisfies"),
    # Tried as a new user would: two keys asked for, the controller has one.
    ({"authenticationmethods": "publickey,publickey"}, ["sudo"], ["ssh-ed25519"], "has no chain one public key satisfies"),
    ({"forcecommand": "/bin/false"}, ["sudo"], ["ssh-ed25519"], "ForceCommand /bin/false would run instead"),
    ({"maxsessions": "0"}, ["sudo"], ["ssh-ed25519"], "MaxSessions 0 allows no session at all"),
    ({"pubkeyauthentication": "no"}, ["sudo"], ["ssh-ed25519"], "PubkeyAuthentication is no and so is PasswordAuthentication"),
    ({}, ["sudo"], [], "deploy has no authorized key in AuthorizedKeysFile (.ssh/authorized_keys .ssh/authorized_keys2) "
                       "and password logins are off"),
    ({}, ["sudo"], ["ssh-dss"], "none of deploy's authorized keys (ssh-dss) is of a type"),
])
def test_lockout_reasons(changes, groups, keys, reason):
    reasons = conf.lockout_reasons(effective(**changes), "deploy", groups, "192.0.2.7", key_types=keys)
    assert any(reason in item for item in reasons), reasons


def test_lockout_allow_users_host_patterns_use_the_address():
    values = effective(allowusers="deploy@10.0.0.0/8")
    assert conf.lockout_reasons(values, "deploy", ["sudo"], "10.1.2.3", key_types=["ssh-ed25519"]) == []
    assert conf.lockout_reasons(values, "deploy", ["sudo"], "192.0.2.1", key_types=["ssh-ed25519"])


def test_lockout_root():
    values = effective(permitrootlogin="no", allowgroups="root")
    assert conf.lockout_reasons(values, "root", ["root"], "10.0.0.1", key_types=["ssh-ed25519"]) == [
        "PermitRootLogin is no and Ansible connects as root"]
    # prohibit-password lets root in with a key.
    assert conf.lockout_reasons(effective(allowgroups="root"), "root", ["root"], "10.0.0.1",
                                key_types=["ssh-ed25519"]) == []


def test_lockout_an_rsa_key_signs_with_sha2():
    assert conf.lockout_reasons(effective(), "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-rsa"]) == []


def test_lockout_keys_found_elsewhere_are_not_judged():
    assert conf.lockout_reasons(effective(), "deploy", ["sudo"], "10.0.0.1", key_types=None) == []


def test_authorized_key_types_skip_options_and_comments():
    text = ('# keys\n'
            'command="echo hi there",no-pty ssh-ed25519 AAAAC3 alice@laptop\n'
            'ssh-rsa AAAAB3 bob\n'
            '\n'
            'from="10.0.0.0/8" ecdsa-sha2-nistp256 AAAAE2 carol\n')
    assert conf.authorized_key_types(text) == ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"]


def test_expand_keys_path():
    assert conf.expand_keys_path(".ssh/authorized_keys", "deploy", "/home/deploy") == "/home/deploy/.ssh/authorized_keys"
    assert conf.expand_keys_path("/etc/ssh/keys/%u", "deploy", "/home/deploy") == "/etc/ssh/keys/deploy"
    assert conf.expand_keys_path("%h/.ssh/k%%", "deploy", "/home/deploy") == "/home/deploy/.ssh/k%"


MODULI = """# Time Type Tests Tries Size Generator Modulus
20230101000000 2 6 100 2047 2 C0FF
20230101000000 2 6 100 3071 5 C1FF
20230101000000 2 6 100 4095 2 C2FF
"""


def test_moduli_filter_removes_groups_below_the_minimum_and_is_stable():
    filtered, removed = conf.filter_moduli(MODULI, 3072)
    assert removed == 1
    assert "2047" not in filtered and "3071" in filtered and filtered.startswith("# Time")
    assert conf.filter_moduli(filtered, 3072) == (filtered, 0)
    assert conf.moduli_entries(filtered) == 2


def test_unknown_options_from_sshd_output():
    output = ("/tmp/o.conf: line 1: Bad configuration option: Foo\n"
              "/tmp/o.conf line 2: Deprecated option UsePrivilegeSeparation\n"
              "/tmp/o.conf line 3: Unsupported option GSSAPIAuthentication\n")
    assert conf.unknown_options(output) == ["Foo", "UsePrivilegeSeparation", "GSSAPIAuthentication"]


def test_openssh_version():
    assert conf.openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.20") == (9, 2)
    with pytest.raises(SshdConfigError, match="cannot read the OpenSSH version"):
        conf.openssh_version("Dropbear")


def test_lockout_moving_sshd_off_the_connected_port_or_address():
    # sshd -T prints every listen address with its port.
    moved = effective(port="2222", listenaddress="[::]:2222")
    reasons = conf.lockout_reasons(moved, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                   server=("10.0.0.9", "22"))
    assert reasons == ["sshd would stop listening on port 22, the one Ansible is connected to (new: 2222); listen "
                       "on both during the move (the role's portcullis_sshd_previous_port), then point ansible_port "
                       "at the new one"]
    both = conf.parse_effective(EFFECTIVE + "port 2222\n")
    assert conf.lockout_reasons(both, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                server=("10.0.0.9", "22")) == []
    narrowed = effective(listenaddress="127.0.0.1:22")
    assert conf.lockout_reasons(narrowed, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                server=("10.0.0.9", "22")) == [
        "sshd would no longer listen on 10.0.0.9 port 22, where Ansible is connected (it would listen on 127.0.0.1:22; "
        ":: is IPv6 only and 0.0.0.0 IPv4 only for sshd)"]
    assert conf.lockout_reasons(effective(listenaddress="10.0.0.9:22"), "deploy", ["sudo"], "10.0.0.1",
                                key_types=["ssh-ed25519"], server=("10.0.0.9", "22")) == []


@pytest.mark.parametrize("listen, server, locked", [
    # Tried as a new user would: :: while Ansible came over IPv4, 0.0.0.0 while it came over IPv6.
    ("[::]:22", ("10.0.0.9", "22"), True),
    ("0.0.0.0:22", ("2001:db8::9", "22"), True),
    ("0.0.0.0:22", ("10.0.0.9", "22"), False),
    ("[::]:22", ("2001:db8::9", "22"), False),
    ("[2001:db8::9]:22", ("2001:db8::9", "22"), False),
    ("0.0.0.0:2222", ("10.0.0.9", "22"), True),
])
def test_lockout_listening_needs_the_sessions_family(listen, server, locked):
    values = conf.parse_effective(EFFECTIVE.replace("listenaddress", "#") + "listenaddress %s\n" % listen)
    reasons = conf.lockout_reasons(values, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"], server=server)
    assert bool(reasons) is locked, reasons


def test_lockout_the_sessions_own_key():
    account = {"user": "deploy", "shell": "/bin/bash", "home": "/home/deploy", "fingerprints": ["SHA256:aaa"]}
    key = ("ED25519", "SHA256:aaa")
    assert conf.lockout_reasons(effective(), "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                session_key=key, account=account) == []
    # AuthorizedKeysFile moved to a file without the session's key.
    assert conf.lockout_reasons(effective(), "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                session_key=key, account=dict(account, fingerprints=["SHA256:bbb"])) == [
        "the key this session logged in with (ED25519 SHA256:aaa) is not in AuthorizedKeysFile "
        "(.ssh/authorized_keys .ssh/authorized_keys2)"]
    # An ECDSA key after hardening dropped ECDSA.
    hardened = effective(pubkeyacceptedalgorithms="ssh-ed25519,rsa-sha2-512,rsa-sha2-256")
    reasons = conf.lockout_reasons(hardened, "deploy", ["sudo"], "10.0.0.1", key_types=["ecdsa-sha2-nistp256"],
                                   session_key=("ECDSA", "SHA256:aaa"), account=account)
    assert reasons and "the key this session logged in with is ECDSA, which PubkeyAcceptedAlgorithms" in reasons[0]


def test_lockout_an_rsa_session_when_sha1_signatures_stop_being_accepted():
    # Found on review: a client that signs only with ssh-rsa (SHA-1) was locked out without a word.
    account = {"user": "deploy", "shell": "/bin/bash", "home": "/home/deploy", "fingerprints": ["SHA256:rrr"]}
    serving = effective(pubkeyacceptedalgorithms="ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa")
    hardened = effective(pubkeyacceptedalgorithms="ssh-ed25519,rsa-sha2-512,rsa-sha2-256")
    reasons = conf.lockout_reasons(hardened, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-rsa"],
                                   session_key=("RSA", "SHA256:rrr"), account=account, previous=serving)
    assert reasons and "while ssh-rsa (SHA-1 signatures) is accepted" in reasons[0]
    # Not when SHA-1 was not accepted before either (the client then signs with rsa-sha2), nor for other keys.
    assert conf.lockout_reasons(hardened, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-rsa"],
                                session_key=("RSA", "SHA256:rrr"), account=account, previous=hardened) == []
    assert conf.lockout_reasons(hardened, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-rsa"],
                                session_key=("ED25519", "SHA256:rrr"), account=account, previous=serving) == []


def test_lockout_chroot_without_a_shell():
    account = {"user": "deploy", "shell": "/bin/bash", "home": "/home/deploy", "fingerprints": None}
    values = effective(chrootdirectory="%h")
    reasons = conf.lockout_reasons(values, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"], account=account,
                                   exists=lambda path: False)
    assert reasons == ["ChrootDirectory %h has no /bin/bash or /usr/bin/python3 inside, so neither the login shell nor "
                       "Ansible's modules would run"]
    assert conf.lockout_reasons(values, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"], account=account,
                                exists=lambda path: path in ("/home/deploy/bin/bash", "/home/deploy/usr/bin/python3")) == []


def test_session_key_from_the_log():
    lines = ["Accepted publickey for deploy from 10.0.0.1 port 50000 ssh2: ED25519 SHA256:aaa",
             "Accepted publickey for deploy from 10.0.0.1 port 50001 ssh2: RSA SHA256:bbb",
             "sshd-session[12]: Accepted publickey for other from 10.0.0.1 port 50000 ssh2: ECDSA SHA256:ccc"]
    assert conf.session_key(lines, "deploy", "10.0.0.1", "50000") == ("ED25519", "SHA256:aaa")
    assert conf.session_key(lines, "deploy", "10.0.0.1", 50001) == ("RSA", "SHA256:bbb")
    assert conf.session_key(lines, "deploy", "10.0.0.2", "50000") is None


# The fault 2: ListenAddress 0.0.0.0:22 and 0.0.0.0:2222 (valid for sshd) were read as "0.0.0.0 0.0.0.0".
@pytest.mark.parametrize("item, parsed", [
    ("0.0.0.0", ("0.0.0.0", None)),
    ("0.0.0.0:2222", ("0.0.0.0", "2222")),
    ("[::]:2222", ("::", "2222")),
    ("[fd00::1]", ("fd00::1", None)),
    ("fd00::1", ("fd00::1", None)),
    ("::", ("::", None)),
    ("host.example:22", ("host.example", "22")),
    ("10.0.0.5:22 rdomain blue", ("10.0.0.5", "22")),
])
def test_listen_address_is_read_as_sshd_reads_it(item, parsed):
    assert conf.split_listen_address(item) == parsed


@pytest.mark.parametrize("item, message", [
    ("0.0.0.0:0", "is not a port number"),
    ("0.0.0.0:ssh", "is not a port number"),
    ("[::]:70000", "is not a port number"),
    ("[::]x", "write \\[address\\]:port"),
    (":22", "no address"),
])
def test_listen_address_with_a_bad_port_is_refused(item, message):
    with pytest.raises(SshdConfigError, match=message):
        conf.split_listen_address(item)


def test_listen_addresses_with_ports_are_compared_with_their_ports():
    both = conf.parse_effective("listenaddress 0.0.0.0:22\nlistenaddress 0.0.0.0:2222\n")
    assert conf.mismatches(both, {"ListenAddress": ["0.0.0.0:22", "0.0.0.0:2222"]}) == []
    assert conf.mismatches(both, {"ListenAddress": ["0.0.0.0"]}) == []
    one = conf.parse_effective("listenaddress 0.0.0.0:22\n")
    assert conf.mismatches(one, {"ListenAddress": ["0.0.0.0:22", "0.0.0.0:2222"]}) == [
        ("ListenAddress", "0.0.0.0:22 0.0.0.0:2222", "0.0.0.0:22")]


def test_a_move_written_as_listen_addresses_keeps_the_session():
    # Port says 2222, but each ListenAddress carries its own port: sshd listens on 22 and 2222.
    values = conf.parse_effective(EFFECTIVE.replace("listenaddress", "#").replace("port 22", "port 2222")
                                  + "listenaddress 0.0.0.0:22\nlistenaddress 0.0.0.0:2222\n")
    assert conf.lockout_reasons(values, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"],
                                server=("10.0.0.9", "22")) == []
    gone = conf.parse_effective(EFFECTIVE.replace("listenaddress", "#") + "listenaddress 0.0.0.0:2222\n")
    assert "would stop listening on port 22" in conf.lockout_reasons(
        gone, "deploy", ["sudo"], "10.0.0.1", key_types=["ssh-ed25519"], server=("10.0.0.9", "22"))[0]


def test_socket_listen_streams_follow_port_and_listen_address():
    assert conf.listen_streams([22], []) == ["22"]
    assert conf.listen_streams([2222, 22], []) == ["2222", "22"]
    assert conf.listen_streams([22], ["0.0.0.0:22", "0.0.0.0:2222"]) == ["0.0.0.0:22", "0.0.0.0:2222"]
    assert conf.listen_streams([2222, 22], ["10.0.0.5", "::"]) == [
        "10.0.0.5:2222", "10.0.0.5:22", "[::]:2222", "[::]:22"]
    assert conf.listen_streams([22], ["[fd00::1]:2222"]) == ["[fd00::1]:2222"]


DEPLOY_KEY = {"fingerprint": "SHA256:deploy", "type": "ssh-ed25519", "origin": "ssh-agent (deploy)"}
AGENT_KEYS = [{"fingerprint": "SHA256:other%d" % number, "type": "ssh-ed25519", "origin": "ssh-agent (other%d)" % number}
              for number in (1, 2, 3)]
DEPLOY_ACCOUNT = {"user": "deploy", "shell": "/bin/bash", "home": "/home/deploy", "fingerprints": ["SHA256:deploy"]}


# The fault 1: an agent with three unrelated keys before the deploy key, and MaxAuthTries 3.
def test_lockout_keys_offered_before_the_deploy_key_exhaust_max_auth_tries():
    reasons = conf.lockout_reasons(effective(maxauthtries="3"), "deploy", ["sudo"], "10.0.0.1",
                                   key_types=["ssh-ed25519"], account=DEPLOY_ACCOUNT,
                                   offered=AGENT_KEYS + [DEPLOY_KEY])
    assert reasons == [
        "the controller's next login offers deploy's key as key 4, after 3 keys sshd refuses (3 from the ssh-agent), "
        "and MaxAuthTries 3 disconnects at the 3rd refusal (Too many authentication failures): allow at least 4 "
        "(the role's portcullis_sshd_max_auth_tries), or have the controller offer that key first (IdentitiesOnly=yes "
        "with its key file)"]


@pytest.mark.parametrize("tries, offered, locked", [
    ("4", AGENT_KEYS + [DEPLOY_KEY], False),
    ("3", [DEPLOY_KEY] + AGENT_KEYS, False),
    ("2", AGENT_KEYS[:1] + [DEPLOY_KEY], False),
    ("1", AGENT_KEYS[:1] + [DEPLOY_KEY], True),
    # No offered key is authorized: the guard does not know which logs in, and says nothing of it.
    ("1", AGENT_KEYS, False),
])
def test_lockout_the_position_of_the_key_that_logs_in(tries, offered, locked):
    reasons = conf.lockout_reasons(effective(maxauthtries=tries), "deploy", ["sudo"], "10.0.0.1",
                                   key_types=["ssh-ed25519"], account=DEPLOY_ACCOUNT, offered=offered)
    assert bool(reasons) is locked, reasons


def test_lockout_offered_keys_against_the_sessions_key_when_the_files_are_unknown():
    # An AuthorizedKeysCommand: no fingerprints from files, the log's key stands for the authorized one.
    account = dict(DEPLOY_ACCOUNT, fingerprints=None)
    reasons = conf.offer_reasons(effective(maxauthtries="2"), "deploy", AGENT_KEYS + [DEPLOY_KEY], account,
                                 ("ED25519", "SHA256:deploy"))
    assert "offers deploy's key as key 4, after 3 keys" in reasons[0] and "MaxAuthTries 2" in reasons[0]
