# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery on output captured from a Debian 12 container set up by hand
(fixtures/discover): nginx with two sites, a container published by Docker,
a Podman container, listeners on loopback and on every address, ufw rules,
connections held open while the socket tables and conntrack were read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _discover
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _firewall_read
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _nginx_read

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "discover")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_nginx_server_blocks():
    servers = _nginx_read.servers(fixture("nginx-T.txt"))
    by_port = dict(((server["listen"][0]["port"], tuple(server["names"])), server) for server in servers)
    assert sorted(by_port) == [(80, ("app.riwi.test", "www.riwi.test")), (443, ("app.riwi.test",)),
                               (8080, ("admin.riwi.test",))]
    redirect = by_port[(80, ("app.riwi.test", "www.riwi.test"))]
    assert redirect["redirect"] == {"code": 301, "target": "https://app.riwi.test$request_uri"}
    assert redirect["tls"] is False
    app = by_port[(443, ("app.riwi.test",))]
    assert app["tls"] is True and app["certificate"] == "/etc/nginx/tls/app.crt"
    routes = dict((location["path"], location["upstreams"]) for location in app["locations"])
    # the upstream block comes after the server that names it
    assert routes == {"/": ["127.0.0.1:4010"], "/api/": ["172.30.100.51:7010", "172.30.100.52:7010"]}
    admin = by_port[(8080, ("admin.riwi.test",))]
    assert [(location["match"], location["path"]) for location in admin["locations"]] == [
        ("=", "/health"), ("prefix", "/files/"), ("prefix", "/")]
    assert admin["locations"][2]["upstreams"] == ["localhost:3000"]


def test_nginx_variable_upstream_is_not_guessed():
    dump = "# configuration file /etc/nginx/nginx.conf:\nhttp { server { listen 81; location / { proxy_pass http://$backend; } } }\n"
    location = _nginx_read.servers(dump)[0]["locations"][0]
    assert location["known"] is False and location["upstreams"] == []


@pytest.mark.parametrize("text, message", [
    ("# configuration file /x:\nhttp { server { listen 80; }\n", "not closed"),
    ("# configuration file /x:\n}\n", "without a block"),
    ("# configuration file /x:\nserver_name 'a;\n", "unterminated"),
    ("http { }", "not nginx -T output"),
])
def test_nginx_broken_text_is_an_error(text, message):
    with pytest.raises(_nginx_read.NginxParseError, match=message):
        _nginx_read.servers(text)


def test_docker_ps():
    containers = _discover.parse_docker_ps(fixture("docker-ps.jsonl"))
    assert [(item["name"], item["ports"]) for item in containers] == [
        ("worker", []),
        ("shop", [{"address": "0.0.0.0", "port": 8081, "end": 8081, "container_port": 80, "protocol": "tcp"}])]


def test_podman_ps():
    containers = _discover.parse_podman_ps(fixture("podman-ps-a.json"))
    assert containers[0]["name"] == "shop2"
    assert containers[0]["ports"] == [
        {"address": "127.0.0.1", "port": 8092, "end": 8092, "container_port": 80, "protocol": "tcp"},
        {"address": "0.0.0.0", "port": 8090, "end": 8090, "container_port": 80, "protocol": "tcp"},
        {"address": "0.0.0.0", "port": 5353, "end": 5353, "container_port": 53, "protocol": "udp"}]


def test_docker_user_chain():
    assert _discover.docker_user_filters(fixture("iptables-save-ufw-docker.txt")) is False
    assert _discover.docker_user_filters("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n") is None
    assert _discover.docker_user_filters(":DOCKER-USER - [0:0]\n-A DOCKER-USER -s 10.0.0.0/8 -j DROP\n") is True


def test_established_sockets():
    sockets = _discover.parse_established(fixture("proc-net-tcp.txt"), "ipv4")
    pairs = sorted((item["local"], item["local_port"], item["remote"], item["remote_port"]) for item in sockets)
    assert ("172.30.100.50", 4020, "172.30.100.50", 41112) in pairs
    assert ("127.0.0.1", 4010, "127.0.0.1", 55046) in pairs
    assert len(pairs) == 9
    assert _discover.parse_established(fixture("proc-net-tcp6.txt"), "ipv6") == []


def test_conntrack():
    tracked = _discover.parse_conntrack(fixture("conntrack.txt"))
    assert tracked[0] == {"protocol": "tcp", "src": "172.30.100.50", "dst": "172.30.100.50", "sport": 45002,
                          "dport": 8081, "reply_src": "172.17.0.2", "reply_sport": 80, "state": "ESTABLISHED",
                          "replied": True}
    assert len(tracked) == 3
    assert _discover.parse_conntrack(
        "tcp      6 118 SYN_SENT src=10.0.0.2 dst=10.0.0.9 sport=40000 dport=5432 [UNREPLIED] src=10.0.0.9 "
        "dst=10.0.0.2 sport=5432 dport=40000 mark=0 use=1\n") == []


def test_classify_connections():
    listeners = [{"protocol": "tcp", "port": 4020}, {"protocol": "tcp", "port": 22}]
    sockets = [{"local": "10.0.0.5", "local_port": 4020, "remote": "10.0.0.7", "remote_port": 51000, "inode": 1},
               {"local": "10.0.0.5", "local_port": 43000, "remote": "10.0.0.9", "remote_port": 5432, "inode": 2},
               {"local": "127.0.0.1", "local_port": 4010, "remote": "127.0.0.1", "remote_port": 55046, "inode": 3}]
    tracked = _discover.parse_conntrack(
        "tcp      6 431998 ESTABLISHED src=203.0.113.4 dst=10.0.0.5 sport=45002 dport=8081 src=172.17.0.2 "
        "dst=203.0.113.4 sport=80 dport=45002 [ASSURED] mark=0 use=1\n")
    flows = _discover.classify(sockets, tracked, ["10.0.0.5"], listeners)
    assert [(flow["direction"], flow["client"], flow["server"], flow["port"], flow["to"]) for flow in flows] == [
        ("in", "10.0.0.7", "10.0.0.5", 4020, None),
        ("out", "10.0.0.5", "10.0.0.9", 5432, None),
        ("in", "203.0.113.4", "10.0.0.5", 8081, "172.17.0.2:80")]


# One-way UDP (syslog to a collector): conntrack holds it UNREPLIED for as long as it flows.
SYSLOG_IN = ("udp      17 28 src=10.0.0.7 dst=10.0.0.5 sport=41000 dport=5514 [UNREPLIED] src=10.0.0.5 dst=10.0.0.7 "
             "sport=5514 dport=41000 mark=0 use=1\n")
SYSLOG_OUT = ("udp      17 29 src=10.0.0.5 dst=192.0.2.40 sport=42000 dport=514 [UNREPLIED] src=192.0.2.40 "
              "dst=10.0.0.5 sport=514 dport=42000 mark=0 use=1\n")
NOBODY = ("udp      17 29 src=10.0.0.7 dst=10.0.0.5 sport=41001 dport=5600 [UNREPLIED] src=10.0.0.5 dst=10.0.0.7 "
          "sport=5600 dport=41001 mark=0 use=1\n")


def test_one_way_udp_is_a_flow_that_works_where_it_went_through():
    tracked = _discover.parse_conntrack(SYSLOG_IN + SYSLOG_OUT + NOBODY)
    assert [(item["protocol"], item["dport"], item["replied"]) for item in tracked] == [
        ("udp", 5514, False), ("udp", 514, False), ("udp", 5600, False)]
    listeners = [{"protocol": "udp", "port": 5514}]
    flows = _discover.classify([], tracked, ["10.0.0.5"], listeners)
    # in to a listener, and out of this host; not in to a port nothing listens on (the packet found nobody)
    assert [(flow["direction"], flow["protocol"], flow["client"], flow["server"], flow["port"], flow["via"])
            for flow in flows] == [("in", "udp", "10.0.0.7", "10.0.0.5", 5514, "conntrack-one-way"),
                                   ("out", "udp", "10.0.0.5", "192.0.2.40", 514, "conntrack-one-way")]


def test_connected_udp_sockets_are_flows_out():
    text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref "
            "pointer drops\n"
            # 10.0.0.5:43000 connected to 192.0.2.40:514 (st 01), and an unconnected listener on 0.0.0.0:5514 (st 07)
            "  1: 0500000A:A7F8 280200C0:0202 01 00000000:00000000 00:00000000 00000000     0        0 7001 2 "
            "0000000000000000 0\n"
            "  2: 00000000:158A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7002 2 "
            "0000000000000000 0\n")
    sockets = _discover.parse_established(text, "ipv4", "udp")
    assert sockets == [{"protocol": "udp", "local": "10.0.0.5", "local_port": 43000, "remote": "192.0.2.40",
                        "remote_port": 514, "inode": 7001}]
    flows = _discover.classify(sockets, [], ["10.0.0.5"], [{"protocol": "udp", "port": 5514}])
    assert [(flow["direction"], flow["protocol"], flow["server"], flow["port"]) for flow in flows] == [
        ("out", "udp", "192.0.2.40", 514)]


def test_sshd_ports():
    assert _discover.sshd_ports(fixture("sshd-T.txt")) == [22]


def test_addresses():
    assert _discover.parse_addresses(fixture("ip-address.json")) == [
        "127.0.0.1", "172.17.0.1", "10.88.0.1", "172.30.100.50"]


LISTENERS = [
    {"protocol": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 4010, "process": "python3", "dual_stack": False},
    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 4020, "process": "python3", "dual_stack": False},
    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 6100, "process": "python3", "dual_stack": False},
    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 8081, "process": "docker-proxy",
     "dual_stack": False},
    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 22, "process": "sshd", "dual_stack": False},
    {"protocol": "tcp", "family": "ipv6", "address": "::", "port": 22, "process": "sshd", "dual_stack": False},
    {"protocol": "udp", "family": "ipv4", "address": "127.0.0.11", "port": 53, "process": None, "dual_stack": False},
]


def test_services_with_their_exposure_under_ufw():
    layers = [_firewall_read.parse_ufw(fixture("ufw-status-verbose.txt"))]
    containers = _discover.parse_docker_ps(fixture("docker-ps.jsonl"))
    found = dict((item["port"], item) for item in _discover.services(LISTENERS, containers, layers, False))
    assert sorted(found) == [22, 4010, 4020, 6100, 8081]  # Docker's embedded DNS is no service of the host
    assert found[4010]["exposure"]["state"] == "private" and found[4010]["bind"] == "127.0.0.1"
    assert (found[4020]["exposure"]["state"], found[4020]["exposure"]["sources"]) == (
        "some", ["172.30.100.0/24", "10.9.0.0/16"])
    assert found[22]["exposure"]["state"] == "open" and found[22]["bind"] == "0.0.0.0"
    assert found[8081]["publish"] == "dnat" and found[8081]["container"]["name"] == "shop"
    assert found[8081]["exposure"]["state"] == "open"
    assert found[8081]["processes"] == []


def test_a_port_opened_to_everyone_by_an_iptables_rule_where_ip6tables_filters_nothing_is_open_by_that_rule():
    # Tried as a new user would: sshd on both families, `-P INPUT DROP` and an ACCEPT from anywhere for its port
    # typed in iptables, ip6tables left empty. The port was drafted "open today only because nothing filters it
    # [guess]": the IPv6 side's "no firewall" outranked the IPv4 side's rule.
    saved = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -p tcp -m tcp --dport 2202 -j ACCEPT\n-A INPUT -s 10.77.30.11/32 -p tcp -m tcp --dport 5433 "
             "-j ACCEPT\nCOMMIT\n")
    layers = [_firewall_read.parse_iptables(saved, "ipv4", "iptables")]
    assert _firewall_read.parse_iptables("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "ipv6", "ip6tables") is None
    listeners = [dict(protocol="tcp", family=family, address=address, port=port, process=process, dual_stack=False)
                 for port, process in ((2202, "sshd"), (5433, "python3"), (7000, "python3"))
                 for family, address in (("ipv4", "0.0.0.0"), ("ipv6", "::"))]
    found = dict((item["port"], item["exposure"]) for item in _discover.services(listeners, [], layers, False))
    assert (found[2202]["state"], found[2202]["by_policy"]) == ("open", False)
    assert found[2202]["evidence"] == ["ipv4: iptables: -A INPUT -p tcp -m tcp --dport 2202 -j ACCEPT",
                                       "ipv6: no firewall is in force"]
    # Narrower on one family stays narrow there (it was 0.0.0.0/0 too, from the other family's "every source");
    # closed on one stays closed.
    assert (found[5433]["state"], found[5433]["sources"]) == ("some", ["10.77.30.11/32", "::/0"])
    assert found[7000]["state"] == "closed"


def test_the_ancestry_of_a_client_process_stops_before_init(tmp_path):
    for pid, parent in ((676, 600), (600, 1), (1, 0)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(u"%d (python3 x) S %d 1 1 0 -1\n" % (pid, parent))
    assert _discover.ancestry(676, str(tmp_path)) == [676, 600]
    assert _discover.ancestry(999, str(tmp_path)) == [999]
    assert _discover.ancestry(1, str(tmp_path)) == []


def test_a_service_carries_the_pids_of_its_listening_sockets():
    listeners = [dict(protocol="tcp", family="ipv4", address="0.0.0.0", port=80, process="nginx", dual_stack=False,
                      pid=pid) for pid in (300, 301, 302)]
    assert [item["pids"] for item in _discover.services(listeners, [], [], False)] == [[300, 301, 302]]


def test_published_port_with_docker_user_rules_is_unknown():
    containers = _discover.parse_docker_ps(fixture("docker-ps.jsonl"))
    found = dict((item["port"], item) for item in _discover.services([], containers, [], True))
    assert found[8081]["exposure"]["state"] == "unknown"


@pytest.mark.parametrize("window, samples, message", [
    (-1, 1, "window -1"), (3601, 1, "window 3601"), ("60", 1, "window '60'"), (10, 0, "samples 0"),
    (10, True, "samples True")])
def test_bad_window_is_named(window, samples, message):
    with pytest.raises(_discover.DiscoverError, match=message):
        _discover.check_window(window, samples)


def _proc(tmp_path):
    (tmp_path / "net").mkdir()
    shutil.copy(os.path.join(FIXTURES, "proc-net-tcp.txt"), str(tmp_path / "net" / "tcp"))
    shutil.copy(os.path.join(FIXTURES, "proc-net-tcp6.txt"), str(tmp_path / "net" / "tcp6"))
    for table in ("udp", "udp6"):
        (tmp_path / "net" / table).write_text(u"  sl  local_address rem_address   st\n")
    return str(tmp_path)


def test_discover_end_to_end_on_captured_output(tmp_path):
    outputs = {
        ("ufw", "status", "verbose"): fixture("ufw-status-verbose.txt"),
        ("nft", "-j", "list", "ruleset"): fixture("nft-ufw-docker.json"),
        ("iptables-save", "-t", "filter"): fixture("iptables-save-ufw-docker.txt"),
        ("docker", "ps", "--no-trunc", "--format", "{{json .}}"): fixture("docker-ps.jsonl"),
        ("nginx", "-T"): fixture("nginx-T.txt"),
        ("sshd", "-T"): fixture("sshd-T.txt"),
        ("ip", "-j", "address", "show"): fixture("ip-address.json"),
        ("conntrack", "-L"): fixture("conntrack.txt"),
    }
    calls = []

    def run(argv):
        key = tuple([os.path.basename(argv[0])] + argv[1:])
        calls.append(key)
        return (0, outputs[key], "") if key in outputs else (1, "", "no such command")

    def which(name):
        return "/usr/sbin/" + name if name in ("ufw", "nft", "iptables-save", "docker", "nginx", "sshd", "ip",
                                               "conntrack") else None

    slept = []
    found = _discover.discover(run, which, window=10, samples=3, proc_root=_proc(tmp_path), sleep=slept.append)
    assert slept == [5.0, 5.0]
    assert calls.count(("conntrack", "-L")) == 3
    ports = dict((item["port"], item) for item in found["services"])
    assert ports[4020]["exposure"]["state"] == "some"
    assert ports[4010]["exposure"]["state"] == "private"
    assert ports[6100]["exposure"]["sources"] == ["10.9.0.0/16"]
    assert ports[8081]["container"]["name"] == "shop"
    assert found["ssh"] == {"ports": [22], "evidence": "sshd -T"}
    assert len(found["nginx"]) == 3
    inbound = [(flow["client"], flow["port"], flow["via"]) for flow in found["connections"] if flow["direction"] == "in"]
    assert ("172.30.100.50", 4020, ["socket", "conntrack"]) in inbound
    assert ("172.30.100.50", 8081, ["conntrack"]) in inbound
    # no process could be matched in a copied socket table: said, not hidden
    assert [item["check"] for item in found["unknown"]] == ["process"]


def test_discover_without_conntrack_says_so(tmp_path):
    def run(argv):
        return 1, "", "not found"

    found = _discover.discover(run, lambda name: None, proc_root=_proc(tmp_path))
    checks = [item["check"] for item in found["unknown"]]
    assert "firewall" in checks and "connections" in checks
    assert all(item["exposure"]["state"] in ("unknown", "private") for item in found["services"])
