# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the firewall module does, step by step: validate, plan, guard the SSH
connection, compare with what is live, apply in one transaction, persist,
and arm or disarm the commit-confirmed rollback.

Idempotence: after each apply the module records what it rendered and what
the kernel then listed (state file). A later run is unchanged only when it
renders the same and the kernel still lists the same, so rules added by hand
inside our table or chains show up as a change and are removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import uuid

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils._host import find_ssh_connection
from ansible_collections.portcullis.ports.plugins.module_utils._host import read as _read
from ansible_collections.portcullis.ports.plugins.module_utils._host import write_atomic as _write_atomic
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as rules_mod
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

STATE_DIR = "/var/lib/portcullis"
_TOKEN = _values.pattern(r"[0-9a-f]{12}")


class FirewallError(Exception):
    pass


def argument_spec():
    """The firewall module's options, from the constants the rules and the
    backends are checked against."""
    rule_options = dict(
        port=dict(type="raw"),
        protocol=dict(type="str", choices=list(rules_mod.PROTOCOLS), default=rules_mod.RULE_DEFAULTS["protocol"]),
        source=dict(type="raw"),
        destination=dict(type="raw"),
        direction=dict(type="str", choices=sorted(rules_mod.DIRECTIONS), default=rules_mod.RULE_DEFAULTS["direction"]),
        action=dict(type="str", choices=list(rules_mod.ACTIONS), default=rules_mod.RULE_DEFAULTS["action"]),
        rate_limit=dict(type="str"),
        log=dict(type="str"),
        comment=dict(type="str"),
    )
    return dict(
        rules=dict(type="list", elements="dict", default=[], options=rule_options),
        policy=dict(type="dict", default={}),
        port_policy=dict(type="dict", default={}),
        backend=dict(type="str", choices=["auto"] + sorted(backends.BACKENDS), default="auto"),
        persist=dict(type="bool", default=True),
        protect_ssh=dict(type="bool", default=True),
        rollback_timeout=dict(type="int", default=0),
        allow_established=dict(type="bool", default=True),
        allow_loopback=dict(type="bool", default=True),
        allow_icmp=dict(type="bool", default=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        confirm=dict(type="str"),
    )


class Firewall:
    def __init__(self, runner, params, state_dir=STATE_DIR, root="/"):
        self.runner = runner
        self.params = params
        self.state_dir = state_dir
        self.root = root
        self.warnings = []

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _state_path(self, backend):
        return os.path.join(self.state_dir, "firewall-%s.json" % backend.name)

    # Validation happens before any backend command runs.
    def validate(self):
        params = self.params
        policy = rules_mod.normalize_policy(params.get("policy"))
        try:
            port_policy = resolver.build_policy(params.get("port_policy"))
        except resolver.PortSpecError as error:
            raise rules_mod.RuleError(["port_policy: %s" % error])
        rules = rules_mod.normalize_rules(params.get("rules") or [], port_policy)
        timeout = params.get("rollback_timeout") or 0
        if timeout < 0 or timeout > 3600:
            raise rules_mod.RuleError(["rollback_timeout %r must be from 0 (off) to 3600 seconds" % timeout])
        defaults = backends.Defaults(params.get("allow_established", True), params.get("allow_loopback", True),
                                     params.get("allow_icmp", True))
        return rules, policy, defaults

    def guard_ssh(self, rules, policy, defaults):
        if not self.params.get("protect_ssh", True):
            return None
        connection = find_ssh_connection()
        if not connection or len(connection.split()) != 4:
            return None
        allowed, reason = rules_mod.ssh_verdict(rules, policy, connection, defaults.loopback)
        if not allowed:
            client, _client_port, server, port = connection.split()
            raise FirewallError(
                "refusing to apply: a new SSH connection from %s to %s port %s (the one Ansible uses) would not get in: %s. "
                "Add a rule that accepts it, or set protect_ssh: false (with rollback_timeout) if you mean it."
                % (client, server, port, reason))
        return connection

    def run(self, check_mode):
        if self.params.get("confirm"):
            return self.confirm(self.params["confirm"])
        rules, policy, defaults = self.validate()
        backend = backends.select_backend(self.runner, self.params.get("backend", "auto"))
        if self.params.get("state", "present") == "absent":
            return self.remove(backend, check_mode)
        desired = backend.render(rules, policy, defaults)
        self.guard_ssh(rules, policy, defaults)
        live = backend.live()
        listing = backend.listing(live)
        saved = _read(self._state_path(backend))
        saved = json.loads(saved) if saved else {}
        ruleset_changed = not (saved.get("desired") == desired and saved.get("live") == live and live is not None)
        persist = self.params.get("persist", True)
        boot_files = backend.persist_files(rules, policy, defaults, desired) if persist else {}
        boot_changes = self.boot_changes(backend, boot_files)
        result = {"changed": ruleset_changed or bool(boot_changes), "backend": backend.name,
                  "rules": len(self.params.get("rules") or []), "ruleset_changed": ruleset_changed,
                  "boot_changed": sorted(boot_changes)}
        if ruleset_changed:
            result["diff"] = {"before": listing, "after": desired,
                              "before_header": "live %s ruleset" % backend.name,
                              "after_header": "declared %s ruleset" % backend.name}
        if check_mode:
            return result
        if ruleset_changed:
            plan = backend.apply_plan(rules, policy, defaults, desired)
            backend.check(plan)
            previous_plan = backend.rollback_plan(listing)
            timeout = self.params.get("rollback_timeout") or 0
            if timeout:
                result["rollback_token"] = self.arm_rollback(backend, previous_plan, timeout)
                if boot_changes:
                    # Made permanent only once the controller confirms: a rolled back
                    # rule set must not come back at the next boot.
                    _write_atomic(os.path.join(self.state_dir, "rollback-%s.boot.json" % result["rollback_token"]),
                                  json.dumps(self._boot_entries(backend, boot_changes)))
                    boot_changes = {}
            try:
                backend.apply(plan)
            except backends.BackendError as error:
                try:
                    backend.apply(previous_plan)
                except backends.BackendError:
                    pass
                raise FirewallError("%s; the previous ruleset was put back" % error)
            self._save_state(backend, desired, backend.live())
        if boot_changes:
            self.write_boot(backend, boot_changes)
        return result

    def _save_state(self, backend, desired, live):
        _write_atomic(self._state_path(backend), json.dumps({"desired": desired, "live": live}, sort_keys=True))

    # Persistence

    def boot_changes(self, backend, files):
        """Boot files to write, and for nftables the include line and service."""
        changes = {}
        for path, content in files.items():
            current = _read(self._path(path))
            if current == content:
                continue
            if not backend.owns_boot_file(current):
                raise FirewallError("refusing to replace %s: it was not written by portcullis.ports; move it away "
                                    "or set persist: false" % path)
            changes[path] = content
        changes.update(backend.boot_config_changes(lambda path: _read(self._path(path)), bool(files)))
        if files and not self._service_enabled(backend.boot_service):
            changes["service:" + backend.boot_service] = None
        return changes

    def _systemctl(self):
        if not os.path.isdir(self._path("/run/systemd/system")):
            return None
        return self.runner.which("systemctl")

    def _service_enabled(self, service):
        systemctl = self._systemctl()
        if systemctl is None:
            return True  # nothing to enable without systemd; see write_boot's warning
        rc, out, _err = self.runner.run([systemctl, "is-enabled", service])
        if out.strip() == "not-found" or (rc != 0 and "No such file" in out + _err):
            self.warnings.append("%s is not installed, so the ruleset will not be loaded at boot" % service)
            return True
        return rc == 0 and out.strip() in ("enabled", "enabled-runtime", "static", "alias")

    @staticmethod
    def _boot_entries(backend, changes):
        """(path, content, mode) in writing order; services last, content None."""
        return [(path, content, backend.boot_file_mode(path)) for path, content in sorted(changes.items())]

    def write_boot(self, backend, changes):
        self._write_boot_entries(self._boot_entries(backend, changes))

    def _write_boot_entries(self, entries):
        for path, content, mode in entries:
            if path.startswith("service:"):
                systemctl = self._systemctl()
                if systemctl:
                    rc, _out, err = self.runner.run([systemctl, "enable", path[len("service:"):]])
                    if rc != 0:
                        raise FirewallError("systemctl enable %s failed: %s" % (path[len("service:"):], err.strip()))
                continue
            _write_atomic(self._path(path), content, mode)

    # state: absent

    def remove(self, backend, check_mode):
        live = backend.live()
        # Only boot files this module wrote (iptables-persistent's may hold someone else's rules).
        boot = [path for path in backend.persist_files([], dict(rules_mod.DEFAULT_POLICY), backends.Defaults(), "")
                if os.path.exists(self._path(path))
                and backend.owns_boot_file(_read(self._path(path)))]
        changed = live is not None or bool(boot)
        result = {"changed": changed, "backend": backend.name, "rules": 0, "ruleset_changed": live is not None,
                  "boot_changed": sorted(boot)}
        if live is not None:
            result["diff"] = {"before": backend.listing(live), "after": ""}
        if check_mode or not changed:
            return result
        if live is not None:
            plan = backend.remove_plan()
            backend.check(plan)
            backend.apply(plan)
        for path in boot:
            os.unlink(self._path(path))
        state = self._state_path(backend)
        if os.path.exists(state):
            os.unlink(state)
        return result

    # Commit-confirmed rollback

    def arm_rollback(self, backend, previous_plan, timeout):
        token = uuid.uuid4().hex[:12]
        files, script = backend.restore_script(previous_plan, self.state_dir, token)
        for path, text in files.items():
            _write_atomic(path, text)
        script_path = os.path.join(self.state_dir, "rollback-%s.sh" % token)
        _write_atomic(script_path, "#!/bin/sh\n# portcullis.ports: restore the ruleset from before an unconfirmed apply\n"
                      + script + "rm -f %s/rollback-%s.*\n" % (self.state_dir, token), 0o700)
        systemd_run = self.runner.which("systemd-run") if self._systemctl() else None
        if systemd_run:
            # Timers may fire up to a minute late by default (AccuracySec); a rollback must not.
            rc, _out, err = self.runner.run([systemd_run, "--unit=portcullis-rollback-%s" % token,
                                             "--on-active=%ds" % timeout, "--timer-property=AccuracySec=1s",
                                             "/bin/sh", script_path])
            if rc != 0:
                raise FirewallError("could not arm the rollback timer: %s" % err.strip())
        else:
            # No systemd: a detached sleeper in its own session outlives this connection.
            process = subprocess.Popen(["/bin/sh", "-c", 'sleep "$1" && exec /bin/sh "$2"', "rollback", str(timeout), script_path],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True, close_fds=True)
            _write_atomic(os.path.join(self.state_dir, "rollback-%s.pid" % token), str(process.pid))
        return token

    def confirm(self, token):
        if not _values.matches(_TOKEN, token or ""):
            raise FirewallError("invalid confirm token %r" % token)
        script = os.path.join(self.state_dir, "rollback-%s.sh" % token)
        if not os.path.exists(script):
            raise FirewallError("nothing to confirm for token %s: the rollback already ran or never was armed" % token)
        systemctl = self._systemctl()
        if systemctl:
            self.runner.run([systemctl, "stop", "portcullis-rollback-%s.timer" % token])
        pid_file = os.path.join(self.state_dir, "rollback-%s.pid" % token)
        pid = _read(pid_file)
        if pid:
            try:
                os.killpg(int(pid), 15)
            except (OSError, ValueError):
                pass
        pending = _read(os.path.join(self.state_dir, "rollback-%s.boot.json" % token))
        for name in os.listdir(self.state_dir):
            if name.startswith("rollback-%s." % token):
                os.unlink(os.path.join(self.state_dir, name))
        if pending:
            self._write_boot_entries(json.loads(pending))
        return {"changed": False, "confirmed": token}
