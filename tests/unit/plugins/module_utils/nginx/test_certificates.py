# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sites' certificates (read, and self-signed ones made) and the nginx
service, against fake openssl and systemctl commands (conftest.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _certificates
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _service
from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError


class Runner:
    """which/run over fake commands by name."""

    def __init__(self, **commands):
        self.commands = commands

    def which(self, name):
        return "/usr/bin/%s" % name if name in self.commands else None

    def run(self, argv):
        return self.commands[os.path.basename(argv[0])].run(argv)


def site(tmp_path, domain="docs.example.com", **extra):
    result = {"domain": domain, "upstreams": ["10.0.0.5:4001"],
              "certificate": str(tmp_path / "ssl" / (domain + ".crt")),
              "certificate_key": str(tmp_path / "ssl" / (domain + ".key"))}
    result.update(extra)
    return result


def checked(certificates, sites):
    """resolve and check, as the module does (the renderer checks the values in between)."""
    resolved = [_config.check_site(item) for item in certificates.resolve(sites)]
    certificates.check(resolved, _config.site_names)
    return dict((entry.domain, entry) for entry in certificates.entries())


def test_covers_exact_names_and_one_wildcard_label():
    assert _certificates.covers("docs.example.com", "DOCS.example.com")
    assert _certificates.covers("*.example.com", "docs.example.com")
    assert not _certificates.covers("*.example.com", "a.docs.example.com")
    assert not _certificates.covers("*.example.com", "example.com")
    assert _certificates.covers("*.example.com", "*.example.com")


def test_a_missing_self_signed_certificate_is_to_be_made_without_running_openssl(tmp_path, openssl):
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entries = checked(certificates, [site(tmp_path, self_signed=True)])
    assert entries["docs.example.com"].reason == "missing" and openssl.calls == []
    assert certificates.directories() == [str(tmp_path / "ssl")]


@pytest.mark.parametrize("days_left, names, reason", [
    (300, ["docs.example.com", "www.docs.example.com"], None),
    (10, ["docs.example.com", "www.docs.example.com"], "expires within 30 days"),
    (300, ["docs.example.com"], "does not cover www.docs.example.com"),
])
def test_a_self_signed_certificate_is_made_again_when_expiring_or_missing_a_name(
        tmp_path, openssl, make_certificate, days_left, names, reason):
    make_certificate(tmp_path / "ssl" / "docs.example.com.crt", names, days_left)
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entry = checked(certificates, [site(tmp_path, self_signed=True, aliases=["www.docs.example.com"])])[
        "docs.example.com"]
    assert entry.reason == reason
    # One openssl command per certificate, with the renewal window in seconds.
    assert len(openssl.calls) == 1 and openssl.calls[0][-2:] == ["-checkend", str(30 * 86400)]


def test_a_self_signed_pair_without_its_key_or_unreadable_is_made_again(tmp_path, openssl, make_certificate):
    make_certificate(tmp_path / "ssl" / "docs.example.com.crt", ["docs.example.com"], key=False)
    (tmp_path / "ssl" / "wiki.example.com.crt").write_text("garbage\n")
    (tmp_path / "ssl" / "wiki.example.com.key").write_text("FAKE KEY\n")
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entries = checked(certificates, [site(tmp_path, self_signed=True),
                                     site(tmp_path, "wiki.example.com", self_signed=True)])
    assert entries["docs.example.com"].reason.startswith("its key ") and entries["docs.example.com"].reason.endswith(
        "is missing")
    assert entries["wiki.example.com"].reason == "unreadable: Unable to load certificate"


def test_a_given_certificate_is_never_made_and_a_missing_name_is_a_warning(tmp_path, openssl, make_certificate):
    make_certificate(tmp_path / "ssl" / "docs.example.com.crt", ["docs.example.com"], days_left=1)
    make_certificate(tmp_path / "ssl" / "wild.crt", ["*.example.com"])
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entries = checked(certificates, [
        site(tmp_path, aliases=["www.docs.example.com"]),
        site(tmp_path, "api.example.com", certificate=str(tmp_path / "ssl" / "wild.crt"),
             certificate_key=str(tmp_path / "ssl" / "wild.key"))])
    assert certificates.to_make() == []
    assert entries["docs.example.com"].lacks == ["www.docs.example.com"] and entries["api.example.com"].lacks == []
    assert certificates.warnings == ["site docs.example.com: its certificate %s does not cover www.docs.example.com "
                                     "(it holds docs.example.com); clients refuse it for those names"
                                     % (tmp_path / "ssl" / "docs.example.com.crt")]


def test_certbot_sites_wait_until_certbot_has_a_certificate_then_serve_it(tmp_path, openssl, make_certificate):
    live = tmp_path / "live"
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30, live_dir=str(live))
    sites = [site(tmp_path, "shop.example.com", self_signed=True, certbot=True, redirects=["www.shop.example.com"]),
             site(tmp_path, "blog.example.com", self_signed=True, certbot=True)]
    make_certificate(live / "blog.example.com" / "fullchain.pem", ["blog.example.com"], days_left=5)
    resolved = certificates.resolve(sites)
    # Served from certbot's live directory once it has the pair; the other keeps its self-signed one.
    assert resolved[1]["certificate"] == str(live / "blog.example.com" / "fullchain.pem")
    assert resolved[1]["certificate_key"] == str(live / "blog.example.com" / "privkey.pem")
    assert resolved[0]["certificate"] == sites[0]["certificate"]
    certificates.check([_config.check_site(item) for item in resolved], _config.site_names)
    entries = dict((entry.domain, entry) for entry in certificates.entries())
    assert entries["shop.example.com"].reason == "missing"  # made self-signed while it waits
    assert entries["blog.example.com"].reason is None  # certbot renews its own: expiry is not looked at
    assert certificates.certbot() == {"waiting": ["shop.example.com"], "expand": []}
    assert certificates.directories() == [str(tmp_path / "ssl")]


def test_a_certbot_certificate_missing_a_name_is_to_be_expanded(tmp_path, openssl, make_certificate):
    live = tmp_path / "live"
    make_certificate(live / "shop.example.com" / "fullchain.pem", ["shop.example.com"])
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30, live_dir=str(live))
    entries = checked(certificates, [site(tmp_path, "shop.example.com", self_signed=True, certbot=True,
                                          aliases=["store.example.com"])])
    assert entries["shop.example.com"].lacks == ["store.example.com"] and entries["shop.example.com"].reason is None
    assert certificates.certbot() == {"waiting": [], "expand": ["shop.example.com"]}
    assert certificates.warnings == []


def test_make_writes_the_new_pair_next_to_the_old_one_key_private(tmp_path, openssl):
    certificates = _certificates.Certificates(Runner(openssl=openssl), 90, 30)
    entry = checked(certificates, [site(tmp_path, self_signed=True, aliases=["www.docs.example.com"])])[
        "docs.example.com"]
    (tmp_path / "ssl").mkdir()
    key, certificate = certificates.make(entry)
    assert (key, certificate) == (entry.certificate_key + ".new", entry.certificate + ".new")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and stat.S_IMODE(os.stat(certificate).st_mode) == 0o644
    argv = openssl.calls[-1]
    assert argv[argv.index("-days") + 1] == "90" and argv[argv.index("-subj") + 1] == "/CN=docs.example.com"
    assert argv[argv.index("-addext") + 1] == "subjectAltName=DNS:docs.example.com,DNS:www.docs.example.com"
    assert not os.path.exists(entry.certificate)  # moving in place is the caller's


def test_a_long_domain_goes_in_subjectaltname_only(tmp_path, openssl):
    domain = "%s.%s.example.com" % ("a" * 60, "b" * 10)
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entry = checked(certificates, [site(tmp_path, domain, self_signed=True)])[domain]
    (tmp_path / "ssl").mkdir()
    certificates.make(entry)
    argv = openssl.calls[-1]
    assert argv[argv.index("-subj") + 1] == "/O=portcullis.ports self-signed"
    assert argv[argv.index("-addext") + 1] == "subjectAltName=DNS:" + domain


def test_a_failed_make_leaves_no_stray_file_and_the_old_pair(tmp_path, make_certificate, fakes):
    # The Molecule scenario's fault: something in the way of the new certificate, openssl fails after the key.
    openssl = fakes.openssl(fail_req=lambda argv: (1, "", "%s: Is a directory\n" % argv[argv.index("-out") + 1]))
    make_certificate(tmp_path / "ssl" / "docs.example.com.crt", ["docs.example.com"], days_left=1)
    before = dict((name, (tmp_path / "ssl" / name).read_text()) for name in os.listdir(str(tmp_path / "ssl")))
    certificates = _certificates.Certificates(Runner(openssl=openssl), 365, 30)
    entry = checked(certificates, [site(tmp_path, self_signed=True)])["docs.example.com"]
    with pytest.raises(NginxProxyError, match="could not make the self-signed certificate of site docs.example.com "
                                              r"\(expires within 30 days\): .*Is a directory"):
        certificates.make(entry)
    after = dict((name, (tmp_path / "ssl" / name).read_text()) for name in os.listdir(str(tmp_path / "ssl")))
    assert after == before


def test_days_are_checked(tmp_path):
    with pytest.raises(NginxProxyError, match="self_signed_renew_days 30 is not below self_signed_days 30"):
        _certificates.Certificates(Runner(), 30, 30)
    with pytest.raises(NginxProxyError, match="self_signed_days 0 is not valid"):
        _certificates.Certificates(Runner(), 0, 0)


def test_without_openssl_self_signed_ones_are_due_and_making_fails_clearly(tmp_path, make_certificate):
    make_certificate(tmp_path / "ssl" / "docs.example.com.crt", ["docs.example.com"])
    certificates = _certificates.Certificates(Runner(), 365, 30)
    entry = checked(certificates, [site(tmp_path, self_signed=True)])["docs.example.com"]
    assert entry.reason == "not read (openssl is not installed)"
    with pytest.raises(NginxProxyError, match="openssl is not installed"):
        certificates.make(entry)


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl here")
def test_the_commands_work_with_the_real_openssl(tmp_path):
    class Real:
        def which(self, name):
            return shutil.which(name)

        def run(self, argv):
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                  check=False)
            return done.returncode, done.stdout, done.stderr

    certificates = _certificates.Certificates(Real(), 365, 30)
    sites = [site(tmp_path, self_signed=True, aliases=["www.docs.example.com"])]
    entry = checked(certificates, sites)["docs.example.com"]
    (tmp_path / "ssl").mkdir()
    key, certificate = certificates.make(entry)
    os.rename(key, entry.certificate_key)
    os.rename(certificate, entry.certificate)
    again = _certificates.Certificates(Real(), 365, 30)
    entry = checked(again, sites)["docs.example.com"]
    assert entry.held == ["docs.example.com", "www.docs.example.com"] and entry.reason is None
    soon = _certificates.Certificates(Real(), 400, 366)
    assert checked(soon, sites)["docs.example.com"].reason == "expires within 366 days"


def test_the_service_state_in_one_systemctl_show(tmp_path, systemd):
    service = _service.Service(Runner(systemctl=systemd), "nginx", systemd_dir=str(tmp_path))
    assert service.status() == (True, True)
    systemd.active, systemd.enabled = "failed", "disabled"
    assert service.status() == (False, False)
    service.start()
    service.enable()
    assert systemd.actions == ["start", "enable"]


def test_a_failed_reload_names_the_command(tmp_path, fakes):
    service = _service.Service(Runner(systemctl=fakes.systemd(fail=("reload",))), "nginx", systemd_dir=str(tmp_path))
    with pytest.raises(NginxProxyError, match="systemctl reload nginx failed: Job for nginx.service failed"):
        service.reload()


def test_without_systemd_the_init_script_keeps_it_running(tmp_path):
    class Script:
        def __init__(self):
            self.calls = []

        def run(self, argv):
            self.calls.append(argv[1:])
            return (3 if argv[2] == "status" else 0), "", ""

    script = Script()
    service = _service.Service(Runner(service=script), "nginx", systemd_dir=str(tmp_path / "no-systemd"))
    assert service.status() == (False, None) and "not checked" in service.warnings[0]
    service.start()
    assert script.calls == [["nginx", "status"], ["nginx", "start"]]
    with pytest.raises(NginxProxyError, match="neither systemd"):
        _service.Service(Runner(), "nginx", systemd_dir=str(tmp_path / "no-systemd"))
