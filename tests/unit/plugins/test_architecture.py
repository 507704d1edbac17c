# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layout of plugins/ as rules, read from the source:

- host-side features (module_utils/audit, firewall, nginx, sshd) import only
  the shared files (_host, _values) and ports/, never each other;
- module_utils/metrics reports over every feature (like a module): it may
  import them, and nothing in module_utils imports it;
- module_utils never imports plugin_utils (controller code is not shipped);
- a module ships only the module_utils it imports: port_conflicts carries no
  nginx, firewall or sshd code;
- patterns that check input match the whole string with ASCII digits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest

PLUGINS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins"))
PREFIX = "ansible_collections.portcullis.ports.plugins."
FEATURES = ("audit", "firewall", "nginx", "sshd")
# Reports over the features, as a module is: may import them; no module_utils imports it.
OVER_FEATURES = ("metrics",)
SHARED = ("module_utils._host", "module_utils._values")


def _python_files(folder):
    for root, _dirs, files in os.walk(os.path.join(PLUGINS, folder)):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(root, name)


def _dotted(path):
    relative = os.path.relpath(path, PLUGINS)[:-3].replace(os.sep, ".")
    return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def _imports(path):
    """The collection's own modules ``path`` imports, as ``module_utils.x._y``."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            base = node.module[len(PREFIX):]
            for alias in node.names:
                candidate = "%s.%s" % (base, alias.name)
                found.add(candidate if os.path.exists(os.path.join(PLUGINS, *candidate.split("."))
                                                      ) or os.path.exists(os.path.join(PLUGINS, *candidate.split(".")) + ".py")
                          else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PREFIX):
                    found.add(alias.name[len(PREFIX):])
    return found


MODULE_UTILS = dict((_dotted(path), _imports(path)) for path in _python_files("module_utils"))


def _closure(start):
    seen = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(MODULE_UTILS.get(name, ()))
    return seen


def _feature(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "module_utils" and parts[1] in FEATURES else None


def test_the_tree_is_grouped_by_feature():
    folders = sorted(name for name in os.listdir(os.path.join(PLUGINS, "module_utils"))
                     if os.path.isdir(os.path.join(PLUGINS, "module_utils", name)) and name != "__pycache__")
    assert folders == sorted(FEATURES + OVER_FEATURES + ("ports",))
    loose = sorted(name for name in os.listdir(os.path.join(PLUGINS, "module_utils")) if name.endswith(".py"))
    assert loose == ["_host.py", "_values.py"]


@pytest.mark.parametrize("name", sorted(MODULE_UTILS))
def test_no_sideways_imports_between_features(name):
    mine = _feature(name)
    for imported in MODULE_UTILS[name]:
        assert not imported.startswith("plugin_utils"), "%s imports controller code %s" % (name, imported)
        assert imported.split(".")[1] not in OVER_FEATURES or name.split(".")[1] in OVER_FEATURES, \
            "%s imports %s, which reports over the features" % (name, imported)
        if name.split(".")[1] in OVER_FEATURES:
            continue
        other = _feature(imported)
        assert other is None or other == mine, "%s (%s) imports %s of the %s feature" % (name, mine, imported, other)
        if name.startswith("module_utils.ports") or name in SHARED:
            assert other is None, "the shared layer %s imports the feature module %s" % (name, imported)


@pytest.mark.parametrize("module, allowed", [
    ("port_conflicts", {"audit", None}),
    ("listening_ports", {"audit", None}),
    ("firewall", {"firewall", None}),
    ("nginx_proxy", {"nginx", None}),
    ("sshd_config", {"sshd", None}),
    ("port_metrics", {"audit", "firewall", "nginx", None}),
    ("reachability", {"audit", None}),
    ("health_check", {"audit", None}),
    ("discover", {"audit", None}),
    ("controller_files", {"audit", None}),
    ("service_running", {"metrics", "audit", None}),
])
def test_a_module_ships_only_its_feature(module, allowed):
    shipped = _closure(_imports(os.path.join(PLUGINS, "modules", module + ".py")))
    assert set(_feature(name) for name in shipped if name.startswith("module_utils")) <= allowed
    assert not any(name.startswith("plugin_utils") for name in shipped)


def test_port_conflicts_ships_no_nginx_code():
    shipped = _closure(_imports(os.path.join(PLUGINS, "modules", "port_conflicts.py")))
    assert "module_utils.ports._registry" in shipped
    assert not [name for name in shipped if ".nginx." in name or ".firewall." in name or ".sshd." in name]


# Input patterns: "$" also matches before a final newline, and \d, \w and \s
# take non-ASCII characters (int("٢٢") is 22). Every pattern is compiled
# through _values.pattern (re.ASCII) and used with fullmatch, without anchors.
_RE_CALL = re.compile(r"re\.(compile|match|fullmatch|search)\(")


def _source_files():
    for folder in ("module_utils", "plugin_utils", "filter", "modules", "action"):
        for path in _python_files(folder):
            if not os.path.basename(path).startswith(("_iana", "_netbase")):
                yield path


@pytest.mark.parametrize("path", sorted(_source_files()), ids=lambda path: os.path.relpath(path, PLUGINS))
def test_input_patterns_match_whole_ascii_strings(path):
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        owner = function.value.id if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) else ""
        if name == "match" and owner != "re":
            problems.append("line %d: .match() stops short of the end; use fullmatch" % node.lineno)
        pattern = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) and isinstance(
            node.args[0].value, str) else None
        checked = (("re", "compile"), ("re", "match"), ("re", "fullmatch"), ("_values", "pattern"))
        if pattern is None or (owner, name) not in checked:
            continue
        if owner == "re" and name in ("compile", "match", "fullmatch"):
            problems.append("line %d: %r compiled without _values.pattern (re.ASCII)" % (node.lineno, pattern))
        if pattern.endswith("$") and not pattern.endswith("\\$"):
            problems.append("line %d: %r ends in $, which matches before a newline" % (node.lineno, pattern))
    assert problems == []


def test_one_owner_of_the_verdict_on_a_host_read():
    """port_conflicts' rules over what a host read (registry conflicts, the ephemeral range, published ports) are
    composed in one place, _host_read.verdict, for the module on the host and the audit on the controller."""
    composers = []
    for folder in ("modules", "module_utils", "plugin_utils", "filter", "action"):
        for path in _python_files(folder):
            with open(path) as handle:
                source = handle.read()
            if "find_conflicts(" in source.replace("def find_conflicts(", "") or "_published.check(" in source:
                composers.append(os.path.relpath(path, PLUGINS))
    assert sorted(composers) == ["module_utils/audit/_conflicts.py", "module_utils/audit/_host_read.py"]


def test_one_owner_of_where_the_collection_writes_on_the_controller():
    # Where files go when no directory is given (beside the inventory, or the current directory for an inventory
    # given inline) is decided by the controller_dir filter only: adopt.yml wrote its drafts to ./None/host_vars
    # while the port map's default had learnt the rule.
    root = os.path.dirname(PLUGINS)
    found = []
    for folder in ("playbooks", "roles"):
        for directory, _dirs, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if not name.endswith((".yml", ".yaml", ".j2")):
                    continue
                with open(os.path.join(directory, name)) as handle:
                    for number, line in enumerate(handle, 1):
                        if "inventory_dir" in line and not line.lstrip().startswith("#") and \
                                "inventory_dir | default(none) | portcullis.ports.controller_dir" not in line:
                            found.append("%s:%d: %s" % (os.path.relpath(handle.name, root), number, line.strip()))
    assert found == []
