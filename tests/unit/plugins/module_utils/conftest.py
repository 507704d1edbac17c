# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake firewall-cmd for the firewall backends' tests: a daemon that loads
the XML files under its configuration directory at --reload (as firewalld
does), prints its objects the way firewall-cmd 1.3 does, and keeps runtime
changes made by hand until the next reload."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import socketserver
import subprocess
import sys
import threading
from xml.etree import ElementTree

import pytest

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _firewalld

PUBLIC = "\n".join(["public", "  target: default", "  icmp-block-inversion: no", "  interfaces:", "  sources:",
                    "  services: dhcpv6-client ssh", "  ports:", "  protocols:", "  forward: yes", "  masquerade: no",
                    "  forward-ports:", "  source-ports:", "  icmp-blocks:", "  rich rules:"])


def _rich_text(rule):
    """A rich rule XML element as firewall-cmd prints it (core/rich.py's order)."""
    parts = ["rule"]
    if rule.get("priority") not in (None, "0"):
        parts.append('priority="%s"' % rule.get("priority"))
    if rule.get("family"):
        parts.append('family="%s"' % rule.get("family"))
    for side in ("source", "destination"):
        element = rule.find(side)
        if element is not None:
            key = "address" if element.get("address") else "ipset"
            parts.append('%s %s="%s"' % (side, key, element.get(key)))
    for child in rule:
        if child.tag == "port":
            parts.append('port port="%s" protocol="%s"' % (child.get("port"), child.get("protocol")))
        elif child.tag == "protocol":
            parts.append('protocol value="%s"' % child.get("value"))
        elif child.tag == "icmp-type":
            parts.append('icmp-type name="%s"' % child.get("name"))
        elif child.tag == "log":
            parts.append('log prefix="%s"' % child.get("prefix") if child.get("prefix") else "log")
    for child in rule:
        if child.tag in ("accept", "drop", "reject"):
            limit = child.find("limit")
            parts.append(child.tag + (' limit value="%s"' % limit.get("value") if limit is not None else ""))
    return " ".join(parts)


def _info(kind, name, root):
    """What firewall-cmd --info-KIND=NAME prints for a file firewalld loaded."""
    if kind == "ipset":
        options = " ".join("%s=%s" % (item.get("name"), item.get("value")) for item in root.findall("option"))
        return [name, "  type: %s" % root.get("type"), "  options: %s" % options,
                "  entries: %s" % " ".join(item.text for item in root.findall("entry"))]
    ports = " ".join("%s/%s" % (item.get("port"), item.get("protocol")) for item in root.findall("port"))
    protocols = " ".join(sorted(item.get("value") for item in root.findall("protocol")))
    rules = sorted(root.findall("rule"), key=lambda rule: int(rule.get("priority", "0")))
    lines = [name]
    if kind == "policy":
        lines += ["  priority: %s" % root.get("priority"), "  target: %s" % root.get("target"),
                  "  ingress-zones: %s" % root.find("ingress-zone").get("name"),
                  "  egress-zones: %s" % root.find("egress-zone").get("name")]
    else:
        lines += ["  target: %s" % root.get("target", "default"), "  icmp-block-inversion: no", "  interfaces:",
                  "  sources:"]
    lines += ["  services:", "  ports: %s" % ports, "  protocols: %s" % protocols]
    if kind == "zone":
        lines.append("  forward: no")
    lines += ["  masquerade: no", "  forward-ports:", "  source-ports:", "  icmp-blocks:", "  rich rules:"]
    lines += ["\t" + _rich_text(rule) for rule in rules]
    return lines


class FakeFirewalld:
    """firewall-cmd over a configuration directory: --reload loads the XML
    files (ours and those a test puts there) into both the permanent and the
    runtime configuration; runtime-only changes last until the next reload."""

    def __init__(self, config_dir, running=True):
        self.config_dir = config_dir
        self.running = running
        self.default_zone = "public"
        self.calls = []
        self.fail_reload = False
        self.active_zones = ""
        self.foreign = {("zone", "public"): PUBLIC.splitlines(),
                        ("zone", "docker"): PUBLIC.replace("public", "docker").splitlines(),
                        ("ipset", "f2b-sshd"): ["f2b-sshd", "  type: hash:ip", "  options:", "  entries: 198.51.100.7"]}
        self.permanent = {}
        self.runtime = {}
        self.reload()

    def which(self, name):
        return "/usr/bin/%s" % name if name in ("firewall-cmd", "systemctl") else None

    def _load(self):
        loaded = dict(self.foreign)
        for kind, directory in _firewalld.DIRS.items():
            folder = os.path.join(self.config_dir, directory)
            for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
                if entry.endswith(".xml"):
                    root = ElementTree.parse(os.path.join(folder, entry)).getroot()
                    loaded[(kind, entry[:-4])] = _info(kind, entry[:-4], root)
        return loaded

    def reload(self):
        # Runtime-only changes (another tool's rich rules and direct rules) are lost, as with firewalld's reload.
        self.direct = list(getattr(self, "direct_permanent", []))
        self.direct_permanent = self.direct[:]
        self.permanent = self._load()
        self.runtime = dict((key, list(value)) for key, value in self.permanent.items())

    def run(self, argv, data=None):
        self.calls.append(argv)
        if os.path.basename(argv[0]) == "systemctl":
            enabled = getattr(self, "enabled", set())
            self.enabled = enabled
            if argv[1] == "is-enabled":
                return (0, "enabled\n", "") if argv[-1] in enabled else (1, "disabled\n", "")
            if argv[1] in ("enable", "disable"):
                (enabled.add if argv[1] == "enable" else enabled.discard)(argv[-1])
            return 0, "", ""
        assert os.path.basename(argv[0]) == "firewall-cmd", argv
        args = argv[1:]
        if args == ["--state"]:
            return (0, "running\n", "") if self.running else (252, "not running\n", "")
        permanent = "--permanent" in args
        args = [arg for arg in args if arg != "--permanent"]
        zone = next((arg.split("=", 1)[1] for arg in args if arg.startswith("--zone=")), self.default_zone)
        args = [arg for arg in args if not arg.startswith("--zone=")]
        config = self.permanent if permanent else self.runtime
        option, _sep, value = args[0].partition("=")
        if option == "--get-default-zone":
            return 0, self.default_zone + "\n", ""
        if option == "--set-default-zone":
            if ("zone", value) not in self.runtime:
                return 112, "", "Error: INVALID_ZONE: %s" % value
            self.default_zone = value
            return 0, "success\n", ""
        if option in ("--get-zones", "--get-policies", "--get-ipsets"):
            kind = {"--get-zones": "zone", "--get-policies": "policy", "--get-ipsets": "ipset"}[option]
            return 0, " ".join(sorted(name for (item, name) in config if item == kind)) + "\n", ""
        if option.startswith("--info-"):
            key = (option[len("--info-"):], value)
            if key not in config:
                return 112, "", "Error: INVALID_%s: %s" % (key[0].upper(), value)
            lines = list(config[key])
            if key[0] == "zone" and value == self.default_zone:
                lines[0] += " (default, active)"
            # firewall-cmd leaves a blank after an empty list
            return 0, "\n".join(line + (" " if line.endswith(":") else "") for line in lines) + "\n", ""
        if option == "--check-config":
            try:
                self._load()
            except ElementTree.ParseError as error:
                return 111, "", "Error: INVALID_CONFIG: %s" % error
            return 0, "", ""
        if option == "--reload":
            if self.fail_reload:
                return 1, "", "Error: COMMAND_FAILED: 'python-nftables' failed"
            self.reload()
            return 0, "success\n", ""
        if option == "--get-active-zones":
            return 0, self.active_zones, ""
        if option in ("--list-all-zones", "--list-all-policies"):
            # Each object as --info prints it, then a blank line (firewall-cmd 1.3 names no default zone here).
            blocks = []
            for (kind, name), lines in sorted(config.items()):
                if kind == {"--list-all-zones": "zone", "--list-all-policies": "policy"}[option]:
                    head = name + (" (active)" if name == self.default_zone else "")
                    body = [line + (" " if line.endswith(":") else "") for line in lines[1:]]
                    blocks.append("\n".join([head] + body) + "\n\n")
            return 0, "".join(blocks), ""
        if option == "--direct":
            direct = self.direct_permanent if permanent else self.direct
            if args[1:] == ["--get-all-rules"]:
                return 0, "".join(line + "\n" for line in direct), ""
            if args[1] == "--add-rule":
                direct.append(" ".join(args[2:]))
                return 0, "success\n", ""
        if option in ("--add-port", "--add-rich-rule"):
            lines = config[("zone", zone)]
            if option == "--add-port":
                index = next(number for number, line in enumerate(lines) if line.startswith("  ports:"))
                lines[index] = (lines[index] + " " + value).replace(":  ", ": ")
            else:
                lines.append("\t" + value)
            return 0, "success\n", ""
        raise AssertionError("unexpected firewall-cmd %r" % argv)


@pytest.fixture
def firewalld_host(tmp_path, monkeypatch):
    """A running FakeFirewalld whose configuration directory is under tmp_path."""
    config_dir = str(tmp_path / "etc" / "firewalld")
    monkeypatch.setattr(_firewalld.Firewalld, "config_dir", config_dir)
    return FakeFirewalld(config_dir)


IPTABLES_TOOLS = ("iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore")


class FakeIptables:
    """iptables-save and iptables-restore --noflush (both families, filter
    and mangle) over in-memory tables holding Docker's FORWARD -> DOCKER-USER
    jump; ``flush()`` is what firewalld's start and reload do to them (every
    chain flushed and deleted; Docker then makes its own again)."""

    def __init__(self):
        self.tables = {}
        self.flush()

    def flush(self):
        for version in (4, 6):
            self.tables[version] = {
                "filter": ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                           ":DOCKER-USER - [0:0]", "-A FORWARD -j DOCKER-USER", "-A DOCKER-USER -j RETURN", "COMMIT"],
                "mangle": ["*mangle", ":PREROUTING ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", "COMMIT"]}

    def lines(self, version=4, table="filter"):
        return [line for line in self.tables[version][table] if line.startswith("-A ")]

    def ours(self):
        return [line for version in (4, 6) for table in ("filter", "mangle") for line in self.tables[version][table]
                if "PORTCULLIS" in line]

    def run(self, argv, data=None):
        tool = os.path.basename(argv[0])
        version = 6 if tool.startswith("ip6") else 4
        if tool in ("iptables", "ip6tables"):
            return self.command(version, argv[1:])
        if tool.endswith("-save"):
            return 0, "\n".join(self.tables[version][argv[argv.index("-t") + 1]]) + "\n", ""
        if "--test" in argv:
            return 0, "", ""
        for line in data.splitlines():
            if line.startswith("*"):
                lines = [item for item in self.tables[version][line[1:]] if item != "COMMIT"]
                table = line[1:]
            elif line == "COMMIT":
                self.tables[version][table] = lines + ["COMMIT"]
            elif line.startswith(":"):
                name = line.split()[0]
                lines = [item for item in lines if not item.startswith("-A %s " % name[1:])]
                if name not in [item.split()[0] for item in lines]:
                    lines.append(line)
            elif line.startswith("-I "):
                parts = line.split()
                position = next((number for number, item in enumerate(lines) if item.startswith("-A %s " % parts[1])),
                                len(lines))
                lines.insert(position, "-A %s %s" % (parts[1], " ".join(parts[3:])))
            elif line.startswith("-D "):
                lines.remove("-A" + line[2:])
            elif line.startswith("-F "):
                lines = [item for item in lines if not item.startswith("-A %s " % line.split()[1])]
            elif line.startswith("-X "):
                lines = [item for item in lines if not item.startswith(":%s " % line.split()[1])]
            elif line.startswith("-A "):
                lines.append(line)
        return 0, "", ""

    def command(self, version, args):
        """``iptables [-t TABLE] -N CHAIN | -C CHAIN -j TARGET | -I CHAIN 1 -j TARGET``, as the rollback scripts
        use them: rc 1 (as iptables) when the chain exists already (-N) or the rule is not there (-C)."""
        table = "filter"
        if args[0] == "-t":
            table, args = args[1], args[2:]
        lines = self.tables[version][table]
        if args[0] == "-N":
            if any(line.split()[0] == ":" + args[1] for line in lines if line.startswith(":")):
                return 1, "", "iptables: Chain already exists.\n"
            lines.insert(lines.index("COMMIT"), ":%s - [0:0]" % args[1])
            return 0, "", ""
        rule = "-A %s %s" % (args[1], " ".join(args[2:] if args[0] == "-C" else args[3:]))
        if args[0] == "-C":
            return (0, "", "") if rule in lines else (1, "", "iptables: Bad rule.\n")
        assert args[0] == "-I" and args[2] == "1", args
        position = next((number for number, item in enumerate(lines) if item.startswith("-A %s " % args[1])),
                        lines.index("COMMIT"))
        lines.insert(position, rule)
        return 0, "", ""


class WithIptables:
    """A manager's fake host (ufw, firewall-cmd) with iptables beside it:
    the forward chains' commands go to ``iptables``, the rest to ``manager``
    (ufw's own loads of its rules files too); firewall-cmd --reload flushes
    the iptables chains, as firewalld does."""

    def __init__(self, manager):
        self.manager = manager
        self.iptables = FakeIptables()

    def __getattr__(self, name):
        return getattr(self.manager, name)

    def which(self, name):
        return "/usr/sbin/" + name if name in IPTABLES_TOOLS else self.manager.which(name)

    def run(self, argv, data=None):
        tool = os.path.basename(argv[0])
        if tool in IPTABLES_TOOLS + ("iptables", "ip6tables") and (tool.endswith("-save") or "ufw-user" not in (data or "")):
            return self.iptables.run(argv, data)
        result = self.manager.run(argv, data)
        if tool == "firewall-cmd" and argv[1:] == ["--reload"] and result[0] == 0:
            self.iptables.flush()
        return result


@pytest.fixture
def with_iptables():
    """``with_iptables(manager_host)``: that fake host with iptables beside it (WithIptables)."""
    return WithIptables


# A rollback script run by the real /bin/sh (its awk, sed, grep, loops and redirections), every firewall command in it
# answered by a fake host: each becomes a stub that hands its arguments (and its input, for the restore tools) to the
# test process over a UNIX socket.
# Tests replace subprocess.Popen (no rollback sleeper may outlive them); the shell is started with the real one.
_POPEN = subprocess.Popen
STUBBED = ("firewall-cmd", "systemctl", "ufw", "nft", "iptables", "ip6tables", "iptables-restore", "ip6tables-restore",
           "iptables-save", "ip6tables-save")
_STUB = """import json, socket, sys
tool = %r
data = sys.stdin.read() if tool.endswith("-restore") else None
connection = socket.socket(socket.AF_UNIX)
connection.connect(%r)
connection.sendall(json.dumps([tool, sys.argv[1:], data]).encode())
connection.shutdown(socket.SHUT_WR)
answer = b"".join(iter(lambda: connection.recv(65536), b""))
rc, out, err = json.loads(answer.decode())
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
"""


def _run_in_sh(host, script, workdir):
    """Run ``script`` (text) with /bin/sh; the absolute paths of the stubbed tools in it, and the bare names, reach
    ``host.run``. ``systemctl is-active`` says no container runtime runs. Returns the CompletedProcess."""
    stubs = os.path.join(str(workdir), "stubs")
    os.makedirs(stubs, exist_ok=True)
    address = os.path.join(str(workdir), "stubs.sock")
    paths = {}
    for tool in STUBBED:
        paths[tool] = (host.which(tool) if host is not None else None) or "/usr/sbin/" + tool
        with open(os.path.join(stubs, tool), "w") as handle:
            handle.write("#!%s\n%s" % (sys.executable, _STUB % (tool, address)))
        os.chmod(os.path.join(stubs, tool), 0o755)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            tool, args, data = json.loads(self.rfile.read().decode())
            if tool == "systemctl" and args[:1] == ["is-active"]:
                answer = (3, "inactive\n", "")
            else:
                answer = host.run([paths[tool]] + args, data)
            self.wfile.write(json.dumps(list(answer)).encode())

    server = socketserver.UnixStreamServer(address, Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        text = re.sub(r"(?<![\w./-])/usr/s?bin/(%s)(?![\w.-])" % "|".join(re.escape(tool) for tool in STUBBED),
                      lambda match: os.path.join(stubs, match.group(1)), script)
        environment = dict(os.environ, PATH="%s:/usr/bin:/bin" % stubs)
        process = _POPEN(["/bin/sh", "-c", text], env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def run_in_sh():
    """``run_in_sh(host, script, workdir)``: a rollback script run by /bin/sh against a fake host."""
    return _run_in_sh
