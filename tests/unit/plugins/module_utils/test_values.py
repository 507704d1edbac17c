# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a value is classified as an address or a name, and the addresses
refused wherever one is read (issue 26, fault 6)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils import _values


# Names made only of hex letters and dots were read as (bad) addresses.
@pytest.mark.parametrize("name", ["cafe.de", "dead.beef", "face.b00c", "add.ed", "bad.cafe.example", "abc", "fe80.de"])
def test_hex_letter_names_are_names(name):
    assert not _values.looks_like_address(name)
    assert _values.domain(name, "to") == name


# An address, as the C resolver reads one too: a number as the last label.
@pytest.mark.parametrize("text", ["10.0.0.1", "10.0.0.0/8", "10.0.0.300", "1.2.3", "0x7f.1", "127.1", "fe80::1",
                                  "::ffff:10.77.0.1", "fe80::1%eth0", "cafe::", "beef:1::/64"])
def test_addresses_are_addresses(text):
    assert _values.looks_like_address(text)


@pytest.mark.parametrize("value, family", [("::ffff:10.77.0.1", "10.77.0.1"), ("::FFFF:a4d:1", "10.77.0.1"),
                                           ("::ffff:10.0.0.0/104", "10.0.0.0/8")])
def test_mapped_addresses_are_refused_naming_the_value(value, family):
    for check in (_values.address, _values.network):
        if "/" in value and check is _values.address:
            continue
        with pytest.raises(_values.BadValue, match=r"source %r is an IPv4-mapped IPv6 address.*write it as IPv4: %s"
                           % (value, family)):
            check(value, "source")


def test_ipv6_networks_around_the_mapped_block_stay_ipv6():
    assert str(_values.network("::/0", "source")) == "::/0"
    assert str(_values.network("64:ff9b::a4d:1", "source")) == "64:ff9b::a4d:1/128"
    assert str(_values.address("::1", "source")) == "::1"
