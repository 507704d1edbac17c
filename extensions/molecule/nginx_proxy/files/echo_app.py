"""The backend of the nginx_proxy scenario: answers every request with what it
received (as JSON), and a websocket upgrade with a greeting frame."""

import base64
import hashlib
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        body = json.dumps({
            "backend": socket.gethostname(),
            "port": self.server.server_address[1],
            "peer": self.client_address[0],
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        greeting = ("websocket open on %s" % socket.gethostname()).encode()
        # One unmasked text frame, then a close frame (opcode 8).
        self.wfile.write(bytes([0x81, len(greeting)]) + greeting + bytes([0x88, 0x00]))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()
