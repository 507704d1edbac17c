# -*- coding: utf-8 -*-
"""site.yml's result, seen as users see it: the port map on the controller,
and what a machine outside the registry and the servers themselves can reach."""

import os
import re
import subprocess

import pytest
import testinfra

testinfra_hosts = ["sevastopol.internal"]

NETWORK = "portcullis-site"
PROBE = "portcullis-site-probe"
ADDRESS = {"nginx": "172.30.91.10", "sevastopol": "172.30.91.11", "orchestrator": "172.30.91.12",
           "mother": "172.30.91.13", "etl": "172.30.91.14"}
# The Internet stand-in of prepare.yml (vars/internet.yml): the servers' DNS server, web servers on 80, 443, 8080, 5432.
INTERNET = "172.30.91.60"
SERVERS = sorted(ADDRESS)


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


@pytest.mark.parametrize("url, backend", [
    ("https://app.nostromo.cl/", "sevastopol"),
    ("https://app.nostromo.cl/api/", "orchestrator"),      # the /api/ route, on the same name
    ("https://api.nostromo.cl/", "sevastopol"),            # the alias serves the same routes
    ("https://api.nostromo.cl/api/", "orchestrator"),
])
def test_routes_reach_their_backends_through_nginx(probe, url, backend):
    domain = url.split("/")[2]
    out = probe.check_output("curl -sk --max-time 5 --resolve %s:443:%s %s" % (domain, ADDRESS["nginx"], url))
    assert out == "%s.internal stand-in" % backend


def test_www_redirects_to_app_keeping_path_and_query(probe):
    out = probe.check_output("curl -sk -o /dev/null -w '%%{http_code} %%{redirect_url}' --resolve www.nostromo.cl:443:%s "
                             "'https://www.nostromo.cl/a?b=1'" % ADDRESS["nginx"])
    assert out == "301 https://app.nostromo.cl/a?b=1"


def test_the_rate_limit_holds_on_api_only(probe):
    # 10 r/s, burst 20 (nodelay) on /api/: 21 at once, one more each 100 ms the requests take to arrive.
    for path, least, most in (("/", 60, 60), ("/api/", 20, 40)):
        requests = " ".join("-o /dev/null -w '%%{http_code}\\n' 'https://app.nostromo.cl%s?n=%d'" % (path, number)
                            for number in range(60))
        codes = probe.check_output("curl -sk --http1.1 --parallel --parallel-immediate --parallel-max 60 "
                                   "--resolve app.nostromo.cl:443:%s %s" % (ADDRESS["nginx"], requests)).split()
        assert least <= codes.count("200") <= most, (path, codes)


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


def attempt(host, address, port):
    """(connected, what nc said) for a TCP connection from ``host``."""
    result = host.run("nc -z -v -w 3 %s %d" % (address, port))
    return result.rc == 0, result.stderr


@pytest.mark.parametrize("source, port, expected", [
    ("orchestrator", 443, True),   # Orchestrator -> SII websites (sii.cl) 443, and every server -> Internet 443
    ("orchestrator", 8080, False),  # no row of the outbound table
    ("mother", 80, True),          # every server -> Internet 80/443: package downloads, updates
    ("mother", 443, True),
    ("etl", 5432, False),
])
def test_out_of_the_network_only_the_outbound_table_is_open(source, port, expected):
    # The Internet stand-in has no firewall and listens on each of these ports: only the source's output decides.
    connected, said = attempt(testinfra.get_host("docker://%s.internal" % source), INTERNET, port)
    assert connected == expected, said


def packets_arriving(target, source_address, port, action):
    """How many packets from ``source_address`` to ``port`` reach ``target``
    while ``action`` runs, counted before any filtering (a table of the
    test's own, at the prerouting hook, removed afterwards)."""
    target.check_output("nft add table inet portcullis_test_probe && nft add chain inet portcullis_test_probe count "
                        "'{ type filter hook prerouting priority -300; }' && nft add rule inet portcullis_test_probe "
                        "count ip saddr %s tcp dport %d counter" % (source_address, port))
    try:
        action()
        listed = target.check_output("nft list chain inet portcullis_test_probe count")
    finally:
        target.run("nft delete table inet portcullis_test_probe")
    return int(re.search(r"counter packets ([0-9]+)", listed).group(1))


@pytest.mark.parametrize("source, target, port", [("sevastopol", "mother", 5432), ("etl", "orchestrator", 8000)])
def test_a_flow_no_dependency_declares_is_stopped_by_the_clients_own_output_rules(source, target, port):
    client = testinfra.get_host("docker://%s.internal" % source)
    server = testinfra.get_host("docker://%s.internal" % target)
    outcome = []
    arrived = packets_arriving(server, ADDRESS[source], port,
                               lambda: outcome.append(attempt(client, ADDRESS[target], port)))
    assert not outcome[0][0], outcome[0][1]
    assert arrived == 0  # not one packet left the client: its own output chain stopped the flow
    # The same probe sees the declared flow's packets arrive.
    other = testinfra.get_host("docker://%s.internal" % ("orchestrator" if target == "mother" else "sevastopol"))
    assert packets_arriving(server, ADDRESS["orchestrator" if target == "mother" else "sevastopol"], port,
                            lambda: attempt(other, ADDRESS[target], port)) > 0


@pytest.mark.parametrize("server", SERVERS)
def test_dns_still_resolves_on_every_server(server):
    host = testinfra.get_host("docker://%s.internal" % server)
    assert host.check_output("getent hosts sii.cl").split()[0] == INTERNET
    assert "essential: dns to the resolvers" in host.check_output("nft list chain inet portcullis output")


def test_the_named_destination_is_resolved_into_the_rule():
    host = testinfra.get_host("docker://orchestrator.internal")
    output = host.check_output("nft list chain inet portcullis output")
    assert 'ip daddr %s tcp dport 443 accept comment "orchestrator -> sii.cl (ETL scraping)"' % INTERNET in output
    assert ('ip daddr %s tcp dport 5432 accept comment "orchestrator -> mother.internal postgresql (DB queries)"'
            % ADDRESS["mother"]) in output


def test_sshd_is_key_only(host):
    settings = host.check_output("sshd -T -C user=deploy,host=x,addr=172.30.91.1")
    assert "passwordauthentication no" in settings and "permitrootlogin no" in settings


def test_port_map_has_every_host_with_live_status():
    text = port_map("md")
    for name in ADDRESS:
        assert "## %s.internal" % name in text
    assert ("| 5432 | tcp | postgresql | 0.0.0.0 | prod |  | internal |  | etl.internal etl, orchestrator.internal "
            "orchestrator |  | listening (python3) |  |") in text
    # The route's path beside its domain, and its health answered through the proxy's own check.
    assert ("| 8000 | tcp | orchestrator | 0.0.0.0 | prod | app.nostromo.cl/api/ | internal |  | nginx.internal (proxy), "
            "sevastopol.internal sevastopol |") in text
    assert "| listening (python3) | /health ok |" in text
    assert "| 443 | tcp | https | 0.0.0.0 |  |  | public |  |  |  | listening (nginx) |  |" in text
    assert ("| 4321 | tcp | sevastopol | 0.0.0.0 | prod | app.nostromo.cl | internal |  | nginx.internal (proxy) | "
            "orchestrator.internal orchestrator 8000/tcp | listening (python3) |  |") in text
    assert "| 9999 | tcp |  | 0.0.0.0 |  |  |  |  |  |  | **listening, undeclared** (python3) |  |" in text
    assert "|  |  | updates |  |  |  |  |  |  | 0.0.0.0/0, ::/0 80/tcp, 443/tcp | connects out only |  |" in text
    assert "127.0.0.11" not in text  # Docker's embedded DNS is not the host's


def test_port_map_draws_who_connects_to_whom():
    text = port_map("md")
    graph = text.split("```mermaid\n")[1].split("```")[0]
    labels = dict(re.findall(r'^    (n[0-9]+)[\[(/]+"([^"<]+)', graph, re.M))
    edges = set((labels[a], labels[b]) for a, b in re.findall(r"^    (n[0-9]+) -->\|\"[^\"]*\"\| (n[0-9]+)$", graph, re.M))
    # The seed's diagram, edge for edge (Internet -> Nginx -> Sevastopol -> Orchestrator -> Mother, ETL -> Mother).
    assert {("Internet", "nginx.internal"), ("nginx.internal", "sevastopol.internal"),
            ("sevastopol.internal", "orchestrator.internal"), ("orchestrator.internal", "mother.internal"),
            ("etl.internal", "mother.internal")} <= edges
    assert ("orchestrator.internal", "sii.cl") in edges
    assert "<svg " in port_map("html")


def test_port_map_range_table():
    text = port_map("md")
    assert "| production | 4000-4999 | 1 of 1000 | 0.1 % | sevastopol.internal/sevastopol |" in text
    assert "| proxies | 8000-8999 | 1 of 1000 | 0.1 % | orchestrator.internal/orchestrator |" in text


def test_port_map_html_is_standalone():
    html = port_map("html")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "src=" not in html and "href=" not in html
    assert '<td class="undeclared">listening, undeclared (python3)</td>' in html


def test_the_proxy_writes_certificate_and_backend_metrics():
    # The port_metrics play (tag metrics): on the proxy, the certificate it serves and its backends' health.
    metrics = testinfra.get_host("docker://nginx.internal").file(
        "/var/lib/prometheus/node-exporter/portcullis.prom").content_string
    assert re.search(r'^portcullis_certificate_expiry_timestamp_seconds\{domain="app.nostromo.cl"\} \d+$', metrics, re.M)
    assert 'portcullis_backend_up{domain="app.nostromo.cl",path="/api/",server="172.30.91.12:8000"} 1' in metrics
    assert 'portcullis_check_success{check="certificates"} 1' in metrics
    assert 'portcullis_firewall_drift{backend="nftables"} 0' in metrics
