# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as proxy
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import RegistryError
from ansible_collections.portcullis.ports.plugins.plugin_utils import _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import Plan, PlanError
from ansible_collections.portcullis.ports.plugins.plugin_utils._proxy_plan import ProxyPlanError

ADDRESSES = {"app1": "10.0.0.5", "app2": ["10.0.0.6", "fd00::6"], "v6only": "fd00::7", "edge": ["10.0.0.1", "fd00::1"]}
GROUPS = {"apps": ["app1", "app2"], "proxies": ["edge"]}


def plan_of(registries):
    hostvars = dict((host, {"portcullis_address": address}) for host, address in ADDRESSES.items())
    for host, registry in registries.items():
        hostvars.setdefault(host, {})["portcullis_services"] = registry
    return Plan.of(hostvars, dict(GROUPS, all=sorted(hostvars)))


def sites(registries, proxy_host="edge", **options):
    return _proxy_plan.sites(plan_of(registries), proxy_host, hosts=sorted(registries), **options)


def route(site, path="/"):
    """A site's route, by path."""
    return next(item for item in site["routes"] if item["path"] == path)


def servers(site, path="/"):
    return [server["server"] for server in route(site, path)["upstreams"]]


def test_upstream_from_the_service_host_and_port():
    result = sites({"app1": [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]})
    assert [(item["domain"], servers(item), route(item)["host"], route(item)["service"]) for item in result] == \
        [("docs.example.com", ["10.0.0.5:4001"], "app1", "docs")]


def test_port_given_as_a_service_name_and_bind_address_used():
    result = sites({"app1": [{"name": "web", "port": "http", "bind": "192.0.2.9", "domain": "web.example.com"}]})
    assert servers(result[0]) == ["192.0.2.9:80"]


def test_ipv6_addresses_are_bracketed():
    result = sites({"v6only": [{"name": "web", "port": 8080, "bind": "::", "domain": "web.example.com"}]})
    assert servers(result[0]) == ["[fd00::7]:8080"]


def test_service_on_the_proxy_itself_is_reached_on_loopback():
    result = sites({"edge": [{"name": "grafana", "port": 3000, "domain": "grafana.example.com"}]})
    assert servers(result[0]) == ["127.0.0.1:3000"]


def test_loopback_service_of_another_host_is_unreachable():
    with pytest.raises(PlanError, match="listens on 127.0.0.1 of app1 only, which the proxy on edge cannot reach"):
        sites({"app1": [{"name": "db-ui", "port": 4001, "bind": "127.0.0.1", "domain": "ui.example.com"}]})


def test_explicit_upstreams_balance_one_domain():
    result = sites({"app1": [{"name": "api", "port": 4018, "domain": "api.example.com",
                              "upstream": ["10.0.0.5:4018", "10.0.0.6:4018"]}],
                    "app2": [{"name": "api", "port": 4018}]})
    assert servers(result[0]) == ["10.0.0.5:4018", "10.0.0.6:4018"]
    text = proxy.Renderer(result).render()
    assert "upstream portcullis_api_example_com {\n    server 10.0.0.5:4018;\n    server 10.0.0.6:4018;\n" in text


def test_a_port_range_needs_an_explicit_upstream():
    with pytest.raises(RegistryError, match="port '8000-8010' is not one TCP port, so the proxy cannot reach the domain"):
        sites({"app1": [{"name": "pool", "port": "8000-8010", "domain": "pool.example.com"}]})


def test_domain_published_twice_names_both():
    registries = {"app1": [{"name": "docs", "port": 4001, "domain": "docs.example.com"}],
                  "app2": [{"name": "docs2", "port": 4002, "domain": "docs.example.com"}]}
    with pytest.raises(ProxyPlanError) as error:
        sites(registries)
    assert "host app1 service 'docs'" in str(error.value) and "host app2 service 'docs2'" in str(error.value)


def test_services_without_domain_are_not_published():
    assert sites({"app1": [{"name": "postgres", "port": 5432}]}) == []


def test_proxy_options_override_defaults_and_resolve_hosts_and_groups():
    registry = {"app1": [{"name": "docs", "port": 4001, "domain": "docs.example.com",
                          "proxy": {"allow": ["apps", "203.0.113.0/24"], "rate_limit": True}}]}
    result = sites(registry, defaults={"client_max_body_size": "50m", "rate_limit": False})[0]
    assert route(result)["allow"] == ["10.0.0.5/32", "10.0.0.6/32", "203.0.113.0/24", "fd00::6/128"]
    assert route(result)["rate_limit"] == {"rate": "10r/s", "burst": 20}
    assert route(result)["client_max_body_size"] == "50m"


def test_unknown_proxy_option_is_refused():
    with pytest.raises(RegistryError, match="host app1: service 'docs' \\(entry 1\\): proxy: unknown option 'rate_limits'"):
        sites({"app1": [{"name": "docs", "port": 4001, "domain": "docs.example.com", "proxy": {"rate_limits": True}}]})


def test_unknown_allow_entry_is_named():
    with pytest.raises(InventoryError, match="'nosuchhost' is neither a CIDR nor a host or group"):
        sites({"app1": [{"name": "docs", "port": 4001, "domain": "d.example.com", "proxy": {"allow": ["nosuchhost"]}}]})


def test_certificates_self_signed_given_or_from_certbot():
    registry = {"app1": [{"name": "a", "port": 1001, "domain": "a.example.com"},
                         {"name": "b", "port": 1002, "domain": "b.example.com",
                          "proxy": {"certificate": "/etc/ssl/b.pem", "certificate_key": "/etc/ssl/b.key"}},
                         {"name": "c", "port": 1003, "domain": "c.example.com"}]}
    plain = dict((item["domain"], item) for item in sites(registry, certificate_dir="/etc/ssl/own/"))
    assert plain["a.example.com"]["certificate"] == "/etc/ssl/own/a.example.com.crt"
    assert plain["a.example.com"]["self_signed"] and not plain["b.example.com"]["self_signed"]
    assert plain["b.example.com"]["certificate"] == "/etc/ssl/b.pem"
    certbot = dict((item["domain"], item) for item in sites(registry, certbot=True, certbot_ready=["c.example.com"]))
    assert certbot["a.example.com"]["self_signed"] and certbot["a.example.com"]["certbot"]
    assert certbot["c.example.com"]["certificate"] == "/etc/letsencrypt/live/c.example.com/fullchain.pem"
    assert not certbot["c.example.com"]["self_signed"] and certbot["c.example.com"]["certbot"]
    assert not certbot["b.example.com"]["certbot"]


def test_certificate_without_key_is_refused():
    with pytest.raises(RegistryError, match="certificate and certificate_key go together"):
        sites({"app1": [{"name": "b", "port": 1002, "domain": "b.example.com", "proxy": {"certificate": "/x.pem"}}]})


# Values that would be nginx syntax

@pytest.mark.parametrize("bad, char", [
    ("docs.example.com;", ";"), ("docs{.example.com", "{"), ("docs}.example.com", "}"), ("docs'x.example.com", "'"),
    ('docs"x.example.com', '"'), ("docs.example.com\nreturn 200", "\n"), ("docs example.com", " "),
    ("docs.example.com#", "#"), ("$host", "$"), ("docs\\.example.com", "\\"), ("docs\t.example.com", "\t"),
])
def test_syntax_in_a_domain_is_refused_naming_it(bad, char):
    with pytest.raises(RegistryError) as error:
        sites({"app1": [{"name": "docs", "port": 4001, "domain": bad}]})
    assert "%r contains %r" % (bad, char) in str(error.value)


def test_wildcard_domain_needs_a_certificate_and_redirects_to_the_name_asked_for():
    with pytest.raises(ProxyPlanError, match="wildcard domain \\*.example.com needs a certificate"):
        sites({"app1": [{"name": "all", "port": 4001, "domain": "*.example.com"}]})
    # Given once for the site, on any of its services.
    certificate = {"certificate": "/etc/ssl/w.pem", "certificate_key": "/etc/ssl/w.key"}
    split = sites({"app1": [{"name": "all", "port": 4001, "domain": "*.example.com", "proxy": certificate},
                            {"name": "api", "port": 4002, "domain": "*.example.com", "path": "/api/"}]})
    assert [route["path"] for route in split[0]["routes"]] == ["/", "/api/"]
    result = sites({"app1": [{"name": "all", "port": 4001, "domain": "*.example.com",
                              "proxy": {"certificate": "/etc/ssl/w.pem", "certificate_key": "/etc/ssl/w.key"}}]})
    assert "return 301 https://$host$request_uri;" in proxy.Renderer(result).render()


def test_service_without_port_is_named():
    with pytest.raises(RegistryError, match="service 'docs' \\(entry 1\\): missing port"):
        sites({"app1": [{"name": "docs", "domain": "docs.example.com"}]})


@pytest.mark.parametrize("address, expected", [("10.0.0.9/32", "10.0.0.9:4001"), ("10.0.0.9", "10.0.0.9:4001"),
                                               ("fd00::9/128", "[fd00::9]:4001")])
def test_host_address_as_address_or_cidr(address, expected):
    ADDRESSES["app9"] = address
    try:
        assert servers(sites({"app9": [{"name": "docs", "port": 4001, "bind": "::", "domain": "docs.example.com"}]})[0]) \
            == [expected]
    finally:
        del ADDRESSES["app9"]


def test_a_host_address_that_is_no_address_is_refused():
    ADDRESSES["app9"] = "app9.internal"
    try:
        with pytest.raises(PlanError, match="portcullis_address of app9 'app9.internal' is not an IP address"):
            sites({"app9": [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]})
    finally:
        del ADDRESSES["app9"]


def test_a_domain_in_upper_case_is_published_in_lower_case():
    # port_conflicts accepted it and proxy_sites refused it, after the sshd and firewall plays had run.
    assert sites({"app1": [{"name": "app", "port": 4001, "domain": "App.Example.com"}]})[0]["domain"] == "app.example.com"


def test_the_registry_must_be_where_other_hosts_read_it():
    hostvars = {"edge": {"portcullis_address": "10.0.0.1"}}
    registry = [{"name": "docs", "port": 4001, "domain": "docs.example.com"}]
    # As in a play's vars: the proxy sees it, hostvars do not hold it.
    with pytest.raises(InventoryError, match="portcullis_services of edge is set where other hosts cannot read it.*"
                                             "host_vars/edge.yml"):
        Plan.of(hostvars).check_seen("edge", "portcullis_services", registry)
    hostvars["edge"]["portcullis_services"] = registry
    plan = Plan.of(hostvars)
    plan.check_seen("edge", "portcullis_services", registry)
    assert len(_proxy_plan.sites(plan, "edge")) == 1
    # Undefined where the role runs and in the inventory, or an empty list: they agree.
    Plan.of({"edge": {}}).check_seen("edge", "portcullis_services", None)
    Plan.of({"edge": {}}).check_seen("edge", "portcullis_services", [])
    assert _proxy_plan.sites(Plan.of({"edge": {}}), "edge") == []


def test_a_site_on_the_proxys_own_https_port_is_refused():
    # The README's quick start made nginx proxy to itself (127.0.0.1:443 over http).
    with pytest.raises(PlanError, match="port 443 is where nginx on edge listens itself"):
        sites({"edge": [{"name": "web", "port": "https", "expose": "public", "domain": "app.example.com"}]})
    upstream = sites({"edge": [{"name": "web", "port": "https", "expose": "public", "domain": "app.example.com",
                                "upstream": "10.0.0.5:8443"}], "app1": [{"name": "web-backend", "port": 8443}]})
    assert servers(upstream[0]) == ["10.0.0.5:8443"]


def test_services_share_a_domain_by_path_and_site_values_come_once():
    registries = {
        "app1": [{"name": "front", "port": 4321, "domain": "app.example.com", "redirect_from": ["www.example.com"]},
                 {"name": "api-backup", "port": 8000}],
        "app2": [{"name": "api", "port": 8000, "domain": "app.example.com", "path": "/api/", "health": "/health",
                  "upstream": [{"server": "10.0.0.6:8000", "max_fails": 3}, {"server": "10.0.0.5:8000", "backup": True}],
                  "proxy": {"rate_limit": True, "balance": "least_conn"}}],
    }
    [site] = sites(registries)
    assert site["redirects"] == ["www.example.com"] and site["names"] == ["app.example.com", "www.example.com"]
    assert [item["path"] for item in site["routes"]] == ["/", "/api/"]
    api = route(site, "/api/")
    assert api["upstreams"] == [{"server": "10.0.0.6:8000", "max_fails": 3}, {"server": "10.0.0.5:8000", "backup": True}]
    assert api["rate_limit"] and api["balance"] == "least_conn" and api["health"] == "/health"
    assert route(site)["rate_limit"] is None and route(site)["host"] == "app1"


@pytest.mark.parametrize("second, message", [
    ({"name": "x", "port": 9000, "domain": "app.example.com"},
     "domain app.example.com path / is published twice: by host app1 service 'front' and by host app2 service 'x'"),
    ({"name": "x", "port": 9000, "domain": "app.example.com", "path": "/x/", "redirect_from": ["w.example.com"]},
     "redirects is \\['www.example.com'\\] from host app1 service 'front' but \\['w.example.com'\\] from host app2"),
    ({"name": "x", "port": 9000, "domain": "other.example.com", "aliases": ["www.example.com"]},
     "the name www.example.com is served by the site app.example.com and by the site other.example.com"),
])
def test_two_services_that_disagree_about_a_site_are_named(second, message):
    registries = {"app1": [{"name": "front", "port": 4321, "domain": "app.example.com",
                            "redirect_from": ["www.example.com"]}], "app2": [second]}
    with pytest.raises(ProxyPlanError, match=message):
        sites(registries)


def test_health_targets_only_from_a_proxy():
    hostvars = dict((host, {"portcullis_address": address}) for host, address in ADDRESSES.items())
    hostvars["app1"]["portcullis_services"] = [{"name": "api", "port": 8000, "domain": "api.example.com",
                                                "health": "/health"}]
    plan = Plan.of(hostvars, {"proxies": ["edge"]})
    assert _proxy_plan.health_targets(plan, "edge") == [{
        "url": "http://10.0.0.5:8000/health", "domain": "api.example.com", "path": "/", "host": "app1",
        "service": "api", "server": "10.0.0.5:8000", "health": "/health"}]
    assert _proxy_plan.health_targets(plan, "edge", ["app2"]) == []
    assert _proxy_plan.health_targets(plan, "app1") == []
    assert _proxy_plan.health_status({"status": 200}) == ("ok", "")
    assert _proxy_plan.health_status({"status": 503}) == ("failing", "HTTP 503")
    assert _proxy_plan.health_status({"status": -1, "msg": "Status code was -1: Connection refused"}) == (
        "failing", "Status code was -1: Connection refused")
    assert _proxy_plan.health_status({"skipped": True}) == ("unknown", "not asked")


def test_the_same_aliases_in_another_order_agree():
    names = ["x.example.com", "y.example.com"]
    result = sites({"app1": [{"name": "web", "port": 4001, "domain": "app.example.com", "aliases": names},
                             {"name": "api", "port": 4002, "domain": "app.example.com", "path": "/api/",
                              "aliases": ["y.example.com", "x.example.com"]}]})
    assert sorted(result[0]["aliases"]) == ["x.example.com", "y.example.com"]


def test_a_domain_too_long_for_its_certificate_file_names_is_refused_before_the_host_changes():
    labels = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 60])  # 243 characters, a valid DNS name
    domain = labels + ".ex.com"  # 250: DOMAIN.key.new would be 258 bytes
    with pytest.raises(ProxyPlanError, match="is 250 characters long: the certificate files"):
        sites({"app1": [{"name": "web", "port": 4001, "domain": domain}]})


def test_health_targets_of_a_broken_plan_are_none_rather_than_an_error():
    # The audit reports the plan's errors as conflicts; its health step must not stop the proxy first.
    registries = {"app1": [{"name": "web", "port": 4001, "domain": "app.example.com", "health": "/health"}],
                  "app2": [{"name": "web2", "port": 4001, "domain": "app.example.com", "health": "/health"}]}
    hostvars = dict((host, {"portcullis_services": services, "portcullis_address": "10.0.0.%d" % n})
                    for n, (host, services) in enumerate(sorted(registries.items()), 1))
    hostvars["edge"] = {"portcullis_address": "10.0.0.9"}
    plan = Plan.of(hostvars, {"proxies": ["edge"], "all": ["app1", "app2", "edge"]})
    assert _proxy_plan.health_targets(plan, "edge") == []
