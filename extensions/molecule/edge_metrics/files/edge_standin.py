"""A backend stand-in for the edge metrics scenario: answers 200 with a short body at once, or as the query asks:
?status=503 answers that status, ?delay=1.2 waits that many seconds first. Serves each port given."""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        time.sleep(float(query.get("delay", ["0"])[0]))
        status = int(query.get("status", ["200"])[0])
        body = ("%d from port %d\n" % (status, self.server.server_address[1])).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


servers = [ThreadingHTTPServer(("0.0.0.0", int(port)), Handler) for port in sys.argv[1:]]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
