# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.metrics import _collect as _metrics
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _apply
from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _choice

# node-exporter's user in these tests: the one running them, who can read what it writes under tmp_path.
ME = pwd.getpwuid(os.getuid()).pw_name
# One line of the text exposition format: a name, optional labels, a number.
SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')


def listener(port, protocol="tcp", address="0.0.0.0", process="python3"):
    return {"protocol": protocol, "family": "ipv4", "address": address, "port": port, "pid": 100 + port % 1000,
            "process": process, "user": "root", "dual_stack": False, "cmdline": []}


class FakeRunner:
    """No nft, no iptables-save, an openssl that prints a fixed end date."""

    def __init__(self, programs=("openssl",), enddate="notAfter=2027-01-02 03:04:05Z"):
        self.programs = programs
        self.enddate = enddate
        self.calls = []

    def which(self, name):
        return "/usr/bin/" + name if name in self.programs else None

    def run(self, argv, data=None):
        self.calls.append(argv)
        if argv[0].endswith("openssl"):
            return (0, self.enddate + "\n", "") if "-dateopt" in argv else (0, "notAfter=Jan  2 03:04:05 2027 GMT\n", "")
        raise AssertionError(argv)


@pytest.fixture
def live(monkeypatch):
    found = {"listeners": []}

    def listening(proc_root="/proc"):
        if found["listeners"] is None:
            raise _listening.ListenerReadError("cannot read /proc/net/tcp")
        return found["listeners"]

    monkeypatch.setattr(_listening, "listening", listening)
    monkeypatch.setattr(_listening, "read_bindv6only", lambda proc_root="/proc": False)
    return found


def collect(services, tmp_path, **config):
    config.setdefault("state_dir", str(tmp_path))
    text, checks = _metrics.collect(dict(config, services=services), config.pop("runner", None) or FakeRunner(),
                                    now=1700000000)
    for line in text.splitlines():
        assert line.startswith("#") or SAMPLE.match(line), line
    return text, checks


def test_declared_services_listening_or_not_and_undeclared_listeners(live, tmp_path):
    live["listeners"] = [listener(8080), listener(9999)]
    text, checks = collect([{"name": "web", "port": 8080}, {"name": "db", "port": 5432}], tmp_path)
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 1' in text
    assert 'portcullis_service_listening{port="5432",protocol="tcp",service="db"} 0' in text
    assert ('portcullis_undeclared_listener_info{address="0.0.0.0",port="9999",process="python3",protocol="tcp"} 1'
            in text)
    assert "portcullis_undeclared_listeners 1" in text
    assert "portcullis_audit_timestamp_seconds 1700000000" in text
    assert checks == {"listeners": True, "published": True}
    # HELP and TYPE once per family.
    assert text.count("# TYPE portcullis_service_listening gauge") == 1


def test_a_private_service_heard_widely_is_an_exposure_mismatch(live, tmp_path):
    live["listeners"] = [listener(6379)]
    text, _checks = collect([{"name": "cache", "port": 6379, "expose": "private"}], tmp_path)
    assert 'portcullis_exposure_mismatch_info{address="0.0.0.0",port="6379",protocol="tcp",service="cache"} 1' in text


def test_listeners_that_cannot_be_read_are_unknown_not_absent(live, tmp_path):
    live["listeners"] = None
    text, checks = collect([{"name": "web", "port": 8080}], tmp_path)
    assert 'portcullis_check_success{check="listeners"} 0' in text and checks["listeners"] is False
    assert "portcullis_service_listening" not in text and "portcullis_undeclared_listeners" not in text


def test_listeners_the_caller_read_are_used_without_reading_again(live, tmp_path):
    # The module reads the listeners once and returns them for the port map; collect must not read them again.
    live["listeners"] = None
    text, checks = _metrics.collect({"services": [{"name": "web", "port": 8080}], "state_dir": str(tmp_path)},
                                    FakeRunner(), now=1700000000, listeners=[listener(8080)])
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 1' in text
    assert checks["listeners"] is True
    # Given as None (the caller's read failed): unknown, as when collect's own read fails.
    text, checks = _metrics.collect({"services": [{"name": "web", "port": 8080}], "state_dir": str(tmp_path)},
                                    FakeRunner(), now=1700000000, listeners=None)
    assert checks["listeners"] is False and "portcullis_service_listening" not in text


def test_series_labelled_from_the_live_host_are_bounded(live, tmp_path):
    live["listeners"] = [listener(20000 + number) for number in range(_metrics.MAX_SERIES + 50)]
    text, _checks = collect([], tmp_path)
    assert text.count("portcullis_undeclared_listener_info{") == _metrics.MAX_SERIES
    assert 'portcullis_series_dropped{metric="portcullis_undeclared_listener_info"} 50' in text
    assert "portcullis_undeclared_listeners %d" % (_metrics.MAX_SERIES + 50) in text


class FakeNftables:
    """What the drift check asks of a backend."""
    name = "nftables"
    live_text = None

    def __init__(self, runner):
        self.runner = runner

    def usable(self):
        return True

    def live(self):
        return FakeNftables.live_text

    @staticmethod
    def comparable(text):
        return text


@pytest.mark.parametrize("saved, live_text, expected", [
    ({"desired": "d", "live": "applied"}, "applied", 'portcullis_firewall_drift{backend="nftables"} 0'),
    ({"desired": "d", "live": "applied"}, "someone added a rule", 'portcullis_firewall_drift{backend="nftables"} 1'),
    ("not json", "applied", 'portcullis_check_success{check="firewall"} 0'),
])
def test_firewall_drift_is_the_live_scope_against_the_last_applied(live, tmp_path, monkeypatch, saved, live_text,
                                                                   expected):
    monkeypatch.setattr(_choice, "BACKENDS", {"nftables": FakeNftables})
    FakeNftables.live_text = live_text
    (tmp_path / "firewall-nftables.json").write_text(saved if isinstance(saved, str) else json.dumps(saved))
    text, _checks = collect([], tmp_path)
    assert expected in text


def test_no_firewall_metrics_where_the_firewall_never_applied(live, tmp_path):
    text, checks = collect([], tmp_path)
    assert "portcullis_firewall_drift" not in text and "firewall" not in checks


def test_certificate_expiry_from_the_served_configuration(live, tmp_path):
    config = tmp_path / "portcullis-proxy.conf"
    config.write_text("server {\n    server_name app.example.com api.example.com;\n"
                      "    ssl_certificate /etc/ssl/app.crt;\n}\n")
    text, checks = collect([], tmp_path, nginx_config=str(config))
    assert 'portcullis_certificate_expiry_timestamp_seconds{domain="app.example.com"} 1798859045' in text
    assert checks["certificates"] is True
    # An openssl without -dateopt (older than 3.0): the default date form gives the same time.
    text, _checks = collect([], tmp_path, nginx_config=str(config), runner=FakeRunner(enddate="unknown option"))
    assert 'portcullis_certificate_expiry_timestamp_seconds{domain="app.example.com"} 1798859045' in text


def test_a_certificate_that_cannot_be_read_is_unknown(live, tmp_path):
    class Failing(FakeRunner):
        def run(self, argv, data=None):
            return 1, "", "Could not open file"

    text, checks = collect([], tmp_path, certificates=[{"domain": "a.example.com", "path": "/missing.crt"}],
                           runner=Failing())
    assert 'portcullis_check_success{check="certificates"} 0' in text and checks["certificates"] is False
    assert "portcullis_certificate_expiry_timestamp_seconds" not in text


def test_backends_answering_their_health_path(live, tmp_path, health_backend):
    where = health_backend
    targets = [{"url": "http://%s/health" % where, "domain": "a.example.com", "path": "/", "server": where},
               {"url": "http://%s/broken" % where, "domain": "b.example.com", "path": "/", "server": where},
               {"url": "http://127.0.0.1:1/health", "domain": "c.example.com", "path": "/", "server": "127.0.0.1:1"}]
    text, _checks = collect([], tmp_path, health=targets, health_timeout=2)
    assert 'portcullis_backend_up{domain="a.example.com",path="/",server="%s"} 1' % where in text
    assert 'portcullis_backend_up{domain="b.example.com",path="/",server="%s"} 0' % where in text
    assert 'portcullis_backend_up{domain="c.example.com",path="/",server="127.0.0.1:1"} 0' in text


def test_label_values_are_escaped():
    out = _metrics.Exposition()
    out.add("portcullis_undeclared_listener_info", 1, process='a"b\\c\nd', port=1, protocol="tcp", address="::")
    assert 'process="a\\"b\\\\c\\nd"' in out.text()


def test_the_timer_writes_the_file_the_collector_reads(live, tmp_path, monkeypatch):
    live["listeners"] = [listener(8080)]
    monkeypatch.setattr(_metrics, "ProcessRunner", lambda: FakeRunner(programs=()))
    path = tmp_path / "textfile" / "portcullis.prom"
    config = tmp_path / "port-metrics.json"
    config.write_text(json.dumps({"services": [{"name": "web", "port": 8080}], "path": str(path),
                                  "state_dir": str(tmp_path), "exporter_user": ME}))
    _metrics.run_from_config(str(config))
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 1' in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o644"


class NatRunner(FakeRunner):
    """iptables-save -t nat of a Docker host: 8081 published, declared; 8082 published, not declared."""

    def __init__(self, rc=0):
        FakeRunner.__init__(self, programs=("iptables-save",))
        self.rc = rc

    def run(self, argv, data=None):
        if self.rc:
            return self.rc, "", "iptables-save: Permission denied"
        return 0, ("*nat\n:DOCKER - [0:0]\n"
                   "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80\n"
                   "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8082 -j DNAT --to-destination 172.17.0.3:80\n"
                   "COMMIT\n"), ""


def test_published_container_ports_declared_or_not(live, tmp_path):
    text, checks = collect([{"name": "app", "port": 8081, "publish": "dnat"}], tmp_path, runner=NatRunner())
    assert 'portcullis_published_port_info{declared="true",port="8081",protocol="tcp"} 1' in text
    assert 'portcullis_published_port_info{declared="false",port="8082",protocol="tcp"} 1' in text
    assert checks["published"] is True
    text, checks = collect([], tmp_path, runner=NatRunner(rc=1))
    assert 'portcullis_check_success{check="published"} 0' in text and "portcullis_published_port_info" not in text


def test_listening_is_decided_as_the_port_map_decides_it(live, tmp_path):
    # A listener on loopback does not serve a service declared on another address; udp is not tcp.
    live["listeners"] = [listener(8080, address="127.0.0.1"), listener(5353, protocol="udp")]
    text, _checks = collect([{"name": "web", "port": 8080, "bind": "192.0.2.10"},
                             {"name": "dns", "port": 5353, "protocol": "both"}], tmp_path)
    assert 'portcullis_service_listening{port="8080",protocol="tcp",service="web"} 0' in text
    assert 'portcullis_service_listening{port="5353",protocol="tcp",service="dns"} 0' in text
    assert 'portcullis_service_listening{port="5353",protocol="udp",service="dns"} 1' in text


def test_a_port_held_by_another_process_and_an_owner_that_cannot_be_read(live, tmp_path):
    live["listeners"] = [listener(5432, process="python3")]
    text, checks = collect([{"name": "postgresql", "port": 5432, "process": "postgres"}], tmp_path)
    assert ('portcullis_port_held_by_other_process_info{port="5432",process="python3",protocol="tcp",'
            'service="postgresql"} 1') in text
    assert checks["process"] is True
    hidden = dict(listener(5432), pid=None, process=None)
    live["listeners"] = [hidden]
    text, checks = collect([{"name": "postgresql", "port": 5432, "process": "postgres"}], tmp_path)
    assert 'portcullis_check_success{check="process"} 0' in text and checks["process"] is False


def test_an_unusable_backend_makes_the_drift_unknown(live, tmp_path, monkeypatch):
    class Unusable(FakeNftables):
        def usable(self):
            return False

    monkeypatch.setattr(_choice, "BACKENDS", {"nftables": Unusable})
    (tmp_path / "firewall-nftables.json").write_text(json.dumps({"desired": "d", "live": "x"}))
    text, checks = collect([], tmp_path)
    assert checks["firewall"] is False and "portcullis_firewall_drift{" not in text


def test_no_openssl_makes_the_certificates_unknown(live, tmp_path):
    text, checks = collect([], tmp_path, certificates=[{"domain": "a.example.com", "path": "/etc/ssl/a.crt"}],
                           runner=FakeRunner(programs=()))
    assert checks["certificates"] is False and "portcullis_certificate_expiry_timestamp_seconds{" not in text


def test_docker_embedded_dns_is_left_out_inside_a_container(live, tmp_path, monkeypatch):
    from ansible_collections.portcullis.ports.plugins.module_utils import _host
    live["listeners"] = [listener(41000, address=_host.DOCKER_EMBEDDED_DNS)]
    monkeypatch.setattr(_host, "in_docker_container", lambda root="/": True)
    text, _checks = collect([], tmp_path)
    assert "portcullis_undeclared_listeners 0" in text
    monkeypatch.setattr(_host, "in_docker_container", lambda root="/": False)
    text, _checks = collect([], tmp_path)
    assert "portcullis_undeclared_listeners 1" in text


def test_workers_sharing_a_port_and_both_families_are_one_series(live, tmp_path):
    """Issue 27, fault 5: two SO_REUSEPORT workers on 0.0.0.0:8000 and an IPv6 socket, none of them the declared
    process: one series (node-exporter drops a family that repeats a label set)."""
    live["listeners"] = [dict(listener(8000), pid=10), dict(listener(8000), pid=11),
                         dict(listener(8000, address="::"), family="ipv6", pid=10)]
    text, _checks = collect([{"name": "api", "port": 8000, "process": "gunicorn"}], tmp_path)
    held = [line for line in text.splitlines() if line.startswith("portcullis_port_held_by_other_process_info{")]
    assert held == ['portcullis_port_held_by_other_process_info{port="8000",process="python3",protocol="tcp",'
                    'service="api"} 1']


def test_the_same_label_set_twice_is_refused():
    out = _metrics.Exposition()
    out.add("portcullis_check_success", True, check="listeners")
    with pytest.raises(_metrics.DuplicateSeries, match="portcullis_check_success.*added twice"):
        out.add("portcullis_check_success", False, check="listeners")
    # Labels are compared as written: 8000 and "8000" are the same series.
    out.add("portcullis_port_held_by_other_process_info", 1, port=8000, service="a", protocol="tcp", process="p")
    with pytest.raises(_metrics.DuplicateSeries):
        out.add("portcullis_port_held_by_other_process_info", 1, port="8000", service="a", protocol="tcp", process="p")


def test_merged_series_keep_the_earliest_expiry_and_down_over_up():
    out = _metrics.Exposition()
    out.merge("portcullis_certificate_expiry_timestamp_seconds", 200, min, domain="a.example")
    out.merge("portcullis_certificate_expiry_timestamp_seconds", 100, min, domain="a.example")
    out.merge("portcullis_backend_up", True, min, domain="a.example", path="/", server="s")
    out.merge("portcullis_backend_up", False, min, domain="a.example", path="/", server="s")
    text = out.text()
    assert 'portcullis_certificate_expiry_timestamp_seconds{domain="a.example"} 100\n' in text
    assert 'portcullis_backend_up{domain="a.example",path="/",server="s"} 0\n' in text


LABEL_VALUES = st.sampled_from(["a", "b", "8000", 8000, "::"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_metrics.METRICS)),
                          st.dictionaries(st.sampled_from(["port", "process", "service"]), LABEL_VALUES, max_size=3),
                          st.integers(0, 3), st.booleans(), st.booleans()), max_size=300))
def test_whatever_is_added_the_text_has_one_series_per_label_set(additions):
    out = _metrics.Exposition()
    for name, labels, value, bounded, merge in additions:
        if merge:
            out.merge(name, value, max, bounded=bounded, **labels)
        else:
            try:
                out.add(name, value, bounded=bounded, **labels)
            except _metrics.DuplicateSeries:
                pass
    samples = [line.rsplit(" ", 1)[0] for line in out.text().splitlines() if line and not line.startswith("#")]
    assert len(samples) == len(set(samples))
    for line in samples:
        assert SAMPLE.match(line + " 1"), line


def test_firewalld_drift_is_read_through_firewall_cmd(firewalld_host, tmp_path):
    # Before, only the nftables and iptables backends were read for the drift: the firewalld state file was skipped.
    state_dir = str(tmp_path / "state")
    params = {"rules": [{"port": 8080}], "backend": "firewalld", "persist": False}
    _apply.Firewall(firewalld_host, params, state_dir=state_dir, root=str(tmp_path / "root")).run(check_mode=False)
    out = _metrics.Exposition()
    assert _metrics.firewall_series(out, firewalld_host, state_dir) is True
    assert 'portcullis_firewall_drift{backend="firewalld"} 0' in out.text()
    firewalld_host.run(["/usr/bin/firewall-cmd", "--add-port=1234/tcp", "--zone=portcullis"])
    out = _metrics.Exposition()
    assert _metrics.firewall_series(out, firewalld_host, state_dir) is True
    assert 'portcullis_firewall_drift{backend="firewalld"} 1' in out.text()
