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
    tls_server = text[text.index("# docs.example.com: / -> "):]
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
    redirect = text[text.index("# docs.example.com: HTTP to https://"):text.index("# docs.example.com: / -> ")]
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
    assert "# docs.example.com: / -> 10.0.0.5:4001 (app1/None)" in proxy.Renderer([site(host="app1")]).render()


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


# One name, several services by path; redirects and aliases; a CDN in front; balancing

def nostromo_edge():
    return {"domain": "app.nostromo.cl", "aliases": ["api.nostromo.cl"], "redirects": ["www.nostromo.cl"],
            "certificate": "/etc/ssl/app.crt", "certificate_key": "/etc/ssl/app.key",
            "routes": [{"path": "/", "upstreams": ["10.0.0.11:4321"]},
                       {"path": "/api/", "upstreams": [{"server": "10.0.0.12:8000", "max_fails": 3, "fail_timeout": "30s"},
                                                       {"server": "10.0.0.13:8000", "backup": True}],
                        "rate_limit": {"rate": "10r/s", "burst": 20}, "balance": "least_conn"}]}


def test_routes_share_a_name_each_with_its_own_options():
    text = proxy.Renderer([nostromo_edge()]).render()
    api_zone = proxy.route_zone("app.nostromo.cl", "/api/")
    # The rate limit is on /api/ only.
    assert "limit_req_zone $binary_remote_addr zone=%s:10m rate=10r/s;" % api_zone in text
    assert text.count("limit_req zone=") == 1
    api = text[text.index("    location /api/ {"):]
    api = api[:api.index("    }")]
    assert "limit_req zone=%s burst=20 nodelay;" % api_zone in api
    # No URI after proxy_pass: the path reaches the backend as sent (gixy: no normalisation surprises).
    assert "proxy_pass http://%s;" % api_zone in api
    assert re.search(r"location / \{[^}]*proxy_pass http://portcullis_app_nostromo_cl;", text)
    # Balancing and the passive health check, per server.
    assert ("upstream %s {\n    least_conn;\n    server 10.0.0.12:8000 max_fails=3 fail_timeout=30s;\n"
            "    server 10.0.0.13:8000 backup;\n" % api_zone) in text


def test_a_cookie_balance_is_a_consistent_hash_on_that_cookie():
    site = nostromo_edge()
    site["routes"][1]["balance"] = "cookie:session"
    site["routes"][1]["upstreams"][1].pop("backup")
    text = proxy.Renderer([site]).render()
    api_zone = proxy.route_zone("app.nostromo.cl", "/api/")
    assert ("upstream %s {\n    hash $cookie_session consistent;\n    server 10.0.0.12:8000 max_fails=3 fail_timeout=30s;\n"
            "    server 10.0.0.13:8000;\n" % api_zone) in text


def test_redirect_names_go_to_the_domain_with_path_and_query_and_aliases_are_served():
    site = nostromo_edge()
    site["redirect_code"] = 308
    text = proxy.Renderer([site]).render()
    assert "server_name app.nostromo.cl api.nostromo.cl;" in text
    redirect = text[text.index("# www.nostromo.cl: redirect to app.nostromo.cl"):]
    assert "server_name www.nostromo.cl;" in redirect and "return 308 https://app.nostromo.cl$request_uri;" in redirect
    assert "# www.nostromo.cl: HTTP to https://app.nostromo.cl" in text
    # The alias keeps its own name on the way to HTTPS.
    assert "# app.nostromo.cl, api.nostromo.cl: HTTP to https://$host" in text
    assert proxy.site_names(proxy.check_site(site)) == ["app.nostromo.cl", "api.nostromo.cl", "www.nostromo.cl"]


@pytest.mark.parametrize("change, message", [
    ({"routes": [{"path": "/api", "upstreams": ["10.0.0.1:80"]}]}, "write /api/"),
    ({"routes": [{"path": "/a/../b/", "upstreams": ["10.0.0.1:80"]}]}, "is not a route"),
    ({"routes": [{"path": "/", "upstreams": ["10.0.0.1:80"]}, {"path": "/", "upstreams": ["10.0.0.2:80"]}]},
     "the route / is given twice"),
    ({"aliases": ["app.nostromo.cl"]}, "app.nostromo.cl is given twice"),
    ({"redirects": ["api.nostromo.cl"]}, "api.nostromo.cl is given twice"),
    ({"redirect_code": 302}, "expected 301 or 308"),
    ({"routes": [{"path": "/", "upstreams": [{"server": "10.0.0.1:80", "backup": True}]}]}, "every server is a backup"),
    ({"routes": [{"path": "/", "upstreams": ["10.0.0.1:80"], "balance": "random"}]}, "is not a balancing method"),
    ({"rate_limit": True}, "rate_limit belong to a route when routes are given"),
])
def test_bad_routes_are_named(change, message):
    site = nostromo_edge()
    site.update(change)
    with pytest.raises(NginxProxyError, match=message):
        proxy.check_site(site)


def test_the_real_client_is_believed_only_from_the_cdn():
    text = proxy.Renderer([site()], real_ip={"from": ["cloudflare"]}).render()
    assert "set_real_ip_from 173.245.48.0/20;" in text and "set_real_ip_from 2606:4700::/32;" in text
    assert "real_ip_header CF-Connecting-IP;" in text and "real_ip_recursive" not in text
    own = proxy.Renderer([site()], real_ip={"from": ["192.0.2.0/24"]}).render()
    assert "set_real_ip_from 192.0.2.0/24;" in own and "real_ip_header X-Forwarded-For;" in own
    assert "real_ip_recursive on;" in own
    with pytest.raises(NginxProxyError, match="would believe the header from anyone"):
        proxy.Renderer([site()], real_ip={"from": ["0.0.0.0/0"]})
    with pytest.raises(NginxProxyError, match="or a CDN name: cloudflare"):
        proxy.Renderer([site()], real_ip={"from": ["cloudflair"]})


# Issue 26: the /0 guard was bypassed by two halves.
@pytest.mark.parametrize("sources, family", [
    (["0.0.0.0/1", "128.0.0.0/1"], 4),
    (["10.0.0.0/8", "0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"], 4),
    (["cloudflare", "::/1", "8000::/1"], 6),
])
def test_real_ip_sets_covering_everything_are_refused_naming_them(sources, family):
    with pytest.raises(NginxProxyError, match=r"real_ip from .*%s.* together cover every IPv%d address"
                       % (re.escape(sources[-1]), family)):
        proxy.Renderer([site()], real_ip={"from": sources})


def test_real_ip_halves_of_different_families_are_not_everything():
    text = proxy.Renderer([site()], real_ip={"from": ["0.0.0.0/1", "::/1"]}).render()
    assert "set_real_ip_from 0.0.0.0/1;" in text and "set_real_ip_from ::/1;" in text


def test_real_ip_refuses_a_mapped_address():
    with pytest.raises(NginxProxyError, match=r"'::ffff:10.77.0.1' is an IPv4-mapped IPv6 address"):
        proxy.Renderer([site()], real_ip={"from": ["::ffff:10.77.0.1"]})


@pytest.mark.parametrize("real_ip, message", [
    ({"from": [{"cidr": "10.0.0.0/8"}]}, "real_ip from must be a non-empty list"),
    ({"from": ["10.0.0.0/8"], "recursive": "no"}, "recursive must be true or false, got 'no'"),
    ({"from": ["10.0.0.0/8"], "headr": "X-Real-IP"}, "unknown keys headr"),
])
def test_real_ip_values_are_checked_naming_them(real_ip, message):
    with pytest.raises(NginxProxyError, match=message):
        proxy.Renderer([site()], real_ip=real_ip)


def test_the_names_hash_fits_the_longest_name():
    # Found on review: a 64+ character name failed later; nginx needs room for the name and two pointers.
    assert proxy.names_hash_bucket_size(50) == 128 and proxy.names_hash_bucket_size(110) == 128
    assert proxy.names_hash_bucket_size(111) == 256 and proxy.names_hash_bucket_size(253) == 512
    long_name = ".".join(["a" * 60] * 3) + ".example.com"
    renderer = proxy.Renderer([site(domain=long_name)])
    assert "server_names_hash_bucket_size 256;" in proxy.render_main({"user": "www-data"}, renderer.longest_name())[0]


def test_a_backup_server_with_a_hash_is_refused_before_nginx_would():
    site = nostromo_edge()
    site["routes"][1]["balance"] = "ip_hash"
    with pytest.raises(NginxProxyError, match="a backup server does not work with balance ip_hash"):
        proxy.check_site(site)


def test_each_route_has_its_own_access_list_and_zone():
    site = nostromo_edge()
    site["routes"][1]["allow"] = ["10.9.0.0/16"]
    text = proxy.Renderer([site]).render()
    api = text[text.index("    location /api/ {"):]
    api = api[:api.index("    }")]
    root = text[text.index("    location / {"):]
    root = root[:root.index("    }")]
    assert "allow 10.9.0.0/16;" in api and "deny all;" in api
    assert "allow" not in root and "deny" not in root
    zones = re.findall(r"upstream (\S+) \{", text)
    assert len(zones) == len(set(zones)) == 2


def test_a_site_without_a_root_route_answers_404_outside_its_routes():
    site = nostromo_edge()
    site["routes"] = site["routes"][1:]
    text = proxy.Renderer([site]).render()
    assert re.search(r"location / \{\s*return 404;\s*\}", text)


def test_a_wildcard_site_cannot_redirect_names_to_itself():
    site = {"domain": "*.example.com", "redirects": ["old.example.com"], "upstreams": ["10.0.0.1:80"],
            "certificate": "/etc/ssl/w.crt", "certificate_key": "/etc/ssl/w.key"}
    with pytest.raises(NginxProxyError, match="old.example.com.*a wildcard is not one"):
        proxy.check_site(site)


def test_one_name_on_two_sites_is_refused_where_nginx_would_only_warn():
    certificate = {"certificate": "/etc/ssl/x.crt", "certificate_key": "/etc/ssl/x.key"}
    first = dict(certificate, domain="a.example.com", aliases=["c.example.com"], upstreams=["10.0.0.1:80"])
    second = dict(certificate, domain="b.example.com", redirects=["c.example.com"], upstreams=["10.0.0.2:80"])
    with pytest.raises(NginxProxyError, match="c.example.com is served by the site a.example.com and by the site "
                                              "b.example.com"):
        proxy.Renderer([first, second])


def test_the_certificates_served_are_read_back_from_the_rendered_configuration():
    edge = nostromo_edge()
    other = {"domain": "docs.example.com", "upstreams": ["10.0.0.9:80"], "certificate": "/etc/ssl/d.crt",
             "certificate_key": "/etc/ssl/d.key"}
    text = proxy.Renderer([edge, other], fallback_certificate={"certificate": "/etc/ssl/f.crt",
                                                               "certificate_key": "/etc/ssl/f.key"}).render()
    assert proxy.served_certificates(text) == [{"domain": "app.nostromo.cl", "path": "/etc/ssl/app.crt"},
                                               {"domain": "docs.example.com", "path": "/etc/ssl/d.crt"}]
