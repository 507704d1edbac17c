# -*- coding: utf-8 -*-
"""Issue 27 fault 7, from outside: paths.portcullis.test has / public and
/admin/ open to 10.0.0.0/8 only, both on one backend that reads paths like
Spring and Tomcat (files/normalising_app.py). Every request that backend
reads as /admin/... is refused to a client outside 10.0.0.0/8, whatever
nginx alone would make of its path; a client in 10.0.0.0/8 (behind the CDN
stand-in, whose CF-Connecting-IP the proxies believe) and ordinary public
paths are served."""

import json
import shlex

import pytest

testinfra_hosts = ["portcullis-web-client"]

BACKEND = "172.30.80.21:4090"
# Each read by the backend as /admin/... (checked first against the backend itself).
VARIANTS = ["/admin/users", "/admin;x/users", "/x/..;/admin/users", "/ADMIN/users", "/admin\\users",
            "/Admin", "/admin%3bx/users", "/x/%2e%2e;/admin/users", "/admin%5cusers"]


def curl(host, url, *options):
    """curl sends the path as given (--path-as-is), over TLS to a proxy by --resolve or in plain HTTP."""
    return host.run("curl -sk --path-as-is --max-time 10 %s %s" % (" ".join(options), shlex.quote(url)))


def through(host, proxy, path, *options):
    return curl(host, "https://paths.portcullis.test%s" % path, "--resolve paths.portcullis.test:443:%s" % proxy,
                "-w '\\n%{http_code}'", *options)


@pytest.mark.parametrize("path", VARIANTS)
def test_the_backend_reads_each_variant_as_the_admin_route(host, path):
    out = curl(host, "http://%s%s" % (BACKEND, path))
    assert out.rc == 0, out.stderr
    assert json.loads(out.stdout)["area"] == "admin", out.stdout


@pytest.mark.parametrize("path", VARIANTS)
def test_a_client_outside_the_allow_list_is_refused_every_variant(host, proxy, path):
    out = through(host, proxy, path)
    assert out.stdout.rsplit("\n", 1)[-1] == "403", out.stdout


@pytest.mark.parametrize("path", ["/admin/users", "/ADMIN/users"])
def test_a_client_in_the_allow_list_reaches_admin(cdn, proxy, path):
    out = through(cdn, proxy, path, "-H 'CF-Connecting-IP: 10.1.2.3'")
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "200", out.stdout
    assert json.loads(body)["area"] == "admin" and json.loads(body)["client"] == "10.1.2.3"


@pytest.mark.parametrize("path", ["/", "/users", "/administrator/x", "/search?q=a;b"])
def test_ordinary_public_paths_are_served_to_anyone(host, proxy, path):
    body, code = through(host, proxy, path).stdout.rsplit("\n", 1)
    assert code == "200" and json.loads(body)["area"] == "public", body
