# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The syntax of the values that reach a host: numbers, addresses, networks,
host names, and the strings that end up inside a ruleset or an nginx or sshd
configuration. Every feature checks its input with these, so a value means
the same thing in the registry, the firewall, nginx and sshd.

Rules that hold everywhere:

- Patterns match the whole string (``fullmatch``), never up to a trailing
  newline as ``$`` would, and digits are ASCII ``0-9`` only: ``int()`` and
  ``\\d`` would also read ``٢٢`` or ``９`` as numbers.
- A network with host bits set (``10.77.0.5/8``) is refused, naming the
  network it would have meant, instead of being widened silently.
- An IPv6 zone id (``fe80::1%eth0``) is refused: a firewall rule or an nginx
  ``allow`` cannot carry it, and dropping it would change the address.
- An IPv4-mapped IPv6 address or network (``::ffff:10.77.0.1``) is refused,
  naming the IPv4 form: a rule for it would be an IPv6 rule, which IPv4
  packets never match.
- Address or name: text is an address (checked as one) when it holds a ``:``,
  ``/`` or ``%``, or when its last dot-separated label is a number (decimal or
  ``0x`` hex, as the C resolver's ``inet_aton`` reads ``0x7f.1``); no host name
  has a numeric top-level label (RFC 3696 section 2). Everything else is a
  name, hex letters or not: ``cafe.de`` and ``dead.beef`` are names.

Plain Python, no Ansible import. Errors are BadValue (a ValueError) whose
message names the value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re


class BadValue(ValueError):
    """A value that does not have the syntax its place needs."""


def pattern(text):
    """A pattern for fullmatch, with ASCII-only classes (``\\d`` is 0-9)."""
    return re.compile(text, re.ASCII)


DIGITS = pattern(r"[0-9]+")
# RFC 1123 host names, with an optional leading "*." wildcard label; upper case
# is accepted and folded (DNS names are case-insensitive).
_DOMAIN = pattern(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
DOMAIN_MAX = 253
# Inventory host and group names as Ansible allows them.
_INVENTORY_NAME = pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")
# A last label that makes text an address: a number as inet_aton reads one.
_NUMERIC_LABEL = pattern(r"[0-9]+|0[xX][0-9A-Fa-f]*")
# IPv4-mapped IPv6 addresses (RFC 4291 2.5.5.2).
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
# Text written inside a double-quoted string of a ruleset: printable ASCII
# without the quote or a backslash, so no value can end the string early.
_QUOTABLE = pattern(r'[\x20\x21\x23-\x5b\x5d-\x7e]*')
# What nginx reads as syntax (or expands, for $) inside an unquoted value.
_NGINX_SYNTAX = set(";{}'\"#$\\`")


def type_name(value):
    """The plain type of a value (Ansible wraps values in tagged subclasses)."""
    for kind in (bool, int, float, str, list, dict, tuple):
        if isinstance(value, kind):
            return kind.__name__
    return "null" if value is None else type(value).__name__


def describe(value):
    return "%r" % (value,) if isinstance(value, str) else "%s (%s)" % (value, type_name(value))


def matches(compiled, value):
    """Whether ``value`` is a string matched whole by ``compiled``."""
    return isinstance(value, str) and compiled.fullmatch(value) is not None


_INTEGER = pattern(r"-?[0-9]+")


def integer(value, what, minimum=None, maximum=None):
    """An int, or a string of ASCII digits, within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadValue("%s %s is not a whole number" % (what, describe(value)))
    if isinstance(value, str):
        if not matches(_INTEGER, value.strip()):
            raise BadValue("%s %s is not a whole number written in the digits 0-9" % (what, describe(value)))
        value = int(value.strip())
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BadValue("%s %s is outside %s to %s" % (what, value, minimum, maximum))
    return value


def _no_zone(text, what):
    if "%" in text:
        raise BadValue("%s %r has an IPv6 zone id (%s): a zone only means something on one host's link; "
                       "give the address without it" % (what, text, text[text.index("%"):]))


def _not_mapped(parsed, value, what):
    """``parsed`` (an address or network), unless it is IPv4-mapped IPv6."""
    network = ipaddress.ip_network(parsed)
    if network.version == 6 and network.subnet_of(IPV4_MAPPED):
        ipv4 = str(network.network_address.ipv4_mapped)
        if network.prefixlen < 128:
            ipv4 += "/%d" % (network.prefixlen - 96)
        raise BadValue("%s %r is an IPv4-mapped IPv6 address: it would become an IPv6 rule, which IPv4 packets "
                       "never match; write it as IPv4: %s" % (what, value, ipv4))
    return parsed


def address(value, what):
    """An IP address (v4 or v6), no zone id, not IPv4-mapped."""
    text = value.strip() if isinstance(value, str) else value
    if not looks_like_address(text):
        raise BadValue("%s %s is not an IP address" % (what, describe(value)))
    _no_zone(text, what)
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        raise BadValue("%s %r is not an IP address" % (what, value))
    return _not_mapped(parsed, value, what)


def network(value, what):
    """An address or a CIDR network; a network with host bits set is refused
    with the network it would have meant."""
    text = value.strip() if isinstance(value, str) else value
    if not looks_like_address(text):
        raise BadValue("%s %s is not an IP address or a CIDR network" % (what, describe(value)))
    _no_zone(text, what)
    try:
        parsed = ipaddress.ip_network(text, strict=True)
    except ValueError:
        parsed = None
    if parsed is not None:
        return _not_mapped(parsed, value, what)
    try:
        widened = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise BadValue("%s %r is not an IP address or a CIDR network" % (what, value))
    host = text.split("/")[0]
    raise BadValue("%s %r has host bits set: as a network it means %s; write %s for that network, or %s for the "
                   "one host" % (what, value, widened, widened, host))


def looks_like_address(value):
    """Whether text can only have been meant as an address or network (so it
    is checked as one, never taken for a host name): it holds ``:``, ``/`` or
    ``%`` (no host name does), or its last dot-separated label is a number,
    which no top-level domain is and which the C resolver reads as an address.
    Hex letters alone do not make an address: ``cafe.de`` is a name."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text:
        return False
    if ":" in text or "/" in text or "%" in text:
        return True
    return matches(_NUMERIC_LABEL, text.split(".")[-1])


def inventory_name(value):
    return matches(_INVENTORY_NAME, value)


def domain(value, what):
    """A DNS host name (``*.`` wildcard allowed), folded to lower case."""
    if not isinstance(value, str) or not value:
        raise BadValue("%s must be a non-empty string, got %s" % (what, describe(value)))
    for char in value:
        if not (char.isascii() and (char.isalnum() or char in ".-*")):
            raise BadValue("%s %r contains %r, which a host name cannot hold; refused" % (what, value, char))
    if not matches(_DOMAIN, value):
        raise BadValue("%s %r is not a host name: expected letters, digits and dashes in dot-separated labels of "
                       "at most 63 characters, such as app.example.com" % (what, value))
    if len(value) > DOMAIN_MAX:
        raise BadValue("%s %r is %d characters long; a DNS name has at most %d" % (what, value, len(value), DOMAIN_MAX))
    return value.lower()


def quotable(value, what, maximum):
    """Text written inside a quoted string (comments, log prefixes)."""
    if not isinstance(value, str):
        raise BadValue("%s must be a string, got %s" % (what, describe(value)))
    if len(value) > maximum:
        raise BadValue("%s %r is longer than %d characters" % (what, value, maximum))
    if not matches(_QUOTABLE, value):
        raise BadValue("%s %r may hold only printable ASCII without double quotes, backslashes or line breaks "
                       "(it is written inside a quoted string)" % (what, value))
    return value


def nginx_token(value, what):
    """A string written as one unquoted nginx value: nothing nginx reads as
    syntax, no whitespace, printable ASCII only."""
    if not isinstance(value, str) or not value:
        raise BadValue("%s must be a non-empty string, got %s" % (what, describe(value)))
    for char in value:
        if char in _NGINX_SYNTAX or char.isspace() or not (" " < char < "\x7f"):
            raise BadValue("%s %r contains %r, which nginx would read as syntax; refused" % (what, value, char))
    return value
