"""Planning a generated inventory on the controller: the network plan
(plugins/plugin_utils/_plan.py) against the planners it replaced, side by
side in one run.

The inventory (``generate``) has N hosts: two proxies, a bastion and a
monitoring host, and the rest split into application hosts (an app with a
domain published by the proxies, a metrics endpoint for the monitoring
group, a connects_to to one database) and database hosts (PostgreSQL that
the apps connect to); one host in four is dual-stack, listed IPv6 first.

What a run of site.yml asks of the planners is simulated in one process,
per host: its firewall rules (every host), its sites (the proxies), once.

- now: the plan with a cache directory, as a run has, the memory cleared
  before each call (each task runs in a new worker process): the first call
  builds the plan, every other reads the inputs, fingerprints them, and
  loads the run's file of every host's rules (``cached_host_rules``, what the
  firewall_rules filter does) or, for a proxy's sites, the whole plan.
- before: the planners at the revision given (default 12b87e1, the last one
  before the plan), extracted from git into a scratch tree and run in a
  subprocess: each call re-validated the whole inventory.

CPU time of the process is measured (time.process_time), so the load of the
machine does not count; the load average is printed with the results.

Run with: make benchmark-plan   (BENCH_ARGS="--sizes 100,1000 --before-sizes 100,200")
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEFORE = "12b87e1"


def generate(count):
    """``(hostvars, groups)`` of a generated inventory of ``count`` hosts (at least 8)."""
    names = ["host%04d" % number for number in range(count)]
    proxies, bastion, monitoring = names[:2], names[2], names[3]
    rest = names[4:]
    databases = rest[::5]
    apps = [name for name in rest if name not in databases]
    hostvars = {}
    for number, name in enumerate(names):
        v4 = "10.%d.%d.%d" % (10 + number // 65025, number // 255 % 255, number % 255 + 1)
        v6 = "fd00::%x" % (number + 1)
        addresses = [v6, v4] if number % 4 == 3 else [v4]
        hostvars[name] = {"portcullis_address": addresses, "portcullis_firewall_admin_sources": [bastion]}
        services = [{"name": "ssh", "port": "ssh", "allow_from": [bastion]}]
        if name in proxies:
            services += [{"name": "http", "port": "http", "expose": "public"},
                         {"name": "https", "port": "https", "expose": "public"}]
        elif name == monitoring:
            services.append({"name": "prometheus", "port": 9090, "allow_from": [bastion],
                             "connects_to": [{"host": "apps", "service": "metrics"}]})
        elif name in databases:
            services.append({"name": "postgresql", "port": "postgresql"})
        elif name in apps:
            database = databases[apps.index(name) % len(databases)]
            services += [{"name": "app", "port": 8000, "domain": "%s.example.test" % name, "health": "/health",
                          "connects_to": [{"host": database, "service": "postgresql"},
                                          {"to": "updates.example.test", "port": "https"}]},
                         {"name": "metrics", "port": 9100}]
        hostvars[name]["portcullis_services"] = services
    groups = {"all": names, "proxies": proxies, "apps": apps, "databases": databases, "ungrouped": []}
    return hostvars, groups


NOW = r"""
import json, sys, tempfile, time
from ansible_collections.portcullis.ports.plugins.plugin_utils import _plan, _proxy_plan
hostvars, groups = json.load(sys.stdin)
with tempfile.TemporaryDirectory() as cache:
    started = time.process_time()
    plan = _plan.cached(hostvars, groups, None, cache)
    built = time.process_time() - started
    calls = []
    for host in sorted(hostvars):
        _plan._MEMORY.clear()
        began = time.process_time()
        _plan.cached_host_rules(hostvars, groups, host, None, cache)
        if host in groups["proxies"]:
            _proxy_plan.sites(_plan.cached(hostvars, groups, None, cache), host)
        calls.append(time.process_time() - began)
    print(json.dumps({"build": built, "calls": calls, "flows": len(plan.flows),
                      "conflicts": len(plan.problems)}))
"""

OLD = r"""
import json, sys, time
from ansible_collections.portcullis.ports.plugins.plugin_utils import _firewall_plan, _proxy_plan
from ansible_collections.portcullis.ports.plugins.plugin_utils._inventory import Inventory
hostvars, groups = json.load(sys.stdin)
inventory = Inventory(hostvars, groups)
calls = []
for host in sorted(hostvars):
    began = time.process_time()
    _firewall_plan.registry_rules(hostvars[host]["portcullis_services"], inventory,
                                  hostvars[host]["portcullis_firewall_admin_sources"], 22, None, host)
    if host in groups["proxies"]:
        _proxy_plan.sites_from_registry(inventory, sorted(hostvars), host)
    calls.append(time.process_time() - began)
print(json.dumps({"calls": calls}))
"""


def tree_at(revision, scratch):
    """The collection's plugins at ``revision``, as an importable ansible_collections tree."""
    root = os.path.join(scratch, revision, "ansible_collections", "portcullis", "ports")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", REPO, "archive", revision, "plugins"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    return os.path.join(scratch, revision)


def current_tree(scratch):
    root = os.path.join(scratch, "now", "ansible_collections", "portcullis")
    os.makedirs(root)
    os.symlink(REPO, os.path.join(root, "ports"))
    return os.path.join(scratch, "now")


def measure(code, path, count):
    hostvars, groups = generate(count)
    result = subprocess.run([sys.executable, "-c", code], input=json.dumps([hostvars, groups]), text=True,
                            capture_output=True, env=dict(os.environ, PYTHONPATH=path), check=False)
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="100,1000", help="host counts for the plan, comma separated")
    parser.add_argument("--before-sizes", default="100,200", help="host counts for the planners before it")
    parser.add_argument("--before", default=BEFORE, help="the revision before the plan")
    options = parser.parse_args()
    sizes = [int(item) for item in options.sizes.split(",") if item]
    before_sizes = [int(item) for item in options.before_sizes.split(",") if item]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        now_path = current_tree(scratch)
        old_path = tree_at(options.before, scratch) if before_sizes else None
        for count in sorted(set(sizes) | set(before_sizes)):
            load = os.getloadavg()[0]
            now = measure(NOW, now_path, count)
            old = measure(OLD, old_path, count) if count in before_sizes else None
            rows.append((count, load, now, old))
            print("%d hosts done" % count, file=sys.stderr)
    print("## Planning a generated inventory (%s, %d cores, CPU time of one process)\n" % (started, os.cpu_count()))
    print("| hosts | flows | plan built once | a later call (mean) | all hosts' calls, now | all hosts' calls, "
          "before (%s) | before / now | load before |" % options.before)
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count, load, now, old in rows:
        total = now["build"] + sum(now["calls"])
        mean = sum(now["calls"]) / len(now["calls"])
        before = sum(old["calls"]) if old else None
        print("| %d | %d | %.2f s | %.1f ms | %.2f s | %s | %s | %.2f |" % (
            count, now["flows"], now["build"], mean * 1000, total, "%.2f s" % before if old else "-",
            "%.0f" % (before / total) if old else "-", load))


if __name__ == "__main__":
    main()
