# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as proxy
from ansible_collections.portcullis.ports.plugins.module_utils.nginx._config import NginxProxyError


def site(**overrides):
    base = {"domain": "docs.example.com", "upstreams": ["10.0.0.5:4001"],
            "certificate": "/etc/ssl/docs.crt", "certificate_key": "/etc/ssl/docs.key"}
    base.update(overrides)
    return base


# Values that would be nginx syntax

@pytest.mark.parametrize("field, value", [
    ("certificate", "/etc/ssl/a;b.crt"), ("certificate_key", "/etc/ssl/a b.key"),
    ("client_max_body_size", "10m;"), ("read_timeout", "60s}"), ("upstreams", ["10.0.0.5:80;"]),
    ("headers", {"X-Team": "ops team"}), ("headers", {"X-Team": "ops\n"}), ("headers", {"X-Te;am": "ops"}),
    ("allow", ["10.0.0.0/8;"]), ("deny", ["all"]), ("rate_limit", {"rate": "10r/s;", "burst": 20}),
])
def test_syntax_in_any_site_value_is_refused(field, value):
    with pytest.raises(NginxProxyError, match=r"refused|not valid|not an IP|would mean the inventory group"):
        proxy.check_site(site(**{field: value}))


@pytest.mark.parametrize("value, message", [
    ("-docs.example.com", "is not a host name"), ("docs..example.com", "is not a host name"),
    ("docs_x.example.com", "contains '_'"), ("docs.example.com.", "is not a host name"),
])
def test_malformed_domains_are_refused(value, message):
    with pytest.raises(NginxProxyError, match=message):
        proxy.check_domain(value)


def test_domains_are_folded_to_lower_case_as_the_registry_does():
    assert proxy.check_domain("Docs.Example.com") == "docs.example.com"


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.5:80", "10.0.0.5:80"), ("[fd00::1]:443", "[fd00::1]:443"), ("App.Internal:8080", "app.internal:8080"),
])
def test_upstream_servers_are_normalized(value, expected):
    assert proxy.check_upstream_server(value, "upstream") == expected


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.5:0", "10.0.0.5:70000", "fd00::1:443", "[nothex]:80"])
def test_bad_upstream_servers_are_refused(value):
    with pytest.raises(NginxProxyError, match=re.escape(repr(value))):
        proxy.check_upstream_server(value, "upstream")


@pytest.mark.parametrize("value", [{"rate": "10 r/s"}, {"rate": "10r/h"}, {"burst": -1}, {"burst": True}, "yes", {"x": 1}])
def test_bad_rate_limits_are_refused(value):
    with pytest.raises(NginxProxyError):
        proxy.check_site(site(rate_limit=value))


# Rendering

def test_rendering_is_deterministic_and_sorted():
    first = proxy.Renderer([site(domain="b.example.com"), site(domain="a.example.com")]).render()
    second = proxy.Renderer([site(domain="a.example.com"), site(domain="b.example.com")]).render()
    assert first == second
    assert first.index("server_name a.example.com;") < first.index("server_name b.example.com;")


def test_intermediate_tls_profile_hsts_and_headers():
    text = proxy.Renderer([site()]).render()
    tls_server = text[text.index("# docs.example.com: from"):]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls_server
    assert "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" in tls_server
    assert "ssl_session_tickets off;" in tls_server and "ssl_prefer_server_ciphers off;" in tls_server
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in tls_server
    for header in ("Host $host", "X-Real-IP $remote_addr", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme",
                   "Upgrade $http_upgrade", "Connection $portcullis_connection_upgrade"):
        assert "proxy_set_header %s;" % header in tls_server
    assert "server_tokens off;" in tls_server


def test_modern_profile_is_tls13_only_and_hsts_can_be_off():
    text = proxy.Renderer([site()], tls_profile="modern", hsts_max_age=0).render()
    assert "ssl_protocols TLSv1.3;" in text and "ssl_ciphers" not in text and "Strict-Transport-Security" not in text


def test_http_server_redirects_and_keeps_acme_open():
    text = proxy.Renderer([site()], acme_root="/var/www/acme").render()
    redirect = text[text.index("# docs.example.com: HTTP to HTTPS"):text.index("# docs.example.com: from")]
    assert "location ^~ /.well-known/acme-challenge/ {\n        root /var/www/acme;" in redirect
    assert "return 301 https://docs.example.com$request_uri;" in redirect


def test_default_servers_refuse_unknown_hosts():
    text = proxy.Renderer([site()]).render()
    assert text.count("default_server") == 4  # 80 and 443, IPv4 and IPv6
    assert "return 444;" in text and "ssl_reject_handshake on;" in text and "return 421;" in text


def test_older_nginx_gets_listen_http2_and_a_certificate_on_the_default_server():
    text = proxy.Renderer([site()], features={"http2_directive": False, "reject_handshake": False}, ipv6=False).render()
    assert "listen 443 ssl http2 default_server;" in text and "http2 on;" not in text
    assert "ssl_reject_handshake" not in text
    default = text[text.index("listen 443 ssl http2 default_server;"):]
    assert default.index("ssl_certificate /etc/ssl/docs.crt;") < default.index("return 444;")


def test_newer_nginx_gets_http2_directive_and_no_ipv6_when_asked():
    text = proxy.Renderer([site()], ipv6=False).render()
    assert "http2 on;" in text and "listen [::]" not in text and " http2;" not in text


def test_allow_deny_rate_limit_and_health_file():
    text = proxy.Renderer([site(allow=["10.0.0.0/8"], deny=["10.9.0.0/16"], rate_limit={"rate": "5r/s", "burst": 7})],
                          health_root="/srv/health").render()
    assert "limit_req_zone $binary_remote_addr zone=portcullis_docs_example_com:10m rate=5r/s;" in text
    assert "limit_req zone=portcullis_docs_example_com burst=7 nodelay;\n        limit_req_status 429;" in text
    assert text.index("deny 10.9.0.0/16;") < text.index("allow 10.0.0.0/8;") < text.index("deny all;")
    # A file, not "return": return would answer before allow/deny are checked.
    assert "location = /nginx-health {\n        access_log off;\n        default_type text/plain;\n        root /srv/health;" in text
    assert proxy.Renderer([site()], health_root="/srv/health").health_file() == "/srv/health/nginx-health"


def test_health_path_cannot_leave_its_root():
    with pytest.raises(NginxProxyError, match="health_path"):
        proxy.Renderer([site()], health_path="/../../etc/passwd")


def test_zone_names_are_distinct_per_domain():
    domains = ["a-b.example.com", "a.b-example.com", "ab.example.com", "*.example.com", "example.com"]
    assert len(set(proxy.zone_name(domain) for domain in domains)) == len(domains)


def test_same_domain_twice_in_the_sites_is_refused():
    with pytest.raises(NginxProxyError, match="given twice"):
        proxy.Renderer([site(), site()])


def test_main_config_keeps_layout_and_hardens_http():
    text, path, includes = proxy.render_main({"user": "www-data", "worker_connections": 768,
                                              "main_includes": ["/etc/nginx/modules-enabled/*.conf"],
                                              "http_includes": ["/etc/nginx/conf.d/*.conf", "/etc/nginx/sites-enabled/*"]})
    assert path == "/etc/nginx/nginx.conf" and includes[-1] == "/etc/nginx/sites-enabled/*"
    assert "user www-data;" in text and "worker_rlimit_nofile 1536;" in text
    assert text.index("include /etc/nginx/modules-enabled/*.conf;") < text.index("events {")
    http = text[text.index("http {"):]
    assert "server_tokens off;" in http and "ssl_protocols TLSv1.2 TLSv1.3;" in http
    assert "include /etc/nginx/sites-enabled/*;" in http


@pytest.mark.parametrize("main", [{"user": "www data"}, {"user": "x", "worker_connections": 0},
                                  {"user": "x", "http_includes": "/etc/nginx/conf.d/*.conf"}, {"user": "x", "pid": "run.pid"}])
def test_bad_main_config_is_refused(main):
    with pytest.raises(NginxProxyError, match="main_config|user"):
        proxy.render_main(main)


def test_version_parsing():
    assert proxy.version_tuple("nginx version: nginx/1.22.1\n") == (1, 22, 1)
    assert proxy.version_tuple("nginx version: openresty/1.2") is None


# Found in review

def test_fallback_certificate_is_checked_like_every_value():
    with pytest.raises(NginxProxyError, match="fallback_certificate certificate .* contains ';'"):
        proxy.Renderer([site()], fallback_certificate={"certificate": "/a.crt; include /etc/shadow", "certificate_key": "/a.key"})


def test_site_with_host_but_no_service_renders():
    assert "# docs.example.com: from app1/None to" in proxy.Renderer([site(host="app1")]).render()


def test_burst_zero_is_left_out():
    text = proxy.Renderer([site(rate_limit={"rate": "5r/s", "burst": 0})]).render()
    assert "limit_req zone=portcullis_docs_example_com nodelay;" in text


@pytest.mark.parametrize("headers, message", [
    ({"Host": "evil"}, "set by the proxy itself"), ({"x-forwarded-for": "1.2.3.4"}, "set by the proxy itself"),
    ({"X-B": "1", "x-b": "2"}, "given twice"), ({"X-B": None}, "expected a string or a number"),
    ({"X-B": [1]}, "expected a string or a number"), ({"X-B": True}, "expected a string or a number"),
])
def test_bad_headers_are_refused(headers, message):
    with pytest.raises(NginxProxyError, match=message):
        proxy.check_site(site(headers=headers))


def test_main_config_has_room_for_long_names():
    assert "server_names_hash_bucket_size 128;" in proxy.render_main({"user": "www-data"})[0]
