# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host steps of the nginx_proxy module, in one round trip: learn what
the installed nginx supports, read the sites' certificates (_certificates),
render, make the directories and the self-signed pairs that are due, write,
prove with ``nginx -t`` and put everything back when the proof fails; then,
when a service is named, start or reload it and keep it enabled (_service).
The running nginx is reloaded only after ``nginx -t`` accepted the files, so
a refused configuration never serves.

"Converged" is not decided by content alone: once nginx runs files that
``nginx -t`` accepted, a marker records a digest of them (and of the nginx
version). Files that already have the wanted content but no matching marker
- a run killed between writing and the reload - are proven now, the service
reloaded, and the run reports a change.

The diff never shows the content of a file that is not world-readable, nor
any key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import json
import os

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _certificates
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _edge
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _service
from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError


def _ipv6_available(if_inet6="/proc/net/if_inet6"):
    return bool((_host.read(if_inet6) or "").strip())


class _Saved:
    """A file as it was: content and mode, a symlink's target, or absence."""

    def __init__(self, path):
        self.path = path
        self.link = os.readlink(path) if os.path.islink(path) else None
        self.data = None
        self.mode = None
        if self.link is None and os.path.lexists(path):
            with open(path, "rb") as handle:  # unreadable: fail now, before anything is written
                self.data = handle.read()
            self.mode = os.stat(path).st_mode & 0o7777

    @property
    def exists(self):
        return self.link is not None or self.data is not None

    def restore(self):
        if os.path.lexists(self.path):
            os.unlink(self.path)
        if self.link is not None:
            os.symlink(self.link, self.path)
        elif self.data is not None:
            _host.write_atomic(self.path, self.data, self.mode)


STATE_DIR = "/var/lib/portcullis"
MARKER_NAME = "nginx-proxy-validated.json"
HIDDEN = "(not shown: the file is not world-readable)\n"


def _world_readable(path, mode=None):
    """Whether a file (or the mode it is written with) may be shown in a diff."""
    if mode is None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return True  # absent: nothing to hide
    return bool(mode & 0o004)


def _owned_programs(directories):
    """The mtail programs (regular files named NAME.mtail, the only ones mtail loads) of ``directories`` (missing
    ones have none) that begin with the collection's marker, in the order of the directories, each sorted by name;
    only the marker's length of each file is read."""
    found = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if not name.endswith(_edge.PROGRAM_SUFFIX):
                continue
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as handle:
                    head = handle.read(len(_edge.OWNED_MARKER.encode("utf-8")))
            except (IOError, OSError):
                continue
            if _edge.owned(head):
                found.append(path)
    return found


class NginxProxy:
    def __init__(self, runner, params, state_dir=STATE_DIR, certbot_live=_certificates.LETSENCRYPT_LIVE,
                 systemd_dir=_service.SYSTEMD_DIR):
        self.runner = runner
        self.params = params
        self.warnings = []
        self.marker_path = os.path.join(state_dir, MARKER_NAME)
        self.certbot_live = certbot_live
        self.systemd_dir = systemd_dir

    def _features(self):
        binary = self.runner.which("nginx")
        if not binary:
            return None, None, {}
        rc, out, err = self.runner.run([binary, "-v"])
        version = _config.version_tuple(out + err)
        if rc != 0 or version is None:
            raise NginxProxyError("could not read the nginx version from %r" % (out + err).strip())
        return binary, version, {
            "http2_directive": version >= (1, 25, 1),
            "reject_handshake": version >= (1, 19, 4),
        }

    def _validate(self, binary, main_path):
        argv = [binary, "-t"] + (["-c", main_path] if main_path else [])
        rc, out, err = self.runner.run(argv)
        output = (err or out).strip()
        if rc != 0 and "server_names_hash_bucket_size" in output:
            output += ("\n(a name is longer than this nginx.conf's server_names_hash_bucket_size allows: let the role "
                       "write nginx.conf (main_config), which sizes it for the longest name, or raise it there)")
        return rc == 0, output

    def run(self, check_mode):
        params = self.params
        binary, version, features = self._features()
        if binary is None and not check_mode:
            raise NginxProxyError("nginx is not installed on this host (no nginx binary on the PATH or in /usr/sbin)")
        if binary is None:
            self.warnings.append("nginx is not installed yet: rendered for the newest nginx, not validated")
        certificates = _certificates.Certificates(
            self.runner, params.get("self_signed_days", _config.RENDER_DEFAULTS["self_signed_days"]),
            params.get("self_signed_renew_days", _config.RENDER_DEFAULTS["self_signed_renew_days"]),
            live_dir=self.certbot_live)
        ipv6 = params["ipv6"]
        ipv6 = _ipv6_available() if ipv6 == "auto" else ipv6 == "true"
        renderer = _config.Renderer(
            certificates.resolve(params["sites"]), tls_profile=params["tls_profile"],
            hsts_max_age=params["hsts_max_age"], health_path=params["health_path"], acme_root=params["acme_root"],
            health_root=params["health_root"], ipv6=ipv6, http2=params["http2"], features=features,
            fallback_certificate=params.get("fallback_certificate"), real_ip=params.get("real_ip"),
            edge_log=params.get("edge_log"),
            main_access_log=(params.get("main_config") or {}).get("access_log") or _config.MAIN_DEFAULTS["access_log"])
        wanted = [(params["config_path"], renderer.render(), 0o644)]
        main_path = None
        if params.get("main_config"):
            main_text, main_path, http_includes = _config.render_main(params["main_config"], renderer.longest_name())
            if not any(fnmatch.fnmatch(params["config_path"], pattern) for pattern in http_includes):
                raise NginxProxyError("config_path %s is not matched by any of main_config http_includes (%s), so nginx "
                                      "would never read it" % (params["config_path"], ", ".join(http_includes) or "none"))
            wanted.append((main_path, main_text, 0o644))
            if main_path == _config.MAIN_DEFAULTS["path"]:
                main_path = None  # nginx's own default: test exactly what the service will load
        if renderer.health_file():
            wanted.append((renderer.health_file(), "ok\n", 0o644))
        # Every value is checked by now; the host is read from here on.
        certificates.check(renderer.sites, _config.site_names)
        self.warnings.extend(certificates.warnings)
        to_make = certificates.to_make()
        directories = self._directories(renderer, certificates) + self._edge_directories()
        if self.params.get("edge_log") and self.params.get("edge_exporter") and not check_mode \
                and self.runner.which("mtail") is None:
            # Before any change: the role's next step (the program, compiled by mtail) would fail after nginx logs.
            raise NginxProxyError("the edge metrics need mtail, which is not installed here (not in the PATH, nor "
                                  "/usr/sbin or /sbin): install it, or leave the role's portcullis_nginx_edge_packages "
                                  "as they were (mtail)")
        changes = []
        for path, text, mode in wanted:
            before = _host.read(path)
            if before != text:
                changes.append({"before": (before or "") if _world_readable(path) else HIDDEN,
                                "after": text if _world_readable(path, mode) else HIDDEN,
                                "before_header": path, "after_header": path, "path": path})
        replaced = [path for path in params["replaces"] if os.path.lexists(path)]
        for path in replaced:
            changes.append({"before": (_host.read(path) or "") if _world_readable(path) else HIDDEN, "after": "",
                            "before_header": path, "after_header": "%s (removed)" % path, "path": path})
        version_text = ".".join(str(part) for part in version) if version else None
        digest = hashlib.sha256(json.dumps([version_text] + [[path, text] for path, text, _mode in wanted]).encode(
            "utf-8")).hexdigest()
        unproven = not changes and binary is not None and self._marker() != digest
        service, actions = None, []
        if params.get("service"):
            service = _service.Service(self.runner, params["service"], self.systemd_dir)
            running, enabled = service.status()
            self.warnings.extend(service.warnings)
            # Started, it loads what is on disk; running, it is reloaded onto what this run wrote or proved.
            if not running:
                actions.append("start")
            elif changes or to_make or unproven:
                actions.append("reload")
            if enabled is False:
                actions.append("enable")
        diff = [dict((key, value) for key, value in change.items() if key != "path") for change in changes]
        diff += [{"before_header": path, "after_header": path, "before": "(%s)\n" % (before or "absent"),
                  "after": "(directory, mode %04o)\n" % mode} for path, mode, before in directories]
        diff += [entry.diff(certificates.days) for entry in to_make]
        if service and set(actions) - set(["reload"]):
            before = ["stopped" if "start" in actions else "running"] + (["not enabled"] if "enable" in actions else [])
            diff.append({"before_header": "service %s" % service.name, "after_header": "service %s" % service.name,
                         "before": "(%s)\n" % ", ".join(before),
                         "after": "(running, enabled)\n" if enabled is not None else "(running)\n"})
        result = {
            "changed": bool(changes or to_make or directories or unproven or actions),
            "config_path": params["config_path"],
            "acme_root": renderer.acme_root,
            "domains": [site["domain"] for site in renderer.sites],
            "names": dict((site["domain"], _config.site_names(site)) for site in renderer.sites),
            "removed": replaced,
            "written": [change["path"] for change in changes if change["after"]],
            "made": [entry.certificate for entry in to_make],
            "directories": [path for path, _mode, _before in directories],
            "certificates": dict((entry.domain, entry.result()) for entry in certificates.entries()),
            "certbot": certificates.certbot(),
            "nginx_version": version_text,
            "diff": diff,
        }
        if service:
            result["service"] = {"name": service.name, "actions": actions}
        if unproven:
            # The files are as wanted, but nginx -t never accepted them (a run was stopped in between).
            result["proven"] = True
        edge_exporter = self._edge_exporter()
        if edge_exporter is not None:
            result["edge_exporter"] = edge_exporter
        if check_mode:
            return result
        self._make_directories(directories)
        if changes or to_make:
            self._replace(binary, main_path, certificates, to_make,
                          [item for item in wanted if item[0] in result["written"]], replaced)
        elif unproven:
            valid, output = self._validate(binary, main_path)
            if not valid:
                raise NginxProxyError("the configuration on disk has the wanted content, but nginx -t was never run on "
                                      "it (an earlier run stopped after writing) and now refuses it; the running nginx "
                                      "was not reloaded:\n%s" % output)
        for action in actions:
            getattr(service, action)()
        if changes or unproven:
            # Recorded once nginx runs what was proven: a run that stops before the reload proves and reloads again.
            self._save_marker(digest)
        return result

    def _edge_exporter(self):
        """What the role set up for the edge metrics' exporter and is no longer wanted, for it to remove:
        ``{"files": [...], "service": {...} or None}``, or None without ``edge_exporter``.

        The files that begin with the collection's marker (_edge.OWNED_MARKER) in mtail's program directories -
        the program's, and the one our environment file names (the program's before it moved) - other than the
        program itself while the edge log is on: mtail loads every program of its directory, so an older one of
        ours would count every request twice. Without the edge log, those and the environment file (last), and
        the service's state when the environment file is ours - the service then runs on the collection's
        configuration. Only read here, never changed; a host where nothing is the collection's costs two reads
        and a directory listing."""
        wanted = self.params.get("edge_exporter")
        if not wanted:
            return None
        on = bool(self.params.get("edge_log"))
        environment = _host.read(wanted["environment"], binary=True)
        directories = [os.path.dirname(wanted["program"])]
        previous = _edge.environment_program_directory(environment)
        if previous and previous not in directories:
            directories.append(previous)
        files = [path for path in _owned_programs(directories) if not (on and path == wanted["program"])]
        service = None
        if not on and _edge.owned(environment):
            files.append(wanted["environment"])
            unit = _service.Service(self.runner, wanted["service"], self.systemd_dir)
            running, enabled = unit.status()
            self.warnings.extend(unit.warnings)
            service = {"name": unit.name, "running": running, "enabled": enabled}
        return {"files": files, "service": service}

    def _edge_directories(self):
        """With the edge log, its directory and the mtail program's, each made (0755) when missing: nginx and the
        role's copy of the program would otherwise fail on them, after other changes. One that exists is left as it
        is; something else in the way fails before any change."""
        wanted = self.params.get("edge_exporter")
        paths = [self.params.get("edge_log")] + ([wanted["program"]] if wanted else [])
        plan = []
        for path in paths if self.params.get("edge_log") else ():
            directory = os.path.dirname(path)
            if os.path.isdir(directory) or any(directory == item[0] for item in plan):
                continue
            if os.path.lexists(directory):
                raise NginxProxyError("%s is in the way: it should be the directory of %s" % (directory, path))
            plan.append((directory, 0o755, None))
        return plan

    def _replace(self, binary, main_path, certificates, to_make, written, replaced):
        """Make the self-signed pairs, write the files, remove the replaced ones, then nginx -t; everything is
        put back as it was when any step fails or nginx -t refuses."""
        saved = []
        try:
            for entry in to_make:
                saved += [_Saved(entry.certificate_key), _Saved(entry.certificate)]
                new_key, new_certificate = certificates.make(entry)
                try:
                    os.rename(new_key, entry.certificate_key)
                    os.rename(new_certificate, entry.certificate)
                finally:
                    for path in (new_key, new_certificate):
                        if os.path.lexists(path):
                            os.unlink(path)
            saved += [_Saved(path) for path, _text, _mode in written] + [_Saved(path) for path in replaced]
            for path, text, mode in written:
                _host.write_atomic(path, text, mode)
            for path in replaced:
                os.unlink(path)
            valid, output = self._validate(binary, main_path)
        except Exception:
            self._restore(saved)
            raise
        if not valid:
            self._restore(saved)
            raise NginxProxyError("nginx -t refused the new configuration, so the previous files are back in place "
                                  "and the running nginx was not reloaded:\n%s" % output)

    def _directories(self, renderer, certificates):
        """``[(path, mode, what is there now or None)]``: the ACME web root (0755) and the directories of the
        self-signed pairs (0700) that are missing or have another mode."""
        wanted = [(renderer.acme_root, 0o755)] if renderer.acme_root else []
        wanted += [(path, _certificates.DIRECTORY_MODE) for path in certificates.directories()]
        plan = []
        for path, mode in wanted:
            if os.path.isdir(path):
                current = os.stat(path).st_mode & 0o7777
                if current != mode:
                    plan.append((path, mode, "directory, mode %04o" % current))
            elif os.path.lexists(path):
                raise NginxProxyError("%s is in the way: it should be a directory" % path)
            else:
                plan.append((path, mode, None))
        return plan

    @staticmethod
    def _make_directories(directories):
        for path, mode, _before in directories:
            if not os.path.isdir(path):
                os.makedirs(path, mode)
            os.chmod(path, mode)

    def _markers(self):
        """``{config_path: digest}``: one entry per configuration this module owns on the host."""
        try:
            saved = json.loads(_host.read(self.marker_path) or "{}")
        except ValueError:
            return {}
        return saved.get("digests", {}) if isinstance(saved, dict) and isinstance(saved.get("digests"), dict) else {}

    def _marker(self):
        return self._markers().get(self.params["config_path"])

    def _save_marker(self, digest):
        digests = self._markers()
        digests[self.params["config_path"]] = digest
        _host.write_atomic(self.marker_path, json.dumps({"digests": digests}, sort_keys=True), 0o644)

    def _restore(self, saved):
        """Put back every file; one that cannot be restored does not stop the others."""
        failed = []
        for item in saved:
            try:
                item.restore()
            except (IOError, OSError) as error:
                failed.append("%s (%s)" % (item.path, error))
        if failed:
            raise NginxProxyError("could not put back: %s" % ", ".join(failed))
