# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a server that grew by hand does today, read without changing it:
the facts the adoption's registry draft is written from.

- listeners: ``_listening`` (the kernel's socket tables, the process of each);
- ports published by container runtimes and the container behind each:
  ``docker ps`` and ``podman ps`` (JSON), and Docker's DOCKER-USER chain to
  know whether anything filters them;
- the firewall in force: ``_firewall_read`` (ufw, firewalld, nftables,
  iptables), so each listener gets who may reach it, or ``unknown``;
- nginx's server blocks: ``_nginx_read`` on ``nginx -T``;
- the SSH port: ``sshd -T``, else the listener of process sshd;
- connections: the established TCP sockets and connected UDP sockets
  (``/proc/net/{tcp,udp}*``, parsed as ``_listening`` parses the listening
  ones) and, when the conntrack tool is there, the kernel's connection
  tracking table (which also holds the connections DNATed to containers,
  those closed a moment ago and UDP flows whatever their socket), read
  several times over a sampling window. A UDP flow that never got a reply
  (syslog, statsd, SNMP traps: one-way by design) still works: conntrack
  holds an entry only for a packet that passed the firewall's input or
  output, so it counts (``via`` ``conntrack-one-way``) when it left this host
  or reached a listener (or a DNAT) here; a TCP connection never answered
  does not.

What could not be read is listed in ``unknown``, never taken for absent.
Plain Python, no Ansible import; the caller gives ``run`` and ``which``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import os
import time

from ansible_collections.portcullis.ports.plugins.module_utils import _host
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _firewall_read
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _listening
from ansible_collections.portcullis.ports.plugins.module_utils.audit import _nginx_read

TCP_ESTABLISHED = 0x01  # also the state of a connected UDP socket
# Processes that hold a published port for a container runtime (the port belongs to the container).
RUNTIME_PROXIES = ("docker-proxy", "rootlessport", "conmon", "slirp4netns", "pasta")
ESTABLISHED_TABLES = (("tcp", "ipv4", "tcp"), ("tcp6", "ipv6", "tcp"), ("udp", "ipv4", "udp"), ("udp6", "ipv6", "udp"))
# How a UDP flow conntrack holds without a reply is named in ``via``.
ONE_WAY = "conntrack-one-way"


class DiscoverError(ValueError):
    """An argument that cannot be used (named in the message)."""


def check_window(window, samples):
    """The sampling window in seconds and the number of samples, checked."""
    if not isinstance(window, int) or isinstance(window, bool) or window < 0 or window > 3600:
        raise DiscoverError("window %r: expected whole seconds from 0 to 3600" % (window,))
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1 or samples > 600:
        raise DiscoverError("samples %r: expected a count from 1 to 600" % (samples,))
    return window, samples


def _plain(address):
    """An IPv4-mapped IPv6 address as IPv4; any other as is."""
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


# -- containers -----------------------------------------------------------------------------------------------

def _port_span(text):
    start, _sep, end = text.partition("-")
    return int(start), int(end or start)


def parse_docker_ps(text):
    """``docker ps --no-trunc --format '{{json .}}'`` (one object a line) to
    ``[{runtime, name, image, state, ports: [{address, port, end, container_port, protocol}]}]``."""
    containers = []
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        ports = []
        for part in (item.get("Ports") or "").split(","):
            part = part.strip()
            if "->" not in part:
                continue  # exposed, not published
            outside, inside = part.split("->")
            address, _sep, host_ports = outside.rpartition(":")
            container_ports, _sep, protocol = inside.partition("/")
            start, end = _port_span(host_ports)
            ports.append({"address": address.strip("[]") or "0.0.0.0", "port": start, "end": end,
                          "container_port": _port_span(container_ports)[0], "protocol": protocol or "tcp"})
        containers.append({"runtime": "docker", "name": item.get("Names", ""), "image": item.get("Image", ""),
                           "state": item.get("State", ""), "ports": _unique(ports)})
    return containers


def parse_podman_ps(text):
    """``podman ps --format json`` to the same shape as parse_docker_ps."""
    containers = []
    for item in json.loads(text or "[]") or []:
        ports = []
        for port in item.get("Ports") or []:
            count = int(port.get("range") or 1)
            ports.append({"address": port.get("host_ip") or "0.0.0.0", "port": int(port["host_port"]),
                          "end": int(port["host_port"]) + count - 1, "container_port": int(port["container_port"]),
                          "protocol": port.get("protocol") or "tcp"})
        names = item.get("Names") or [""]
        containers.append({"runtime": "podman", "name": names[0], "image": item.get("Image", ""),
                           "state": item.get("State", ""), "ports": _unique(ports)})
    return containers


def _unique(ports):
    seen = []
    for port in ports:
        if port not in seen:
            seen.append(port)
    return seen


def docker_user_filters(saved):
    """Whether Docker's DOCKER-USER chain (where a team filters published
    ports) holds any rule but a plain RETURN; None when the chain is absent."""
    lines = [line for line in saved.splitlines() if line.startswith("-A DOCKER-USER ")]
    if not lines and ":DOCKER-USER" not in saved:
        return None
    return any(line.strip() != "-A DOCKER-USER -j RETURN" for line in lines)


# -- connections ----------------------------------------------------------------------------------------------

def parse_established(text, family, protocol="tcp"):
    """Established TCP sockets (or connected UDP sockets) of one /proc/net table:
    ``[{protocol, local, local_port, remote, remote_port, inode}]``."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or int(fields[3], 16) != TCP_ESTABLISHED:
            continue
        local, local_port = fields[1].split(":")
        remote, remote_port = fields[2].split(":")
        if int(remote_port, 16) == 0:
            continue
        found.append({"protocol": protocol,
                      "local": _plain(_listening._decode_address(local, family)), "local_port": int(local_port, 16),
                      "remote": _plain(_listening._decode_address(remote, family)),
                      "remote_port": int(remote_port, 16), "inode": int(fields[9])})
    return found


def parse_conntrack(text):
    """``conntrack -L`` lines to ``[{protocol, src, dst, sport, dport, reply_src, reply_sport, state, replied}]``;
    TCP entries marked UNREPLIED (a connection that never got an answer: no flow that works) are left out, UDP ones
    are kept with ``replied`` false (one-way UDP: the packets went through, nothing answers by design)."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] not in ("tcp", "udp") or (words[0] == "tcp" and "[UNREPLIED]" in words):
            continue
        pairs = [word.split("=", 1) for word in words if "=" in word]
        values = {}
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        if len(values.get("src", [])) < 2 or "dport" not in values:
            continue
        state = words[3] if words[0] == "tcp" and "=" not in words[3] else None
        if state in ("SYN_SENT", "SYN_RECV"):
            continue
        found.append({"protocol": words[0], "src": _plain(values["src"][0]), "dst": _plain(values["dst"][0]),
                      "sport": int(values["sport"][0]), "dport": int(values["dport"][0]),
                      "reply_src": _plain(values["src"][1]), "reply_sport": int(values["sport"][1]), "state": state,
                      "replied": "[UNREPLIED]" not in words})
    return found


def parse_addresses(text):
    """``ip -j address show`` to the host's addresses (strings)."""
    addresses = []
    for link in json.loads(text or "[]"):
        for info in link.get("addr_info") or []:
            if info.get("local") and info.get("family") in ("inet", "inet6"):
                addresses.append(_plain(info["local"]))
    return addresses


def _is_loopback(address):
    return ipaddress.ip_address(address).is_loopback


def classify(sockets, tracked, local_addresses, listeners):
    """Connections as flows: ``{direction, protocol, client, server, port, via, to}``.

    ``in``: a client reached a port of this host (one of its listeners, or a
    DNAT to a container: ``to`` says where); ``out``: this host reached
    ``server:port``. Loopback connections stay on the host: left out. A UDP
    flow conntrack holds without a reply counts (``via`` ``conntrack-one-way``)
    out of this host, and into it only to a UDP listener or a DNAT (else the
    packet found nobody)."""
    local = set(local_addresses)
    listening = set((item["protocol"], item["port"]) for item in listeners)
    flows = []

    def add(flow):
        if flow not in flows:
            flows.append(flow)

    for item in sockets:
        if _is_loopback(item["local"]) or _is_loopback(item["remote"]):
            continue
        local.add(item["local"])
        protocol = item.get("protocol", "tcp")
        if (protocol, item["local_port"]) in listening:
            add({"direction": "in", "protocol": protocol, "client": item["remote"], "server": item["local"],
                 "port": item["local_port"], "via": "socket", "to": None, "inode": item["inode"]})
        else:
            add({"direction": "out", "protocol": protocol, "client": item["local"], "server": item["remote"],
                 "port": item["remote_port"], "via": "socket", "to": None, "inode": item["inode"]})
    for item in tracked:
        if _is_loopback(item["src"]) or _is_loopback(item["dst"]):
            continue
        nat = item["reply_src"] != item["dst"] or item["reply_sport"] != item["dport"]
        via = "conntrack" if item.get("replied", True) else ONE_WAY
        if item["dst"] in local:
            if via == ONE_WAY and not nat and (item["protocol"], item["dport"]) not in listening:
                continue  # nothing here received it
            add({"direction": "in", "protocol": item["protocol"], "client": item["src"], "server": item["dst"],
                 "port": item["dport"], "via": via, "inode": None,
                 "to": "%s:%d" % (item["reply_src"], item["reply_sport"]) if nat else None})
        elif item["src"] in local:
            add({"direction": "out", "protocol": item["protocol"], "client": item["src"], "server": item["dst"],
                 "port": item["dport"], "via": via, "to": None, "inode": None})
    return flows


def _merge(flows):
    """One flow per (direction, protocol, client, server, port), the evidence joined."""
    merged = {}
    for flow in flows:
        key = (flow["direction"], flow["protocol"], flow["client"], flow["server"], flow["port"])
        if key not in merged:
            merged[key] = dict(flow, via=[flow["via"]], samples=1)
            continue
        entry = merged[key]
        if flow["via"] not in entry["via"]:
            entry["via"].append(flow["via"])
        entry["to"] = entry["to"] or flow["to"]
        entry["inode"] = entry["inode"] or flow["inode"]
        entry["samples"] += 1
    return [merged[key] for key in sorted(merged, key=lambda key: (key[0], key[1], key[4], key[2], key[3]))]


# -- sshd -----------------------------------------------------------------------------------------------------

def sshd_ports(text):
    """The ``port`` lines of ``sshd -T``."""
    return sorted(set(int(line.split()[1]) for line in text.splitlines()
                      if line.startswith("port ") and line.split()[1].isdigit()))


# -- on the host ----------------------------------------------------------------------------------------------

class Discovery:
    """Runs the reads. ``run(argv)`` → ``(rc, out, err)``; ``which(name)`` → path or None."""

    def __init__(self, run, which, proc_root="/proc", sleep=time.sleep):
        self.run = run
        self.which = which
        self.proc_root = proc_root
        self.sleep = sleep
        self.unknown = []

    def command(self, argv):
        binary = self.which(argv[0])
        if binary is None:
            return None
        return self.run([binary] + argv[1:])

    def note(self, check, message):
        self.unknown.append({"check": check, "message": message})

    def containers(self):
        found = []
        for runtime, argv, parse in (("docker", ["docker", "ps", "--no-trunc", "--format", "{{json .}}"],
                                      parse_docker_ps),
                                     ("podman", ["podman", "ps", "--format", "json"], parse_podman_ps)):
            result = self.command(argv)
            if result is None:
                continue
            if result[0] != 0:
                if runtime == "docker" and "Cannot connect" in (result[2] or ""):
                    continue  # the client is installed, no engine runs
                self.note("containers", "%s ps failed: %s; the containers behind published ports are not known"
                          % (runtime, (result[2] or result[1]).strip()))
                continue
            try:
                found.extend(parse(result[1]))
            except (ValueError, KeyError) as error:
                self.note("containers", "%s ps output not understood: %s" % (runtime, error))
        return found

    def nginx(self):
        result = self.command(["nginx", "-T"])
        if result is None:
            return []
        if result[0] != 0:
            self.note("nginx", "nginx -T failed: %s; its server blocks are not known" % (result[2] or result[1]).strip())
            return []
        try:
            return _nginx_read.servers(result[1])
        except _nginx_read.NginxParseError as error:
            self.note("nginx", "nginx -T output not understood: %s" % error)
            return []

    def ssh(self, listeners):
        result = self.command(["sshd", "-T"])
        if result is not None and result[0] == 0:
            ports = sshd_ports(result[1])
            if ports:
                return {"ports": ports, "evidence": "sshd -T"}
        ports = sorted(set(item["port"] for item in listeners if item["process"] == "sshd" and item["protocol"] == "tcp"))
        if ports:
            return {"ports": ports, "evidence": "the listener of process sshd"}
        return {"ports": [], "evidence": "no sshd found"}

    def addresses(self):
        result = self.command(["ip", "-j", "address", "show"])
        if result is None or result[0] != 0:
            self.note("addresses", "ip -j address show failed: connections through conntrack are matched only against "
                                   "the addresses seen in sockets")
            return []
        return parse_addresses(result[1])

    def sample(self):
        sockets = []
        for table, family, protocol in ESTABLISHED_TABLES:
            text = _host.read(os.path.join(self.proc_root, "net", table))
            if text is None:
                if family == "ipv4":
                    self.note("connections", "%s/net/%s cannot be read" % (self.proc_root, table))
                continue
            sockets.extend(parse_established(text, family, protocol))
        tracked = None
        result = self.command(["conntrack", "-L"])
        if result is not None and result[0] == 0:
            tracked = parse_conntrack(result[1])
        return sockets, tracked

    def connections(self, listeners, local_addresses, window, samples):
        flows = []
        conntrack_seen = False
        for index in range(samples):
            if index:
                self.sleep(float(window) / max(samples - 1, 1))
            sockets, tracked = self.sample()
            conntrack_seen = conntrack_seen or tracked is not None
            flows.extend(classify(sockets, tracked or [], local_addresses, listeners))
        if not conntrack_seen:
            self.note("connections", "conntrack is not available (or not root): connections were sampled from "
                                     "sockets only, so connections DNATed to containers, short ones and UDP flows "
                                     "into this host are missed")
        merged = _merge(flows)
        owners = _listening.socket_owners([flow["inode"] for flow in merged if flow["inode"]], self.proc_root)
        for flow in merged:
            pids = sorted(owners.get(flow.pop("inode"), []))
            flow["process"] = _listening.process_info(pids[0], self.proc_root)["process"] if pids else None
            # The client's process and its parents: the draft hangs the connection on the entry of the process
            # that listens, itself or a parent (a pre-fork server's worker), never on another of the same name.
            flow["pids"] = ancestry(pids[0], self.proc_root) if pids else []
        return merged


def ancestry(pid, proc_root="/proc", depth=16):
    """``[pid, its parent, ...]`` up to, and without, init (pid 1, which holds sockets of its own under socket
    activation, and is every process's ancestor); what cannot be read ends the list."""
    chain = []
    while pid and pid != 1 and len(chain) < depth and pid not in chain:
        chain.append(pid)
        stat = _host.read(os.path.join(proc_root, str(pid), "stat"))
        try:
            pid = int(stat.rsplit(") ", 1)[1].split()[1])
        except (AttributeError, IndexError, ValueError):
            break
    return chain


def _bind(group):
    addresses = set(item["address"] for item in group)
    if "::" in addresses and any(item["dual_stack"] for item in group if item["address"] == "::"):
        return "::"
    if "0.0.0.0" in addresses:
        return "0.0.0.0"
    if "::" in addresses:
        return "::"
    if all(_is_loopback(address) for address in addresses):
        return "127.0.0.1" if "127.0.0.1" in addresses else sorted(addresses)[0]
    return sorted(addresses)[0]


def services(listeners, containers, layers, docker_filters):
    """One entry per listening (protocol, port), and per published container
    port: ``{protocol, port, end, bind, processes, container, publish,
    exposure}``. ``exposure`` is the firewall's answer for the families the
    listener has (``_firewall_read.exposure``), ``private`` for loopback."""
    grouped = {}
    for item in listeners:
        if item["address"] == _host.DOCKER_EMBEDDED_DNS:
            continue
        grouped.setdefault((item["protocol"], item["port"]), []).append(item)
    published = {}
    for container in containers:
        for port in container["ports"]:
            for number in range(port["port"], port["end"] + 1):
                published[(port["protocol"], number)] = (container, port)
    found = []
    for (protocol, port), group in sorted(grouped.items()):
        processes = sorted(set(item["process"] for item in group if item["process"]))
        bind = _bind(group)
        entry = {"protocol": protocol, "port": port, "end": port, "bind": bind, "processes": processes,
                 "pids": sorted(set(item["pid"] for item in group if item.get("pid") is not None)),
                 "container": None, "publish": "host", "addresses": sorted(set(item["address"] for item in group))}
        if (protocol, port) in published and (not processes or set(processes) <= set(RUNTIME_PROXIES)):
            continue  # the runtime's proxy: the container entry below stands for it
        entry["exposure"] = _exposure(layers, protocol, port, group, bind)
        found.append(entry)
    done = set()
    for container in containers:
        for port in container["ports"]:
            key = (port["protocol"], port["port"])
            if key in done:
                continue
            done.add(key)
            entry = {"protocol": port["protocol"], "port": port["port"], "end": port["end"], "bind": port["address"],
                     "processes": [], "addresses": [port["address"]], "publish": "dnat",
                     "container": {"runtime": container["runtime"], "name": container["name"],
                                   "image": container["image"], "port": port["container_port"]}}
            if _is_loopback(port["address"] if port["address"] != "::" else "::"):
                entry["exposure"] = {"state": "private", "sources": [], "by_policy": False,
                                     "evidence": ["published on %s only" % port["address"]]}
            elif docker_filters is None and container["runtime"] == "docker":
                entry["exposure"] = {"state": "unknown", "sources": [], "by_policy": False,
                                     "evidence": ["Docker's DOCKER-USER chain could not be read"]}
            elif docker_filters:
                entry["exposure"] = {"state": "unknown", "sources": [], "by_policy": False,
                                     "evidence": ["DOCKER-USER holds rules this reader does not evaluate"]}
            else:
                entry["exposure"] = {"state": "open", "sources": list(_firewall_read.ANYWHERE), "by_policy": False,
                                     "evidence": ["%s publishes it on %s for container %s; forwarded traffic does not "
                                                  "cross the input rules and nothing filters it (DOCKER-USER empty)"
                                                  % (container["runtime"], port["address"], container["name"])]}
            found.append(entry)
    return found


_ANYWHERE_OF = {"ipv4": _firewall_read.ANYWHERE[0], "ipv6": _firewall_read.ANYWHERE[1]}


def _refused(results):
    found = [source for result in results for source in result.get("refused") or []]
    return sorted(set(found), key=found.index)


def _exposure(layers, protocol, port, group, bind):
    if all(_is_loopback(item["address"]) for item in group):
        return {"state": "private", "sources": [], "by_policy": False,
                "evidence": ["bound to %s only" % ", ".join(sorted(set(item["address"] for item in group)))]}
    families = set(item["family"] for item in group)
    if "::" in [item["address"] for item in group if item["dual_stack"]]:
        families.add("ipv4")
    results = [_firewall_read.exposure(_firewall_read.for_family(layers, family), protocol, port)
               for family in sorted(families)]
    if len(results) == 1:
        return results[0]
    states = [result["state"] for result in results]
    # Each family's evidence, named by it: "ipv4: iptables: -A INPUT ...; ipv6: no firewall is in force".
    evidence = ["%s: %s" % (family, why) for family, result in zip(sorted(families), results) for why in result["evidence"]]
    if set(states) <= {"open", "none"}:
        # Every source, on every family: a rule someone typed to open it for one family (an ACCEPT from anywhere
        # in iptables, where ip6tables filters nothing) says so; open only by policies and the lack of a firewall
        # is open by policy.
        return {"state": "open" if "open" in states else "none", "sources": list(_firewall_read.ANYWHERE),
                "evidence": evidence, "by_policy": all(result["by_policy"] for result in results),
                "refused": _refused(results)}
    for state in ("unknown", "closed", "some"):
        if state in states:
            # A family open to every source adds its own "anywhere" only: 0.0.0.0/0 is not what IPv6 lets in.
            sources = [source for family, result in zip(sorted(families), results) for source in result["sources"]
                       if result["state"] not in ("open", "none") or source == _ANYWHERE_OF[family]]
            return {"state": state, "sources": sorted(set(sources), key=sources.index),
                    "evidence": evidence, "by_policy": all(result["by_policy"] for result in results),
                    "refused": _refused(results) if state == "some" else []}
    return results[0]


def discover(run, which, window=0, samples=1, proc_root="/proc", sleep=time.sleep):
    """Everything, as the module returns it."""
    window, samples = check_window(window, samples)
    reader = Discovery(run, which, proc_root, sleep)
    try:
        listeners = _listening.listening(proc_root=proc_root)
    except _listening.ListenerReadError as error:
        raise DiscoverError(str(error))
    reader.unknown.extend({"check": item["check"], "message": item["message"]}
                          for item in _listening.unknown_owners(listeners))
    layers, managers = _firewall_read.read_layers(run, which)
    if not any(which(name) for name in ("nft", "iptables-save", "ufw", "firewall-cmd")):
        reader.note("firewall", "no firewall tool (nft, iptables-save, ufw, firewall-cmd) is installed: the rules in "
                                "force are not known")
        layers.append(_firewall_read.Layer("firewall", error="no firewall tool to read the rules with"))
    for layer in layers:
        if layer.error:
            reader.note("firewall", layer.error)
    saved = reader.command(["iptables-save", "-t", "filter"])
    docker_filters = docker_user_filters(saved[1]) if saved is not None and saved[0] == 0 else None
    containers = reader.containers()
    local_addresses = reader.addresses()
    return {
        "listening": listeners,
        "containers": containers,
        "firewall": {"managers": managers, "layers": [layer.as_dict() for layer in layers]},
        "services": services(listeners, containers, layers, docker_filters),
        "nginx": reader.nginx(),
        "ssh": reader.ssh(listeners),
        "addresses": local_addresses,
        "connections": reader.connections(listeners, local_addresses, window, samples),
        "unknown": reader.unknown,
    }
