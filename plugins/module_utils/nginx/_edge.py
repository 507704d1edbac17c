# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge traffic log and the metrics read from it: the one owner of the
access-log format nginx_proxy writes for them (``LOG_FORMAT``), of the mtail
program that parses that format (``program``), of the metric names and their
labels (``METRICS``) and of the label value every request outside the
registry's routes folds into (``OTHER``).

Each route of a site is logged under its key ``DOMAIN + PATH`` (set in its
``location``); requests no route takes (an unknown Host, a path outside
every route, the port-80 redirects) keep the server's ``other``. The mtail
program knows only the routes it is generated from - the sites the proxy
serves, from the network plan - so every label value is the registry's and
the number of series is bounded by it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _values

# The access-log format's name and the variables the configuration sets for it.
LOG_FORMAT_NAME = "portcullis_edge"
ROUTE_VARIABLE = "$portcullis_edge_route"
CLASS_VARIABLE = "$portcullis_edge_class"
# The first word of every line, with the format's version: a program never misreads a line of another version.
LINE_TAG = "portcullis-edge-1"
# The label value of requests outside the registry's routes, for domain, path and service alike.
OTHER = "other"
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# Fields in this order, one space between; the upstream's own fields last: they may hold "a, b" (nginx tried
# several servers) or "-". route: DOMAIN+PATH or other; class: the status class; time: $request_time (seconds,
# millisecond resolution); received: the request's bytes (line, headers, body); sent: the response's bytes.
LOG_FORMAT = ("%s route=%s class=%s time=$request_time received=$request_length sent=$bytes_sent "
              "status=$status upstream_time=$upstream_response_time upstream=$upstream_addr"
              % (LINE_TAG, ROUTE_VARIABLE, CLASS_VARIABLE))

# Seconds. 1 (the seed's p95 threshold) is a bound, so "p95 over 1 s" is read exactly: more than 5 % of the
# requests above the bucket le="1". The others put p50, p95 and p99 of a web route within a bucket.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_BUCKETS = 30
# nginx's $request_time has millisecond resolution: a bound under it separates nothing. A request logged as 0.000
# (under half a millisecond) is observed as half of it.
MIN_BUCKET = 0.001
# Exclusive.
MAX_BUCKET = 1e6
ZERO_TIME = 0.0005

# name: (type, labels, help). Counters and histograms as mtail exports them (it adds the label prog, the
# program's file name); a histogram's series are NAME_bucket (with le), NAME_sum and NAME_count.
METRICS = {
    "portcullis_edge_requests_total": (
        "counter", ("domain", "path", "service", "status_class"), "requests by route and status class"),
    "portcullis_edge_request_duration_seconds": (
        "histogram", ("domain", "path", "service"), "request time by route (nginx's $request_time)"),
    "portcullis_edge_received_bytes_total": (
        "counter", ("domain", "path", "service"), "bytes received from clients by route (request line, headers, body)"),
    "portcullis_edge_sent_bytes_total": (
        "counter", ("domain", "path", "service"), "bytes sent to clients by route (headers and body)"),
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# How every file the collection writes for the exporter begins - the program below and mtail's environment file
# (roles/nginx_proxy/tasks/edge_metrics.yml): what makes one "ours", so that turning the edge metrics off removes
# those files (and stops mtail.service only when its environment file is ours), never an mtail set up otherwise.
OWNED_MARKER = "# Managed by portcullis.ports (nginx_proxy"

# The role variables the values below come from, named in every error (the filter and the module check them).
BUCKETS_VARIABLE = "portcullis_nginx_edge_buckets"
LOG_VARIABLE = "portcullis_nginx_edge_log"
PROGRAM_VARIABLE = "portcullis_nginx_edge_program"
# mtail loads only the files of its program directory with this suffix.
PROGRAM_SUFFIX = ".mtail"
# The edge log and the program's path are written into nginx's configuration (one unquoted token) and into
# mtail's environment file, which systemd reads and a shell splits into words (EXTRA_ARGS) and mtail splits at
# commas and expands as globs (LOGS): only these characters mean the same to all four.
SAFE_PATH = _values.pattern(r"/[A-Za-z0-9._+@=:/-]+")


class EdgeMetricsError(ValueError):
    pass


def series_names():
    """Every series name the program exports: the counters, and each histogram's bucket, sum and count."""
    found = set()
    for name, (kind, _labels, _help) in METRICS.items():
        found.update([name + suffix for suffix in HISTOGRAM_SUFFIXES] if kind == "histogram" else [name])
    return found


def owned(content):
    """Whether a file's ``content`` (text or bytes; None for a missing file) is one the collection wrote for the
    exporter: its first line begins with OWNED_MARKER."""
    if content is None:
        return False
    marker = OWNED_MARKER.encode("utf-8") if isinstance(content, bytes) else OWNED_MARKER
    return content.startswith(marker)


def check_buckets(buckets):
    """``buckets`` as a sorted tuple of numbers (MIN_BUCKET <= b < MAX_BUCKET), distinct, at most MAX_BUCKETS;
    EdgeMetricsError names the variable and a bad one."""
    if not isinstance(buckets, (list, tuple)) or not buckets:
        raise EdgeMetricsError("%s: buckets must be a non-empty list of seconds, got %r" % (BUCKETS_VARIABLE, buckets))
    checked = []
    for item in buckets:
        # Numeric strings are refused, not converted: the role's argument check lets "0.5" through (elements: float)
        # but the value reaching the filter is still the string, and the rules template compares numbers.
        if isinstance(item, str):
            raise EdgeMetricsError("%s: bucket %r is not valid: expected a number of seconds, not the string %r "
                                   "(write it without quotes)" % (BUCKETS_VARIABLE, item, item))
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise EdgeMetricsError("%s: bucket %r is not valid: expected a number of seconds" % (BUCKETS_VARIABLE, item))
        if not MIN_BUCKET <= item < MAX_BUCKET:
            raise EdgeMetricsError("%s: bucket %r is not valid: expected %g <= bucket < %g seconds (nginx logs "
                                   "request times in milliseconds)" % (BUCKETS_VARIABLE, item, MIN_BUCKET, MAX_BUCKET))
        checked.append(item)
    if len(set(checked)) != len(checked):
        raise EdgeMetricsError("%s %r: a bound is given twice" % (BUCKETS_VARIABLE, list(buckets)))
    if len(checked) > MAX_BUCKETS:
        raise EdgeMetricsError("%s: %d buckets, at most %d (each is one series per route)"
                               % (BUCKETS_VARIABLE, len(checked), MAX_BUCKETS))
    return tuple(sorted(checked))


def check_listen_address(address, host, facts):
    """mtail's listen ``address`` (empty: every address) must be one ``host`` has, when its facts (``facts``: the
    host's ``ansible_facts``, as Ansible gathered them) list its addresses (``all_ipv4_addresses`` and
    ``all_ipv6_addresses``); loopback is always there. Otherwise mtail fails to start only after its
    configuration changed. Without those facts nothing is checked here."""
    if not address or not isinstance(facts, dict):
        return
    known = [facts.get("all_ipv4_addresses"), facts.get("all_ipv6_addresses")]
    if not all(isinstance(item, list) for item in known):
        return
    try:
        wanted = ipaddress.ip_address(address)
    except ValueError:
        return  # the registry's own check names a bad address
    have = set()
    for item in known[0] + known[1]:
        try:
            have.add(ipaddress.ip_address(str(item).split("%", 1)[0]))
        except ValueError:
            continue
    if wanted.is_loopback or wanted in have:
        return
    raise EdgeMetricsError("mtail would listen on %s, an address %s does not have (its addresses: %s): bind the "
                           "registry entry to one of them, or leave bind out for every address"
                           % (address, host, ", ".join(str(item) for item in sorted(have, key=lambda ip: (ip.version, ip)))
                              or "none"))


def check_threshold(threshold, buckets):
    """``threshold`` (the p95 latency alert's, in seconds) must be one of the histogram's ``buckets`` (checked
    first), or the alert, which compares the share of requests above that bound, can never be exact."""
    bounds = check_buckets(buckets)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise EdgeMetricsError("the latency threshold (portcullis_nginx_edge_latency_p95) %r is not a number of "
                               "seconds" % (threshold,))
    if float(threshold) not in [float(item) for item in bounds]:
        raise EdgeMetricsError("the latency threshold (portcullis_nginx_edge_latency_p95) %g is not one of the "
                               "proxy's buckets (portcullis_nginx_edge_buckets) %s: the p95 alert could never fire "
                               "exactly; set both in group_vars/all" % (threshold, ", ".join(_number(b) for b in bounds)))
    return threshold


def _check_path(value, variable, what):
    if not isinstance(value, str) or not value:
        raise EdgeMetricsError("%s (%s) must be a non-empty absolute path, got %r" % (what, variable, value))
    if not value.startswith("/"):
        raise EdgeMetricsError("%s (%s) %r is not valid: expected an absolute path" % (what, variable, value))
    if not SAFE_PATH.fullmatch(value):
        bad = next(char for char in value if not SAFE_PATH.fullmatch("/" + char))
        raise EdgeMetricsError("%s (%s) %r is not valid: it contains %r; nginx, mtail's environment file and "
                               "mtail's list of logs read only letters, digits and . _ + @ = : / - the same way"
                               % (what, variable, value, bad))
    parts = value.split("/")[1:]
    if value.endswith("/") or "" in parts or "." in parts or ".." in parts:
        raise EdgeMetricsError("%s (%s) %r is not valid: expected a file's path, without empty, . or .. parts"
                               % (what, variable, value))
    return value


def check_log(value):
    """The edge log's path (nginx writes it, mtail reads it): absolute, SAFE_PATH;
    EdgeMetricsError names the variable and the value."""
    return _check_path(value, LOG_VARIABLE, "the edge log")


def check_program(value):
    """The mtail program's path: as the edge log's, a file of a directory other than ``/`` whose name ends with
    PROGRAM_SUFFIX (mtail loads no other file of its program directory)."""
    _check_path(value, PROGRAM_VARIABLE, "the mtail program")
    if not value.endswith(PROGRAM_SUFFIX) or len(value.rsplit("/", 1)[1]) <= len(PROGRAM_SUFFIX):
        raise EdgeMetricsError("the mtail program (%s) %r is not valid: mtail loads only files named NAME%s"
                               % (PROGRAM_VARIABLE, value, PROGRAM_SUFFIX))
    if value.count("/") < 2:
        raise EdgeMetricsError("the mtail program (%s) %r is not valid: mtail loads every program of its directory, "
                               "so give it a directory of its own, such as /etc/mtail" % (PROGRAM_VARIABLE, value))
    return value


def program_directory(program):
    """The directory mtail loads the programs of (its ``--progs``): the program's."""
    return program.rsplit("/", 1)[0]


def environment(address, port, log, program, service=None, host=None):
    """mtail's environment file (Debian's /etc/default/mtail, read by mtail.service): where it listens, the edge
    log, and the program's directory. Begins with OWNED_MARKER."""
    where = ("# Where the registry entry %s of %s listens (HOST empty: every address).\n" % (service, host)
             if service and host else "")
    return ("%s, edge metrics). Read by mtail.service.\n%sHOST=%s\nPORT=%d\nLOGS=%s\nEXTRA_ARGS=\"--progs %s\"\n"
            % (OWNED_MARKER, where, address, port, check_log(log), program_directory(check_program(program))))


def environment_program_directory(content):
    """The program directory an environment file of ours names (its ``--progs``), or None (text or bytes)."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if not owned(content):
        return None
    for line in content.splitlines():
        if line.startswith("EXTRA_ARGS="):
            words = line[len("EXTRA_ARGS="):].strip('"').split()
            if len(words) == 2 and words[0] == "--progs" and words[1].startswith("/"):
                return words[1]
    return None


def route_key(domain, path):
    """The key a route's requests are logged under."""
    return domain + path


def routes(sites):
    """``[(domain, path, service)]`` of the sites (the nginx_proxy module's format, as proxy_sites builds them), in
    the order of their keys; a route without a service is labelled by its domain."""
    found = []
    for site in sites:
        for route in site.get("routes") or ():
            found.append((site["domain"], route.get("path") or "/", route.get("service") or site["domain"]))
    found.sort(key=lambda item: route_key(item[0], item[1]))
    return found


def _label(value):
    # Registry values reach nginx only without quotes, backslashes or spaces (checked there); refuse any other here.
    if not isinstance(value, str) or not value or re.search(r'[\s"\\]', value):
        raise EdgeMetricsError("label value %r cannot be written in the mtail program" % (value,))
    return '"%s"' % value


def _number(value):
    return ("%r" % value) if isinstance(value, float) else "%d" % value


def _updates(labels, indent):
    keys = "".join("[%s]" % item for item in labels)
    # mtail 3.0 counts an observation of exactly 0 in no bucket (its _count still has it), and nginx logs a request
    # under half a millisecond as 0.000: observed as ZERO_TIME instead, inside the first bucket.
    return ["%sportcullis_edge_requests_total%s[$class]++" % (indent, keys),
            "%s$time > 0.0 {" % indent,
            "%s  portcullis_edge_request_duration_seconds%s = $time" % (indent, keys),
            "%s}" % indent,
            "%sotherwise {" % indent,
            "%s  portcullis_edge_request_duration_seconds%s = %r" % (indent, keys, ZERO_TIME),
            "%s}" % indent,
            "%sportcullis_edge_received_bytes_total%s += $received" % (indent, keys),
            "%sportcullis_edge_sent_bytes_total%s += $sent" % (indent, keys)]


def program(sites, buckets=DEFAULT_BUCKETS):
    """The mtail program for the sites' routes: one branch per route key, every other line under ``other``."""
    bounds = check_buckets(buckets)
    lines = [OWNED_MARKER + "): the edge log of this proxy as metrics. Do not edit.",
             "# Routes: %d, plus %s for requests outside them." % (len(routes(sites)), OTHER)]
    for name in sorted(METRICS):
        kind, labels, text = METRICS[name]
        lines.append("# %s: %s" % (name, text))
        lines.append("%s %s by %s%s" % (kind, name, ", ".join(labels),
                                        " buckets " + ", ".join(_number(item) for item in bounds)
                                        if kind == "histogram" else ""))
    lines += ["", "/^%s route=(?P<route>\\S+) class=(?P<class>[1-5]xx) time=(?P<time>\\d+\\.\\d+) "
              "received=(?P<received>\\d+) sent=(?P<sent>\\d+) / {" % re.escape(LINE_TAG).replace("/", "\\/")]
    seen = set()
    for domain, path, service in routes(sites):
        key = route_key(domain, path)
        if domain == OTHER:
            raise EdgeMetricsError("domain %r collides with the label value of requests outside every route; "
                                   "give the site another domain" % (domain,))
        if key in seen:
            raise EdgeMetricsError("route %s is given twice" % key)
        seen.add(key)
        lines.append("  $route == %s {" % _label(key))
        lines += _updates([_label(domain), _label(path), _label(service)], "    ")
        lines.append("  }")
    if seen:
        lines.append("  otherwise {")
        lines += _updates([_label(OTHER)] * 3, "    ")
        lines.append("  }")
    else:
        lines += _updates([_label(OTHER)] * 3, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def config_lines():
    """The http-level lines of the proxy configuration that the edge log needs: the status class, the format."""
    lines = ["# The edge log (portcullis.ports' edge metrics): each request with its route, status class, times and",
             "# bytes; %s is set per route, else %s." % (ROUTE_VARIABLE, OTHER),
             "map $status %s {" % CLASS_VARIABLE]
    lines += ["    ~^%s %s;" % (item[0], item) for item in STATUS_CLASSES[:-1]]
    lines += ["    default %s;" % STATUS_CLASSES[-1], "}", "log_format %s '%s';" % (LOG_FORMAT_NAME, LOG_FORMAT), ""]
    return lines


def server_lines(edge_log, main_access_log, indent="    "):
    """A server's lines: every request under ``other`` unless a location names its route, logged to the edge
    log and, as before, to ``main_access_log`` (an access_log in a server replaces the http level's)."""
    lines = ["%sset %s %s;" % (indent, ROUTE_VARIABLE, OTHER)]
    if main_access_log:
        lines.append("%saccess_log %s;" % (indent, main_access_log))
    lines.append("%saccess_log %s %s;" % (indent, edge_log, LOG_FORMAT_NAME))
    return lines


def location_lines(domain, path, indent="        "):
    return ["%sset %s %s;" % (indent, ROUTE_VARIABLE, route_key(domain, path))]
