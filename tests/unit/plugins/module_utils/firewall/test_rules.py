# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _rules as fw
from ansible_collections.portcullis.ports.plugins.module_utils.firewall._rules import RuleError


def test_ports_resolve_and_families_split():
    rules = fw.normalize_rules([
        {"port": ["ssh", "8000-8010", 8011], "source": ["10.0.0.0/8", "2001:db8::/32", "10.1.0.0/16"], "comment": "x"},
        {"port": "dns", "protocol": "both", "direction": "out"},
        {"protocol": "icmp", "action": "drop"},
    ])
    assert [(rule.chain, rule.family, rule.protocol, rule.ports, rule.sources) for rule in rules] == [
        ("input", 4, "tcp", ((22, 22), (8000, 8011)), ("10.0.0.0/8",)),
        ("input", 6, "tcp", ((22, 22), (8000, 8011)), ("2001:db8::/32",)),
        ("output", None, "both", ((53, 53),), None),
        ("input", None, "icmp", None, None),
    ]


def test_rate_limit_and_log():
    rule = fw.normalize_rules([{"port": 80, "rate_limit": "10/second burst 20", "log": "web "}])[0]
    assert (rule.rate, rule.rate_unit, rule.burst, rule.log) == (10, "second", 20, "web ")


@pytest.mark.parametrize("rule, message", [
    ({"port": 70000}, r"rule 1: port 70000"),
    ({"port": "postgressql"}, r"did you mean postgresql"),
    ({"port": 22, "source": "10.0.0.300/8"}, r"source '10.0.0.300/8' is not an IP address or a CIDR network"),
    ({"port": 22, "destination": ["::1", "nope"]}, r"destination 'nope' is not an IP address or a CIDR network"),
    ({"port": 22, "action": "allow"}, r"unknown action 'allow'"),
    ({"port": 22, "protocol": "sctp"}, r"invalid protocol 'sctp'"),
    ({"port": 22, "direction": "sideways"}, r"invalid direction 'sideways'"),
    ({"port": 22, "protocol": "icmp"}, r"icmp has no ports"),
    ({"port": 22, "rate_limit": "fast"}, r"invalid rate_limit 'fast'"),
    ({"port": 22, "rate_limit": "0/second"}, r"invalid rate_limit '0/second'"),
    ({"port": 22, "comment": 'x" ; flush ruleset ; "'}, r"comment .* without double quotes"),
    ({"port": 22, "comment": "back\\slash"}, r"comment .* without double quotes, backslashes or line breaks"),
    ({"port": 22, "comment": "new\nline"}, r"printable ASCII"),
    ({"port": 22, "log": "a" * 30}, r"longer than 29"),
    ({"port": 22, "source": "10.0.0.1", "destination": "::1"}, r"different address families"),
    ({"port": 22, "source": []}, r"empty list"),
    ({"port": 22, "sauce": "x"}, r"unknown key 'sauce'"),
    # Values silently widened, dropped or misread before: each refused, named.
    ({"port": 22, "source": "10.77.0.5/8"}, r"source '10.77.0.5/8' has host bits set: as a network it means 10.0.0.0/8"),
    ({"port": 22, "source": "192.168.1.10/2"}, r"as a network it means 192.0.0.0/2"),
    ({"port": 22, "source": "fe80::1%eth0"}, r"source 'fe80::1%eth0' has an IPv6 zone id \(%eth0\)"),
    ({"port": "\u0662\u0662\u0660\u0660"}, r"unknown port"),
    ({"port": "\uff19\uff10\uff10\uff10"}, r"unknown port"),
    ({"port": 22, "comment": "ssh from the office\n"}, r"without double quotes, backslashes or line breaks"),
    ({"port": 22, "log": "ssh \n"}, r"without double quotes, backslashes or line breaks"),
    ({"port": 22, "rate_limit": "\u0661\u0660/second"}, r"invalid rate_limit"),
])
def test_bad_rules_are_named(rule, message):
    with pytest.raises(RuleError, match=message):
        fw.normalize_rules([rule])


def test_all_problems_at_once():
    with pytest.raises(RuleError) as caught:
        fw.normalize_rules([{"port": 70000}, {"port": 22, "action": "allow"}, "x"])
    assert len(caught.value.errors) == 3


def test_policy():
    assert fw.normalize_policy({"forward": "drop"}) == {"input": "drop", "output": "accept", "forward": "drop"}
    with pytest.raises(RuleError, match="invalid verdict 'reject' for input"):
        fw.normalize_policy({"input": "reject"})
    with pytest.raises(RuleError, match="unknown chain 'prerouting'"):
        fw.normalize_policy({"prerouting": "drop"})


POLICY = {"input": "drop", "output": "accept", "forward": "accept"}
CONNECTION = "203.0.113.7 50122 10.0.0.2 22"


@pytest.mark.parametrize("rules, allowed, reason", [
    ([{"port": "ssh"}], True, "accepted by rule 1"),
    ([{"port": "ssh", "source": "203.0.113.0/24"}], True, "accepted by rule 1"),
    ([{"port": "ssh", "source": "198.51.100.0/24"}], False, "no rule accepts it"),
    ([{"port": 2222}], False, "no rule accepts it"),
    ([{"port": 22, "action": "drop", "comment": "no ssh"}, {"port": 22}], False, "it is dropped by rule 1 (no ssh)"),
    ([{"port": 22, "rate_limit": "1/minute"}], False, "no rule accepts it"),
    ([{"port": 22, "protocol": "udp"}], False, "no rule accepts it"),
    ([{"port": 22, "source": "2001:db8::/32"}], False, "no rule accepts it"),
    ([{"port": 22, "direction": "out"}], False, "no rule accepts it"),
    ([{"port": "1-1024", "protocol": "both"}], True, "accepted by rule 1"),
])
def test_ssh_verdict(rules, allowed, reason):
    verdict = fw.ssh_verdict(fw.normalize_rules(rules), POLICY, CONNECTION)
    assert verdict[0] is allowed
    assert reason in verdict[1]


def test_ssh_verdict_policy_accept_and_loopback():
    assert fw.ssh_verdict([], dict(POLICY, input="accept"), CONNECTION)[0] is True
    assert fw.ssh_verdict([], POLICY, "127.0.0.1 5000 127.0.0.1 22")[0] is True
    assert fw.ssh_verdict([], POLICY, "127.0.0.1 5000 127.0.0.1 22", allow_loopback=False)[0] is False
