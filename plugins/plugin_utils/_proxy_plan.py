# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A proxy's sites, on the controller, from the plan's routes (``_plan``):
every service with a domain becomes a route of its domain's site in the
nginx_proxy module's ``sites`` format, with the upstream servers the plan
chose for that proxy (the plan alone decides how a proxy reaches a backend).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _certificates as nginx_certificates
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _config as nginx_config
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import InventoryError

# Where the nginx_proxy module finds certbot's certificates (it owns the path).
LETSENCRYPT_LIVE = nginx_certificates.LETSENCRYPT_LIVE
# Certificate files are named after the domain: DOMAIN.key.new while the module makes a self-signed
# one, certbot's renewal/DOMAIN.conf; a file name holds at most NAME_MAX (255) bytes on Linux.
NAME_MAX = 255
LONGEST_SUFFIX = ".key" + nginx_certificates.NEW_SUFFIX


class ProxyPlanError(ValueError):
    pass


def sites(plan, proxy, defaults=None, certificate_dir="/etc/ssl/portcullis", certbot=False, certbot_ready=(),
          hosts=None):
    """The sites of ``proxy``: each of the plan's routes (a service with a
    domain, at its ``path``, ``/`` by default, with the upstream servers the
    plan chose for this proxy) in its domain's site; one site per domain.
    ``hosts`` (None: all) limits the routes to the services of those hosts.

    ``defaults`` are route options for every route; a service's ``proxy``
    mapping overrides them. allow and deny take hosts, groups and CIDRs. The
    site-level values (``aliases``, ``redirect_from``, the certificate,
    ``redirect_code``) may come from any route of the domain, but not
    differently from two. A site without a certificate is self-signed, or
    with ``certbot`` uses Let's Encrypt's once its domain is in
    ``certbot_ready``. Raises ProxyPlanError, PlanError, RegistryError or
    InventoryError.
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
    found = {}
    for planned in plan.proxy_routes(proxy, hosts):
        host, service = planned["host"], planned["service"]
        what = "host %s service %r" % (host, service.name)
        site = found.setdefault(service.domain, {"domain": service.domain, "routes": [], "from": {}})
        for route in site["routes"]:
            if route["path"] == service.path:
                raise ProxyPlanError("domain %s path %s is published twice: by host %s service %r and by host %s "
                                     "service %r; to balance one route over several servers, list them under "
                                     "upstream" % (service.domain, service.path, route["host"], route["service"],
                                                   host, service.name))
        route = dict(defaults)
        route.update(dict((key, value) for key, value in service.proxy.items() if key in _registry.SITE_OPTIONS))
        for key in ("allow", "deny"):
            route[key] = plan.sources(route.get(key) or [], "%s proxy %s" % (what, key))
        route.update({"path": service.path, "host": host, "service": service.name,
                      "upstreams": [dict(server) for server in planned["servers"]]})
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
    for domain in sorted(found):
        for name in [domain] + found[domain].get("aliases", []) + found[domain].get("redirects", []):
            if name in claimed and claimed[name] != domain:
                raise ProxyPlanError("the name %s is served by the site %s and by the site %s (as a domain, an alias or "
                                     "a redirect): give it to one" % (name, claimed[name], domain))
            claimed[name] = domain
    result = []
    for domain in sorted(found):
        site = found[domain]
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


def health_targets(plan, proxy, hosts=None):
    """What ``proxy`` asks for in the audit: for each route with a ``health``
    path (of a service of ``hosts``, None: every host), one request per
    backend server. Empty when the host is not one of the proxies, or when
    its sites cannot be made (the audit reports why). ``[{"url", "domain",
    "path", "host", "service", "server", "health"}]``."""
    if proxy not in (plan.groups.get(_plan.PROXY_GROUP) or ()):
        return []
    try:
        found = sites(plan, proxy)
    except (_registry.RegistryError, ProxyPlanError, _plan.PlanError, InventoryError):
        return []
    targets = []
    for site in found:
        for route in site["routes"]:
            if not route.get("health") or (hosts is not None and route.get("host") not in hosts):
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
