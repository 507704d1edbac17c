"""A listening socket for the scenario: test-listener PROTOCOL ADDRESS PORT [v6only]."""

import socket
import sys
import time

protocol, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
sock = socket.socket(family, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
if family == socket.AF_INET6:
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(len(sys.argv) > 4 and sys.argv[4] == "v6only"))
sock.bind((address, port))
if protocol == "tcp":
    sock.listen(5)
while True:
    time.sleep(3600)
