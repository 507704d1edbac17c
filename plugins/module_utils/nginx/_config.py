# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx reverse-proxy configuration from sites: ``check_site`` checks one
site (with the registry's own checks for its options), ``Renderer`` writes
the proxy file and ``render_main`` nginx.conf. Every string that reaches
nginx passes ``_values.nginx_token``, so no value can add a directive.

Sites come from the controller's planner (plugin_utils/_proxy_plan.py) or
straight from the module's ``sites``. Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import ipaddress
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _cdn_ranges
from ansible_collections.portcullis.ports.plugins.module_utils.nginx import _edge
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry

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

# The site options and their defaults are registry keys: ports._registry owns them.
SITE_DEFAULTS = _registry.SITE_OPTIONS


class NginxProxyError(ValueError):
    pass


def _checked(function, *args):
    try:
        return function(*args)
    except _values.BadValue as error:
        raise NginxProxyError(str(error))


def _safe_token(value, what):
    return _checked(_values.nginx_token, value, what)


def check_domain(value, what="domain"):
    return _checked(_values.domain, value, what)


def check_path(value, what):
    return _checked(_registry.path, value, what)


def check_upstream_server(value, what):
    return _checked(_registry.upstream_server, value, what)


def check_route(route, what):
    """One route of a site: its path, its upstream servers (each a mapping of
    ``server`` and nginx's server parameters) and its options, complete."""
    if not isinstance(route, dict):
        raise NginxProxyError("%s a route must be a mapping, got %r" % (what, route))
    path = _checked(_registry.route_path, route.get("path", _registry.ROOT_PATH), what + " path")
    what = "%s route %s:" % (what.rstrip(":"), path)
    upstreams = route.get("upstreams")
    if not isinstance(upstreams, list) or not upstreams:
        raise NginxProxyError("%s upstreams must be a non-empty list of host:port, got %r" % (what, upstreams))
    result = {"path": path, "upstreams": [dict(params, server=server) for server, params in
                                          _checked(_registry.upstream_entries, upstreams, what + " upstream")]}
    options = dict(SITE_DEFAULTS)
    options.update(dict((key, value) for key, value in route.items() if value is not None and key in SITE_DEFAULTS))
    result.update(_checked(_registry.site_options, options, what, False))
    if result["balance"] in ("ip_hash",) or result["balance"].startswith("cookie:"):
        if any(server.get("backup") for server in result["upstreams"]):
            raise NginxProxyError("%s a backup server does not work with balance %s (nginx refuses it): use "
                                  "round_robin or least_conn, or no backup" % (what, result["balance"]))
    for key in ("service", "host"):
        if route.get(key) is not None:
            result[key] = _safe_token(str(route[key]), "%s %s" % (what, key))
    return result


def check_site(site):
    """One site mapping, complete or not, to a checked and complete one:
    ``domain``, ``aliases``, ``redirects``, ``redirect_code``, the
    certificate, and ``routes`` (a site without ``routes`` is one route,
    ``/``, from its own ``upstreams`` and options)."""
    if not isinstance(site, dict):
        raise NginxProxyError("a site must be a mapping, got %r" % (site,))
    domain = check_domain(site.get("domain"), "domain")
    what = "site %s:" % domain
    result = {"domain": domain}
    for key in ("aliases", "redirects"):
        result[key] = _checked(_registry.names, site.get(key) or [], "%s %s" % (what, key))
    seen = {}
    for kind in ("domain", "aliases", "redirects"):
        for name in ([domain] if kind == "domain" else result[kind]):
            if name.startswith("*.") and kind != "domain":
                raise NginxProxyError("%s %s %s: a wildcard name cannot be an alias or a redirect" % (what, kind, name))
            if name in seen:
                raise NginxProxyError("%s %s is given twice (as %s and in %s)" % (what, name, seen[name], kind))
            seen[name] = kind
    if domain.startswith("*.") and result["redirects"]:
        raise NginxProxyError("%s redirects (%s) need one name to send clients to, and a wildcard is not one"
                              % (what, ", ".join(result["redirects"])))
    code = site.get("redirect_code")
    result["redirect_code"] = _checked(_registry.site_options, {"redirect_code": code}, what, False)[
        "redirect_code"] if code is not None else _registry.SITE_LEVEL_OPTIONS["redirect_code"]
    for key in _registry.CERTIFICATE_OPTIONS:
        result[key] = check_path(site.get(key), "%s %s" % (what, key))
    routes = site.get("routes")
    if routes is None:
        routes = [dict((key, value) for key, value in site.items() if key in SITE_DEFAULTS or key in (
            "upstreams", "service", "host"))]
    elif not isinstance(routes, list) or not routes:
        raise NginxProxyError("%s routes must be a non-empty list, got %r" % (what, routes))
    else:
        given = sorted(key for key in site if key in SITE_DEFAULTS or key == "upstreams" if site[key] is not None)
        if given:
            raise NginxProxyError("%s %s belong to a route when routes are given" % (what, ", ".join(given)))
    result["routes"] = sorted((check_route(route, what) for route in routes), key=lambda route: route["path"])
    paths = [route["path"] for route in result["routes"]]
    for path in set(paths):
        if paths.count(path) > 1:
            raise NginxProxyError("%s the route %s is given twice" % (what, path))
    folded = {}
    for path in paths:
        if path.lower() in folded:
            raise NginxProxyError("%s the routes %s and %s differ only in case: a backend that folds case reads them "
                                  "as one, so give them one path" % (what, folded[path.lower()], path))
        folded[path.lower()] = path
    for key in ("service", "host"):
        if site.get(key) is not None:
            result[key] = _safe_token(str(site[key]), "%s %s" % (what, key))
    return result


# nginx's defaults for an upstream server's parameters.
NGINX_SERVER_DEFAULTS = {"weight": 1, "max_fails": _registry.SITE_OPTIONS["max_fails"],
                         "fail_timeout": _registry.SITE_OPTIONS["fail_timeout"]}
REAL_IP_HEADERS = ("CF-Connecting-IP", "X-Forwarded-For", "X-Real-IP", "True-Client-IP")


def _not_everyone(networks, names):
    """Refuse a real_ip from list whose networks together cover every address
    of a family (``0.0.0.0/1`` and ``128.0.0.0/1``), like a single ``/0``."""
    for version in (4, 6):
        family = [ipaddress.ip_network(item) for item in networks if ipaddress.ip_network(item).version == version]
        if any(merged.prefixlen == 0 for merged in ipaddress.collapse_addresses(family)):
            given = [name for name in names if name in _cdn_ranges.CDNS or ipaddress.ip_network(name).version == version]
            raise NginxProxyError("real_ip from %s together cover every IPv%d address, so the header would be believed "
                                  "from anyone: name the proxy's networks" % (", ".join(given), version))


def check_real_ip(real_ip):
    """``{from: [CIDRs or a CDN's name], header, recursive}`` to what the
    Renderer writes: networks (the CDN names expanded from _cdn_ranges), the
    header, recursive (X-Forwarded-For walks back over trusted hops)."""
    if not isinstance(real_ip, dict):
        raise NginxProxyError("real_ip must be a mapping of from, header and recursive, got %r" % (real_ip,))
    unknown = sorted(str(key) for key in real_ip if key not in ("from", "header", "recursive"))
    if unknown:
        raise NginxProxyError("real_ip has unknown keys %s: expected from, header and recursive" % ", ".join(unknown))
    sources = real_ip.get("from") or []
    if not isinstance(sources, list) or not sources or not all(isinstance(item, str) for item in sources):
        raise NginxProxyError("real_ip from must be a non-empty list of CIDRs or CDN names (%s), got %r"
                              % (", ".join(sorted(_cdn_ranges.CDNS)), sources))
    if real_ip.get("recursive") is not None and not isinstance(real_ip["recursive"], bool):
        raise NginxProxyError("real_ip recursive must be true or false, got %r" % (real_ip["recursive"],))
    networks, names = [], []
    for item in sources:
        if item in _cdn_ranges.CDNS:
            names.append(item)
            networks += list(_cdn_ranges.CDNS[item])
            continue
        try:
            network = _values.network(item, "real_ip from")
        except _values.BadValue as error:
            raise NginxProxyError("%s (or a CDN name: %s)" % (error, ", ".join(sorted(_cdn_ranges.CDNS))))
        if network.prefixlen == 0:
            raise NginxProxyError("real_ip from %s would believe the header from anyone: name the proxy's networks"
                                  % item)
        networks.append(str(network))
        names.append(str(network))
    _not_everyone(networks, names)
    header = real_ip.get("header") or ("CF-Connecting-IP" if "cloudflare" in names else "X-Forwarded-For")
    if header not in REAL_IP_HEADERS:
        raise NginxProxyError("real_ip header %r is not one of %s" % (header, ", ".join(REAL_IP_HEADERS)))
    recursive = real_ip.get("recursive")
    if recursive is None:
        recursive = header == "X-Forwarded-For"
    return {"from": sorted(set(networks), key=networks.index), "names": names, "header": header,
            "recursive": bool(recursive)}


def site_names(site):
    """Every name a checked site serves: its domain, aliases and redirects (the certificate must cover them)."""
    return [site["domain"]] + site["aliases"] + site["redirects"]


# The defaults of the module's top-level options: the one place they are written. The module's argument
# spec and the Renderer take them from here; the nginx_proxy role sets none of its own (it omits an option
# its variable leaves unset), and tools/role_docs.py writes them into the role's README.
RENDER_DEFAULTS = {
    "tls_profile": "intermediate",
    "hsts_max_age": 63072000,  # two years, as Mozilla's guidelines advise
    "health_path": "/nginx-health",
    "acme_root": "/var/www/portcullis-acme",
    "health_root": "/var/www/portcullis-health",
    "http2": True,
    "ipv6": "auto",
    "config_path": "/etc/nginx/conf.d/portcullis-proxy.conf",
    # A site's self-signed certificate: valid this long, and made again this long before it expires.
    "self_signed_days": 365,
    "self_signed_renew_days": 30,
}
IPV6_CHOICES = ("auto", "true", "false")
# The file the module owns by default (port_metrics reads it too).
CONFIG_PATH = RENDER_DEFAULTS["config_path"]

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


def argument_spec():
    """The nginx_proxy module's options, built from the site options the
    registry owns and the defaults and profiles of this file."""
    # Route options take their defaults in check_route, so a site's own copy of them can tell "not given".
    route_options = {}
    for key in SITE_DEFAULTS:
        option = dict(type=_registry.SITE_OPTION_TYPES[key])
        if option["type"] == "list":
            option["elements"] = "str"
        route_options[key] = option
    routes = dict(
        path=dict(type="str", default=_registry.ROOT_PATH),
        upstreams=dict(type="list", elements="raw", required=True),
        service=dict(type="str"),
        host=dict(type="str"),
        health=dict(type="str"),
    )
    routes.update(copy.deepcopy(route_options))
    sites = dict(
        domain=dict(type="str", required=True),
        aliases=dict(type="list", elements="str", default=[]),
        redirects=dict(type="list", elements="str", default=[]),
        redirect_code=dict(type="int", choices=list(_registry.REDIRECT_CODES),
                           default=_registry.SITE_LEVEL_OPTIONS["redirect_code"]),
        upstreams=dict(type="list", elements="raw"),
        routes=dict(type="list", elements="dict", options=routes),
        certificate=dict(type="path", required=True),
        certificate_key=dict(type="path", required=True, no_log=False),
        service=dict(type="str"),
        host=dict(type="str"),
        self_signed=dict(type="bool"),
        certbot=dict(type="bool"),
        names=dict(type="list", elements="str"),
    )
    sites.update(route_options)
    main_types = dict(path="path", pid="path", error_log="path", access_log="path", mime_types="path",
                      worker_connections="int", main_includes="list", http_includes="list")
    main_config = dict(user=dict(type="str", required=True))
    for key, default in MAIN_DEFAULTS.items():
        main_config[key] = dict(type=main_types[key], default=copy.deepcopy(default))
        if main_types[key] == "list":
            main_config[key]["elements"] = "str"
    return dict(
        sites=dict(type="list", elements="dict", required=True, options=sites),
        tls_profile=dict(type="str", choices=sorted(TLS_PROFILES), default=RENDER_DEFAULTS["tls_profile"]),
        hsts_max_age=dict(type="int", default=RENDER_DEFAULTS["hsts_max_age"]),
        health_path=dict(type="str", default=RENDER_DEFAULTS["health_path"]),
        acme_root=dict(type="str", default=RENDER_DEFAULTS["acme_root"]),
        health_root=dict(type="path", default=RENDER_DEFAULTS["health_root"]),
        main_config=dict(type="dict", options=main_config),
        http2=dict(type="bool", default=RENDER_DEFAULTS["http2"]),
        ipv6=dict(type="str", choices=list(IPV6_CHOICES), default=RENDER_DEFAULTS["ipv6"]),
        fallback_certificate=dict(type="dict", options=dict(
            certificate=dict(type="path", required=True),
            certificate_key=dict(type="path", required=True, no_log=False),
        )),
        config_path=dict(type="path", default=RENDER_DEFAULTS["config_path"]),
        edge_log=dict(type="path"),
        edge_exporter=dict(type="dict", options=dict(
            program=dict(type="path", required=True),
            environment=dict(type="path", required=True),
            service=dict(type="str", required=True))),
        self_signed_days=dict(type="int", default=RENDER_DEFAULTS["self_signed_days"]),
        self_signed_renew_days=dict(type="int", default=RENDER_DEFAULTS["self_signed_renew_days"]),
        service=dict(type="str"),
        replaces=dict(type="list", elements="path", default=[]),
        real_ip=dict(type="dict", options=dict(
            # "from" is a Python keyword: the option is named from_ in Python, from in YAML.
            **{"from": dict(type="list", elements="str", required=True),
               "header": dict(type="str", choices=list(REAL_IP_HEADERS)),
               "recursive": dict(type="bool")})),
    )


def _comment_lines(head, items, width=200):
    """``head`` and ``items`` as comment lines of about ``width`` characters (nginx reads a comment line as one
    word, of at most NGINX_WORD_MAX bytes), further lines indented."""
    lines, line = [], head
    for position, item in enumerate(items):
        text = item + ("," if position < len(items) - 1 else "")
        if line.strip() not in ("#", head.strip()) and len(line) + 1 + len(text) > width:
            lines.append(line.rstrip())
            line = "#  "
        line += ("" if line.endswith(" ") else " ") + text
    lines.append(line.rstrip())
    return lines


def names_hash_bucket_size(longest):
    """server_names_hash_bucket_size that holds a name of ``longest``
    characters: nginx stores a name in a bucket with two pointers beside it
    (aligned to 8 bytes), and the size is a power of two; at least 128."""
    needed = 8 + (longest + 2 + 7) // 8 * 8 + 8
    size = 128
    while size < needed:
        size *= 2
    return size


def render_main(main, longest_name=0):
    """nginx.conf: the distribution's layout (user, pid, includes) with
    hardened http defaults, so servers outside this module also get them.
    The server names hash is sized for ``longest_name`` (a name nginx could
    not hash would fail nginx -t)."""
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
              "    server_names_hash_bucket_size %d;" % names_hash_bucket_size(longest_name), "    server_tokens off;",
              "    include %s;" % paths["mime_types"], "    default_type application/octet-stream;",
              "    ssl_protocols TLSv1.2 TLSv1.3;", "    ssl_prefer_server_ciphers off;",
              "    access_log %s;" % paths["access_log"]]
    lines += ["    include %s;" % item for item in includes["http_includes"]]
    lines += ["}"]
    return "\n".join(lines) + "\n", config["path"], includes["http_includes"]


def served_certificates(text):
    """``[{"domain", "path"}]``: each site's certificate in a configuration
    the Renderer wrote (the first name of the first TLS server using it), for
    the port metrics' expiry check. The Renderer owns this format."""
    found, seen, name = [], set(), None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("server_name "):
            name = line[len("server_name "):].rstrip(";").split()[0]
        elif line.startswith("ssl_certificate ") and name and name != "_":
            path = line[len("ssl_certificate "):].rstrip(";")
            if path not in seen:
                seen.add(path)
                found.append({"domain": name, "path": path})
    return found


def zone_name(domain):
    """A name for the domain's upstream and limit_req zone, distinct per domain:
    labels cannot start or end with "-", so "__" only ever stands for "-"."""
    return "portcullis_" + domain.replace("*", "").replace("-", "__").replace(".", "_")


def route_zone(domain, path):
    """The upstream and limit_req zone of one route: the domain's name for
    its root route, with a digest of the path for the others."""
    if path == _registry.ROOT_PATH:
        return zone_name(domain)
    return "%s_r%s" % (zone_name(domain), hashlib.sha256(path.encode("ascii")).hexdigest()[:10])


# nginx reads the configuration a word at a time into a buffer of 4,096 bytes (NGX_CONF_BUFFER): a word, or a
# comment from its "#" to the end of its line, of 4,095 bytes or more fails nginx -t ("too long parameter").
NGINX_WORD_MAX = 4094


def check_words(text):
    """``text`` (a configuration the Renderer wrote) has no word or comment
    nginx cannot read; NginxProxyError names the first one."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        words = [stripped] if stripped.startswith("#") else stripped.split()
        for word in words:
            if len(word.encode("utf-8")) > NGINX_WORD_MAX:
                raise NginxProxyError("line %d of the configuration holds a word of %d bytes (%s...), and nginx reads "
                                      "at most %d: shorten the value it comes from"
                                      % (number, len(word.encode("utf-8")), word[:60], NGINX_WORD_MAX))
    return text


def _access_of(route):
    rate_limit = route.get("rate_limit") or None
    return (tuple(route.get("allow") or ()), tuple(route.get("deny") or ()),
            tuple(sorted(rate_limit.items())) if rate_limit else None)


def path_guarded(site):
    """Whether the site's paths are guarded (see the role's README, "Paths the
    backend reads otherwise"): two of its routes reach one upstream server
    but admit clients differently (allow, deny, rate_limit). nginx then picks
    the route from its own reading of the path, and the backend, given the
    path as the client sent it, may read another route's path in it."""
    routes = site["routes"]
    for position, route in enumerate(routes):
        servers = set(server["server"] for server in route["upstreams"])
        for other in routes[position + 1:]:
            if servers & set(server["server"] for server in other["upstreams"]) and \
                    _access_of(route) != _access_of(other):
                return True
    return False


# Refused on a guarded site, matched on the request as sent ($request_uri, before the query): what backends read
# otherwise than nginx. ";" (path parameters: Spring drops them, Tomcat resolves "..;"), a backslash (a separator
# to some), "." and ".." segments (nginx resolves them, then passes the path on as sent), and the encoded forms of
# ".", "/", "\", ";" and "%" (a second decoding), overlong UTF-8 and %u escapes. \x5c is the backslash.
GUARD_REFUSED = r"^[^?]*(?:;|\x5c|%(?:2e|2f|5c|3b|25|c0|c1|e0%[89]|u)|/\.\.?(?:/|\?|$))"


def guard_regex(path):
    """The case-insensitive location regex of a route on a guarded site: its path, and the path without its last
    slash (a backend may serve /admin as /admin/)."""
    return "^%s(?:/|$)" % path[:-1].replace(".", "\\.")


def version_tuple(text):
    match = re.search(r"nginx/([0-9]+)\.([0-9]+)\.([0-9]+)", text or "")
    return tuple(int(part) for part in match.groups()) if match else None


class Renderer:
    """The configuration text for checked sites. ``features`` says what the
    installed nginx supports (``http2_directive``, ``reject_handshake``)."""

    def __init__(self, sites, tls_profile=RENDER_DEFAULTS["tls_profile"], hsts_max_age=RENDER_DEFAULTS["hsts_max_age"],
                 health_path=RENDER_DEFAULTS["health_path"], acme_root=RENDER_DEFAULTS["acme_root"],
                 health_root=RENDER_DEFAULTS["health_root"], ipv6=True, http2=RENDER_DEFAULTS["http2"],
                 features=None, fallback_certificate=None, real_ip=None, edge_log=None,
                 main_access_log=MAIN_DEFAULTS["access_log"]):
        if tls_profile not in TLS_PROFILES:
            raise NginxProxyError("tls_profile %r is not known: expected %s" % (tls_profile, ", ".join(sorted(TLS_PROFILES))))
        if isinstance(hsts_max_age, bool) or not isinstance(hsts_max_age, int) or hsts_max_age < 0:
            raise NginxProxyError("hsts_max_age %r is not valid: expected seconds, 0 to send no HSTS" % (hsts_max_age,))
        self.sites = [check_site(site) for site in sites]
        # nginx only warns when two servers claim a name, and one of them silently loses it.
        claimed = {}
        for site in self.sites:
            if site["domain"] in claimed and claimed[site["domain"]] is not site:
                raise NginxProxyError("domain %s is given twice" % site["domain"])
            for name in site_names(site):
                if claimed.get(name, site) is not site:
                    raise NginxProxyError("the name %s is served by the site %s and by the site %s (as a domain, an "
                                          "alias or a redirect): give it to one" % (name, claimed[name]["domain"],
                                                                                    site["domain"]))
                claimed[name] = site
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
        self.real_ip = check_real_ip(real_ip) if real_ip else None
        # The edge log (_edge): every server of this file logs there too, each route under its own key.
        self.edge_log = check_path(edge_log, "edge_log") if edge_log else None
        self.main_access_log = check_path(main_access_log, "main_config access_log") if main_access_log else None
        self.fallback_certificate = None
        if fallback_certificate:
            self.fallback_certificate = dict((key, check_path(fallback_certificate.get(key), "fallback_certificate " + key))
                                             for key in ("certificate", "certificate_key"))

    def longest_name(self):
        return max([len(name) for site in self.sites for name in site_names(site)] or [0])

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
        out += _comment_lines("# Sites: ", [site["domain"] for site in self.sites] or ["none"])
        out.append("")
        out += ["map $http_upgrade $portcullis_connection_upgrade {", "    default upgrade;", "    \"\" \"\";", "}", ""]
        out += self._real_ip()
        out += _edge.config_lines() if self.edge_log else []
        for site in self.sites:
            for route in site["routes"]:
                if route["rate_limit"]:
                    out.append("limit_req_zone $binary_remote_addr zone=%s:10m rate=%s;"
                               % (route_zone(site["domain"], route["path"]), route["rate_limit"]["rate"]))
        out.append("")
        for site in self.sites:
            for route in site["routes"]:
                out.append("upstream %s {" % route_zone(site["domain"], route["path"]))
                method = route["balance"]
                if method in ("least_conn", "ip_hash"):
                    out.append("    %s;" % method)
                elif method.startswith("cookie:"):
                    # Sticky sessions: the same cookie value goes to the same server while it is up.
                    out.append("    hash $cookie_%s consistent;" % method[len("cookie:"):])
                for server in route["upstreams"]:
                    params = [("weight", server.get("weight")),
                              ("max_fails", server.get("max_fails", route["max_fails"])),
                              ("fail_timeout", server.get("fail_timeout", route["fail_timeout"]))]
                    # nginx's own defaults are left out.
                    text = "".join(" %s=%s" % (key, value) for key, value in params
                                   if value is not None and value != NGINX_SERVER_DEFAULTS.get(key))
                    out.append("    server %s%s%s;" % (server["server"], text, " backup" if server.get("backup") else ""))
                out += ["    keepalive 16;", "}", ""]
        out += self._default_server()
        for site in self.sites:
            out += self._redirect_server(site)
            out += self._tls_server(site)
            if site["redirects"]:
                out += self._redirect_server(site, site["redirects"], site["domain"])
                out += self._tls_redirect_server(site)
        return check_words("\n".join(out).rstrip("\n") + "\n")

    def _edge_server(self, lines):
        if self.edge_log:
            lines += _edge.server_lines(self.edge_log, self.main_access_log)
        return lines

    def _real_ip(self):
        """The client address from a trusted proxy's header (a CDN in front),
        believed only when the connection comes from one of its networks."""
        if not self.real_ip:
            return []
        lines = ["# The real client behind %s: its header is believed only from these networks, so rate limits,"
                 % ", ".join(self.real_ip["names"]), "# allow/deny, the backends' X-Real-IP and the logs see the client."]
        lines += ["set_real_ip_from %s;" % network for network in self.real_ip["from"]]
        lines.append("real_ip_header %s;" % self.real_ip["header"])
        if self.real_ip["recursive"]:
            lines.append("real_ip_recursive on;")
        return lines + [""]

    def _default_server(self):
        lines = ["# Requests for a Host that no site names are refused: HTTP closes the connection,",
                 "# HTTPS refuses the TLS handshake (or, on an older nginx, closes after it).", "server {"]
        self._listen(lines, 80, " default_server")
        lines += ["    server_name _;", "    server_tokens off;"]
        self._edge_server(lines)
        lines += ["    return 444;", "}", "", "server {"]
        self._listen(lines, 443, " default_server")
        lines += ["    server_name _;", "    server_tokens off;"]
        self._edge_server(lines)
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

    def _redirect_server(self, site, names=None, target=None):
        """Port 80: the ACME path kept open, everything else to HTTPS - on the
        name asked for (an alias, a wildcard), or on ``target``."""
        names = names or [site["domain"]] + site["aliases"]
        if target is None:
            target = "$host" if site["domain"].startswith("*.") or site["aliases"] else site["domain"]
        lines = ["# %s: HTTP to https://%s%s" % (", ".join(names), target,
                                                 ", ACME http-01 kept open" if self.acme_root else ""), "server {"]
        self._listen(lines, 80)
        lines += ["    server_name %s;" % " ".join(names), "    server_tokens off;"]
        self._edge_server(lines)
        if self.acme_root:
            lines += ["    location ^~ /.well-known/acme-challenge/ {",
                      "        root %s;" % self.acme_root,
                      "        default_type text/plain;",
                      "    }"]
        lines += ["    location / {", "        return %d https://%s$request_uri;" % (site["redirect_code"], target),
                  "    }", "}", ""]
        return lines

    def _certificate_lines(self, site):
        return ["    ssl_certificate %s;" % site["certificate"], "    ssl_certificate_key %s;" % site["certificate_key"]]

    def _tls_redirect_server(self, site):
        lines = ["# %s: redirect to %s, path and query kept" % (", ".join(site["redirects"]), site["domain"]),
                 "server {"]
        self._listen(lines, 443)
        lines += ["    server_name %s;" % " ".join(site["redirects"]), "    server_tokens off;"]
        self._edge_server(lines)
        lines += self._certificate_lines(site) + self._tls_settings()
        if self.hsts_max_age:
            lines.append("    add_header Strict-Transport-Security \"max-age=%d\" always;" % self.hsts_max_age)
        lines += ["    location / {", "        return %d https://%s$request_uri;" % (site["redirect_code"], site["domain"]),
                  "    }", "}", ""]
        return lines

    @staticmethod
    def _access(route, indent):
        lines = ["%sdeny %s;" % (indent, network) for network in route["deny"]]
        lines += ["%sallow %s;" % (indent, network) for network in route["allow"]]
        if route["allow"]:
            lines.append("%sdeny all;" % indent)
        return lines

    def _tls_server(self, site):
        served = [site["domain"]] + site["aliases"]

        def described(route):
            servers = ", ".join(server["server"] for server in route["upstreams"])
            owner = " (%s/%s)" % (route["host"], route.get("service")) if route.get("host") else ""
            return "%s -> %s%s" % (route["path"], servers, owner)

        lines = _comment_lines("# %s: " % ", ".join(served), [described(route) for route in site["routes"]])
        lines.append("server {")
        self._listen(lines, 443)
        lines += ["    server_name %s;" % " ".join(served), "    server_tokens off;"]
        self._edge_server(lines)
        lines += self._certificate_lines(site) + self._tls_settings()
        if self.hsts_max_age:
            lines.append("    add_header Strict-Transport-Security \"max-age=%d\" always;" % self.hsts_max_age)
        guarded = path_guarded(site)
        if guarded:
            lines += ["    # Routes that admit clients differently share a backend: a path the backend may read otherwise",
                      "    # than nginx is refused (see the role's README, \"Paths the backend reads otherwise\").",
                      "    if ($request_uri ~* \"%s\") {" % GUARD_REFUSED, "        return 403;", "    }"]
        root = next((route for route in site["routes"] if route["path"] == _registry.ROOT_PATH), None)
        if self.health_path:
            # A static file, not "return": return would answer before allow/deny are checked. The site's
            # root route decides who may ask.
            lines += ["    location = %s {" % self.health_path, "        access_log off;",
                      "        default_type text/plain;", "        root %s;" % self.health_root]
            lines += self._access(root, "        ") if root else []
            lines.append("    }")
        longest_first = sorted(site["routes"], key=lambda item: (-len(item["path"]), item["path"]))
        for route in longest_first:
            lines += self._location(site, route)
        if guarded:
            # The same routes whatever the case, the longest first (nginx uses the first regex that matches): a
            # backend that folds case gets /ADMIN/ only as the /admin/ route.
            for route in longest_first:
                if route["path"] != _registry.ROOT_PATH:
                    lines += self._location(site, route, "~* \"%s\"" % guard_regex(route["path"]))
        if root is None:
            # Paths outside every route are not found, rather than nginx's compiled-in web root.
            lines += ["    location / {", "        return 404;", "    }"]
        lines.append("}")
        lines.append("")
        return lines

    def _location(self, site, route, match=None):
        zone = route_zone(site["domain"], route["path"])
        # No URI after the upstream in proxy_pass: the request's path goes to the backend as the client sent it.
        lines = ["    location %s {" % (match or route["path"])]
        if self.edge_log:
            lines += _edge.location_lines(site["domain"], route["path"])
        lines.append("        client_max_body_size %s;" % route["client_max_body_size"])
        lines += self._access(route, "        ")
        if route["rate_limit"]:
            burst = route["rate_limit"]["burst"]
            lines += ["        limit_req zone=%s%s nodelay;" % (zone, " burst=%d" % burst if burst else ""),
                      "        limit_req_status 429;"]
        lines += [
            "        proxy_pass http://%s;" % zone,
            "        proxy_http_version 1.1;",
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Real-IP $remote_addr;",
            # The edge proxy: a client's own X-Forwarded-For is not passed on.
            "        proxy_set_header X-Forwarded-For $remote_addr;",
            "        proxy_set_header X-Forwarded-Proto $scheme;",
        ]
        if route["websocket"]:
            lines += ["        proxy_set_header Upgrade $http_upgrade;",
                      "        proxy_set_header Connection $portcullis_connection_upgrade;"]
        else:
            lines.append("        proxy_set_header Connection \"\";")
        lines += ["        proxy_set_header %s %s;" % (name, value) for name, value in sorted(route["headers"].items())]
        lines += [
            "        proxy_connect_timeout %s;" % route["connect_timeout"],
            "        proxy_send_timeout %s;" % route["send_timeout"],
            "        proxy_read_timeout %s;" % route["read_timeout"],
            "    }",
        ]
        return lines
