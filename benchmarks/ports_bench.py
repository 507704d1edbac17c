"""Benchmarks for listening_ports and port_conflicts, side by side in one run.

1. 1000 listeners in a container: portcullis.ports.listening_ports against
   community.general.listen_ports_facts, interleaved, each call minus the
   time of an ansible.builtin.ping call (connection and AnsiballZ overhead),
   and how many of the 1000 sockets each reports with the right pid.
2. port_conflicts: the resolver's sort and sweep at 1k, 10k and 100k
   services against checking all pairs at 1k and 10k, in-process; and the
   module on 10,000 services over the docker connection.

Run with: make benchmark   (needs the venv, the base image and the collection)
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from bench_containers import remove_container, start_container

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = "portcullis-bench"


def sh(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def start_listeners(listeners):
    start_container(CONTAINER)
    sh("docker", "cp", os.path.join(HERE, "spawn_listeners.py"), CONTAINER + ":/usr/local/bin/spawn_listeners.py")
    sh("docker", "exec", CONTAINER, "systemd-run", "--unit=bench-listeners", "python3",
       "/usr/local/bin/spawn_listeners.py", "/tmp/truth.json", str(listeners))
    for _attempt in range(120):
        done = subprocess.run(["docker", "exec", CONTAINER, "cat", "/tmp/truth.json"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return json.loads(done.stdout)
        time.sleep(0.5)
    raise SystemExit("the listeners did not start")


def ansible_call(inventory, module, args=None, extra_vars=None, keep=False):
    """Run one module once; return (seconds, result dict). With ``keep`` the
    module's AnsiballZ file stays on the target, for module_runner()."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_KEEP_REMOTE_FILES="1" if keep else "0")
    argv = ["ansible", "-i", inventory, "all", "-m", module]
    if extra_vars is not None:
        argv += ["-e", "@" + extra_vars]
    if args is not None:
        argv += ["-a", json.dumps(args)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (module, done.stdout[-3000:], done.stderr[-3000:]))
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"][CONTAINER]
    return elapsed, result


def module_runner(inventory, module, args=None, extra_vars=None):
    """Leave the module's self-contained AnsiballZ file (arguments included) on
    the target and return a function that runs it there once and returns its
    wall time measured inside the container: module time, no connection."""
    _elapsed, result = ansible_call(inventory, module, args, extra_vars, keep=True)
    short = module.rsplit(".", 1)[-1]
    path = sh("docker", "exec", CONTAINER, "sh", "-c",
              "ls -t /root/.ansible/tmp/*/AnsiballZ_%s.py | head -n 1" % short).stdout.strip()
    timer = ("import subprocess, sys, time; started = time.perf_counter(); "
             "subprocess.run([sys.executable, %r], stdout=subprocess.DEVNULL, check=True); "
             "print(time.perf_counter() - started)" % path)

    def run():
        return float(sh("docker", "exec", CONTAINER, "python3", "-c", timer).stdout)

    return run, result


def normal_address(address):
    address = address.strip("[]")
    return {"*": "0.0.0.0"}.get(address, address)


def completeness(truth, reported):
    """How many true sockets are reported at all, and with their own pid."""
    seen = {}
    for item in reported:
        seen.setdefault((item["protocol"], normal_address(item["address"]), int(item["port"])), set()).add(item.get("pid"))
    found = with_pid = 0
    for sock in truth:
        pids = seen.get((sock["protocol"], sock["address"], sock["port"]))
        if pids is not None:
            found += 1
            with_pid += sock["pid"] in pids
    return found, with_pid


def listen_ports_facts_entries(result):
    facts = result["ansible_facts"]
    entries = []
    for key, protocol in (("tcp_listen", "tcp"), ("udp_listen", "udp")):
        for item in facts.get(key, []):
            entries.append(dict(item, protocol=protocol))
    return entries


def bench_listening(inventory, listeners, rounds):
    truth = start_listeners(listeners)
    modules = (("ping", "ansible.builtin.ping"),
               ("listening_ports", "portcullis.ports.listening_ports"),
               ("listen_ports_facts", "community.general.listen_ports_facts"))
    runners = {}
    results = {}
    calls = dict((name, []) for name, _module in modules)
    times = dict((name, []) for name, _module in modules)
    for name, module in modules:
        runners[name], results[name] = module_runner(inventory, module)
    for _round in range(rounds):  # interleaved, so both see the same machine
        for name, module in modules:
            calls[name].append(ansible_call(inventory, module)[0])
            times[name].append(runners[name]())
    ours_found = completeness(truth, results["listening_ports"]["listening"])
    theirs_found = completeness(truth, listen_ports_facts_entries(results["listen_ports_facts"]))
    median = dict((name, statistics.median(values)) for name, values in times.items())
    print("## listening_ports vs community.general.listen_ports_facts, %d listeners, median of %d interleaved rounds"
          % (len(truth), rounds))
    print()
    print("| module | module time on the target (s) | whole ansible call (s) | sockets found | with the right pid |")
    print("|---|---|---|---|---|")
    print("| ansible.builtin.ping (baseline) | %.3f | %.3f | - | - |" % (median["ping"], statistics.median(calls["ping"])))
    for name, found in (("listening_ports", ours_found), ("listen_ports_facts", theirs_found)):
        print("| %s | %.3f | %.3f | %d / %d | %d / %d |" % (
            dict(modules)[name], median[name], statistics.median(calls[name]), found[0], len(truth), found[1], len(truth)))
    print()
    print("module time ratio, listen_ports_facts / listening_ports: %.1f (after subtracting the ping baseline: %.1f)" % (
        median["listen_ports_facts"] / median["listening_ports"],
        (median["listen_ports_facts"] - median["ping"]) / (median["listening_ports"] - median["ping"])))
    print()


def random_registry(count, seed=7):
    rng = random.Random(seed)
    return [{"name": "svc%d" % number, "port": rng.randint(1024, 65535), "protocol": rng.choice(["tcp", "udp"]),
             "bind": rng.choice(["0.0.0.0", "127.0.0.1", "10.0.0.%d" % rng.randint(1, 9), "::"])}
            for number in range(count)]


def all_pairs(validated):
    """The naive check the sweep replaces: every pair of services compared."""
    found = 0
    for first_index, first in enumerate(validated):
        for second in validated[first_index + 1:]:
            for protocol, ranges in first.ranges.items():
                for a_start, a_end in ranges:
                    for b_start, b_end in second.ranges.get(protocol, ()):
                        if a_start <= b_end and b_start <= a_end and first.bind.clashes_with(second.bind):
                            found += 1
    return found


def best_of(repeat, function):
    timings = []
    for _attempt in range(repeat):
        started = time.perf_counter()
        value = function()
        timings.append(time.perf_counter() - started)
    return min(timings), value


def bench_conflicts(inventory, collections):
    sys.path.insert(0, collections)
    from ansible_collections.portcullis.ports.plugins.module_utils.audit import _conflicts
    from ansible_collections.portcullis.ports.plugins.module_utils.ports import _registry
    from ansible_collections.portcullis.ports.plugins.module_utils.ports import _resolver as _port_resolver

    print("## port_conflicts: sort and sweep against all pairs (in-process, best of 3)")
    print()
    print("| services | validate (s) | sweep (s) | all pairs (s) | duplicates | all pairs / sweep |")
    print("|---|---|---|---|---|---|")
    policy = _port_resolver.build_policy()
    for count in (1000, 10000, 100000):
        registry = random_registry(count)
        validate_time, validated = best_of(3, lambda: _registry.validate(registry, policy))
        sweep_time, duplicates = best_of(3, lambda: _conflicts.find_duplicates(validated))
        if count <= 10000:
            pairs_time, pairs_found = best_of(1 if count > 1000 else 3, lambda: all_pairs(validated))
            assert pairs_found == len(duplicates), (pairs_found, len(duplicates))
            print("| %d | %.3f | %.3f | %.3f | %d | %.0f |" % (
                count, validate_time, sweep_time, pairs_time, len(duplicates), pairs_time / sweep_time))
        else:
            print("| %d | %.3f | %.3f | not run | %d | - |" % (count, validate_time, sweep_time, len(duplicates)))
    print()

    registry = random_registry(10000)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"bench_services": registry}, handle)
        extra_vars = handle.name
    try:
        run, result = module_runner(inventory, "portcullis.ports.port_conflicts",
                                    {"services": "{{ bench_services }}", "fail_on_conflict": False}, extra_vars)
        ping, _result = module_runner(inventory, "ansible.builtin.ping")
        module_times = [run() for _round in range(5)]
        ping_times = [ping() for _round in range(5)]
    finally:
        os.unlink(extra_vars)
    print("## port_conflicts module, 10,000 services, module time on the target (median of 5)")
    print()
    print("%.3f s for the whole module process (ping baseline %.3f s): %d services, %d conflicts found" % (
        statistics.median(module_times), statistics.median(ping_times), result["services"], len(result["conflicts"])))
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", required=True, help="the ANSIBLE_COLLECTIONS_PATH holding portcullis.ports")
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the container running")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        inventory = os.path.join(scratch, "inventory.ini")
        with open(inventory, "w") as handle:
            handle.write("%s ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3\n"
                         % CONTAINER)
        try:
            bench_listening(inventory, args.listeners, args.rounds)
            bench_conflicts(inventory, args.collections)
        finally:
            if not args.keep:
                remove_container(CONTAINER)


if __name__ == "__main__":
    main()
