# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host steps of the port_metrics module, in its one round trip: check
every input before anything changes, collect the metrics (``_collect``),
write the inputs and the library the timer runs with and the other files it
needs, and write the metrics.

It owns the files it is given and the ones it writes (the metrics, the
inputs, the library copy); it never touches node-exporter.

Plain Python, no Ansible import: ``execute`` is handed the AnsibleModule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import os
import sys

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit._listening import ListenerReadError
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError

LIBRARY_PACKAGE = "ansible_collections.portcullis.ports.plugins.module_utils"
CONFIG_PATH = "/etc/portcullis/port-metrics.json"
LIBRARY_DIR = "/usr/local/lib/portcullis"


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

    def run(self, check_mode):
        params = self.params
        self._check_inputs()
        config = dict((key, params[key]) for key in ("services", "policy", "path", "certificates", "nginx_config",
                                                     "health", "health_timeout", "state_dir", "ignore_addresses"))
        config_text = json.dumps(config, indent=1, sort_keys=True) + "\n"
        before = _host.read(params["config_path"])
        listeners = _metrics.read_listeners()
        try:
            text, checks = _metrics.collect(config, self.runner, listeners=listeners)
        except (RegistryError, PortSpecError, ListenerReadError) as error:
            raise MetricsError(str(error))
        try:
            library = library_files(params["library_dir"]) if params["library_dir"] else {}
        except (IOError, OSError, TypeError) as error:
            raise MetricsError("could not read the source of the module_utils to copy for the timer: %s" % error)
        stale = sorted(path for path, source in library.items() if _host.read(path) != source)
        extra = self._extra_files(library)
        written = sorted(path for path, (content, mode) in extra.items()
                         if _host.read(path) != content or _file_mode(path) != mode)
        changed = before != config_text or bool(stale) or bool(written)
        if not check_mode:
            try:
                for path in stale:
                    _host.write_atomic(path, library[path], 0o644)
                for path in written:
                    _host.write_atomic(path, extra[path][0], extra[path][1])
                if before != config_text:
                    _host.write_atomic(params["config_path"], config_text, 0o644)
                if not os.path.isdir(os.path.dirname(params["path"])):
                    os.makedirs(os.path.dirname(params["path"]), 0o755)
                _host.write_atomic(params["path"], text, 0o644)
            except (IOError, OSError) as error:
                raise MetricsError("could not write the metrics: %s" % error, changed=changed)
        for check, success in sorted(checks.items()):
            if not success:
                self.warnings.append("unknown: the %s check could not read its input; "
                                     "portcullis_check_success{check=\"%s\"} is 0" % (check, check))
        result = dict(changed=changed, path=params["path"], checks=checks, metrics=text, library=stale,
                      files=written, listening=listeners)
        if before != config_text:
            result["diff"] = {"before": before or "", "after": config_text, "before_header": params["config_path"],
                              "after_header": params["config_path"]}
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
    module.exit_json(**result)
