"""Open LISTENERS listening sockets across WORKERS processes (ports from BASE
up) and write what was opened, with each socket's pid, as JSON to TRUTH.

usage: python3 spawn_listeners.py TRUTH [LISTENERS] [WORKERS] [BASE]
"""

import json
import os
import socket
import sys
import time

truth_path = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 10
base = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
# Per hundred sockets: 50 TCP on 0.0.0.0, 20 IPv6-only TCP on ::, 20 UDP on 0.0.0.0, 10 TCP on 127.0.0.1.
KINDS = [("tcp", "0.0.0.0")] * 50 + [("tcp", "::")] * 20 + [("udp", "0.0.0.0")] * 20 + [("tcp", "127.0.0.1")] * 10


def serve(first_port, count, report):
    sockets = []
    for offset in range(count):
        protocol, address = KINDS[offset % len(KINDS)]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, first_port + offset))
        if protocol == "tcp":
            sock.listen(1)
        sockets.append(sock)
        report.append({"protocol": protocol, "address": address, "port": first_port + offset, "pid": os.getpid()})
    return sockets


def write_json(path, data):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.rename(path + ".tmp", path)


per_worker = total // workers
parts = ["%s.%d" % (truth_path, number) for number in range(workers)]
for number, part in enumerate(parts):
    if os.fork() == 0:
        opened = []
        held = serve(base + number * per_worker, per_worker, opened)
        write_json(part, opened)
        while True:
            time.sleep(3600)
while not all(os.path.exists(part) for part in parts):
    time.sleep(0.1)
everything = []
for part in parts:
    with open(part) as handle:
        everything.extend(json.load(handle))
write_json(truth_path, everything)
while True:
    time.sleep(3600)
