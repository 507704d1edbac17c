# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service names to port numbers, per protocol, with no dependency on any
/etc/services: a curated table first, then Debian's /etc/services (package
netbase: every name and alias a Debian host resolves), then the IANA
registry. Names are case-insensitive and "_" reads as "-".

Plain Python with no Ansible import: the filters, the modules and the unit
tests share it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _iana_services
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _netbase_services

PROTOCOLS = ("tcp", "udp")

# The names people put in port tables (the seeds' tables among them). Where a
# name is also in the IANA registry, this entry wins; the differences are
# deliberate and listed in the README. It never contradicts netbase's
# /etc/services (a unit test holds every netbase name to its port):
#   - sftp is SSH's file transfer (22), not IANA's historic "sftp" on 115;
#   - vnc, grafana, prometheus, kafka, elasticsearch, node-exporter, cassandra,
#     oracle and portainer use ports IANA registered under other names.
# Values are tuples of ports or (start, end) ranges per protocol.
CURATED = {
    "ssh": {"tcp": (22,)},
    "sftp": {"tcp": (22,)},
    "ftp": {"tcp": (21,)},
    "ftp-data": {"tcp": (20,)},
    "ftps": {"tcp": (990,)},
    "telnet": {"tcp": (23,)},
    "smtp": {"tcp": (25,)},
    "smtps": {"tcp": (465,)},
    "submission": {"tcp": (587,)},
    "domain": {"tcp": (53,), "udp": (53,)},
    "domain-s": {"tcp": (853,), "udp": (853,)},
    "dhcp": {"udp": (67, 68)},
    "dhcp-server": {"udp": (67,)},
    "dhcp-client": {"udp": (68,)},
    "tftp": {"udp": (69,)},
    "http": {"tcp": (80,)},
    "https": {"tcp": (443,), "udp": (443,)},
    "https-alt": {"tcp": (8443,)},
    "hostname": {"tcp": (101,)},
    "pop3": {"tcp": (110,)},
    "pop3s": {"tcp": (995,)},
    "imap": {"tcp": (143,)},
    "imaps": {"tcp": (993,)},
    "ntp": {"udp": (123,)},
    "snmp": {"tcp": (161,), "udp": (161,)},
    "snmptrap": {"tcp": (162,), "udp": (162,)},
    "irc": {"tcp": (194,)},
    "ldap": {"tcp": (389,), "udp": (389,)},
    "ldaps": {"tcp": (636,), "udp": (636,)},
    "microsoft-ds": {"tcp": (445,)},
    "openvpn": {"tcp": (1194,), "udp": (1194,)},
    "pptp": {"tcp": (1723,)},
    "radius": {"tcp": (1812,), "udp": (1812,)},
    "radius-acct": {"tcp": (1813,), "udp": (1813,)},
    "nfs": {"tcp": (2049,), "udp": (2049,)},
    "cpanel": {"tcp": (2082,)},
    "cpanel-ssl": {"tcp": (2083,)},
    "ms-wbt-server": {"tcp": (3389,), "udp": (3389,)},
    "vnc": {"tcp": (5900,)},
    "mysql": {"tcp": (3306,)},
    "postgresql": {"tcp": (5432,)},
    "mongodb": {"tcp": (27017,)},
    "redis": {"tcp": (6379,)},
    "memcached": {"tcp": (11211,)},
    "ms-sql-s": {"tcp": (1433,)},
    "oracle": {"tcp": (1521,)},
    "cassandra": {"tcp": (9042,)},
    "cassandra-internode": {"tcp": (7000,)},
    "amqp": {"tcp": (5672,)},
    "amqps": {"tcp": (5671,)},
    "epmd": {"tcp": (4369,)},
    "kafka": {"tcp": (9092,)},
    "zookeeper": {"tcp": (2181,)},
    "etcd": {"tcp": (2379, 2380)},
    "prometheus": {"tcp": (9090,)},
    "alertmanager": {"tcp": (9093,)},
    "grafana": {"tcp": (3000,)},
    "node-exporter": {"tcp": (9100,)},
    "elasticsearch": {"tcp": (9200,)},
    "portainer": {"tcp": (8000, 9000, 9443)},
}

# Other spellings of the names above (or of IANA names).
ALIASES = {
    "dns": "domain",
    "dot": "domain-s",
    "dns-over-tls": "domain-s",
    "postgres": "postgresql",
    "pgsql": "postgresql",
    "rdp": "ms-wbt-server",
    "mssql": "ms-sql-s",
    "sqlserver": "ms-sql-s",
    "mariadb": "mysql",
    "mongo": "mongodb",
    "rabbitmq": "amqp",
    "smb": "microsoft-ds",
    "submissions": "smtps",
    "snmp-trap": "snmptrap",
    "radacct": "radius-acct",
    "bootps": "dhcp-server",
    "bootpc": "dhcp-client",
    "rfb": "vnc",
}

_tables = {}


def _parse_ports(text):
    if text == "-":
        return ()
    ports = []
    for item in text.split(","):
        start, _sep, end = item.partition("-")
        ports.append((int(start), int(end or start)))
    return tuple(ports)


def _key(name):
    return name.strip().lower().replace("_", "-")


def _table(name, module):
    """A bundled table, parsed on first use: key -> {"tcp": ranges, "udp": ranges}.
    Two spellings of one key (kerberos-master, kerberos_master) merge, the
    first one written keeping a protocol it has."""
    if name not in _tables:
        table = {}
        for line in module.SERVICES.splitlines():
            key, tcp, udp = line.split(" ")
            entry = table.setdefault(_key(key), {"tcp": (), "udp": ()})
            for protocol, ports in (("tcp", tcp), ("udp", udp)):
                entry[protocol] = entry[protocol] or _parse_ports(ports)
        _tables[name] = table
    return _tables[name]


def _iana():
    """The IANA registry (about 6,000 names)."""
    return _table("iana", _iana_services)


def _netbase():
    """Debian's /etc/services: every name and alias as getservbyname() reads it."""
    return _table("netbase", _netbase_services)


def _as_ranges(ports):
    return tuple(port if isinstance(port, tuple) else (port, port) for port in ports)


def canonical_name(name):
    """The tables' key for ``name``: lower case, "_" as "-", aliases followed."""
    key = _key(name)
    return ALIASES.get(key, key)


def lookup(name, protocol=None):
    """Ports of a service name as ``{protocol: ((start, end), ...)}``.

    Only protocols with at least one port are present; ``protocol`` keeps just
    that one. Returns None for a name no table knows.
    """
    key = canonical_name(name)
    if key in CURATED:
        entry = dict((proto, _as_ranges(ports)) for proto, ports in CURATED[key].items())
    elif key in _netbase():
        entry = _netbase()[key]
    elif key in _iana():
        entry = _iana()[key]
    else:
        return None
    protocols = PROTOCOLS if protocol in (None, "both") else (protocol,)
    return dict((proto, entry[proto]) for proto in protocols if entry.get(proto))


def known_names():
    """Every name lookup() answers, for close-match suggestions."""
    return set(CURATED) | set(ALIASES) | set(_netbase()) | set(_iana())


def source():
    """Where the bundled tables came from and when."""
    return "%s (obtained %s); %s (obtained %s)" % (
        _netbase_services.SOURCE, _netbase_services.OBTAINED, _iana_services.SOURCE, _iana_services.OBTAINED)
