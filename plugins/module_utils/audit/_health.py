# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backend's health answer, the whole request bounded by one timeout.

A socket timeout bounds each read, so a backend that trickles its answer (a
byte every few seconds) holds a client for as long as it likes. Here one
deadline bounds the connection, the request and the answer's head: every read
waits only for what is left of it. Only ``http://`` URLs (the proxies ask
backends over plain HTTP); the answer's status line and headers are read,
never its body. Plain Python, no Ansible import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # Python 2
    from urlparse import urlsplit

# The most of an answer's head read before giving up on it.
HEAD_MAX = 65536


def get_status(url, timeout, clock=time.monotonic):
    """``(status, detail)`` of a GET of ``url``: the HTTP status (an int),
    or None and why not, all within ``timeout`` seconds from the call."""
    deadline = clock() + timeout
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as error:
        return None, "not a URL: %s" % error
    if parts.scheme != "http" or not parts.hostname:
        return None, "not an http:// URL: %s" % url
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    request = ("GET %s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: portcullis-health\r\nConnection: close\r\n\r\n"
               % (target, host, "" if port == 80 else ":%d" % port)).encode("ascii", "replace")

    def left():
        remaining = deadline - clock()
        if remaining <= 0:
            raise socket.timeout()
        return remaining

    head = b""
    connection = None
    try:
        connection = socket.create_connection((parts.hostname, port), timeout=left())
        connection.settimeout(left())
        connection.sendall(request)
        while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
            connection.settimeout(left())
            chunk = connection.recv(4096)
            if not chunk:
                break
            head += chunk
    except socket.timeout:
        return None, "no complete answer within %s s" % timeout
    except (socket.error, OSError, UnicodeError) as error:
        return None, str(error) or error.__class__.__name__
    finally:
        if connection is not None:
            connection.close()
    fields = head.split(b"\r\n", 1)[0].split(None, 2)
    if b"\r\n\r\n" not in head or len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        return None, "not an HTTP answer" if head else "the connection closed without an answer"
    return int(fields[1]), ""
