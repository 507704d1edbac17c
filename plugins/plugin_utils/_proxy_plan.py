# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory's registries to reverse-proxy sites, on the controller:
every service with a domain becomes a site in the nginx_proxy module's
``sites`` format, its backend from its ``upstream`` or its host and port.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as nginx_config
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import UNSET, InventoryError

LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
# Certificate files are named after the domain: DOMAIN.key.new while the role makes a self-signed
# one, certbot's renewal/DOMAIN.conf; a file name holds at most NAME_MAX (255) bytes on Linux.
NAME_MAX = 255
LONGEST_SUFFIX = ".key.new"
# The group whose hosts run the reverse proxy (site.yml's nginx play): they
# connect to the backend of every service with a domain.
PROXY_GROUP = "proxies"
# The ports nginx itself listens on for the sites it publishes.
PROXY_PORTS = (80, 443)


class ProxyPlanError(ValueError):
    pass


def _bracket(address):
    return "[%s]" % address if address.version == 6 else str(address)


def self_proxied(service):
    """Whether a service on a proxy host, published without an upstream, is
    on a port nginx itself listens on: the proxy would proxy to itself."""
    return not service.upstream and service.single_port("tcp") in PROXY_PORTS


def service_upstreams(service, host, proxy_host, inventory, what):
    """The backends of a validated service: its ``upstream``, or where it listens."""
    if service.upstream:
        return service.upstream
    port = service.single_port("tcp")  # one TCP port: the registry refuses a domain without it or an upstream
    if host == proxy_host and self_proxied(service):
        raise ProxyPlanError("%s: port %d is where nginx on %s listens itself, so the site would proxy to itself; "
                             "give the backend as upstream: host:port" % (what, port, host))
    if service.bind.loopback:
        if host != proxy_host:
            raise ProxyPlanError("%s: it listens on %s of %s only, which the proxy on %s cannot reach; "
                                 "bind it to an address the proxy reaches or give upstream"
                                 % (what, service.bind.address, host, proxy_host))
        return [service.bind.endpoint(port)]
    if not service.bind.wildcard:
        return [service.bind.endpoint(port)]
    if host == proxy_host:
        return ["127.0.0.1:%d" % port]
    return ["%s:%d" % (_bracket(inventory.address(host, what)), port)]


def sites_from_registry(inventory, hosts, proxy_host, defaults=None, certificate_dir="/etc/ssl/portcullis",
                        certbot=False, certbot_ready=(), policy=None, seen=UNSET):
    """Every service with a domain in the registries of ``hosts`` to a route
    of its domain's site (its ``path``, ``/`` by default); one site per domain.

    ``defaults`` are route options for every route; a service's ``proxy``
    mapping overrides them. allow and deny take hosts, groups and CIDRs. The
    site-level values (``aliases``, ``redirect_from``, the certificate,
    ``redirect_code``) may come from any route of the domain, but not
    differently from two. A site without a certificate is self-signed, or
    with ``certbot`` uses Let's Encrypt's once its domain is in
    ``certbot_ready``. ``seen`` is the proxy host's ``portcullis_services``
    as the role sees it, checked against hostvars. Raises ProxyPlanError,
    RegistryError or InventoryError.
    """
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(_registry.SITE_OPTIONS), key=str)
    if unknown:
        raise ProxyPlanError("unknown site default %r: known ones are %s"
                             % (unknown[0], ", ".join(sorted(_registry.SITE_OPTIONS))))
    try:
        _registry.path(certificate_dir, "certificate_dir")
        defaults = _registry.site_options(defaults, "site defaults")
    except _values.BadValue as error:
        raise ProxyPlanError(str(error))
    if seen is not UNSET:
        inventory.registry(proxy_host, seen)
    sites = {}
    for host in sorted(hosts):
        try:
            validated = _registry.validate(inventory.registry(host), policy)
        except _registry.RegistryError as error:
            raise _registry.RegistryError(["host %s: %s" % (host, message) for message in error.errors])
        for service in validated:
            if not service.domain:
                continue
            what = "host %s service %r" % (host, service.name)
            site = sites.setdefault(service.domain, {"domain": service.domain, "routes": [], "from": {}})
            for route in site["routes"]:
                if route["path"] == service.path:
                    raise ProxyPlanError("domain %s path %s is published twice: by host %s service %r and by host %s "
                                         "service %r; to balance one route over several servers, list them under "
                                         "upstream" % (service.domain, service.path, route["host"], route["service"],
                                                       host, service.name))
            route = dict(defaults)
            route.update(dict((key, value) for key, value in service.proxy.items() if key in _registry.SITE_OPTIONS))
            for key in ("allow", "deny"):
                route[key] = inventory.sources(route.get(key) or [], "%s proxy %s" % (what, key))
            servers = service_upstreams(service, host, proxy_host, inventory, what)
            route.update({"path": service.path, "host": host, "service": service.name,
                          "upstreams": [dict(service.upstream_params.get(server, {}), server=server)
                                        for server in servers]})
            if service.health:
                route["health"] = service.health
            site["routes"].append(route)
            # The values of the whole site, from whichever route gives them, once.
            given = dict((key, value) for key, value in service.proxy.items() if key not in _registry.SITE_OPTIONS)
            if service.aliases:
                given["aliases"] = service.aliases
            if service.redirect_from:
                given["redirects"] = service.redirect_from
            for key, value in given.items():
                if key in site and _comparable(site[key]) != _comparable(value):
                    first = site["from"][key]
                    raise ProxyPlanError("domain %s: %s is %r from host %s service %r but %r from host %s service %r; "
                                         "give it once" % (service.domain, key, site[key], first[0], first[1], value,
                                                           host, service.name))
                site[key] = value
                site["from"][key] = (host, service.name)
    claimed = {}
    for domain in sorted(sites):
        for name in [domain] + sites[domain].get("aliases", []) + sites[domain].get("redirects", []):
            if name in claimed and claimed[name] != domain:
                raise ProxyPlanError("the name %s is served by the site %s and by the site %s (as a domain, an alias or "
                                     "a redirect): give it to one" % (name, claimed[name], domain))
            claimed[name] = domain
    result = []
    for domain in sorted(sites):
        site = sites[domain]
        site.pop("from")
        given = bool(site.get("certificate"))
        if domain.startswith("*.") and not given:
            raise ProxyPlanError("the wildcard domain %s needs a certificate (proxy.certificate and certificate_key on "
                                 "one of its services): neither a self-signed one nor certbot's http-01 can make it"
                                 % domain)
        if not given and len(domain) + len(LONGEST_SUFFIX) > NAME_MAX:
            raise ProxyPlanError("the domain %s is %d characters long: the certificate files named after it would "
                                 "pass the %d-character limit of a file name; give it a certificate "
                                 "(proxy.certificate and certificate_key)" % (domain, len(domain), NAME_MAX))
        site["certbot"] = bool(certbot) and not given
        site["self_signed"] = not given and not (site["certbot"] and domain in certbot_ready)
        if site["self_signed"]:
            site["certificate"] = "%s/%s.crt" % (certificate_dir.rstrip("/"), domain)
            site["certificate_key"] = "%s/%s.key" % (certificate_dir.rstrip("/"), domain)
        elif site["certbot"]:
            site["certificate"] = "%s/%s/fullchain.pem" % (LETSENCRYPT_LIVE, domain)
            site["certificate_key"] = "%s/%s/privkey.pem" % (LETSENCRYPT_LIVE, domain)
        try:
            checked = nginx_config.check_site(site)
        except nginx_config.NginxProxyError as error:
            raise ProxyPlanError(str(error))
        for checked_route, route in zip(checked["routes"], sorted(site["routes"], key=lambda item: item["path"])):
            if route.get("health"):
                checked_route["health"] = route["health"]
        checked.update(self_signed=site["self_signed"], certbot=site["certbot"],
                       names=nginx_config.site_names(checked))
        result.append(checked)
    return result


def _comparable(value):
    """Lists of names compare as sets: the same aliases in another order agree."""
    return sorted(value) if isinstance(value, list) else value


def health_targets(inventory, hosts, proxy_host, policy=None):
    """What ``proxy_host`` asks for in the audit: for each route with a
    ``health`` path, one request per backend server. Empty when the host is
    not one of the proxies. ``[{"url", "domain", "path", "host", "service",
    "server", "health"}]``."""
    if proxy_host not in (inventory.groups.get(PROXY_GROUP) or ()):
        return []
    try:
        sites = sites_from_registry(inventory, hosts, proxy_host, policy=policy)
    except (_registry.RegistryError, ProxyPlanError, InventoryError):
        # A plan with errors has no sites to check; the audit reports those errors as conflicts.
        return []
    targets = []
    for site in sites:
        for route in site["routes"]:
            if not route.get("health"):
                continue
            for server in route["upstreams"]:
                targets.append({"url": "http://%s%s" % (server["server"], route["health"]), "domain": site["domain"],
                                "path": route["path"], "host": route.get("host"), "service": route.get("service"),
                                "server": server["server"], "health": route["health"]})
    return targets


def health_status(answer):
    """One registered ``uri`` result of the audit to ``(status, detail)``:
    ``ok`` for HTTP 200, ``failing`` with the status or the error, and
    ``unknown`` when no request was made."""
    if not isinstance(answer, dict) or answer.get("skipped") or "status" not in answer:
        return "unknown", "not asked"
    status = answer.get("status")
    if status == 200:
        return "ok", ""
    if status in (-1, None):
        return "failing", str(answer.get("msg") or "no answer").strip().split("\n", 1)[0][:120]
    return "failing", "HTTP %s" % status
