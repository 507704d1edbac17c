# -*- coding: utf-8 -*-
"""From the Prometheus container: what it scraped from the host's
node-exporter (the textfile collector serving portcullis.prom), and the
shipped alerts firing on a stray listener and on a hand-made firewall rule,
then resolving when they are undone."""

import json
import time

import pytest
import testinfra

testinfra_hosts = ["portcullis-metrics-prometheus"]

HOST = "portcullis-metrics-host"


@pytest.fixture(scope="module")
def monitored():
    return testinfra.get_host("docker://" + HOST)


def query(host, expr):
    out = host.run("curl -sf --get --data-urlencode %s http://127.0.0.1:9090/api/v1/query" % _quote("query=" + expr))
    assert out.rc == 0, out.stderr
    return {json.dumps(item["metric"], sort_keys=True): item["value"][1] for item in json.loads(out.stdout)["data"]["result"]}


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def firing(host, name):
    out = host.run("curl -sf http://127.0.0.1:9090/api/v1/alerts")
    assert out.rc == 0, out.stderr
    return [alert for alert in json.loads(out.stdout)["data"]["alerts"]
            if alert["labels"]["alertname"] == name and alert["state"] == "firing"]


def wait_for(condition, seconds=150):
    """Poll until ``condition`` holds; the alerts wait a minute (their "for") after the metrics show it."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(2)
    return condition()


def test_the_metrics_reach_prometheus_through_node_exporter(host):
    listening = wait_for(lambda: query(host, "portcullis_service_listening"))
    by_service = dict((json.loads(key)["service"], value) for key, value in listening.items())
    assert by_service == {"ssh": "1", "web": "1", "node-exporter": "1", "queue": "0", "api": "1"}, by_service
    assert list(query(host, 'portcullis_firewall_drift{backend="nftables"}').values()) == ["0"]
    assert list(query(host, "portcullis_undeclared_listeners").values()) == ["0"]
    # The timer refreshes them (every 5 seconds here).
    age = float(list(query(host, "time() - portcullis_audit_timestamp_seconds").values())[0])
    assert age < 60, age


def test_the_exposition_passes_promtool(monitored):
    out = monitored.run("curl -sf http://172.30.83.10:9100/metrics | grep '^# .* portcullis_\\|^portcullis_' "
                        "| promtool check metrics")
    assert out.rc == 0, out.stdout + out.stderr


def _hand_made_rule_handles(monitored):
    listing = monitored.run("nft -a list chain inet portcullis input").stdout
    return [line.rsplit("# handle ", 1)[1] for line in listing.splitlines() if "hand-made" in line]


def test_a_stray_listener_and_a_hand_made_rule_fire_their_alerts_and_undoing_them_resolves_them(host, monitored):
    # Both at once: each alert waits a minute ("for") before it fires, and the two waits overlap.
    assert not firing(host, "PortcullisUndeclaredListener") and not firing(host, "PortcullisFirewallDrift")
    assert monitored.run("systemd-run --unit portcullis-stray python3 -m http.server 7777").rc == 0
    assert monitored.run("nft add rule inet portcullis input tcp dport 4444 accept comment hand-made").rc == 0
    try:
        stray = wait_for(lambda: firing(host, "PortcullisUndeclaredListener"))
        assert stray and stray[0]["labels"]["instance"] == HOST, stray
        what = query(host, 'portcullis_undeclared_listener_info{port="7777"}')  # what it is, in the labels
        assert [json.loads(key)["process"] for key in what] == ["python3"], what
        drift = wait_for(lambda: firing(host, "PortcullisFirewallDrift"))
        assert drift and drift[0]["labels"]["backend"] == "nftables", drift
    finally:
        monitored.run("systemctl stop portcullis-stray")
        for handle in _hand_made_rule_handles(monitored):
            assert monitored.run("nft delete rule inet portcullis input handle %s" % handle).rc == 0
    assert wait_for(lambda: not firing(host, "PortcullisUndeclaredListener"))
    assert wait_for(lambda: not firing(host, "PortcullisFirewallDrift"))
