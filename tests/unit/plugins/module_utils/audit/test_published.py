# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _published
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry

# iptables-save -t nat on a Docker host (Debian's docker.io), two published ports and a range.
NAT = """*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8083 -j DNAT --to-destination 172.17.0.4:80
-A DOCKER ! -i docker0 -p udp -m udp --dport 5000:5002 -j DNAT --to-destination 172.17.0.3:5000-5002
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:41763
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:52003
COMMIT
"""
# (The DOCKER_OUTPUT lines are Docker's embedded DNS inside a container: found on review reported as published.)


def test_parse_nat():
    found = _published.parse_nat(NAT, "ipv4")
    assert [(item["protocol"], item["port"], item["end"], item["to"], item["address"]) for item in found] == [
        ("tcp", 8081, 8081, "172.17.0.2:80", None), ("tcp", 8083, 8083, "172.17.0.4:80", "127.0.0.1"),
        ("udp", 5000, 5002, "172.17.0.3:5000-5002", None)]


def test_published_ports_against_the_registry():
    services = _registry.validate([
        {"name": "web", "port": 8081, "publish": "dnat", "expose": "public"},
        {"name": "local", "port": 8083, "expose": "private"},
    ])
    found = _published.check(services, _published.parse_nat(NAT, "ipv4"))
    assert [(item["port"], item["services"]) for item in found] == [(8083, ["local"]), (5000, [])]
    assert "but local declares publish: host, so the firewall does not govern its forwarded path" in found[0]["message"]
    assert found[1]["message"] == ("udp port 5000-5002 is published by DNAT (to 172.17.0.3:5000-5002), which no service "
                                   "declares")


def test_an_unreadable_nat_table_is_unknown():
    def run(argv):
        return 4, "", "Permission denied (you must be root)"

    published, unknown = _published.read(run, lambda name: "/usr/sbin/" + name)
    assert published == [] and [item["check"] for item in unknown] == ["published", "published"]
    assert "Permission denied" in unknown[0]["message"]
