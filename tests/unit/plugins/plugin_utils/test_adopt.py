# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adoption's draft and no-outage check on a Riwi-like fleet as
discover reads it: a web host (nginx with two domains, an app on loopback,
ufw typed by hand), an API host (a port opened to the /24 by iptables, a
Docker-published shop) and a database host with no firewall (PostgreSQL
used by the API, a stray listener nobody uses)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

import pytest
import yaml

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _nginx_read
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _reachability
from ansible_collections.portcullis.ports.plugins.plugin_utils import _adopt
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils import _inventory
from ansible_collections.portcullis.ports.plugins.plugin_utils._plan import SETTING_VARIABLES, Plan

ADDRESSES = {"web": "172.30.100.10", "api": "172.30.100.11", "db": "172.30.100.12"}
GROUPS = {"all": ["web", "api", "db"]}


def exposure(state, sources=(), evidence="", by_policy=False):
    return {"state": state, "sources": list(sources), "evidence": [evidence] if evidence else [],
            "by_policy": by_policy}


def service(port, processes, state, bind="0.0.0.0", protocol="tcp", container=None, **more):
    found = {"protocol": protocol, "port": port, "end": port, "bind": bind, "processes": processes,
             "addresses": [bind], "publish": "dnat" if container else "host", "container": container,
             "exposure": exposure(state, **more)}
    return found


def flow(direction, client, server, port, process=None, via=("conntrack",)):
    return {"direction": direction, "protocol": "tcp", "client": client, "server": server, "port": port,
            "via": list(via), "to": None, "samples": 2, "process": process}


NGINX = """# configuration file /etc/nginx/nginx.conf:
http {
    include /etc/nginx/sites-enabled/*;
}
# configuration file /etc/nginx/sites-enabled/riwi:
server { listen 80; server_name app.riwi.test www.riwi.test; return 301 https://app.riwi.test$request_uri; }
server {
    listen 443 ssl; server_name app.riwi.test;
    ssl_certificate /etc/nginx/tls/app.crt; ssl_certificate_key /etc/nginx/tls/app.key;
    location / { proxy_pass http://127.0.0.1:4010; }
}
server {
    listen 80; server_name api.riwi.test;
    location /v1/ { proxy_pass http://172.30.100.11:4020/; }
}
"""

UFW = "ufw: 80,443/tcp ALLOW IN Anywhere"


def discovered():
    return {
        "web": {
            "services": [
                service(22, ["sshd"], "open", evidence="ufw: 22/tcp ALLOW IN Anywhere"),
                service(80, ["nginx"], "open", evidence=UFW),
                service(443, ["nginx"], "open", evidence=UFW),
                service(4010, ["node"], "private", bind="127.0.0.1", evidence="bound to 127.0.0.1 only"),
                service(34361, ["containerd"], "private", bind="127.0.0.1"),
            ],
            "connections": [flow("in", "203.0.113.9", "172.30.100.10", 443, via=("socket",)),
                            flow("out", "172.30.100.10", "172.30.100.11", 4020, process="nginx")],
            "ssh": {"ports": [22], "evidence": "sshd -T"},
            "nginx": _nginx_read.servers(NGINX),
            "unknown": [],
        },
        "api": {
            "services": [
                service(22, ["sshd"], "open", evidence="iptables: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"),
                service(4020, ["python3"], "some", sources=["172.30.100.0/24"],
                        evidence="iptables: -A INPUT -s 172.30.100.0/24 -p tcp -m tcp --dport 4020 -j ACCEPT"),
                service(8081, [], "open", container={"runtime": "docker", "name": "shop", "image": "busybox",
                                                     "port": 80}, evidence="docker publishes it"),
            ],
            "connections": [flow("out", "172.30.100.11", "172.30.100.12", 5432, process="python3"),
                            flow("in", "172.30.100.10", "172.30.100.11", 4020)],
            "ssh": {"ports": [22], "evidence": "sshd -T"}, "nginx": [], "unknown": [],
        },
        "db": {
            "services": [
                service(22, ["sshd"], "none", by_policy=True, evidence="no firewall is in force"),
                service(5432, ["postgres"], "none", by_policy=True, evidence="no firewall is in force"),
                service(6100, ["python3"], "none", by_policy=True, evidence="no firewall is in force"),
                service(9187, ["exporter"], "unknown", evidence="nftables rule not understood: x"),
            ],
            "connections": [flow("in", "172.30.100.11", "172.30.100.12", 5432),
                            flow("in", "198.51.100.7", "172.30.100.12", 9187)],
            "ssh": {"ports": [22], "evidence": "sshd -T"}, "nginx": [],
            "unknown": [{"check": "connections", "message": "conntrack is not available"}],
        },
    }


def plan_of(registries=None):
    hostvars = dict((host, {"ansible_host": address}) for host, address in ADDRESSES.items())
    for host, entries in (registries or {}).items():
        hostvars[host]["portcullis_services"] = entries
    return Plan.of(hostvars, GROUPS)


@pytest.fixture
def drafted():
    return _adopt.draft(plan_of(), discovered())


def entries(drafted, host):
    return dict((entry["name"], entry) for entry in drafted[host]["entries"])


def test_listeners_become_entries_by_their_evidence(drafted):
    web, api, db = entries(drafted, "web"), entries(drafted, "api"), entries(drafted, "db")
    assert web["https"]["expose"] == "public" and web["https"]["process"] == "nginx"
    assert web["node-4010"] == {"name": "node-4010", "port": 4010, "expose": "private", "process": "node",
                                "range": "production", "domain": "app.riwi.test", "redirect_from": ["www.riwi.test"]}
    assert "containerd-34361" not in web
    assert api["python3-4020"]["expose"] == "internal"
    assert api["python3-4020"]["allow_from"] == ["172.30.100.0/24"]
    assert api["shop"] == {"name": "shop", "port": 8081, "expose": "public", "publish": "dnat", "range": "proxies"}
    # open only because no firewall runs: SSH stays public, the rest is closed but to the clients seen
    assert db["ssh"]["expose"] == "public"
    assert db["postgres-5432"]["expose"] == "internal" and db["postgres-5432"]["allow_from"] == []
    assert db["python3-6100"] == {"name": "python3-6100", "port": 6100, "expose": "internal", "allow_from": [],
                                  "process": "python3", "range": "testing"}
    # a firewall not understood: closed but for the client seen, and said so
    assert db["exporter-9187"]["allow_from"] == ["198.51.100.7/32"]
    assert "UNKNOWN" in " ".join(drafted["db"]["notes"]["exporter-9187"])


def test_a_policy_given_keeps_the_default_ranges_and_adds_its_own():
    drafted = _adopt.draft(plan_of(), discovered(), {})
    assert entries(drafted, "db")["python3-6100"]["range"] == "testing"
    drafted = _adopt.draft(plan_of(), discovered(), {"stray": "6100-6199"})
    assert entries(drafted, "db")["python3-6100"]["range"] == "stray"


def test_a_connection_hangs_on_the_entry_of_its_own_process_or_a_parent_never_on_a_namesake():
    # Tried as a new user would: on the api host, python3 ran the app (4020), a stray `python3 -m http.server`
    # (7777) and a database client listening on nothing. The client's connection to db was drafted under the
    # stray listener's entry (the first python3 one), so deleting the stray entry dropped a flow in use.
    found = discovered()
    api = found["api"]
    api["services"] = [dict(item, pids=[130]) if item["port"] == 4020 else item for item in api["services"]]
    api["services"].insert(0, dict(service(7777, ["python3"], "none", by_policy=True), pids=[135]))
    api["connections"] = [
        dict(flow("out", "172.30.100.11", "172.30.100.12", 5432, process="python3"), pids=[676, 600]),
        dict(flow("out", "172.30.100.11", "172.30.100.12", 6100, process="python3"), pids=[131, 130]),
        flow("in", "172.30.100.10", "172.30.100.11", 4020)]
    drafted = _adopt.draft(plan_of(), found)
    api_entries = entries(drafted, "api")
    assert "connects_to" not in api_entries["python3-7777"]
    assert api_entries["python3-client"]["connects_to"] == [{"host": "db", "service": "postgres-5432"}]
    # A worker of the app (its parent listens on 4020) connects for the app.
    assert api_entries["python3-4020"]["connects_to"] == [{"host": "db", "service": "python3-6100"}]
    assert "pid 676" in " ".join(drafted["api"]["notes"]["python3-client"])


def test_a_port_a_ban_narrows_today_is_drafted_not_sure_and_the_header_says_it_gets_wider():
    found = discovered()
    found["db"]["services"] = [dict(item, exposure=dict(item["exposure"], state="open", by_policy=False,
                                                        refused=["10.77.30.99/32"]))
                               if item["port"] == 5432 else item for item in found["db"]["services"]]
    drafted = _adopt.draft(plan_of(), found)
    notes = " ".join(drafted["db"]["notes"]["postgres-5432"])
    assert "refused today from 10.77.30.99/32" in notes and "[sure]" not in notes
    assert any(line.startswith("wider once enforced: postgres-5432 port 5432/tcp is refused today from "
                               "10.77.30.99/32") for line in drafted["db"]["header"])


def test_connections_become_connects_to(drafted):
    api = entries(drafted, "api")
    assert api["python3-4020"]["connects_to"] == [{"host": "db", "service": "postgres-5432"}]
    web = entries(drafted, "web")
    assert web["http"]["connects_to"] == [{"host": "api", "service": "python3-4020"}]


def test_nginx_locations_put_domain_and_path_on_the_backend(drafted):
    api = entries(drafted, "api")
    assert (api["python3-4020"]["domain"], api["python3-4020"]["path"]) == ("api.riwi.test", "/v1/")
    assert any("put web in the group proxies" in note for note in drafted["web"]["header"])


def test_the_draft_is_a_registry_the_audit_accepts(drafted):
    plan = plan_of(dict((host, drafted[host]["entries"]) for host in drafted))
    assert plan.problems == []
    assert plan.rule_errors == {}
    report = _audit.audit(plan)
    assert report["conflicts"] == []


def test_rendered_file_is_yaml_with_the_same_entries_and_evidence(drafted):
    text = _adopt.render("db", drafted["db"], window=60)
    assert yaml.safe_load(text) == {"portcullis_services": drafted["db"]["entries"]}
    assert "# not known: conntrack is not available" in text
    assert "  # -> internal: open today only because nothing filters it" in text
    api = _adopt.render("api", drafted["api"])
    assert ('      - {"host": "db", "service": "postgres-5432"}  # seen 172.30.100.11 -> 172.30.100.12:5432/tcp: '
            'out on api (conntrack); in on db (conntrack)') \
        in api
    assert max(len(line) for line in text.splitlines()) < 400


def test_a_message_over_several_lines_stays_one_comment():
    found = discovered()
    found["db"]["unknown"].append({"check": "containers", "message": "podman ps failed: one\nError: two"})
    drafted = _adopt.draft(plan_of(), found)
    text = _adopt.render("db", drafted["db"])
    assert "# not known: podman ps failed: one Error: two" in text
    assert yaml.safe_load(text) == {"portcullis_services": drafted["db"]["entries"]}


def test_no_cut_with_the_draft_in_place(drafted):
    plan = plan_of(dict((host, drafted[host]["entries"]) for host in drafted))
    assert _adopt.cuts(plan, _adopt.observed(discovered())) == []


def test_a_dropped_flow_is_named(drafted):
    registries = dict((host, copy.deepcopy(drafted[host]["entries"])) for host in drafted)
    for entry in registries["api"]:
        entry.pop("connects_to", None)
    plan = plan_of(registries)
    found = _adopt.cuts(plan, _adopt.observed(discovered()))
    assert [(cut["client_host"], cut["host"], cut["port"]) for cut in found] == [("api", "db", 5432)]
    text = _adopt.cut_text(found[0])
    assert text.startswith("api (172.30.100.11) -> db (172.30.100.12) port 5432/tcp (evidence: out on api (conntrack); "
                           "in on db (conntrack)): the draft would refuse it")
    assert text.endswith("[accept as api->db:5432/tcp]")


def test_a_flow_kept_and_seen_again_is_one_cut(drafted):
    registries = dict((host, copy.deepcopy(drafted[host]["entries"])) for host in drafted)
    for entry in registries["api"]:
        entry.pop("connects_to", None)
    flows = _adopt.observed(discovered())
    again = [dict(flow, seen=["out on api (socket)"]) for flow in flows]
    found = _adopt.cuts(plan_of(registries), flows + again)
    assert len(found) == 1
    assert found[0]["evidence"] == "out on api (conntrack); in on db (conntrack); out on api (socket)"


def test_hosts_without_registry_are_not_enforced():
    assert _adopt.cuts(plan_of(), _adopt.observed(discovered())) == []


@pytest.mark.parametrize("value, message", [
    ([], "discovered must map each host"),
    ({"web": {"services": []}}, r"discovered\['web'\] is not a result of portcullis.ports.discover \(missing "
                                r"connections, ssh, nginx, unknown\)"),
])
def test_bad_discovered_is_named(value, message):
    with pytest.raises(_adopt.AdoptError, match=message):
        _adopt.draft(plan_of(), value)


def test_unknown_host_is_named():
    found = discovered()
    found["dbx"] = found.pop("db")
    with pytest.raises(Exception, match="dbx"):
        _adopt.draft(plan_of(), found)


def test_bad_flow_is_named():
    with pytest.raises(_adopt.AdoptError, match="observed flow .*10.0.0.300"):
        _adopt.cuts(plan_of(), [{"client": "10.0.0.300", "server": "10.0.0.1", "port": 1}])


# -- the flows that work today, probed ---------------------------------------------------------------------------

def hostvars_of(registries=None):
    hostvars = dict((host, {"ansible_host": address}) for host, address in ADDRESSES.items())
    for host, entries in (registries or {}).items():
        hostvars[host]["portcullis_services"] = entries
    return hostvars


def drafted_plan(drafted):
    return _adopt.draft_plan(_inventory.read(hostvars_of(), GROUPS, SETTING_VARIABLES), drafted)


def test_probes_go_from_the_vantage_to_every_other_hosts_listeners():
    found = discovered()
    found["db"]["services"].append(service(5353, ["avahi"], "none", protocol="udp", by_policy=True))
    found["db"]["services"].append(service(7000, ["side"], "none", bind="10.9.9.9", by_policy=True))
    flows = _adopt.probe_flows(plan_of(), found, "web")
    targets = [(flow["host"], flow["address"], flow["port"], flow["protocol"], flow["probe"]) for flow in flows]
    assert targets == [
        ("api", "172.30.100.11", 22, "tcp", True), ("api", "172.30.100.11", 4020, "tcp", True),
        ("api", "172.30.100.11", 8081, "tcp", True),
        ("db", "172.30.100.12", 22, "tcp", True), ("db", "172.30.100.12", 5353, "udp", True),
        ("db", "172.30.100.12", 5432, "tcp", True), ("db", "172.30.100.12", 6100, "tcp", True),
        # bound to an address the inventory does not give for db: reported, not probed
        ("db", "10.9.9.9", 7000, "tcp", False),
        ("db", "172.30.100.12", 9187, "tcp", True)]
    assert all(flow["expect"] == "open" for flow in flows)
    assert "not an address of db in the inventory" in flows[7]["why"]
    # the module takes them as they are: checked against the inventory's addresses, the UDP one not probed
    checked = _reachability.check_flows(flows, list(ADDRESSES.values()), 100)
    assert [_reachability.unprobed_reason(flow) is None for flow in checked].count(False) == 2


def test_the_probes_are_bounded_and_the_bound_is_named():
    assert len(_adopt.probe_flows(plan_of(), discovered(), "web", max_probes=7)) == 7
    with pytest.raises(_adopt.AdoptError, match="web would send 7 probes .* bound of 6: raise portcullis_adopt_probe_max"):
        _adopt.probe_flows(plan_of(), discovered(), "web", max_probes=6)


def probe_results(answers):
    """The reachability module's flows for web's probes, each answered from ``answers`` (port -> result)."""
    flows = _reachability.check_flows(_adopt.probe_flows(plan_of(), discovered(), "web"), ["172.30.100.0/24"], 100)

    def probe_one(flow, _timeout):
        return answers.get(flow["port"], ("refused", "nothing listening")), "detail"

    results = _reachability.probe_all(flows, 1.0, 4, probe_one=lambda flow, timeout: probe_one(flow, timeout)[0])
    return {"web": {"flows": results, "changed": False}}


def test_a_probe_that_connects_is_a_flow_that_works_and_nothing_else_is():
    found = _adopt.probed(plan_of(), probe_results({6100: ("open", "connected"), 4020: ("open", "connected"),
                                                    5432: ("filtered", "timeout"), 22: ("error", "no route")}))
    assert [(flow["client"], flow["server"], flow["port"], flow["seen"]) for flow in found["flows"]] == [
        ("172.30.100.10", "172.30.100.11", 4020, ["probed from web"]),
        ("172.30.100.10", "172.30.100.12", 6100, ["probed from web"])]
    # an error is unknown, never closed; refused and filtered do not work today
    assert [(item["host"], item["port"]) for item in found["unknown"]] == [("api", 22), ("db", 22)]
    assert "unknown, error (no route)" in found["unknown"][0]["text"]
    assert found["unknown"][0]["text"].endswith("[api:22/tcp sshd (discovered)]")
    assert found["counts"] == {"probed": 7, "open": 2, "closed": 3, "unknown": 2}


def test_a_vantage_without_a_result_makes_its_flows_unknown():
    found = _adopt.probed(plan_of(), {"web": {"failed": True, "msg": "nothing was probed: 9 probes exceed"},
                                      "api": {"skipped": True}})
    assert found["flows"] == []
    assert [item["text"] for item in found["unknown"]] == [
        "web: no probe was made (nothing was probed: 9 probes exceed): every flow from it is unknown"]
    with pytest.raises(_adopt.AdoptError, match=r"probes\['web'\]: .* is not a flow"):
        _adopt.probed(plan_of(), {"web": {"flows": [{"address": "172.30.100.12"}]}})


def test_a_probed_flow_the_draft_closes_is_a_cut_named_with_its_evidence(drafted):
    flows = _adopt.observed(discovered()) + _adopt.probed(plan_of(), probe_results({6100: ("open", "")}))["flows"]
    found = _adopt.cuts(drafted_plan(drafted), flows)
    # the stray listener: nobody was seen using it, but it answers web today, and the draft closes it
    assert [(cut["client_host"], cut["host"], cut["port"], cut["evidence"]) for cut in found] == [
        ("web", "db", 6100, "probed from web")]
    assert _adopt.cut_key(found[0]) == "web->db:6100/tcp"
    # without the probes, nothing the draft closes was seen working
    assert _adopt.cuts(drafted_plan(drafted), _adopt.observed(discovered())) == []


@pytest.mark.parametrize("accept, expected", [
    (True, [True, True]), (False, [False, False]), ([], [False, False]),
    (["db:6100/tcp"], [True, False]), (["web->db:6100"], [True, False]), (["api->db:6100"], [False, False]),
    (["172.30.100.10->172.30.100.12:6100/tcp", "db:5432"], [True, True]), ("db:5432/tcp", [False, True]),
    # Tried as a new user would: `-e portcullis_adopt_accept_cuts=true`, as the README and the stop message say,
    # gives the text "true", which was read as the name of a cut and refused.
    ("true", [True, True]), ("True", [True, True]), ("yes", [True, True]), ("false", [False, False]),
    ("no", [False, False]),
])
def test_cuts_are_accepted_all_at_once_or_by_name(accept, expected):
    cuts = [{"client": "172.30.100.10", "client_host": "web", "host": "db", "address": "172.30.100.12", "port": port,
             "protocol": "tcp"} for port in (6100, 5432)]
    marked, unused = _adopt.accepted(cuts, accept)
    assert [cut["accepted"] for cut in marked] == expected
    if accept == ["api->db:6100"]:
        assert unused == ["api->db:6100/tcp"]


@pytest.mark.parametrize("accept", [["db"], ["db:0"], ["db:6100/sctp"], [":22"], [5432], {"db": 1}])
def test_a_bad_accepted_cut_is_named(accept):
    with pytest.raises(_adopt.AdoptError, match=r"accept"):
        _adopt.accepted([], accept)


def test_the_draft_map_shows_the_draft_beside_the_live_state(drafted):
    found = discovered()
    found["db"]["listening"] = [
        {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": port, "pid": 10 + port, "process": name,
         "user": "root"} for port, name in ((22, "sshd"), (5432, "postgres"), (6100, "python3"), (7777, "nc"))]
    flows = _adopt.observed(found) + _adopt.probed(plan_of(), probe_results({6100: ("open", "")}))["flows"]
    report = _adopt.draft_map(drafted_plan(drafted), found, drafted, flows,
                              [{"text": "web -> db port 53/udp: unknown, not probed"}])
    db = dict((row["service"] or row["port"], row) for row in next(
        host for host in report["hosts"] if host["name"] == "db")["rows"])
    # live: the drafted stray listener listens; a listener the draft has no entry for is undeclared
    assert db["python3-6100"]["status"] == "listening"
    assert db["7777"]["status"] == "undeclared" and db["7777"]["draft"] == "not drafted"
    assert db["exporter-9187"]["status"] == "not listening"
    # beside it: what the entry was inferred from, and the flows that work today with what the draft does to them
    assert db["python3-6100"]["draft"].startswith("internal: open today only because nothing filters it")
    assert db["python3-6100"]["today"] == "web (172.30.100.10) probed: CUT by the draft"
    assert db["python3-6100"]["cut"] is True
    assert db["postgres-5432"]["today"] == "api (172.30.100.11) seen: kept"
    assert [cut["key"] for cut in report["adoption"]["cuts"]] == ["web->db:6100/tcp"]
    assert report["adoption"]["unknown"] == [{"text": "web -> db port 53/udp: unknown, not probed"}]
    # web and api were not read live here: not checked, never listening
    web = next(host for host in report["hosts"] if host["name"] == "web")
    assert set(row["status"] for row in web["rows"]) <= {"not checked", "client"}


def render_map(report, name):
    """The port_audit role's template ``name`` rendered as Ansible's template module does (trim_blocks)."""
    jinja2 = pytest.importorskip("jinja2")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 4)
    templates = os.path.join(root, "roles", "port_audit", "templates")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), trim_blocks=True)
    return environment.get_template(name).render(portcullis_audit_map=report)


def test_the_port_audit_templates_write_the_draft_beside_the_live_state(drafted):
    found = discovered()
    found["db"]["listening"] = [
        {"protocol": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": port, "pid": 10 + port, "process": name,
         "user": "root"} for port, name in ((22, "sshd"), (6100, "python3"), (7777, "nc"))]
    flows = _adopt.observed(found) + _adopt.probed(plan_of(), probe_results({6100: ("open", "")}))["flows"]
    report = _adopt.draft_map(drafted_plan(drafted), found, drafted, flows, [{"text": "web -> db: unknown"}])
    markdown = render_map(report, "port-map.md.j2")
    assert markdown.startswith("# Port map of the registry drafts\n")
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| Port |"))
    assert header.endswith("| Live status | Health | Drafted from | Flows today |")
    stray = next(line for line in lines if line.startswith("| 6100 | tcp | python3-6100 |"))
    assert stray.count("|") == header.count("|")
    assert "| listening (python3) |" in stray and stray.endswith("| web (172.30.100.10) probed: CUT by the draft |")
    assert any(line.startswith("| 7777 | tcp |") and "**listening, undeclared** (nc)" in line and "| not drafted |" in line
               for line in lines)
    assert "- **CUT** web (172.30.100.10) -&gt; db (172.30.100.12) port 6100/tcp (evidence: probed from web)" in markdown
    assert "- web -&gt; db: unknown" in markdown
    html = render_map(report, "port-map.html.j2")
    assert "<h1>Port map of the registry drafts</h1>" in html and "<th>Flows today</th>" in html
    assert '<td class="undeclared">web (172.30.100.10) probed: CUT by the draft</td>' in html
    # the port map of a registry (no adoption) keeps its own title and columns
    plain = dict((key, value) for key, value in report.items() if key != "adoption")
    markdown = render_map(plain, "port-map.md.j2")
    assert markdown.startswith("# Port map\n") and "Flows today" not in markdown and "Drafted from" not in markdown
    assert "Flows today" not in render_map(plain, "port-map.html.j2")


def test_an_earlier_runs_probe_read_again_by_conntrack_is_not_a_use():
    found = discovered()
    echo = flow("in", "172.30.100.10", "172.30.100.12", 6100)
    found["db"]["connections"].append(echo)
    kept = [{"client": "172.30.100.10", "server": "172.30.100.12", "port": 6100, "protocol": "tcp",
             "seen": ["probed from web"]}]
    # without what the earlier run kept, the probe's echo is a use: web connects to the stray listener
    used = _adopt.draft(plan_of(), found)
    assert {"host": "db", "service": "python3-6100"} in entries(used, "web")["client"]["connects_to"]
    assert ("172.30.100.10", 6100) in [(item["client"], item["port"]) for item in _adopt.observed(found)]
    # with it, left out and said so; the flow kept still counts for the check
    drafted = _adopt.draft(plan_of(), found, probes=kept)
    assert "client" not in entries(drafted, "web")
    assert any(note.startswith("not drafted: 172.30.100.10 -> 172.30.100.12:6100/tcp, seen only by conntrack")
               for note in drafted["web"]["header"])
    assert ("172.30.100.10", 6100) not in [(item["client"], item["port"]) for item in _adopt.observed(found, kept)]
    # a connection established now, or a flow an earlier run saw in use, is a use
    found["db"]["connections"][-1] = dict(echo, via=["socket", "conntrack"])
    assert "client" in entries(_adopt.draft(plan_of(), found, probes=kept), "web")
    found["db"]["connections"][-1] = echo
    used_before = [dict(kept[0], seen=["probed from web", "in on db (socket)"])]
    assert "client" in entries(_adopt.draft(plan_of(), found, probes=used_before), "web")
    with pytest.raises(_adopt.AdoptError, match="probed must be the list of flows kept"):
        _adopt.draft(plan_of(), found, probes="x")


# -- UDP: one-way flows, and what no probe can tell -------------------------------------------------------------

def udp_fleet():
    """db also takes syslog over UDP 5514 (api sends it, one-way: conntrack holds it unreplied on both ends), runs a
    UDP listener on 6200 nobody was seen using, and one on 6300 today's firewall closes."""
    found = discovered()
    found["db"]["services"] += [
        service(5514, ["rsyslogd"], "none", protocol="udp", by_policy=True, evidence="no firewall is in force"),
        service(6200, ["python3"], "none", protocol="udp", by_policy=True, evidence="no firewall is in force"),
        service(6300, ["python3"], "closed", protocol="udp", evidence="nftables: policy drop")]
    syslog = dict(flow("out", "172.30.100.11", "172.30.100.12", 5514, process="logger", via=("conntrack-one-way",)),
                  protocol="udp")
    found["api"]["connections"].append(syslog)
    found["db"]["connections"].append(dict(syslog, direction="in", process=None))
    return found


def udp_probes(found, vantage, answers):
    flows = _reachability.check_flows(_adopt.probe_flows(plan_of(), found, vantage), ["172.30.100.0/24"], 100)
    results = _reachability.probe_all(flows, 1.0, 4, probe_one=lambda flow, timeout: answers.get(
        (flow["port"], flow["protocol"]), ("refused", "nothing listening")))
    return {vantage: {"flows": results, "changed": False}}


def test_a_one_way_udp_flow_is_drafted_and_kept():
    found = udp_fleet()
    drafted = _adopt.draft(plan_of(), found)
    db = entries(drafted, "db")
    assert db["rsyslogd-5514"]["protocol"] == "udp" and db["rsyslogd-5514"]["allow_from"] == []
    client = entries(drafted, "api")["logger-client"]
    assert client["connects_to"] == [{"host": "db", "service": "rsyslogd-5514"}]
    plan = plan_of(dict((host, drafted[host]["entries"]) for host in drafted))
    assert _adopt.cuts(plan, _adopt.observed(found)) == []


def test_a_udp_probe_met_by_silence_is_unknown_not_closed():
    found = udp_fleet()
    found["db"]["services"].append(service(53, ["named"], "none", protocol="udp", by_policy=True))
    answers = {(53, "udp"): ("filtered", "no reply"), (5432, "tcp"): ("filtered", "timeout")}
    result = _adopt.probed(plan_of(), udp_probes(found, "web", answers))
    unknown = [(item["port"], item["protocol"], item["result"]) for item in result["unknown"]]
    assert (53, "udp", "filtered") in unknown
    # a TCP port that does not answer does not work today
    assert (5432, "tcp", "filtered") not in unknown


def test_what_no_probe_can_tell_and_the_draft_closes_is_named_never_fine():
    found = udp_fleet()
    drafted = _adopt.draft(plan_of(), found)
    plan = drafted_plan(drafted)
    result = _adopt.probed(plan_of(), udp_probes(found, "web", {}))
    flows = _adopt.observed(found)
    # before: the flows the probes could not tell were only listed, and nothing was cut
    assert _adopt.cuts(plan, flows) == []
    maybe = _adopt.unproven(plan, found, result["unknown"])
    # 5514 and 6200 answer web today as far as db's firewall goes (none); 6300 is closed by it today: not a flow
    assert [(item["client"], item["server"], item["port"], item["protocol"]) for item in maybe] == [
        ("172.30.100.10", "172.30.100.12", 5514, "udp"), ("172.30.100.10", "172.30.100.12", 6200, "udp")]
    assert maybe[0]["seen"] == ["not provable from web (UDP, no probe can tell, today: no firewall is in force)"]
    found_cuts = _adopt.cuts(plan, flows + maybe)
    assert [_adopt.cut_key(cut) for cut in found_cuts] == ["web->db:5514/udp", "web->db:6200/udp"]
    assert "(evidence: not provable from web (UDP, no probe can tell" in _adopt.cut_text(found_cuts[0])
    # the port map says the same
    report = _adopt.draft_map(plan, found, drafted, flows, result["unknown"])
    assert [cut["key"] for cut in report["adoption"]["cuts"]] == ["web->db:5514/udp", "web->db:6200/udp"]
    db = dict((row["service"], row) for row in next(host for host in report["hosts"] if host["name"] == "db")["rows"])
    assert db["python3-6200"]["today"] == "web (172.30.100.10) unknown (may work): CUT by the draft"
    assert "api (172.30.100.11) seen: kept" in db["rsyslogd-5514"]["today"]


def test_a_name_accepted_that_matches_no_cut_stops_the_check_naming_it():
    cuts = [{"client": "172.30.100.10", "client_host": "web", "host": "db", "address": "172.30.100.12", "port": 6100,
             "protocol": "tcp"}]
    assert [cut["accepted"] for cut in _adopt.accepted_all(cuts, ["db:6100/tcp"])] == [True]
    assert [cut["accepted"] for cut in _adopt.accepted_all(cuts, True)] == [True]
    with pytest.raises(_adopt.AdoptError, match=r"accepted cut\(s\) that match no cut of this run: db:6101/tcp, "
                                                r"web->db:6100/udp .* the cuts of this run: web->db:6100/tcp"):
        _adopt.accepted_all(cuts, ["db:6100/tcp", "db:6101", "web->db:6100/udp"])
    with pytest.raises(_adopt.AdoptError, match="the cuts of this run: none"):
        _adopt.accepted_all([], ["db:6100/tcp"])


# -- hosts that reach each other on addresses the inventory does not give ----------------------------------------

def private_fleet():
    """The inventory gives the management addresses; api reaches db on a private network, 10.8.0.0/24. Both run
    Docker (172.17.0.1 on each: nobody's)."""
    found = discovered()
    found["web"]["addresses"] = ["172.30.100.10", "127.0.0.1"]
    found["api"]["addresses"] = ["172.30.100.11", "10.8.0.11", "172.17.0.1", "fe80::1"]
    found["db"]["addresses"] = ["172.30.100.12", "10.8.0.12", "172.17.0.1"]
    found["api"]["connections"] = [flow("out", "10.8.0.11", "10.8.0.12", 5432, process="python3"),
                                   flow("in", "172.30.100.10", "172.30.100.11", 4020)]
    found["db"]["connections"] = [flow("in", "10.8.0.11", "10.8.0.12", 5432)]
    return found


def plan_with(drafted, drop_address_of=()):
    hostvars = hostvars_of(dict((host, drafted[host]["entries"]) for host in drafted))
    for host in drafted:
        if drafted[host]["addresses"] and host not in drop_address_of:
            hostvars[host]["portcullis_address"] = drafted[host]["addresses"]
    return Plan.of(hostvars, GROUPS)


def test_a_flow_between_hosts_on_addresses_the_inventory_does_not_give_is_drafted_and_checked():
    found = private_fleet()
    drafted = _adopt.draft(plan_of(), found)
    # the connection is between two inventory hosts: a connects_to, and each host's address that the rules need
    assert {"host": "db", "service": "postgres-5432"} in entries(drafted, "api")["python3-4020"]["connects_to"]
    assert drafted["api"]["addresses"] == ["172.30.100.11", "10.8.0.11"]
    assert drafted["db"]["addresses"] == ["172.30.100.12", "10.8.0.12"]
    assert drafted["web"]["addresses"] == []
    text = _adopt.render("db", drafted["db"])
    assert 'portcullis_address: ["172.30.100.12", "10.8.0.12"]' in text
    assert "# db is also reached on, or connects from, addresses the inventory does not give for it" in text
    assert yaml.safe_load(text)["portcullis_address"] == ["172.30.100.12", "10.8.0.12"]
    assert "portcullis_address" not in yaml.safe_load(_adopt.render("web", drafted["web"]))
    # with the drafts in place (their addresses too) the flow is kept
    flows = _adopt.observed(found)
    assert _adopt.cuts(plan_with(drafted), flows, found) == []
    assert _adopt.cuts(drafted_plan(drafted), flows, found) == []
    # without db's private address in the registry, db's rules would refuse the API's packets: named, never "not
    # enforced" (the flow's client address is what the firewall sees)
    found_cuts = _adopt.cuts(plan_with(drafted, drop_address_of=("api",)), flows, found)
    assert [_adopt.cut_key(cut) for cut in found_cuts] == ["api->db:5432/tcp"]
    assert _adopt.cut_text(found_cuts[0]).startswith("api (10.8.0.11) -> db (10.8.0.12) port 5432/tcp")
