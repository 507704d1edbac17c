# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports._registry import Bind, RegistryError


def validate(services, **kwargs):
    return _registry.validate(services, **kwargs)


class TestValidation:
    @pytest.mark.parametrize("services, message", [
        ([{"name": "db", "port": "postgressql"}], r"service 'db' \(entry 1\): unknown port 'postgressql'.*did you mean postgresql"),
        ([{"name": "web", "port": 70000}], r"service 'web' \(entry 1\): port 70000"),
        ([{"name": "web", "port": 0}], r"service 'web' \(entry 1\): port 0"),
        ([{"name": "web", "port": "90-80"}], r"range '90-80' is reversed"),
        ([{"name": "web", "port": 80, "protocol": "sctp"}], r"service 'web' \(entry 1\): invalid protocol 'sctp'"),
        ([{"name": "web", "port": 80, "bind": "10.0.0.300"}], r"invalid bind address '10.0.0.300'"),
        ([{"name": "web", "port": 80, "bind": "10.0.0.0/8"}], r"invalid bind address '10.0.0.0/8'"),
        ([{"name": "web", "port": 80, "prot": "udp"}], r"service 'web' \(entry 1\): unknown key 'prot'"),
        ([{"name": "web", "port": 80, "protocl": "udp"}], r"unknown key 'protocl' \(did you mean protocol\?\)"),
        ([{"port": 80}], r"entry 1: missing name"),
        ([{"name": "web"}], r"service 'web' \(entry 1\): missing port"),
        ([{"name": "", "port": 80}], r"entry 1: name must be a non-empty string"),
        ([{"name": "a", "port": 80}, {"name": "a", "port": 81}], r"service 'a' \(entry 2\): duplicate name 'a', already used by entry 1"),
        ([{"name": "web", "port": 80, "range": "nope"}], r"unknown range 'nope'"),
        ([{"name": "web", "port": 80, "expose": "world"}], r"invalid expose 'world': expected public, internal, private"),
        ([{"name": "web", "port": 80, "domain": "a.example.com; rm -rf /"}], r"domain 'a.example.com; rm -rf /' contains ';'"),
        ([{"name": "web", "port": 80, "domain": "a\nb"}], r"domain 'a\\nb' contains '\\n'"),
        ([{"name": "web", "port": 80, "domain": "a..example.com"}], r"domain 'a..example.com' is not a host name"),
        ([{"name": "web", "port": 80, "process": "my app"}], r"invalid process 'my app'"),
        ([{"name": "web", "port": 80, "allow_from": "10.0.0.0/8"}], r"allow_from must be a list"),
        ([{"name": "web", "port": 80, "allow_from": ["10.0.0.300/8"]}], r"allow_from '10.0.0.300/8' is not an IP address"),
        ([{"name": "web", "port": 80, "allow_from": ["bad name"]}], r"allow_from item 'bad name' is neither"),
        ([{"name": "ntp", "port": "ntp"}], r"'ntp' has no tcp port"),
        ([{"name": "api", "port": 80, "upstream": "10.0.0.5:80;"}], r"service 'api' \(entry 1\): upstream '10.0.0.5:80;' contains ';'"),
        ([{"name": "api", "port": 80, "upstream": ["10.0.0.5"]}], r"upstream '10.0.0.5' is not valid: expected host:port"),
        ([{"name": "api", "port": 80, "upstream": []}], r"upstream is an empty list"),
        ([{"name": "api", "port": 80, "proxy": {"ratelimit": True}}], r"proxy: unknown option 'ratelimit'"),
        (["web"], r"entry 1: must be a mapping"),
        ({"name": "web"}, r"services must be a list"),
    ])
    def test_bad_entries_are_named(self, services, message):
        with pytest.raises(RegistryError, match=message):
            validate(services)

    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(RegistryError) as caught:
            validate([{"name": "a", "port": 70000}, {"port": 22}, {"name": "c", "port": 22, "bind": "x"}])
        assert len(caught.value.errors) == 3

    def test_good_entries_with_defaults_filled_in(self):
        services = validate([
            {"name": "ssh", "port": "ssh", "allow_from": ["203.0.113.0/24", "edge", "web_servers", "2001:db8::/32"]},
            {"name": "web", "port": "https", "protocol": "both", "expose": "public", "domain": "app.example.com"},
            {"name": "any", "port": "8000-8010", "bind": "::", "range": "Proxies", "process": "node", "environment": "prod"},
            {"name": "wild", "port": 8443, "domain": "*.example.com",
             "proxy": {"certificate": "/etc/ssl/w.pem", "certificate_key": "/etc/ssl/w.key"}},
            {"name": "cache", "port": 6379, "expose": "private"},
        ])
        assert [service.name for service in services] == ["ssh", "web", "any", "wild", "cache"]
        assert services[1].ranges == {"tcp": [(443, 443)], "udp": [(443, 443)]}
        assert services[0].expose == "internal" and services[0].protocol == "tcp" and services[0].bind.address == "0.0.0.0"
        assert services[0].allow_from == ["203.0.113.0/24", "edge", "web_servers", "2001:db8::/32"]
        # A private service that names no bind listens on loopback only.
        assert services[4].bind.address == "127.0.0.1" and services[4].bind.loopback

    def test_proxy_keys_are_part_of_the_registry(self):
        service = validate([{"name": "api", "port": 80, "domain": "api.example.com",
                             "upstream": ["10.0.0.5:80", "[2001:db8::5]:80", "App.Internal:80"],
                             "proxy": {"rate_limit": True, "allow": ["office"], "read_timeout": "90s"}}])[0]
        assert service.upstream == ["10.0.0.5:80", "[2001:db8::5]:80", "app.internal:80"]
        assert service.proxy == {"rate_limit": {"rate": "10r/s", "burst": 20}, "allow": ["office"], "read_timeout": "90s"}


class TestTheAuditAcceptsOnlyWhatEveryConsumerAccepts:
    """Faults of one kind: a value the audit let through and a later play refused."""

    def test_a_domain_in_upper_case_is_one_domain_for_everyone(self):
        # port_conflicts took App.Example.com, proxy_sites refused it after sshd and the firewall had run.
        assert validate([{"name": "app", "port": 80, "domain": "App.Example.com"}])[0].domain == "app.example.com"

    @pytest.mark.parametrize("proxy, message", [
        ({"client_max_body_size": "10 m"}, r"client_max_body_size '10 m' contains ' '"),
        ({"read_timeout": "1 minute"}, r"read_timeout '1 minute' contains ' '"),
        ({"rate_limit": {"rate": "ten"}}, r"rate_limit rate 'ten' is not valid"),
        ({"headers": {"Host": "x"}}, r"header Host is set by the proxy itself"),
        ({"websocket": "yes"}, r"websocket must be true or false"),
        ({"certificate": "/etc/ssl/a.crt"}, r"certificate and certificate_key go together"),
        ({"allow": ["10.0.0.5/8"]}, r"allow '10.0.0.5/8' has host bits set"),
    ])
    def test_proxy_option_values_are_checked_in_the_registry(self, proxy, message):
        with pytest.raises(RegistryError, match=message):
            validate([{"name": "app", "port": 80, "domain": "app.example.com", "proxy": proxy}])

    @pytest.mark.parametrize("entry, message", [
        ({"port": "8000-8010"}, "port '8000-8010' is not one TCP port, so the proxy cannot reach the domain"),
        ({"port": "ntp", "protocol": "udp"}, "port 'ntp' is not one TCP port"),
    ])
    def test_what_the_proxy_needs_of_a_published_service(self, entry, message):
        with pytest.raises(RegistryError, match=message):
            validate([dict({"name": "app", "domain": "app.example.com"}, **entry)])

        upstream = dict({"name": "app", "domain": "app.example.com", "upstream": "10.0.0.5:8000"}, **entry)
        if "*" not in upstream["domain"]:
            assert validate([upstream])[0].upstream == ["10.0.0.5:8000"]

    @pytest.mark.parametrize("key, value", [("path", "/api/"), ("aliases", ["a.example.com"]),
                                            ("redirect_from", ["www.example.com"]), ("health", "/health")])
    def test_site_keys_without_a_domain_are_refused(self, key, value):
        # Without a domain no proxy publishes the service: the key would be silently unused.
        with pytest.raises(RegistryError, match="%s only means something with a domain" % key):
            validate([{"name": "app", "port": 4001, key: value}])

    def test_a_domain_longer_than_dns_allows(self):
        label = "a" * 63
        with pytest.raises(RegistryError, match="a DNS name has at most 253"):
            validate([{"name": "app", "port": 80, "domain": ".".join([label] * 4) + ".example.com"}])


class TestAddressesAndNumbers:
    """Fault kind: values silently widened, truncated or read as something else."""

    @pytest.mark.parametrize("source, meant", [("10.77.0.5/8", "10.0.0.0/8"), ("192.168.1.10/2", "192.0.0.0/2"),
                                               ("2001:db8::5/32", "2001:db8::/32")])
    def test_a_network_with_host_bits_is_refused_naming_the_network(self, source, meant):
        with pytest.raises(RegistryError, match=re.escape("allow_from %r has host bits set: as a network it means %s"
                                                          % (source, meant))):
            validate([{"name": "db", "port": 5432, "allow_from": [source]}])

    def test_an_ipv6_zone_id_is_refused(self):
        with pytest.raises(RegistryError, match=r"allow_from 'fe80::1%eth0' has an IPv6 zone id \(%eth0\)"):
            validate([{"name": "db", "port": 5432, "allow_from": ["fe80::1%eth0"]}])
        with pytest.raises(RegistryError, match=r"invalid bind address 'fe80::1%eth0'"):
            validate([{"name": "db", "port": 5432, "bind": "fe80::1%eth0"}])

    @pytest.mark.parametrize("port", ["\u0662\u0662\u0660\u0660", "\uff19\uff10\uff10\uff10", "8000-80\u0661\u0660"])
    def test_ports_in_other_digits_are_refused(self, port):
        with pytest.raises(RegistryError, match="unknown port|invalid port|not a port"):
            validate([{"name": "web", "port": port}])

    def test_private_means_loopback(self):
        with pytest.raises(RegistryError, match=r"expose private means loopback only, but bind is 0.0.0.0"):
            validate([{"name": "db", "port": 5432, "expose": "private", "bind": "0.0.0.0"}])
        assert validate([{"name": "db", "port": 5432, "expose": "private", "bind": "::1"}])[0].bind.address == "::1"


class TestBinds:
    @pytest.mark.parametrize("first, second, dual_stack, clash", [
        ("0.0.0.0", "10.0.0.1", True, True),
        ("10.0.0.1", "10.0.0.1", True, True),
        ("10.0.0.1", "10.0.0.2", True, False),
        ("127.0.0.1", "0.0.0.0", True, True),
        ("::", "::1", True, True),
        ("::1", "fe80::1", True, False),
        ("::", "0.0.0.0", True, True),
        ("::", "127.0.0.1", True, True),
        ("::", "0.0.0.0", False, False),  # net.ipv6.bindv6only=1
        ("::1", "0.0.0.0", True, False),
        ("::1", "127.0.0.1", True, False),
    ])
    def test_clashes(self, first, second, dual_stack, clash):
        a, b = Bind(first, dual_stack), Bind(second, dual_stack)
        assert a.clashes_with(b) is clash
        assert b.clashes_with(a) is clash

    def test_endpoint(self):
        assert Bind("::").endpoint(22) == "[::]:22"
        assert Bind("10.0.0.1").endpoint(22) == "10.0.0.1:22"


class TestSshEndpoint:
    def test_the_ssh_service_gives_port_and_addresses(self):
        assert _registry.ssh_endpoint([{"name": "web", "port": 80}, {"name": "ssh", "port": 2222, "bind": "10.0.0.5"}]) == {
            "port": 2222, "addresses": ["10.0.0.5"], "allow_from": []}
        assert _registry.ssh_endpoint([{"name": "ssh", "port": "ssh", "allow_from": ["admins", "10.0.0.0/8"]}]) == {
            "port": 22, "addresses": [], "allow_from": ["admins", "10.0.0.0/8"]}

    def test_without_one_the_default(self):
        assert _registry.ssh_endpoint([]) == {"port": 22, "addresses": [], "allow_from": []}
        assert _registry.ssh_endpoint(None, 2200) == {"port": 2200, "addresses": [], "allow_from": []}

    def test_a_range_is_refused(self):
        with pytest.raises(_registry.resolver.PortSpecError, match="range"):
            _registry.ssh_endpoint([{"name": "ssh", "port": "2200-2210"}])


@pytest.mark.parametrize("key", _registry.KEY_NAMES)
def test_every_documented_key_is_checked(key):
    # KEYS is the README's table; each key in it has a check that refuses a value of the wrong kind.
    entry = {"name": "svc", "port": 80, "domain": "svc.example.com"}
    entry[key] = object()
    with pytest.raises(RegistryError) as caught:
        validate([entry])
    assert key.replace("_", " ") in str(caught.value).replace("_", " ")


def test_site_options_have_types():
    assert set(_registry.SITE_OPTION_TYPES) == set(_registry.SITE_OPTIONS)


class TestFoundOnReview:
    """Cases a reviewer found, trying the change as a new user would: values the
    audit accepted and a later play refused, or read another way than meant."""

    @pytest.mark.parametrize("name", ["caf\u00e9", "my api", "a" * 101, "web;", 'x"y', "-web"])
    def test_a_name_must_label_rules_and_sites(self, name):
        # A name like "café" passed the audit, then the firewall refused the comment made of it.
        with pytest.raises(RegistryError, match="invalid name"):
            validate([{"name": name, "port": 80}])

    @pytest.mark.parametrize("entry, message", [
        ({"protocol": ["tcp", "udp"]}, "invalid protocol"),
        ({"expose": ["public"]}, "invalid expose"),
        ({"publish": {"dnat": True}}, "invalid publish"),
        ({"domain": "a.example.com", "proxy": {"headers": {1: "v"}}}, "header name 1 is not valid"),
    ])
    def test_a_value_of_the_wrong_type_is_named_not_a_crash(self, entry, message):
        with pytest.raises(RegistryError, match=message):
            validate([dict({"name": "svc", "port": 80}, **entry)])

    @pytest.mark.parametrize("key", ["allow", "deny"])
    def test_all_in_a_proxy_list_is_refused(self, key):
        # "deny: [all]" was read as the inventory group all, leaving the site open to the world.
        with pytest.raises(RegistryError, match="'all' would mean the inventory group all"):
            validate([{"name": "blog", "port": 80, "domain": "blog.example.com", "proxy": {key: ["all"]}}])

    @pytest.mark.parametrize("upstream", ["10.0.0.300:80", "010.0.0.1:80", "1.2.3:80"])
    def test_an_upstream_that_looks_like_ipv4_must_be_ipv4(self, upstream):
        with pytest.raises(RegistryError, match="is not an IPv4 address"):
            validate([{"name": "api", "port": 80, "domain": "api.example.com", "upstream": upstream}])

    def test_a_range_starting_at_port_0_is_refused(self):
        with pytest.raises(RegistryError, match="range '0-10' starts at port 0"):
            validate([{"name": "low", "port": "0-10"}])

    def test_allow_from_on_a_public_service_is_refused(self):
        with pytest.raises(RegistryError, match="allow_from has no effect on a public service"):
            validate([{"name": "web", "port": 443, "expose": "public", "allow_from": ["10.0.0.0/8"]}])

    def test_a_policy_range_named_like_a_service_is_refused(self):
        with pytest.raises(_registry.resolver.PortSpecError, match="policy range 'mail' has the name of a service"):
            _registry.resolver.build_policy({"mail": "2500-2599"})

    def test_ssh_endpoint_reads_binds_and_names_as_the_model_does(self):
        assert _registry.ssh_endpoint([{"name": "ssh", "port": 22, "bind": "0.0.0.0"}])["addresses"] == []
        assert _registry.ssh_endpoint([{"name": "SSH", "port": 2222}])["port"] == 2222
        with pytest.raises(_registry.resolver.PortSpecError, match="SSH is TCP"):
            _registry.ssh_endpoint([{"name": "ssh", "port": 22, "protocol": "udp"}])
        with pytest.raises(_registry.resolver.PortSpecError, match="must be a list"):
            _registry.ssh_endpoint({"name": "ssh", "port": 2222})

    def test_type_names_are_plain(self):
        class _TaggedInt(int):
            pass

        assert _registry._values.describe(_TaggedInt(70000)) == "70000 (int)"


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_ANY = st.recursive(_SCALARS, lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=6), children, max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_registry.KEY_NAMES), _ANY)
def test_any_value_of_any_key_is_accepted_or_named_never_a_crash(key, value):
    entry = {"name": "svc", "port": 80, "domain": "svc.example.com", key: value}
    try:
        validate([entry])
    except RegistryError as error:
        assert error.errors


class TestConnectsTo:
    """Dependencies, declared once on the client side."""

    def test_hex_letter_names_are_names(self):
        # Issue 26: "cafe.de" and "dead.beef" were refused as "not an IP address".
        service = validate([{"name": "api", "connects_to": [{"to": ["cafe.de", "Dead.Beef"], "port": 443}]}])[0]
        assert service.connects_to[0].names == ["cafe.de", "dead.beef"] and service.connects_to[0].networks == []

    @pytest.mark.parametrize("entry", [
        {"name": "api", "connects_to": [{"to": "::ffff:10.77.0.1", "port": 443}]},
        {"name": "api", "port": 8000, "allow_from": ["::ffff:10.77.0.1"]},
        {"name": "api", "port": 8000, "domain": "api.example.com", "upstream": "[::ffff:10.77.0.1]:8000"},
    ])
    def test_mapped_addresses_are_refused_naming_them(self, entry):
        with pytest.raises(RegistryError, match=r"'::ffff:10.77.0.1' is an IPv4-mapped IPv6 address"):
            validate([entry])

    def test_both_shapes_are_read(self):
        service = validate([{"name": "api", "port": 8000, "connects_to": [
            {"host": "db", "service": "postgresql", "comment": "queries"},
            {"to": ["0.0.0.0/0", "::/0", "Mirror.Example.org"], "port": ["http", 443]},
            {"to": "192.0.2.123", "port": "ntp", "protocol": "udp"}]}])[0]
        first, second, third = service.connects_to
        assert (first.host, first.service, first.comment, first.external) == ("db", "postgresql", "queries", False)
        assert second.networks == ["0.0.0.0/0", "::/0"] and second.names == ["mirror.example.org"]
        assert second.ranges == {"tcp": [(80, 80), (443, 443)]} and second.client == "api"
        assert third.networks == ["192.0.2.123/32"] and third.ranges == {"udp": [(123, 123)]}

    def test_an_entry_without_a_port_only_connects_out(self):
        service = validate([{"name": "etl", "connects_to": [{"host": "db", "service": "pg"}]}])[0]
        assert not service.listens and service.ranges == {} and service.bind is None and service.first_port is None

    @pytest.mark.parametrize("entry, message", [
        ({"name": "etl"}, "missing port \\(an entry that only connects out gives connects_to instead\\)"),
        ({"name": "etl", "connects_to": [], "expose": "public", "bind": "::"},
         "has no port, so it listens nowhere and only connects out; bind, expose only mean something"),
        ({"name": "a", "port": 1, "connects_to": {"host": "db"}}, "connects_to must be a list"),
        ({"name": "a", "port": 1, "connects_to": ["db:5432"]}, "connects_to item 1 must be a mapping"),
        ({"name": "a", "port": 1, "connects_to": [{"host": "db"}]}, "service None \\(null\\) is not a service name"),
        ({"name": "a", "port": 1, "connects_to": [{"host": "db", "service": "pg", "port": 5432}]},
         "host and service name a service of the inventory, whose own entry gives the port"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "10.0.0.5/8", "port": 443}]}, "has host bits set"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "*.example.com", "port": 443}]}, "a wildcard cannot be resolved"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "ex ample.com", "port": 443}]}, "which a host name cannot hold"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "example.com"}]}, "needs host and service .* or to and port"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "example.com", "port": "nosuch"}]}, "nosuch"),
        ({"name": "a", "port": 1, "connects_to": [{"to": [], "port": 1}]}, "to is an empty list"),
        # Found on review: it passed the audit and failed later on the host, in the firewall module.
        ({"name": "a", "port": 1, "connects_to": [{"to": "a.com", "port": []}]}, "port is an empty list"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "a.com", "port": 1, "protocol": "icmp"}]}, "invalid protocol"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "a.com", "port": 1, "via": "x"}]}, "unknown key 'via'"),
        ({"name": "a", "port": 1, "connects_to": [{"to": "a.com", "port": 1, "comment": 'say "hi"'}]},
         "printable ASCII without double quotes"),
    ])
    def test_bad_dependencies_are_named(self, entry, message):
        with pytest.raises(RegistryError, match=message):
            validate([entry])
