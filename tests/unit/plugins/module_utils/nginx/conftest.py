# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fake commands for the nginx host steps: openssl (x509 reads and req makes
certificate files of a small text format) and systemctl (a unit's state)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
import types

import pytest

DAY = 86400


def certificate_text(names, days_left, now):
    return "FAKE CERTIFICATE\nnames=%s\nnot_after=%d\n" % (",".join(names), int(now + days_left * DAY))


def write_certificate(path, names, days_left=300, now=None, key=True):
    """A fake certificate as FakeOpenssl reads and makes them, and its key (DOMAIN.key beside DOMAIN.crt,
    privkey.pem beside certbot's fullchain.pem)."""
    now = time.time() if now is None else now
    path = str(path)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(certificate_text(names, days_left, now))
    if key:
        key_path = os.path.join(os.path.dirname(path), "privkey.pem") if path.endswith("fullchain.pem") else \
            path[:-len(".crt")] + ".key"
        with open(key_path, "w") as handle:
            handle.write("FAKE KEY\n")


class FakeOpenssl:
    """``x509 -noout -in CRT -enddate -ext subjectAltName -checkend SECONDS`` and ``req -x509 ... -days D -addext
    subjectAltName=... -keyout KEY -out CRT``, as openssl answers them. ``fail_req(argv)`` may return
    ``(rc, out, err)`` to make a req fail (after writing the key, as openssl does)."""

    def __init__(self, now=None, fail_req=None):
        self.now = time.time() if now is None else now
        self.fail_req = fail_req
        self.calls = []

    def run(self, argv):
        self.calls.append(list(argv))
        if argv[1] == "x509":
            return self._x509(argv)
        if argv[1] == "req":
            return self._req(argv)
        raise AssertionError("unexpected openssl command %r" % (argv,))

    def _x509(self, argv):
        path = argv[argv.index("-in") + 1]
        seconds = int(argv[argv.index("-checkend") + 1])
        try:
            text = open(path).read()
        except (IOError, OSError):
            return 1, "", "Could not open file or uri for loading certificate from %s\n" % path
        if not text.startswith("FAKE CERTIFICATE"):
            return 1, "", "Unable to load certificate\n"
        values = dict(line.split("=", 1) for line in text.splitlines()[1:] if "=" in line)
        names = [name for name in values["names"].split(",") if name]
        not_after = int(values["not_after"])
        out = "notAfter=%s GMT\n" % time.strftime("%b %d %H:%M:%S %Y", time.gmtime(not_after))
        if names:
            out += "X509v3 Subject Alternative Name: \n    %s\n" % ", ".join("DNS:" + name for name in names)
        else:
            out += "No extensions in certificate\n"
        expiring = not_after < self.now + seconds
        return (1 if expiring else 0), out + ("Certificate will expire\n" if expiring else
                                              "Certificate will not expire\n"), ""

    def _req(self, argv):
        key, out = argv[argv.index("-keyout") + 1], argv[argv.index("-out") + 1]
        days = int(argv[argv.index("-days") + 1])
        names = [item[len("DNS:"):] for item in argv[argv.index("-addext") + 1][len("subjectAltName="):].split(",")]
        with open(key, "w") as handle:
            handle.write("FAKE KEY\n")
        if self.fail_req:
            failure = self.fail_req(argv)
            if failure:
                return failure
        with open(out, "w") as handle:
            handle.write(certificate_text(names, days, self.now))
        return 0, "", ""


class FakeSystemd:
    """``systemctl show|start|reload|enable UNIT`` on one unit's state (the units shown in ``shown``)."""

    def __init__(self, active="active", enabled="enabled", fail=()):
        self.active = active
        self.enabled = enabled
        self.fail = fail
        self.actions = []
        self.shown = []

    def run(self, argv):
        verb = argv[1]
        if verb == "show":
            self.shown.append(argv[-1])
            return 0, "ActiveState=%s\nUnitFileState=%s\n" % (self.active, self.enabled), ""
        if verb in self.fail:
            return 1, "", "Job for %s.service failed.\n" % argv[-1]
        self.actions.append(verb)
        if verb == "start":
            self.active = "active"
        elif verb == "enable":
            self.enabled = "enabled"
        elif verb != "reload":
            raise AssertionError("unexpected systemctl command %r" % (argv,))
        return 0, "", ""


@pytest.fixture
def openssl():
    return FakeOpenssl()


@pytest.fixture
def systemd():
    return FakeSystemd()


@pytest.fixture
def make_certificate():
    return write_certificate


@pytest.fixture
def fakes():
    """The fake commands' classes, for a test that needs one set up differently."""
    return types.SimpleNamespace(openssl=FakeOpenssl, systemd=FakeSystemd)
