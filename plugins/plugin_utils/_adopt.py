# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adoption of servers that grew by hand, on the controller: the
registry draft written from what ``portcullis.ports.discover`` read on each
host, and the no-outage check that compares the flows seen working with
what the plan of the inventory (the drafts in place) will let through.

The draft, per host, one entry per listening port and published container
port, each with the evidence it was inferred from and how sure that is:

- a port some rule opens to every source: ``public`` (sure);
- a port rules open only to some sources: ``internal``, ``allow_from``
  those sources (sure);
- a port bound to loopback: ``private`` (sure);
- a port Docker publishes and nothing filters: ``public``, ``publish: dnat``
  (likely);
- a port open only because no firewall runs or the input policy accepts
  everything: ``public`` for SSH and nginx's web ports; otherwise
  ``internal``, open to the clients seen during the sampling window (none:
  closed, a stray listener) (guess);
- a port the firewall closes today: ``internal`` with nobody allowed (sure);
- a port whose firewall could not be read: ``internal``, marked UNKNOWN;
- every connection seen to a service of another inventory host: a
  ``connects_to`` that host's service on the client; to an address outside
  the inventory: a ``connects_to`` ``to`` it; from outside to an internal
  service: that address in ``allow_from``;
- hosts that reach each other on addresses the inventory does not give
  (a private network, the inventory holding the management address):
  those addresses (as discover read them on each host) are the host's,
  and the draft gives the host ``portcullis_address`` with them, which the
  firewall's rules need;
- nginx's server blocks: the backend service a location proxies to gets the
  block's name as ``domain``, the location as ``path``, its other names as
  ``aliases`` and the names that only redirect to it as ``redirect_from``.

Ports in a named range of the policy (not the IANA blocks) get that
``range``. Each draft is validated by the registry model before it is
returned. Who may reach what after enforcement is never decided here: the
check asks the plan (``_reachability_plan.flow_verdict``).

The flows that work today are those seen (``observed``) and those probed:
``probe_flows`` gives each host the other hosts' discovered listeners for
the reachability module to try (bounded by ``PROBE_MAX``), ``probed`` reads
its answers (a connect is a flow, refused or filtered is none, anything
else unknown; for UDP silence is unknown too). What the probes could not
tell is never taken as closed: ``unproven`` makes each such flow that
today's firewall lets through a flow that may work, so the check names it
when the registry would refuse it. ``judge`` and ``cuts`` hold them against
a plan; ``accepted`` marks the cuts the user accepts by name, and
``accepted_all`` refuses a name that matches no cut. ``draft_map`` is the port map of
the plan with the drafts in place (``draft_plan``) beside the live state.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.portcullis.ports.plugins.module_utils.audit import _reachability
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver
from ansible_collections.portcullis.ports.plugins.plugin_utils import _audit
from ansible_collections.portcullis.ports.plugins.plugin_utils import _inventory
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan
from ansible_collections.portcullis.ports.plugins.plugin_utils import _reachability_plan

# Listeners on loopback from here up are ephemeral (a runtime's helper socket that moves at each start): not drafted.
EPHEMERAL_FROM = 32768
IANA_RANGES = ("well_known", "registered", "dynamic")
RUNTIME_PROXIES = ("docker-proxy", "rootlessport", "conmon", "slirp4netns", "pasta")
WEB_PORTS = {80: "http", 443: "https"}
SURE, LIKELY, GUESS, UNKNOWN = "sure", "likely", "guess", "UNKNOWN (review)"
DISCOVER_KEYS = ("services", "connections", "ssh", "nginx", "unknown")


class AdoptError(ValueError):
    """Input the adoption cannot use, named."""


def _check_discovered(discovered):
    if not isinstance(discovered, dict):
        raise AdoptError("discovered must map each host to what portcullis.ports.discover returned, got %s"
                         % type(discovered).__name__)
    for host, found in discovered.items():
        if not isinstance(found, dict) or any(key not in found for key in DISCOVER_KEYS):
            missing = [key for key in DISCOVER_KEYS if not isinstance(found, dict) or key not in found]
            raise AdoptError("discovered[%r] is not a result of portcullis.ports.discover (missing %s)"
                             % (host, ", ".join(missing)))


def _safe_name(text):
    cleaned = "".join(char if char.isascii() and (char.isalnum() or char in "_.-") else "-" for char in text)
    cleaned = cleaned.strip("-_.") or "service"
    return cleaned[:100]


def _range_of(start, end, policy):
    for name, (low, high) in sorted(policy.items(), key=lambda item: (item[1][1] - item[1][0], item[0])):
        if name not in IANA_RANGES and low <= start and end <= high:
            return name
    return None


def _is_loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _covered(address, sources):
    ip = ipaddress.ip_address(address)
    for source in sources:
        try:
            network = ipaddress.ip_network(source, strict=False)
        except ValueError:
            continue
        if network.version == ip.version and ip in network:
            return True
    return False


class _Owners:
    """Whose an address is: the inventory's (the plan), else the host's on which discover read it (``ip
    address``). Hosts often reach each other on addresses the inventory does not give (a private network, the
    inventory holding the management address): those are theirs too. An address read on more than one host
    (Docker's 172.17.0.1 on every Docker host) is nobody's; loopback and link-local ones are left out."""

    def __init__(self, plan, discovered=None):
        self.plan = plan
        hosts = {}
        for host in sorted(discovered or {}):
            for text in (discovered[host] or {}).get("addresses") or []:
                try:
                    address = ipaddress.ip_address(text)
                except ValueError:
                    continue
                if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
                    continue
                hosts.setdefault(address, set()).add(host)
        self.read = dict((address, found.pop()) for address, found in hosts.items() if len(found) == 1)

    def __call__(self, address):
        return self.plan.owner_of(address) or self.read.get(address)

    def unknown_to_inventory(self, address):
        """Whether ``address`` is a host's that the inventory does not give for it."""
        return self.plan.owner_of(address) is None and address in self.read


class _Draft:
    """One host's draft: ``entries`` (registry entries, in order) and the ``notes`` (evidence lines) of each."""

    def __init__(self, host, found):
        self.host = host
        self.found = found
        self.entries = []
        self.notes = {}
        self.header = []
        self.links = {}  # entry name -> {connects_to item key: evidence}
        self.addresses = {}  # an address of this host the inventory does not give -> a flow seen on it
        self.pids = {}  # entry name -> the pids of its listening sockets

    def entry(self, name):
        return next((entry for entry in self.entries if entry["name"] == name), None)

    def add(self, entry, notes):
        base = entry["name"]
        count = 2
        while self.entry(entry["name"]) is not None:
            entry["name"] = "%s-%d" % (base, count)
            count += 1
        self.entries.append(entry)
        self.notes[entry["name"]] = list(notes)
        return entry

    def serving(self, protocol, port):
        for entry in self.entries:
            if "port" not in entry:
                continue
            start, end = (int(part) for part in (str(entry["port"]).split("-") + [str(entry["port"])])[:2])
            if entry.get("protocol", "tcp") == protocol and start <= port <= end:
                return entry
        return None


def _service_entry(draft, service, policy):
    """The entry of one discovered service and its evidence, or None (skipped, said in the header)."""
    processes = [name for name in service["processes"] if name]
    ports = str(service["port"]) if service["end"] == service["port"] else "%d-%d" % (service["port"], service["end"])
    where = "%s/%s" % (", ".join(("[%s]:%s" if ":" in address else "%s:%s") % (address, ports)
                                 for address in service.get("addresses") or [service["bind"]]), service["protocol"])
    if service["publish"] == "host" and service["port"] >= EPHEMERAL_FROM and _is_loopback(service["bind"]):
        draft.header.append("not drafted: %s on %s (an ephemeral port on loopback, moves at each start)"
                            % (", ".join(processes) or "a process", where))
        return None
    ssh_ports = draft.found["ssh"].get("ports") or []
    container = service.get("container")
    if container:
        name = _safe_name(container["name"])
        what = "%s container %s (%s) publishes %s -> %d" % (container["runtime"], container["name"],
                                                            container["image"], where, container["port"])
    elif service["protocol"] == "tcp" and service["port"] in ssh_ports and "sshd" in processes:
        name = "ssh"
        what = "sshd listens on %s" % where
    elif "nginx" in processes and service["protocol"] == "tcp" and service["port"] in WEB_PORTS:
        name = WEB_PORTS[service["port"]]
        what = "nginx listens on %s" % where
    else:
        name = _safe_name("%s-%d" % (processes[0] if processes else "port", service["port"]))
        what = "%s listens on %s" % (", ".join(processes) or "a process not visible here", where)
    if service["protocol"] == "udp" and draft.entry(name) is not None:
        name += "-udp"
    entry = {"name": name, "port": service["port"] if service["end"] == service["port"]
             else "%d-%d" % (service["port"], service["end"])}
    if service["protocol"] != "tcp":
        entry["protocol"] = service["protocol"]
    exposure = service["exposure"]
    state = exposure["state"]
    web = name in ("ssh", "http", "https")
    if state == "private":
        entry["expose"], sure, why = "private", SURE, "loopback only"
    elif state == "open" and not exposure.get("by_policy"):
        entry["expose"], sure, why = "public", (LIKELY if container else SURE), "open to every source"
    elif state == "some":
        entry["expose"], sure, why = "internal", SURE, "open only to %s" % ", ".join(exposure["sources"])
        entry["allow_from"] = list(exposure["sources"])
    elif state in ("open", "none") and web:
        entry["expose"], sure, why = "public", GUESS, "open today only because nothing filters it; kept open (%s)" % name
    elif state in ("open", "none"):
        entry["expose"], sure, why = "internal", GUESS, ("open today only because nothing filters it: drafted closed "
                                                         "but to the clients seen")
    elif state == "closed":
        entry["expose"], sure, why = "internal", SURE, "closed by the firewall today"
    else:
        entry["expose"], sure, why = "internal", UNKNOWN, "the firewall's answer is not known: drafted closed"
    refused = exposure.get("refused") or []
    if refused and entry["expose"] in ("public", "internal") and state in ("open", "some"):
        # A drop today for sources the opening rule (or policy) would let in: the registry's allow_from cannot
        # say "but not these", so the enforced port lets them in. Said, and never [sure].
        sure = GUESS if sure == GUESS else LIKELY
        why += "; but refused today from %s by a drop the registry cannot state: enforced, they reach it too" \
            % ", ".join(refused)
        draft.header.append("wider once enforced: %s port %s/%s is refused today from %s (a drop before the rule "
                            "that opens it); the registry opens it to them too - keep such bans in fail2ban or "
                            "narrow allow_from" % (entry["name"], entry["port"], service["protocol"],
                                                   ", ".join(refused)))
    if entry["expose"] == "internal" and "allow_from" not in entry:
        entry["allow_from"] = []
    if service["bind"] not in ("0.0.0.0",) and not (entry["expose"] == "private" and service["bind"] == "127.0.0.1"):
        entry["bind"] = service["bind"]
    if container:
        entry["publish"] = "dnat"
    elif len(processes) == 1 and processes[0] not in RUNTIME_PROXIES:
        entry["process"] = processes[0]
    found_range = _range_of(service["port"], service["end"], policy)
    if found_range:
        entry["range"] = found_range
    notes = [what, "; ".join(" ".join(why.split()) for why in exposure.get("evidence") or []), "-> %s: %s [%s]" % (entry["expose"], why, sure)]
    added = draft.add(entry, [note for note in notes if note])
    draft.pids[added["name"]] = set(service.get("pids") or ())
    return added


def _nginx(draft, drafts, plan, owners):
    """Domains, paths, aliases and redirects from the host's nginx server blocks onto the backend entries."""
    servers = draft.found.get("nginx") or []
    if not servers:
        return
    redirects = {}
    for server in servers:
        target = (server.get("redirect") or {}).get("target") or ""
        if "://" in target:
            domain = target.split("://", 1)[1].split("/", 1)[0].split("$", 1)[0].split(":", 1)[0].lower()
            redirects.setdefault(domain, []).extend(name for name in server["names"] if name.lower() != domain)
    published = []
    for server in servers:
        if server.get("redirect") or not server["names"]:
            continue
        domain = server["names"][0].lower()
        for location in server["locations"]:
            if location["match"] != "prefix" or not location["path"].endswith("/") or not location["upstreams"]:
                if location["proxy_pass"]:
                    draft.header.append("nginx %s location %s %s -> %s: not drafted (not a prefix path ending in /, "
                                        "or an upstream not known)" % (domain, location["match"], location["path"],
                                                                       location["proxy_pass"]))
                continue
            host_part, _sep, port = location["upstreams"][0].rpartition(":")
            host_part = host_part.strip("[]")
            if not port.isdigit():
                continue
            owner = draft.host if _is_loopback(host_part) else (owners(ipaddress.ip_address(host_part))
                                                                if _looks_ip(host_part) else None)
            target = drafts.get(owner)
            entry = target.serving("tcp", int(port)) if target else None
            label = "nginx on %s: %s%s (%s, %s) -> %s" % (draft.host, domain, location["path"],
                                                          "TLS" if server["tls"] else "plain HTTP", server["file"],
                                                          ", ".join(location["upstreams"]))
            if entry is None or "domain" in entry:
                draft.header.append("%s: no entry of %s to put it on" % (label, owner or "the inventory")
                                    if entry is None else "%s: %s already has a domain" % (label, entry["name"]))
                continue
            entry["domain"] = domain
            if location["path"] != "/":
                entry["path"] = location["path"]
            aliases = [name.lower() for name in server["names"][1:]]
            if aliases:
                entry["aliases"] = aliases
            if redirects.get(domain):
                entry["redirect_from"] = sorted(set(name.lower() for name in redirects[domain]))
            target.notes[entry["name"]].append("%s [sure]" % label)
            published.append(domain)
    if published and draft.host not in plan.groups.get(_plan.PROXY_GROUP, []):
        draft.header.append("nginx here serves %s by hand; put %s in the group %s for the nginx_proxy role to take "
                            "these sites over" % (", ".join(sorted(set(published))), draft.host, _plan.PROXY_GROUP))


def _looks_ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _client_entry(draft, process, pids=None):
    """The entry a connection from ``process`` (``pids``: the client's pid and its parents', when discover could
    read them) on the draft's host hangs its connects_to on: the entry of the nearest of those processes that
    listens; without pids, the first entry of that process name. Otherwise a client entry of its own: never another
    process's entry that only shares the name (a stray listener of the same interpreter)."""
    candidates = [entry for entry in draft.entries if entry["name"] != "ssh"]
    if pids:
        for pid in pids:
            owner = next((entry for entry in candidates if pid in draft.pids.get(entry["name"], ())), None)
            if owner is not None:
                return owner
    elif process:
        # A result without pids (written before discover read them): by name, as then.
        named = [entry for entry in candidates if entry.get("process") == process]
        if named:
            return named[0]
    name = _safe_name("%s-client" % process if process else "client")
    entry = draft.entry(name)
    if entry is None:
        entry = draft.add({"name": name}, ["connections from %s%s seen during the sampling window" % (
            process or "a process not visible here",
            " (pid %d), which listens on no port" % pids[0] if pids else "")])
    return entry


def _link(draft, entry, item, evidence):
    links = draft.links.setdefault(entry["name"], {})
    key = json.dumps(item, sort_keys=True)
    if key not in links:
        entry.setdefault("connects_to", []).append(item)
        links[key] = evidence


def _merged_flows(drafts):
    """Each flow once, however many of its ends saw it: ``(flow, evidence, process)``; the process is known only
    on the client's side."""
    merged = {}
    for host, draft in sorted(drafts.items()):
        for flow in draft.found["connections"]:
            key = (flow["client"], flow["server"], flow["port"], flow["protocol"])
            seen = "%s on %s (%s)" % (flow["direction"], host, ", ".join(flow["via"]))
            item = merged.setdefault(key, {"flow": flow, "seen": [], "process": None, "pids": None, "via": set()})
            item["seen"].append(seen)
            item["via"].update(flow["via"])
            if flow["direction"] == "out" and flow.get("process"):
                item["process"] = flow["process"]
                item["pids"] = flow.get("pids")
    return [merged[key] for key in sorted(merged)]


def _probe_echoes(probes):
    """The flows an earlier run only probed (``probes``: the flows kept, ``observed``'s shape): ``{key: vantage}``."""
    if probes is None:
        return {}
    if not isinstance(probes, list):
        raise AdoptError("probed must be the list of flows kept (adopt-flows.json), got %s" % type(probes).__name__)
    seen, probed_only = set(), {}
    for flow in probes:
        if not isinstance(flow, dict):
            raise AdoptError("probed flow %r: expected a mapping with client, server, port" % (flow,))
        key = (flow.get("client"), flow.get("server"), flow.get("port"), flow.get("protocol", "tcp"))
        for evidence in flow.get("seen") or []:
            if evidence.startswith(PROBED % ""):
                probed_only.setdefault(key, evidence)
            else:
                seen.add(key)
    return dict((key, evidence) for key, evidence in probed_only.items() if key not in seen)


def _connections(drafts, owners, probes=None):
    echoes = _probe_echoes(probes)
    for item in _merged_flows(drafts):
        flow = item["flow"]
        client_address = ipaddress.ip_address(flow["client"])
        server_address = ipaddress.ip_address(flow["server"])
        client_host = owners(client_address)
        server_host = owners(server_address)
        key = (flow["client"], flow["server"], flow["port"], flow["protocol"])
        if key in echoes and item["via"] == {"conntrack"}:
            # conntrack keeps a closed connection about two minutes: an earlier run's own probe, not a use.
            noted = drafts.get(client_host) or drafts.get(server_host)
            if noted is not None:
                noted.header.append(
                    "not drafted: %s -> %s:%d/%s, seen only by conntrack, and only %s before (the adoption's own "
                    "probe); if it is in use, add its connects_to by hand (the no-outage check counts it either way)"
                    % (flow["client"], flow["server"], flow["port"], flow["protocol"], echoes[key]))
            continue
        if client_host is not None and client_host == server_host:
            continue
        evidence = "seen %s -> %s:%d/%s: %s" % (flow["client"], flow["server"], flow["port"], flow["protocol"],
                                                "; ".join(item["seen"]))
        if client_host is not None and server_host is not None:
            # between two hosts, on an address the inventory does not give: the rules need it (portcullis_address)
            for host, address in ((client_host, client_address), (server_host, server_address)):
                if host in drafts and owners.unknown_to_inventory(address):
                    drafts[host].addresses.setdefault(str(address), evidence)
        server_draft = drafts.get(server_host)
        service = server_draft.serving(flow["protocol"], flow["port"]) if server_draft else None
        if client_host is None:
            # from outside the inventory
            if service is not None and service.get("expose") == "internal" and \
                    not _covered(flow["client"], service.get("allow_from", [])):
                service["allow_from"].append(str(ipaddress.ip_network(client_address)))
                server_draft.notes[service["name"]].append("%s: its client added to allow_from [seen]" % evidence)
            continue
        client_draft = drafts.get(client_host)
        if client_draft is None:
            continue  # a client of the inventory not discovered: its own adoption adds the flow
        if server_host is None:
            entry = _client_entry(client_draft, item["process"], item["pids"])
            _link(client_draft, entry, {"to": str(server_address), "port": flow["port"],
                                        "protocol": flow["protocol"]}, evidence + ", outside the inventory")
            continue
        if service is None:
            client_draft.header.append("%s: %s declares no entry on port %d, no connects_to drafted"
                                       % (evidence, server_host, flow["port"]))
            continue
        entry = _client_entry(client_draft, item["process"], item["pids"])
        _link(client_draft, entry, {"host": server_host, "service": service["name"]}, evidence)


def draft(plan, discovered, policy=None, probes=None):
    """``{host: {"entries", "notes", "header", "links"}}`` for each host of
    ``discovered`` (host -> discover result). ``probes`` are the flows an
    earlier run kept (adopt-flows.json): a connection seen only by conntrack
    that an earlier run only probed is that probe, not a use, and is left
    out (said in a header). Raises AdoptError naming a bad input, or naming
    the entry the registry model refuses."""
    _check_discovered(discovered)
    try:
        full_policy = resolver.build_policy(policy or {})
    except resolver.PortSpecError as error:
        raise AdoptError("policy: %s" % error)
    drafts = {}
    owners = _Owners(plan, discovered)
    for host in sorted(discovered):
        plan.host(host, "discovered host")
        drafts[host] = _Draft(host, discovered[host])
        for service in discovered[host]["services"]:
            _service_entry(drafts[host], service, full_policy)
    _connections(drafts, owners, probes)
    for host in sorted(drafts):
        _nginx(drafts[host], drafts, plan, owners)
    result = {}
    for host, found in sorted(drafts.items()):
        try:
            _registry.validate(found.entries, full_policy)
        except _registry.RegistryError as error:
            raise AdoptError("the draft of %s is not a valid registry (a fault of the draft, please report it): %s"
                             % (host, "; ".join(error.errors)))
        addresses = []
        if found.addresses:
            addresses = [str(network.network_address) if network.num_addresses == 1 else str(network)
                         for network in plan.hosts[host].networks]
            addresses += [address for address in sorted(found.addresses) if address not in addresses]
        result[host] = {"entries": found.entries, "notes": found.notes, "header": found.header,
                        "addresses": addresses, "address_notes": dict(found.addresses),
                        "links": found.links, "unknown": [item["message"] for item in found.found["unknown"]]}
    return result


KEY_ORDER = tuple(_registry.KEY_NAMES)


def _line(text):
    """One comment line: a message that spans lines (a tool's error output) is joined."""
    return " ".join(str(text).split())


def render(host, drafted, window=None):
    """The text of ``host_vars/HOST.yml``: the entries in the registry's
    format, each after its evidence as comments."""
    lines = ["---",
             "# Drafted by portcullis.ports (playbooks/adopt.yml) from what %s does today%s." % (
                 host, ", connections sampled over %s s" % window if window else ""),
             "# Each entry says what it was inferred from and how sure that is (sure, likely, guess, UNKNOWN).",
             "# Review it before enforcing: site.yml makes the network do what this file says."]
    for message in drafted.get("unknown", []):
        lines.append("# not known: %s" % _line(message))
    for note in drafted["header"]:
        lines.append("# %s" % _line(note))
    if drafted.get("addresses"):
        lines.append("# %s is also reached on, or connects from, addresses the inventory does not give for it, and the "
                     "firewall's rules need them: %s [sure]" % (host, "; ".join(
                         "%s (%s)" % (address, _line(drafted["address_notes"][address]))
                         for address in sorted(drafted.get("address_notes", {})))))
        lines.append("portcullis_address: %s" % json.dumps(drafted["addresses"]))
    lines.append("portcullis_services:")
    for entry in drafted["entries"]:
        for note in drafted["notes"].get(entry["name"], []):
            lines.append("  # %s" % _line(note))
        first = True
        for key in KEY_ORDER:
            if key not in entry:
                continue
            prefix = "  - " if first else "    "
            first = False
            if key == "connects_to":
                lines.append("%sconnects_to:" % prefix)
                links = drafted["links"].get(entry["name"], {})
                for item in entry[key]:
                    lines.append("      - %s  # %s" % (json.dumps(item, sort_keys=True), _line(links.get(
                        json.dumps(item, sort_keys=True), ""))))
            else:
                lines.append("%s%s: %s" % (prefix, key, json.dumps(entry[key])))
    return "\n".join(lines) + "\n"


def observed(discovered, probes=None):
    """The flows seen working, from every host's connections: ``[{client, server, port, protocol, seen}]``
    (addresses as text), one per flow. With ``probes`` (the flows kept by an earlier run), a flow seen only by
    conntrack that the earlier run only probed is that probe's echo, and is left out."""
    _check_discovered(discovered)
    echoes = _probe_echoes(probes)
    flows = {}
    via = {}
    for host in sorted(discovered):
        for flow in discovered[host]["connections"]:
            key = (flow["client"], flow["server"], flow["port"], flow["protocol"])
            seen = "%s on %s (%s)" % ("in" if flow["direction"] == "in" else "out", host, ", ".join(flow["via"]))
            flows.setdefault(key, []).append(seen)
            via.setdefault(key, set()).update(flow["via"])
    return [{"client": key[0], "server": key[1], "port": key[2], "protocol": key[3], "seen": flows[key]}
            for key in sorted(flows, key=lambda key: (key[1], key[2], key[0]))
            if not (key in echoes and via[key] == {"conntrack"})]


def _one_per_flow(flows):
    """The same flow seen in several runs (the flows kept, those seen now) once, its evidence joined."""
    merged = {}
    for flow in flows:
        if not isinstance(flow, dict):
            raise AdoptError("observed flow %r: expected a mapping with client, server, port" % (flow,))
        key = (flow.get("client"), flow.get("server"), flow.get("port"), flow.get("protocol", "tcp"))
        if key not in merged:
            merged[key] = dict(flow, seen=list(flow.get("seen") or []))
            continue
        for seen in flow.get("seen") or []:
            if seen not in merged[key]["seen"]:
                merged[key]["seen"].append(seen)
    return [merged[key] for key in merged]


def judge(plan, flows, discovered=None):
    """Every flow of ``flows`` (``observed``'s shape, the probed ones too),
    once, with what the plan's rules do to it: ``{client, client_host, host,
    address, port, protocol, evidence, verdict, reason}``, ``verdict`` one of
    ``kept`` (the rules let it through), ``cut`` (they refuse it),
    ``not enforced`` (into, or out of, a host without a registry) and
    ``local`` (loopback, or a host's flow to itself: stays on the host).
    With ``discovered``, an address the inventory does not give is the
    host's on which discover read it (``_Owners``); each verdict is asked
    for the flow's own client address, so a flow from an address the
    registry does not know is cut, as the firewall would."""
    if not isinstance(flows, list):
        raise AdoptError("flows must be a list of observed flows, got %s" % type(flows).__name__)
    judged = []
    owners = _Owners(plan, discovered)
    for flow in _one_per_flow(flows):
        try:
            client = ipaddress.ip_address(flow["client"])
            server = ipaddress.ip_address(flow["server"])
            port = int(flow["port"])
            protocol = flow.get("protocol", "tcp")
        except (KeyError, TypeError, ValueError) as error:
            raise AdoptError("observed flow %r: %s" % (flow, error))
        client_host = owners(client)
        server_host = owners(server)
        item = {"client": str(client), "client_host": client_host, "host": server_host, "address": str(server),
                "port": port, "protocol": protocol, "evidence": "; ".join(flow.get("seen") or [])}
        if client.is_loopback or server.is_loopback or (client_host is not None and client_host == server_host):
            judged.append(dict(item, verdict="local", reason="stays on the host"))
            continue
        if server_host is None:
            if client_host is None or not plan.hosts[client_host].registry:
                judged.append(dict(item, verdict="not enforced", reason="no registry at either end"))
                continue
            accepted_, reason = _reachability_plan.leaves_verdict(plan, client_host, str(server), port, protocol,
                                                                  source=str(client))
        elif not plan.hosts[server_host].registry:
            judged.append(dict(item, verdict="not enforced", reason="%s has no registry" % server_host))
            continue
        else:
            accepted_, reason = _reachability_plan.flow_verdict(plan, client_host or str(client), server_host,
                                                                str(server), port, protocol, source=str(client))
        judged.append(dict(item, verdict="kept" if accepted_ else "cut", reason=reason))
    return judged


def cuts(plan, flows, discovered=None):
    """Every flow of ``flows`` (``observed``'s shape) the plan's rules would
    refuse: ``{client, client_host, host, address, port, protocol, evidence,
    reason}``. A flow into a host without a registry is not enforced there:
    kept. Loopback and a host's flows to itself stay on the host."""
    return [dict((key, value) for key, value in item.items() if key != "verdict")
            for item in judge(plan, flows, discovered) if item["verdict"] == "cut"]


def cut_text(cut):
    """One line naming a cut flow: source, destination, port, evidence, why."""
    source = "%s (%s)" % (cut["client_host"], cut["client"]) if cut["client_host"] else cut["client"]
    target = "%s (%s)" % (cut["host"], cut["address"]) if cut["host"] else cut["address"]
    return "%s -> %s port %d/%s (evidence: %s): the draft would refuse it: %s [accept as %s]" % (
        source, target, cut["port"], cut["protocol"], cut["evidence"], cut["reason"], cut_key(cut))


# -- the flows that work today, probed --------------------------------------------------------------------------

# The evidence of a flow found working by a probe, as its "seen" item.
PROBED = "probed from %s"
# The evidence of a flow no probe could tell, that today's firewall lets through: it may work.
UNPROVEN = "not provable from %s"
# The most probes one vantage sends by default (portcullis_adopt_probe_max): more stop the run before any is sent.
PROBE_MAX = 500
WILDCARDS = {"0.0.0.0": (4,), "::": (4, 6)}


def _probeable(flow):
    """Whether the reachability module sends a probe for ``flow`` (TCP; UDP only where a request gets a reply)."""
    return flow["probe"] and (flow["protocol"] == "tcp" or flow["port"] in _reachability.UDP_PROBES)


def probe_flows(plan, discovered, vantage, max_probes=PROBE_MAX):
    """The flows ``vantage`` (an inventory host) tries, for the reachability
    module: every port another discovered host listens on or publishes,
    at each of that host's inventory addresses the listener covers (a
    wildcard bind covers its family's, ``::`` both), expected open. A range
    gives its first and last port. Listeners on loopback give no flow (no
    other host can use them); one bound to an address the inventory does not
    give for its host, or of a family the vantage lacks, gives a flow with
    ``probe: false`` whose ``why`` says so, reported unknown. Raises
    AdoptError when more than ``max_probes`` probes would be sent."""
    _check_discovered(discovered)
    plan.host(vantage, "vantage")
    families = set(address.version for address in plan.hosts[vantage].addresses)
    if not families:
        raise AdoptError("vantage %s: no address of it is known to the inventory, so its probes cannot be told "
                         "apart; set portcullis_address or ansible_host" % vantage)
    flows = {}

    def add(host, address, port, protocol, why, probe=True):
        key = (str(address), port, protocol)
        if key not in flows:
            flows[key] = {"host": host, "address": str(address), "port": port, "protocol": protocol,
                          "expect": "open", "why": "%s:%d/%s %s" % (host, port, protocol, why),
                          "kind": "discovered", "probe": probe}

    for host in sorted(discovered):
        if host == vantage:
            continue
        plan.host(host, "discovered host")
        own = plan.hosts[host].addresses
        for service in discovered[host]["services"]:
            what = "%s (discovered)" % (", ".join(name for name in service["processes"] if name)
                                        or ("container %s" % service["container"]["name"] if service.get("container")
                                            else "a process not visible here"))
            ports = [service["port"]] if service["end"] == service["port"] else [service["port"], service["end"]]
            binds = service.get("addresses") or [service["bind"]]
            targets, elsewhere = [], []
            for bind in binds:
                if bind in WILDCARDS:
                    targets += [address for address in own if address.version in WILDCARDS[bind]]
                elif _is_loopback(bind):
                    continue
                elif _looks_ip(bind) and ipaddress.ip_address(bind) in own:
                    targets.append(ipaddress.ip_address(bind))
                else:
                    elsewhere.append(bind)
            for address in sorted(set(targets), key=lambda item: (item.version, item)):
                for port in ports:
                    if address.version in families:
                        add(host, address, port, service["protocol"], what)
                    else:
                        add(host, address, port, service["protocol"], "%s: %s has no IPv%d address, not probed"
                            % (what, vantage, address.version), probe=False)
            for bind in elsewhere:
                # Not probed; the module still checks the address, so one that is not an IP is named in why only.
                where = bind if _looks_ip(bind) or not own else str(own[0])
                for port in ports:
                    add(host, where, port, service["protocol"], "%s: bound to %s, not an address of %s in the "
                        "inventory, not probed" % (what, bind, host), probe=False)
    result = [flows[key] for key in sorted(flows, key=lambda key: (flows[key]["host"], key[1], key[2], key[0]))]
    count = len([flow for flow in result if _probeable(flow)])
    if count > max_probes:
        raise AdoptError("%s would send %d probes (every port the other hosts listen on), more than the bound of %d: "
                         "raise portcullis_adopt_probe_max, or set portcullis_adopt_probe=false (the flows that "
                         "work are then only those seen)" % (vantage, count, max_probes))
    return result


def _drop_prefix(text, prefix):
    return text[len(prefix):] if text.startswith(prefix) else text


def probed(plan, results):
    """The flows found working by the probes of each vantage (``results``:
    vantage host -> the reachability module's result) in ``observed``'s
    shape, with ``probed from VANTAGE`` as evidence and the vantage's
    inventory address as client; and what could not be probed, unknown:
    ``{"flows": [...], "unknown": [{client_host, host, address, port,
    protocol, result, text}], "counts": {...}}``. A TCP port refused or
    filtered does not work today: no flow; nor a UDP port refused (an ICMP
    port unreachable). An error, a UDP probe met by silence (dropped, or a
    service that does not answer that request: silence proves nothing), a
    flow not probed (UDP without a known request, an address outside the
    inventory) and a vantage without a result are unknown, never closed."""
    if not isinstance(results, dict):
        raise AdoptError("probes must map each vantage host to its reachability result, got %s"
                         % type(results).__name__)
    flows, unknown = [], []
    counts = {"probed": 0, "open": 0, "closed": 0, "unknown": 0}
    for vantage in sorted(results):
        plan.host(vantage, "vantage")
        result = results[vantage]
        if not isinstance(result, dict) or result.get("skipped"):
            continue  # probing switched off for this host: said by the caller
        if result.get("failed") or not isinstance(result.get("flows"), list):
            unknown.append({"client_host": vantage, "host": None, "address": None, "port": None, "protocol": None,
                            "result": "error",
                            "text": "%s: no probe was made (%s): every flow from it is unknown"
                                    % (vantage, " ".join(str(result.get("msg") or "no result").split()))})
            counts["unknown"] += 1
            continue
        sources = plan.hosts[vantage].addresses
        for item in result["flows"]:
            if not isinstance(item, dict) or any(key not in item for key in ("address", "port", "protocol", "result")):
                raise AdoptError("probes[%r]: %r is not a flow of the reachability module's result" % (vantage, item))
            answer = item["result"]
            if answer in ("open", "refused", "filtered", "error"):
                counts["probed"] += 1
            if answer == "open":
                server = ipaddress.ip_address(item["address"])
                client = next((address for address in sources if address.version == server.version), None)
                flows.append({"client": str(client), "server": str(server), "port": int(item["port"]),
                              "protocol": item["protocol"], "seen": [PROBED % vantage]})
                counts["open"] += 1
            elif answer == "refused" or (answer == "filtered" and item["protocol"] == "tcp"):
                counts["closed"] += 1
            else:
                counts["unknown"] += 1
                unknown.append({"client_host": vantage, "host": item.get("host"), "address": item["address"],
                                "port": item["port"], "protocol": item["protocol"], "result": answer,
                                "text": "%s -> %s (%s) port %s/%s: unknown, %s (%s)%s" % (
                                    vantage, item.get("host") or item["address"], item["address"], item["port"],
                                    item["protocol"], answer.replace("_", " "),
                                    _drop_prefix(item.get("detail") or "", "not probed: "),
                                    " [%s]" % item["why"] if item.get("why") else "")})
    return {"flows": flows, "unknown": unknown, "counts": counts}


def _today(found, protocol, port, client):
    """What today's firewall on a discovered host does to ``client`` reaching ``port``: its evidence when it may let
    it through, None when it refuses it (closed, loopback only, open only to other sources)."""
    for item in found["services"]:
        if item["protocol"] != protocol or not item["port"] <= port <= item["end"]:
            continue
        exposure = item.get("exposure") or {}
        state = exposure.get("state")
        if state in ("closed", "private") or (state == "some" and not _covered(str(client), exposure["sources"])):
            return None
        return "; ".join(" ".join(why.split()) for why in exposure.get("evidence") or []) or state or "not known"
    return "no listener of it was read"


UNPROVEN_WHY = {
    "not_probed": "no probe can tell",
    "filtered": "no reply to the probe, which proves nothing for UDP",
    "error": "the probe failed",
    "unreachable": "the probe got no answer it could read",
}


def unproven(plan, discovered, unknown):
    """The flows the probes could not tell (``probed``'s ``unknown``: a UDP
    port no request is known to get a reply from, a UDP probe met by
    silence, a probe that failed) that today's firewall on the server, as
    discover read it, lets through: flows that may work, in ``observed``'s
    shape, the evidence ``not provable from VANTAGE (why, today: ...)``.
    The check counts them with the flows that work, so a registry that
    would refuse one stops the run naming it, never passes it as fine. A
    flow today's firewall already refuses, or to an address that is not the
    server's in the inventory, gives none."""
    _check_discovered(discovered)
    if not isinstance(unknown, list):
        raise AdoptError("unknown must be the list of probes not made (adoption_probed's unknown), got %s"
                         % type(unknown).__name__)
    flows = []
    owners = _Owners(plan, discovered)
    for item in unknown:
        if not isinstance(item, dict):
            raise AdoptError("unknown probe %r: expected a mapping as adoption_probed gives them" % (item,))
        vantage, host, port = item.get("client_host"), item.get("host"), item.get("port")
        if vantage not in plan.hosts or host not in discovered or port is None or not item.get("address"):
            continue
        try:
            server = ipaddress.ip_address(item["address"])
        except ValueError:
            continue
        if owners(server) != host:
            continue
        client = next((address for address in plan.hosts[vantage].addresses if address.version == server.version),
                      None)
        protocol = item.get("protocol") or "tcp"
        today = _today(discovered[host], protocol, int(port), client) if client is not None else None
        if today is None:
            continue
        why = UNPROVEN_WHY.get(item.get("result"), "the probe could not tell")
        if protocol == "udp" and item.get("result") == "not_probed":
            why = "UDP, %s" % why
        flows.append({"client": str(client), "server": str(server), "port": int(port), "protocol": protocol,
                      "seen": ["%s (%s, today: %s)" % (UNPROVEN % vantage, why, today.replace("; ", ", "))]})
    return flows


# -- accepting cuts ----------------------------------------------------------------------------------------------

def check_registries(hostvars, hosts):
    """The check of a run in which no host of ``hosts`` has a registry judges nothing: every flow would be "not
    enforced". Raises AdoptError saying where the drafts are read from."""
    if hosts and not any(_inventory.REGISTRY_VARIABLE in hostvars[host] for host in hosts if host in hostvars):
        raise AdoptError("no host of this run has a registry (%s), so nothing would be checked nor enforced: Ansible "
                         "reads host_vars/HOST.yml beside the inventory file (or the playbook) only, so drafts "
                         "written for an inventory given inline (-i host1,host2,) are not read - write that "
                         "inventory to a file in the directory of the drafts and pass it with -i"
                         % _inventory.REGISTRY_VARIABLE)


def _accept_items(accept):
    """``accept`` (true, false, or a list of ``[CLIENT->]SERVER:PORT[/PROTOCOL]``) to ``True``, or a list of
    ``(client, server, port, protocol)`` with None for any client."""
    if isinstance(accept, bool):
        return accept
    if accept is None or accept == "":
        return False
    if isinstance(accept, str) and accept.strip().lower() in BOOLEANS_TRUE | BOOLEANS_FALSE:
        # -e portcullis_adopt_accept_cuts=true gives the text "true": Ansible's own words for yes and no.
        return accept.strip().lower() in BOOLEANS_TRUE
    if isinstance(accept, str):
        accept = [accept]
    if not isinstance(accept, (list, tuple)):
        raise AdoptError("accept must be true, false or a list of cuts as [CLIENT->]SERVER:PORT[/PROTOCOL], got %r"
                         % (accept,))
    items = []
    for text in accept:
        original = text
        if not isinstance(text, str):
            raise AdoptError("accepted cut %r: expected [CLIENT->]SERVER:PORT[/PROTOCOL], e.g. db:6100/tcp or "
                             "web->db:5432" % (text,))
        client, _sep, rest = text.strip().rpartition("->")
        rest, _sep, protocol = rest.partition("/")
        server, _sep, port = rest.rpartition(":")
        protocol = protocol or "tcp"
        if not server or not port.isdigit() or not 1 <= int(port) <= 65535 or protocol not in ("tcp", "udp"):
            raise AdoptError("accepted cut %r: expected [CLIENT->]SERVER:PORT[/PROTOCOL] with a port from 1 to 65535 "
                             "and tcp or udp, e.g. db:6100/tcp or web->db:5432" % (original,))
        items.append((client.strip() or None, server.strip().strip("[]"), int(port), protocol))
    return items


def _matches(cut, item):
    client, server, port, protocol = item
    if (port, protocol) != (cut["port"], cut["protocol"]):
        return False
    if server not in (cut["host"], cut["address"]):
        return False
    return client is None or client in (cut["client_host"], cut["client"])


def accepted(found, accept):
    """Each cut of ``found`` with ``accepted`` (whether ``accept`` names it,
    or is true), and the items of ``accept`` that match no cut. Raises
    AdoptError naming an item that is not a cut's name."""
    items = _accept_items(accept)
    marked = []
    used = set()
    for cut in found:
        if items is True or items is False:
            marked.append(dict(cut, accepted=items))
            continue
        hits = [index for index, item in enumerate(items) if _matches(cut, item)]
        used.update(hits)
        marked.append(dict(cut, accepted=bool(hits)))
    unused = [] if isinstance(items, bool) else [
        accept_text(item) for index, item in enumerate(items) if index not in used]
    return marked, unused


def accepted_all(found, accept):
    """``accepted``, but a name of ``accept`` that matches no cut is an
    error naming it and the names of the cuts there are: a typo or a stale
    name means the reviewer accepted something else than this run found."""
    marked, unused = accepted(found, accept)
    if unused:
        raise AdoptError("accepted cut(s) that match no cut of this run: %s (a typo, or a flow that no longer works "
                         "or is no longer cut); the cuts of this run: %s; nothing was enforced"
                         % (", ".join(unused), ", ".join(sorted(set(cut_key(cut) for cut in found))) or "none"))
    return marked


def accept_text(item):
    client, server, port, protocol = item
    return "%s%s:%d/%s" % ("%s->" % client if client else "", server, port, protocol)


def cut_key(cut):
    """How a cut is accepted by name: ``CLIENT->SERVER:PORT/PROTOCOL`` (hosts by name when in the inventory)."""
    return accept_text((cut["client_host"] or cut["client"], cut["host"] or cut["address"], cut["port"],
                        cut["protocol"]))


# -- the port map of the draft, beside the live state ----------------------------------------------------------

def draft_plan(inputs, drafted):
    """The plan of the inventory (``inputs`` as ``_inventory.read`` gives
    them) with each drafted host's registry replaced by its draft: what the
    network would be once the drafts are in place."""
    inputs = json.loads(json.dumps(inputs))
    for host, found in drafted.items():
        if host not in inputs["hosts"]:
            raise AdoptError("drafted host %s is not in the inventory" % host)
        inputs["hosts"][host][_inventory.REGISTRY_VARIABLE] = json.loads(json.dumps(found["entries"]))
        if found.get("addresses"):
            inputs["hosts"][host][_inventory.ADDRESS_VARIABLE] = list(found["addresses"])
    return _plan.Plan(inputs)


def _client_label(item):
    return "%s (%s)" % (item["client_host"], item["client"]) if item["client_host"] else item["client"]


def _kinds(evidence):
    """What a flow's evidence is made of: seen (a connection), probed (a probe connected), or both."""
    parts = evidence.split("; ") if evidence else []
    found = []
    if any(not part.startswith(PROBED % "") and not part.startswith(UNPROVEN % "") for part in parts):
        found.append("seen")
    if any(part.startswith(PROBED % "") for part in parts):
        found.append("probed")
    if any(part.startswith(UNPROVEN % "") for part in parts):
        found.append("unknown (may work)")
    return ", ".join(found) or "kept from an earlier run"


def _serves(plan, host, row, item):
    """Whether a row of ``host``'s map (a registry entry, or an undeclared listener) is where ``item`` arrives."""
    if item["host"] != host:
        return False
    if row["service"]:
        service = plan.hosts[host].service(row["service"])
        if service is None or not service.listens:
            return False
        return any(start <= item["port"] <= end for start, end in service.ranges.get(item["protocol"], ()))
    return row["port"] == str(item["port"]) and row["protocol"] == item["protocol"]


def draft_map(plan, discovered, drafted, flows, unknown=()):
    """The port map (``_audit.audit``) of ``plan`` (``draft_plan``: the
    drafts in place) with what discover read live on each drafted host
    (listeners, what it could not read), and the adoption beside it: each
    row's ``draft`` (what the entry was inferred from, how sure) and
    ``today`` (each flow that works today into it, its evidence and whether
    the draft keeps or cuts it); ``adoption`` holds every flow judged
    (``judge``), the cuts and the probes that could not be made."""
    live = {}
    for host in sorted(drafted):
        found = discovered[host]
        live[host] = {"listening": found.get("listening"), "conflicts": None,
                      "unknown": [dict(item, check=item.get("check", "discover")) for item in found["unknown"]],
                      "ports": None}
    report = _audit.audit(plan, live)
    judged = judge(plan, list(flows) + unproven(plan, discovered, list(unknown)), discovered)
    for item in judged:
        item["text"] = "%s -> %s port %d/%s (%s: %s): %s%s" % (
            _client_label(item), "%s (%s)" % (item["host"], item["address"]) if item["host"] else item["address"],
            item["port"], item["protocol"], _kinds(item["evidence"]), item["evidence"], item["verdict"],
            ", %s" % item["reason"] if item["verdict"] == "cut" else "")
    for entry in report["hosts"]:
        notes = drafted.get(entry["name"], {}).get("notes", {})
        for row in entry["rows"]:
            inferred = [note for note in notes.get(row["service"], []) if note.startswith("-> ")]
            row["draft"] = inferred[-1][3:] if inferred else ("not drafted" if not row["service"] else "")
            today = [item for item in judged if item["verdict"] != "local" and _serves(plan, entry["name"], row, item)]
            row["today"] = "; ".join("%s %s: %s" % (_client_label(item), _kinds(item["evidence"]),
                                                    "CUT by the draft" if item["verdict"] == "cut" else item["verdict"])
                                     for item in today)
            row["cut"] = any(item["verdict"] == "cut" for item in today)
    found_cuts = [dict(item, key=cut_key(item), text=cut_text(item)) for item in judged if item["verdict"] == "cut"]
    report["adoption"] = {
        "flows": judged,
        "cuts": found_cuts,
        "unknown": list(unknown),
        "hosts": sorted(drafted),
        "header": dict((host, list(drafted[host]["header"])) for host in sorted(drafted)),
    }
    return report
