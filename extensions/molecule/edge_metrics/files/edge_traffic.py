"""Traffic to the proxy for the edge metrics scenario, for SECONDS seconds, each request in its own thread on a
fixed schedule, and a tally of what was sent and answered written to OUT as JSON (written last: its presence means
done). / gets 5 requests a second, every tenth asking a 404; /api/ 5 a second, every tenth asking a 503 and every
fifth (another) a 1.2 s wait; /quiet/ one every 5 seconds, each a 503 after 1.2 s (0.2 a second, under the
alerts' minimum rate)."""
import collections
import json
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

SECONDS, OUT = float(sys.argv[1]), sys.argv[2]
BASE = "https://app.edge.test"
CONTEXT = ssl.create_default_context()
CONTEXT.check_hostname = False
CONTEXT.verify_mode = ssl.CERT_NONE

lock = threading.Lock()
answered = collections.Counter()  # (path, status class)
slow = collections.Counter()      # path: requests that asked for the 1.2 s wait
errors = []


def request(path, query, is_slow):
    try:
        with urllib.request.urlopen(BASE + path + query, context=CONTEXT, timeout=20) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as error:
        status = error.code
        error.read()
    except Exception as error:  # pylint: disable=broad-except
        with lock:
            errors.append("%s%s: %s" % (path, query, error))
        return
    with lock:
        answered[(path, "%dxx" % (status // 100))] += 1
        if is_slow:
            slow[path] += 1


def plan(index, path):
    if path == "/":
        return ("?status=404", False) if index % 10 == 0 else ("", False)
    if path == "/api/":
        if index % 10 == 0:
            return "?status=503", False
        return ("?delay=1.2", True) if index % 5 == 1 else ("", False)
    return "?status=503&delay=1.2", True


def schedule(path, every):
    threads = []
    start = time.time()
    index = 0
    while time.time() - start < SECONDS:
        query, is_slow = plan(index, path)
        thread = threading.Thread(target=request, args=(path, query, is_slow))
        thread.start()
        threads.append(thread)
        index += 1
        time.sleep(max(0, start + index * every - time.time()))
    for thread in threads:
        thread.join()


routes = [threading.Thread(target=schedule, args=args) for args in (("/", 0.2), ("/api/", 0.2), ("/quiet/", 5.0))]
for thread in routes:
    thread.start()
for thread in routes:
    thread.join()
with open(OUT + ".tmp", "w") as handle:
    json.dump({"answered": [[path, status_class, count] for (path, status_class), count in sorted(answered.items())],
               "slow": dict(slow), "errors": errors}, handle)
os.replace(OUT + ".tmp", OUT)
