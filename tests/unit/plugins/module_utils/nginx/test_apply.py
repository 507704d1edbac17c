# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module's host steps against a fake nginx whose "nginx -t" reads the
files the step wrote, in a temporary directory, with fake openssl and
systemctl commands (conftest.py) where a test gives them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _apply as _nginx
from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError


class FakeNginx:
    """nginx (its calls in ``calls``), and openssl and systemctl when given."""

    def __init__(self, version="1.22.1", accept=lambda files: True, openssl=None, systemd=None, mtail=True):
        self.version = version
        self.accept = accept
        self.calls = []
        self.seen_during_test = None
        self.others = {"openssl": openssl, "systemctl": systemd, "mtail": mtail}

    def which(self, name):
        if name == "nginx":
            return "/usr/sbin/nginx" if self.version else None
        return "/usr/bin/%s" % name if self.others.get(name) else None

    def run(self, argv):
        if argv[0] != "/usr/sbin/nginx":
            return self.others[os.path.basename(argv[0])].run(argv)
        self.calls.append(argv[1:])
        if argv[1:] == ["-v"]:
            return 0, "", "nginx version: nginx/%s\n" % self.version
        if argv[1:2] == ["-t"]:
            self.seen_during_test = self.snapshot()
            if self.accept(self.seen_during_test):
                return 0, "", "nginx: configuration file test is successful\n"
            return 1, "", "nginx: [emerg] cannot load certificate \"/missing.crt\"\n"
        raise AssertionError("unexpected command %r" % argv)

    def snapshot(self):
        return self.root_files()

    def root_files(self):
        found = {}
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                path = os.path.join(directory, name)
                found[os.path.relpath(path, self.root)] = open(path).read()
        for directory, dirs, _files in os.walk(self.root):
            for name in dirs:
                path = os.path.join(directory, name)
                if os.path.islink(path):
                    found[os.path.relpath(path, self.root)] = "-> " + os.readlink(path)
        return found


SITE = {"domain": "docs.example.com", "upstreams": ["10.0.0.5:4001"], "certificate": "/etc/ssl/d.crt",
        "certificate_key": "/etc/ssl/d.key"}


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "sites-available").mkdir()
    (tmp_path / "sites-enabled").mkdir()
    (tmp_path / "sites-available" / "default").write_text("server { listen 80 default_server; }\n")
    os.symlink(str(tmp_path / "sites-available" / "default"), str(tmp_path / "sites-enabled" / "default"))
    (tmp_path / "nginx.conf").write_text("# the distribution's\n")
    return tmp_path


def params(root, **overrides):
    result = {
        "sites": [dict(SITE)], "tls_profile": "intermediate", "hsts_max_age": 63072000, "health_path": "/nginx-health",
        "acme_root": str(root / "acme"), "health_root": str(root / "health"), "http2": True, "ipv6": "false",
        "config_path": str(root / "conf.d" / "portcullis-proxy.conf"), "replaces": [str(root / "sites-enabled" / "default")],
        "main_config": {"path": str(root / "nginx.conf"), "user": "www-data",
                        "http_includes": [str(root / "conf.d" / "*.conf"), str(root / "sites-enabled" / "*")]},
    }
    result.update(overrides)
    return result


def run(root, fake, check_mode=False, **overrides):
    fake.root = str(root)
    return _nginx.NginxProxy(fake, params(root, **overrides), state_dir=str(root / "state"),
                             certbot_live=str(root / "live"), systemd_dir=str(root)).run(check_mode)


def test_first_apply_writes_all_files_and_removes_the_default_site(layout):
    fake = FakeNginx()
    result = run(layout, fake)
    assert result["changed"] and result["nginx_version"] == "1.22.1"
    assert sorted(result["written"]) == sorted([str(layout / "conf.d" / "portcullis-proxy.conf"), str(layout / "nginx.conf"),
                                                str(layout / "health" / "nginx-health")])
    assert result["removed"] == [str(layout / "sites-enabled" / "default")]
    assert not os.path.lexists(str(layout / "sites-enabled" / "default"))
    # nginx -t saw the new files, and 1.22 gets the listen-parameter form of http2.
    assert "listen 443 ssl http2;" in fake.seen_during_test["conf.d/portcullis-proxy.conf"]
    assert (layout / "health" / "nginx-health").read_text() == "ok\n"
    assert oct(os.stat(str(layout / "conf.d" / "portcullis-proxy.conf")).st_mode & 0o777) == "0o644"


def test_second_apply_changes_nothing_and_runs_no_nginx_t(layout):
    run(layout, FakeNginx())
    fake = FakeNginx()
    result = run(layout, fake)
    assert not result["changed"] and result["diff"] == [] and fake.calls == [["-v"]]


def test_check_mode_reports_the_diff_and_touches_nothing(layout):
    before = FakeNginx()
    before.root = str(layout)
    files_before = before.root_files()
    fake = FakeNginx()
    result = run(layout, fake, check_mode=True)
    assert result["changed"] and not [call for call in fake.calls if call[:1] == ["-t"]]
    assert fake.root_files() == files_before
    # The role creates the ACME web root (and points certbot at it) from this, not from a default of its own.
    assert result["acme_root"] == str(layout / "acme")
    assert run(layout, FakeNginx(), check_mode=True, acme_root="")["acme_root"] is None
    headers = [item["after_header"] for item in result["diff"]]
    assert str(layout / "sites-enabled" / "default") + " (removed)" in headers
    assert any("server_name docs.example.com;" in item["after"] for item in result["diff"])


def test_refused_by_nginx_t_puts_every_file_back(layout):
    run(layout, FakeNginx())
    os.symlink(str(layout / "sites-available" / "default"), str(layout / "sites-enabled" / "default"))
    before = FakeNginx()
    before.root = str(layout)
    files_before = before.root_files()
    fake = FakeNginx(accept=lambda files: "missing" not in files["conf.d/portcullis-proxy.conf"])
    with pytest.raises(NginxProxyError) as error:
        run(layout, fake, sites=[dict(SITE, certificate="/missing.crt")])
    assert "nginx -t refused" in str(error.value) and "cannot load certificate" in str(error.value)
    assert "missing" in fake.seen_during_test["conf.d/portcullis-proxy.conf"]  # it was tested with the new file
    assert fake.root_files() == files_before  # and everything is back, the symlink included
    assert os.path.islink(str(layout / "sites-enabled" / "default"))


def test_first_apply_refused_removes_the_new_files(layout):
    with pytest.raises(NginxProxyError):
        run(layout, FakeNginx(accept=lambda files: False))
    assert not (layout / "conf.d" / "portcullis-proxy.conf").exists()
    assert not (layout / "health" / "nginx-health").exists()
    assert (layout / "nginx.conf").read_text() == "# the distribution's\n"


def test_newer_nginx_gets_http2_on(layout):
    fake = FakeNginx(version="1.26.3")
    run(layout, fake)
    assert "http2 on;" in (layout / "conf.d" / "portcullis-proxy.conf").read_text()


def test_config_path_outside_the_http_includes_is_refused_before_writing(layout):
    with pytest.raises(NginxProxyError, match="is not matched by any of main_config http_includes"):
        run(layout, FakeNginx(), config_path=str(layout / "elsewhere.conf"))
    assert not (layout / "elsewhere.conf").exists()


def test_bad_value_is_refused_before_any_command_or_write(layout):
    fake = FakeNginx()
    with pytest.raises(NginxProxyError, match="contains ';'"):
        run(layout, fake, sites=[dict(SITE, domain="docs.example.com;")])
    assert fake.calls == [["-v"]] and not (layout / "conf.d" / "portcullis-proxy.conf").exists()


def test_missing_nginx_fails_but_check_mode_renders_with_a_warning(layout):
    with pytest.raises(NginxProxyError, match="nginx is not installed"):
        run(layout, FakeNginx(version=None))
    fake = FakeNginx(version=None)
    fake.root = str(layout)
    step = _nginx.NginxProxy(fake, params(layout))
    result = step.run(True)
    assert result["changed"] and result["nginx_version"] is None
    assert "not installed yet" in step.warnings[0]


def test_nginx_t_tests_the_main_file_that_was_written(layout):
    fake = FakeNginx()
    run(layout, fake)
    assert ["-t", "-c", str(layout / "nginx.conf")] in fake.calls


def test_restore_puts_back_the_others_when_one_fails(layout, mocker):
    run(layout, FakeNginx())
    config = layout / "conf.d" / "portcullis-proxy.conf"
    before = config.read_text()
    real_restore = _nginx._Saved.restore

    def flaky(self):
        if self.path.endswith("nginx.conf"):
            raise OSError("disk full")
        real_restore(self)

    mocker.patch.object(_nginx._Saved, "restore", flaky)
    main_config = dict(params(layout)["main_config"], user="nginx")  # so nginx.conf is rewritten too
    with pytest.raises(NginxProxyError, match="could not put back: .*nginx.conf \\(disk full\\)"):
        run(layout, FakeNginx(accept=lambda files: False), sites=[dict(SITE, domain="other.example.com")],
            main_config=main_config)
    assert config.read_text() == before


def test_an_unreadable_file_stops_before_anything_is_written(layout, mocker):
    run(layout, FakeNginx())
    config = layout / "conf.d" / "portcullis-proxy.conf"
    before = config.read_text()
    real_open = open

    def refuse(path, *args, **kwargs):
        if str(path) == str(config) and args and args[0] == "rb":
            raise PermissionError("denied")
        return real_open(path, *args, **kwargs)

    mocker.patch("builtins.open", refuse)
    with pytest.raises(PermissionError):
        run(layout, FakeNginx(), sites=[dict(SITE, domain="other.example.com")])
    mocker.stopall()
    assert config.read_text() == before


def test_a_run_stopped_before_nginx_t_is_proven_by_the_next_one(layout):
    # Tried as a new user would: the run was killed after writing; the next one compared contents, said
    # "changed: false", and the next restart of nginx failed on a configuration nobody had tested.
    run(layout, FakeNginx())
    os.unlink(str(layout / "state" / _nginx.MARKER_NAME))  # as if nginx -t never ran on these files
    refusing = FakeNginx(accept=lambda files: False)
    with pytest.raises(NginxProxyError, match="nginx -t was never run on it .* and now refuses it"):
        run(layout, refusing)
    accepting = FakeNginx()
    result = run(layout, accepting)
    assert result["changed"] and result["proven"] and result["written"] == []
    assert ["-t", "-c", str(layout / "nginx.conf")] in accepting.calls
    again = FakeNginx()
    assert not run(layout, again)["changed"] and again.calls == [["-v"]]


def test_check_mode_reports_an_unproven_configuration(layout):
    run(layout, FakeNginx())
    os.unlink(str(layout / "state" / _nginx.MARKER_NAME))
    fake = FakeNginx()
    result = run(layout, fake, check_mode=True)
    assert result["changed"] and result["proven"] and ["-t"] not in [call[:1] for call in fake.calls]


def test_the_diff_never_shows_a_file_that_is_not_world_readable(layout):
    # Tried as a new user would: --diff printed the content of a 0600 file the module replaced.
    secret = layout / "sites-available" / "secret"
    secret.write_text("server { ssl_password_file /etc/secret; }\n")
    os.chmod(str(secret), 0o600)
    os.symlink(str(secret), str(layout / "sites-enabled" / "secret"))
    result = run(layout, FakeNginx(), check_mode=True, replaces=[str(layout / "sites-enabled" / "secret")])
    removed = [item for item in result["diff"] if item["before_header"].endswith("secret")][0]
    assert removed["before"] == _nginx.HIDDEN and "ssl_password_file" not in str(result["diff"])


def test_the_diff_hides_the_old_content_of_a_private_config_file(layout):
    config = layout / "conf.d" / "portcullis-proxy.conf"
    config.write_text("# token 5f1d-secret\n")
    os.chmod(str(config), 0o600)
    result = run(layout, FakeNginx(), check_mode=True)
    own = [item for item in result["diff"] if item["before_header"] == str(config)][0]
    assert own["before"] == _nginx.HIDDEN and "5f1d-secret" not in str(result["diff"])
    assert "server_name docs.example.com;" in own["after"]  # the new file is 0644: shown


def test_two_configurations_on_one_host_each_keep_their_proof(layout):
    # Two uses of the module (two config_paths) must not overwrite each other's validation record.
    other = dict(SITE, domain="wiki.example.com")
    first = dict(config_path=str(layout / "conf.d" / "a.conf"), main_config=None, health_path=None)
    second = dict(config_path=str(layout / "conf.d" / "b.conf"), main_config=None, health_path=None, sites=[other])
    run(layout, FakeNginx(), **first)
    run(layout, FakeNginx(), **second)
    assert [run(layout, FakeNginx(), **first)["changed"], run(layout, FakeNginx(), **second)["changed"]] == [False, False]


def test_a_bucket_size_refusal_says_what_to_change(layout):
    def refuse(files):
        return False

    fake = FakeNginx(accept=refuse)
    fake_run = fake.run

    def run_with_bucket_message(argv):
        if argv[1:2] == ["-t"]:
            fake.calls.append(argv[1:])
            return 1, "", ("nginx: [emerg] could not build server_names_hash, you should increase "
                           "server_names_hash_bucket_size: 64\n")
        return fake_run(argv)

    fake.run = run_with_bucket_message
    with pytest.raises(NginxProxyError, match="let the role write nginx.conf"):
        run(layout, fake, main_config=None)


# One round trip: certificates, directories, configuration, nginx -t, reload, the service kept running.

def self_signed(root, domain="docs.example.com", **extra):
    site = dict(SITE, domain=domain, certificate=str(root / "ssl" / (domain + ".crt")),
                certificate_key=str(root / "ssl" / (domain + ".key")), self_signed=True)
    site.update(extra)
    return site


def full(layout, **overrides):
    """Parameters of a run with a self-signed site and the service."""
    values = dict(sites=[self_signed(layout)], service="nginx")
    values.update(overrides)
    return values


def test_a_first_run_makes_the_directories_and_the_pair_writes_proves_and_reloads(layout, openssl, systemd):
    fake = FakeNginx(openssl=openssl, systemd=systemd)
    result = run(layout, fake, **full(layout))
    assert result["changed"] and result["made"] == [str(layout / "ssl" / "docs.example.com.crt")]
    assert result["certificates"]["docs.example.com"]["made"] == "missing"
    assert sorted(result["directories"]) == sorted([str(layout / "acme"), str(layout / "ssl")])
    assert oct(os.stat(str(layout / "ssl")).st_mode & 0o777) == "0o700"
    assert oct(os.stat(str(layout / "acme")).st_mode & 0o777) == "0o755"
    assert oct(os.stat(str(layout / "ssl" / "docs.example.com.key")).st_mode & 0o777) == "0o600"
    # nginx -t saw the new pair in place, and nginx was reloaded only after it accepted.
    assert fake.seen_during_test["ssl/docs.example.com.crt"].startswith("FAKE CERTIFICATE")
    assert not [name for name in os.listdir(str(layout / "ssl")) if name.endswith(".new")]
    assert systemd.actions == ["reload"] and result["service"] == {"name": "nginx", "actions": ["reload"]}
    assert result["certbot"] == {"waiting": [], "expand": []}


def test_an_unchanged_run_reads_and_changes_nothing(layout, openssl, systemd):
    run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    systemd.actions = []
    openssl.calls = []
    fake = FakeNginx(openssl=openssl, systemd=systemd)
    result = run(layout, fake, **full(layout))
    assert not result["changed"] and result["diff"] == [] and result["made"] == [] and result["directories"] == []
    assert fake.calls == [["-v"]] and systemd.actions == [] and result["service"]["actions"] == []
    assert [call[1] for call in openssl.calls] == ["x509"]  # read, not made


def test_check_mode_reports_everything_and_changes_nothing(layout, openssl, systemd):
    before = FakeNginx()
    before.root = str(layout)
    files_before = before.root_files()
    systemd.active, systemd.enabled = "inactive", "disabled"
    fake = FakeNginx(openssl=openssl, systemd=systemd)
    result = run(layout, fake, check_mode=True, **full(layout))
    assert result["changed"] and result["made"] == [str(layout / "ssl" / "docs.example.com.crt")]
    assert sorted(result["directories"]) == sorted([str(layout / "acme"), str(layout / "ssl")])
    assert result["service"]["actions"] == ["start", "enable"]
    assert fake.root_files() == files_before and not (layout / "ssl").exists() and not (layout / "acme").exists()
    assert openssl.calls == [] and systemd.actions == [] and ["-t"] not in [call[:1] for call in fake.calls]
    headers = [item["before_header"] for item in result["diff"]]
    assert str(layout / "ssl" / "docs.example.com.crt") in headers and "service nginx" in headers
    assert str(layout / "ssl" / "docs.example.com.key") not in headers  # a key is never in the diff


def test_a_refused_nginx_t_puts_back_the_old_pair_and_files_and_does_not_reload(
        layout, openssl, systemd, make_certificate):
    run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    make_certificate(layout / "ssl" / "docs.example.com.crt", ["docs.example.com"], days_left=3)
    os.chmod(str(layout / "ssl" / "docs.example.com.key"), 0o640)
    before = FakeNginx()
    before.root = str(layout)
    files_before = before.root_files()
    systemd.actions = []
    fake = FakeNginx(accept=lambda files: False, openssl=openssl, systemd=systemd)
    with pytest.raises(NginxProxyError, match="nginx -t refused"):
        run(layout, fake, **full(layout, sites=[self_signed(layout, aliases=["www.example.com"])]))
    # It was tested with the new pair and file, and everything is back, with no stray .new file.
    assert "www.example.com" in fake.seen_during_test["ssl/docs.example.com.crt"]
    assert fake.root_files() == files_before and systemd.actions == []
    assert oct(os.stat(str(layout / "ssl" / "docs.example.com.key")).st_mode & 0o777) == "0o640"  # as it was


def test_a_failed_generation_changes_no_file(layout, fakes, systemd, make_certificate):
    openssl = fakes.openssl(fail_req=lambda argv: (1, "", "req: cannot write %s\n" % argv[argv.index("-out") + 1]))
    run(layout, FakeNginx(openssl=fakes.openssl(), systemd=systemd), **full(layout))
    make_certificate(layout / "ssl" / "docs.example.com.crt", ["docs.example.com"], days_left=3)
    before = FakeNginx()
    before.root = str(layout)
    files_before = before.root_files()
    fake = FakeNginx(openssl=openssl, systemd=systemd)
    with pytest.raises(NginxProxyError, match="could not make the self-signed certificate of site docs.example.com"):
        run(layout, fake, **full(layout, sites=[self_signed(layout, aliases=["www.example.com"])]))
    assert fake.root_files() == files_before and ["-t"] not in [call[:1] for call in fake.calls]


def test_an_expiring_pair_alone_is_proven_and_reloaded(layout, openssl, systemd, make_certificate):
    run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    make_certificate(layout / "ssl" / "docs.example.com.crt", ["docs.example.com"], days_left=29)
    systemd.actions = []
    fake = FakeNginx(openssl=openssl, systemd=systemd)
    result = run(layout, fake, **full(layout))
    assert result["changed"] and result["written"] == [] and result["certificates"]["docs.example.com"]["made"] == \
        "expires within 30 days"
    assert ["-t", "-c", str(layout / "nginx.conf")] in fake.calls and systemd.actions == ["reload"]
    assert not run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))["changed"]


def test_a_stopped_service_is_started_not_reloaded_and_enabled(layout, openssl, systemd):
    run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    systemd.active, systemd.enabled, systemd.actions = "failed", "disabled", []
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    assert result["changed"] and systemd.actions == ["start", "enable"]


def test_a_failed_reload_is_retried_by_the_next_run(layout, openssl, fakes):
    refusing = fakes.systemd(fail=("reload",))
    with pytest.raises(NginxProxyError, match="systemctl reload nginx failed"):
        run(layout, FakeNginx(openssl=openssl, systemd=refusing), **full(layout))
    systemd = fakes.systemd()
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout))
    assert result["changed"] and result["proven"] and systemd.actions == ["reload"]


def test_certbot_sites_wait_then_switch_to_certbots_certificate(layout, openssl, systemd, make_certificate):
    shop = self_signed(layout, "shop.example.com", certbot=True)
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout, sites=[shop]))
    assert result["certbot"] == {"waiting": ["shop.example.com"], "expand": []}
    assert "ssl/shop.example.com.crt" in (layout / "conf.d" / "portcullis-proxy.conf").read_text().replace(
        str(layout) + "/", "")
    # certbot obtained one (the role runs it over the ACME web root the module made): the module serves it.
    live = layout / "live" / "shop.example.com"
    make_certificate(live / "fullchain.pem", ["shop.example.com"])
    systemd.actions = []
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout, sites=[shop]))
    assert result["changed"] and result["certbot"] == {"waiting": [], "expand": []}
    assert result["certificates"]["shop.example.com"]["source"] == "certbot"
    assert "ssl_certificate %s;" % (live / "fullchain.pem") in (layout / "conf.d" / "portcullis-proxy.conf").read_text()
    assert systemd.actions == ["reload"] and result["directories"] == []
    # An alias added later: the certificate misses it, and certbot is to expand it.
    aliased = dict(shop, aliases=["store.example.com"])
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), **full(layout, sites=[aliased]))
    assert result["certbot"] == {"waiting": [], "expand": ["shop.example.com"]}
    assert result["certificates"]["shop.example.com"]["lacks"] == ["store.example.com"]


def test_an_acme_root_with_another_mode_gets_its_mode(layout, openssl, systemd):
    (layout / "acme").mkdir()
    os.chmod(str(layout / "acme"), 0o700)
    result = run(layout, FakeNginx(openssl=openssl, systemd=systemd), check_mode=True)
    assert result["directories"] == [str(layout / "acme")]
    assert [item["before"] for item in result["diff"] if item["before_header"] == str(layout / "acme")] == [
        "(directory, mode 0700)\n"]
    run(layout, FakeNginx(openssl=openssl, systemd=systemd))
    assert oct(os.stat(str(layout / "acme")).st_mode & 0o777) == "0o755"


# With the edge metrics off, the module reports what of mtail's set-up is the collection's and still there (the
# role removes it); it changes none of it, and a host with none of it costs no command.

MARKED_PROGRAM = "# Managed by portcullis.ports (nginx_proxy): the edge log of this proxy as metrics. Do not edit.\n"
MARKED_ENVIRONMENT = "# Managed by portcullis.ports (nginx_proxy, edge metrics). Read by mtail.service.\nPORT=3903\n"


def exporter(root):
    return {"program": str(root / "mtail" / "portcullis-edge.mtail"), "environment": str(root / "default-mtail"),
            "service": "mtail.service"}


def mtail_files(root, program=MARKED_PROGRAM, environment=MARKED_ENVIRONMENT):
    (root / "mtail").mkdir()
    for path, text in ((exporter(root)["program"], program), (exporter(root)["environment"], environment)):
        if text is not None:
            with open(path, "w") as handle:
                handle.write(text)


def test_metrics_off_reports_the_collections_mtail_files_and_service_and_changes_none(layout, openssl, fakes):
    mtail_files(layout)
    run(layout, FakeNginx(openssl=openssl))
    mtail = fakes.systemd(active="active", enabled="enabled")
    for check_mode in (True, False):
        result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), check_mode=check_mode,
                     edge_exporter=exporter(layout))
        assert result["edge_exporter"] == {
            "files": [exporter(layout)["program"], exporter(layout)["environment"]],
            "service": {"name": "mtail.service", "running": True, "enabled": True}}
        # Reported, not done: the files stay, the service is untouched, and the module changed nothing of its own.
        assert not result["changed"] and mtail.actions == [] and mtail.shown[-1] == "mtail.service"
        assert (layout / "default-mtail").read_text() == MARKED_ENVIRONMENT
        assert (layout / "mtail" / "portcullis-edge.mtail").read_text() == MARKED_PROGRAM


def test_an_mtail_configured_otherwise_is_not_the_collections(layout, openssl, fakes):
    # The user's own /etc/default/mtail: the service is theirs, not even read; only the marked program is ours.
    mtail_files(layout, environment="# Set to 1 to start Mtail at boot.\nENABLED=1\nPORT=3903\n")
    mtail = fakes.systemd()
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout))
    assert result["edge_exporter"] == {"files": [exporter(layout)["program"]], "service": None}
    assert mtail.shown == [] and mtail.actions == []
    # A program of the same name without the marker is not ours either.
    (layout / "mtail" / "portcullis-edge.mtail").write_text("counter lines\n/$/ {\n  lines++\n}\n")
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout))
    assert result["edge_exporter"] == {"files": [], "service": None}


def test_nothing_of_ours_costs_no_command_and_the_metrics_on_keep_their_own_program(layout, openssl, fakes):
    mtail = fakes.systemd()
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout))
    assert result["edge_exporter"] == {"files": [], "service": None} and mtail.shown == []
    # With the edge log (metrics on) the role's program and environment file are wanted: nothing is reported for
    # removal, and the service is not looked at.
    mtail_files(layout)
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout),
                 edge_log=str(layout / "edge.log"))
    assert result["edge_exporter"] == {"files": [], "service": None} and mtail.shown == []


def test_the_edge_metrics_without_mtail_fail_before_any_change(layout, openssl, fakes):
    # Tried as a new user would: portcullis_nginx_edge_packages: [] on a host without mtail wrote nginx's
    # configuration, then failed in the role's next step with "No such file or directory: b'mtail'".
    with pytest.raises(NginxProxyError, match="the edge metrics need mtail, which is not installed here"):
        run(layout, FakeNginx(openssl=openssl, mtail=False), edge_exporter=exporter(layout),
            edge_log=str(layout / "logs" / "edge.log"))
    assert not (layout / "logs").exists() and not os.listdir(str(layout / "conf.d"))
    # In check mode the packages role has only said it would install it.
    assert run(layout, FakeNginx(openssl=openssl, mtail=False), check_mode=True, edge_exporter=exporter(layout),
               edge_log=str(layout / "logs" / "edge.log"))["changed"]


# Issue 29, fault 2: mtail loads every program of its directory, so a program of ours left under an older path would
# count every request twice; turned off, it stayed too.

def test_an_older_program_of_ours_is_reported_for_removal_with_the_metrics_on_and_off(layout, openssl, fakes):
    mtail_files(layout)
    older = layout / "mtail" / "renamed-before.mtail"
    older.write_text(MARKED_PROGRAM)
    (layout / "mtail" / "users.mtail").write_text("counter lines\n/$/ {\n  lines++\n}\n")
    # Marked but not a program mtail loads (not NAME.mtail): not listed.
    (layout / "mtail" / "notes.txt").write_text(MARKED_PROGRAM)
    os.symlink(str(older), str(layout / "mtail" / "link.mtail"))
    mtail = fakes.systemd(active="active", enabled="enabled")
    on = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout),
             edge_log=str(layout / "edge.log"))
    assert on["edge_exporter"] == {"files": [str(older)], "service": None} and mtail.shown == []
    off = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout))
    assert off["edge_exporter"]["files"] == [exporter(layout)["program"], str(older), exporter(layout)["environment"]]
    assert older.read_text() == MARKED_PROGRAM


def test_the_program_directory_our_environment_file_names_is_looked_in_too(layout, openssl, fakes):
    # The program moved to another directory: the one mtail was pointed at before still holds ours.
    before = layout / "mtail-before"
    before.mkdir()
    (before / "portcullis-edge.mtail").write_text(MARKED_PROGRAM)
    mtail_files(layout, program=None, environment=MARKED_ENVIRONMENT + 'EXTRA_ARGS="--progs %s"\n' % before)
    mtail = fakes.systemd()
    on = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout),
             edge_log=str(layout / "edge.log"))
    assert on["edge_exporter"]["files"] == [str(before / "portcullis-edge.mtail")]
    # A user's environment file names no directory of ours.
    (layout / "default-mtail").write_text('EXTRA_ARGS="--progs %s"\n' % before)
    on = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout),
             edge_log=str(layout / "edge.log"))
    assert on["edge_exporter"]["files"] == []


# Issue 29, fault 4: the program's (or the edge log's) directory missing failed half-way; it is made, before any
# file is written, and check mode reports it.

def test_missing_directories_of_the_program_and_the_edge_log_are_made(layout, openssl, fakes):
    wanted = dict(exporter(layout), program=str(layout / "new" / "programs" / "edge.mtail"))
    log = str(layout / "logs" / "edge.log")
    mtail = fakes.systemd()
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), check_mode=True, edge_exporter=wanted, edge_log=log)
    assert result["changed"] and str(layout / "logs") in result["directories"]
    assert str(layout / "new" / "programs") in result["directories"]
    assert not os.path.exists(str(layout / "logs")) and not os.path.exists(str(layout / "new"))
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=wanted, edge_log=log)
    assert os.path.isdir(str(layout / "new" / "programs")) and os.path.isdir(str(layout / "logs"))
    assert os.stat(str(layout / "new" / "programs")).st_mode & 0o7777 == 0o755
    again = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=wanted, edge_log=log)
    assert not again["changed"] and again["directories"] == []
    # Off, nothing is made.
    off = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=dict(wanted, program=str(layout / "x" / "a.mtail")))
    assert str(layout / "x") not in off["directories"]


def test_a_file_in_the_way_of_the_program_directory_fails_before_any_change(layout, openssl, fakes):
    (layout / "blocked").write_text("")
    wanted = dict(exporter(layout), program=str(layout / "blocked" / "edge.mtail"))
    with pytest.raises(_nginx.NginxProxyError, match="blocked is in the way"):
        run(layout, FakeNginx(openssl=openssl, systemd=fakes.systemd()), edge_exporter=wanted,
            edge_log=str(layout / "edge.log"))
    assert not (layout / "conf.d" / "portcullis-proxy.conf").exists()


def test_a_stopped_and_disabled_mtail_of_ours_is_reported_as_such(layout, openssl, fakes):
    mtail_files(layout, program=None)
    mtail = fakes.systemd(active="inactive", enabled="disabled")
    result = run(layout, FakeNginx(openssl=openssl, systemd=mtail), edge_exporter=exporter(layout))
    assert result["edge_exporter"] == {"files": [exporter(layout)["environment"]],
                                       "service": {"name": "mtail.service", "running": False, "enabled": False}}
