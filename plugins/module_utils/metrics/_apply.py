# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host steps of the port_metrics module, in its one round trip: check
every input before anything changes (the refresh interval, the files, the
timer's state as systemd reports it), collect the metrics (``_collect``),
write the inputs and the library the timer runs with, the other files it
needs (its script and units) and the metrics, then bring the timer to
enabled and started: ``systemctl daemon-reload`` only when a unit file
changed (or systemd says one waits for it), a restart when one of the
timer's files was written, a start or an enable only when it is stopped or
disabled. An unchanged host costs one ``systemctl show``.

Check mode computes the same plan and changes nothing; a timer whose unit
exists but is stopped or disabled is reported as a change.

It owns the files it is given and the ones it writes (the metrics, the
inputs, the library copy) and the state of the one timer it is given; it
never touches node-exporter.

Plain Python, no Ansible import: ``execute`` is handed the AnsibleModule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import os
import sys

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.audit._listening import ListenerReadError
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _files
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError, build_policy

LIBRARY_PACKAGE = "ansible_collections.portcullis.ports.plugins.module_utils"
CONFIG_PATH = "/etc/portcullis/port-metrics.json"
LIBRARY_DIR = "/usr/local/lib/portcullis"

# The timer's refresh interval, in seconds: the PortcullisAuditStale alert (roles/port_metrics/files/portcullis-rules.yml)
# fires after 15 minutes without a refresh, so a stopped timer must be told from a slow one.
INTERVAL_MIN = 5
INTERVAL_MAX = 300
STALE_AFTER = "15 minutes"

# A systemd unit name systemctl reads as one unit (never an option), and the names that make a file a unit file.
_TIMER_NAME = _values.pattern(r"[A-Za-z0-9_][-A-Za-z0-9:_.@\\]*[.]timer")
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target", ".mount", ".automount", ".swap", ".slice")
# UnitFileState values for which systemd starts the unit at boot (systemctl is-enabled answers 0); a timer that is
# enabled only until the next boot (enabled-runtime) is enabled for good.
ENABLED = frozenset(("enabled", "static", "indirect", "generated", "transient", "alias"))
_SHOWN = ("Id", "LoadState", "ActiveState", "UnitFileState", "NeedDaemonReload")


class MetricsError(Exception):
    """A bad input or a failed step; ``changed`` says whether something was written before it."""

    def __init__(self, message, changed=False):
        super(MetricsError, self).__init__(message)
        self.changed = changed


def argument_spec():
    return dict(
        services=dict(type="list", elements="raw", required=True),
        policy=dict(type="dict", default={}),
        path=dict(type="path", default="/var/lib/prometheus/node-exporter/" + _metrics.FILE_NAME),
        config_path=dict(type="path", default=CONFIG_PATH),
        certificates=dict(type="list", elements="dict", default=[]),
        nginx_config=dict(type="path", default=_nginx_config.CONFIG_PATH),
        health=dict(type="list", elements="dict", default=[]),
        health_timeout=dict(type="int", default=5),
        ignore_addresses=dict(type="list", elements="str"),
        files=dict(type="list", elements="dict", default=[], options=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", required=True),
            mode=dict(type="raw", default="0644"),
        )),
        library_dir=dict(type="path", default=LIBRARY_DIR),
        state_dir=dict(type="path", default=_metrics.STATE_DIR),
        exporter_user=dict(type="str", default=_metrics.EXPORTER_USER),
        exporter_service=dict(type="str"),
        interval=dict(type="int"),
        timer=dict(type="str"),
    )


def library_files(directory):
    """``{path: source}``: every module_utils module this run imported, under ``directory``."""
    files = {}
    for name, loaded in sorted(sys.modules.items()):
        if loaded is None or not name.startswith(LIBRARY_PACKAGE + ".") or hasattr(loaded, "__path__"):
            continue
        files[os.path.join(directory, *name.split(".")) + ".py"] = inspect.getsource(loaded)
    return files


def _octal_mode(value):
    """Permission bits from an octal string (``'0644'``) or an integer (YAML's unquoted ``0644``); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        mode = value
    else:
        try:
            mode = int(str(value), 8)
        except ValueError:
            return None
    return mode if 0 <= mode <= 0o7777 else None


def _file_mode(path):
    """The permission bits of ``path``, None when it does not exist."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def is_unit_file(path):
    """Whether systemd reads ``path`` as a unit file or a drop-in of one (``NAME.service.d/*.conf``)."""
    directory = os.path.dirname(path)
    return path.endswith(UNIT_SUFFIXES) or (directory.endswith(".d") and directory[:-2].endswith(UNIT_SUFFIXES))


def exporter_listen(services, name, exporter="node-exporter", option="exporter_service", example_port=9100):
    """An exporter's listen address for the registry entry ``name`` (validated services): its bind and its one TCP
    port; a wildcard bind is every address of both families (``:PORT``). node-exporter's by default; nginx_proxy's
    mtail (``exporter``, the variable that names the entry as ``option``) reads the same entry the same way."""
    if not isinstance(name, str) or not name.strip():
        raise MetricsError("%s: %s is not a service name: name the registry entry %s listens on, such as "
                           "{name: %s, port: %d, allow_from: [PROMETHEUS]} in portcullis_services"
                           % (option, json.dumps(name), exporter, exporter, example_port))
    service = next((item for item in services if item.name == name), None)
    if service is None:
        raise MetricsError("%s: the registry declares no service named %s, so the %s the "
                           "role installs would be an undeclared listener (and closed by the firewall): declare it in "
                           "portcullis_services, such as {name: %s, port: %d, allow_from: [PROMETHEUS]}"
                           % (option, name, exporter, name, example_port))
    ranges = service.ranges.get("tcp") if service.listens else None
    if not ranges or len(service.ranges) != 1 or len(ranges) != 1 or ranges[0][0] != ranges[0][1]:
        raise MetricsError("%s: the registry's service %s must listen on one TCP port for %s, "
                           "not %s" % (option, name, exporter, ", ".join("%s %s" % (protocol, ",".join(
                               "%d" % start if start == end else "%d-%d" % (start, end) for start, end in spans))
                               for protocol, spans in sorted(service.ranges.items())) or "none"))
    port = ranges[0][0]
    return ":%d" % port if service.bind.wildcard else service.bind.endpoint(port)


def parse_show(text, units):
    """``{unit: {property: value}}`` from ``systemctl show -p ... UNIT...`` (one block per unit, in order)."""
    blocks = text.strip().split("\n\n") if text.strip() else []
    if len(blocks) != len(units):
        raise MetricsError("could not read the state of %s: systemctl show gave %d blocks for %d units"
                           % (", ".join(units), len(blocks), len(units)))
    return dict((unit, dict(line.split("=", 1) for line in block.splitlines() if "=" in line))
                for unit, block in zip(units, blocks))


def timer_steps(timer, state, unit_names, units_written, timer_files_written):
    """The systemctl steps (argument lists after ``systemctl``) that bring ``timer`` to enabled and started, given
    ``state`` read before anything was written: a daemon-reload when a unit file was written, when systemd says
    one waits for it, or when systemd has not read one of the units given yet; a restart after a daemon-reload or
    when one of the timer's files was written (its units, its script, its library or its inputs), else a start when
    it is not active; an enable when systemd would not start it at boot."""
    steps = []
    if units_written or any(state[unit].get("NeedDaemonReload") == "yes" or state[unit].get("LoadState") == "not-found"
                            for unit in unit_names):
        steps.append(["daemon-reload"])
    if timer_files_written or steps:
        steps.append(["restart", timer])
    elif state[timer].get("ActiveState") != "active":
        steps.append(["start", timer])
    if state[timer].get("UnitFileState") not in ENABLED:
        steps.append(["enable", timer])
    return steps


class PortMetrics:
    """One run of the module: ``run`` returns its result or raises MetricsError."""

    def __init__(self, runner, params):
        self.runner = runner
        self.params = params
        self.warnings = []

    def _check_inputs(self):
        params = self.params
        if not params["path"].endswith(".prom"):
            raise MetricsError("path %s must end in .prom: node-exporter's textfile collector reads only those"
                               % params["path"])
        for item in params["certificates"]:
            if not isinstance(item.get("domain"), str) or not isinstance(item.get("path"), str):
                raise MetricsError("each certificate needs a domain and a path, got %r" % (item,))
        for item in params["health"]:
            if not all(isinstance(item.get(key), str) for key in ("url", "domain", "path", "server")):
                raise MetricsError("each health target needs url, domain, path and server, got %r" % (item,))

    def _extra_files(self, library):
        """``{path: (content, mode)}`` of the ``files`` option, checked."""
        params = self.params
        extra = {}
        own = set(os.path.normpath(path) for path in [params["path"], params["config_path"]] + list(library))
        for item in params["files"]:
            path = item["path"]
            if not os.path.isabs(path):
                raise MetricsError("files: %s is not an absolute path" % path)
            path = os.path.normpath(path)
            mode = _octal_mode(item["mode"])
            if mode is None:
                raise MetricsError("files: mode %r of %s is not permission bits (an octal string such as '0644')"
                                   % (item["mode"], path))
            if path in own:
                raise MetricsError("files: %s is one of the module's own files (the metrics, the inputs or the "
                                   "library)" % path)
            if path in extra:
                raise MetricsError("files: %s is given twice" % path)
            extra[path] = (item["content"], mode)
        return extra

    def _check_interval(self):
        interval = self.params["interval"]
        if interval is not None and not INTERVAL_MIN <= interval <= INTERVAL_MAX:
            raise MetricsError("interval is %d: it must be %d to %d seconds, so that PortcullisAuditStale (no refresh "
                               "for %s) means the timer stopped" % (interval, INTERVAL_MIN, INTERVAL_MAX, STALE_AFTER))

    def _timer_state(self, extra):
        """``(systemctl, units shown, state)`` of the timer and of the units among ``files``; all None without a
        timer."""
        timer = self.params["timer"]
        if timer is None:
            return None, [], None
        if not _values.matches(_TIMER_NAME, timer):
            raise MetricsError("timer %r is not the name of a systemd timer unit (NAME.timer)" % (timer,))
        systemctl = self.runner.which("systemctl")
        if not systemctl:
            raise MetricsError("systemctl is not on this host: the timer %s needs systemd (leave timer unset to "
                               "manage no unit)" % timer)
        unit_names = sorted(set(os.path.basename(path) for path in extra if path.endswith(UNIT_SUFFIXES)))
        units = [timer] + [unit for unit in unit_names if unit != timer]
        rc, out, err = self.runner.run([systemctl, "show"] + ["--property=%s" % name for name in _SHOWN] + units)
        if rc != 0:
            raise MetricsError("could not read the state of the timer %s: %s" % (timer, (err or out).strip()))
        state = parse_show(out, units)
        if state[timer].get("LoadState") != "loaded" and timer not in unit_names:
            raise MetricsError("the timer %s is %s and no file in files is its unit" % (
                timer, state[timer].get("LoadState") or "unknown to systemd"))
        return systemctl, unit_names, state

    def _check_readable(self, changed=False):
        """Fail when node-exporter's user (``exporter_user``) cannot read the metrics file: a directory on the way
        it cannot search, the textfile directory it cannot list, or the file (parts not there yet are skipped)."""
        problem = _files.unreadable(self.params["path"], self.params["exporter_user"])
        if problem:
            raise MetricsError("%s: node-exporter, running as %s, cannot read the metrics %s (the module makes the "
                               "directories it creates 0755 and the file 0644; it leaves the modes of existing "
                               "directories alone)" % (problem, self.params["exporter_user"], self.params["path"]),
                               changed=changed)

    def run(self, check_mode):
        params = self.params
        self._check_inputs()
        self._check_interval()
        try:
            library = library_files(params["library_dir"]) if params["library_dir"] else {}
        except (IOError, OSError, TypeError) as error:
            raise MetricsError("could not read the source of the module_utils to copy for the timer: %s" % error)
        extra = self._extra_files(library)
        systemctl, unit_names, state = self._timer_state(extra)
        config = dict((key, params[key]) for key in ("services", "policy", "path", "certificates", "nginx_config",
                                                     "health", "health_timeout", "state_dir", "ignore_addresses",
                                                     "exporter_user"))
        config_text = json.dumps(config, indent=1, sort_keys=True) + "\n"
        before = _host.read(params["config_path"])
        listeners = _metrics.read_listeners()
        try:
            text, checks = _metrics.collect(config, self.runner, listeners=listeners)
            listen = None
            if params["exporter_service"] is not None:
                listen = exporter_listen(_registry.validate(params["services"], build_policy(params["policy"]),
                                                            _listening.read_bindv6only()), params["exporter_service"])
        except (RegistryError, PortSpecError, ListenerReadError) as error:
            raise MetricsError(str(error))
        stale = sorted(path for path, source in library.items() if _host.read(path) != source)
        written = sorted(path for path, (content, mode) in extra.items()
                         if _host.read(path) != content or _file_mode(path) != mode)
        files_changed = before != config_text or bool(stale) or bool(written)
        steps = []
        if systemctl:
            steps = timer_steps(params["timer"], state, unit_names, any(is_unit_file(path) for path in written),
                                files_changed)
        changed = files_changed or bool(steps)
        # What exists of the way to the metrics is checked before anything changes, all of it after writing.
        self._check_readable()
        if not check_mode:
            try:
                for path in stale:
                    _files.write_file(path, library[path], 0o644)
                for path in written:
                    _files.write_file(path, extra[path][0], extra[path][1])
                if before != config_text:
                    _files.write_file(params["config_path"], config_text, 0o644)
                _files.write_file(params["path"], text, 0o644)
            except (IOError, OSError) as error:
                raise MetricsError("could not write the metrics: %s" % error, changed=files_changed)
            self._check_readable(changed=files_changed)
            for step in steps:
                rc, out, err = self.runner.run([systemctl] + step)
                if rc != 0:
                    raise MetricsError("systemctl %s failed: %s" % (" ".join(step), (err or out).strip()),
                                       changed=True)
        for check, success in sorted(checks.items()):
            if not success:
                self.warnings.append("unknown: the %s check could not read its input; "
                                     "portcullis_check_success{check=\"%s\"} is 0" % (check, check))
        result = dict(changed=changed, path=params["path"], checks=checks, metrics=text, library=stale,
                      exporter_listen=listen,
                      files=written, listening=_metrics.kept_listeners(config, listeners), systemctl=[" ".join(step) for step in steps])
        diff = []
        if before != config_text:
            diff.append({"before": before or "", "after": config_text, "before_header": params["config_path"],
                         "after_header": params["config_path"]})
        if state is not None:
            timer = params["timer"]
            now = dict((key, state[timer].get(key) or "") for key in ("ActiveState", "UnitFileState"))
            wanted = dict(now, ActiveState="active",
                          UnitFileState=now["UnitFileState"] if now["UnitFileState"] in ENABLED else "enabled")
            if now != wanted:
                diff.append({"before": "".join("%s=%s\n" % item for item in sorted(now.items())),
                             "after": "".join("%s=%s\n" % item for item in sorted(wanted.items())),
                             "before_header": "systemd: " + timer, "after_header": "systemd: " + timer})
        result["diff"] = diff
        return result


def execute(module):
    """Run the module's steps; a MetricsError becomes fail_json."""
    metrics = PortMetrics(_host.Runner(module), module.params)
    try:
        result = metrics.run(module.check_mode)
    except MetricsError as error:
        module.fail_json(msg=str(error), changed=error.changed)
    for warning in metrics.warnings:
        module.warn(warning)
    if not module._diff or not result["diff"]:
        result.pop("diff")
    module.exit_json(**result)
