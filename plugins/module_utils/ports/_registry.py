# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port registry entry: its keys, their defaults, their validation, and
the normalised Service every consumer reads.

This file is the one owner of what a ``portcullis_services`` entry means.
port_conflicts validates with it on the host; on the controller the firewall
rules, the proxy sites and the audit (``plugin_utils``) take only entries
validated here; the roles' SSH port and listen addresses come from
``ssh_endpoint``. Adding a key is one entry in ``KEYS`` and its check.

The per-service ``proxy`` options are registry keys too (``SITE_OPTIONS``);
the nginx_proxy module checks its ``sites`` with the same checks.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import ipaddress

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

EXPOSE_CHOICES = ("public", "internal", "private")
# host: a process of the host listens (traffic crosses INPUT). dnat: a
# container runtime publishes the port and DNATs it to a container (Docker's
# -p, Podman, a Kubernetes hostPort): traffic crosses FORWARD.
PUBLISH_CHOICES = ("host", "dnat")
PROTOCOLS = {"tcp": ("tcp",), "udp": ("udp",), "both": ("tcp", "udp")}
DEFAULT_BIND = "0.0.0.0"
# A private service that names no bind listens on loopback only.
PRIVATE_BIND = "127.0.0.1"
SSH_SERVICE = "ssh"
DEFAULT_SSH_PORT = 22

# Every key of an entry: (name, default as documented, meaning), literals only:
# tools/role_docs.py writes the README's registry table from this. The checks
# are in _check_entry, one branch per key.
KEYS = (
    ("name", "required", "unique service name on the host"),
    ("port", "required (none for an entry that only connects out)",
     "`5432`, `\"8000-8010\"`, or a service name (`postgresql`); an entry without one listens nowhere and only "
     "gives `connects_to` (a client such as an ETL job)"),
    ("protocol", "`tcp`", "`tcp`, `udp` or `both`"),
    ("bind", "`0.0.0.0` (`127.0.0.1` when private)",
     "the address it listens on (`0.0.0.0`, `::`, `127.0.0.1`, a host IP): `0.0.0.0` is every IPv4 address only, "
     "`::` both families (Linux's default bindv6only 0); the plan reaches a service only in the families its bind "
     "listens on; a private service binds loopback only"),
    ("range", "none", "named policy range the port must fall in (`production`, `monitoring`, ...)"),
    ("environment", "none", "free label (`prod`, `dev`, `test`) shown in reports"),
    ("expose", "`internal`", "`public` (anyone), `internal` (only `allow_from`), `private` (loopback only)"),
    ("allow_from", "`[]`", "inventory hostnames, group names or CIDRs allowed in"),
    ("domain", "none", "public host name the nginx_proxy role publishes the service under (case folded)"),
    ("process", "none", "expected process name of the listener, checked against the live host"),
    ("publish", "`host`", "`host` (a process of the host listens) or `dnat` (a container runtime publishes the port and "
     "DNATs it to a container: Docker's `-p`); the firewall governs both paths with the same `expose` and `allow_from`"),
    ("path", "`/`", "the path prefix the service is published under on its `domain` (`/api/`): several services share "
     "a domain by path; ends with `/`"),
    ("aliases", "`[]`", "more names the `domain`'s site answers on (same routes, same certificate)"),
    ("redirect_from", "`[]`", "names that only redirect to the `domain` (`www.example.com`), path and query kept"),
    ("upstream", "the service's host and port",
     "backend(s) for the proxy as `host:port`, or `{server: host:port, weight, max_fails, fail_timeout, backup}`; a "
     "list balances over several servers"),
    ("health", "none", "a path (`/health`) the audit requests from the proxies on each backend; shown in the port map"),
    ("proxy", "role defaults", "options for nginx_proxy. Per route: `rate_limit`, `allow`, `deny`, "
     "`client_max_body_size`, `connect_timeout`, `send_timeout`, `read_timeout`, `websocket`, `headers`, `balance` "
     "(`round_robin`, `least_conn`, `ip_hash`, `cookie:NAME`), `max_fails`, `fail_timeout`. Per site: "
     "`certificate`, `certificate_key`, `redirect_code` (301 or 308)"),
    ("connects_to", "`[]`",
     "what this service connects to, declared once on the client side: `{host: <inventory host or group>, service: "
     "<its service>}`, or `{to: <CIDR, address or DNS name, or a list>, port: <ports>, protocol: tcp}`; optional "
     "`comment`. The client gets the outbound allow, an inventory server the inbound one"),
)
KEY_NAMES = tuple(key for key, _default, _meaning in KEYS)

# The per-site options of the reverse proxy, with their defaults: a service's
# ``proxy`` mapping, the nginx_proxy role's site defaults and the module's
# ``sites`` all take these. None means "not set".
SITE_OPTIONS = {
    "allow": [],
    "deny": [],
    "rate_limit": None,
    "client_max_body_size": "10m",
    "connect_timeout": "5s",
    "send_timeout": "60s",
    "read_timeout": "60s",
    "websocket": True,
    "headers": {},
    # Balancing over the route's servers; nginx's own defaults for the passive health check.
    "balance": "round_robin",
    "max_fails": 1,
    "fail_timeout": "10s",
}
# The site-level options: one value for every route of a domain.
SITE_LEVEL_OPTIONS = {"redirect_code": 301}
REDIRECT_CODES = (301, 308)
BALANCE_METHODS = ("round_robin", "least_conn", "ip_hash")
# "cookie:NAME": a consistent hash on a cookie, for sticky sessions.
_COOKIE_BALANCE = "cookie:"
# The keys of a connects_to item; host+service name a service of the
# inventory, to+port a destination outside it.
DEPENDENCY_KEYS = ("host", "service", "to", "port", "protocol", "comment")
DEPENDENCY_COMMENT_MAX = 100
# Keys that only mean something for an entry that listens (has a port).
LISTENER_KEYS = ("protocol", "bind", "range", "expose", "allow_from", "domain", "process", "publish", "upstream", "proxy")

# Their types, as Ansible argument specs write them.
SITE_OPTION_TYPES = {
    "allow": "list", "deny": "list", "rate_limit": "raw", "client_max_body_size": "str", "connect_timeout": "str",
    "send_timeout": "str", "read_timeout": "str", "websocket": "bool", "headers": "dict", "balance": "str",
    "max_fails": "int", "fail_timeout": "str",
}
CERTIFICATE_OPTIONS = ("certificate", "certificate_key")
PROXY_OPTION_KEYS = tuple(sorted(set(SITE_OPTIONS) | set(CERTIFICATE_OPTIONS) | set(SITE_LEVEL_OPTIONS)))
UPSTREAM_KEYS = ("server", "weight", "max_fails", "fail_timeout", "backup")
ROOT_PATH = "/"
DEFAULT_RATE_LIMIT = {"rate": "10r/s", "burst": 20}
# Request headers the proxy sets itself; a site's headers may not repeat them.
FIXED_HEADERS = ("host", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "upgrade", "connection")

_SIZE = _values.pattern(r"[0-9]+[kKmMgG]?")
_TIME = _values.pattern(r"[0-9]+(ms|s|m|h|d)?")
_RATE = _values.pattern(r"[1-9][0-9]*r/[sm]")
_HEADER_NAME = _values.pattern(r"[A-Za-z0-9-]+")
_PROCESS_NAME = _values.pattern(r"[^\s/\0]{1,255}")
# A name labels firewall rules and proxy sites: ASCII, no spaces or quotes.
_NAME = _values.pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_UPSTREAM = _values.pattern(r"\[([0-9a-fA-F:.]+)\]:([0-9]+)|([^:\[\]]+):([0-9]+)")
_UPSTREAM_HOST = _values.pattern(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
# A route's path prefix: segments of unreserved characters, ending with "/", so that nginx's prefix match
# means the path and what is below it (a location /api would also match /apix), with nothing to normalise.
_ROUTE = _values.pattern(r"/(?:[A-Za-z0-9._~-]+/)*")
_HEALTH = _values.pattern(r"/[A-Za-z0-9._~/-]*")
_COOKIE_NAME = _values.pattern(r"[A-Za-z0-9_]{1,64}")


class RegistryError(ValueError):
    """The registry is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors):
        self.errors = errors
        super(RegistryError, self).__init__("invalid port registry: " + "; ".join(errors))


class Bind:
    """A bind address and which sockets it shares a port with."""

    __slots__ = ("address", "version", "wildcard", "loopback", "dual_stack")

    def __init__(self, address, dual_stack=False):
        parsed = _values.address(address, "bind address")
        self.address = str(parsed)
        self.version = parsed.version
        self.wildcard = parsed.is_unspecified
        self.loopback = parsed.is_loopback
        self.dual_stack = self.wildcard and self.version == 6 and dual_stack

    def clashes_with(self, other):
        """Whether the kernel refuses both on one port: the same family with a
        wildcard or the same address, or a dual-stack ``::`` against any IPv4."""
        if self.version == other.version:
            return self.wildcard or other.wildcard or self.address == other.address
        return self.dual_stack or other.dual_stack

    def covers(self, other):
        """Whether a service declared on this bind accounts for a listener on
        ``other``: a declared wildcard covers every address of either family
        (a service "on all addresses"); a specific address only itself."""
        if self.wildcard:
            return True
        return self.version == other.version and self.address == other.address

    def endpoint(self, port):
        return "%s:%d" % ("[%s]" % self.address if self.version == 6 else self.address, port)


class Dependency:
    """One ``connects_to`` item of a service, checked.

    Either ``host`` (an inventory host or group name) and ``service`` (the
    name of a service in that host's registry), whose ports come from that
    service; or ``to``, a list of networks (text, strict CIDR) and DNS names
    (lower case), with ``ranges`` (per protocol, like Service.ranges).
    ``client`` is the name of the service that declares it.
    """

    __slots__ = ("client", "position", "host", "service", "networks", "names", "protocol", "ranges", "comment")

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    @property
    def external(self):
        return self.host is None

    def target_text(self):
        if not self.external:
            return "%s %s" % (self.host, self.service)
        return "%s port %s" % (", ".join(self.networks + self.names), ", ".join(
            "%s/%s" % (resolver.format_range(item), protocol)
            for protocol in sorted(self.ranges) for item in self.ranges[protocol]))

    def __repr__(self):
        return "Dependency(%r -> %s)" % (self.client, self.target_text())


class Service:
    """One validated registry entry, defaults filled in.

    ``ranges`` maps each protocol to its merged ``(start, end)`` ranges
    (empty for an entry that only connects out: ``listens`` is False, and
    ``bind`` is None); ``bind`` is a Bind; ``domain`` is lower case;
    ``upstream`` is a list of normalised ``host:port`` or None, and
    ``upstream_params`` their nginx server parameters by server; ``path``
    the route, ``aliases`` and ``redirect_from`` lower-case names; ``proxy``
    holds the checked options the entry gave (hosts and groups in allow/deny
    are resolved by the planner); ``connects_to`` is a list of Dependency.
    """

    __slots__ = ("index", "name", "port", "protocol", "protocols", "ranges", "bind", "range_name", "environment",
                 "expose", "allow_from", "domain", "process", "publish", "upstream", "upstream_params", "proxy",
                 "connects_to", "path", "aliases", "redirect_from", "health", "entry")

    @property
    def listens(self):
        return bool(self.ranges)

    def __init__(self, **values):
        for key in self.__slots__:
            setattr(self, key, values.get(key))

    @property
    def first_port(self):
        """The lowest port; None for an entry that listens nowhere."""
        return min((start for ranges in self.ranges.values() for start, _end in ranges), default=None)

    def single_port(self, protocol="tcp"):
        """The one port of ``protocol``, or None for a range or several ports."""
        ranges = self.ranges.get(protocol) or []
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            return ranges[0][0]
        return None

    def ports_text(self):
        return ", ".join(resolver.format_range(item) for item in
                         resolver.merge_ranges([item for ranges in self.ranges.values() for item in ranges]))

    def __repr__(self):
        return "Service(%r, %r)" % (self.name, self.ranges)


def _label(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name:
        return "service %r (entry %d)" % (name, index + 1)
    return "entry %d" % (index + 1)


def _string(value, what):
    if not isinstance(value, str) or not value.strip():
        raise _values.BadValue("%s must be a non-empty string, got %r" % (what, value))
    return value


def _name(value):
    _string(value, "name")
    if not _values.matches(_NAME, value):
        raise _values.BadValue("invalid name %r: expected ASCII letters, digits, '_', '.' and '-' (at most 100, "
                               "starting with a letter or digit): it labels the service's firewall rules and proxy "
                               "site" % (value,))
    return value


# Checks shared with the nginx_proxy module's own sites.

def upstream_server(value, what):
    """``host:port`` or ``[v6]:port``, normalised (host lower case, v6 bracketed)."""
    text = _values.nginx_token(value if isinstance(value, str) else str(value), what)
    match = _UPSTREAM.fullmatch(text)
    if not match:
        raise _values.BadValue("%s %r is not valid: expected host:port or [IPv6]:port" % (what, value))
    port = _values.integer(match.group(2) or match.group(4), "%s %r port" % (what, value), 1, resolver.MAX_PORT)
    if match.group(1):
        return "[%s]:%d" % (_values.address(match.group(1), "%s %r" % (what, value)), port)
    host = match.group(3)
    try:
        return "%s:%d" % (ipaddress.IPv4Address(host), port)
    except ValueError:
        if _values.looks_like_address(host):
            raise _values.BadValue("%s %r: %r is not an IPv4 address (and not a host name either)" % (what, value, host))
    if not _values.matches(_UPSTREAM_HOST, host.lower()):
        raise _values.BadValue("%s %r: %r is neither an IP address nor a host name" % (what, value, host))
    return "%s:%d" % (host.lower(), port)


def upstreams(value, what):
    """One upstream server or a non-empty list of them, normalised."""
    return [server for server, _params in upstream_entries(value, what)]


def upstream_entries(value, what):
    """``[(host:port, params)]``: each item a ``host:port`` or a mapping of
    ``server`` and nginx's server parameters (``weight``, ``max_fails``,
    ``fail_timeout``, ``backup``), checked; a server given twice is refused."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _values.BadValue("%s is an empty list" % what)
    result, seen = [], set()
    for item in items:
        params = {}
        if isinstance(item, dict):
            unknown = sorted(set(item) - set(UPSTREAM_KEYS), key=str)
            if unknown:
                raise _values.BadValue("%s: unknown key %r: known keys are %s" % (what, unknown[0], ", ".join(UPSTREAM_KEYS)))
            if "server" not in item:
                raise _values.BadValue("%s %r: server (host:port) is missing" % (what, item))
            server = upstream_server(item["server"], what)
            if item.get("weight") is not None:
                params["weight"] = _values.integer(item["weight"], "%s %s weight" % (what, server), 1, 1000)
            if item.get("max_fails") is not None:
                params["max_fails"] = _values.integer(item["max_fails"], "%s %s max_fails" % (what, server), 0, 1000)
            if item.get("fail_timeout") is not None:
                params["fail_timeout"] = _nginx_value(item["fail_timeout"], _TIME, "%s %s fail_timeout" % (what, server),
                                                      "a time such as 10s")
            if item.get("backup") is not None:
                if not isinstance(item["backup"], bool):
                    raise _values.BadValue("%s %s backup must be true or false, got %r" % (what, server, item["backup"]))
                if item["backup"]:
                    params["backup"] = True
        else:
            server = upstream_server(item, what)
        if server in seen:
            raise _values.BadValue("%s: %s is given twice" % (what, server))
        seen.add(server)
        result.append((server, params))
    if all(params.get("backup") for _server, params in result):
        raise _values.BadValue("%s: every server is a backup, so none would serve" % what)
    return result


def route_path(value, what):
    """A route's path prefix: absolute, ending with "/", plain segments only."""
    if not _values.matches(_ROUTE, value) or "/./" in value or "/../" in value:
        hint = " (write %s/: a prefix without the trailing slash also matches %sx)" % (value, value) \
            if isinstance(value, str) and _values.matches(_ROUTE, value + "/") else ""
        raise _values.BadValue("%s %s is not a route: expected a path of plain segments ending with /, such as /api/%s"
                               % (what, _values.describe(value), hint))
    return value


def health_path(value, what):
    if not _values.matches(_HEALTH, value) or "/../" in value + "/" or "//" in value:
        raise _values.BadValue("%s %s is not a path such as /health" % (what, _values.describe(value)))
    return value


def balance(value, what):
    if isinstance(value, str) and value.startswith(_COOKIE_BALANCE) and \
            _values.matches(_COOKIE_NAME, value[len(_COOKIE_BALANCE):]):
        return value
    if value not in BALANCE_METHODS:
        raise _values.BadValue("%s %s is not a balancing method: expected %s, or cookie:NAME for sticky sessions"
                               % (what, _values.describe(value), ", ".join(BALANCE_METHODS)))
    return value


def names(value, what):
    """A list of DNS names (no wildcard), lower case."""
    if not isinstance(value, list):
        raise _values.BadValue("%s must be a list of host names, got %s" % (what, _values.describe(value)))
    return [_values.domain(item, what) for item in value]


def _nginx_value(value, compiled, what, expected):
    text = _values.nginx_token(value if isinstance(value, str) else str(value), what)
    if not _values.matches(compiled, text):
        raise _values.BadValue("%s %r is not valid: expected %s" % (what, value, expected))
    return text


def rate_limit(value, what):
    if value in (None, False):
        return None
    if value is True:
        value = dict(DEFAULT_RATE_LIMIT)
    if not isinstance(value, dict) or set(value) - {"rate", "burst"}:
        raise _values.BadValue("%s must be true, false or a mapping of rate and burst, got %r" % (what, value))
    rate = _nginx_value(value.get("rate", DEFAULT_RATE_LIMIT["rate"]), _RATE, what + " rate",
                        "requests per second or minute such as 10r/s")
    burst = value.get("burst", DEFAULT_RATE_LIMIT["burst"])
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise _values.BadValue("%s burst %r is not valid: expected a whole number of requests, 0 or more" % (what, burst))
    return {"rate": rate, "burst": burst}


def headers(value, what):
    if not isinstance(value, dict):
        raise _values.BadValue("%s must be a mapping of header name to value, got %r" % (what, value))
    result = {}
    seen = set()
    for name in sorted(value, key=str):
        if not isinstance(name, str):
            raise _values.BadValue("%s name %r is not valid: expected letters, digits and dashes" % (what, name))
        _nginx_value(name, _HEADER_NAME, what + " name", "letters, digits and dashes")
        if name.lower() in FIXED_HEADERS:
            raise _values.BadValue("%s %s is set by the proxy itself and cannot be given" % (what, name))
        if name.lower() in seen:
            raise _values.BadValue("%s %s is given twice (header names ignore case)" % (what, name))
        seen.add(name.lower())
        item = value[name]
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise _values.BadValue("%s %s value %r is not valid: expected a string or a number" % (what, name, item))
        result[name] = _values.nginx_token(str(item), "%s %s value" % (what, name))
    return result


def path(value, what):
    _values.nginx_token(value, what)
    if not value.startswith("/"):
        raise _values.BadValue("%s %r is not valid: expected an absolute path" % (what, value))
    return value


def sources(value, what, names=True):
    """allow_from, or a proxy allow/deny list: CIDRs or addresses, and with
    ``names`` inventory host and group names. Networks come back as text."""
    if not isinstance(value, list):
        raise _values.BadValue("%s must be a list of %s, got %r"
                               % (what, "hosts, groups or CIDRs" if names else "addresses or CIDRs", value))
    result = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _values.BadValue("%s item %r must be a %s" % (what, item, "host, group or CIDR" if names else "CIDR"))
        if _values.looks_like_address(item) or not names:
            result.append(str(_values.network(item, what)))
        elif _values.inventory_name(item):
            result.append(item)
        else:
            raise _values.BadValue("%s item %r is neither a network (CIDR) nor a host or group name" % (what, item))
    return result


def _not_all(items, what):
    """In an nginx allow or deny, "all" is nginx's every address, but here a
    name means an inventory host or group, and the group "all" means the
    inventory's hosts: refused rather than read one way silently."""
    if isinstance(items, list) and "all" in items:
        raise _values.BadValue("%s: 'all' would mean the inventory group all (its hosts' addresses), not every address "
                               "as in nginx; write 0.0.0.0/0 and ::/0 for every address, or name the group's hosts"
                               % what)
    return items


def site_options(options, what, names=True):
    """Checked values of the site options given in ``options`` (others left out).

    allow and deny take host and group names only with ``names`` (the registry);
    the module's sites take resolved addresses and CIDRs.
    """
    result = {}
    for key in ("allow", "deny"):
        if options.get(key) is not None:
            result[key] = sources(_not_all(options[key], "%s %s" % (what, key)), "%s %s" % (what, key), names)
    if "rate_limit" in options:
        result["rate_limit"] = rate_limit(options["rate_limit"], what + " rate_limit")
    if options.get("balance") is not None:
        result["balance"] = balance(options["balance"], what + " balance")
    if options.get("max_fails") is not None:
        result["max_fails"] = _values.integer(options["max_fails"], what + " max_fails", 0, 1000)
    if options.get("fail_timeout") is not None:
        result["fail_timeout"] = _nginx_value(options["fail_timeout"], _TIME, what + " fail_timeout",
                                              "a time such as 10s")
    if options.get("redirect_code") is not None:
        if options["redirect_code"] not in REDIRECT_CODES or isinstance(options["redirect_code"], bool):
            raise _values.BadValue("%s redirect_code %s is not valid: expected 301 or 308 (both keep the path and "
                                   "query; 308 also the method)" % (what, _values.describe(options["redirect_code"])))
        result["redirect_code"] = options["redirect_code"]
    if options.get("client_max_body_size") is not None:
        result["client_max_body_size"] = _nginx_value(options["client_max_body_size"], _SIZE,
                                                      what + " client_max_body_size", "a size such as 10m")
    for key in ("connect_timeout", "send_timeout", "read_timeout"):
        if options.get(key) is not None:
            result[key] = _nginx_value(options[key], _TIME, "%s %s" % (what, key), "a time such as 60s")
    if options.get("websocket") is not None:
        if not isinstance(options["websocket"], bool):
            raise _values.BadValue("%s websocket must be true or false, got %r" % (what, options["websocket"]))
        result["websocket"] = options["websocket"]
    if options.get("headers") is not None:
        result["headers"] = headers(options["headers"], what + " header")
    for key in CERTIFICATE_OPTIONS:
        if options.get(key) is not None:
            result[key] = path(options[key], "%s %s" % (what, key))
    return result


def proxy_options(value, what):
    """A service's ``proxy`` mapping: known keys, each value checked."""
    if not isinstance(value, dict):
        raise _values.BadValue("%s must be a mapping, got %r" % (what, value))
    unknown = sorted(set(value) - set(PROXY_OPTION_KEYS), key=str)
    if unknown:
        raise _values.BadValue("%s: unknown option %r: known options are %s"
                               % (what, unknown[0], ", ".join(PROXY_OPTION_KEYS)))
    result = site_options(value, what)
    if ("certificate" in result) != ("certificate_key" in result):
        raise _values.BadValue("%s: certificate and certificate_key go together" % what)
    return result


def _destination(value, what):
    """One ``to`` item: a network (strict) as text, or a DNS name (no wildcard), lower case."""
    if not isinstance(value, str) or not value.strip():
        raise _values.BadValue("%s item %s must be a CIDR, an address or a DNS name" % (what, _values.describe(value)))
    if _values.looks_like_address(value):
        return "network", str(_values.network(value, what))
    name = _values.domain(value, what)
    if name.startswith("*."):
        raise _values.BadValue("%s %r: a wildcard cannot be resolved to addresses; name the hosts" % (what, value))
    return "name", name


def connects_to(value, client, policy=None):
    """A service's ``connects_to`` list, each item checked: a list of Dependency."""
    what = "connects_to"
    if not isinstance(value, list):
        raise _values.BadValue("%s must be a list of {host, service} or {to, port} mappings, got %s"
                               % (what, _values.describe(value)))
    result = []
    for position, item in enumerate(value):
        label = "%s item %d" % (what, position + 1)
        if not isinstance(item, dict):
            raise _values.BadValue("%s must be a mapping ({host, service} or {to, port}), got %s"
                                   % (label, _values.describe(item)))
        unknown = sorted(set(item) - set(DEPENDENCY_KEYS), key=str)
        if unknown:
            raise _values.BadValue("%s: unknown key %r: known keys are %s" % (label, unknown[0], ", ".join(DEPENDENCY_KEYS)))
        comment = None
        if item.get("comment") is not None:
            comment = _values.quotable(item["comment"], label + " comment", DEPENDENCY_COMMENT_MAX)
        if "host" in item or "service" in item:
            if "to" in item or "port" in item or "protocol" in item:
                raise _values.BadValue("%s: host and service name a service of the inventory, whose own entry gives the "
                                       "port and protocol; to, port and protocol are for destinations outside it"
                                       % label)
            if not _values.inventory_name(item.get("host")):
                raise _values.BadValue("%s: host %s is not an inventory host or group name"
                                       % (label, _values.describe(item.get("host"))))
            if not _values.matches(_NAME, item.get("service")):
                raise _values.BadValue("%s: service %s is not a service name (the name of an entry in %s's registry)"
                                       % (label, _values.describe(item.get("service")), item["host"]))
            result.append(Dependency(client=client, position=position, host=item["host"], service=item["service"],
                                     networks=[], names=[], ranges={}, comment=comment))
            continue
        if "to" not in item or "port" not in item:
            raise _values.BadValue("%s needs host and service (a service of the inventory) or to and port (a "
                                   "destination outside it), got %s" % (label, ", ".join(sorted(map(str, item))) or "nothing"))
        targets = item["to"] if isinstance(item["to"], list) else [item["to"]]
        if not targets:
            raise _values.BadValue("%s: to is an empty list" % label)
        networks, names = [], []
        for target in targets:
            kind, text = _destination(target, label + " to")
            (networks if kind == "network" else names).append(text)
        protocol = item.get("protocol", "tcp")
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            raise _values.BadValue("%s: invalid protocol %s: expected tcp, udp or both" % (label, _values.describe(protocol)))
        ports = item["port"] if isinstance(item["port"], list) else [item["port"]]
        if not ports:
            raise _values.BadValue("%s: port is an empty list; give the ports it connects to" % label)
        ranges = {}
        for proto in PROTOCOLS[protocol]:
            try:
                ranges[proto] = resolver.merge_ranges(found for port in ports for found in resolver.resolve(port, proto, policy))
            except resolver.PortSpecError as error:
                raise _values.BadValue("%s: %s" % (label, error))
        result.append(Dependency(client=client, position=position, host=None, service=None,
                                 networks=sorted(set(networks)), names=sorted(set(names)), protocol=protocol,
                                 ranges=ranges, comment=comment))
    return result


# The entry

def _check_entry(index, entry, policy, bindv6only, seen, errors):
    label = _label(index, entry)
    if not isinstance(entry, dict):
        errors.append("%s: must be a mapping with at least name and port, got %r" % (label, entry))
        return None
    before = len(errors)
    values = {"index": index, "entry": entry}

    def check(key, function, *args):
        if key not in entry:
            return None
        try:
            return function(entry[key], *args)
        except (_values.BadValue, resolver.PortSpecError) as error:
            errors.append("%s: %s" % (label, error))
            return None

    for key in sorted(set(entry) - set(KEY_NAMES), key=str):
        close = difflib.get_close_matches(str(key), KEY_NAMES, n=1, cutoff=0.6)
        errors.append("%s: unknown key %r%s" % (label, key, " (did you mean %s?)" % close[0] if close else ""))
    if "name" not in entry:
        errors.append("%s: missing name" % label)
    name = check("name", _name)
    if name is not None:
        if name in seen:
            errors.append("%s: duplicate name %r, already used by entry %d" % (label, name, seen[name] + 1))
        else:
            seen[name] = index
    values["name"] = name
    protocol = entry.get("protocol", "tcp")
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        errors.append("%s: invalid protocol %r: expected tcp, udp or both" % (label, protocol))
        protocol = None
    values["protocol"] = protocol
    ranges = {}
    client_only = "port" not in entry and "connects_to" in entry
    if client_only:
        given = [key for key in LISTENER_KEYS if key in entry]
        if given:
            errors.append("%s: has no port, so it listens nowhere and only connects out; %s only mean%s something "
                          "for a service that listens" % (label, ", ".join(given), "s" if len(given) == 1 else ""))
    elif "port" not in entry:
        errors.append("%s: missing port (an entry that only connects out gives connects_to instead)" % label)
    elif protocol is not None:
        for proto in PROTOCOLS[protocol]:
            resolved = check("port", resolver.resolve, proto, policy)
            if resolved is None:
                break
            ranges[proto] = resolver.merge_ranges(resolved)
    values.update(port=entry.get("port"), ranges=ranges, protocols=PROTOCOLS.get(protocol))
    expose = entry.get("expose", "internal")
    if not isinstance(expose, str) or expose not in EXPOSE_CHOICES:
        errors.append("%s: invalid expose %r: expected %s" % (label, expose, ", ".join(EXPOSE_CHOICES)))
    values["expose"] = expose
    bind_text = entry.get("bind", PRIVATE_BIND if expose == "private" else DEFAULT_BIND)
    try:
        values["bind"] = None if client_only else Bind(bind_text, dual_stack=not bindv6only)
    except _values.BadValue:
        errors.append("%s: invalid bind address %r: expected an IP address such as 0.0.0.0, :: or 127.0.0.1"
                      % (label, bind_text))
    else:
        if not client_only and expose == "private" and not values["bind"].loopback:
            errors.append("%s: expose private means loopback only, but bind is %s; bind it to 127.0.0.1 or ::1, "
                          "or expose it as internal" % (label, bind_text))
    if expose == "public" and entry.get("allow_from"):
        errors.append("%s: allow_from has no effect on a public service (open to everyone): make it internal, or drop "
                      "allow_from" % label)
    range_name = entry.get("range")
    if range_name is not None and (not isinstance(range_name, str) or resolver.normalize_range_name(range_name) not in policy):
        errors.append("%s: unknown range %r: known ranges are %s" % (label, range_name, ", ".join(sorted(policy))))
        range_name = None
    values["range_name"] = range_name
    values["environment"] = check("environment", _string, "environment")
    values["domain"] = check("domain", _values.domain, "domain")
    values["process"] = check("process", _process_name)
    values["publish"] = entry.get("publish", "host")
    if not isinstance(values["publish"], str) or values["publish"] not in PUBLISH_CHOICES:
        errors.append("%s: invalid publish %r: expected %s" % (label, values["publish"], " or ".join(PUBLISH_CHOICES)))
    values["allow_from"] = check("allow_from", sources, "allow_from") or []
    entries = check("upstream", upstream_entries, "upstream")
    values["upstream"] = [server for server, _params in entries] if entries else None
    values["upstream_params"] = dict(entries) if entries else {}
    values["path"] = check("path", route_path, "path") or ROOT_PATH
    values["aliases"] = check("aliases", names, "aliases") or []
    values["redirect_from"] = check("redirect_from", names, "redirect_from") or []
    values["health"] = check("health", health_path, "health")
    for key in ("path", "aliases", "redirect_from", "health"):
        if key in entry and "domain" not in entry:
            errors.append("%s: %s only means something with a domain (the site it belongs to)" % (label, key))
    values["proxy"] = check("proxy", proxy_options, "proxy") or {}
    values["connects_to"] = check("connects_to", connects_to, name, policy) or []
    if len(errors) > before:
        return None
    service = Service(**values)
    _check_published(service, label, errors)
    return None if len(errors) > before else service


def _check_published(service, label, errors):
    """What the proxy needs of a service it publishes, known from the entry alone."""
    if not service.domain:
        return
    if not service.upstream and service.single_port("tcp") is None:
        errors.append("%s: port %r is not one TCP port, so the proxy cannot reach the domain %s; give the backend "
                      "as upstream: host:port" % (label, service.port, service.domain))


def _process_name(value):
    """A process name: what the kernel shows as comm, or a command's name."""
    if not _values.matches(_PROCESS_NAME, value):
        raise _values.BadValue("invalid process %r: expected a process name without spaces or slashes" % (value,))
    return value


def validate(services, policy=None, bindv6only=False):
    """Every entry checked; a list of Service, or RegistryError listing every
    problem of every entry at once. ``policy`` is a full policy from
    ``resolver.build_policy`` (None: the defaults)."""
    policy = resolver.build_policy() if policy is None else policy
    if not isinstance(services, list):
        raise RegistryError(["services must be a list of service entries, got %s" % type(services).__name__])
    errors = []
    seen = {}
    result = []
    for index, entry in enumerate(services):
        service = _check_entry(index, entry, policy, bindv6only, seen, errors)
        if service is not None:
            result.append(service)
    if errors:
        raise RegistryError(errors)
    return result


def ssh_endpoint(services, default_port=DEFAULT_SSH_PORT):
    """Where sshd listens by the registry: the service named ``ssh`` (any
    case) gives the port and, when it names one, the bind address. ``{"port":
    int, "addresses": [...]}``; a wildcard bind, like no bind, means every
    address (no ListenAddress), as it does for every other entry. Without
    such a service: ``default_port`` and every address."""
    for entry in services or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"].lower() == SSH_SERVICE:
            if entry.get("protocol", "tcp") != "tcp":
                raise resolver.PortSpecError("the ssh service has protocol %r: SSH is TCP" % (entry.get("protocol"),))
            port = resolver.service_port(entry.get("port", default_port), "tcp")
            addresses = []
            if "bind" in entry:
                bind = _values.address(entry["bind"], "ssh bind")
                addresses = [] if bind.is_unspecified else [str(bind)]
            return {"port": port, "addresses": addresses, "allow_from": sources(entry.get("allow_from") or [],
                                                                                "ssh allow_from")}
    if services is not None and not isinstance(services, list):
        raise resolver.PortSpecError("the registry must be a list of service entries, got %s" % _values.type_name(services))
    return {"port": resolver.service_port(default_port, "tcp"), "addresses": [], "allow_from": []}
