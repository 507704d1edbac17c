# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import socket
import struct
import sys

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.ports._resolver import PortSpecError

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def kernel_hex(address):
    """Write an address the way the kernel prints it: 32-bit words in host order."""
    packed = ipaddress.ip_address(address).packed
    words = [packed[offset:offset + 4] for offset in range(0, len(packed), 4)]
    if sys.byteorder == "little":
        words = [word[::-1] for word in words]
    return "".join(word.hex().upper() for word in words)


def line(number, address, port, state, inode, uid=0, remote="0.0.0.0", remote_port=0):
    return "%4d: %s:%04X %s:%04X %02X 00000000:00000000 00:00000000 00000000 %5d 0 %d 1 0000000000000000\n" % (
        number, kernel_hex(address), port, kernel_hex(remote), remote_port, state, uid, inode)


def make_proc(root, tcp="", tcp6="", udp="", udp6="", bindv6only="0", processes=None, with_ipv6=True):
    net = root / "net"
    net.mkdir(parents=True)
    (net / "tcp").write_text(HEADER + tcp)
    (net / "udp").write_text(HEADER + udp)
    if with_ipv6:
        (net / "tcp6").write_text(HEADER + tcp6)
        (net / "udp6").write_text(HEADER + udp6)
    sysctl = root / "sys" / "net" / "ipv6"
    sysctl.mkdir(parents=True)
    (sysctl / "bindv6only").write_text(bindv6only + "\n")
    for pid, (comm, cmdline, inodes) in (processes or {}).items():
        directory = root / str(pid)
        directory.mkdir()
        (directory / "comm").write_text(comm + "\n")
        (directory / "cmdline").write_bytes(b"\0".join(part.encode() for part in cmdline) + b"\0")
        if inodes is None:
            (directory / "fd").write_text("not a directory: an fd dir we may not read")
            continue
        (directory / "fd").mkdir()
        for fd, inode in enumerate(inodes, start=3):
            os.symlink("socket:[%d]" % inode, str(directory / "fd" / str(fd)))
        os.symlink("/dev/null", str(directory / "fd" / "0"))
    return str(root)


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "10.1.2.3", "::", "::1", "fe80::1:2:3:4",
                                     "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "::ffff:192.0.2.1"])
def test_addresses_decode_in_full(address):
    family = "ipv4" if "." in address and ":" not in address else "ipv6"
    table = "tcp" if family == "ipv4" else "tcp6"
    parsed = _listening.parse_socket_table(HEADER + line(0, address, 80, 0x0A, 1), family, "tcp", 0x0A)
    assert parsed[0]["address"] == str(ipaddress.ip_address(address))
    assert table  # both tables share the format


def test_states_and_connected_udp(tmp_path):
    proc = make_proc(
        tmp_path,
        tcp=line(0, "0.0.0.0", 22, 0x0A, 100) + line(1, "10.0.0.1", 22, 0x01, 101, remote="10.0.0.9", remote_port=50000),
        udp=line(0, "0.0.0.0", 53, 0x07, 200) + line(1, "10.0.0.1", 41000, 0x07, 201, remote="8.8.8.8", remote_port=53),
        processes={10: ("sshd", ["/usr/sbin/sshd", "-D"], [100]), 20: ("dnsmasq", ["dnsmasq"], [200, 201])},
    )
    found = _listening.listening(proc_root=proc, v6only_flags={})
    assert [(item["protocol"], item["address"], item["port"], item["pid"], item["process"]) for item in found] == [
        ("tcp", "0.0.0.0", 22, 10, "sshd"),
        ("udp", "0.0.0.0", 53, 20, "dnsmasq"),
    ]
    assert found[0]["cmdline"] == ["/usr/sbin/sshd", "-D"]
    assert found[0]["user"] == "root"


def test_prefork_and_reuseport_list_every_process(tmp_path):
    proc = make_proc(
        tmp_path,
        tcp=line(0, "0.0.0.0", 80, 0x0A, 300) + line(1, "0.0.0.0", 8080, 0x0A, 301) + line(2, "0.0.0.0", 8080, 0x0A, 302),
        processes={
            30: ("nginx", ["nginx: master process"], [300]),
            31: ("nginx", ["nginx: worker process"], [300]),
            40: ("app", ["app", "--worker", "1"], [301]),
            41: ("app", ["app", "--worker", "2"], [302]),
        },
    )
    found = _listening.listening(proc_root=proc, v6only_flags={})
    assert [(item["port"], item["pid"]) for item in found] == [(80, 30), (80, 31), (8080, 40), (8080, 41)]
    assert found[0]["inode"] == found[1]["inode"]


def test_unreadable_process_degrades_to_no_pid(tmp_path):
    proc = make_proc(tmp_path, tcp=line(0, "127.0.0.1", 5432, 0x0A, 400, uid=4242),
                     processes={50: ("postgres", ["postgres"], None)})
    found = _listening.listening(proc_root=proc, v6only_flags={})
    assert found == [{
        "protocol": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 5432, "user": "4242", "inode": 400,
        "dual_stack": False, "pid": None, "process": None, "cmdline": [],
    }]


def test_dual_stack_from_socket_flags_then_sysctl(tmp_path):
    proc = make_proc(tmp_path, tcp6=line(0, "::", 22, 0x0A, 500) + line(1, "::", 80, 0x0A, 501) + line(2, "::1", 81, 0x0A, 502))
    found = _listening.listening(proc_root=proc, v6only_flags={500: False, 501: True})
    assert [(item["port"], item["dual_stack"]) for item in found] == [(22, True), (80, False), (81, False)]
    # Without netlink the host default applies.
    assert all(item["dual_stack"] for item in _listening.listening(proc_root=proc, v6only_flags={}) if item["address"] == "::")


def test_bindv6only_default(tmp_path):
    proc = make_proc(tmp_path, tcp6=line(0, "::", 22, 0x0A, 500), bindv6only="1")
    assert _listening.listening(proc_root=proc, v6only_flags={})[0]["dual_stack"] is False


def test_no_ipv6_tables_is_fine(tmp_path):
    proc = make_proc(tmp_path, tcp=line(0, "0.0.0.0", 22, 0x0A, 100), with_ipv6=False)
    assert [item["port"] for item in _listening.listening(proc_root=proc, v6only_flags={})] == [22]


def test_missing_ipv4_table_is_an_error(tmp_path):
    with pytest.raises(_listening.ListenerReadError, match="cannot read .*net/tcp"):
        _listening.listening(proc_root=str(tmp_path), v6only_flags={})


def test_parse_v6only_dump():
    def message(inode, v6only):
        attribute = struct.pack("=HHB3x", 5, _listening.INET_DIAG_SKV6ONLY, v6only)
        other = struct.pack("=HHI", 8, 1, 7)
        body = _listening._INET_DIAG_MSG.pack(10, 10, 0, 0, b"\0" * 48, 0, 0, 0, 0, inode) + other + attribute
        return _listening._NLMSG_HEADER.pack(16 + len(body), 20, 2, 1, 0) + body

    done = _listening._NLMSG_HEADER.pack(20, _listening.NLMSG_DONE, 2, 1, 0) + b"\0" * 4
    assert _listening.parse_v6only_dump(message(11, 1) + message(12, 0)) == ({11: True, 12: False}, False)
    assert _listening.parse_v6only_dump(message(13, 1) + done) == ({13: True}, True)
    error = _listening._NLMSG_HEADER.pack(20, _listening.NLMSG_ERROR, 0, 1, 0) + b"\0" * 4
    with pytest.raises(OSError):
        _listening.parse_v6only_dump(error)


@pytest.fixture
def own_sockets():
    opened = []

    def open_socket(family, kind, address, v6only=None):
        sock = socket.socket(family, kind)
        opened.append(sock)
        if v6only is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        sock.bind((address, 0))
        if kind == socket.SOCK_STREAM:
            sock.listen(5)
        return sock.getsockname()[1]

    yield open_socket
    for sock in opened:
        sock.close()


def test_real_sockets_of_this_process(own_sockets):
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("needs Linux /proc")
    tcp4 = own_sockets(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1")
    udp4 = own_sockets(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1")
    expected = {("tcp", "ipv4", "127.0.0.1", tcp4, False), ("udp", "ipv4", "127.0.0.1", udp4, False)}
    if socket.has_ipv6 and os.path.exists("/proc/net/tcp6"):
        v6only = own_sockets(socket.AF_INET6, socket.SOCK_STREAM, "::", v6only=True)
        dual = own_sockets(socket.AF_INET6, socket.SOCK_STREAM, "::", v6only=False)
        expected |= {("tcp", "ipv6", "::", v6only, False), ("tcp", "ipv6", "::", dual, True)}
    ports = set(item[3] for item in expected)
    found = [item for item in _listening.listening() if item["port"] in ports and item["pid"] == os.getpid()]
    assert set((item["protocol"], item["family"], item["address"], item["port"], item["dual_stack"]) for item in found) == expected
    with open("/proc/self/comm") as handle:
        assert set(item["process"] for item in found) == {handle.read().strip()}


class TestListenerFilter:
    ENTRIES = [
        {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 22},
        {"protocol": "tcp", "family": "ipv6", "address": "::1", "port": 8080},
        {"protocol": "udp", "family": "ipv4", "address": "127.0.0.53", "port": 53},
    ]

    def kept(self, **kwargs):
        wanted = _listening.ListenerFilter(**kwargs)
        return [entry["port"] for entry in self.ENTRIES if wanted.matches(entry)]

    def test_filters(self):
        assert self.kept() == [22, 8080, 53]
        assert self.kept(protocol="udp") == [53]
        assert self.kept(family="ipv6") == [8080]
        assert self.kept(ports=["ssh", "8000-8999"]) == [22, 8080]
        assert self.kept(ports=["dns"]) == [53]
        assert self.kept(addresses=["127.0.0.0/8"]) == [53]
        assert self.kept(addresses=["::1", "0.0.0.0"]) == [22, 8080]

    def test_bad_arguments(self):
        with pytest.raises(PortSpecError, match="address '10.0.0.300' is not an IP address"):
            _listening.ListenerFilter(addresses=["10.0.0.300"])
        with pytest.raises(PortSpecError, match="postgressql"):
            _listening.ListenerFilter(ports=["postgressql"])


def test_owners_not_readable_without_root_are_unknown():
    from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening as listening_mod
    listeners = [{"pid": None}, {"pid": 5}, {"pid": None}]
    assert listening_mod.unknown_owners([{"pid": 5}], euid=1000) == []
    found = listening_mod.unknown_owners(listeners, euid=1000)
    assert [item["check"] for item in found] == ["process"]
    assert "2 of 3 listening sockets are not visible (they cannot be read without root)" in found[0]["message"]
    # As root too: a socket held outside this PID namespace shows no process (helper found it passed silently).
    found = listening_mod.unknown_owners(listeners, euid=0)
    assert "are not visible (it is held outside this PID namespace, or by the kernel)" in found[0]["message"]
