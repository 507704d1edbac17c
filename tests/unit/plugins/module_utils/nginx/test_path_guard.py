# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 27 fault 7: nginx and the backend read a path differently. One
domain, ``/`` public and ``/admin/`` open to 10.0.0.0/8, both to the same
backend. The rendered configuration is read here the way nginx picks a
location (server-level ``if``, exact, longest prefix, then regex locations in
order) for the path nginx makes of a request (decoded, slashes merged, dot
segments resolved), and the same request is read the way a Spring/Tomcat
backend does (``;params`` dropped, ``..;`` resolved, ``\\`` as ``/``, case
folded). Every request the backend reads as under /admin/ must be refused
or handled by a location that applies /admin/'s access. The Molecule
scenario nginx_proxy does the same against a real nginx and backend."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as proxy

try:
    from urllib.parse import unquote
except ImportError:  # Python 2
    from urllib import unquote

# Requests whose path the backend reads as /admin/... while nginx alone would see another route's path.
VARIANTS = [
    "/admin;x/users", "/x/..;/admin/users", "/ADMIN/users", "/admin\\users", "/Admin/Users", "/admin",
    "/ADMIN", "/x/%2e%2e;/admin/users", "/x/..%3b/admin/users", "/admin%5cusers", "/%2561dmin/users",
    "/admin%3bjsessionid=1/users", "/x/%2e%2e/admin/users", "/.;/admin/users", "/admin/./users;x",
]
# Ordinary paths of the public route: served by it, not refused.
PUBLIC = ["/", "/users", "/administrator/x", "/static/app.js", "/search?q=a;b", "/a/b?next=/admin/", "/x/admins/"]


def guarded_site(**admin):
    admin_route = {"path": "/admin/", "upstreams": ["10.0.0.5:8080"], "allow": ["10.0.0.0/8"]}
    admin_route.update(admin)
    return {"domain": "app.example.com", "certificate": "/etc/ssl/app.crt", "certificate_key": "/etc/ssl/app.key",
            "routes": [{"path": "/", "upstreams": ["10.0.0.5:8080"]}, admin_route]}


def backend_path(request_uri):
    """The path a Spring/Tomcat-like backend routes on: decoded (twice, as some do), ``\\`` as ``/``, each
    segment's ``;params`` dropped, dot segments resolved, case folded."""
    path = unquote(unquote(request_uri.split("?", 1)[0])).replace("\\", "/")
    out = []
    for segment in path.split("/")[1:]:
        segment = segment.split(";", 1)[0]
        if segment == "..":
            out = out[:-1]
        elif segment not in (".",):
            out.append(segment)
    return ("/" + "/".join(out)).lower()


def nginx_uri(request_uri):
    """nginx's $uri: the path decoded once, slashes merged, dot segments resolved."""
    path = unquote(request_uri.split("?", 1)[0])
    out = []
    for segment in re.sub("/+", "/", path).split("/")[1:]:
        if segment == "..":
            out = out[:-1]
        elif segment != ".":
            out.append(segment)
    return "/" + "/".join(out) + ("/" if path.endswith("/") and out else "")


def _blocks(server):
    """The ``location`` blocks of a server block, in order: (modifier, match, body)."""
    return [(match.group(1) or "", match.group(2).strip('"'), match.group(3))
            for match in re.finditer(r'^    location (?:(=|~\*|~|\^~) )?("[^"]*"|\S+) \{\n(.*?)^    \}', server,
                                     re.M | re.S)]


def served_by(text, domain, request_uri):
    """``"refused"`` or the body of the location nginx would use for ``request_uri`` on ``domain`` over HTTPS."""
    server = next(block for block in re.findall(r"^server \{\n.*?^\}\n", text, re.M | re.S)
                  if "    server_name %s" % domain in block and "    ssl_certificate " in block)
    top = server.split("    location ", 1)[0]
    for flags, regex, answer in re.findall(r'^    if \(\$request_uri (~\*?) "([^"]*)"\) \{\n\s*return (\d+);', top, re.M):
        if re.search(regex, request_uri, re.I if flags == "~*" else 0):
            return "refused"
    uri = nginx_uri(request_uri)
    blocks = _blocks(server)
    for modifier, match, body in blocks:
        if modifier == "=" and uri == match:
            return body
    prefixes = [(match, modifier, body) for modifier, match, body in blocks if modifier in ("", "^~")
                and uri.startswith(match)]
    best = max(prefixes, key=lambda item: len(item[0])) if prefixes else None
    if best and best[1] == "^~":
        return best[2]
    for modifier, match, body in blocks:
        if modifier in ("~", "~*") and re.search(match, uri, re.I if modifier == "~*" else 0):
            return body
    # nginx answers a request for /admin (the prefix without its slash) with a redirect to /admin/.
    if any(match == uri + "/" for match, _modifier, _body in prefixes + [(m, x, b) for x, m, b in blocks if x == ""]):
        return "redirect"
    return best[2] if best else None


def test_the_backend_model_reads_every_variant_as_the_admin_route():
    assert all(backend_path(variant).startswith("/admin") for variant in VARIANTS)
    assert not any(backend_path(path) in ("/admin",) or backend_path(path).startswith("/admin/") for path in PUBLIC)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_path_the_backend_reads_as_the_restricted_route_gets_its_access_or_is_refused(variant):
    text = proxy.Renderer([guarded_site()]).render()
    served = served_by(text, "app.example.com", variant)
    assert served in ("refused", "redirect") or "allow 10.0.0.0/8;" in served, (variant, nginx_uri(variant), served)


@pytest.mark.parametrize("path", PUBLIC)
def test_ordinary_public_paths_stay_public(path):
    text = proxy.Renderer([guarded_site()]).render()
    served = served_by(text, "app.example.com", path)
    assert served not in ("refused", None, "redirect") and "allow" not in served, (path, served)


def test_the_restricted_route_itself_is_served_with_its_access():
    served = served_by(proxy.Renderer([guarded_site()]).render(), "app.example.com", "/admin/users")
    assert "allow 10.0.0.0/8;" in served and "deny all;" in served


def test_a_rate_limited_route_on_the_same_backend_is_guarded_too():
    site = guarded_site(allow=[], rate_limit={"rate": "1r/s", "burst": 1})
    text = proxy.Renderer([site]).render()
    for variant in ("/ADMIN/users", "/admin;x/users"):
        served = served_by(text, "app.example.com", variant)
        assert served == "refused" or "limit_req zone=" in served, (variant, served)


def test_routes_nested_under_the_restricted_one_keep_their_own_location_whatever_the_case():
    site = guarded_site()
    site["routes"].append({"path": "/admin/public/", "upstreams": ["10.0.0.5:8080"]})
    text = proxy.Renderer([site]).render()
    assert "allow" not in served_by(text, "app.example.com", "/admin/public/x")
    assert "allow" not in served_by(text, "app.example.com", "/Admin/Public/x")
    assert "allow 10.0.0.0/8;" in served_by(text, "app.example.com", "/ADMIN/x")


def test_routes_to_other_backends_need_no_guard_and_render_as_before():
    site = guarded_site(upstreams=["10.0.0.6:8080"])
    text = proxy.Renderer([site]).render()
    assert "$request_uri ~" not in text and "location ~" not in text


def test_two_routes_that_differ_only_in_case_are_refused():
    site = guarded_site()
    site["routes"].append({"path": "/Admin/", "upstreams": ["10.0.0.5:8080"]})
    with pytest.raises(proxy.NginxProxyError, match="/Admin/ and /admin/ differ only in case"):
        proxy.check_site(site)
