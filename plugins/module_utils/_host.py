# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every host-side feature shares: reading and atomically replacing the
files a module owns, running commands (argument lists, never a shell),
finding the SSH session Ansible runs in, and the commit-confirmed rollback
(a timer on the host that undoes a change unless the controller confirms it
over a new connection).

The features (firewall, nginx, sshd, audit) import from here and from
``ports``; never from each other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shlex
import subprocess
import tempfile
import uuid


# Docker's embedded DNS server: inside a container on a user-defined network it
# listens on this loopback address, put there by the engine, not by the host.
DOCKER_EMBEDDED_DNS = "127.0.0.11"


def in_docker_container(root="/"):
    """Whether this runs in a Docker container (the engine creates /.dockerenv)."""
    return os.path.exists(os.path.join(root, ".dockerenv"))


def read(path, binary=False):
    """The file's content, or None when it is missing or unreadable."""
    try:
        with open(path, "rb" if binary else "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_atomic(path, data, mode=0o600):
    """Replace path with data (text or bytes) in one rename, so a reader sees
    the old file or the new one, never half of either."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".portcullis-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except Exception:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class Runner:
    """Commands through the module; ``run_options`` go to every run_command."""

    def __init__(self, module, **run_options):
        self.module = module
        self.run_options = run_options

    def run(self, argv, data=None):
        return self.module.run_command(argv, data=data, **self.run_options)

    def which(self, name):
        return self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin"])


def find_ssh_session(environ=None, proc_root="/proc"):
    """The environment of the SSH session the module runs in (the one holding
    SSH_CONNECTION), or None. sudo drops it from the environment, so look at
    the parent processes too."""
    environ = os.environ if environ is None else environ
    if environ.get("SSH_CONNECTION"):
        return dict(environ)
    pid = os.getpid()
    for _depth in range(16):
        try:
            with open(os.path.join(proc_root, str(pid), "status")) as handle:
                pid = int(next(line.split()[1] for line in handle if line.startswith("PPid:")))
        except (IOError, OSError, StopIteration, ValueError):
            return None
        if pid <= 1:
            return None
        try:
            with open(os.path.join(proc_root, str(pid), "environ"), "rb") as handle:
                data = handle.read()
        except (IOError, OSError):
            continue
        values = dict(item.decode("utf-8", "replace").split("=", 1) for item in data.split(b"\0") if b"=" in item)
        if values.get("SSH_CONNECTION"):
            return values
    return None


def find_ssh_connection(environ=None, proc_root="/proc"):
    """SSH_CONNECTION of the session the module runs in, or None."""
    session = find_ssh_session(environ, proc_root)
    return session["SSH_CONNECTION"] if session else None


class Rollback:
    """A rollback armed on the host: ``script`` runs after ``timeout`` seconds
    unless ``confirm`` is called with the token first. The files of one token
    are ``STATE_DIR/rollback-TOKEN.*``; the script removes them when it runs.

    ``runner`` provides run/which; ``systemd`` says whether systemd runs here
    (a transient timer), else a detached sleeper in its own session is used.
    """

    def __init__(self, runner, state_dir, systemd):
        self.runner = runner
        self.state_dir = state_dir
        self.systemd = systemd

    def path(self, token, suffix):
        return os.path.join(self.state_dir, "rollback-%s.%s" % (token, suffix))

    @staticmethod
    def new_token():
        return uuid.uuid4().hex[:12]

    def arm(self, token, script, timeout, what, files=None):
        """Write ``files`` ({path: content}, named rollback-TOKEN.* in the state
        directory) and the script, and start the timer. ``what`` says what the
        script restores."""
        self.prepare(token, script, what, files)
        return self.start(token, timeout)

    def prepare(self, token, script, what, files=None):
        """Write the script and its files without starting the timer (``start``
        does): what to restore is taken before a change, the window counted
        from the end of it."""
        for path, content in (files or {}).items():
            write_atomic(path, content)
        applying = self.path(token, "applying")
        # Run with the argument "guard" (by ``guard``'s timer), the script restores only when the process that made
        # the change died before it started the real timer: while that process lives it is waited for, and once
        # ``start`` has removed the applying file the real timer is in charge.
        guard = ('if [ "$1" = guard ]; then\n'
                 '  [ -f %(applying)s ] || exit 0\n'
                 '  read pid started < %(applying)s\n'
                 '  while [ -d "/proc/$pid" ] && [ "$(sed \'s/^.*) //\' "/proc/$pid/stat" 2>/dev/null | cut -d" " -f20)" = '
                 '"$started" ]; do sleep 1; done\n'
                 '  [ -f %(applying)s ] || exit 0\n'
                 'fi\n' % {"applying": shlex.quote(applying)})
        write_atomic(self.path(token, "sh"), "#!/bin/sh\n# portcullis.ports: %s, unless the controller confirmed in "
                     "time\n%s%srm -f %s/rollback-%s.*\n" % (what, guard, script, self.state_dir, token), 0o700)
        return token

    def guard(self, token, timeout):
        """Before the change of a prepared script: should this process die before it calls ``start`` (killed, or
        its connection lost mid-change), the script still runs, ``timeout`` seconds from now or as soon as the
        process is gone if that is later. While the process lives the script waits for it; ``start`` hands over
        to the real timer."""
        pid = os.getpid()
        write_atomic(self.path(token, "applying"), "%d %s\n" % (pid, process_start_time(pid) or ""))
        self._timer(token, timeout, "-guard", "guard-pid", ["guard"])

    def start(self, token, timeout):
        """Start the timer of a prepared script: it runs ``timeout`` seconds from now. A guard started before the
        change is stopped once the real timer runs."""
        self._timer(token, timeout, "", "pid", [])
        applying = self.path(token, "applying")
        if os.path.exists(applying):
            os.unlink(applying)
        self._stop(token, "-guard", "guard-pid")
        return token

    def _timer(self, token, timeout, unit_suffix, pid_suffix, arguments):
        script_path = self.path(token, "sh")
        systemd_run = self.runner.which("systemd-run") if self.systemd else None
        if systemd_run:
            # Timers may fire up to a minute late by default (AccuracySec); a rollback must not.
            rc, _out, err = self.runner.run([systemd_run, "--unit=portcullis-rollback-%s%s" % (token, unit_suffix),
                                             "--on-active=%ds" % timeout, "--timer-property=AccuracySec=1s",
                                             "/bin/sh", script_path] + arguments)
            if rc != 0:
                raise OSError("could not arm the rollback timer: %s" % err.strip())
        else:
            # No systemd: a detached sleeper in its own session outlives this connection.
            process = subprocess.Popen(["/bin/sh", "-c", 'sleep "$1" && shift && exec /bin/sh "$@"', "rollback",
                                        str(timeout), script_path] + arguments,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            write_atomic(self.path(token, pid_suffix), str(process.pid))

    def _stop(self, token, unit_suffix, pid_suffix):
        """Stop a timer (and the script it may be running) of this token; one already gone is not an error."""
        if self.systemd:
            systemctl = self.runner.which("systemctl")
            if systemctl:
                unit = "portcullis-rollback-%s%s" % (token, unit_suffix)
                self.runner.run([systemctl, "stop", unit + ".timer"] + ([unit + ".service"] if unit_suffix else []))
        pid = read(self.path(token, pid_suffix))
        if pid:
            try:
                os.killpg(int(pid), 15)
            except (OSError, ValueError):
                pass
            os.unlink(self.path(token, pid_suffix))

    def discard(self, token):
        """Stop a prepared script's guard and remove its files (its real timer was never started)."""
        self._stop(token, "-guard", "guard-pid")
        for name in os.listdir(self.state_dir) if os.path.isdir(self.state_dir) else ():
            if name.startswith("rollback-%s." % token):
                os.unlink(os.path.join(self.state_dir, name))

    def confirm(self, token, keep=()):
        """Stop the timer and remove the token's files; returns {suffix: content}
        of the ``keep`` files (read before removal). Raises ValueError when
        nothing is armed under ``token``."""
        if not isinstance(token, str) or len(token) != 12 or any(char not in "0123456789abcdef" for char in token):
            raise ValueError("invalid confirm token %r" % (token,))
        if not os.path.exists(self.path(token, "sh")):
            raise ValueError("nothing to confirm for token %s: the rollback already ran or never was armed" % token)
        self._stop(token, "", "pid")
        self._stop(token, "-guard", "guard-pid")
        kept = dict((suffix, read(self.path(token, suffix))) for suffix in keep)
        for name in os.listdir(self.state_dir):
            if name.startswith("rollback-%s." % token):
                os.unlink(os.path.join(self.state_dir, name))
        return kept


def process_start_time(pid):
    """When process ``pid`` started, in clock ticks after boot (field 22 of ``/proc/PID/stat``), as text: with the
    pid it names one process, even once the pid is reused. None when it cannot be read."""
    stat = read("/proc/%d/stat" % pid)
    if not stat or ") " not in stat:
        return None
    fields = stat.rsplit(") ", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def nft_chains_and_rules(text):
    """``nft -j list ruleset`` output indexed by chain: ``(chains, rules)``: ``{(family, table, name): chain}`` and
    ``{(family, table, name): [rule, ...]}`` in listing order. ValueError
    when the text is not JSON."""
    chains, rules = {}, {}
    for item in json.loads(text).get("nftables", []):
        if "chain" in item:
            chain = item["chain"]
            chains[(chain["family"], chain["table"], chain["name"])] = chain
        elif "rule" in item:
            rule = item["rule"]
            rules.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(rule)
    return chains, rules


def installed_packages(run, which):
    """The names of the packages installed on this host, from dpkg's database (``dpkg-query``) or else rpm's:
    a sorted list, or None when neither tool is on the host. ``run(argv) -> (rc, out, err)``, ``which(name) ->
    path or None``. Raises OSError naming the command when the tool fails."""
    for tool, argv in (("dpkg-query", ["--show", "--showformat=${db:Status-Abbrev} ${Package}\\n"]),
                       ("rpm", ["--query", "--all", "--queryformat=ii %{NAME}\\n"])):
        binary = which(tool)
        if binary is None:
            continue
        rc, out, err = run([binary] + argv)
        if rc != 0:
            raise OSError("%s %s failed (exit %d): %s" % (tool, " ".join(argv), rc, (err or out).strip()))
        # "ii " is installed; dpkg's other states (rc: removed with its configuration left, iU: unpacked) are not.
        return sorted(set(line.split()[1] for line in out.splitlines()
                          if line.startswith("ii ") and len(line.split()) > 1))
    return None
