"""A backend that reads request paths the way Spring and Tomcat do (issue 27
fault 7): it decodes %XX, takes a backslash for a slash, drops each segment's
;parameters (so "..;" is ".."), resolves "." and "..", and folds case. It
answers with the area it routes the request to ("admin" for /admin and below)
as JSON. GET /health-trickle answers 200 one byte every 2 s (fault 8: a
health target no per-read timeout ever cuts off)."""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

TRICKLE = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"


def normalised(raw):
    path = unquote(raw.split("?", 1)[0]).replace("\\", "/")
    out = []
    for segment in path.split("/")[1:]:
        segment = segment.split(";", 1)[0]
        if segment == "..":
            out = out[:-1]
        elif segment not in (".", ""):
            out.append(segment)
    return ("/" + "/".join(out)).lower()


class Normalising(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = normalised(self.path)
        if path == "/health-trickle":
            for position in range(len(TRICKLE)):
                self.wfile.write(TRICKLE[position:position + 1])
                self.wfile.flush()
                time.sleep(2)
            self.close_connection = True
            return
        area = "admin" if path == "/admin" or path.startswith("/admin/") else "public"
        body = json.dumps({"area": area, "path": self.path, "normalised": path,
                           "client": self.headers.get("X-Real-IP", self.client_address[0])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Normalising).serve_forever()
