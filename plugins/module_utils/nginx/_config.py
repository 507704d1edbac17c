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
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _values
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
    for key in _registry.CERTIFICATE_OPTIONS:
        result[key] = check_path(site.get(key), "%s %s" % (what, key))
    options = dict(SITE_DEFAULTS)
    options.update(dict((key, value) for key, value in site.items() if value is not None and key in SITE_DEFAULTS))
    result.update(_checked(_registry.site_options, options, what, False))
    for key in ("service", "host"):
        if site.get(key) is not None:
            result[key] = _safe_token(str(site[key]), "%s %s" % (what, key))
    return result


CONFIG_PATH = "/etc/nginx/conf.d/portcullis-proxy.conf"
# Defaults of the rendering options (the module's, and the Renderer's).
RENDER_DEFAULTS = {
    "tls_profile": "intermediate",
    "hsts_max_age": 63072000,  # two years, as Mozilla's guidelines advise
    "health_path": "/nginx-health",
    "acme_root": "/var/www/portcullis-acme",
    "health_root": "/var/www/portcullis-health",
    "http2": True,
}

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
    sites = dict(
        domain=dict(type="str", required=True),
        upstreams=dict(type="list", elements="str", required=True),
        certificate=dict(type="path", required=True),
        certificate_key=dict(type="path", required=True, no_log=False),
        service=dict(type="str"),
        host=dict(type="str"),
        self_signed=dict(type="bool"),
        certbot=dict(type="bool"),
    )
    for key, default in SITE_DEFAULTS.items():
        option = dict(type=_registry.SITE_OPTION_TYPES[key])
        if option["type"] == "list":
            option["elements"] = "str"
        if default is not None:
            option["default"] = copy.deepcopy(default)
        sites[key] = option
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
        ipv6=dict(type="str", choices=["auto", "true", "false"], default="auto"),
        fallback_certificate=dict(type="dict", options=dict(
            certificate=dict(type="path", required=True),
            certificate_key=dict(type="path", required=True, no_log=False),
        )),
        config_path=dict(type="path", default=CONFIG_PATH),
        replaces=dict(type="list", elements="path", default=[]),
    )


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

    def __init__(self, sites, tls_profile=RENDER_DEFAULTS["tls_profile"], hsts_max_age=RENDER_DEFAULTS["hsts_max_age"],
                 health_path=RENDER_DEFAULTS["health_path"], acme_root=RENDER_DEFAULTS["acme_root"],
                 health_root=RENDER_DEFAULTS["health_root"], ipv6=True, http2=RENDER_DEFAULTS["http2"],
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
