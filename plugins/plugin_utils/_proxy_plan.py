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
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import UNSET

LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
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
    """Every service with a domain in the registries of ``hosts`` to a site.

    ``defaults`` are site options for every site; a service's ``proxy``
    mapping overrides them. allow and deny take hosts, groups and CIDRs.
    A site without a certificate is self-signed, or with ``certbot`` uses
    Let's Encrypt's once its domain is in ``certbot_ready``. ``seen`` is the
    proxy host's ``portcullis_services`` as the role sees it, checked against
    hostvars. Raises ProxyPlanError, RegistryError or InventoryError.
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
            domain = service.domain
            if domain in sites:
                first = sites[domain]
                raise ProxyPlanError("domain %s is published twice: by host %s service %r and by host %s service %r; "
                                     "to balance one domain over several servers, list them under upstream"
                                     % (domain, first["host"], first["service"], host, service.name))
            site = dict(defaults)
            site.update(service.proxy)
            for key in ("allow", "deny"):
                site[key] = inventory.sources(site.get(key) or [], "%s proxy %s" % (what, key))
            site.update({
                "domain": domain,
                "host": host,
                "service": service.name,
                "upstreams": service_upstreams(service, host, proxy_host, inventory, what),
            })
            given = bool(site.get("certificate"))  # a wildcard has one: the registry refuses it otherwise
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
            checked.update(self_signed=site["self_signed"], certbot=site["certbot"])
            sites[domain] = checked
    return [sites[domain] for domain in sorted(sites)]
