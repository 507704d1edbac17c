# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the firewall module does, step by step: validate, plan, guard the SSH
session, find other firewalls that would make the rules ineffective, compare
with what is live, apply in one transaction (removing the other backend's
scope left from an earlier run), persist, and arm or disarm the
commit-confirmed rollback.

Idempotence: after each apply the module records what it rendered and what
the kernel then listed (state file). A later run is unchanged only when it
renders the same and the kernel still lists the same, so rules added by hand
inside our table or chains show up as a change and are removed. A state file
that cannot be read is rebuilt by applying again, with a warning.

Once the ruleset is live, a later failure (a boot file that cannot be
written) still reports ``changed`` and says what was left as it was.

Commit-confirmed (``rollback_timeout``): what to restore is taken before the
apply, and the timer starts once the apply has ended, so the window the
controller has to confirm is the whole timeout whatever the apply took. A
guard timer started before the apply restores all the same if the module's
process dies before it starts the real one (killed, or its session lost). When
it fires, each scope gets its previous rules back (a manager's through the
manager, keeping what other tools added meanwhile, such as fail2ban's bans)
and the state files become what they were, so the next run compares the
registry with what is then in force.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import hashlib
import ipaddress
import json
import os
import shlex

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils._host import find_ssh_connection
from ansible_collections.portcullis.ports.plugins.module_utils._host import read as _read
from ansible_collections.portcullis.ports.plugins.module_utils._host import write_atomic as _write_atomic
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _choice
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _names
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _others
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as rules_mod
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

STATE_DIR = "/var/lib/portcullis"
OTHER_FIREWALLS = ("fail", "takeover", "warn")

# The resolvers a host uses and the names its rules go to: _names.
RESOLV_CONF = _names.RESOLV_CONF
nameservers = _names.nameservers
resolve_name = _names.resolve_name

# Where DHCPv4 clients keep their leases, to find the servers renewals go to
# by unicast: systemd-networkd and NetworkManager's internal client
# (SERVER_ADDRESS=), dhclient, also under ifupdown and NetworkManager
# (option dhcp-server-identifier).
DHCP_LEASES = ("/run/systemd/netif/leases/*", "/var/lib/NetworkManager/*.lease", "/var/lib/dhcp/*.leases",
               "/var/lib/NetworkManager/*.leases")
_DHCP_SERVER = _values.pattern(r"(?:SERVER_ADDRESS=|\s*option\s+dhcp-server-identifier\s+)([0-9.]+);?\s*")

# nftables.service as Debian ships it flushes the whole ruleset when it starts
# (its /etc/nftables.conf begins with "flush ruleset") and when it stops. With
# persistence on, a drop-in makes it load and remove only the tables its
# configuration declares, so a restart keeps Docker's, fail2ban's and ours.
NFTABLES_CONF = "/etc/nftables.conf"
NFTABLES_UNITS = ("/lib/systemd/system/nftables.service", "/usr/lib/systemd/system/nftables.service")
NFTABLES_DROPIN = "/etc/systemd/system/nftables.service.d/50-portcullis-scoped.conf"
NFTABLES_SCOPED = backends.BOOT_DIR + "/nftables-service.nft"
NFTABLES_SCOPED_STOP = backends.BOOT_DIR + "/nftables-service-stop.nft"
# The tables iptables-nft writes (iptables, ip6tables, ebtables, arptables over nftables).
_IPTABLES_NFT_NAMES = ("filter", "nat", "mangle", "raw", "security")
IPTABLES_NFT_TABLES = set((family, name) for family in ("ip", "ip6") for name in _IPTABLES_NFT_NAMES) | {
    ("bridge", "filter"), ("bridge", "nat"), ("arp", "filter")}
_TABLE = _values.pattern(r"\s*table\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z0-9_.-]+)\b.*")
_INCLUDE = _values.pattern(r'\s*include\s+"([^"]+)"\s*')
_FLUSH = _values.pattern(r"\s*flush\s+ruleset\s*;?\s*")


class FirewallError(Exception):
    """``changed`` is true when the error came after the ruleset went live."""

    def __init__(self, message, changed=False):
        super(FirewallError, self).__init__(message)
        self.changed = changed


def argument_spec():
    """The firewall module's options, from the constants the rules and the
    backends are checked against."""
    rule_options = dict(
        port=dict(type="raw"),
        protocol=dict(type="str", choices=list(rules_mod.PROTOCOLS), default=rules_mod.RULE_DEFAULTS["protocol"]),
        source=dict(type="raw"),
        destination=dict(type="raw"),
        destination_name=dict(type="raw"),
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
        backend=dict(type="str", choices=["auto"] + sorted(_choice.BACKENDS), default="auto"),
        persist=dict(type="bool", default=True),
        protect_ssh=dict(type="bool", default=True),
        rollback_timeout=dict(type="int", default=0),
        allow_established=dict(type="bool", default=True),
        allow_loopback=dict(type="bool", default=True),
        allow_icmp=dict(type="bool", default=True),
        allow_dns=dict(type="bool", default=True),
        allow_dhcp=dict(type="bool", default=True),
        other_firewalls=dict(type="str", choices=list(OTHER_FIREWALLS), default="fail"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        confirm=dict(type="str"),
    )


def nftables_tables(text, read, root="/"):
    """``(family, name)`` of every table a configuration declares, its includes too."""
    found = []
    for line in (text or "").splitlines():
        match = _TABLE.fullmatch(line)
        if match:
            found.append((match.group(1) or "ip", match.group(2)))
            continue
        match = _INCLUDE.fullmatch(line)
        if match:
            pattern = match.group(1) if match.group(1).startswith("/") else "/etc/" + match.group(1)
            for path in sorted(glob.glob(os.path.join(root, pattern.lstrip("/")))):
                found += nftables_tables(read("/" + os.path.relpath(path, root)), read, root)
    return sorted(set(found), key=found.index)


def scoped_nftables_files(config, tables, nft):
    """The drop-in and the files that make nftables.service touch only
    ``tables``: the configuration with "flush ruleset" replaced by deleting
    those tables, and the same deletes for stop."""
    deletes = "".join("table %s %s\ndelete table %s %s\n" % (family, name, family, name) for family, name in tables)
    scoped = [line if not _FLUSH.fullmatch(line) else
              "# (flush ruleset: only the tables this file declares)\n" + deletes.rstrip("\n")
              for line in config.splitlines()]
    digest = hashlib.sha256(config.encode("utf-8")).hexdigest()
    dropin = "\n".join([
        "# %s" % backends.MARKER[2:],
        "# nftables.service loads and removes only the tables %s declares, so restarting it keeps" % NFTABLES_CONF,
        "# Docker's, fail2ban's and portcullis.ports' tables. %s is %s as of sha256 %s;" % (
            NFTABLES_SCOPED, NFTABLES_CONF, digest),
        "# after an edit the service refuses to start until the firewall role runs again.",
        "[Service]",
        "ExecStartPre=/bin/sh -c 'echo \"%s  %s\" | sha256sum --check --status || { echo \"%s changed since "
        "portcullis.ports scoped it: run the firewall role again, or remove %s\" >&2; exit 1; }'"
        % (digest, NFTABLES_CONF, NFTABLES_CONF, NFTABLES_DROPIN),
        "ExecStart=",
        "ExecStart=%s -f %s" % (nft, NFTABLES_SCOPED),
        "ExecReload=",
        "ExecReload=%s -f %s" % (nft, NFTABLES_SCOPED),
        "ExecStop=",
        "ExecStop=%s -f %s" % (nft, NFTABLES_SCOPED_STOP),
        "",
    ])
    header = "#!/usr/sbin/nft -f\n%s\n" % backends.MARKER
    return {
        NFTABLES_DROPIN: dropin,
        NFTABLES_SCOPED: header + "\n".join(scoped) + "\n",
        NFTABLES_SCOPED_STOP: header + deletes,
    }


class Firewall:
    def __init__(self, runner, params, state_dir=STATE_DIR, root="/"):
        self.runner = runner
        self.params = params
        self.state_dir = state_dir
        self.root = root
        self.warnings = []
        self.resolved = {}
        self.resolvers = []
        self.dhcp_servers = []
        self.names = None

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _read(self, path):
        return _read(self._path(path))

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
        self.resolved = {}
        # Resolved now, before anything changes; a name that stops resolving keeps its last good set.
        self.names = _names.Names(os.path.join(self.state_dir, _names.NAMES_FILE), self.resolve, self.warnings)

        def resolve(name):
            self.resolved[name] = self.names.resolve(name)
            return self.resolved[name]

        rules = rules_mod.normalize_rules(params.get("rules") or [], port_policy, resolve)
        timeout = params.get("rollback_timeout") or 0
        if timeout < 0 or timeout > 3600:
            raise rules_mod.RuleError(["rollback_timeout %r must be from 0 (off) to 3600 seconds" % timeout])
        self.resolvers = []
        output_drop = policy["output"] == "drop" and params.get("state", "present") == "present"
        dhcp = params.get("allow_dhcp", True)
        self.dhcp_servers = self.read_dhcp_servers() if dhcp and output_drop else []
        defaults = rules_mod.Defaults(params.get("allow_established", True), params.get("allow_loopback", True),
                                      params.get("allow_icmp", True), dhcp=dhcp, dhcp_requests=output_drop,
                                      dhcp_servers=self.dhcp_servers)
        if output_drop:
            if params.get("allow_dns", True):
                self.resolvers = self.read_resolvers()
            rules = rules_mod.essential_output_rules(self.resolvers) + rules
        return rules, policy, defaults

    def read_dhcp_servers(self):
        """The IPv4 DHCP servers of the host's leases (renewals go to them by unicast), sorted."""
        found = set()
        for pattern in DHCP_LEASES:
            for path in sorted(glob.glob(self._path(pattern))):
                for line in (_read(path) or "").splitlines():
                    match = _DHCP_SERVER.fullmatch(line)
                    if match:
                        try:
                            found.add(ipaddress.IPv4Address(match.group(1)))
                        except ValueError:
                            continue
        return [str(server) for server in sorted(found)]

    def resolve(self, name):
        return resolve_name(name)

    def read_resolvers(self):
        """The DNS servers the host sends queries to, for the output policy drop."""
        found, warnings = _names.read_resolvers(self._read, self.root)
        self.warnings += warnings
        return found

    def guard_ssh(self, rules, policy, defaults):
        if not self.params.get("protect_ssh", True):
            return None
        connection = find_ssh_connection()
        if not connection or len(connection.split()) != 4:
            return None
        allowed, reason = rules_mod.ssh_verdict(rules, policy, connection, defaults)
        if not allowed:
            client, _client_port, server, port = connection.split()
            raise FirewallError(
                "refusing to apply: the SSH session Ansible uses (from %s to %s port %s) would be cut: %s. "
                "Add a rule that accepts it, or set protect_ssh: false (role: portcullis_firewall_protect_ssh), with rollback_timeout, if you mean it."
                % (client, server, port, reason))
        return connection

    def other_firewalls(self, backend, rules=None):
        """Findings that stop the run, and the takeovers to make (fail, takeover, warn)."""
        findings = _others.detect(self.runner, backend.name, read=self._read, rules=rules)
        mode = self.params.get("other_firewalls", "fail")
        if not findings:
            return []
        if mode == "warn":
            for finding in findings:
                self.warnings.append("another firewall may make the rules ineffective: %s" % finding.message())
            return []
        blocking = [finding for finding in findings if mode != "takeover" or finding.takeover is None]
        if blocking:
            raise FirewallError(
                "refusing to apply: the rules would not be what the network does, because of %s"
                % "; ".join(finding.message() for finding in blocking))
        return findings

    def _load_state(self, backend):
        path = self._state_path(backend)
        text = _read(path)
        if text is None:
            return {}
        try:
            saved = json.loads(text)
            if not isinstance(saved, dict):
                raise ValueError("not a mapping")
            return saved
        except ValueError as error:
            self.warnings.append("the state file %s could not be read (%s): the rules are applied again (not in "
                                 "check mode), which rebuilds it" % (path, error))
            return {}

    def run(self, check_mode):
        if self.params.get("confirm"):
            return self.confirm(self.params["confirm"])
        rules, policy, defaults = self.validate()
        backend = _choice.select_backend(self.runner, self.params.get("backend", "auto"),
                                         takeover=self.params.get("other_firewalls", "fail") == "takeover")
        # A manager's default policies are set only for the chains the registry names (ufw).
        backend.policy_declared = frozenset(self.params.get("policy") or {})
        others = _choice.other_backends(self.runner, backend)
        for other in others:
            # A manager not in charge has no policy of the registry's: only rules of ours make its scope.
            other.policy_declared = frozenset()
        if self.params.get("state", "present") == "absent":
            return self.remove([backend] + others, check_mode)
        desired = backend.render(rules, policy, defaults)
        # Never silent: the container paths the rules cannot govern here are named.
        self.warnings += backend.limits(policy)
        self.guard_ssh(rules, policy, defaults)
        takeovers = self.other_firewalls(backend, rules)
        live = backend.live()
        listing = backend.listing(live)
        saved = dict((key, backend.comparable(value) if key in ("desired", "live") and isinstance(value, str) else value)
                     for key, value in self._load_state(backend).items())
        ruleset_changed = not (saved.get("desired") == desired and saved.get("live") == live and live is not None)
        # Another backend's scope left from an earlier run goes in the same change ('' for a manager's shared
        # rule list holding nothing of ours).
        others_live = [(other, other.live()) for other in others]
        removed = [(other, live_other) for other, live_other in others_live if live_other]
        if self.params.get("persist", True) and backend.boot_unit() is not None:
            boot_changes = self.boot_changes(backend, others, rules, policy, defaults, desired)
        else:
            # Not persisting, or a manager (ufw) that loads its own rules at boot: what an earlier run set up for
            # boot would load an older rule set; it goes.
            boot_changes = self.boot_removal([backend] + others)
        changed = ruleset_changed or bool(boot_changes) or bool(removed) or bool(takeovers)
        result = {"changed": changed, "backend": backend.name,
                  "rules": len(self.params.get("rules") or []), "ruleset_changed": ruleset_changed,
                  "boot_changed": sorted(boot_changes),
                  "removed_scope": ", ".join(other.name for other, _live in removed) or None,
                  "took_over": [finding.manager for finding in takeovers],
                  "resolved": dict(self.resolved), "resolvers": list(self.resolvers),
                  "dhcp_servers": list(self.dhcp_servers), "names_kept": dict(self.names.kept)}
        if ruleset_changed or removed:
            before = listing + "".join("\n# the %s scope, removed:\n%s" % (other.name, other.listing(live_other))
                                       for other, live_other in removed)
            result["diff"] = {"before": before, "after": desired,
                              "before_header": "live %s ruleset" % backend.name,
                              "after_header": "declared %s ruleset" % backend.name}
        if check_mode:
            return result
        if not changed:
            if saved and "policy_declared" not in saved:
                # A state file from before the policy chains were recorded (the metrics read the scope with them).
                self._save_state(backend, desired, live)
            self._save_names()
            return result
        plan = backend.apply_plan(rules, policy, defaults, desired) if ruleset_changed else None
        if plan is not None:
            backend.check(plan)
        previous_plan = backend.rollback_plan(listing)
        others_previous = [(other, other.rollback_plan(other.listing(live_other))) for other, live_other in removed]
        timeout = self.params.get("rollback_timeout") or 0
        # The state files as they are, put back by a rollback: what is in force then is the previous rule set.
        states = self._states([backend] + [other for other, _live in removed])
        token = None
        if timeout and (plan is not None or takeovers or others_previous):
            # What to restore is taken now; the timer starts once the apply has ended (a firewalld reload and the
            # wait for Docker's chains can take longer than a short timeout).
            token = self.prepare_rollback(backend, previous_plan, takeovers, others_previous, states)
            # Should this process die in the middle of the apply, a guard restores all the same.
            try:
                self._rollback().guard(token, timeout)
            except OSError as error:
                self._rollback().discard(token)
                raise FirewallError("%s; nothing was changed" % error)
            if boot_changes:
                # Made permanent only once the controller confirms: a rolled back
                # rule set must not come back at the next boot.
                _write_atomic(self._rollback().path(token, "boot.json"), json.dumps(self._boot_entries(boot_changes)))
                boot_changes = {}
        managers = set(name for name, _find in _choice.MANAGERS)
        try:
            # A manager's scope goes while the manager still runs (a takeover stops it next); a table's after the new
            # ruleset is live, so that the host is never without one.
            for other, _live in removed:
                if other.name in managers:
                    other.apply(other.remove_plan())
            self._take_over(takeovers)
            if plan is not None:
                backend.apply(plan)
            for other, _live in removed:
                if other.name not in managers:
                    other.apply(other.remove_plan())
        except (backends.BackendError, FirewallError) as error:
            self._undo(backend, previous_plan, takeovers, others_previous)
            if token is not None:
                self._rollback().discard(token)
            raise FirewallError("%s; the previous ruleset was put back%s" % (
                error, " and %s enabled again" % ", ".join(finding.manager for finding in takeovers) if takeovers else ""))
        self.warnings += backend.apply_warnings
        # From here the new ruleset is live: a failure still reports a change.
        failure = None
        try:
            self._save_state(backend, desired, backend.live())
            for other, _live in removed:
                self._forget(other)
            if boot_changes:
                self.write_boot(boot_changes)
            self._save_names()
        except (IOError, OSError, backends.BackendError, FirewallError) as error:
            failure = error
        if token is not None:
            # Last: the controller's window to confirm is the rollback_timeout from the end of the apply.
            try:
                result["rollback_token"] = self._rollback().start(token, timeout)
            except OSError as error:
                self._undo(backend, previous_plan, takeovers, others_previous)
                self._put_states(states)
                self._rollback().discard(token)
                raise FirewallError("%s; the previous ruleset was put back" % error)
        if failure is not None:
            raise FirewallError(
                "the new ruleset is live, but %s. What boots is as it was before this run (%s)%s; run again once "
                "that is fixed" % (failure, ", ".join(sorted(boot_changes)) or "no boot change was due",
                                   ", and the host restores the previous ruleset in %d seconds unless confirmed"
                                   % timeout if token is not None else ""), changed=True)
        return result

    def _take_over(self, takeovers):
        for finding in takeovers:
            rc, _out, err = self.runner.run(finding.takeover[0])
            if rc != 0:
                self._restore_managers(takeovers)
                raise FirewallError("could not take over from %s (%s): %s" % (finding.manager, " ".join(finding.takeover[0]),
                                                                              err.strip()))

    def _restore_managers(self, takeovers):
        for finding in takeovers:
            self.runner.run(finding.takeover[1])

    def _undo(self, backend, previous_plan, takeovers, others_previous):
        # The managers first: a manager's previous scope is put back through it.
        self._restore_managers(takeovers)
        for item, plan in [(backend, previous_plan)] + list(others_previous):
            if plan is None:
                continue
            try:
                item.apply(plan)
            except backends.BackendError:
                pass

    def _save_names(self):
        """The names' addresses now live, kept for a run where they do not resolve."""
        try:
            self.names.save()
        except (IOError, OSError) as error:
            self.warnings.append("the names' addresses could not be recorded in %s (%s): a name that stops resolving "
                                 "will fail the next run" % (self.names.path, error))

    def _save_state(self, backend, desired, live):
        # The policy chains the registry declared: a manager's live scope holds their defaults (ufw), and the
        # metrics collector reads the backend with the same ones.
        _write_atomic(self._state_path(backend), json.dumps({"desired": desired, "live": live, "policy_declared": sorted(
            getattr(backend, "policy_declared", None) or ())}, sort_keys=True))

    def _forget(self, backend):
        path = self._state_path(backend)
        if os.path.exists(path):
            os.unlink(path)

    def _states(self, scopes):
        """``{path: content or None}`` of these backends' state files now."""
        return dict((self._state_path(item), _read(self._state_path(item))) for item in scopes)

    def _put_states(self, states):
        for path, content in states.items():
            if content is None:
                if os.path.exists(path):
                    os.unlink(path)
            else:
                _write_atomic(path, content)

    # Persistence: the module's own unit loads only its scope.

    def _systemctl(self):
        if not os.path.isdir(self._path("/run/systemd/system")):
            return None
        return self.runner.which("systemctl")

    def boot_changes(self, backend, others, rules, policy, defaults, desired):
        """``{path: content or None (remove)}``, and ``service:``/``daemon-reload`` steps."""
        wanted = dict(backend.boot_files(rules, policy, defaults, desired))
        unit = backend.boot_unit()
        if unit is not None:
            wanted[backends.BOOT_UNIT_PATH] = unit
        wanted.update(self._scoped_nftables_service())
        changes = dict((path, content) for path, content in wanted.items() if self._read(path) != content)
        if unit is None and backends.MARKER in (self._read(backends.BOOT_UNIT_PATH) or ""):
            # A backend with no unit (firewalld boots its own permanent configuration): ours, from another backend, goes.
            changes[backends.BOOT_UNIT_PATH] = None
        for item in [backend] + list(others):
            changes.update(item.legacy_boot(self._read))
        for other in others:
            for path in other.boot_files([], dict(rules_mod.DEFAULT_POLICY), rules_mod.Defaults(), ""):
                # A path the backend in charge wants too (the forward chains' files, for ufw and firewalld) stays.
                if path not in wanted and backends.MARKER in (self._read(path) or ""):
                    changes[path] = None
        systemctl = self._systemctl()
        if systemctl is None:
            self.warnings.append("systemd is not running here, so nothing loads the ruleset at boot")
            return dict((path, content) for path, content in changes.items() if not path.startswith("/etc/systemd/"))
        if changes:
            changes["daemon-reload"] = None
        if unit is None:
            if backends.BOOT_UNIT_PATH in changes:
                changes["disable:" + backends.BOOT_UNIT] = None
            return changes
        rc, out, _err = self.runner.run([systemctl, "is-enabled", backends.BOOT_UNIT])
        if changes or out.strip() != "enabled":
            changes["service:" + backends.BOOT_UNIT] = None
        return changes

    def _scoped_nftables_service(self):
        nft = self.runner.which("nft")
        config = self._read(NFTABLES_CONF)
        if nft is None or config is None or not any(os.path.exists(self._path(unit)) for unit in NFTABLES_UNITS):
            return {}
        tables = nftables_tables(config, self._read, self.root)
        shared = [table for table in tables if table in IPTABLES_NFT_TABLES]
        if shared:
            self.warnings.append(
                "%s declares %s, which iptables-nft (Docker, kube-proxy, fail2ban's iptables actions) also uses: "
                "restarting nftables.service cannot remove that table without removing their rules, so it is only "
                "added to (a restart repeats its rules). Give your table a name of its own, such as 'table ip "
                "my%s'" % (NFTABLES_CONF, ", ".join("table %s %s" % table for table in shared), shared[0][1]))
        files = scoped_nftables_files(config, [table for table in tables if table not in shared], nft)
        if self._read(NFTABLES_SCOPED) == files[NFTABLES_SCOPED]:
            return files
        rc, _out, err = self.runner.run([nft, "-c", "-f", "-"], files[NFTABLES_SCOPED])
        if rc != 0:
            self.warnings.append("%s could not be scoped to its own tables (%s), so restarting nftables.service "
                                 "still flushes every table, ours included" % (NFTABLES_CONF, err.strip()))
            return {}
        return files

    def boot_removal(self, scopes):
        """``{path: None}`` for every boot file the module wrote (marked) or an
        earlier version left, with the unit disabled first."""
        owned = [backends.BOOT_UNIT_PATH, NFTABLES_DROPIN, NFTABLES_SCOPED, NFTABLES_SCOPED_STOP]
        for backend in scopes:
            owned += list(backend.boot_files([], dict(rules_mod.DEFAULT_POLICY), rules_mod.Defaults(), ""))
        changes = dict((path, None) for path in owned if backends.MARKER in (self._read(path) or ""))
        for backend in scopes:
            changes.update(backend.legacy_boot(self._read))
        if backends.BOOT_UNIT_PATH in changes and self._systemctl():
            changes["disable:" + backends.BOOT_UNIT] = None
            changes["daemon-reload"] = None
        return changes

    @staticmethod
    def _boot_entries(changes):
        """(path or step, content, mode) in writing order: a unit disabled,
        files, then daemon-reload, then services enabled."""
        def order(path):
            return (not path.startswith("disable:"), path.startswith("service:"), path == "daemon-reload", path)
        return [(path, content, 0o644 if path.startswith("/etc/systemd/") else 0o600)
                for path, content in sorted(changes.items(), key=lambda item: order(item[0]))]

    def write_boot(self, changes):
        self._write_boot_entries(self._boot_entries(changes))
        boot_dir = self._path(backends.BOOT_DIR)
        if os.path.isdir(boot_dir) and not os.listdir(boot_dir):
            os.rmdir(boot_dir)
        # The drop-in directories our drop-ins were the last file of (nftables.service's, firewalld.service's).
        for path in [NFTABLES_DROPIN] + [item for item, content in changes.items() if content is None
                                         and item.startswith("/etc/systemd/system/") and item.endswith(".conf")]:
            dropin_dir = os.path.dirname(self._path(path))
            if dropin_dir.endswith(".d") and os.path.isdir(dropin_dir) and not os.listdir(dropin_dir):
                os.rmdir(dropin_dir)

    def _write_boot_entries(self, entries):
        systemctl = self._systemctl()
        for path, content, mode in entries:
            if path == "daemon-reload" or path.startswith("service:") or path.startswith("disable:"):
                if not systemctl:
                    continue
                if path == "daemon-reload":
                    argv = [systemctl, "daemon-reload"]
                else:
                    verb, unit = path.split(":", 1)
                    argv = [systemctl, "enable" if verb == "service" else "disable", unit]
                rc, _out, err = self.runner.run(argv)
                if rc != 0:
                    raise FirewallError("%s failed: %s" % (" ".join(argv[1:]), err.strip()))
            elif content is None:
                if os.path.lexists(self._path(path)):
                    os.unlink(self._path(path))
            else:
                if os.path.exists(self._path(path)):
                    mode = os.stat(self._path(path)).st_mode & 0o7777  # a file we edit keeps its mode
                _write_atomic(self._path(path), content, mode)

    # state: absent

    def remove(self, scopes, check_mode):
        """Both backends' scopes, the boot unit and files, the state."""
        live = dict((backend.name, backend.live()) for backend in scopes)
        removal = self.boot_removal(scopes)
        # A scope with nothing in it is None, or '' for a manager's (ufw) shared rule list.
        ruleset_changed = any(value for value in live.values())
        boot = sorted(path for path in removal if path.startswith("/"))
        result = {"changed": ruleset_changed or bool(boot), "backend": scopes[0].name, "rules": 0,
                  "ruleset_changed": ruleset_changed, "boot_changed": boot}
        if ruleset_changed:
            result["diff"] = {"before": "".join(backend.listing(live[backend.name]) for backend in scopes), "after": ""}
        if check_mode or not result["changed"]:
            return result
        for backend in scopes:
            if live[backend.name]:
                plan = backend.remove_plan()
                backend.check(plan)
                backend.apply(plan)
            self._forget(backend)
        self.write_boot(removal)
        if self.names is not None:
            self.names.forget()
        return result

    # Commit-confirmed rollback

    def _rollback(self):
        return _host.Rollback(self.runner, self.state_dir, self._systemctl() is not None)

    def prepare_rollback(self, backend, previous_plan, takeovers=(), others_previous=(), states=None):
        """The rollback script and its files, written but not started (``start``
        it after the apply): the managers taken over run again first, each
        scope gets its previous rules back, and the state files become what
        they were, so that the next run compares with what is in force."""
        rollback = self._rollback()
        token = rollback.new_token()
        # The managers taken over run again first: a manager's previous scope is put back through it.
        script = "".join("%s\n" % " ".join(finding.takeover[1]) for finding in takeovers)
        files, backend_script = backend.restore_script(previous_plan, self.state_dir, token)
        script += backend_script
        for other, other_previous in others_previous:
            other_files, other_script = other.restore_script(other_previous, self.state_dir, token + "." + other.name)
            files.update(other_files)
            script += other_script
        for index, (path, content) in enumerate(sorted((states or {}).items())):
            if content is None:
                script += "rm -f %s\n" % shlex.quote(path)
            else:
                saved = rollback.path(token, "state-%d.json" % index)
                files[saved] = content
                script += "cp %s %s\n" % (shlex.quote(saved), shlex.quote(path))
        try:
            return rollback.prepare(token, script, "restore the ruleset from before an unconfirmed apply", files)
        except OSError as error:
            raise FirewallError(str(error))

    def confirm(self, token):
        try:
            kept = self._rollback().confirm(token, keep=("boot.json",))
        except ValueError as error:
            raise FirewallError(str(error))
        if kept.get("boot.json"):
            self._write_boot_entries(json.loads(kept["boot.json"]))
        return {"changed": False, "confirmed": token}
