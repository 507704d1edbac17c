# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What listens on this host, read from the kernel: the socket tables in
/proc/net/{tcp,tcp6,udp,udp6}, socket inodes matched to processes through
/proc/<pid>/fd, and each IPv6 socket's IPV6_V6ONLY flag from the sock_diag
netlink interface (the one thing /proc/net does not show).

Needs no ss, netstat or psutil. Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import ipaddress
import os
import pwd
import socket
import struct
import sys

from ansible_collections.portcullis.ports.plugins.module_utils import _values
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as _port_resolver

TCP_LISTEN = 0x0A
# An unconnected UDP socket (bound, no peer) sits in TCP_CLOSE.
UDP_UNCONNECTED = 0x07

TABLES = (
    ("tcp", "ipv4", "tcp", TCP_LISTEN),
    ("tcp6", "ipv6", "tcp", TCP_LISTEN),
    ("udp", "ipv4", "udp", UDP_UNCONNECTED),
    ("udp6", "ipv6", "udp", UDP_UNCONNECTED),
)


class ListenerReadError(Exception):
    """The socket tables themselves cannot be read."""


def _decode_address(hex_address, family):
    """The kernel prints each 32-bit word of the address in host byte order."""
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[offset:offset + 4][::-1] for offset in range(0, len(raw), 4))
    if family == "ipv4":
        return str(ipaddress.IPv4Address(raw))
    return str(ipaddress.IPv6Address(raw))


def parse_socket_table(text, family, protocol, wanted_state):
    """Listening sockets of one /proc/net table as dicts (no process yet)."""
    sockets = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, remote, state = fields[1], fields[2], int(fields[3], 16)
        if state != wanted_state:
            continue
        local_address, local_port = local.split(":")
        port = int(local_port, 16)
        if port == 0:
            continue
        if protocol == "udp" and int(remote.split(":")[1], 16) != 0:
            continue  # connected UDP socket: a client, not a listener
        sockets.append({
            "protocol": protocol,
            "family": family,
            "address": _decode_address(local_address, family),
            "port": port,
            "uid": int(fields[7]),
            "inode": int(fields[9]),
        })
    return sockets


def read_sockets(proc_root="/proc", protocols=("tcp", "udp")):
    """Listening sockets of every table; a missing IPv6 table is no error."""
    sockets = []
    for table, family, protocol, state in TABLES:
        if protocol not in protocols:
            continue
        path = os.path.join(proc_root, "net", table)
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError) as error:
            if error.errno == errno.ENOENT and family == "ipv6":
                continue  # IPv6 disabled on this kernel
            raise ListenerReadError("cannot read %s: %s" % (path, error))
        sockets.extend(parse_socket_table(text, family, protocol, state))
    return sockets


def _read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def socket_owners(inodes, proc_root="/proc"):
    """``{inode: [pid, ...]}`` for the given socket inodes.

    Processes that vanish or whose fd directory we may not read are skipped:
    their sockets then have no pid rather than breaking the scan.
    """
    owners = {}
    wanted = set(inodes)
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return owners
    for entry in entries:
        if not entry.isdigit():
            continue
        fd_dir = os.path.join(proc_root, entry, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in wanted:
                    pids = owners.setdefault(inode, [])
                    if int(entry) not in pids:
                        pids.append(int(entry))
    return owners


def process_info(pid, proc_root="/proc"):
    comm = _read_text(os.path.join(proc_root, str(pid), "comm"))
    cmdline = _read_text(os.path.join(proc_root, str(pid), "cmdline"))
    return {
        "process": comm.strip() if comm is not None else None,
        "cmdline": [part for part in cmdline.split("\0") if part] if cmdline else [],
    }


def _user_name(uid, cache):
    if uid not in cache:
        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


# sock_diag: IPV6_V6ONLY of IPv6 sockets, by inode.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
INET_DIAG_SKV6ONLY = 11
_NLMSG_HEADER = struct.Struct("=IHHII")
_INET_DIAG_REQ_V2 = struct.Struct("=BBBBI48s")
_INET_DIAG_MSG = struct.Struct("=BBBB48sIIIII")
_RTATTR = struct.Struct("=HH")


def _align(length):
    return (length + 3) & ~3


def parse_v6only_dump(data):
    """``({inode: v6only}, done)`` from sock_diag replies."""
    flags = {}
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG_HEADER.unpack_from(data, offset)
        if length < _NLMSG_HEADER.size:
            break
        if kind == NLMSG_DONE:
            return flags, True
        if kind == NLMSG_ERROR:
            raise OSError("sock_diag request refused")
        body = offset + _NLMSG_HEADER.size
        inode = _INET_DIAG_MSG.unpack_from(data, body)[-1]
        attribute = body + _INET_DIAG_MSG.size
        end = offset + length
        while attribute + _RTATTR.size <= end:
            attr_length, attr_type = _RTATTR.unpack_from(data, attribute)
            if attr_length < _RTATTR.size:
                break
            if attr_type == INET_DIAG_SKV6ONLY:
                flags[inode] = bool(data[attribute + _RTATTR.size])
            attribute += _align(attr_length)
        offset += _align(length)
    return flags, False


def read_v6only_flags(protocols=("tcp", "udp")):
    """``{inode: v6only}`` for listening IPv6 sockets, or None when the kernel
    does not answer (no netlink in this sandbox, IPv6 off)."""
    states = {"tcp": 1 << TCP_LISTEN, "udp": 1 << UDP_UNCONNECTED}
    numbers = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
    flags = {}
    try:
        diag = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    except (AttributeError, OSError):
        return None
    try:
        for sequence, protocol in enumerate(protocols, start=1):
            request = _INET_DIAG_REQ_V2.pack(socket.AF_INET6, numbers[protocol], 0, 0, states[protocol], b"\0" * 48)
            header = _NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY,
                                        NLM_F_REQUEST | NLM_F_DUMP, sequence, 0)
            diag.send(header + request)
            done = False
            while not done:
                part, done = parse_v6only_dump(diag.recv(65536))
                flags.update(part)
    except OSError:
        return None
    finally:
        diag.close()
    return flags


def read_bindv6only(proc_root="/proc"):
    """The default for sockets that do not set IPV6_V6ONLY themselves."""
    text = _read_text(os.path.join(proc_root, "sys", "net", "ipv6", "bindv6only"))
    return text is not None and text.strip() == "1"


def listening(proc_root="/proc", protocols=("tcp", "udp"), v6only_flags=None):
    """Every listening socket with its processes, one entry per (socket, pid).

    ``dual_stack`` is true for an IPv6 wildcard socket that also accepts IPv4.
    """
    sockets = read_sockets(proc_root, protocols)
    if v6only_flags is None:
        v6only_flags = read_v6only_flags(protocols) if proc_root == "/proc" else None
    default_v6only = read_bindv6only(proc_root)
    owners = socket_owners([entry["inode"] for entry in sockets], proc_root)
    users = {}
    processes = {}
    result = []
    for entry in sockets:
        v6only = None
        if entry["family"] == "ipv6":
            v6only = (v6only_flags or {}).get(entry["inode"], default_v6only)
        base = {
            "protocol": entry["protocol"],
            "family": entry["family"],
            "address": entry["address"],
            "port": entry["port"],
            "user": _user_name(entry["uid"], users),
            "inode": entry["inode"],
            "dual_stack": entry["family"] == "ipv6" and entry["address"] == "::" and not v6only,
        }
        pids = owners.get(entry["inode"]) or [None]
        for pid in sorted(pids, key=lambda value: -1 if value is None else value):
            if pid is not None and pid not in processes:
                processes[pid] = process_info(pid, proc_root)
            info = processes.get(pid, {"process": None, "cmdline": []})
            item = dict(base)
            item.update(pid=pid, process=info["process"], cmdline=info["cmdline"])
            result.append(item)
    result.sort(key=lambda item: (item["protocol"], item["port"], item["family"], item["address"],
                                  -1 if item["pid"] is None else item["pid"]))
    return result


def unknown_owners(listeners, euid=None):
    """What could not be read about ``listeners``: the sockets whose process
    is not visible here - other users' without root, and as root those held
    outside this PID namespace (or by the kernel). ``[{"check", "message"}]``."""
    euid = os.geteuid() if euid is None else euid
    unseen = [item for item in listeners if item.get("pid") is None]
    if not unseen:
        return []
    why = ("it is held outside this PID namespace, or by the kernel" if euid == 0 else
           "they cannot be read without root")
    return [{"check": "process", "services": [],
             "message": "the processes of %d of %d listening sockets are not visible (%s): their pid, process and "
                        "cmdline are null" % (len(unseen), len(listeners), why)}]


class ListenerFilter:
    """Which listeners a caller asked for: protocol, family, ports, addresses.

    Built before anything is read, so bad arguments fail first.
    """

    def __init__(self, protocol="both", family="both", ports=None, addresses=None):
        self.protocols = ("tcp", "udp") if protocol == "both" else (protocol,)
        self.families = ("ipv4", "ipv6") if family == "both" else (family,)
        self.port_ranges = None
        if ports:
            self.port_ranges = _port_resolver.parse_ranges(_port_resolver.port_ranges(ports, protocol))
        self.networks = None
        if addresses:
            self.networks = []
            for address in addresses:
                try:
                    self.networks.append(_values.network(address, "address"))
                except _values.BadValue as error:
                    raise _port_resolver.PortSpecError(str(error))

    def matches(self, entry):
        if entry["protocol"] not in self.protocols or entry["family"] not in self.families:
            return False
        if self.port_ranges is not None and not any(start <= entry["port"] <= end for start, end in self.port_ranges):
            return False
        if self.networks is not None:
            address = ipaddress.ip_address(entry["address"])
            if not any(address.version == network.version and address in network for network in self.networks):
                return False
        return True
