# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _service_table as table

# Every service the seed documents name, with the port they give it.
SEED_SERVICES = {
    "ssh": 22, "http": 80, "https": 443, "smtp": 25, "submission": 587, "smtps": 465,
    "pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993, "dns": 53, "tftp": 69,
    "ntp": 123, "snmp": 161, "snmptrap": 162, "ldap": 389, "ldaps": 636, "ftp": 21, "ftp-data": 20,
    "telnet": 23, "rdp": 3389, "vnc": 5900, "mysql": 3306, "postgresql": 5432, "mongodb": 27017,
    "redis": 6379, "mssql": 1433, "oracle": 1521, "cassandra": 9042, "amqp": 5672, "rabbitmq": 5672,
    "kafka": 9092, "prometheus": 9090, "grafana": 3000, "node-exporter": 9100, "elasticsearch": 9200,
    "openvpn": 1194, "pptp": 1723, "radius": 1812, "radius-acct": 1813, "nfs": 2049, "irc": 194,
    "hostname": 101, "domain-s": 853, "ftps": 990, "microsoft-ds": 445, "epmd": 4369, "https-alt": 8443,
}


def single_port(name, protocol=None):
    ports = table.lookup(name, protocol)
    assert ports, name
    numbers = set()
    for ranges in ports.values():
        for start, end in ranges:
            numbers.update(range(start, end + 1))
    return numbers


@pytest.mark.parametrize("name, port", sorted(SEED_SERVICES.items()))
def test_seed_services_are_known(name, port):
    assert single_port(name) == {port}


def test_names_with_several_ports_keep_all_of_them():
    assert single_port("portainer") == {8000, 9000, 9443}
    assert single_port("dhcp") == {67, 68}


@pytest.mark.parametrize("alias, name", [("DNS", "domain"), ("Postgres", "postgresql"), ("RDP", "ms-wbt-server"),
                                         ("rabbitmq", "amqp"), ("node_exporter", "node-exporter")])
def test_aliases_and_case(alias, name):
    assert table.canonical_name(alias) == name
    assert table.lookup(alias) == table.lookup(name)


def test_protocols_are_separate():
    assert table.lookup("ntp") == {"udp": ((123, 123),)}
    assert table.lookup("ntp", "tcp") == {}
    assert table.lookup("dns", "udp") == {"udp": ((53, 53),)}
    assert table.lookup("dns", "both") == {"tcp": ((53, 53),), "udp": ((53, 53),)}


def test_iana_registry_is_bundled():
    # Names only the IANA data knows, including a registered range.
    assert table.lookup("kerberos") == {"tcp": ((88, 88),), "udp": ((88, 88),)}
    assert table.lookup("ircu", "tcp") == {"tcp": ((6665, 6669),)}
    assert table.lookup("2ping") == {"udp": ((15998, 15998),)}
    assert len(table.known_names()) > 6000


def test_curated_name_wins_over_iana():
    # IANA's historic "sftp" is 115; people mean SSH.
    assert single_port("sftp") == {22}


def test_unknown_name():
    assert table.lookup("no-such-service") is None


def test_source_is_recorded():
    assert "libwireshark-data" in table.source() and "netbase" in table.source()
    assert "obtained 20" in table.source()


# Every name and alias of Debian's /etc/services (package netbase, the version
# the bundled table was generated from) resolves as getservbyname() does on a
# Debian host: the first line carrying the name, per protocol. `make units`
# extracts the file from the package next to this test (tools/debian-file.sh).
NETBASE_SERVICES = os.path.join(os.path.dirname(__file__), "netbase-services")


def _netbase_expectations():
    if not os.path.exists(NETBASE_SERVICES):
        pytest.fail("%s is missing: `make units` extracts it from the netbase package" % NETBASE_SERVICES)
    expected = {}
    with open(NETBASE_SERVICES) as handle:
        for line in handle:
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue
            port, protocol = fields[1].split("/")
            for name in fields[:1] + fields[2:]:
                expected.setdefault((name, protocol), int(port))
    return expected


def test_the_netbase_file_is_the_one_the_table_was_made_from():
    with open(NETBASE_SERVICES + ".source") as handle:
        assert handle.read().strip() == netbase_source()


def netbase_source():
    from ansible_collections.portcullis.ports.plugins.module_utils.ports import _netbase_services
    return _netbase_services.SOURCE


@pytest.mark.parametrize("spelling", [str, str.upper, str.title, lambda name: name.replace("-", "_"),
                                      lambda name: name.replace("_", "-")])
def test_every_netbase_name_and_alias_resolves(spelling):
    expected = _netbase_expectations()
    assert len(expected) > 300
    wrong = []
    for (name, protocol), port in sorted(expected.items()):
        if protocol not in ("tcp", "udp"):
            # ddp (AppleTalk) and sctp lines: the registry has only tcp and udp.
            with pytest.raises(resolver.PortSpecError):
                resolver.resolve(spelling(name), protocol)
            continue
        try:
            found = resolver.service_port(spelling(name), protocol)
        except resolver.PortSpecError as error:
            found = str(error)
        if found != port:
            wrong.append((spelling(name), protocol, port, found))
    assert wrong == []


@pytest.mark.parametrize("name, protocol, port", [
    ("www", "tcp", 80), ("auth", "tcp", 113), ("ident", "tcp", 113), ("snmp", "tcp", 161), ("snmp", "udp", 161),
    ("syslog", "udp", 514), ("syslog", "tcp", 514), ("webcache", "tcp", 8080), ("kerberos_master", "udp", 751),
    ("GDS_DB", "tcp", 3050), ("dicom", "tcp", 104),
])
def test_names_new_users_tried(name, protocol, port):
    # ['www'] | port_ranges said "unknown port"; auth, snmp and syslog said "has no tcp port".
    assert resolver.service_port(name, protocol) == port
    assert resolver.port_ranges([name], protocol) == [str(port)]
