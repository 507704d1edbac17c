# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The server blocks of an nginx that was set up by hand, read from
``nginx -T`` (the whole configuration as nginx loaded it, each file after a
``# configuration file PATH:`` line): for each server its listen ports, TLS,
names, redirect, and each location with the upstream servers it proxies to.

A small tokenizer and block parser of nginx's syntax (words, quoted
strings, ``{``, ``}``, ``;``, ``#`` comments, ``${var}`` inside a word);
``include`` directives are resolved against the files ``nginx -T`` printed.
What it does not model (``map``, ``if``, variables in ``proxy_pass``) is
kept as text with ``known: false``, never guessed.

Read-only and plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

FILE_MARK = "# configuration file "


class NginxParseError(ValueError):
    """The configuration text is not nginx syntax this parser can follow."""


def tokens(text):
    """``[(token, line)]``: words and quoted strings (unquoted), and the
    punctuation ``{``, ``}``, ``;`` as themselves."""
    found = []
    index, line, length = 0, 1, len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
            index += 1
        elif char.isspace():
            index += 1
        elif char == "#":
            while index < length and text[index] != "\n":
                index += 1
        elif char in "{};":
            found.append((char, line))
            index += 1
        elif char in "\"'":
            end = index + 1
            value = []
            while end < length and text[end] != char:
                if text[end] == "\\" and end + 1 < length:
                    end += 1
                if text[end] == "\n":
                    line += 1
                value.append(text[end])
                end += 1
            if end >= length:
                raise NginxParseError("line %d: unterminated quoted string" % line)
            found.append(("".join(value), line))
            index = end + 1
        else:
            start = index
            while index < length and not text[index].isspace() and text[index] not in ";{}\"'":
                if text[index] == "$" and index + 1 < length and text[index + 1] == "{":
                    close = text.find("}", index)
                    index = close + 1 if close > 0 else length
                    continue
                index += 1
            found.append((text[start:index], line))
    return found


def parse_block(text, path="nginx.conf"):
    """``[{name, args, block, file, line}]`` for one file's text."""
    stream = tokens(text)
    position = [0]

    def directives(depth):
        result = []
        words = []
        start_line = None
        while position[0] < len(stream):
            token, line = stream[position[0]]
            position[0] += 1
            if token == ";":
                if words:
                    result.append({"name": words[0], "args": words[1:], "block": None, "file": path, "line": start_line})
                words = []
            elif token == "{":
                if not words:
                    raise NginxParseError("%s line %d: a block without a directive" % (path, line))
                block = directives(depth + 1)
                result.append({"name": words[0], "args": words[1:], "block": block, "file": path, "line": start_line})
                words = []
            elif token == "}":
                if depth == 0:
                    raise NginxParseError("%s line %d: '}' without a block" % (path, line))
                return result
            else:
                if not words:
                    start_line = line
                words.append(token)
        if depth:
            raise NginxParseError("%s: a block is not closed" % path)
        return result

    return directives(0)


def split_files(dump):
    """``nginx -T`` output to ``[(path, text)]`` in the order printed."""
    files = []
    current = None
    lines = []
    for line in dump.splitlines():
        if line.startswith(FILE_MARK) and line.rstrip().endswith(":"):
            if current is not None:
                files.append((current, "\n".join(lines)))
            current = line[len(FILE_MARK):].rstrip()[:-1]
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        files.append((current, "\n".join(lines)))
    return files


def _expand(directives, files, depth=0):
    """Directives with each ``include`` replaced by the files it names."""
    expanded = []
    for item in directives:
        if item["name"] == "include" and item["args"] and depth < 10:
            pattern = item["args"][0]
            for path in sorted(files):
                if fnmatch.fnmatch(path, pattern) or (not pattern.startswith("/") and
                                                      fnmatch.fnmatch(path, "/etc/nginx/" + pattern)):
                    expanded.extend(_expand(files[path], files, depth + 1))
            continue
        if item["block"] is not None:
            item = dict(item, block=_expand(item["block"], files, depth + 1))
        expanded.append(item)
    return expanded


def _listen(args):
    """A ``listen`` directive to ``{address, port, ssl, default}`` (None for a unix socket)."""
    target = args[0]
    if target.startswith("unix:"):
        return None
    if target.startswith("["):
        address, _sep, port = target[1:].partition("]:")
        address = address or "::"
        port = port or "80"
    elif ":" in target:
        address, port = target.rsplit(":", 1)
    elif target.isdigit():
        address, port = "0.0.0.0", target
    else:
        address, port = target, "80"
    if address == "*":
        address = "0.0.0.0"
    return {"address": address, "port": int(port), "ssl": "ssl" in args[1:],
            "default": "default_server" in args[1:] or "default" in args[1:]}


def _proxy_target(url, upstreams):
    """``proxy_pass`` URL to ``(scheme, servers, known)``."""
    if "$" in url:
        return None, [], False
    scheme, _sep, rest = url.partition("://")
    if not _sep:
        return None, [], False
    authority = rest.split("/", 1)[0]
    if authority.startswith("unix:"):
        return scheme, [authority], True
    if authority in upstreams:
        return scheme, upstreams[authority], True
    if authority.startswith("["):
        host, _sep, port = authority[1:].partition("]")
        port = port.lstrip(":")
        host = "[%s]" % host
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
    else:
        host, port = authority, ""
    port = port or ("443" if scheme == "https" else "80")
    return scheme, ["%s:%s" % (host, port)], True


def _redirect(block):
    for item in block:
        if item["name"] == "return" and item["args"] and item["args"][0] in ("301", "302", "303", "307", "308"):
            return {"code": int(item["args"][0]), "target": item["args"][1] if len(item["args"]) > 1 else ""}
        if item["name"] == "rewrite" and len(item["args"]) >= 3 and item["args"][2] in ("permanent", "redirect"):
            return {"code": 301 if item["args"][2] == "permanent" else 302, "target": item["args"][1]}
    return None


def _locations(block, upstreams):
    found = []
    for item in block:
        if item["name"] != "location":
            continue
        args = item["args"]
        match, path = ("prefix", args[0]) if len(args) == 1 else (args[0], args[1])
        location = {"path": path, "match": match,
                    "proxy_pass": None, "upstreams": [], "scheme": None, "known": True,
                    "redirect": _redirect(item["block"])}
        for inner in item["block"]:
            if inner["name"] == "proxy_pass" and inner["args"]:
                location["proxy_pass"] = inner["args"][0]
                location["scheme"], location["upstreams"], location["known"] = _proxy_target(inner["args"][0], upstreams)
        found.append(location)
        found.extend(_locations(item["block"], upstreams))
    return found


def servers(dump):
    """The server blocks of ``nginx -T`` output, each ``{file, line, listen,
    names, tls, certificate, redirect, locations}``; raises NginxParseError."""
    files = split_files(dump)
    if not files:
        raise NginxParseError("no '%s' line: not nginx -T output" % FILE_MARK.strip())
    parsed = dict((path, parse_block(text, path)) for path, text in files)
    main = _expand(parsed[files[0][0]], parsed)
    result = []
    for http in (item for item in main if item["name"] == "http" and item["block"] is not None):
        upstreams = {}
        for item in http["block"]:
            if item["name"] == "upstream" and item["args"] and item["block"] is not None:
                upstreams[item["args"][0]] = [inner["args"][0] for inner in item["block"]
                                              if inner["name"] == "server" and inner["args"]]
        for server in (item for item in http["block"] if item["name"] == "server" and item["block"] is not None):
            block = server["block"]
            listens = [found for found in (_listen(item["args"]) for item in block
                                           if item["name"] == "listen" and item["args"]) if found]
            if not listens:
                listens = [{"address": "0.0.0.0", "port": 80, "ssl": False, "default": False}]
            names = [name for item in block if item["name"] == "server_name" for name in item["args"]]
            certificate = next((item["args"][0] for item in block if item["name"] == "ssl_certificate" and item["args"]),
                               None)
            ssl_on = any(item["name"] == "ssl" and item["args"] == ["on"] for item in block)
            result.append({
                "file": server["file"], "line": server["line"], "listen": listens,
                "names": [name for name in names if name not in ("", "_")],
                "tls": any(item["ssl"] for item in listens) or ssl_on, "certificate": certificate,
                "redirect": _redirect(block), "locations": _locations(block, upstreams)})
    return result
