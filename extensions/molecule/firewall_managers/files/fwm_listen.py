"""Listeners for the probes, on both families: tcp:PORT accepts and closes,
udp:PORT echoes what it gets back to its sender."""
import selectors
import socket
import sys

chosen = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    protocol, port = spec.split(":")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", int(port)))
    if protocol == "tcp":
        sock.listen(128)
    chosen.register(sock, selectors.EVENT_READ, protocol)
while True:
    for key, _events in chosen.select():
        if key.data == "tcp":
            connection, _peer = key.fileobj.accept()
            connection.close()
        else:
            data, peer = key.fileobj.recvfrom(512)
            key.fileobj.sendto(data, peer)
