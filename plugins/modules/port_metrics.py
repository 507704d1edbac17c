#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: port_metrics
short_description: Write a host's port map as Prometheus metrics for node-exporter's textfile collector
version_added: 0.1.0
author: portcullis.ports maintainers (@portcullis)
description:
  - Reads what M(portcullis.ports.port_conflicts) reads with O(portcullis.ports.port_conflicts#module:check_listening)
    (the registry, the live listeners, the ports published by DNAT) plus the firewall's drift and, on a proxy, its
    certificates and backends, and writes them as metrics in the Prometheus text format to O(path), replaced in one
    rename.
  - It also writes O(config_path), the same inputs as JSON, and under O(library_dir) the source of every
    module_utils file it ran with (exactly what it imported), which the C(portcullis-port-metrics) timer installed
    by the P(portcullis.ports.port_metrics#role) role runs to refresh the metrics between Ansible runs with the same
    code (its script runs C(run_from_config) of the module_utils C(metrics/_collect.py) with C(PYTHONPATH=LIBRARY_DIR)).
  - Metrics (all gauges, prefixed C(portcullis_)) - C(service_listening{service,protocol,port}) 1 or 0, decided as the
    port map decides it (a listener that serves the declared bind);
    C(undeclared_listener_info{protocol,port,address,process}) and the count C(undeclared_listeners);
    C(exposure_mismatch_info{service,protocol,port,address});
    C(port_held_by_other_process_info{service,protocol,port,process}); C(published_port_info{protocol,port,declared});
    C(firewall_drift{backend}) 1 when the live portcullis scope differs from the one the firewall module last applied
    (left out on a host where it never applied; other tables are not compared); C(certificate_expiry_timestamp_seconds{domain});
    C(backend_up{domain,path,server}); C(check_success{check}) (V(listeners), V(process), V(published),
    V(firewall), V(certificates), V(health)) 0 when a check could not read its input (then its
    series are left out, never written as passing); C(series_dropped{metric}); C(audit_timestamp_seconds) and
    C(audit_duration_seconds).
  - Cardinality is bounded - one series per declared service and protocol, certificate and health target, and at
    most 100 for each family labelled from the live host (undeclared listeners, exposure mismatches, ports held by
    another process, published ports), the rest counted in C(series_dropped). A service that takes a new random
    port at each start makes a new undeclared-listener series each time (declare its range instead).
  - Certificates are one series per certificate file, labelled with the first site that serves it.
  - The metrics file carries a timestamp, so writing it is not reported as a change; writing O(config_path) or a
    library file with other content is, and the diff shows O(config_path).
extends_documentation_fragment:
  - portcullis.ports.attributes
  - portcullis.ports.attributes.CHANGES
  - portcullis.ports.attributes.LINUX
options:
  services:
    description: The host's port registry (C(portcullis_services)), validated as M(portcullis.ports.port_conflicts) does.
    type: list
    elements: raw
    required: true
  policy:
    description: Named ranges that override or extend the default allocation policy, as V(name) to V(start-end).
    type: dict
    default: {}
  path:
    description: The metrics file, in the textfile collector's directory; its name must end in C(.prom).
    type: path
    default: /var/lib/prometheus/node-exporter/portcullis.prom
  config_path:
    description: Where the inputs are kept for the timer.
    type: path
    default: /etc/portcullis/port-metrics.json
  certificates:
    description:
      - Certificates whose expiry is written, as C(domain) and C(path) (a PEM file on the host). On a proxy the
        role passes the ones M(portcullis.ports.nginx_proxy) serves.
    type: list
    elements: dict
    default: []
  nginx_config:
    description:
      - The configuration M(portcullis.ports.nginx_proxy) writes; when it exists, the certificate of each site it
        serves is added to O(certificates).
    type: path
    default: /etc/nginx/conf.d/portcullis-proxy.conf
  health:
    description:
      - Health requests to make, as P(portcullis.ports.health_targets#filter) gives them (C(url), C(domain), C(path),
        C(server)); each is one HTTP GET, HTTP 200 is up.
    type: list
    elements: dict
    default: []
  health_timeout:
    description: Seconds to wait for each health answer.
    type: int
    default: 5
  ignore_addresses:
    description:
      - Listener addresses left out of the metrics. Unset, Docker's embedded DNS (V(127.0.0.11)) when the host is a
        Docker container, as the P(portcullis.ports.port_audit#role) role does.
    type: list
    elements: str
  files:
    description:
      - Other files the timer needs (the role passes its refresh script and its systemd service and timer units), as
        C(path), C(content) and C(mode). Each is written in one rename, only when its content or mode differs, in
        the same round trip; a file written is a change and is listed in RV(files).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - Where the file goes, an absolute path; a path given twice, or one of the module's own files, is an error.
        type: path
        required: true
      content:
        description: The whole text of the file.
        type: str
        required: true
      mode:
        description:
          - Its permission bits, as an octal string (V('0644')) or an integer (an unquoted YAML C(0644) is read as
            octal); at most V('7777'), no file type bits.
        type: raw
        default: "0644"
  library_dir:
    description: Where the module_utils it runs with are copied for the timer; empty to copy none.
    type: path
    default: /usr/local/lib/portcullis
  state_dir:
    description: Where the firewall module keeps the state it last applied (for the drift).
    type: path
    default: /var/lib/portcullis
seealso:
  - module: portcullis.ports.port_conflicts
"""

EXAMPLES = r"""
- name: The port map as metrics for node-exporter
  portcullis.ports.port_metrics:
    services: "{{ portcullis_services }}"
  become: true
"""

RETURN = r"""
path:
  description: The metrics file written.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/portcullis.prom
checks:
  description: Each check made and whether it could read its input.
  returned: always
  type: dict
  sample: {"listeners": true, "published": true, "firewall": true}
metrics:
  description: The exposition text written (in check mode, what would be).
  returned: always
  type: str
library:
  description: The library files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
files:
  description: The paths of O(files) written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
listening:
  description:
    - The live listeners the metrics were made from, as M(portcullis.ports.listening_ports) returns them (before
      O(ignore_addresses) are left out), so a play can use them without reading them again; V(null) when they could
      not be read.
  returned: always
  type: list
  elements: dict
"""

import inspect
import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics
from ansible_collections.portcullis.ports.plugins.module_utils.audit._listening import ListenerReadError
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as _nginx_config
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError


LIBRARY_PACKAGE = "ansible_collections.portcullis.ports.plugins.module_utils"


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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="raw", required=True),
            policy=dict(type="dict", default={}),
            path=dict(type="path", default="/var/lib/prometheus/node-exporter/" + _metrics.FILE_NAME),
            config_path=dict(type="path", default="/etc/portcullis/port-metrics.json"),
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
            library_dir=dict(type="path", default="/usr/local/lib/portcullis"),
            state_dir=dict(type="path", default=_metrics.STATE_DIR),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["path"].endswith(".prom"):
        module.fail_json(msg="path %s must end in .prom: node-exporter's textfile collector reads only those"
                             % params["path"])
    for item in params["certificates"]:
        if not isinstance(item.get("domain"), str) or not isinstance(item.get("path"), str):
            module.fail_json(msg="each certificate needs a domain and a path, got %r" % (item,))
    for item in params["health"]:
        if not all(isinstance(item.get(key), str) for key in ("url", "domain", "path", "server")):
            module.fail_json(msg="each health target needs url, domain, path and server, got %r" % (item,))
    config = dict((key, params[key]) for key in ("services", "policy", "path", "certificates", "nginx_config",
                                                 "health", "health_timeout", "state_dir", "ignore_addresses"))
    config_text = json.dumps(config, indent=1, sort_keys=True) + "\n"
    before = _host.read(params["config_path"])
    changed = before != config_text
    runner = _host.Runner(module)
    listeners = _metrics.read_listeners()
    try:
        text, checks = _metrics.collect(config, runner, listeners=listeners)
    except (RegistryError, PortSpecError, ListenerReadError) as error:
        module.fail_json(msg=str(error))
    try:
        library = library_files(params["library_dir"]) if params["library_dir"] else {}
    except (IOError, OSError, TypeError) as error:
        module.fail_json(msg="could not read the source of the module_utils to copy for the timer: %s" % error)
    stale = sorted(path for path, source in library.items() if _host.read(path) != source)
    extra = {}
    own = set(os.path.normpath(path) for path in [params["path"], params["config_path"]] + list(library))
    for item in params["files"]:
        path = item["path"]
        if not os.path.isabs(path):
            module.fail_json(msg="files: %s is not an absolute path" % path)
        path = os.path.normpath(path)
        mode = _octal_mode(item["mode"])
        if mode is None:
            module.fail_json(msg="files: mode %r of %s is not permission bits (an octal string such as '0644')"
                                 % (item["mode"], path))
        if path in own:
            module.fail_json(msg="files: %s is one of the module's own files (the metrics, the inputs or the library)"
                                 % path)
        if path in extra:
            module.fail_json(msg="files: %s is given twice" % path)
        extra[path] = (item["content"], mode)
    written = sorted(path for path, (content, mode) in extra.items()
                     if _host.read(path) != content or _file_mode(path) != mode)
    changed = changed or bool(stale) or bool(written)
    if not module.check_mode:
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
            module.fail_json(msg="could not write the metrics: %s" % error, changed=changed)
    for check, success in sorted(checks.items()):
        if not success:
            module.warn("unknown: the %s check could not read its input; portcullis_check_success{check=\"%s\"} is 0"
                        % (check, check))
    result = dict(changed=changed, path=params["path"], checks=checks, metrics=text, library=stale,
                  files=written, listening=listeners)
    if before != config_text:
        result["diff"] = {"before": before or "", "after": config_text, "before_header": params["config_path"],
                          "after_header": params["config_path"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
