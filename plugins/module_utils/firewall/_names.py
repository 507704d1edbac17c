# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names on the host: the DNS servers it really sends its queries to, and the
addresses of the names its rules go to (``destination_name``).

Resolvers. ``/etc/resolv.conf`` names the servers; when one is a local stub
on loopback, the servers it forwards to are found and allowed too, so
lookups keep working under the output policy drop. Understood stubs:

- systemd-resolved (``127.0.0.53``, ``127.0.0.54``): the servers in
  ``/run/systemd/resolve/resolv.conf``, which lists every link's servers.
- dnsmasq (any loopback address, found by the process listening there on
  UDP port 53): its ``server=`` options (a domain's servers too), its
  ``servers-file``, and its ``resolv-file`` (``/etc/resolv.conf`` unless
  ``no-resolv``), read from its command line, its ``conf-file``
  (``/etc/dnsmasq.conf``) and its ``conf-dir`` directories.
- Docker's embedded DNS (``127.0.0.11``) forwards from outside the container.

Any other stub (unbound, named, ...) is named in a warning: its upstream
servers need a rule.

Names. A name is resolved before anything changes, with the ruleset in place.
An answer that no rule should be made from (unspecified, loopback,
multicast, link-local, IPv4-mapped) is refused naming the name and the
answer. The addresses of each name are recorded after every real run in
``firewall-names.json`` beside the module's state (``/var/lib/portcullis``);
when a name stops resolving, its last good set is kept with a warning, so
a run can still apply the rule that makes DNS work again. A name with no
recorded set that does not resolve fails the run, naming it.

Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import socket
import sys
import time

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils import _values

RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_UPSTREAMS = "/run/systemd/resolve/resolv.conf"
RESOLVED_STUBS = (ipaddress.ip_address("127.0.0.53"), ipaddress.ip_address("127.0.0.54"))
DOCKER_EMBEDDED_DNS = ipaddress.ip_address(_host.DOCKER_EMBEDDED_DNS)
DNS_PORT = 53
DNSMASQ_CONF = "/etc/dnsmasq.conf"
NAMES_FILE = "firewall-names.json"
# dnsmasq's short options that matter here, as their long names.
_DNSMASQ_SHORT = {"-C": "conf-file", "-7": "conf-dir", "-S": "server", "-r": "resolv-file", "-R": "no-resolv"}


def _sort_key(text):
    address = ipaddress.ip_address(text)
    return (address.version, address)


def nameservers(text):
    """The addresses of resolv.conf's nameserver lines (a zone id is dropped:
    a rule cannot carry it; the link-local address stays)."""
    found = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                found.append(ipaddress.ip_address(parts[1].split("%", 1)[0]))
            except ValueError:
                continue
    return found


def special_purpose(address):
    """The kind of special-purpose address a DNS answer is (no rule is made to
    it), or None."""
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return "IPv4-mapped"
    for kind, test in (("unspecified", parsed.is_unspecified), ("loopback", parsed.is_loopback),
                       ("multicast", parsed.is_multicast), ("link-local", parsed.is_link_local)):
        if test:
            return kind
    return None


def resolve_name(name):
    """The addresses ``name`` resolves to on this host (both families), sorted."""
    infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    return sorted(set(info[4][0].split("%", 1)[0] for info in infos), key=_sort_key)


class Names:
    """Resolves the rules' names with ``lookup(name)``, keeping the last good
    set of a name that stops resolving; ``save()`` records this run's sets."""

    def __init__(self, path, lookup, warnings):
        self.path = path
        self.lookup = lookup
        self.warnings = warnings
        self.used = {}
        self.kept = {}
        self.recorded = self._load()

    def _load(self):
        text = _host.read(self.path)
        if text is None:
            return {}
        try:
            recorded = json.loads(text)
            if not isinstance(recorded, dict):
                raise ValueError("not a mapping")
            return dict((name, entry) for name, entry in recorded.items() if self._usable(entry))
        except ValueError as error:
            self.warnings.append("the names' last good addresses in %s could not be read (%s): a name that does not "
                                 "resolve now fails the run" % (self.path, error))
            return {}

    @staticmethod
    def _usable(entry):
        """Whether a recorded entry holds addresses a rule can be made to."""
        if not isinstance(entry, dict) or not isinstance(entry.get("addresses"), list) or not entry["addresses"]:
            return False
        try:
            return not any(special_purpose(address) for address in entry["addresses"])
        except ValueError:
            return False

    def resolve(self, name):
        """The addresses of ``name``; raises BadValue for a special-purpose
        answer, OSError when it does not resolve and no set is recorded."""
        try:
            addresses = list(self.lookup(name))
            if not addresses:
                raise OSError("no address")
        except (OSError, UnicodeError) as error:
            entry = self.recorded.get(name)
            if not entry:
                raise
            addresses = list(entry["addresses"])
            self.kept[name] = addresses
            self.warnings.append(
                "destination_name %r does not resolve on this host now (%s): its last good addresses %s (its answer since "
                "%s, recorded in %s) are kept; if its DNS servers are blocked, allow them (port 53) and run again"
                % (name, error, ", ".join(addresses), entry.get("resolved", "at an earlier run"), self.path))
            self.used[name] = {"addresses": addresses, "resolved": entry.get("resolved")}
            return addresses
        refused = ["%s (%s)" % (address, special_purpose(address)) for address in addresses
                   if special_purpose(address)]
        if refused:
            raise _values.BadValue("destination_name %r answers %s, which no rule is made to: fix the name's DNS "
                                   "records, or give the destination as an address" % (name, ", ".join(refused)))
        self.used[name] = {"addresses": addresses, "resolved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        return addresses

    def save(self):
        """Record the sets this run used (the names it no longer has are forgotten)."""
        current = dict((name, entry["addresses"]) for name, entry in self.recorded.items())
        if current == dict((name, entry["addresses"]) for name, entry in self.used.items()):
            return
        if not self.used:
            if os.path.exists(self.path):
                os.unlink(self.path)
            return
        _host.write_atomic(self.path, json.dumps(self.used, indent=1, sort_keys=True) + "\n")

    def forget(self):
        if os.path.exists(self.path):
            os.unlink(self.path)


# The resolvers the host uses.

def _dnsmasq_options(cmdline):
    """``[(option, value)]`` of a dnsmasq command line, long names without dashes."""
    options = []
    args = list(cmdline[1:])
    while args:
        arg = args.pop(0)
        if arg.startswith("--"):
            key, _sep, value = arg[2:].partition("=")
            options.append((key, value if _sep else None))
        elif arg[:2] in _DNSMASQ_SHORT:
            key = _DNSMASQ_SHORT[arg[:2]]
            if key == "no-resolv":
                options.append((key, None))
            else:
                value = arg[2:] or (args.pop(0) if args else "")
                options.append((key, value))
    return options


def _config_options(text):
    options = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        options.append((key.strip(), value.strip() if sep else None))
    return options


def _conf_dir_files(value, root):
    """The files a ``conf-dir=DIR[,.ext|*.ext...]`` reads, in dnsmasq's order."""
    parts = value.split(",")
    directory, filters = parts[0], [part for part in parts[1:] if part]
    include = [item[1:] for item in filters if item.startswith("*")]
    exclude = [item for item in filters if not item.startswith("*")]
    try:
        entries = sorted(os.listdir(os.path.join(root, directory.lstrip("/"))))
    except OSError:
        return []
    files = []
    for entry in entries:
        if entry.startswith(".") or entry.endswith("~") or (entry.startswith("#") and entry.endswith("#")):
            continue
        if include and not any(entry.endswith(suffix) for suffix in include):
            continue
        if any(entry.endswith(suffix) for suffix in exclude):
            continue
        files.append(os.path.join(directory, entry))
    return files


def _server_address(value):
    """The address of a ``server=[/domain/]ADDR[#port][@source]`` value, and its port, or None."""
    text = value.rsplit("/", 1)[-1] if value.startswith("/") else value
    text = text.split("@", 1)[0]
    text, _sep, port = text.partition("#")
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None  # a domain answered locally (server=/local/), "#" (the default servers) or none
    try:
        number = int(port) if port else DNS_PORT
    except ValueError:
        number = DNS_PORT
    return address, number


def dnsmasq_upstreams(cmdline, read, root="/"):
    """``(addresses, warnings)``: the servers a dnsmasq with ``cmdline`` forwards to."""
    options = _dnsmasq_options(cmdline)
    conf_files = [value for key, value in options if key == "conf-file"]
    if not conf_files and not any(key == "conf-file" for key, _value in options):
        conf_files = [DNSMASQ_CONF]
    pending = [("command line", options)]
    seen = set()
    queue = [path for path in conf_files if path]
    for key, value in options:
        if key == "conf-dir" and value:
            queue += _conf_dir_files(value, root)
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        file_options = _config_options(read(path))
        pending.append((path, file_options))
        for key, value in file_options:
            if key == "conf-file" and value:
                queue.append(value)
            elif key == "conf-dir" and value:
                queue += _conf_dir_files(value, root)
    found, warnings = [], []
    resolv_files, no_resolv = [], False
    for _where, items in pending:
        for key, value in items:
            if key == "server" and value:
                found.append(_server_address(value))
            elif key == "servers-file" and value:
                found += [_server_address(item) for name, item in _config_options(read(value))
                          if name == "server" and item]
            elif key == "resolv-file" and value:
                resolv_files.append(value)
            elif key == "no-resolv":
                no_resolv = True
    if not no_resolv:
        for path in resolv_files or [RESOLV_CONF]:
            found += [(address, DNS_PORT) for address in nameservers(read(path))]
    addresses = []
    for item in found:
        if item is None or item[0].is_loopback:
            continue
        if item[1] != DNS_PORT:
            warnings.append("dnsmasq forwards to %s on port %d, which is not allowed out: declare it with a rule"
                            % item)
            continue
        addresses.append(item[0])
    return addresses, warnings


def _udp_sockets(proc_root, port):
    """``{inode: address}`` of the unconnected UDP sockets bound to ``port``
    (/proc/net/udp and udp6; the kernel prints each 32-bit word of an address
    in host byte order)."""
    found = {}
    for table in ("udp", "udp6"):
        text = _host.read(os.path.join(proc_root, "net", table)) or ""
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or ":" not in fields[1] or not fields[9].isdigit():
                continue
            local_hex, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[2].split(":")[-1] != "0000":
                continue
            try:
                raw = bytes.fromhex(local_hex)
            except ValueError:
                continue
            if sys.byteorder == "little":
                raw = b"".join(raw[offset:offset + 4][::-1] for offset in range(0, len(raw), 4))
            found[int(fields[9])] = str(ipaddress.ip_address(raw))
    return found


def _process(pid, proc_root):
    """``(name, cmdline)`` of a process, or None when it is gone."""
    comm = (_host.read(os.path.join(proc_root, str(pid), "comm")) or "").strip()
    cmdline = _host.read(os.path.join(proc_root, str(pid), "cmdline")) or ""
    return (comm, [part for part in cmdline.split("\0") if part]) if comm else None


def _stub_process(address, proc_root):
    """``(name, cmdline)`` of the process listening on ``address`` UDP port 53
    (or on its family's wildcard), or None."""
    sockets = _udp_sockets(proc_root, DNS_PORT)
    # A wildcard socket answers on every address; "::" also takes IPv4 unless it is IPv6-only.
    wildcards = ("0.0.0.0", "::") if address.version == 4 else ("::",)
    wanted = dict((inode, bound) for inode, bound in sockets.items() if bound == str(address) or bound in wildcards)
    if not wanted:
        return None
    try:
        pids = sorted(int(entry) for entry in os.listdir(proc_root) if entry.isdigit())
    except OSError:
        return None
    owners, unreadable = [], []
    for pid in pids:
        fd_dir = os.path.join(proc_root, str(pid), "fd")
        try:
            targets = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            unreadable.append(pid)
            continue
        bound = [wanted[int(target[8:-1])] for target in targets
                 if target.startswith("socket:[") and target[8:-1].isdigit() and int(target[8:-1]) in wanted]
        if bound:
            owners.append((bound[0] != str(address), pid))  # the exact address before the wildcard
    for _wildcard, pid in sorted(owners):
        found = _process(pid, proc_root)
        if found:
            return found
    # Another user's file descriptors cannot be read without CAP_SYS_PTRACE (root in a container): the one
    # dnsmasq among those processes, if there is exactly one, is taken for the listener.
    dnsmasqs = [found for found in (_process(pid, proc_root) for pid in unreadable) if found and found[0] == "dnsmasq"]
    return dnsmasqs[0] if len(dnsmasqs) == 1 else None


def read_resolvers(read, root="/"):
    """``(addresses, warnings)``: the DNS servers this host sends queries to,
    as text, sorted; behind a local stub, the servers it forwards to too."""
    text = read(RESOLV_CONF)
    if text is None:
        return [], ["unknown: %s could not be read, so no DNS server is allowed out and name lookups will fail "
                    "under the output policy drop" % RESOLV_CONF]
    found, warnings = [], []
    for server in nameservers(text):
        found.append(server)
        if not server.is_loopback or server == DOCKER_EMBEDDED_DNS:
            continue
        if server in RESOLVED_STUBS:
            upstream = [item for item in nameservers(read(RESOLVED_UPSTREAMS)) if not item.is_loopback]
            if not upstream:
                warnings.append("unknown: systemd-resolved's upstream servers (%s) could not be read; declare them "
                                "with a rule for port 53" % RESOLVED_UPSTREAMS)
            found += upstream
            continue
        process = _stub_process(server, os.path.join(root, "proc"))
        if process is not None and process[0] == "dnsmasq":
            upstream, problems = dnsmasq_upstreams(process[1], read, root)
            warnings += problems
            if not upstream and not problems:
                warnings.append("the local resolver %s (dnsmasq) names no upstream server this module can read (its "
                                "servers may come over D-Bus): declare them with a rule for port 53" % server)
            found += upstream
            continue
        warnings.append("the local resolver %s (%s) forwards to servers this module does not know (it understands "
                        "systemd-resolved and dnsmasq): declare them (port 53) so lookups keep working under the "
                        "output policy drop" % (server, process[0] if process else
                                                "no process found listening on port 53"))
    if not found:
        warnings.append("%s names no nameserver: no DNS server is allowed out" % RESOLV_CONF)
    return sorted(set(str(server) for server in found), key=_sort_key), warnings
