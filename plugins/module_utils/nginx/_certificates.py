# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate each site serves, checked (and a self-signed one made) on
the host, in the nginx_proxy module's one round trip.

A site's certificate is one of three kinds:

- certbot's (the site's ``certbot``): served from certbot's live directory
  (``LETSENCRYPT_LIVE/DOMAIN/``) once certbot has a pair there; until then the
  site *waits*, serving the certificate it names (self-signed while it waits).
  One that misses a name the site serves is listed to be *expanded*; certbot
  itself (run by the role) renews it, so its expiry is not looked at here.
- self-signed (``self_signed``): made with openssl - EC P-256, every name the
  site serves in subjectAltName - when it or its key is missing, when it
  cannot be read, expires within ``renew_days``, or misses a name. The new
  pair is written next to the old one (``.new``, the key created 0600 before
  openssl writes it) and moved in place by the caller, which can put the old
  pair back.
- given: read for its names; one it misses is a warning (nginx would serve
  it, and clients would refuse it for that name).

Every certificate is read with one openssl command (``x509 -checkend``);
nothing here writes except ``make``, which the caller never runs in check
mode. Commands go through the runner as argument lists. No Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError

# Where certbot keeps the certificate of each --cert-name (the role names them after the site's domain).
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
LIVE_CERTIFICATE = "fullchain.pem"
LIVE_KEY = "privkey.pem"
# The directory of self-signed pairs, the key and the certificate.
DIRECTORY_MODE = 0o700
KEY_MODE = 0o600
CERTIFICATE_MODE = 0o644
# Next to the old file until both are made (plugin_utils/_proxy_plan.py counts this suffix in a file name's length).
NEW_SUFFIX = ".new"
# openssl limits a subject's CN to 64 characters; the names are in subjectAltName either way.
CN_MAX = 64
LONG_NAME_SUBJECT = "/O=portcullis.ports self-signed"
SECONDS_A_DAY = 86400

GIVEN, SELF_SIGNED, CERTBOT = "given", "self_signed", "certbot"


def covers(held, name):
    """Whether a certificate name (``held``, from subjectAltName) covers the
    host name ``name``: the same name, or a wildcard for its first label."""
    held, name = held.lower(), name.lower()
    if held == name:
        return True
    return held.startswith("*.") and "." in name and not name.startswith("*.") and name.split(".", 1)[1] == held[2:]


def subject(domain):
    return "/CN=%s" % domain if len(domain) <= CN_MAX else LONG_NAME_SUBJECT


class SiteCertificate:
    """The certificate one site serves, and what the run found and does about it."""

    def __init__(self, domain, source, certificate, certificate_key, waiting=False):
        self.domain = domain
        self.source = source
        self.certificate = certificate
        self.certificate_key = certificate_key
        self.waiting = waiting  # a certbot site certbot has no certificate for yet
        self.names = []  # what the site serves, filled by check()
        self.held = None  # the names in the certificate; None when it was not read
        self.expiring = False  # within renew_days (read for every certificate, acted on for self-signed ones)
        self.lacks = []
        self.reason = None  # why a self-signed pair is (or would be) made; None when it is kept
        self.problem = None  # openssl's message when the certificate could not be read

    @property
    def self_signed(self):
        return self.source == SELF_SIGNED

    def result(self):
        return {"source": self.source, "certificate": self.certificate, "certificate_key": self.certificate_key,
                "lacks": list(self.lacks), "made": self.reason}

    def diff(self, days):
        """Content-free: what the certificate was, and what it becomes (a key is never shown)."""
        return {"before_header": self.certificate, "after_header": self.certificate,
                "before": "(none)\n" if self.reason == "missing" else "(%s)\n" % self.reason,
                "after": "(self-signed for %s, EC P-256, %d days; key %s, mode 0600)\n"
                         % (", ".join(self.names), days, self.certificate_key)}


class Certificates:
    """The sites' certificates: ``resolve`` (before the sites are rendered,
    no command), ``check`` (openssl reads), ``make`` (openssl writes)."""

    def __init__(self, runner, days, renew_days, live_dir=LETSENCRYPT_LIVE):
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise NginxProxyError("self_signed_days %r is not valid: expected a number of days, at least 1" % (days,))
        if isinstance(renew_days, bool) or not isinstance(renew_days, int) or renew_days < 0:
            raise NginxProxyError("self_signed_renew_days %r is not valid: expected a number of days, 0 or more"
                                  % (renew_days,))
        if renew_days >= days:
            raise NginxProxyError("self_signed_renew_days %d is not below self_signed_days %d: every run would make "
                                  "the certificates again" % (renew_days, days))
        self.runner = runner
        self.days = days
        self.renew_days = renew_days
        self.live_dir = live_dir
        self.by_domain = {}
        self.warnings = []
        self.openssl = None

    def live_pair(self, domain):
        base = os.path.join(self.live_dir, domain)
        return os.path.join(base, LIVE_CERTIFICATE), os.path.join(base, LIVE_KEY)

    def resolve(self, sites):
        """The sites as they are served: a copy of each, with certbot's pair in
        place of the site's own once certbot has one. Looks at files only; the
        values themselves are checked by the renderer afterwards."""
        resolved = []
        for site in sites:
            site = dict(site)
            domain = site.get("domain")
            if not isinstance(domain, str):
                resolved.append(site)  # refused by the renderer, with the value named
                continue
            domain = domain.lower()
            source = SELF_SIGNED if site.get("self_signed") else GIVEN
            waiting = False
            if site.get("certbot"):
                certificate, key = self.live_pair(domain)
                if os.path.isfile(certificate) and os.path.isfile(key):
                    site.update(certificate=certificate, certificate_key=key)
                    source = CERTBOT
                else:
                    waiting = True
            self.by_domain[domain] = SiteCertificate(domain, source, site.get("certificate"),
                                                     site.get("certificate_key"), waiting)
            resolved.append(site)
        return resolved

    def entries(self):
        return [self.by_domain[domain] for domain in sorted(self.by_domain)]

    def check(self, sites, names_of):
        """Read every site's certificate (``sites`` checked, ``names_of(site)``
        every name it serves) and decide which self-signed pairs to make."""
        self.openssl = self.runner.which("openssl")
        for site in sites:
            entry = self.by_domain[site["domain"]]
            entry.certificate, entry.certificate_key = site["certificate"], site["certificate_key"]
            entry.names = names_of(site)
            if not os.path.exists(entry.certificate):
                entry.problem = "missing"
            elif self.openssl is None:
                entry.problem = "not read (openssl is not installed)"
            else:
                self._read(entry)
            if entry.held is not None:
                entry.lacks = [name for name in entry.names if not any(covers(held, name) for held in entry.held)]
            if entry.self_signed:
                self._decide(entry)
            elif entry.problem:
                self.warnings.append("site %s: its certificate %s could not be read (%s)" % (
                    entry.domain, entry.certificate, entry.problem))
            elif entry.lacks and entry.source == GIVEN:
                self.warnings.append("site %s: its certificate %s does not cover %s (it holds %s); clients refuse it "
                                     "for those names" % (entry.domain, entry.certificate, ", ".join(entry.lacks),
                                                          ", ".join(entry.held) or "no DNS name"))

    def _read(self, entry):
        seconds = self.renew_days * SECONDS_A_DAY
        rc, out, err = self.runner.run([self.openssl, "x509", "-noout", "-in", entry.certificate, "-enddate",
                                        "-ext", "subjectAltName", "-checkend", str(seconds)])
        if "notAfter=" not in (out or ""):
            lines = [line.strip() for line in ((err or "") + "\n" + (out or "")).splitlines() if line.strip()]
            entry.problem = "unreadable: %s" % (lines[0] if lines else "openssl exited with %d" % rc)
            return
        entry.held = [name.lower() for name in re.findall(r"DNS:([^,\s]+)", out)]
        entry.expiring = rc != 0

    def _decide(self, entry):
        if entry.problem == "missing":
            entry.reason = "missing"
        elif not os.path.exists(entry.certificate_key):
            entry.reason = "its key %s is missing" % entry.certificate_key
        elif entry.problem:
            entry.reason = entry.problem
        elif entry.expiring:
            entry.reason = "expires within %d days" % self.renew_days
        elif entry.lacks:
            entry.reason = "does not cover %s" % ", ".join(entry.lacks)

    def to_make(self):
        return [entry for entry in self.entries() if entry.reason]

    def directories(self):
        """The directories of the self-signed pairs served (made and kept at 0700)."""
        found = []
        for entry in self.entries():
            if entry.self_signed:
                for path in (entry.certificate, entry.certificate_key):
                    directory = os.path.dirname(path)
                    if directory not in found:
                        found.append(directory)
        return found

    def certbot(self):
        """What certbot has to do: obtain a certificate for the waiting sites, expand those that miss a name."""
        entries = self.entries()
        return {"waiting": [entry.domain for entry in entries if entry.waiting],
                "expand": [entry.domain for entry in entries if entry.source == CERTBOT and entry.lacks]}

    def make(self, entry):
        """Make the self-signed pair of ``entry`` as ``KEY.new`` and ``CERTIFICATE.new``;
        returns their paths. On failure nothing of it is left and the old pair is untouched."""
        if self.openssl is None:
            raise NginxProxyError("openssl is not installed on this host: it is needed to make the self-signed "
                                  "certificate of site %s" % entry.domain)
        key_new, certificate_new = entry.certificate_key + NEW_SUFFIX, entry.certificate + NEW_SUFFIX
        argv = [self.openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", str(self.days), "-subj", subject(entry.domain),
                "-addext", "subjectAltName=" + ",".join("DNS:" + name for name in entry.names),
                "-keyout", key_new, "-out", certificate_new]
        made = []
        try:
            for path in (key_new, certificate_new):
                if os.path.islink(path) or os.path.isfile(path):
                    os.unlink(path)  # left by a run that stopped here
            # The key file exists with its final mode before openssl writes a byte of the key.
            os.close(os.open(key_new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE))
            made.append(key_new)
            made.append(certificate_new)
            rc, out, err = self.runner.run(argv)
            if rc != 0:
                raise NginxProxyError((err or out or "openssl exited with %d" % rc).strip())
            os.chmod(key_new, KEY_MODE)
            os.chmod(certificate_new, CERTIFICATE_MODE)
        except (NginxProxyError, IOError, OSError) as error:
            for path in made:
                if os.path.islink(path) or os.path.isfile(path):
                    os.unlink(path)
            raise NginxProxyError("could not make the self-signed certificate of site %s (%s): %s; the previous "
                                  "files are in place" % (entry.domain, entry.reason, error))
        return key_new, certificate_new
