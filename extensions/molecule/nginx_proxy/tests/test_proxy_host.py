# -*- coding: utf-8 -*-
"""On the proxies: the whole configuration graded by gixy, and what the role
owns."""

import pytest

testinfra_hosts = ["portcullis-proxy-bookworm", "portcullis-proxy-trixie"]


def test_gixy_finds_no_issue_in_the_whole_configuration(host):
    out = host.run("PYTHONPATH=/opt/gixy-ng python3 -m gixy /etc/nginx/nginx.conf")
    assert out.rc == 0, out.stdout + out.stderr
    assert "No issues found" in out.stdout


def test_configuration_is_valid(host):
    assert host.run("nginx -t").rc == 0


def test_http2_in_the_form_this_nginx_knows(host):
    version = host.run("nginx -v").stderr
    config = host.file("/etc/nginx/conf.d/portcullis-proxy.conf").content_string
    if "nginx/1.22" in version:
        assert "listen 443 ssl http2;" in config and "http2 on;" not in config
    else:
        assert "http2 on;" in config and " http2;" not in config


def test_distribution_default_site_removed(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_self_signed_keys_readable_by_root_only(host):
    directory = host.file("/etc/ssl/portcullis")
    assert directory.mode == 0o700 and directory.user == "root"
    for domain in ("api", "docs", "limited", "office"):
        assert host.file("/etc/ssl/portcullis/%s.portcullis.test.key" % domain).exists


@pytest.mark.parametrize("domain", ["docs", "api", "office", "limited"])
def test_every_registry_domain_published(host, domain):
    config = host.file("/etc/nginx/conf.d/portcullis-proxy.conf").content_string
    assert "server_name %s.portcullis.test;" % domain in config


def test_nginx_running_and_enabled(host):
    service = host.service("nginx")
    assert service.is_running and service.is_enabled


def test_certificate_directory_holds_only_pairs(host):
    # A failed generation leaves no stray key or half-made file behind.
    names = host.run("ls /etc/ssl/portcullis").stdout.split()
    stems = {name.rsplit(".", 1)[0] for name in names}
    assert sorted(names) == sorted([stem + ".crt" for stem in stems] + [stem + ".key" for stem in stems]), names


def test_the_validation_marker_matches_what_nginx_accepted(host):
    # The module records nginx -t's acceptance; its absence makes the next run prove the files again.
    marker = host.file("/var/lib/portcullis/nginx-proxy-validated.json")
    assert marker.exists and '"/etc/nginx/conf.d/portcullis-proxy.conf": "' in marker.content_string
