# -*- coding: utf-8 -*-
"""From the Prometheus container, which is also the client: traffic through the proxy, the alerts Prometheus
evaluates on what the proxy's mtail exports, and the counters and histogram buckets read back from its API
against the tally of what was sent."""

import json
import os
import time

import pytest
import testinfra

testinfra_hosts = ["portcullis-edge-prometheus"]

PROXY = "portcullis-edge-proxy"
DOMAIN = "app.edge.test"
SERVICES = {"/": "web", "/api/": "api", "/quiet/": "quiet"}
TRAFFIC_SECONDS = 40
TALLY = "/tmp/edge-traffic.json"


@pytest.fixture(scope="module")
def proxy():
    return testinfra.get_host("docker://" + PROXY)


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def query(host, expr):
    out = host.run("curl -sf --get --data-urlencode %s http://127.0.0.1:9090/api/v1/query" % _quote("query=" + expr))
    assert out.rc == 0, out.stderr
    return [(item["metric"], item["value"][1]) for item in json.loads(out.stdout)["data"]["result"]]


def alerts(host):
    """Every alert Prometheus holds, pending or firing: (name, state, labels)."""
    out = host.run("curl -sf http://127.0.0.1:9090/api/v1/alerts")
    assert out.rc == 0, out.stderr
    return [(alert["labels"]["alertname"], alert["state"], alert["labels"])
            for alert in json.loads(out.stdout)["data"]["alerts"]]


def wait_for(condition, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(2)
    return condition()


def dashboard_queries():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles", "port_metrics",
                        "files", "grafana-dashboard.json")
    with open(path) as handle:
        panels = json.load(handle)["panels"]
    found = [(panel["title"], target["expr"].replace("$__rate_interval", "20s").replace("$edge_instance", ".*"))
             for panel in panels if panel["title"].startswith("Edge ") for target in panel["targets"]]
    assert len(found) == 7, found
    return found


def key(labels):
    return (labels["alertname"], labels.get("path"), labels.get("status_class"))


EXPECTED = {("PortcullisEdgeErrorRate", "/api/", "5xx"), ("PortcullisEdgeErrorRate", "/", "4xx"),
            ("PortcullisEdgeLatencyP95", "/api/", None)}


def test_mtail_listens_where_the_registry_declares_it_only(proxy):
    assert proxy.service("mtail").is_running and proxy.service("mtail").is_enabled
    listening = proxy.run("ss -Hltn").stdout
    on_port = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(":3903")]
    assert on_port == ["172.30.99.10:3903"], listening


def test_the_program_labels_the_registry_routes(proxy):
    program = proxy.file("/etc/mtail/portcullis-edge.mtail").content_string
    assert [line.strip() for line in program.splitlines() if line.strip().startswith("$route ==")] == [
        '$route == "app.edge.test/" {', '$route == "app.edge.test/api/" {', '$route == "app.edge.test/quiet/" {']


def test_traffic_fires_the_alerts_for_the_routes_in_trouble_only_and_the_counts_are_exact(host, proxy):
    assert not alerts(host), alerts(host)
    # Requests no route takes (unknown hosts, over HTTP: nginx closes them, 444) count under "other", three exactly.
    for _attempt in range(3):
        host.run("curl -s -o /dev/null -H 'Host: unknown.example' http://172.30.99.10/")
    host.run("rm -f %s" % TALLY)
    assert host.run("systemd-run --unit edge-traffic /usr/bin/python3 /opt/edge_traffic.py %d %s"
                    % (TRAFFIC_SECONDS, TALLY)).rc == 0
    try:
        firing = wait_for(lambda: EXPECTED <= set(key(labels) for _name, state, labels in alerts(host)
                                                  if state == "firing"), TRAFFIC_SECONDS)
        assert firing, alerts(host)
        # Every edge panel of the shipped dashboard has data, from series that exist.
        for title, expr in dashboard_queries():
            assert query(host, expr), (title, expr)
        # The traffic goes on for a while after they fire: nothing else may as much as become pending - not /quiet/
        # (all 5xx and slow, but at 0.2 requests a second), nor / for 5xx or latency, nor /api/ for 4xx.
        for _round in range(4):
            seen = set(key(labels) for _name, _state, labels in alerts(host))
            assert seen == EXPECTED, alerts(host)
            labels = dict((key(labels), labels) for _name, _state, labels in alerts(host))
            assert all(item["instance"] == PROXY and item["domain"] == DOMAIN and
                       item["service"] == SERVICES[item["path"]] for item in labels.values()), labels
            time.sleep(2)
    finally:
        assert wait_for(lambda: host.file(TALLY).exists, TRAFFIC_SECONDS + 30)
    tally = json.loads(host.file(TALLY).content_string)
    assert not tally["errors"], tally["errors"]
    sent = dict(((DOMAIN, path, SERVICES[path], status_class), count)
                for path, status_class, count in tally["answered"])
    sent[("other", "other", "other", "4xx")] = 3
    assert sent[(DOMAIN, "/api/", "api", "5xx")] and sent[(DOMAIN, "/", "web", "4xx")], sent

    def requests_read():
        return dict(((labels["domain"], labels["path"], labels["service"], labels["status_class"]), int(value))
                    for labels, value in query(host, "portcullis_edge_requests_total"))
    # The last scrape after the last request: the counters equal what was sent, no more, no less.
    assert wait_for(lambda: requests_read() == sent, 20) or requests_read() == sent, (requests_read(), sent)

    # The histogram: every request in le="+Inf" and _count; the slow ones (1.2 s) above le="1", under le="2.5".
    for path, service in SERVICES.items():
        total = sum(count for (domain, route, _service, _class), count in sent.items() if route == path)
        slow = tally["slow"].get(path, 0)
        buckets = dict((labels["le"], int(float(value))) for labels, value in query(
            host, 'portcullis_edge_request_duration_seconds_bucket{path="%s",service="%s"}' % (path, service)))
        assert (buckets["1"], buckets["2.5"], buckets["+Inf"]) == (total - slow, total, total), (path, buckets)
        counted = query(host, 'portcullis_edge_request_duration_seconds_count{path="%s"}' % path)
        assert [int(float(value)) for _labels, value in counted] == [total], counted
        assert (slow > 0) == (path != "/"), (path, slow)
        # Bandwidth: at least the bodies (17 bytes each) went out, and at least a request line came in.
        sent_bytes = query(host, 'portcullis_edge_sent_bytes_total{path="%s"}' % path)
        received = query(host, 'portcullis_edge_received_bytes_total{path="%s"}' % path)
        assert int(float(sent_bytes[0][1])) > 17 * total and int(float(received[0][1])) > 16 * total


def test_the_alerts_resolve_when_the_traffic_stops(host):
    # With no requests the rates are no number: every alert goes (the window is 20 seconds here).
    assert wait_for(lambda: not alerts(host), 60), alerts(host)
