# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.portcullis.ports.plugins.modules import host_facts

DPKG = ("ii  nftables\nrc  oldpkg\niU  halfway\nii  openssh-server\nii  libc6\n")
LISTENERS = [
    {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 22, "pid": 1, "process": "sshd"},
    {"protocol": "udp", "family": "ipv4", "address": "127.0.0.11", "port": 53, "pid": None, "process": None},
]


@pytest.fixture
def host(mocker):
    """A Debian host: dpkg-query and iptables-save on it, two listeners, the usual ephemeral range."""
    tools = {"dpkg-query": "/usr/bin/dpkg-query", "iptables-save": "/usr/sbin/iptables-save"}
    calls = []
    real_run_command = AnsibleModule.run_command

    def run_command(self, argv, **kwargs):
        if isinstance(argv, str) or argv[0] not in ("/usr/bin/dpkg-query", "/usr/bin/rpm", "/usr/sbin/iptables-save"):
            return real_run_command(self, argv, **kwargs)  # the fact collectors' own commands (ip route, ...)
        calls.append(argv)
        if argv[0].endswith("dpkg-query"):
            return 0, DPKG, ""
        if argv[0].endswith("rpm"):
            return 0, "ii bash\nii nginx\n", ""
        if argv[0].endswith("iptables-save"):
            return 0, "*nat\n-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80\n" \
                      "COMMIT\n", ""
        raise AssertionError(argv)

    real_which = AnsibleModule.get_bin_path
    mocker.patch.object(AnsibleModule, "get_bin_path", lambda self, name, *args, **kw: tools.get(name) if kw.get(
        "opt_dirs") == ["/usr/sbin", "/sbin"] else real_which(self, name, *args, **kw))
    mocker.patch.object(AnsibleModule, "run_command", run_command)
    mocker.patch.object(host_facts._host_read._listening, "listening", return_value=[dict(item) for item in LISTENERS])
    mocker.patch.object(host_facts._host_read._listening, "read_bindv6only", return_value=False)
    mocker.patch.object(host_facts._host_read._conflicts, "read_ephemeral", return_value=((32768, 60999), [(40000, 40000)]))
    mocker.patch.object(host_facts._host_read._host, "in_docker_container", return_value=True)
    return {"tools": tools, "calls": calls}


def test_one_read_gives_facts_packages_and_ports(run_module, host):
    failed, result = run_module(host_facts)
    assert not failed and result["changed"] is False
    # Ansible's own collectors, the default subsets only: the OS family and the default-route facts.
    facts = result["ansible_facts"]
    assert "ansible_os_family" in facts and "ansible_default_ipv4" in facts
    assert "ansible_date_time" not in facts and "ansible_gather_subset" not in facts
    # Installed (ii) only: neither removed-with-config (rc) nor half-installed (iU).
    assert result["packages"] == ["libc6", "nftables", "openssh-server"]
    ports = result["ports"]
    # Unset ignore_addresses inside a Docker container: the engine's DNS is left out, and that it was unset is said.
    assert [item["port"] for item in ports["listening"]] == [22] and ports["ignore_addresses"] is None
    assert ports["ephemeral_range"] == [32768, 60999] and ports["reserved"] == [[40000, 40000]]
    assert [(item["port"], item["to"]) for item in ports["published"]] == [(8081, "172.17.0.2:80")]
    assert ports["unknown"] == [] and ports["bindv6only"] is False


def test_ignore_addresses_given_are_applied_and_returned(run_module, host):
    failed, result = run_module(host_facts, ignore_addresses=["0.0.0.0"])
    assert not failed
    assert [item["port"] for item in result["ports"]["listening"]] == [53]
    assert result["ports"]["ignore_addresses"] == ["0.0.0.0"]


def test_only_what_is_asked_is_read(run_module, host):
    failed, result = run_module(host_facts, gather_subset=[], ports=False)
    assert not failed and result["ansible_facts"] == {} and "ports" not in result
    assert [call[0] for call in host["calls"]] == ["/usr/bin/dpkg-query"]
    failed, result = run_module(host_facts, gather_subset=[], packages=False)
    assert not failed and "packages" not in result and "ports" in result


def test_rpm_when_there_is_no_dpkg(run_module, host):
    del host["tools"]["dpkg-query"]
    host["tools"]["rpm"] = "/usr/bin/rpm"
    failed, result = run_module(host_facts, gather_subset=[], ports=False)
    assert not failed and result["packages"] == ["bash", "nginx"]


def test_no_package_database_fails_saying_so(run_module, host):
    del host["tools"]["dpkg-query"]
    failed, result = run_module(host_facts, gather_subset=[], ports=False)
    assert failed and "neither dpkg-query nor rpm" in result["msg"]


def test_a_bad_subset_is_named(run_module, host):
    failed, result = run_module(host_facts, gather_subset=["networkz"], ports=False, packages=False)
    assert failed and "networkz" in result["msg"]


def test_reads_that_fail_are_unknown_never_empty(run_module, host, mocker):
    warned = mocker.patch.object(AnsibleModule, "warn")
    mocker.patch.object(host_facts._host_read._listening, "listening",
                        side_effect=host_facts._host_read._listening.ListenerReadError("/proc/net/tcp: permission denied"))
    mocker.patch.object(host_facts._host_read._conflicts, "read_ephemeral", return_value=(None, []))
    failed, result = run_module(host_facts, gather_subset=[], packages=False)
    assert not failed
    ports = result["ports"]
    assert ports["listening"] is None and ports["ephemeral_range"] is None
    assert [item["check"] for item in ports["unknown"]] == ["ephemeral", "listening"]
    assert "/proc/net/tcp: permission denied" in ports["unknown"][1]["message"]
    assert [call.args[0][:len("unknown: ")] for call in warned.call_args_list] == ["unknown: "] * 2
