# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge log: the configuration writes the format the mtail program reads, each route under its key."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _edge

SITE = {"domain": "app.example.com", "certificate": "/etc/ssl/app.crt", "certificate_key": "/etc/ssl/app.key",
        "routes": [{"path": "/", "upstreams": ["10.0.0.5:4001"], "service": "web"},
                   {"path": "/api/", "upstreams": ["10.0.0.6:4002"], "service": "api"}]}


def render(**options):
    return _config.Renderer([SITE], **options).render()


def test_without_edge_log_nothing_changes():
    text = render()
    assert "$portcullis_edge_route" not in text and "log_format" not in text
    assert [line.strip() for line in text.splitlines() if "access_log" in line] == ["access_log off;"]


def test_every_server_logs_to_both_logs_and_each_route_sets_its_key():
    text = render(edge_log="/var/log/nginx/portcullis-edge.log", acme_root="/var/www/acme")
    servers = text.count("server {")
    assert text.count("access_log /var/log/nginx/portcullis-edge.log portcullis_edge;") == servers
    assert text.count("access_log /var/log/nginx/access.log;") == servers
    assert text.count("set $portcullis_edge_route other;") == servers
    assert "set $portcullis_edge_route app.example.com/api/;" in text
    assert "set $portcullis_edge_route app.example.com/;" in text
    assert "log_format portcullis_edge '%s';" % _edge.LOG_FORMAT in text
    # The default server names its route before it closes the connection.
    default = text[text.index("listen 80 default_server;"):]
    assert default.index("set $portcullis_edge_route other;") < default.index("return 444;")


def test_the_main_access_log_kept_is_the_one_nginx_conf_names():
    text = render(edge_log="/var/log/nginx/edge.log", main_access_log="/srv/log/access.log")
    assert "access_log /var/log/nginx/access.log;" not in text and "access_log /srv/log/access.log;" in text


def test_the_program_reads_the_lines_nginx_writes():
    program = _edge.program([SITE])
    head = re.search(r"^/(.*) / \{$", program, re.M).group(1).replace("\\/", "/")
    pattern = re.compile(head.replace("(?P<", "(?P<"))
    line = _edge.LOG_FORMAT
    for variable, value in (("$portcullis_edge_route", "app.example.com/api/"), ("$portcullis_edge_class", "5xx"),
                            ("$request_time", "1.204"), ("$request_length", "120"), ("$bytes_sent", "512"),
                            ("$status", "503"), ("$upstream_response_time", "0.001, 1.203"),
                            ("$upstream_addr", "10.0.0.6:4002, 10.0.0.7:4002")):
        line = line.replace(variable, value)
    match = pattern.match(line + " ")
    assert match and match.group("route") == "app.example.com/api/" and match.group("time") == "1.204"
    assert match.group("class") == "5xx" and match.group("sent") == "512"


def test_the_program_has_one_branch_per_route_and_folds_the_rest():
    program = _edge.program([SITE], buckets=[0.1, 1, 2.5])
    assert program.count("$route == ") == 2
    assert 'portcullis_edge_requests_total["app.example.com"]["/api/"]["api"][$class]++' in program
    assert "otherwise {" in program
    # An observation of 0 would be in no bucket of mtail's: 0.000 is observed as 0.0005.
    assert program.count("portcullis_edge_request_duration_seconds[") == 2 * 3
    assert 'portcullis_edge_request_duration_seconds["other"]["other"]["other"] = 0.0005' in program
    assert "buckets 0.1, 1, 2.5" in program


def test_every_metric_is_declared_with_its_series():
    assert _edge.series_names() == {
        "portcullis_edge_requests_total", "portcullis_edge_received_bytes_total", "portcullis_edge_sent_bytes_total",
        "portcullis_edge_request_duration_seconds_bucket", "portcullis_edge_request_duration_seconds_sum",
        "portcullis_edge_request_duration_seconds_count"}


@pytest.mark.parametrize("buckets, message", [
    ([], "non-empty list"), ([0, 1], "bucket 0 is not valid"), ([0.0005, 1], "0.001 <= bucket < 1e+06"),
    ([True], "bucket True"), ([1, 1.0], "given twice"), (list(range(1, 40)), "at most 30"),
    # A number string names the type, not a range it is in; a bound too large names the real upper limit.
    # Issue 29, fault 5: each names the variable.
    (["0.5", "1"], "portcullis_nginx_edge_buckets: bucket '0.5' is not valid: expected a number of seconds, not the "
                   "string '0.5'"),
    ([1, 10000000], "portcullis_nginx_edge_buckets: bucket 10000000 is not valid: expected 0.001 <= bucket < 1e+06"),
])
def test_bad_buckets_are_refused(buckets, message):
    with pytest.raises(_edge.EdgeMetricsError, match=re.escape(message)):
        _edge.check_buckets(buckets)


def test_a_label_value_that_would_break_the_program_is_refused():
    bad = dict(SITE, routes=[{"path": "/", "upstreams": ["10.0.0.5:4001"], "service": 'we"b'}])
    with pytest.raises(_edge.EdgeMetricsError, match="cannot be written"):
        _edge.program([bad])


def test_the_latency_threshold_must_be_one_of_the_buckets():
    assert _edge.check_threshold(1, [0.5, 1.0, 2]) == 1
    with pytest.raises(_edge.EdgeMetricsError, match=r"latency threshold .* 1 is not one of the proxy's buckets .* 0.3, 2"):
        _edge.check_threshold(1, [0.3, 2])


def test_a_domain_named_other_is_refused():
    with pytest.raises(_edge.EdgeMetricsError, match="domain 'other' collides"):
        _edge.program([dict(SITE, domain="other")])


def test_the_role_writes_the_filters_environment_file():
    tasks = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles", "nginx_proxy", "tasks",
                         "edge_metrics.yml")
    with open(tasks) as handle:
        written = [task["ansible.builtin.copy"]["content"] for task in yaml.safe_load(handle)
                   if "ansible.builtin.copy" in task]
    assert written == ["{{ __portcullis_nginx_edge.program }}", "{{ __portcullis_nginx_edge.environment }}"]


@pytest.mark.parametrize("check, value, message", [
    (_edge.check_log, "/var/log/nginx/edge;x.log", "the edge log (portcullis_nginx_edge_log) "
                                                   "'/var/log/nginx/edge;x.log' is not valid: it contains ';'"),
    (_edge.check_log, "logs/edge.log", "(portcullis_nginx_edge_log) 'logs/edge.log' is not valid: expected an absolute"),
    (_edge.check_log, "/var/log/nginx/edge*.log", "it contains '*'"),
    (_edge.check_log, "/var/log/nginx/$host.log", "it contains '$'"),
    (_edge.check_log, "/var/log//edge.log", "without empty, . or .. parts"),
    (_edge.check_log, None, "the edge log (portcullis_nginx_edge_log) must be a non-empty absolute path, got None"),
    (_edge.check_program, "/etc/mtail/edge", "(portcullis_nginx_edge_program) '/etc/mtail/edge' is not valid: mtail "
                                             "loads only files named NAME.mtail"),
    (_edge.check_program, "/etc/mtail/.mtail", "mtail loads only files named NAME.mtail"),
    (_edge.check_program, "/edge.mtail", "give it a directory of its own"),
    (_edge.check_program, "/etc/mtail/\u00e9.mtail", "it contains '\u00e9'"),
])
def test_paths_refused_name_the_variable_and_the_value(check, value, message):
    with pytest.raises(_edge.EdgeMetricsError, match=re.escape(message)):
        check(value)


def test_paths_accepted():
    assert _edge.check_log("/var/log/nginx/portcullis-edge.log") == "/var/log/nginx/portcullis-edge.log"
    assert _edge.check_program("/etc/mtail/portcullis-edge.mtail") == "/etc/mtail/portcullis-edge.mtail"


def test_what_the_collection_writes_for_mtail_is_recognised_as_ours_and_nothing_else():
    assert _edge.owned(_edge.program([SITE]))
    assert _edge.owned(_edge.program([SITE]).encode("utf-8"))
    # The environment file the role writes (made here, the edge_exporter filter's environment) begins with the
    # marker too: the role's OFF path removes it, and stops mtail.service, only then; and it names the program's
    # directory, where the module looks for the role's older programs.
    environment = _edge.environment("", 3903, "/var/log/nginx/portcullis-edge.log", "/srv/mtail/edge.mtail", "mtail", "edge")
    assert _edge.owned(environment) and _edge.environment_program_directory(environment) == "/srv/mtail"
    assert _edge.environment_program_directory(environment.encode("utf-8")) == "/srv/mtail"
    assert _edge.environment_program_directory('EXTRA_ARGS="--progs /etc/mtail"\n') is None  # not ours
    # The package's own file, a user's, and one that only mentions the collection further down are not ours.
    assert not _edge.owned(None)
    assert not _edge.owned("# Set to 1 to start Mtail at boot.\nENABLED=0\n")
    assert not _edge.owned(b"PORT=3903\n# Managed by portcullis.ports (nginx_proxy, edge metrics)\n")
    assert not _edge.owned("")


def test_the_buckets_default_is_one_value_wherever_it_is_written():
    # _edge.DEFAULT_BUCKETS owns it; the filter's documentation, the role's defaults and both entry points of its
    # argument specs (role_docs.py holds the defaults to the main entry point) repeat it for their readers.
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..")

    def load(*path):
        with open(os.path.join(root, *path)) as handle:
            return yaml.safe_load(handle)

    specs = load("roles", "nginx_proxy", "meta", "argument_specs.yml")["argument_specs"]
    written = [load("plugins", "filter", "edge_exporter.yml")["DOCUMENTATION"]["options"]["buckets"]["default"],
               load("roles", "nginx_proxy", "defaults", "main.yml")["portcullis_nginx_edge_buckets"]]
    written += [specs[entry]["options"]["portcullis_nginx_edge_buckets"]["default"] for entry in ("main", "edge_rules")]
    assert written == [list(_edge.DEFAULT_BUCKETS)] * 4
    assert specs["main"]["options"]["portcullis_nginx_edge_latency_p95"]["default"] == \
        specs["edge_rules"]["options"]["portcullis_nginx_edge_latency_p95"]["default"]
