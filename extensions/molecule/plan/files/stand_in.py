# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins for the services of the registry, run by the plan scenario on
a host's container:

  stand_in.py LISTENERS.json

LISTENERS.json holds "listeners", rows of the port_map filter (protocol,
bind, first_port, service), and "processes", the process name the registry
expects of each service. Each listener is a process of its own: TCP answers every HTTP request with a line
naming the service (so a proxy in front of it, and its health checks, get a
200); UDP echoes each datagram. With a process name the listener takes it,
the name the registry says the real service has, so the audit's process
check sees what it will see on the real host. When one listener stops, all
stop and the exit status says which.
"""

import ctypes
import json
import os
import signal
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PR_SET_NAME = 15


class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s stand-in on %s\n" % (self.server.service, socket.gethostname())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, *args):
        pass


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


def serve(listener, process):
    """Runs in the listener's own process; never returns."""
    if process:
        ctypes.CDLL(None).prctl(PR_SET_NAME, process.encode()[:15], 0, 0, 0)
    family = socket.AF_INET6 if ":" in listener["bind"] else socket.AF_INET
    tcp = listener["protocol"] == "tcp"
    base = ThreadingHTTPServer if tcp else socketserver.ThreadingUDPServer
    cls = type("StandIn", (base,), {"address_family": family, "allow_reuse_address": True})
    server = cls((listener["bind"], int(listener["first_port"])), Answer if tcp else Echo)
    server.service = listener["service"]
    server.serve_forever()


def main():
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    children = {}
    for listener in config["listeners"]:
        pid = os.fork()
        if pid == 0:
            try:
                serve(listener, config.get("processes", {}).get(listener["service"]))
            except Exception as error:  # pylint: disable=broad-except
                sys.stderr.write("%(service)s %(protocol)s %(bind)s:%(first_port)s: " % listener + "%s\n" % error)
            os._exit(1)
        children[pid] = listener
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    try:
        pid, status = os.wait() if children else (None, 0)
        if pid:
            sys.stderr.write("the stand-in for %(service)s (%(protocol)s %(bind)s:%(first_port)s) stopped\n" % children[pid])
        return 1
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
