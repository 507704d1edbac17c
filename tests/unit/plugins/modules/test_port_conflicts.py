# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.portcullis.ports.plugins.modules import port_conflicts

CLEAN = [{"name": "ssh", "port": "ssh"}, {"name": "web", "port": "https", "expose": "public"}]
CLASHING = CLEAN + [
    {"name": "admin", "port": 443, "bind": "127.0.0.1"},
    {"name": "api", "port": 3500, "range": "production"},
]


@pytest.fixture(autouse=True)
def fixed_host(mocker):
    mocker.patch.object(port_conflicts._host_read._conflicts, "read_ephemeral", return_value=((32768, 60999), [(40000, 40000)]))
    mocker.patch.object(port_conflicts._listening, "read_bindv6only", return_value=False)
    mocker.patch.object(port_conflicts._host_read._published, "read", return_value=([], []))
    return mocker.patch.object(port_conflicts._listening, "listening", return_value=[
        {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 22, "pid": 1, "process": "sshd",
         "cmdline": [], "dual_stack": False, "user": "root", "inode": 1},
        {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 443, "pid": 2, "process": "python3",
         "cmdline": [], "dual_stack": False, "user": "root", "inode": 2},
        {"protocol": "udp", "family": "ipv4", "address": "127.0.0.1", "port": 5353, "pid": 3, "process": "avahi",
         "cmdline": [], "dual_stack": False, "user": "root", "inode": 3},
    ])


def test_clean_registry(run_module, fixed_host):
    failed, result = run_module(port_conflicts, services=CLEAN)
    assert not failed
    assert result["conflicts"] == [] and result["services"] == 2 and result["changed"] is False
    assert result["ephemeral_range"] == "32768-60999"
    assert "listening" not in result
    fixed_host.assert_not_called()


def test_conflicts_fail_with_one_message_naming_all(run_module):
    failed, result = run_module(port_conflicts, services=CLASHING)
    assert failed
    assert [item["kind"] for item in result["conflicts"]] == ["duplicate", "out_of_range"]
    assert result["msg"].startswith("2 port conflict(s): ")
    assert "[duplicate] web and admin both use tcp port 443" in result["msg"]
    assert "[out_of_range] api uses tcp port 3500, outside its range production" in result["msg"]


def test_report_only(run_module):
    failed, result = run_module(port_conflicts, services=CLASHING, fail_on_conflict=False)
    assert not failed and len(result["conflicts"]) == 2


def test_policy_override(run_module):
    failed, result = run_module(port_conflicts, services=CLASHING[-1:], policy={"production": "3000-3999"})
    assert not failed and result["conflicts"] == []


def test_ephemeral_and_reserved(run_module):
    failed, result = run_module(port_conflicts, services=[{"name": "a", "port": 45000}, {"name": "b", "port": 40000}])
    assert failed
    assert [(item["kind"], item["port"]) for item in result["conflicts"]] == [("ephemeral", 45000)]


def test_check_listening(run_module):
    services = CLEAN[:1] + [{"name": "web", "port": "https", "process": "nginx"}]
    failed, result = run_module(port_conflicts, services=services, check_listening=True)
    assert failed
    assert [(item["kind"], item["port"]) for item in result["conflicts"]] == [("occupied", 443), ("undeclared", 5353)]
    assert "[undeclared]" not in result["msg"]
    assert len(result["listening"]) == 3


def test_undeclared_alone_does_not_fail_unless_asked(run_module):
    services = CLEAN[:1] + [{"name": "web", "port": "https"}]
    assert run_module(port_conflicts, services=services, check_listening=True)[0] is False
    failed, result = run_module(port_conflicts, services=services, check_listening=True, fail_on_undeclared=True)
    assert failed and "[undeclared] avahi (pid 3) listens on udp 127.0.0.1:5353" in result["msg"]


def test_bad_registry_fails_before_reading_the_host(run_module, fixed_host):
    failed, result = run_module(port_conflicts, check_listening=True, services=[
        {"name": "db", "port": "postgressql"}, {"name": "db", "port": 5432, "bind": "1.2.3.4.5"}])
    assert failed
    assert "service 'db' (entry 1): unknown port 'postgressql'" in result["msg"]
    assert "service 'db' (entry 2): duplicate name 'db'" in result["msg"]
    assert "invalid bind address '1.2.3.4.5'" in result["msg"]
    fixed_host.assert_not_called()


def test_bad_policy(run_module):
    failed, result = run_module(port_conflicts, services=CLEAN, policy={"monitoring": "9999-9000"})
    assert failed and "range '9999-9000' is reversed" in result["msg"]


def test_check_mode_gives_the_same_answer(run_module):
    assert run_module(port_conflicts, services=CLASHING, fail_on_conflict=False, _ansible_check_mode=True)[1]["conflicts"] == \
        run_module(port_conflicts, services=CLASHING, fail_on_conflict=False)[1]["conflicts"]


def test_a_check_that_cannot_read_its_input_is_unknown_and_warned(run_module, fixed_host, mocker):
    # Without root the owners of sockets are not visible: the process check is not passed silently.
    warn = mocker.patch.object(port_conflicts.AnsibleModule, "warn")
    fixed_host.return_value = [dict(item, pid=None, process=None) for item in fixed_host.return_value]
    failed, result = run_module(port_conflicts, services=[{"name": "web", "port": 443, "process": "nginx"},
                                                          {"name": "ssh", "port": "ssh"}],
                                check_listening=True)
    assert not failed
    assert [(item["check"], item["services"]) for item in result["unknown"]] == [("process", ["web"])]
    warn.assert_called_once_with("unknown: the owner of tcp 0.0.0.0:443 is not visible here (without root, or held "
                                 "outside this PID namespace): that web is nginx is unknown")


def test_an_unreadable_ephemeral_range_is_unknown(run_module, mocker):
    mocker.patch.object(port_conflicts._host_read._conflicts, "read_ephemeral", return_value=(None, []))
    failed, result = run_module(port_conflicts, services=CLEAN)
    assert not failed and result["ephemeral_range"] is None
    assert [item["check"] for item in result["unknown"]] == ["ephemeral"]


def test_a_private_service_listening_on_a_wildcard_fails(run_module, fixed_host):
    failed, result = run_module(port_conflicts, services=[{"name": "ssh", "port": "ssh"},
                                                          {"name": "web", "port": 443, "expose": "private"}],
                                check_listening=True)
    assert failed
    assert [item["kind"] for item in result["conflicts"]] == ["exposure", "undeclared"]
    assert "[exposure] web is declared private, but python3 (pid 2) listens on tcp 0.0.0.0:443" in result["msg"]


def test_a_port_published_by_dnat_and_not_declared_fails(run_module, mocker):
    mocker.patch.object(port_conflicts._host_read._published, "read", return_value=(
        [{"protocol": "tcp", "port": 8084, "end": 8084, "to": "172.17.0.5:80", "chain": "DOCKER", "family": "ipv4",
          "address": None}], []))
    failed, result = run_module(port_conflicts, services=CLEAN + [{"name": "app", "port": 443, "publish": "dnat"}],
                                check_listening=True, fail_on_conflict=True)
    assert failed
    assert "[published] tcp port 8084 is published by DNAT (to 172.17.0.5:80), which no service declares" in result["msg"]
    assert result["published"][0]["port"] == 8084


def test_addresses_left_out_of_the_comparison(run_module, mocker):
    services = CLEAN[:1] + [{"name": "web", "port": "https"}]
    failed, result = run_module(port_conflicts, services=services, check_listening=True, ignore_addresses=["127.0.0.1"],
                                fail_on_undeclared=True)
    assert not failed and len(result["listening"]) == 2
    # Unset: Docker's embedded DNS, only inside a Docker container.
    docker = mocker.patch.object(port_conflicts._host_read._host, "in_docker_container", return_value=True)
    port_conflicts._listening.listening.return_value.append(
        {"protocol": "udp", "family": "ipv4", "address": "127.0.0.11", "port": 53, "pid": None, "process": None,
         "cmdline": [], "dual_stack": False, "user": None, "inode": 4})
    result = run_module(port_conflicts, services=services, check_listening=True)[1]
    assert [item["port"] for item in result["conflicts"]] == [5353]
    docker.return_value = False
    result = run_module(port_conflicts, services=services, check_listening=True)[1]
    assert sorted(item["port"] for item in result["conflicts"]) == [53, 5353]
