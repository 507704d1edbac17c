# -*- coding: utf-8 -*-
"""site.yml's result, seen as users see it: the port map on the controller,
and what a machine outside the registry and the servers themselves can reach."""

import os
import subprocess

import pytest
import testinfra

testinfra_hosts = ["sevastopol.internal"]

NETWORK = "portcullis-site"
PROBE = "portcullis-site-probe"
ADDRESS = {"nginx": "172.30.91.10", "sevastopol": "172.30.91.11", "orchestrator": "172.30.91.12",
           "mother": "172.30.91.13", "etl": "172.30.91.14"}


@pytest.fixture(scope="module")
def probe():
    """A container on the servers' network that no registry mentions."""
    subprocess.run(["docker", "rm", "-f", PROBE], capture_output=True, check=False)
    subprocess.run(["docker", "run", "-d", "--name", PROBE, "--network", NETWORK, "--ip", "172.30.91.50",
                    "--entrypoint", "sleep", "localhost/portcullis-debian:bookworm", "900"], check=True,
                   capture_output=True)
    yield testinfra.get_host("docker://" + PROBE)
    subprocess.run(["docker", "rm", "-f", PROBE], capture_output=True, check=False)


def reachable(host, address, port):
    return host.run("nc -z -w 3 %s %d" % (address, port)).rc == 0


def port_map(extension):
    directory = os.path.join(os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]), "port-map")
    with open(os.path.join(directory, "port-map." + extension)) as handle:
        return handle.read()


@pytest.mark.parametrize("target, port, expected", [
    ("nginx", 80, True), ("nginx", 443, True),
    ("nginx", 22, False), ("sevastopol", 4321, False), ("orchestrator", 8000, False), ("mother", 5432, False),
    ("etl", 22, False),
])
def test_from_outside_only_the_proxy_is_reachable(probe, target, port, expected):
    assert reachable(probe, ADDRESS[target], port) == expected


@pytest.mark.parametrize("domain, backend", [("app.nostromo.cl", "sevastopol"), ("api.nostromo.cl", "orchestrator")])
def test_domains_reach_their_backends_through_nginx(probe, domain, backend):
    out = probe.check_output("curl -sk --max-time 5 --resolve %s:443:%s https://%s/" % (domain, ADDRESS["nginx"], domain))
    assert out == "%s.internal stand-in" % backend


def test_http_redirects_to_https(probe):
    out = probe.check_output("curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' --resolve app.nostromo.cl:80:%s "
                             "http://app.nostromo.cl/x" % ADDRESS["nginx"])
    assert out == "301 https://app.nostromo.cl/x"


@pytest.mark.parametrize("source, target, port, expected", [
    ("etl", "mother", 5432, True),           # ETL ingests into Mother
    ("orchestrator", "mother", 5432, True),  # the API queries Mother
    ("sevastopol", "orchestrator", 8000, True),
    ("nginx", "sevastopol", 4321, True),
    ("sevastopol", "mother", 5432, False),   # the frontend never talks to the database
    ("etl", "orchestrator", 8000, False),
])
def test_inside_only_the_planned_paths_are_open(source, target, port, expected):
    host = testinfra.get_host("docker://%s.internal" % source)
    assert reachable(host, ADDRESS[target], port) == expected


def test_sshd_is_key_only(host):
    settings = host.check_output("sshd -T -C user=deploy,host=x,addr=172.30.91.1")
    assert "passwordauthentication no" in settings and "permitrootlogin no" in settings


def test_port_map_has_every_host_with_live_status():
    text = port_map("md")
    for name in ADDRESS:
        assert "## %s.internal" % name in text
    assert "| 5432 | tcp | postgresql | 0.0.0.0 | prod |  | internal | orchestrator.internal, etl.internal | listening (python3) |" in text
    assert "| 443 | tcp | https | 0.0.0.0 |  |  | public |  | listening (nginx) |" in text
    assert "| 4321 | tcp | sevastopol | 0.0.0.0 | prod | app.nostromo.cl | internal | proxies | listening (python3) |" in text
    assert "| 9999 | tcp |  | 0.0.0.0 |  |  |  |  | **listening, undeclared** (python3) |" in text
    assert "127.0.0.11" not in text  # Docker's embedded DNS is not the host's


def test_port_map_range_table():
    text = port_map("md")
    assert "| production | 4000-4999 | 1 of 1000 | 0.1 % | sevastopol.internal/sevastopol |" in text
    assert "| proxies | 8000-8999 | 1 of 1000 | 0.1 % | orchestrator.internal/orchestrator |" in text


def test_port_map_html_is_standalone():
    html = port_map("html")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "src=" not in html and "href=" not in html
    assert '<td class="undeclared">listening, undeclared (python3)</td>' in html
