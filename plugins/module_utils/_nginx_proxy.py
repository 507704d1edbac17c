# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry services with a domain to nginx reverse-proxy configuration.

Plain Python: the filter builds sites from the inventory with
``sites_from_registry``; the module checks them again with ``check_site`` and
renders them with ``render``. Every string that reaches nginx passes
``_safe_token`` first, so a registry value can never add a directive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _port_resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils import _registry_rules

MANAGED_HEADER = "# Managed by portcullis.ports.nginx_proxy from the port registry; local edits are overwritten.\n"

# Mozilla Server Side TLS guidelines 6.0. TLS 1.3 suites are OpenSSL's defaults.
TLS_PROFILES = {
    "intermediate": {
        "protocols": "TLSv1.2 TLSv1.3",
        "ciphers": ":".join([
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        ]),
    },
    "modern": {"protocols": "TLSv1.3", "ciphers": None},
}
TLS_CURVES = "X25519:prime256v1:secp384r1"

# Defaults of a site's options; the module's argument spec and the role repeat them.
SITE_DEFAULTS = {
    "allow": [],
    "deny": [],
    "rate_limit": None,
    "client_max_body_size": "10m",
    "connect_timeout": "5s",
    "send_timeout": "60s",
    "read_timeout": "60s",
    "websocket": True,
    "headers": {},
}
PROXY_OPTION_KEYS = tuple(sorted(set(SITE_DEFAULTS) | {"certificate", "certificate_key"}))
DEFAULT_RATE_LIMIT = {"rate": "10r/s", "burst": 20}
# Request headers the proxy sets itself; a site's headers may not repeat them.
FIXED_HEADERS = ("host", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "upgrade", "connection")

_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", re.IGNORECASE)
_SIZE = re.compile(r"^[0-9]+[kKmMgG]?$")
_TIME = re.compile(r"^[0-9]+(ms|s|m|h|d)?$")
_RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
# What nginx reads as syntax (or expands, for $) inside an unquoted value.
_UNSAFE = set(";{}'\"#$\\`")


class NginxProxyError(ValueError):
    pass


def _safe_token(value, what):
    if not isinstance(value, str) or not value:
        raise NginxProxyError("%s must be a non-empty string, got %r" % (what, value))
    for char in value:
        if char in _UNSAFE or char.isspace() or not (" " < char < "\x7f"):
            raise NginxProxyError("%s %r contains %r, which nginx would read as syntax; refused" % (what, value, char))
    return value


def _matching(value, pattern, what, expected):
    _safe_token(value if isinstance(value, str) else str(value), what)
    if not pattern.match(str(value)):
        raise NginxProxyError("%s %r is not valid: expected %s" % (what, value, expected))
    return str(value)


def check_domain(value, what="domain"):
    _safe_token(value, what)
    if value != value.lower() or not _DOMAIN.match(value):
        raise NginxProxyError("%s %r is not valid: expected a lower-case host name such as app.example.com" % (what, value))
    return value


def check_path(value, what):
    _safe_token(value, what)
    if not value.startswith("/"):
        raise NginxProxyError("%s %r is not valid: expected an absolute path" % (what, value))
    return value


def check_upstream_server(value, what):
    """``host:port`` or ``[v6]:port``; returns it normalized."""
    text = _safe_token(value if isinstance(value, str) else str(value), what)
    match = re.match(r"^\[([0-9a-fA-F:.]+)\]:([0-9]+)$", text) or re.match(r"^([^:\[\]]+):([0-9]+)$", text)
    if not match:
        raise NginxProxyError("%s %r is not valid: expected host:port or [IPv6]:port" % (what, value))
    host, port = match.group(1), int(match.group(2))
    if not 1 <= port <= 65535:
        raise NginxProxyError("%s %r has port %d, outside 1-65535" % (what, value, port))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.match(host):
            raise NginxProxyError("%s %r: %r is neither an IP address nor a host name" % (what, value, host))
        return "%s:%d" % (host.lower(), port)
    return ("[%s]:%d" if address.version == 6 else "%s:%d") % (address, port)


def _check_networks(values, what):
    if not isinstance(values, list):
        raise NginxProxyError("%s must be a list of addresses or CIDRs, got %r" % (what, values))
    result = []
    for value in values:
        _safe_token(value if isinstance(value, str) else str(value), what)
        try:
            result.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError:
            raise NginxProxyError("%s: %r is not an IP address or CIDR" % (what, value))
    return result


def _check_rate_limit(value, what):
    if value in (None, False):
        return None
    if value is True:
        value = dict(DEFAULT_RATE_LIMIT)
    if not isinstance(value, dict) or set(value) - {"rate", "burst"}:
        raise NginxProxyError("%s must be true, false or a mapping of rate and burst, got %r" % (what, value))
    rate = _matching(value.get("rate", DEFAULT_RATE_LIMIT["rate"]), _RATE, what + " rate", "requests per second or minute such as 10r/s")
    burst = value.get("burst", DEFAULT_RATE_LIMIT["burst"])
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise NginxProxyError("%s burst %r is not valid: expected a whole number of requests, 0 or more" % (what, burst))
    return {"rate": rate, "burst": burst}


def check_site(site):
    """One site mapping, complete or not, to a checked and complete one."""
    if not isinstance(site, dict):
        raise NginxProxyError("a site must be a mapping, got %r" % (site,))
    domain = check_domain(site.get("domain"), "domain")
    what = "site %s:" % domain
    result = {"domain": domain}
    upstreams = site.get("upstreams")
    if not isinstance(upstreams, list) or not upstreams:
        raise NginxProxyError("%s upstreams must be a non-empty list of host:port, got %r" % (what, upstreams))
    result["upstreams"] = [check_upstream_server(item, what + " upstream") for item in upstreams]
    for key in ("certificate", "certificate_key"):
        result[key] = check_path(site.get(key), "%s %s" % (what, key))
    options = dict(SITE_DEFAULTS)
    options.update(dict((key, value) for key, value in site.items() if value is not None and key in SITE_DEFAULTS))
    result["allow"] = _check_networks(options["allow"], what + " allow")
    result["deny"] = _check_networks(options["deny"], what + " deny")
    result["rate_limit"] = _check_rate_limit(options["rate_limit"], what + " rate_limit")
    result["client_max_body_size"] = _matching(options["client_max_body_size"], _SIZE, what + " client_max_body_size",
                                               "a size such as 10m")
    for key in ("connect_timeout", "send_timeout", "read_timeout"):
        result[key] = _matching(options[key], _TIME, "%s %s" % (what, key), "a time such as 60s")
    if not isinstance(options["websocket"], bool):
        raise NginxProxyError("%s websocket must be true or false, got %r" % (what, options["websocket"]))
    result["websocket"] = options["websocket"]
    headers = options["headers"]
    if not isinstance(headers, dict):
        raise NginxProxyError("%s headers must be a mapping of header name to value, got %r" % (what, headers))
    result["headers"] = {}
    seen = set()
    for name in sorted(headers, key=str):
        _matching(name, _HEADER_NAME, what + " header name", "letters, digits and dashes")
        if name.lower() in FIXED_HEADERS:
            raise NginxProxyError("%s header %s is set by the proxy itself and cannot be given" % (what, name))
        if name.lower() in seen:
            raise NginxProxyError("%s header %s is given twice (header names ignore case)" % (what, name))
        seen.add(name.lower())
        value = headers[name]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise NginxProxyError("%s header %s value %r is not valid: expected a string or a number" % (what, name, value))
        result["headers"][name] = _safe_token(str(value), "%s header %s value" % (what, name))
    for key in ("service", "host"):
        if site.get(key) is not None:
            result[key] = _safe_token(str(site[key]), "%s %s" % (what, key))
    return result


def check_proxy_options(options, what):
    """The registry's per-service ``proxy`` mapping: known keys only."""
    if not isinstance(options, dict):
        raise NginxProxyError("%s: proxy must be a mapping, got %r" % (what, options))
    unknown = sorted(set(options) - set(PROXY_OPTION_KEYS), key=str)
    if unknown:
        raise NginxProxyError("%s: unknown proxy option %r: known options are %s"
                              % (what, unknown[0], ", ".join(PROXY_OPTION_KEYS)))


def _service_upstreams(service, host, proxy_host, addresses_of, what):
    explicit = service.get("upstream")
    if explicit is not None:
        items = explicit if isinstance(explicit, list) else [explicit]
        if not items:
            raise NginxProxyError("%s: upstream is an empty list" % what)
        return [check_upstream_server(item, what + " upstream") for item in items]
    if "port" not in service:
        raise NginxProxyError("%s: missing port" % what)
    try:
        port = resolver.service_port(service["port"], "tcp")
    except resolver.PortSpecError as error:
        raise NginxProxyError("%s: %s; give the backend as upstream: host:port" % (what, error))
    bind = service.get("bind", "0.0.0.0")
    try:
        bind_address = ipaddress.ip_address(str(bind))
    except ValueError:
        raise NginxProxyError("%s: invalid bind address %r" % (what, bind))
    if bind_address.is_loopback:
        if host != proxy_host:
            raise NginxProxyError("%s: it listens on %s of %s only, which the proxy on %s cannot reach; "
                                  "bind it to an address the proxy reaches or give upstream"
                                  % (what, bind, host, proxy_host))
        return [check_upstream_server("%s:%d" % (_bracket(bind_address), port), what)]
    if not bind_address.is_unspecified:
        return [check_upstream_server("%s:%d" % (_bracket(bind_address), port), what)]
    if host == proxy_host:
        return ["127.0.0.1:%d" % port]
    address = str(addresses_of(host, what)[0])
    try:
        # portcullis_address may be written as a CIDR (10.0.0.5/32), as the firewall accepts.
        address = _bracket(ipaddress.ip_interface(address).ip)
    except ValueError:
        pass  # a host name: check_upstream_server decides
    return [check_upstream_server("%s:%d" % (address, port), what)]


def _bracket(address):
    return "[%s]" % address if address.version == 6 else str(address)


LETSENCRYPT_LIVE = "/etc/letsencrypt/live"


def sites_from_registry(registries, proxy_host, addresses_of, groups, defaults=None, certificate_dir="/etc/ssl/portcullis",
                        certbot=False, certbot_ready=()):
    """Every service with a domain in ``registries`` (host -> service list) to a site.

    ``defaults`` are site options for every site; a service's ``proxy``
    mapping overrides them. allow and deny take hosts, groups and CIDRs.
    A site without a certificate is self-signed, or with ``certbot`` uses
    Let's Encrypt's once its domain is in ``certbot_ready``.
    """
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(SITE_DEFAULTS), key=str)
    if unknown:
        raise NginxProxyError("unknown site default %r: known ones are %s" % (unknown[0], ", ".join(sorted(SITE_DEFAULTS))))
    check_path(certificate_dir, "certificate_dir")
    sites = {}
    for host in sorted(registries):
        services = registries[host] or []
        if not isinstance(services, list):
            raise NginxProxyError("host %s: portcullis_services must be a list, got %r" % (host, services))
        for service in services:
            if not isinstance(service, dict) or not service.get("domain"):
                continue
            what = "host %s service %r" % (host, service.get("name"))
            domain = check_domain(service["domain"], what + " domain")
            if domain in sites:
                first = sites[domain]
                raise NginxProxyError("domain %s is published twice: by host %s service %r and by host %s service %r; "
                                      "to balance one domain over several servers, list them under upstream"
                                      % (domain, first["host"], first["service"], host, service.get("name")))
            proxy = service.get("proxy") or {}
            check_proxy_options(proxy, what)
            site = dict(defaults)
            site.update(proxy)
            for key in ("allow", "deny"):
                sources = site.get(key) or []
                try:
                    site[key] = _registry_rules.expand_sources(sources, addresses_of, groups, "%s proxy %s" % (what, key))
                except _registry_rules.RegistryRuleError as error:
                    raise NginxProxyError(str(error))
            site.update({
                "domain": domain,
                "host": host,
                "service": service.get("name"),
                "upstreams": _service_upstreams(service, host, proxy_host, addresses_of, what),
            })
            given = bool(site.get("certificate"))
            if domain.startswith("*.") and not given:
                raise NginxProxyError("%s: the wildcard domain %s needs a certificate (proxy.certificate): neither a "
                                      "self-signed one nor certbot's http-01 can make it here" % (what, domain))
            site["certbot"] = bool(certbot) and not given
            site["self_signed"] = not given and not (site["certbot"] and domain in certbot_ready)
            if site["self_signed"]:
                site["certificate"] = "%s/%s.crt" % (certificate_dir.rstrip("/"), domain)
                site["certificate_key"] = "%s/%s.key" % (certificate_dir.rstrip("/"), domain)
            elif site["certbot"]:
                site["certificate"] = "%s/%s/fullchain.pem" % (LETSENCRYPT_LIVE, domain)
                site["certificate_key"] = "%s/%s/privkey.pem" % (LETSENCRYPT_LIVE, domain)
            elif not site.get("certificate_key"):
                raise NginxProxyError("%s: certificate is given without certificate_key" % what)
            checked = check_site(site)
            checked["self_signed"] = site["self_signed"]
            checked["certbot"] = site["certbot"]
            sites[domain] = checked
    return [sites[domain] for domain in sorted(sites)]


MAIN_DEFAULTS = {
    "path": "/etc/nginx/nginx.conf",
    "pid": "/run/nginx.pid",
    "error_log": "/var/log/nginx/error.log",
    "access_log": "/var/log/nginx/access.log",
    "mime_types": "/etc/nginx/mime.types",
    "worker_connections": 1024,
    "main_includes": [],
    "http_includes": ["/etc/nginx/conf.d/*.conf"],
}


def render_main(main):
    """nginx.conf: the distribution's layout (user, pid, includes) with
    hardened http defaults, so servers outside this module also get them."""
    config = dict(MAIN_DEFAULTS)
    config.update(dict((key, value) for key, value in (main or {}).items() if value is not None))
    check_path(config["path"], "main_config path")
    user = _safe_token(config.get("user"), "main_config user")
    connections = config["worker_connections"]
    if isinstance(connections, bool) or not isinstance(connections, int) or not 1 <= connections <= 1048576:
        raise NginxProxyError("main_config worker_connections %r is not valid: expected 1 to 1048576" % (connections,))
    paths = dict((key, check_path(config[key], "main_config " + key))
                 for key in ("pid", "error_log", "access_log", "mime_types"))
    includes = {}
    for key in ("main_includes", "http_includes"):
        if not isinstance(config[key], list):
            raise NginxProxyError("main_config %s must be a list of paths, got %r" % (key, config[key]))
        includes[key] = [check_path(item, "main_config " + key) for item in config[key]]
    lines = [MANAGED_HEADER.rstrip("\n"), "user %s;" % user, "worker_processes auto;",
             # gixy: file descriptors for twice the connections (client and upstream side).
             "worker_rlimit_nofile %d;" % (2 * connections),
             "pid %s;" % paths["pid"], "error_log %s;" % paths["error_log"]]
    lines += ["include %s;" % item for item in includes["main_includes"]]
    lines += ["", "events {", "    worker_connections %d;" % connections, "}", "", "http {",
              "    sendfile on;", "    tcp_nopush on;", "    types_hash_max_size 2048;",
              # Room for long domain names (the default bucket fits about 50 characters).
              "    server_names_hash_bucket_size 128;", "    server_tokens off;",
              "    include %s;" % paths["mime_types"], "    default_type application/octet-stream;",
              "    ssl_protocols TLSv1.2 TLSv1.3;", "    ssl_prefer_server_ciphers off;",
              "    access_log %s;" % paths["access_log"]]
    lines += ["    include %s;" % item for item in includes["http_includes"]]
    lines += ["}"]
    return "\n".join(lines) + "\n", config["path"], includes["http_includes"]


def zone_name(domain):
    """A name for the domain's upstream and limit_req zone, distinct per domain:
    labels cannot start or end with "-", so "__" only ever stands for "-"."""
    return "portcullis_" + domain.replace("*", "").replace("-", "__").replace(".", "_")


def version_tuple(text):
    match = re.search(r"nginx/([0-9]+)\.([0-9]+)\.([0-9]+)", text or "")
    return tuple(int(part) for part in match.groups()) if match else None


class Renderer:
    """The configuration text for checked sites. ``features`` says what the
    installed nginx supports (``http2_directive``, ``reject_handshake``)."""

    def __init__(self, sites, tls_profile="intermediate", hsts_max_age=63072000, health_path="/nginx-health",
                 acme_root="/var/www/portcullis-acme", health_root="/var/www/portcullis-health", ipv6=True, http2=True,
                 features=None, fallback_certificate=None):
        if tls_profile not in TLS_PROFILES:
            raise NginxProxyError("tls_profile %r is not known: expected %s" % (tls_profile, ", ".join(sorted(TLS_PROFILES))))
        if isinstance(hsts_max_age, bool) or not isinstance(hsts_max_age, int) or hsts_max_age < 0:
            raise NginxProxyError("hsts_max_age %r is not valid: expected seconds, 0 to send no HSTS" % (hsts_max_age,))
        self.sites = [check_site(site) for site in sites]
        seen = set()
        for site in self.sites:
            if site["domain"] in seen:
                raise NginxProxyError("domain %s is given twice" % site["domain"])
            seen.add(site["domain"])
        self.sites.sort(key=lambda site: site["domain"])
        self.tls = TLS_PROFILES[tls_profile]
        self.hsts_max_age = hsts_max_age
        self.health_path = check_path(health_path, "health_path") if health_path else None
        if self.health_path and (".." in self.health_path.split("/") or self.health_path.endswith("/")):
            raise NginxProxyError("health_path %r is not valid: expected a file path such as /nginx-health" % health_path)
        self.acme_root = check_path(acme_root, "acme_root") if acme_root else None
        self.health_root = check_path(health_root, "health_root").rstrip("/") or "/"
        self.ipv6 = ipv6
        self.http2 = http2
        self.features = dict(http2_directive=True, reject_handshake=True)
        self.features.update(features or {})
        self.fallback_certificate = None
        if fallback_certificate:
            self.fallback_certificate = dict((key, check_path(fallback_certificate.get(key), "fallback_certificate " + key))
                                             for key in ("certificate", "certificate_key"))

    def health_file(self):
        """The file the health location serves, or None."""
        return self.health_root.rstrip("/") + self.health_path if self.health_path else None

    def _listen(self, lines, port, extra=""):
        http2 = " http2" if port == 443 and self.http2 and not self.features["http2_directive"] else ""
        ssl = " ssl" if port == 443 else ""
        lines.append("    listen %d%s%s%s;" % (port, ssl, http2, extra))
        if self.ipv6:
            lines.append("    listen [::]:%d%s%s%s;" % (port, ssl, http2, extra))
        if port == 443 and self.http2 and self.features["http2_directive"]:
            lines.append("    http2 on;")

    def render(self):
        out = [MANAGED_HEADER.rstrip("\n")]
        out.append("# Sites: %s" % (", ".join(site["domain"] for site in self.sites) or "none"))
        out.append("")
        out += ["map $http_upgrade $portcullis_connection_upgrade {", "    default upgrade;", "    \"\" \"\";", "}", ""]
        for site in self.sites:
            if site["rate_limit"]:
                out.append("limit_req_zone $binary_remote_addr zone=%s:10m rate=%s;"
                           % (zone_name(site["domain"]), site["rate_limit"]["rate"]))
        out.append("")
        for site in self.sites:
            out.append("upstream %s {" % zone_name(site["domain"]))
            out += ["    server %s;" % server for server in site["upstreams"]]
            out += ["    keepalive 16;", "}", ""]
        out += self._default_server()
        for site in self.sites:
            out += self._redirect_server(site)
            out += self._tls_server(site)
        return "\n".join(out).rstrip("\n") + "\n"

    def _default_server(self):
        lines = ["# Requests for a Host that no site names are refused: HTTP closes the connection,",
                 "# HTTPS refuses the TLS handshake (or, on an older nginx, closes after it).", "server {"]
        self._listen(lines, 80, " default_server")
        lines += ["    server_name _;", "    server_tokens off;", "    return 444;", "}", "", "server {"]
        self._listen(lines, 443, " default_server")
        lines += ["    server_name _;", "    server_tokens off;"]
        lines += self._tls_settings()
        if self.features["reject_handshake"]:
            lines.append("    ssl_reject_handshake on;")
            # An HTTP/2 connection of a named site may still send another Host here.
            lines += ["    location / {", "        return 421;", "    }"]
        else:
            certificate = self.fallback_certificate or (self.sites[0] if self.sites else None)
            if certificate is None:
                raise NginxProxyError("this nginx has no ssl_reject_handshake: the default server needs a certificate")
            lines += ["    ssl_certificate %s;" % certificate["certificate"],
                      "    ssl_certificate_key %s;" % certificate["certificate_key"],
                      "    return 444;"]
        lines += ["}", ""]
        return lines

    def _tls_settings(self):
        lines = ["    ssl_protocols %s;" % self.tls["protocols"]]
        if self.tls["ciphers"]:
            lines.append("    ssl_ciphers %s;" % self.tls["ciphers"])
        return lines + [
            "    ssl_ecdh_curve %s;" % TLS_CURVES,
            "    ssl_prefer_server_ciphers off;",
            "    ssl_session_timeout 1d;",
            "    ssl_session_cache shared:portcullis_tls:10m;",
            "    ssl_session_tickets off;",
        ]

    def _redirect_server(self, site):
        lines = ["# %s: HTTP to HTTPS%s" % (site["domain"], ", ACME http-01 kept open" if self.acme_root else ""),
                 "server {"]
        self._listen(lines, 80)
        lines += ["    server_name %s;" % site["domain"], "    server_tokens off;"]
        if self.acme_root:
            lines += ["    location ^~ /.well-known/acme-challenge/ {",
                      "        root %s;" % self.acme_root,
                      "        default_type text/plain;",
                      "    }"]
        # A wildcard site redirects to the name asked for, which its server_name matched.
        target = "$host" if site["domain"].startswith("*.") else site["domain"]
        lines += ["    location / {", "        return 301 https://%s$request_uri;" % target, "    }", "}", ""]
        return lines

    def _tls_server(self, site):
        origin = "%s/%s" % (site["host"], site.get("service")) if site.get("host") else "given sites"
        lines = ["# %s: from %s to %s" % (site["domain"], origin, ", ".join(site["upstreams"])), "server {"]
        self._listen(lines, 443)
        lines += [
            "    server_name %s;" % site["domain"],
            "    server_tokens off;",
            "    ssl_certificate %s;" % site["certificate"],
            "    ssl_certificate_key %s;" % site["certificate_key"],
        ]
        lines += self._tls_settings()
        if self.hsts_max_age:
            lines.append("    add_header Strict-Transport-Security \"max-age=%d\" always;" % self.hsts_max_age)
        lines.append("    client_max_body_size %s;" % site["client_max_body_size"])
        lines += ["    deny %s;" % network for network in site["deny"]]
        lines += ["    allow %s;" % network for network in site["allow"]]
        if site["allow"]:
            lines.append("    deny all;")
        if self.health_path:
            # A static file, not "return": return would answer before allow/deny are checked.
            lines += ["    location = %s {" % self.health_path, "        access_log off;",
                      "        default_type text/plain;", "        root %s;" % self.health_root, "    }"]
        lines.append("    location / {")
        if site["rate_limit"]:
            burst = site["rate_limit"]["burst"]
            lines += ["        limit_req zone=%s%s nodelay;" % (zone_name(site["domain"]), " burst=%d" % burst if burst else ""),
                      "        limit_req_status 429;"]
        lines += [
            "        proxy_pass http://%s;" % zone_name(site["domain"]),
            "        proxy_http_version 1.1;",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Real-IP $remote_addr;",
            # The edge proxy: a client's own X-Forwarded-For is not passed on.
            "        proxy_set_header X-Forwarded-For $remote_addr;",
            "        proxy_set_header X-Forwarded-Proto $scheme;",
        ]
        if site["websocket"]:
            lines += ["        proxy_set_header Upgrade $http_upgrade;",
                      "        proxy_set_header Connection $portcullis_connection_upgrade;"]
        else:
            lines.append("        proxy_set_header Connection \"\";")
        lines += ["        proxy_set_header %s %s;" % (name, value) for name, value in sorted(site["headers"].items())]
        lines += [
            "        proxy_connect_timeout %s;" % site["connect_timeout"],
            "        proxy_send_timeout %s;" % site["send_timeout"],
            "        proxy_read_timeout %s;" % site["read_timeout"],
            "    }",
            "}",
            "",
        ]
        return lines
