# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dependency graph of the port map: hosts and the destinations outside
the inventory as nodes, who connects to whom as edges; written as Mermaid
(for Markdown) and as an inline SVG (for the standalone HTML page).

The graph is built from the edges ``_dependencies`` plans (connects_to and
the proxies' backends) and the registry's public services (an edge from the
Internet node). Several flows between the same two nodes become one edge
whose label lists them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as resolver

INTERNET = "Internet"
# SVG layout, in pixels.
_NODE_WIDTH = 200
_NODE_HEIGHT = 46
_GAP_X = 40
_GAP_Y = 70
_MARGIN = 20
_LANE = 10
_LABEL_ROOM = 260


def _ports(ranges):
    return ", ".join("%s/%s" % (resolver.format_range(item), protocol)
                     for protocol in sorted(ranges) for item in ranges[protocol])


def build(validated, edges):
    """``{"nodes": [{"id", "label", "kind", "ports"}], "edges": [{"from", "to", "label"}]}``.

    ``validated`` maps each host to its validated services; ``edges`` are
    ``_dependencies.Edge``. Node kinds: ``host``, ``internet`` (clients from
    anywhere, for public services) and ``external`` (destinations outside
    the inventory).
    """
    nodes = {}
    order = []

    def node(key, label, kind, ports=""):
        if key not in nodes:
            nodes[key] = {"id": "n%d" % len(order), "label": label, "kind": kind, "ports": ports}
            order.append(key)
        return nodes[key]["id"]

    labels = {}
    pairs = []

    def connect(source, target, label):
        if (source, target) not in labels:
            labels[(source, target)] = []
            pairs.append((source, target))
        if label not in labels[(source, target)]:
            labels[(source, target)].append(label)

    public = []
    for host in sorted(validated):
        listening = [service for service in validated[host] if service.listens]
        ports = ", ".join(":%s" % service.ports_text() for service in listening)
        node(("host", host), host, "host", ports)
        for service in listening:
            if service.expose == "public":
                public.append((host, "%s %s" % (service.name, _ports(service.ranges))))
    if public:
        internet = node(("internet",), INTERNET, "internet")
        for host, label in public:
            connect(internet, nodes[("host", host)]["id"], label)
    for edge in edges:
        source = node(("host", edge.client_host), edge.client_host, "host")
        if edge.server_host is not None:
            target = node(("host", edge.server_host), edge.server_host, "host")
            label = "%s %s" % (edge.server_service or "", _ports(edge.ranges))
        else:
            where = ", ".join(edge.networks + edge.names)
            target = node(("external", where), where, "external")
            label = _ports(edge.ranges)
        if edge.comment:
            label = "%s (%s)" % (label.strip(), edge.comment)
        connect(source, target, label.strip())
    return {
        "nodes": [nodes[key] for key in order],
        "edges": [{"from": source, "to": target, "label": "; ".join(labels[(source, target)])}
                  for source, target in pairs],
    }


def _mermaid_text(text):
    """Text inside a quoted Mermaid label: quotes and markup as entity codes."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def mermaid(graph):
    """The graph as a Mermaid flowchart (``graph TB``), for a Markdown code block."""
    lines = ["graph TB"]
    for item in graph["nodes"]:
        label = _mermaid_text(item["label"])
        if item["ports"]:
            label += "<br/>" + _mermaid_text(item["ports"])
        shape = '(["%s"])' if item["kind"] == "internet" else '[/"%s"/]' if item["kind"] == "external" else '["%s"]'
        lines.append("    %s%s" % (item["id"], shape % label))
    for edge in graph["edges"]:
        lines.append('    %s -->|"%s"| %s' % (edge["from"], _mermaid_text(edge["label"]), edge["to"]))
    return "\n".join(lines) + "\n"


def _ranks(graph):
    """Each node's row: the longest path to it from a node nothing points at
    (cycles are cut where they close)."""
    incoming = dict((item["id"], []) for item in graph["nodes"])
    for edge in graph["edges"]:
        if edge["from"] != edge["to"]:
            incoming[edge["to"]].append(edge["from"])
    ranks = {}

    def rank(node, path):
        if node in ranks:
            return ranks[node]
        parents = [parent for parent in incoming[node] if parent not in path]
        value = 1 + max([rank(parent, path | {node}) for parent in parents] or [-1])
        ranks[node] = value
        return value

    for item in graph["nodes"]:
        rank(item["id"], frozenset())
    return ranks


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _layout(graph, ranks):
    """Rows by rank; inside a row, nodes ordered by the mean position of
    what points at them (fewer crossings), then by label."""
    rows = {}
    for item in graph["nodes"]:
        rows.setdefault(ranks[item["id"]], []).append(item)
    parents = {}
    for edge in graph["edges"]:
        parents.setdefault(edge["to"], []).append(edge["from"])
    order = {}
    for row in sorted(rows):
        def key(item):
            known = [order[parent] for parent in parents.get(item["id"], []) if parent in order]
            return (sum(known) / len(known) if known else float("inf"), item["label"])
        rows[row].sort(key=key)
        for position, item in enumerate(rows[row]):
            order[item["id"]] = position
    return rows


def svg(graph):
    """The graph drawn as an inline SVG: a row per rank, arrows with labels.
    An edge that skips rows bends through the gap beside the nodes it passes,
    and its label sits near its start, so neither crosses a box."""
    if not graph["nodes"]:
        return ""
    ranks = _ranks(graph)
    rows = _layout(graph, ranks)
    widest = max(len(items) for items in rows.values())
    long_edges = [edge for edge in graph["edges"] if abs(ranks[edge["to"]] - ranks[edge["from"]]) > 1]
    nodes_width = widest * _NODE_WIDTH + (widest - 1) * _GAP_X
    # Edges that skip rows run down lanes right of every node; labels need room on the right too.
    width = 2 * _MARGIN + nodes_width + _LANE * (len(long_edges) + 1) + _LABEL_ROOM
    height = 2 * _MARGIN + len(rows) * _NODE_HEIGHT + (len(rows) - 1) * _GAP_Y
    where = {}
    for row, items in rows.items():
        span = len(items) * _NODE_WIDTH + (len(items) - 1) * _GAP_X
        left = _MARGIN + (nodes_width - span) // 2
        for position, item in enumerate(items):
            where[item["id"]] = (left + position * (_NODE_WIDTH + _GAP_X), _MARGIN + row * (_NODE_HEIGHT + _GAP_Y))
    lanes = dict((id(edge), _MARGIN + nodes_width + _LANE * (number + 1)) for number, edge in enumerate(long_edges))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="%d" height="%d" viewBox="0 0 %d %d" '
           'role="img" aria-label="who connects to whom">' % (width, height, width, height),
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>']
    outgoing = {}
    for edge in graph["edges"]:
        outgoing.setdefault(edge["from"], []).append(edge)
    labels = []
    for source, edges in outgoing.items():
        x1, y1 = where[source]
        edges = sorted(edges, key=lambda edge: where[edge["to"]][0])
        for number, edge in enumerate(edges):
            x2, y2 = where[edge["to"]]
            down = y2 > y1 or (y2 == y1 and x2 != x1)
            # Edges leave a node spread along its side, in the order of their targets.
            start = (x1 + _NODE_WIDTH * (number + 1) // (len(edges) + 1), y1 + (_NODE_HEIGHT if down else 0))
            end = (x2 + _NODE_WIDTH // 2, y2 + (0 if down else _NODE_HEIGHT))
            if id(edge) in lanes:
                # Out of the source's row, along its own lane right of every node, into the target's row.
                # (just short of the next row, below the labels that start under the source)
                step = _GAP_Y - 10 if down else -(_GAP_Y - 10)
                turns = (start[1] + step, lanes[id(edge)], end[1] - (10 if down else -10), end[0], end[1])
                path = "M %d %d V %d H %d V %d H %d V %d" % (start + turns)
            else:
                path = "M %d %d C %d %d, %d %d, %d %d" % (
                    start + (start[0], (start[1] + end[1]) // 2) + (end[0], (start[1] + end[1]) // 2) + end)
            out.append('<path class="edge" d="%s" marker-end="url(#arrow)"/>' % path)
            labels.append((start[0] + 4, start[1] + (14 if down else -6), edge["label"]))
    for item in graph["nodes"]:
        x, y = where[item["id"]]
        out.append('<g class="node %s"><rect x="%d" y="%d" width="%d" height="%d" rx="%d"/>'
                   % (item["kind"], x, y, _NODE_WIDTH, _NODE_HEIGHT, 22 if item["kind"] == "internet" else 4))
        out.append('<text x="%d" y="%d">%s</text>' % (x + _NODE_WIDTH // 2, y + 19, _escape(item["label"])))
        if item["ports"]:
            out.append('<text class="ports" x="%d" y="%d">%s</text>'
                       % (x + _NODE_WIDTH // 2, y + 36, _escape(item["ports"])))
        out.append("</g>")
    # Labels last, over everything, with a halo so a crossing line does not hide them; those that start in the
    # same row are stacked, one per line.
    per_row = {}
    for x, y, text in sorted(labels, key=lambda item: (item[1], item[0])):
        line = per_row.setdefault(y, 0)
        per_row[y] = line + 1
        out.append('<text class="edge-label" x="%d" y="%d">%s</text>' % (x, y + 12 * line, _escape(text)))
    out.append("</svg>")
    return "\n".join(out) + "\n"
