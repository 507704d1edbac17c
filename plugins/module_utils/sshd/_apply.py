# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the sshd_config module does on the host, in order: learn what the
installed sshd supports, build the candidate files, validate them with
`sshd -t` and read their effective result with `sshd -T -C` from a staging
copy, refuse a lockout, and only then replace files, putting every one back
if the live check fails."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import glob
import grp
import ipaddress
import os
import pwd
import shutil
import tempfile

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.sshd import _config as conf
from ansible_collections.portcullis.ports.plugins.module_utils._host import read as _read
from ansible_collections.portcullis.ports.plugins.module_utils._host import write_atomic as _write_atomic
from ansible_collections.portcullis.ports.plugins.module_utils._host import find_ssh_session

INCLUDE_SINCE = (8, 2)
# PerSourcePenalties (and its exempt list) since OpenSSH 9.8.
PENALTIES_SINCE = (9, 8)
STATE_DIR = "/var/lib/portcullis"


class SshdError(Exception):
    pass


def argument_spec():
    """The sshd_config module's options, from the profiles, key kinds and
    layouts this feature knows."""
    return dict(
        settings=dict(type="dict", default={}),
        match_blocks=dict(type="list", elements="dict", default=[], options=dict(
            criteria=dict(type="raw", required=True),
            settings=dict(type="dict", required=True),
        )),
        crypto_profile=dict(type="str", choices=list(conf.PROFILE_CHOICES), default="modern"),
        kex_algorithms=dict(type="list", elements="str"),
        ciphers=dict(type="list", elements="str"),
        macs=dict(type="list", elements="str"),
        host_key_algorithms=dict(type="list", elements="str", no_log=False),
        host_keys=dict(type="list", elements="str", choices=list(conf.HOST_KEY_KINDS), default=list(conf.HOST_KEY_KINDS),
                       no_log=False),
        rsa_min_bits=dict(type="int", default=3072),
        rsa_bits=dict(type="int", default=4096),
        moduli_min_bits=dict(type="int", default=3072),
        moduli_path=dict(type="path", default="/etc/ssh/moduli"),
        banner=dict(type="str"),
        banner_path=dict(type="path", default="/etc/ssh/portcullis-banner"),
        layout=dict(type="str", choices=list(conf.LAYOUTS), default="auto"),
        config_path=dict(type="path", default="/etc/ssh/sshd_config"),
        dropin_path=dict(type="path", default="/etc/ssh/sshd_config.d/00-portcullis-hardening.conf"),
        lockout_guard=dict(type="bool", default=True),
        connect_user=dict(type="str"),
        connect_address=dict(type="str"),
        rollback_timeout=dict(type="int", default=0),
        penalty_exempt=dict(type="list", elements="str", default=[]),
        penalty_exempt_controller=dict(type="bool", default=True),
        offered_keys=dict(type="list", elements="dict", no_log=False, options=dict(
            fingerprint=dict(type="str", no_log=False),
            type=dict(type="str"),
            origin=dict(type="str", required=True),
        )),
        confirm=dict(type="str"),
    )


def find_login(environ=None, proc_root="/proc"):
    """(user, client address, server port, server address, client port) of the
    SSH session Ansible runs in, or None. Under sudo USER is root, so the user
    comes from the session's own environment."""
    session = find_ssh_session(environ, proc_root)
    parts = session["SSH_CONNECTION"].split() if session else []
    if len(parts) != 4:
        return None
    user = session.get("LOGNAME") or session.get("USER") or (environ or os.environ).get("SUDO_USER")
    return user, parts[0], parts[3], parts[2], parts[1]


class Sshd:
    def __init__(self, runner, params, root="/"):
        self.runner = runner
        self.params = params
        self.root = root
        self.warnings = []

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/")) if self.root != "/" else path

    def _run(self, argv, what):
        rc, out, err = self.runner.run(argv)
        if rc != 0:
            raise SshdError("%s failed (%s): %s" % (what, " ".join(argv), (err or out).strip()))
        return out

    # What the installed sshd is and supports.
    def probe(self):
        self.sshd = self.runner.which("sshd")
        self.ssh = self.runner.which("ssh")
        self.keygen = self.runner.which("ssh-keygen")
        missing = [name for name, found in (("sshd", self.sshd), ("ssh", self.ssh), ("ssh-keygen", self.keygen))
                   if not found]
        if missing:
            raise SshdError("%s not found on the host: install the OpenSSH server and client" % ", ".join(missing))
        _rc, out, err = self.runner.run([self.ssh, "-V"])
        self.version = conf.openssh_version(err + out)
        supported = {}
        for query in ("kex", "cipher", "mac", "key-sig", "key"):
            rc, out, _err = self.runner.run([self.ssh, "-Q", query])
            if rc != 0 and query == "key-sig":
                rc, out, _err = self.runner.run([self.ssh, "-Q", "sig"])
            supported[query] = set(out.split()) if rc == 0 else set()
        # Signature algorithms plus the plain key types (ssh-ed25519 is both).
        supported["key-sig"] |= supported["key"]
        self.supported = supported
        # sshd -t insists on its privilege separation directory, which systemd creates
        # only while ssh.service runs (not under socket activation between connections).
        # Made for the checks; removed again afterwards in check mode, which leaves no trace.
        privsep = self.path("/run/sshd")
        self.made_privsep = None
        if not os.path.isdir(privsep):
            os.makedirs(privsep, 0o755)
            self.made_privsep = privsep

    def layout(self):
        wanted = self.params["layout"]
        main_text = _read(self.path(self.params["config_path"]))
        if main_text is None:
            raise SshdError("%s does not exist or cannot be read" % self.params["config_path"])
        has_include = self.version >= INCLUDE_SINCE
        if wanted == "dropin" and not has_include:
            raise SshdError("OpenSSH %d.%d has no Include: use layout main" % self.version)
        return ("dropin" if has_include else "main") if wanted == "auto" else wanted, main_text

    # The settings, with the crypto chosen from what sshd supports.
    def settings(self):
        settings = dict(self.params["settings"] or {})
        for keyword in list(settings):
            conf.check_keyword(keyword)
        listen = settings.get("ListenAddress")
        for item in (listen if isinstance(listen, list) else [listen] if listen else []):
            if "," in str(item) or " " in str(item).strip():
                raise SshdError("ListenAddress %r: one address per item; give a list (['0.0.0.0', '::']), not "
                                "several in one string" % (item,))
            conf.split_listen_address(item)
        overrides = dict((keyword, self.params.get(option)) for keyword, option in
                         (("KexAlgorithms", "kex_algorithms"), ("Ciphers", "ciphers"), ("MACs", "macs"),
                          ("HostKeyAlgorithms", "host_key_algorithms")))
        if self.params["crypto_profile"] != "none":
            crypto, dropped = conf.choose_crypto(self.params["crypto_profile"], self.supported, overrides)
            for name in dropped:
                self.warnings.append("left out %s: the installed sshd (OpenSSH %d.%d) does not support it"
                                     % ((name,) + self.version))
            settings.update(crypto)
        host_keys = [self.host_key_path(kind) for kind in self.params["host_keys"]]
        if host_keys:
            settings["HostKey"] = host_keys
        if self.params["banner"]:
            settings["Banner"] = self.params["banner_path"]
        exempt = with_controller(self.params.get("penalty_exempt") or [], self.controller_address())
        if exempt and self.version >= PENALTIES_SINCE:
            # OpenSSH 9.8+ penalises a source after failed or unauthenticated connections
            # (PerSourcePenalties); the admin sources must not lock themselves out that way.
            settings["PerSourcePenaltyExemptList"] = ",".join(penalty_exempt_list(exempt))
        elif self.version >= PENALTIES_SINCE:
            self.warnings.append("OpenSSH %d.%d penalises a source address after unauthenticated connections "
                                 "(PerSourcePenalties) and penalty_exempt is empty: a scan from the controller's "
                                 "address can keep Ansible out for a while; give the admin sources (the role takes "
                                 "the registry's ssh allow_from)" % self.version)
        return settings

    def controller_address(self):
        """The address the controller's session comes from as this host sees it
        (after any NAT), for the penalty exempt list; None when off or unknown."""
        if not self.params.get("penalty_exempt_controller", True):
            return None
        detected = find_login()
        return self.params.get("connect_address") or (detected[1] if detected else None)

    def host_key_path(self, kind):
        return "/etc/ssh/ssh_host_%s_key" % kind

    def check_options(self, settings, blocks):
        """Every keyword of ours, in Match blocks too, must be one the installed sshd
        knows, with a value it accepts: sshd -t on a file of just those lines."""
        lines, seen = [], set(["hostkey"])
        for mapping in [settings] + [block.get("settings") or {} for block in blocks]:
            for keyword, value in mapping.items():
                if keyword.lower() not in seen:
                    seen.add(keyword.lower())
                    lines += conf.setting_lines({keyword: value})
        probe_dir = tempfile.mkdtemp(prefix="portcullis-sshd-")
        try:
            probe = os.path.join(probe_dir, "options.conf")
            with open(probe, "w") as handle:
                handle.write("\n".join(lines) + "\n")
            rc, out, err = self.runner.run([self.sshd, "-t", "-f", probe])
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        unknown = conf.unknown_options(out + err)
        if unknown:
            raise SshdError("the installed sshd (OpenSSH %d.%d) does not know the option(s) %s"
                            % (self.version + (", ".join(sorted(set(unknown))),)))
        if rc != 0:
            raise SshdError("sshd rejects the settings: %s" % (err or out).strip().replace(probe, "settings"))

    # Host keys and moduli.
    def host_key_plan(self):
        """[(kind, path, reason)] for keys to generate."""
        plan = []
        for kind in self.params["host_keys"]:
            path = self.path(self.host_key_path(kind))
            if not os.path.exists(path):
                plan.append((kind, path, "missing"))
                continue
            if kind == "rsa":
                rc, out, _err = self.runner.run([self.keygen, "-l", "-f", path])
                bits = int(out.split()[0]) if rc == 0 and out.split() and out.split()[0].isdigit() else 0
                if bits < self.params["rsa_min_bits"]:
                    plan.append((kind, path, "%d bits, fewer than %d" % (bits, self.params["rsa_min_bits"])))
        return plan

    def generate_key(self, kind, path):
        """A new key next to the old one; moved into place by the caller."""
        staging = tempfile.mkdtemp(prefix=".portcullis-key-", dir=os.path.dirname(path))
        target = os.path.join(staging, os.path.basename(path))
        argv = [self.keygen, "-q", "-N", "", "-t", kind, "-f", target, "-C", ""]
        if kind == "rsa":
            argv += ["-b", str(self.params["rsa_bits"])]
        self._run(argv, "generating the %s host key" % kind)
        return staging, target

    def moduli_plan(self):
        path = self.path(self.params["moduli_path"])
        if not self.params["moduli_min_bits"]:
            return None
        current = _read(path)
        if current is None:
            return None
        filtered, removed = conf.filter_moduli(current, self.params["moduli_min_bits"])
        if removed and not conf.moduli_entries(filtered):
            raise SshdError("every group in %s is smaller than %d bits; refusing to leave it empty"
                            % (self.params["moduli_path"], self.params["moduli_min_bits"]))
        return (path, current, filtered, removed) if removed else None

    @staticmethod
    def include_target(target):
        """An Include argument as an absolute path: sshd reads relative ones from /etc/ssh."""
        return target if target.startswith("/") else os.path.join("/etc/ssh", target)

    # Staging: the candidate files in a scratch directory, the includes pointed there.
    def stage(self, main_text, dropin_text):
        dropin_path = self.params["dropin_path"]
        dropin_dir = os.path.dirname(dropin_path)
        scratch = tempfile.mkdtemp(prefix="portcullis-sshd-stage-")
        staged_dir = os.path.join(scratch, "sshd_config.d")
        os.mkdir(staged_dir)
        real_dir = self.path(dropin_dir)
        for path in sorted(glob.glob(os.path.join(real_dir, "*"))):
            if os.path.isfile(path) and not os.path.basename(path).startswith(".portcullis-"):
                shutil.copy(path, staged_dir)
        if dropin_text is not None:
            with open(os.path.join(staged_dir, os.path.basename(dropin_path)), "w") as handle:
                handle.write(dropin_text)
        lines = []
        for line in main_text.splitlines(True):
            words = line.split()
            if len(words) >= 2 and words[0].lower() == "include":
                targets = []
                for target in words[1:]:
                    absolute = self.include_target(target)
                    if os.path.dirname(absolute) == dropin_dir:
                        absolute = os.path.join(staged_dir, os.path.basename(absolute))
                    elif self.root != "/":
                        absolute = self.path(absolute)
                    targets.append(absolute)
                line = "%s %s\n" % (words[0], " ".join(targets))
            lines.append(line)
        staged_main = os.path.join(scratch, "sshd_config")
        with open(staged_main, "w") as handle:
            handle.write("".join(lines))
        return scratch, staged_main, staged_dir

    def read_order(self, main_text, dropin_text, layout):
        """(path, text) of the files in the order sshd reads them, for reports."""
        files = []
        dropin_path = self.params["dropin_path"]
        dropin_dir = os.path.dirname(dropin_path)
        for number, keyword, args, match in conf.parse_config(main_text):
            if keyword.lower() == "include" and match is None:
                for target in args.split():
                    absolute = self.include_target(target)
                    for path in sorted(set(glob.glob(self.path(absolute)))
                                       | ({self.path(dropin_path)} if layout == "dropin" and
                                          os.path.dirname(absolute) == dropin_dir and
                                          fnmatch.fnmatch(dropin_path, absolute) else set())):
                        if os.path.basename(path).startswith(".portcullis-"):
                            continue
                        text = dropin_text if path == self.path(dropin_path) else _read(path)
                        files.append((path if self.root == "/" else "/" + os.path.relpath(path, self.root),
                                      text or ""))
        files.append((self.params["config_path"], main_text))
        return files

    def sshd_test(self, config, what):
        rc, out, err = self.runner.run([self.sshd, "-t", "-f", config])
        if rc != 0:
            raise SshdError("%s: sshd -t rejects it: %s" % (what, (err or out).strip()))

    def effective(self, config, login):
        user, address, port, server_address = login
        spec = "user=%s,host=%s,addr=%s" % (user, address, address)
        if port:
            spec += ",laddr=%s,lport=%s" % (server_address, port)
        return conf.parse_effective(self._run([self.sshd, "-T", "-f", config, "-C", spec],
                                              "reading the effective configuration"))

    def current_effective(self, login):
        """The effective configuration serving this session now, or None when it cannot be read."""
        try:
            return self.effective(self.path(self.params["config_path"]), login)
        except SshdError:
            return None

    def login(self):
        """Who must still get in: the connecting user (or the one named)."""
        detected = find_login()
        user = self.params["connect_user"] or (detected[0] if detected else None)
        address = self.params["connect_address"] or (detected[1] if detected else None) or "127.0.0.1"
        # The local end and the client's port are only known from the session itself.
        if detected and not self.params["connect_address"]:
            self.client_port = detected[4]
            return user, address, detected[2], detected[3]
        self.client_port = None
        return user, address, None, None

    def user_facts(self, user, effective):
        """(groups, key types, account): the user's groups, the types of the keys
        the effective AuthorizedKeysFile holds (None with an AuthorizedKeysCommand),
        and the account's shell, home and key fingerprints."""
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SshdError("the connecting user %r does not exist on the host" % user)
        groups = sorted(set([grp.getgrgid(entry.pw_gid).gr_name] +
                            [group.gr_name for group in grp.getgrall() if user in group.gr_mem]))
        account = {"user": user, "shell": entry.pw_shell, "home": entry.pw_dir, "fingerprints": None}
        if " ".join(effective.get("authorizedkeyscommand", ["none"])) not in ("none", ""):
            return groups, None, account
        key_types = []
        fingerprints = []
        for pattern in " ".join(effective.get("authorizedkeysfile", [])).split():
            if pattern.lower() == "none":
                continue
            path = self.path(conf.expand_keys_path(pattern, user, entry.pw_dir))
            key_types += conf.authorized_key_types(_read(path))
            if os.path.isfile(path):
                rc, out, _err = self.runner.run([self.keygen, "-l", "-f", path])
                fingerprints += [line.split()[1] for line in out.splitlines() if rc == 0 and len(line.split()) > 1]
        account["fingerprints"] = fingerprints
        return groups, key_types, account

    def session_key(self, user, address):
        """(type, fingerprint) of the key this session logged in with, from
        sshd's log (journal, or auth.log), or None when it is not there."""
        if not self.client_port:
            return None
        lines = []
        journalctl = self.runner.which("journalctl")
        if journalctl:
            rc, out, _err = self.runner.run([journalctl, "-q", "-o", "cat", "--no-pager", "-n", "20000",
                                             "-t", "sshd", "-t", "sshd-session"])
            lines = out.splitlines() if rc == 0 else []
        if not lines:
            lines = (_read(self.path("/var/log/auth.log")) or "").splitlines()
        return conf.session_key(lines, user, address, self.client_port)

    def run(self, check_mode):
        if self.params.get("confirm"):
            try:
                self.rollback().confirm(self.params["confirm"])
            except ValueError as error:
                raise SshdError(str(error))
            return {"changed": False, "confirmed": self.params["confirm"]}
        timeout = self.params.get("rollback_timeout") or 0
        if not 0 <= timeout <= 3600:
            raise SshdError("rollback_timeout %r must be from 0 (off) to 3600 seconds" % timeout)
        self.probe()
        try:
            return self._run_checked(check_mode, timeout)
        finally:
            if check_mode and self.made_privsep and os.path.isdir(self.made_privsep):
                os.rmdir(self.made_privsep)

    def rollback(self):
        return _host.Rollback(self.runner, self.path(STATE_DIR), os.path.isdir(self.path("/run/systemd/system")))

    def _run_checked(self, check_mode, timeout):
        params = self.params
        layout, main_text = self.layout()
        settings = self.settings()
        blocks = params["match_blocks"] or []
        self.check_options(settings, blocks)
        for keyword in ("LoginGraceTime", "ClientAliveInterval"):
            if settings.get(keyword) is not None:
                conf.parse_seconds(settings[keyword])

        dropin_path = self.path(params["dropin_path"])
        include_glob = os.path.join(os.path.dirname(params["dropin_path"]), "*.conf")
        if layout == "dropin":
            dropin_text = conf.render_dropin(settings, blocks)
            new_main = conf.place_include_first(main_text, include_glob)
        else:
            dropin_text = None
            new_main = conf.render_main_block(main_text, settings, blocks)
        old_dropin = _read(dropin_path) if layout == "dropin" else None
        key_plan = self.host_key_plan()
        moduli = self.moduli_plan()
        banner_path = self.path(params["banner_path"])
        banner_text = None
        if params["banner"]:
            banner_text = params["banner"] if params["banner"].endswith("\n") else params["banner"] + "\n"
        old_banner = _read(banner_path) if banner_text is not None else None

        files = self.read_order(new_main, dropin_text, layout)
        # Every other file, the main one too (without this role's own block when it lives there).
        others = [(path, conf.without_own_blocks(text) if path == params["config_path"] else text)
                  for path, text in files if path != params["dropin_path"]]
        found_conflicts = [dict(file=path, line=line, keyword=keyword, value=value, ours=ours, match=match)
                           for path, line, keyword, value, ours, match in conf.conflicts(others, settings)]
        for item in found_conflicts:
            if item["match"] is None:
                self.warnings.append("%(file)s line %(line)d sets %(keyword)s %(value)s; this role's %(ours)s is read "
                                     "first and wins, but the other file disagrees" % item)
            else:
                self.warnings.append("%(file)s line %(line)d sets %(keyword)s %(value)s inside Match %(match)s: for "
                                     "the sessions it matches it overrides this role's %(ours)s" % item)

        login = self.login()
        scratch, staged_main, _staged_dir = self.stage(new_main, dropin_text)
        try:
            self.sshd_test(staged_main, "the new configuration")
            probe_login = (login[0] or "portcullis-nobody",) + login[1:]
            effective = self.effective(staged_main, probe_login)
            # A keyword this role's own Match blocks set differs for the sessions they match, on purpose.
            in_our_matches = set(conf.canonical_keyword(keyword) for block in blocks
                                 for keyword in (block.get("settings") or {}))
            wrong = conf.mismatches(effective, dict((key, value) for key, value in settings.items()
                                                    if key.lower() in _ASSERTED and
                                                    conf.canonical_keyword(key) not in in_our_matches))
            if wrong:
                details = []
                for keyword, wanted, got in wrong:
                    setter = conf.setter_of([(path, text) for path, text in files if path != params["dropin_path"]],
                                            keyword) or conf.setter_of(files, keyword)
                    details.append("%s is %s, not %s%s" % (keyword, got, wanted,
                                                           " (set by %s)" % setter if setter else ""))
                raise SshdError("the new configuration would not take effect: " + "; ".join(details))
            if params["lockout_guard"] and login[0]:
                groups, key_types, account = self.user_facts(login[0], effective)
                reasons = conf.lockout_reasons(effective, login[0], groups, login[1], key_types=key_types,
                                               server=(login[3], login[2]) if login[2] else None,
                                               session_key=self.session_key(login[0], login[1]), account=account,
                                               exists=lambda path: os.path.exists(self.path(path)),
                                               previous=self.current_effective(probe_login),
                                               offered=params.get("offered_keys"))
                if reasons:
                    raise SshdError("refusing to apply: %s connecting from %s would be locked out: %s. "
                                    "The current configuration is left in place."
                                    % (login[0], login[1], "; ".join(reasons)))
            elif params["lockout_guard"]:
                self.warnings.append("no SSH session and no connect_user: the lockout guard had nobody to check")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

        # (shown path, real path, content, mode), in the order they are written.
        writes = []
        if moduli:
            writes.append((params["moduli_path"], moduli[0], moduli[2], 0o644))
        if banner_text is not None and old_banner != banner_text:
            writes.append((params["banner_path"], banner_path, banner_text, 0o644))
        if layout == "dropin" and old_dropin != dropin_text:
            # Readable like sshd_config itself (nothing in it is secret), or the mode it has.
            mode = os.stat(dropin_path).st_mode & 0o7777 if os.path.exists(dropin_path) else 0o644
            writes.append((params["dropin_path"], dropin_path, dropin_text, mode))
        if new_main != main_text:
            # The main file keeps its mode (a 0600 sshd_config stays 0600).
            main_path = self.path(params["config_path"])
            writes.append((params["config_path"], main_path, new_main, os.stat(main_path).st_mode & 0o7777))
        changes = [shown for shown, _path, _data, _mode in writes]
        for kind, path, reason in key_plan:
            changes.append(self.host_key_path(kind))
            self.warnings.append("the %s host key is regenerated (%s): clients will see a new host key"
                                 % (kind, reason))

        result = dict(
            changed=bool(changes), changed_files=changes, layout=layout,
            openssh_version="%d.%d" % self.version, connect_user=login[0],
            settings=settings,
            conflicts=found_conflicts, host_keys_generated=[kind for kind, _path, _reason in key_plan],
            moduli_removed=moduli[3] if moduli else 0,
            listen_streams=conf.listen_streams(_as_list(settings.get("Port")), _as_list(settings.get("ListenAddress"))),
            session_port=login[2],
        )
        # One diff per file, each under its own name; the content of a file that is (or is written) not
        # world-readable is never shown.
        diffs = []
        for shown, path, data, mode in writes:
            if moduli and shown == params["moduli_path"]:
                diffs.append(dict(before="%d groups\n" % conf.moduli_entries(moduli[1]),
                                  after="%d groups (%d under %d bits removed)\n"
                                        % (conf.moduli_entries(moduli[2]), moduli[3], params["moduli_min_bits"]),
                                  before_header=shown + " (summary)", after_header=shown + " (summary)"))
                continue
            readable = not os.path.exists(path) or bool(os.stat(path).st_mode & 0o004)
            diffs.append(dict(before=(_read(path) or "") if readable else HIDDEN,
                              after=data if mode & 0o004 else HIDDEN, before_header=shown, after_header=shown))
        result["diff"] = diffs
        if check_mode or not changes:
            return result

        backups = self.apply(writes, key_plan)
        if timeout:
            result["rollback_token"] = self.commit_confirmed(backups, timeout)
            result["reloaded"] = True
        return result

    def reload(self):
        """The command that makes the running sshd read the configuration now:
        reload a standalone service; restart one that systemd hands a socket
        (on SIGHUP it would re-execute and try to bind the port systemd holds;
        a restart keeps running sessions, the unit kills only its main
        process); nothing when the socket is held but no sshd runs behind it
        (the next connection starts one on the new files)."""
        unit, active, socket = service_state(self.runner)
        systemctl = self.runner.which("systemctl")
        if unit and active and systemctl:
            return [systemctl, "restart" if socket else "reload", unit]
        if socket:
            return None
        raise SshdError("sshd is not running as a systemd service here, so it cannot be reloaded for "
                        "rollback_timeout")

    def commit_confirmed(self, backups, timeout):
        """Reload sshd on the new files and arm the host to put the old ones
        back (and reload) unless the controller confirms over a new connection."""
        reload_argv = self.reload()
        # What the rollback runs after the files are back. Under socket activation an sshd may run by then that was
        # not running now (the confirming connection starts one on the new files): try-restart reaches it, and
        # starts none when none runs (the next connection reads the restored files).
        unit, _active, socket = service_state(self.runner)
        systemctl = self.runner.which("systemctl")
        restore_argv = [systemctl, "try-restart", unit] if socket and unit and systemctl else reload_argv
        rollback = self.rollback()
        token = rollback.new_token()
        files = {}
        script = []
        for number, (path, old, mode) in enumerate(backups):
            if old is None:
                script.append("rm -f '%s'" % path)
                continue
            saved = rollback.path(token, "file%d" % number)
            files[saved] = old
            script.append("cp '%s' '%s.portcullis-rollback' && chmod %o '%s.portcullis-rollback' && "
                          "mv '%s.portcullis-rollback' '%s'" % (saved, path, mode, path, path, path))
        if restore_argv:
            script.append(" ".join(restore_argv))
        if reload_argv:
            rc, out, err = self.runner.run(reload_argv)
            if rc != 0:
                _restore(backups)
                rc_back, out_back, err_back = self.runner.run(reload_argv)
                back = ("the previous files are back and sshd runs on them" if rc_back == 0 else
                        "the previous files are back, but sshd did not start on them either: %s"
                        % (err_back or out_back).strip())
                raise SshdError("reloading sshd failed (%s): %s; %s"
                                % (" ".join(reload_argv), (err or out).strip(), back))
        try:
            rollback.arm(token, "\n".join(script) + "\n", timeout,
                         "put back the sshd configuration from before an unconfirmed change and reload sshd", files)
        except OSError as error:
            raise SshdError(str(error))
        return token

    def apply(self, writes, key_plan):
        """Generate the host keys, replace the files, then check the live configuration;
        on any failure every replaced file is put back."""
        backups = []  # (path, old bytes or None, mode)

        def replace(path, data, mode):
            old = _read(path, binary=True)
            backups.append((path, old, os.stat(path).st_mode & 0o7777 if old is not None else mode))
            _write_atomic(path, data, mode)

        staging_dirs = []
        try:
            for kind, path, _reason in key_plan:
                staging, generated = self.generate_key(kind, path)
                staging_dirs.append(staging)
                replace(path, _read(generated, binary=True), 0o600)
                replace(path + ".pub", _read(generated + ".pub", binary=True), 0o644)
            for _shown, path, data, mode in writes:
                replace(path, data, mode)
            self.sshd_test(self.path(self.params["config_path"]), "the configuration as written")
        except Exception:
            _restore(backups)
            raise
        finally:
            for staging in staging_dirs:
                shutil.rmtree(staging, ignore_errors=True)
        return backups


HIDDEN = "(not shown: the file is not world-readable)\n"


def _as_list(value):
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def with_controller(exempt, address):
    """The exempt list with the controller's address added, unless a network
    of the list already holds it (then the list stays as written)."""
    if not address:
        return list(exempt)
    try:
        mapped = ipaddress.ip_address(address.strip()).ipv4_mapped if ":" in address else None
    except ValueError:
        mapped = None
    try:
        # A dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d; both forms are written from the IPv4 one.
        controller = _values.network(str(mapped) if mapped else address, "the controller's address")
    except _values.BadValue:
        return list(exempt)
    for item in exempt:
        try:
            if controller.subnet_of(_values.network(item, "penalty_exempt")):
                return list(exempt)
        except (_values.BadValue, TypeError):
            continue
    return list(exempt) + [str(controller.network_address)]


def penalty_exempt_list(items):
    """PerSourcePenaltyExemptList entries: each network, and for IPv4 also its
    IPv4-mapped IPv6 form, which sshd sees when it accepts on a dual-stack
    socket (a socket-activated sshd behind ListenStream=22)."""
    result = []
    for item in items:
        try:
            network = _values.network(item, "penalty_exempt")
        except _values.BadValue as error:
            raise SshdError(str(error))
        result.append(str(network))
        if network.version == 4:
            result.append("::ffff:%s/%d" % (network.network_address, 96 + network.prefixlen))
    return result


def _restore(backups):
    """Put back what ``apply`` replaced: [(path, old bytes or None, mode)], last first."""
    for path, old, mode in reversed(backups):
        if old is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            _write_atomic(path, old, mode)


# The settings whose effect is checked through sshd -T before anything is written:
# the hardening, the crypto and the access lists (their printed form is known).
_ASSERTED = set(keyword.lower() for keyword in (
    "PermitRootLogin", "PasswordAuthentication", "KbdInteractiveAuthentication", "PubkeyAuthentication",
    "PermitEmptyPasswords", "HostbasedAuthentication", "IgnoreRhosts", "X11Forwarding", "AllowTcpForwarding",
    "AllowAgentForwarding", "PermitTunnel", "GatewayPorts", "PermitUserEnvironment", "MaxAuthTries",
    "LoginGraceTime", "MaxStartups", "ClientAliveInterval", "ClientAliveCountMax", "LogLevel", "StrictModes",
    "Port", "ListenAddress", "KexAlgorithms", "Ciphers", "MACs", "HostKeyAlgorithms", "AllowUsers",
    "AllowGroups", "DenyUsers", "DenyGroups", "Banner", "MaxSessions"))


def service_state(runner):
    """(unit, active, socket active) of the systemd units running sshd, or (None, False, False)."""
    systemctl = runner.which("systemctl")
    if not systemctl:
        return None, False, False
    states = {}
    for unit in ("ssh.service", "sshd.service", "ssh.socket", "sshd.socket"):
        rc, out, _err = runner.run([systemctl, "show", "-p", "LoadState", "-p", "ActiveState", unit])
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
        states[unit] = (values.get("LoadState") == "loaded", values.get("ActiveState") == "active")
    service = next((unit for unit in ("ssh.service", "sshd.service") if states[unit][0]), None)
    socket = any(states[unit][1] for unit in ("ssh.socket", "sshd.socket"))
    return service, bool(service and states[service][1]), socket
