# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port map of one host as Prometheus metrics, in the text exposition
format that node-exporter's textfile collector reads (``*.prom`` files).

The same code runs in two places: the ``port_metrics`` module (the audit)
and, between Ansible runs, the host's ``portcullis-port-metrics`` timer
(the port_metrics role's script calls ``run_from_config``), from a copy of
these module_utils on the host. It reads what the ``port_conflicts`` module reads: the registry
validated by ``ports._registry``, the listeners from ``_listening``, the
conflicts from ``_conflicts.check_live``, the DNAT rules from ``_published``,
and the firewall backend's live scope against the state the firewall module
saved when it last applied.

A check that cannot be made is ``portcullis_check_success{check=...} 0`` and
its series are left out: an unknown is never written as a pass.

Cardinality: per host, one series per declared service and protocol, per
certificate and per health target (all bounded by the registry), and at most
``MAX_SERIES`` series for each family whose labels come from the live host
(undeclared listeners, exposure mismatches, published ports); what is cut is
counted in ``portcullis_series_dropped``.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import subprocess
import time

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _health
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _host_read
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _published
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _choice
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _files
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import build_policy

MAX_SERIES = 100
STATE_DIR = "/var/lib/portcullis"
FILE_NAME = "portcullis.prom"
# The user Debian's prometheus-node-exporter runs as: the metrics must be readable by it.
EXPORTER_USER = "prometheus"

# name: (type, help). The one list of what is written, and what the alert rules may use.
METRICS = {
    "portcullis_service_listening": ("gauge", "Whether a declared service listens (1) or not (0), per protocol."),
    "portcullis_undeclared_listener_info": ("gauge", "A listener no declared service accounts for (always 1; "
                                                     "what it is is in the labels)."),
    "portcullis_undeclared_listeners": ("gauge", "How many listeners no declared service accounts for."),
    "portcullis_exposure_mismatch_info": ("gauge", "A service listening wider than its expose allows (always 1)."),
    "portcullis_published_port_info": ("gauge", "A port published by DNAT (a container runtime's -p), always 1; "
                                                "declared is whether the registry declares it publish: dnat."),
    "portcullis_port_held_by_other_process_info": ("gauge", "A declared port held by another process than the "
                                                            "service's process (always 1)."),
    "portcullis_firewall_drift": ("gauge", "Whether the live portcullis scope (table inet portcullis, or the "
                                           "PORTCULLIS-* chains) differs from the one last applied (1) or not (0); "
                                           "other tables are not compared."),
    "portcullis_certificate_expiry_timestamp_seconds": ("gauge", "When a proxied domain's certificate expires, as a "
                                                                 "Unix time."),
    "portcullis_backend_up": ("gauge", "Whether a backend answered its health path with HTTP 200 (1) or not (0)."),
    "portcullis_check_success": ("gauge", "Whether a check could read its input (1) or not (0): its series are "
                                          "left out when not."),
    "portcullis_series_dropped": ("gauge", "Series left out of a family to keep cardinality bounded."),
    "portcullis_audit_timestamp_seconds": ("gauge", "When these metrics were collected, as a Unix time."),
    "portcullis_audit_duration_seconds": ("gauge", "How long collecting these metrics took."),
}


class ProcessRunner:
    """Commands through subprocess, for the timer (the module passes its own runner)."""

    def run(self, argv, data=None):
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(data.encode("utf-8") if isinstance(data, str) else data)
        return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def which(self, name):
        for directory in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]:
            path = os.path.join(directory, name)
            if directory and os.access(path, os.X_OK):
                return path
        return None


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class DuplicateSeries(ValueError):
    """A series added twice with the same labels: node-exporter would reject the whole file's family."""


class Exposition:
    """Series grouped by metric, written with HELP and TYPE once each, one series per label set.

    ``add`` refuses a label set already there (node-exporter drops a family that repeats one and logs "was
    collected before with the same name and label values" at every scrape); ``merge`` combines it with the series
    already there (``combine(old, new)``: ``max`` for ``_info`` families, always 1, ``min`` for an expiry or an
    up/down)."""

    def __init__(self):
        self.series = dict((name, {}) for name in METRICS)
        self.dropped = {}

    def _key(self, name, labels):
        if name not in METRICS:
            raise KeyError("metric %s is not declared in METRICS" % name)
        return tuple(sorted((key, str(value)) for key, value in labels.items()))

    def add(self, name, value, bounded=False, **labels):
        key = self._key(name, labels)
        if key in self.series[name]:
            raise DuplicateSeries("%s%r is added twice" % (name, dict(key)))
        self._put(name, key, value, bounded)

    def merge(self, name, value, combine, bounded=False, **labels):
        key = self._key(name, labels)
        if key in self.series[name]:
            self.series[name][key] = combine(self.series[name][key], value)
        else:
            self._put(name, key, value, bounded)

    def _put(self, name, key, value, bounded):
        if bounded and len(self.series[name]) >= MAX_SERIES:
            self.dropped[name] = self.dropped.get(name, 0) + 1
            return
        self.series[name][key] = value

    def text(self):
        for name, count in sorted(self.dropped.items()):
            self.add("portcullis_series_dropped", count, metric=name)
        self.dropped = {}
        lines = []
        for name in sorted(self.series):
            if not self.series[name]:
                continue
            kind, text = METRICS[name]
            lines += ["# HELP %s %s" % (name, text), "# TYPE %s %s" % (name, kind)]
            for labels, value in self.series[name].items():
                label_text = ",".join('%s="%s"' % (key, _escape(text_value)) for key, text_value in labels)
                lines.append("%s%s %s" % (name, "{%s}" % label_text if label_text else "", _number(value)))
        return "\n".join(lines) + "\n"


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _ports(service, protocol):
    ranges = service.ranges.get(protocol, ())
    return ",".join("%d" % start if start == end else "%d-%d" % (start, end) for start, end in ranges)


def listener_series(out, services, listeners):
    """Declared services listening or not (as the port map decides it, per
    protocol); undeclared listeners; exposure mismatches. Returns whether
    every declared process could be verified."""
    for service in services:
        for protocol in sorted(service.ranges):
            status = _conflicts.live_status(service, [item for item in listeners if item["protocol"] == protocol])[0]
            out.add("portcullis_service_listening", status == "listening", service=service.name, protocol=protocol,
                    port=_ports(service, protocol))
    conflicts, unknown = _conflicts.check_live(services, listeners)
    undeclared = [item for item in conflicts if item["kind"] == "undeclared"]
    out.add("portcullis_undeclared_listeners", len(undeclared))
    for item in sorted(undeclared, key=lambda item: (item["protocol"], item["port"], item.get("address", ""))):
        out.merge("portcullis_undeclared_listener_info", 1, max, bounded=True, protocol=item["protocol"],
                  port=item["port"], address=item.get("address", ""), process=item.get("process") or "unknown")
    for item in conflicts:
        if item["kind"] == "exposure":
            out.merge("portcullis_exposure_mismatch_info", 1, max, bounded=True, service=item["services"][0],
                      protocol=item["protocol"], port=item["port"], address=item.get("address", ""))
        elif item["kind"] == "occupied":
            # One series for the sockets of one process name on a port: SO_REUSEPORT workers, IPv4 and IPv6.
            out.merge("portcullis_port_held_by_other_process_info", 1, max, bounded=True,
                      service=item["services"][0], protocol=item["protocol"], port=item["port"],
                      process=item.get("process") or "unknown")
    return not unknown


def published_series(out, services, runner):
    published, unknown = _published.read(runner.run, runner.which)
    if unknown:
        return False
    declared = dict(((rule["protocol"], rule["port"]), True) for rule in published
                    for service in services if service.publish == "dnat"
                    and any(start <= rule["port"] <= end for start, end in service.ranges.get(rule["protocol"], ())))
    for rule in published:
        key = (rule["protocol"], rule["port"])
        out.merge("portcullis_published_port_info", 1, max, bounded=True, protocol=rule["protocol"], port=rule["port"],
                  declared=str(declared.get(key, False)).lower())
    return True


def firewall_series(out, runner, state_dir):
    """Drift of the backend the firewall module last applied with; None when it never applied here."""
    found = False
    for name, backend_class in sorted(_choice.BACKENDS.items()):
        saved = _host.read(os.path.join(state_dir, "firewall-%s.json" % name))
        if saved is None:
            continue
        found = True
        try:
            state = json.loads(saved)
            applied = state["live"]
            backend = backend_class(runner)
            if hasattr(backend, "policy_declared"):
                # A manager's live scope holds the default policies the registry declared (ufw): read it with those
                # the module applied; a state file from before they were recorded cannot say which.
                if "policy_declared" not in state:
                    return False
                backend.policy_declared = frozenset(state["policy_declared"])
            if not backend.usable():
                return False
            out.add("portcullis_firewall_drift", backend.live() != backend.comparable(applied), backend=name)
        except (ValueError, KeyError, TypeError, _backends.BackendError):
            # An unreadable state file or live scope: the drift is unknown, not absent.
            return False
    return True if found else None


def certificate_series(out, certificates, runner):
    """``[{domain, path}]``: each certificate's notAfter, read with openssl."""
    openssl = runner.which("openssl")
    success = True
    for item in certificates:
        if openssl is None:
            return False
        rc, text, _err = runner.run([openssl, "x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", item["path"]])
        expires = _iso_time(text.strip().split("=", 1)[-1]) if rc == 0 else None
        if expires is None:
            # Older openssl has no -dateopt: the default form, "notAfter=Jan  2 03:04:05 2027 GMT".
            rc, text, _err = runner.run([openssl, "x509", "-noout", "-enddate", "-in", item["path"]])
            expires = _openssl_time(text.strip().split("=", 1)[-1]) if rc == 0 else None
        if expires is None:
            success = False
            continue
        # Two certificate files for one domain: the one that expires first.
        out.merge("portcullis_certificate_expiry_timestamp_seconds", expires, min, domain=item["domain"])
    return success


def _iso_time(text):
    try:
        return calendar.timegm(time.strptime(text.strip(), "%Y-%m-%d %H:%M:%SZ"))
    except ValueError:
        return None


def _openssl_time(text):
    try:
        return calendar.timegm(time.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT"))
    except ValueError:
        return None


def _get_status(url, timeout):
    """The HTTP status of a GET of ``url`` (http only), or None without a complete answer within ``timeout``
    seconds (the whole request, not each read: a trickling backend cannot hold the collection)."""
    return _health.get_status(url, timeout)[0]


def health_series(out, targets, timeout):
    """``[{url, domain, path, server}]``: GET each, 1 for HTTP 200."""
    for target in targets:
        # The same target twice: down when either answer is.
        out.merge("portcullis_backend_up", _get_status(target["url"], timeout) == 200, min, domain=target["domain"],
                  path=target["path"], server=target["server"])
    return True


def read_listeners(proc_root="/proc"):
    """The host's listeners, or None when they could not be read (reported as unknown, never as none)."""
    try:
        return _listening.listening(proc_root)
    except _listening.ListenerReadError:
        return None


def kept_listeners(config, listeners):
    """``listeners`` without those on ``config``'s ``ignore_addresses`` (the audit's rule: unset, Docker's embedded
    DNS inside a container). None stays None."""
    if listeners is None:
        return None
    return _host_read.kept(listeners, config.get("ignore_addresses"))


def collect(config, runner, now=None, proc_root="/proc", listeners=False):
    """``(text, checks)``: the exposition text for ``config`` - ``{services,
    policy, certificates, nginx_config, health, health_timeout, state_dir,
    ignore_addresses}`` (listener addresses left out; None for Docker's
    embedded DNS inside a container)
    (the registry and what the audit planned for this host; the
    certificates nginx_proxy's configuration serves are read from
    ``nginx_config`` when it exists) - and each check's success.
    ``listeners`` are the host's listeners when the caller has read them
    already (``_listening.listening``; None when that read failed), else
    they are read here."""
    started = time.time()
    out = Exposition()
    policy = build_policy(config.get("policy") or {})
    services = _registry.validate(config.get("services") or [], policy, _listening.read_bindv6only(proc_root))
    checks = {}
    if listeners is False:
        listeners = read_listeners(proc_root)
    checks["listeners"] = listeners is not None
    listeners = kept_listeners(config, listeners)
    if listeners is not None:
        if any(service.process for service in services):
            checks["process"] = listener_series(out, services, listeners)
        else:
            listener_series(out, services, listeners)
    checks["published"] = published_series(out, services, runner)
    firewall = firewall_series(out, runner, config.get("state_dir") or STATE_DIR)
    if firewall is not None:
        checks["firewall"] = firewall
    certificates = list(config.get("certificates") or [])
    served = _host.read(config["nginx_config"]) if config.get("nginx_config") else None
    if served is not None:
        given = set(item["path"] for item in certificates)
        certificates += [item for item in _nginx_config.served_certificates(served) if item["path"] not in given]
    if certificates:
        checks["certificates"] = certificate_series(out, certificates, runner)
    if config.get("health"):
        checks["health"] = health_series(out, config["health"], config.get("health_timeout") or 5)
    for check, success in sorted(checks.items()):
        out.add("portcullis_check_success", success, check=check)
    out.add("portcullis_audit_timestamp_seconds", int(now if now is not None else time.time()))
    out.add("portcullis_audit_duration_seconds", round(time.time() - started, 3))
    return out.text(), checks


class UnreadableError(Exception):
    """The metrics were written where node-exporter's user cannot read them."""


def write(config, runner, path):
    """Collect and replace ``path`` in one rename (the collector never reads half a file), through no link another
    user controls (``_files``), then check that ``exporter_user`` (node-exporter's) can read it."""
    text, checks = collect(config, runner)
    _files.write_file(path, text, 0o644)
    problem = _files.unreadable(path, config.get("exporter_user") or EXPORTER_USER)
    if problem:
        raise UnreadableError("%s: node-exporter cannot read %s" % (problem, path))
    return text, checks


def run_from_config(config_path):
    """What the timer runs (``portcullis-port-metrics CONFIG``): the inputs the module saved, the same collection."""
    with open(config_path) as handle:
        config = json.load(handle)
    return write(config, ProcessRunner(), config["path"])
