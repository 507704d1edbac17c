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
  - One series per label set - sockets that differ only in what is not a label (the pid of SO_REUSEPORT workers,
    the IPv4 and IPv6 sockets of one port) make one series; two certificates of one domain, the one that expires
    first; one health target twice, down when either answer is.
  - Files are written as root through no name another user can point elsewhere, since node-exporter's directory is
    often under its own user's (Debian's C(/var/lib/prometheus)) - the path is walked without following a symbolic
    link in a directory another user than root can change (refused, naming it), missing directories are made mode
    0755 whatever the umask, the temporary file is created with C(O_EXCL|O_NOFOLLOW) in the target's directory,
    its mode set on its descriptor, and it is renamed only when its name still refers to it.
  - The metrics file and every directory on its path must be readable by O(exporter_user) - checked before
    anything is written (what exists) and after (all of it); the module fails naming the first part that is not.
  - Cardinality is bounded - one series per declared service and protocol, certificate and health target, and at
    most 100 for each family labelled from the live host (undeclared listeners, exposure mismatches, ports held by
    another process, published ports), the rest counted in C(series_dropped). A service that takes a new random
    port at each start makes a new undeclared-listener series each time (declare its range instead).
  - Certificates are one series per certificate file, labelled with the first site that serves it.
  - With O(timer), the same round trip keeps that systemd timer enabled and started after writing the files - the
    work of a service task, a stat and a restart handler - and every input, O(interval) included, is checked
    before anything changes. An unchanged host costs one C(systemctl show).
  - The metrics file carries a timestamp, so writing it is not reported as a change; writing O(config_path) or a
    library file with other content is, and so is each C(systemctl) step of O(timer). The diff shows
    O(config_path), and the timer's C(ActiveState) and C(UnitFileState) when it is stopped or disabled.
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
    description: Seconds for each health request, the whole request (a backend trickling its answer is cut off then).
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
  exporter_user:
    description:
      - The user node-exporter runs as (Debian's C(prometheus-node-exporter) runs as V(prometheus)). The metrics
        file and every directory on the way must be readable by it, from their permission bits and owners (POSIX
        ACLs are not read); when no such user exists on the host, by any user. The timer checks the same after
        each refresh, and its unit fails naming what stops it.
    type: str
    default: prometheus
  exporter_service:
    description:
      - The name of the registry entry node-exporter serves, when the caller installs it (the
        P(portcullis.ports.port_metrics#role) role with C(portcullis_metrics_install_node_exporter)). It must be in
        O(services) and listen on one TCP port, else the module fails before anything changes (the exporter would
        be an undeclared listener, closed by the firewall); RV(exporter_listen) is where it must listen.
      - Unset, not checked, and RV(exporter_listen) is V(null).
    type: str
  timer:
    description:
      - The systemd timer that refreshes the metrics between runs (the role's V(portcullis-port-metrics.timer)), kept
        enabled and started. Its unit is one of O(files) or already known to systemd.
      - After the files are written, C(systemctl daemon-reload) runs only when a unit file among O(files) was
        written (a name ending in a unit type such as C(.service) or C(.timer), or a drop-in in C(NAME.service.d/)),
        or systemd has not read one of them yet or says one waits for a reload. The timer is restarted when one of
        its files was written (O(files), the library, O(config_path)), else started when it is not active, and
        enabled when systemd would not start it at boot.
      - In check mode nothing is run but C(systemctl show); a timer whose unit exists but is stopped or disabled is
        reported as a change.
      - Unset, no unit is managed (and O(files) are only written).
    type: str
  interval:
    description:
      - The refresh interval, in seconds, of the timer the unit in O(files) describes, checked before anything
        changes - 5 to 300, because the C(PortcullisAuditStale) alert fires after 15 minutes without a refresh, and
        must mean that the timer stopped. Unset, not checked.
      - Only checked; the timer's unit carries the interval (the role writes it into C(OnUnitActiveSec)).
    type: int
seealso:
  - module: portcullis.ports.port_conflicts
"""

EXAMPLES = r"""
- name: The port map as metrics for node-exporter
  portcullis.ports.port_metrics:
    services: "{{ portcullis_services }}"
  become: true

- name: The metrics, with the timer the port_metrics role installed kept enabled and started in the same task
  portcullis.ports.port_metrics:
    services: "{{ portcullis_services }}"
    timer: portcullis-port-metrics.timer
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
systemctl:
  description:
    - The C(systemctl) steps that O(timer) took (or, in check mode, would take), in order, such as
      V(daemon-reload), V(restart portcullis-port-metrics.timer) and V(enable portcullis-port-metrics.timer); empty
      when the timer was already as wanted or O(timer) is unset.
  returned: always
  type: list
  elements: str
  sample: ["daemon-reload", "restart portcullis-port-metrics.timer"]
exporter_listen:
  description:
    - node-exporter's C(--web.listen-address) for O(exporter_service) - its bind and port, V(:PORT) for a wildcard
      bind (every address of both families); V(null) without O(exporter_service).
  returned: always
  type: str
  sample: "172.30.83.10:9100"
listening:
  description:
    - The live listeners the metrics were made from, as M(portcullis.ports.listening_ports) returns them, without
      those O(ignore_addresses) leaves out (as M(portcullis.ports.port_conflicts) returns its own), so a play can use
      them without reading them again; V(null) when they could not be read.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _apply


def main():
    module = AnsibleModule(argument_spec=_apply.argument_spec(), supports_check_mode=True)
    _apply.execute(module)


if __name__ == "__main__":
    main()
