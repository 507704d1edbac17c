# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall reader on output captured from a Debian 12 container
(bookworm-firewalls image) where the rules were typed by hand: ufw, plain
iptables, a hand-made nftables table and firewalld zones (fixtures/discover)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _firewall_read as fw

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "discover")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def state(layers, port, protocol="tcp"):
    found = fw.exposure(layers, protocol, port)
    return found["state"], found["sources"]


# The same hand-typed intent in three managers: 22 and 80/443 from anywhere, 4020 from the /24, 8080 from one
# address (two in nftables), 53/udp from anywhere, everything else dropped.
HAND = [(22, "open"), (80, "open"), (443, "open"), (4020, "some"), (8080, "some"), (6100, "closed"), (5432, "closed")]


@pytest.mark.parametrize("port, expected", HAND)
def test_iptables_by_hand(port, expected):
    layer = fw.parse_iptables(fixture("iptables-save-hand.txt"), "ipv4")
    assert layer.default == "drop"
    assert state([layer], port)[0] == expected


@pytest.mark.parametrize("match", ["-m conntrack --ctstate NEW", "-m state --state NEW",
                                   "-m conntrack --ctstate NEW,ESTABLISHED",
                                   # The older form of the same, as iptables-save writes --syn (third trial).
                                   "-m tcp --tcp-flags FIN,SYN,RST,ACK SYN"])
def test_an_accept_of_new_connections_by_state_is_understood(match):
    # Re-tried as a new user would: `-A INPUT -p tcp -m conntrack --ctstate NEW -m tcp --dport 2202 -j ACCEPT`, the
    # common form, was "not understood": sshd was drafted closed but to the controller.
    saved = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp %s -m tcp --dport 2202 -j ACCEPT\nCOMMIT\n" % match
    assert state([fw.parse_iptables(saved, "ipv4")], 2202) == ("open", ["0.0.0.0/0", "::/0"])
    # Established replies only decide nothing for a new connection; another match stays not understood.
    saved = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m conntrack --ctstate ESTABLISHED --dport 2202 -j ACCEPT\nCOMMIT\n"
    assert state([fw.parse_iptables(saved, "ipv4")], 2202)[0] == "closed"
    saved = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m conntrack --ctdir ORIGINAL --dport 2202 -j ACCEPT\nCOMMIT\n"
    assert state([fw.parse_iptables(saved, "ipv4")], 2202)[0] == "unknown"


@pytest.mark.parametrize("port, expected", HAND)
def test_nftables_by_hand(port, expected):
    layers = fw.parse_nft(fixture("nft-hand.json"))
    assert [layer.manager for layer in layers] == ["nftables inet handmade input"]
    assert state(layers, port)[0] == expected


@pytest.mark.parametrize("port, expected", HAND)
def test_ufw_by_hand(port, expected):
    layer = fw.parse_ufw(fixture("ufw-status-verbose.txt"))
    assert layer.default == "drop"
    found = state([layer], port)[0]
    # ufw has one more rule: everything from 10.9.0.0/16
    assert found == ("some" if expected == "closed" else expected)


def test_sources_are_named():
    assert state([fw.parse_iptables(fixture("iptables-save-hand.txt"))], 4020) == ("some", ["172.30.100.0/24"])
    assert state(fw.parse_nft(fixture("nft-hand.json")), 8080) == ("some", ["172.30.100.60/32", "172.30.100.61/32"])
    assert state([fw.parse_ufw(fixture("ufw-status-verbose.txt"))], 4020) == (
        "some", ["172.30.100.0/24", "10.9.0.0/16"])
    assert state([fw.parse_ufw(fixture("ufw-status-verbose.txt"))], 6100) == ("some", ["10.9.0.0/16"])


def test_nft_rules_are_told_in_nft_words():
    found = fw.exposure(fw.parse_nft(fixture("nft-hand.json")), "tcp", 8080)
    assert found["evidence"] == ["nftables inet handmade input: chain input handle 9: tcp dport 8080 saddr "
                                 "172.30.100.60/32, 172.30.100.61/32 accept"]
    found = fw.exposure(fw.parse_nft(fixture("nft-hand.json")), "tcp", 443)
    assert found["evidence"] == ["nftables inet handmade input: chain input handle 6: tcp dport { 80, 443 } accept"]


def test_udp_and_ranges():
    layer = fw.parse_iptables(fixture("iptables-save-hand.txt"))
    assert state([layer], 53, "udp")[0] == "open"
    assert state([layer], 6500)[0] == "closed"
    assert fw.exposure([layer], "tcp", 6500)["evidence"] == ["iptables: -A INPUT -p tcp -m tcp --dport 6000:6999 -j DROP"]


def test_nft_skips_the_iptables_nft_tables():
    # iptables-nft rules (ufw's chains, Docker's) appear in nft's ruleset too: iptables-save reads them.
    assert fw.parse_nft(fixture("nft-ufw-docker.json")) == []
    assert fw.parse_nft(fixture("nft-iptables-hand.json")) == []


def test_ufw_inactive_is_no_layer():
    assert fw.parse_ufw("Status: inactive\n") is None


def test_iptables_under_ufw_are_unknown_so_ufw_status_is_read():
    # ufw's own chains check address types (ufw-not-local) before the user's rules: the INPUT walk cannot say
    # what they let in, so it says unknown; with ufw active, read_layers reads `ufw status verbose` instead.
    layer = fw.parse_iptables(fixture("iptables-save-ufw-docker.txt"))
    found = fw.exposure([layer], "tcp", 4020)
    assert found["state"] == "unknown"
    assert "--dst-type LOCAL" in found["evidence"][0]


def test_firewalld_zones():
    zones = fw.parse_firewalld_zones(fixture("firewalld-list-all-zones.txt"))
    services = fw.parse_firewalld_services(fixture("firewalld-services.txt"))
    assert services["ssh"] == [("tcp", 22, 22)]
    layer = fw.firewalld_layer("public", zones, services)
    assert state([layer], 80)[0] == "open"
    assert state([layer], 4030)[0] == "open"
    assert state([layer], 5005, "udp")[0] == "open"
    assert state([layer], 4020) == ("some", ["172.30.100.0/24"])
    assert state([layer], 8080) == ("some", ["172.30.100.60/32"])
    assert state([layer], 6100)[0] == "closed"


def test_a_service_without_known_ports_is_unknown_not_closed():
    zones = fw.parse_firewalld_zones(fixture("firewalld-list-all-zones.txt"))
    layer = fw.firewalld_layer("public", zones, {})
    found = fw.exposure([layer], "tcp", 6100)
    assert found["state"] == "unknown"
    assert "ports are not known" in found["evidence"][0]


def test_a_rule_not_understood_is_unknown():
    saved = "*filter\n:INPUT DROP [0:0]\n-A INPUT -i eth1 -p tcp -m tcp --dport 5432 -j ACCEPT\nCOMMIT\n"
    layer = fw.parse_iptables(saved)
    assert state([layer], 5432)[0] == "unknown"
    assert state([layer], 22)[0] == "closed"


def test_a_layer_that_cannot_be_read_is_unknown():
    assert state([fw.Layer("nftables", error="permission denied")], 22)[0] == "unknown"


def test_no_firewall_and_policy_accept_are_open_by_policy():
    assert fw.exposure([], "tcp", 6100)["by_policy"] is True
    saved = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    layer = fw.parse_iptables(saved)
    assert fw.exposure([layer], "tcp", 6100) == {
        "state": "open", "sources": ["0.0.0.0/0", "::/0"], "by_policy": True,
        "evidence": ["iptables: no rule for the port, the input policy accepts"], "refused": []}
    assert fw.exposure([layer], "tcp", 22)["by_policy"] is False


def test_a_ban_before_the_rule_that_opens_a_port_is_named_with_what_it_refuses():
    # Tried as a new user would: ufw `DENY from 10.77.30.99 to 5433` ahead of `ALLOW 5433 Anywhere` was read as open
    # to every source, the DENY left out of the evidence; the enforced registry then let 10.77.30.99 in.
    text = ("Status: active\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\n"
            "To                         Action      From\n--                         ------      ----\n"
            "5433/tcp                   DENY IN     10.77.30.99\n5433/tcp                   ALLOW IN    Anywhere\n"
            "6000/tcp                   DENY IN     192.0.2.7\n6000/tcp                   ALLOW IN    10.77.30.0/24\n"
            "6000/tcp                   ALLOW IN    192.0.2.0/24\n"
            "7000/tcp                   DENY IN     192.0.2.7\n7000/tcp                   ALLOW IN    10.77.30.0/24\n")
    layer = fw.parse_ufw(text)
    found = fw.exposure([layer], "tcp", 5433)
    assert (found["state"], found["refused"]) == ("open", ["10.77.30.99/32"])
    assert found["evidence"] == ["ufw: 5433/tcp                   DENY IN     10.77.30.99; "
                                 "5433/tcp                   ALLOW IN    Anywhere"]
    # Narrower: what the ban refuses inside the sources opened; a ban outside them narrows nothing.
    assert fw.exposure([layer], "tcp", 6000)["refused"] == ["192.0.2.7/32"]
    assert fw.exposure([layer], "tcp", 7000)["refused"] == []


def test_layers_combine_to_the_narrowest():
    wide = fw.Layer("a", [fw.Rule("tcp", [(4020, 4020)], fw.ANYWHERE, "accept", "a")], "drop")
    narrow = fw.Layer("b", [fw.Rule("tcp", [(4020, 4020)], ["10.0.0.0/8"], "accept", "b")], "drop")
    closed = fw.Layer("c", [], "drop")
    assert state([wide, narrow], 4020) == ("some", ["10.0.0.0/8"])
    assert state([wide, closed], 4020)[0] == "closed"
    assert state([wide, fw.Layer("d", error="x")], 4020)[0] == "unknown"


def test_read_layers_runs_only_what_exists():
    outputs = {("ufw", "status", "verbose"): (0, fixture("ufw-status-verbose.txt"), ""),
               ("nft", "-j", "list", "ruleset"): (0, fixture("nft-ufw-docker.json"), "")}

    def run(argv):
        return outputs[tuple([argv[0].rsplit("/", 1)[-1]] + argv[1:])]

    def which(name):
        return "/usr/sbin/" + name if name in ("ufw", "nft") else None

    layers, managers = fw.read_layers(run, which)
    assert [layer.manager for layer in layers] == ["ufw"]
    assert {"manager": "ufw", "active": True} in managers
